/* cgroup v2 back end: the unified hierarchy at /sys/fs/cgroup. */
#include "runtime/cgroup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define V2_ROOT "/sys/fs/cgroup"

int sv_cgroup_v2_init(struct sv_cgroup *cg, const char *name, sv_error_t *err)
{
    cg->v2 = sv_xasprintf(V2_ROOT "/%s", name);
    return 0;
}

/* Controllers must be enabled in every ancestor's subtree_control. */
static void enable_controllers(const char *dir)
{
    static const char *const ctl[] = {"+memory", "+cpu", "+pids"};
    for (size_t i = 0; i < SV_ARRAY_LEN(ctl); i++) {
        sv_error_t e = NULL;
        /* A controller the kernel lacks is reported when a limit needs it. */
        sv_cgroup_write(dir, "cgroup.subtree_control", ctl[i], &e);
        sv_error_free(&e);
    }
}

/* Does dir itself (not its sub-groups) hold processes? */
static bool has_procs(const char *dir)
{
    cleanup_free char *p = sv_xasprintf("%s/cgroup.procs", dir);
    cleanup_fclose FILE *f = fopen(p, "re");
    long pid;
    return f && fscanf(f, "%ld", &pid) == 1;
}

/* A container's group that gets a sub-group (servos/<id>/h1) must hand
 * its controllers down, which v2 refuses while processes live in it: they
 * move to a leaf of their own first (sv_cgroup_enter sends later ones
 * there too). The processes keep their limits: the leaf is inside. */
static int split_to_leaf(const char *dir, sv_error_t *err)
{
    cleanup_free char *leaf = sv_xasprintf("%s/" SV_CGROUP_V2_LEAF, dir);
    if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cgroup: cannot create %s", leaf);
    cleanup_free char *procs = sv_xasprintf("%s/cgroup.procs", dir);
    /* Moving one at a time: a process forking meanwhile lands beside it,
     * so repeat until none is left (bounded: pids.max). */
    for (int round = 0; round < 1000 && has_procs(dir); round++) {
        cleanup_fclose FILE *f = fopen(procs, "re");
        long pid;
        while (f && fscanf(f, "%ld", &pid) == 1) {
            char buf[24];
            snprintf(buf, sizeof(buf), "%ld", pid);
            sv_error_t e = NULL; /* gone meanwhile: fine */
            sv_cgroup_write(leaf, "cgroup.procs", buf, &e);
            sv_error_free(&e);
        }
    }
    if (has_procs(dir))
        return sv_error(err, EBUSY, "cgroup: cannot move the processes of %s to a leaf", dir);
    return 0;
}

/* Write a limit; a file that is not there means its controller was not
 * handed down to servos' groups (enable_controllers could not: the host's
 * manager keeps it, or the kernel lacks it), which a bare "No such file"
 * would not tell. */
static int write_limit(const char *dir, const char *file, const char *controller, const char *value,
                       sv_error_t *err)
{
    if (sv_cgroup_write(dir, file, value, err) == 0)
        return 0;
    if (err == NULL || *err == NULL || (*err)->status != ENOENT)
        return -1;
    sv_error_free(err);
    return sv_error(err, ENOENT,
                    "cgroup: the %s controller is not available to %s (it is not in its "
                    "parent's cgroup.subtree_control; enable it there, or run without the limit)",
                    controller, dir);
}

int sv_cgroup_v2_create(struct sv_cgroup *cg, const struct sv_limits *lim, sv_error_t *err)
{
    cleanup_free char *parent = sv_dirname(cg->v2);
    enable_controllers(V2_ROOT);
    if (mkdir(parent, 0755) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cgroup: cannot create %s", parent);
    /* servos' own parent never holds processes; a container's group does. */
    cleanup_free char *top = sv_xasprintf(V2_ROOT "/%s", sv_cgroup_parent());
    if (strcmp(parent, top) != 0 && has_procs(parent) && split_to_leaf(parent, err) < 0)
        return -1;
    enable_controllers(parent);
    if (mkdir(cg->v2, 0755) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cgroup: cannot create %s", cg->v2);
    char buf[64];
    if (lim->memory >= 0) {
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->memory);
        if (write_limit(cg->v2, "memory.max", "memory", buf, err) < 0)
            return -1;
        sv_error_t e = NULL; /* absent without swap accounting */
        sv_cgroup_write(cg->v2, "memory.swap.max", "0", &e);
        sv_error_free(&e);
    }
    if (lim->cpus >= 0) {
        snprintf(buf, sizeof(buf), "%lld 100000", (long long)(lim->cpus * 100000 + 0.5));
        if (write_limit(cg->v2, "cpu.max", "cpu", buf, err) < 0)
            return -1;
    }
    if (lim->pids >= 0) {
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->pids);
        if (write_limit(cg->v2, "pids.max", "pids", buf, err) < 0)
            return -1;
    }
    return 0;
}

/* memory.events counts the kills in sub-groups too (a ProServe handler's
 * is not its service's): the .local files (5.2+) where they exist. */
bool sv_cgroup_v2_oom_killed(const struct sv_cgroup *cg)
{
    cleanup_free char *leaf = sv_xasprintf("%s/" SV_CGROUP_V2_LEAF, cg->v2);
    int64_t own = sv_cgroup_read_key(cg->v2, "memory.events.local", "oom_kill");
    if (own < 0)
        return sv_cgroup_read_key(cg->v2, "memory.events", "oom_kill") > 0;
    return own > 0 || sv_cgroup_read_key(leaf, "memory.events.local", "oom_kill") > 0;
}

int sv_cgroup_v2_destroy(struct sv_cgroup *cg, sv_error_t *err)
{
    if (access(cg->v2, F_OK) < 0)
        return 0;
    sv_error_t e = NULL; /* cgroup.kill (5.14+) kills atomically; else one by one */
    sv_cgroup_write(cg->v2, "cgroup.kill", "1", &e);
    sv_error_free(&e);
    return sv_cgroup_kill_and_remove(cg->v2, err);
}
