/* cgroup v2 back end: the unified hierarchy at /sys/fs/cgroup. */
#include "runtime/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define V2_ROOT "/sys/fs/cgroup"

int sv_cgroup_v2_init(struct sv_cgroup *cg, const char *name, sv_error_t *err)
{
    cg->v2 = sv_xasprintf(V2_ROOT "/%s", name);
    return 0;
}

/* The controllers servos' limits use. */
enum { V2_MEMORY, V2_CPU, V2_PIDS, V2_N };
static const char *const v2_ctl[V2_N] = {"memory", "cpu", "pids"};

/* The controllers that could not be handed down on the way to a group:
 * for each, the first group on the path that could not, and why (its
 * errno; 0: handed down). Not an error in itself: a container without a
 * limit runs without the controller, and a limit that needs it fails
 * through controller_missing, the one message that says so. */
struct v2_missing {
    int why[V2_N];
    char *where[V2_N];
};

static void v2_missing_clear(struct v2_missing *m)
{
    for (int i = 0; i < V2_N; i++)
        free(m->where[i]);
}

/* The first line of a cgroup file of dir (cgroup.controllers,
 * cgroup.subtree_control: space-separated names) into line; "" if none. */
static void read_names(const char *dir, const char *file, char line[512])
{
    cleanup_free char *path = sv_xasprintf("%s/%s", dir, file);
    cleanup_fclose FILE *f = fopen(path, "re");
    if (f == NULL || fgets(line, 512, f) == NULL)
        line[0] = '\0';
}

/* Is word one of the space-separated names in line? */
static bool has_name(const char *line, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = line; (p = strstr(p, word)) != NULL; p += wl)
        if ((p == line || p[-1] == ' ') && (p[wl] == ' ' || p[wl] == '\n' || p[wl] == '\0'))
            return true;
    return false;
}

/* Does dir itself (not its sub-groups) hold processes? */
static bool has_procs(const char *dir)
{
    cleanup_free char *p = sv_xasprintf("%s/cgroup.procs", dir);
    cleanup_fclose FILE *f = fopen(p, "re");
    long pid;
    return f && fscanf(f, "%ld", &pid) == 1;
}

/* Hand memory, cpu and pids from dir to its children (cgroup.subtree_control)
 * where dir has not yet: a start that finds them there writes nothing. A
 * controller dir does not have itself (ENOENT: its parent keeps it) or
 * cannot hand down (EBUSY: dir holds processes; anything else the kernel
 * says) is noted in *m. Returns how many are EBUSY.
 *
 * A group other than the real root (which has no cgroup.type) that holds
 * processes hands nothing down, not even the controllers the kernel would
 * let it (cpu and pids can run in a thread subtree): that would make it a
 * thread root, and its plain children could take no process (EOPNOTSUPP). */
static int enable_controllers(const char *dir, struct v2_missing *m)
{
    cleanup_free char *type = sv_xasprintf("%s/cgroup.type", dir);
    char handed[512], offered[512] = "";
    int busy = 0, crowded = -1; /* -1: not looked at yet */
    read_names(dir, "cgroup.subtree_control", handed);
    for (int i = 0; i < V2_N; i++) {
        if (m->why[i] || has_name(handed, v2_ctl[i]))
            continue;
        if (crowded < 0) {
            crowded = access(type, F_OK) == 0 && has_procs(dir);
            read_names(dir, "cgroup.controllers", offered);
        }
        int why = ENOENT;
        if (crowded)
            why = EBUSY;
        else if (has_name(offered, v2_ctl[i])) {
            cleanup_free char *path = sv_xasprintf("%s/cgroup.subtree_control", dir);
            cleanup_free char *plus = sv_xasprintf("+%s", v2_ctl[i]);
            sv_error_t e = NULL; /* noted, not reported: see struct v2_missing */
            why = sv_write_file(path, plus, &e) == 0 ? 0 : e->status;
            sv_error_free(&e);
        }
        if (why) {
            m->why[i] = why;
            m->where[i] = sv_xstrdup(dir);
            busy += why == EBUSY;
        }
    }
    return busy;
}

/* A limit needs controller ctl, which *m says could not reach dir: the one
 * message for it, naming the group that could not hand it down, why, and
 * what to do. */
static int controller_missing(const struct v2_missing *m, int ctl, const char *dir, sv_error_t *err)
{
    const char *name = v2_ctl[ctl], *where = m->where[ctl];
    switch (m->why[ctl]) {
    case ENOENT:
        return sv_error(err, ENOENT,
                        "cgroup: the %s controller is not available to %s: %s does not have it "
                        "(it is not in its cgroup.controllers; enable it in its parent's "
                        "cgroup.subtree_control, or with systemd's Delegate=), or run without "
                        "a %s limit",
                        name, dir, where, name);
    case EBUSY:
        return sv_error(err, EBUSY,
                        "cgroup: the %s controller is not available to %s: %s holds processes, "
                        "and cgroup v2 hands no controller down from a group that does (move "
                        "them into a group of their own below it), or run without a %s limit",
                        name, dir, where, name);
    default:
        return sv_error(err, m->why[ctl],
                        "cgroup: the %s controller is not available to %s: %s cannot hand it "
                        "down (writing +%s to its cgroup.subtree_control failed), or run "
                        "without a %s limit",
                        name, dir, where, name, name);
    }
}

/* Move every process of dir into its sub-group leaf (made if missing),
 * so that dir may hand controllers down: v2 allows processes only in
 * leaves of the groups that do. The processes keep what limits dir has:
 * the leaf is inside it. */
static int move_to_leaf(const char *dir, const char *leaf_name, sv_error_t *err)
{
    cleanup_free char *leaf = sv_xasprintf("%s/%s", dir, leaf_name);
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
        return sv_error(err, EBUSY, "cgroup: cannot move the processes of %s to %s", dir, leaf);
    return 0;
}

/* The group servos' parent is made in: the hierarchy's root as this
 * process sees it. On a host that is the real root, which may hold
 * processes and hand controllers down at once. In a container with a
 * cgroup namespace of its own (or a mount of one group as the root) it is
 * the container's group, where the container's processes (servos among
 * them) live: v2 lets such a group hand no controller down (EBUSY), so
 * they move to its leaf V2_BASE_LEAF first, as podman and kind do in a
 * container. The group is the container's, from the container runtime
 * that made it; what it limits still holds for the leaf. */
#define V2_BASE_LEAF "init"

static void enable_at_base(struct v2_missing *m)
{
    if (enable_controllers(V2_ROOT, m) == 0)
        return;
    sv_error_t e = NULL;
    if (move_to_leaf(V2_ROOT, V2_BASE_LEAF, &e) < 0) {
        /* The EBUSY noted fails a limit that needs a controller; the
         * container runs if none does. */
        fprintf(stderr, "servos: %s\n", e->msg);
        sv_error_free(&e);
        return;
    }
    fprintf(stderr, "servos: cgroup: moved the processes of " V2_ROOT
                    " (this container's group) into " V2_ROOT "/" V2_BASE_LEAF
                    ": cgroup v2 hands controllers down only from a group without "
                    "processes\n");
    for (int i = 0; i < V2_N; i++)
        if (m->why[i] == EBUSY) {
            m->why[i] = 0;
            free(m->where[i]);
            m->where[i] = NULL;
        }
    enable_controllers(V2_ROOT, m);
}

/* Write a limit whose controller is ctl, unless it never reached dir. */
static int write_limit(const char *dir, const struct v2_missing *m, int ctl, const char *file,
                       const char *value, sv_error_t *err)
{
    if (m->why[ctl])
        return controller_missing(m, ctl, dir, err);
    return sv_cgroup_write(dir, file, value, err);
}

/* The device policy: a program attached to the container's group, which
 * its sub-groups inherit. A kernel that cannot (no CONFIG_CGROUP_BPF; a
 * container that may not load programs) leaves the container opening the
 * nodes it is given, as before servos had a policy: said once. */
int sv_cgroup_v2_devices(const struct sv_cgroup *cg, const char *dir, bool quiet, sv_error_t *err)
{
    static bool told;
    cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sv_error(err, errno, "cgroup: cannot open %s", dir);
    sv_error_t e = NULL;
    if (sv_devices_attach(fd, cg->devices, cg->n_devices, &e) == 0)
        return 0;
    if (e->status == EINVAL && cg->n_devices) { /* a bad extra rule is the caller's */
        if (err && *err == NULL)
            *err = sv_steal(e);
        sv_error_free(&e);
        return -1;
    }
    if (!told && !quiet)
        fprintf(stderr, "servos: %s: containers get no device policy\n", e->msg);
    told |= !quiet;
    sv_error_free(&e);
    return 1;
}

int sv_cgroup_v2_create(struct sv_cgroup *cg, const struct sv_limits *lim, sv_error_t *err)
{
    __attribute__((cleanup(v2_missing_clear))) struct v2_missing m = {0};
    cleanup_free char *parent = sv_dirname(cg->v2);
    enable_at_base(&m);
    if (mkdir(parent, 0755) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cgroup: cannot create %s", parent);
    /* servos' own parent never holds processes; a container's group does. */
    cleanup_free char *top = sv_xasprintf(V2_ROOT "/%s", sv_cgroup_parent());
    /* A container's group that gets a sub-group (servos/<id>/h1) must hand
     * its controllers down: its processes move to a leaf of their own
     * first (sv_cgroup_enter sends later ones there too). */
    if (strcmp(parent, top) != 0 && has_procs(parent) &&
        move_to_leaf(parent, SV_CGROUP_V2_LEAF, err) < 0)
        return -1;
    enable_controllers(parent, &m);
    if (mkdir(cg->v2, 0755) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cgroup: cannot create %s", cg->v2);
    char buf[64];
    if (lim->memory >= 0) {
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->memory);
        if (write_limit(cg->v2, &m, V2_MEMORY, "memory.max", buf, err) < 0)
            return -1;
        sv_error_t e = NULL; /* absent without swap accounting */
        sv_cgroup_write(cg->v2, "memory.swap.max", "0", &e);
        sv_error_free(&e);
    }
    if (lim->cpus >= 0) {
        snprintf(buf, sizeof(buf), "%lld 100000", (long long)(lim->cpus * 100000 + 0.5));
        if (write_limit(cg->v2, &m, V2_CPU, "cpu.max", buf, err) < 0)
            return -1;
    }
    if (lim->pids >= 0) {
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->pids);
        if (write_limit(cg->v2, &m, V2_PIDS, "pids.max", buf, err) < 0)
            return -1;
    }
    return cg->nested || sv_cgroup_v2_devices(cg, cg->v2, false, err) >= 0 ? 0 : -1;
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

/* cgroup.kill (Linux 5.14) kills the whole subtree at once, a fork in
 * flight included, and nothing can race it; before it, the processes are
 * killed one by one until none is left, which a fork bomb makes slow. */
int sv_cgroup_v2_destroy(struct sv_cgroup *cg, sv_error_t *err)
{
    return sv_cgroup_v2_kill_tree(cg->v2, err);
}

int sv_cgroup_v2_kill_tree(const char *dir, sv_error_t *err)
{
    static bool told;
    if (access(dir, F_OK) < 0)
        return 0;
    cleanup_free char *knob = sv_xasprintf("%s/cgroup.kill", dir);
    if (access(knob, F_OK) == 0) {
        if (sv_write_file(knob, "1", err) < 0)
            return sv_error_wrap(err, "cgroup");
        return sv_cgroup_remove_tree(dir, false, err);
    }
    if (!told) {
        struct utsname u;
        told = true;
        fprintf(stderr,
                "servos: cgroup: Linux %s has no cgroup.kill (5.14 and later): the processes of "
                "a container's group are killed one by one\n",
                uname(&u) == 0 ? u.release : "?");
    }
    return sv_cgroup_remove_tree(dir, true, err);
}
