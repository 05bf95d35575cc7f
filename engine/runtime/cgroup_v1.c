/* cgroup v1 back end (also used on hybrid hosts, whose controllers are v1
 * hierarchies). Each controller's hierarchy is found in mountinfo. */
#include "runtime/cgroup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const ctl_names[SV_CG_N] = {"memory", "cpu", "cpuacct", "pids", "devices"};

/* Does the comma-separated option list hold word? */
static bool has_option(const char *opts, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = opts; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == wl && strncmp(p, word, wl) == 0)
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

int sv_cgroup_v1_init(struct sv_cgroup *cg, const char *name, sv_error_t *err)
{
    cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return sv_error(err, errno, "cannot read /proc/self/mountinfo");
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        /* id parent maj:min root mountpoint opts ... - fstype source superopts */
        char mnt[1024], fstype[64], superopts[1024];
        const char *dash = strstr(line, " - ");
        if (dash == NULL || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1 ||
            sscanf(dash + 3, "%63s %*s %1023s", fstype, superopts) != 2)
            continue;
        if (strcmp(fstype, "cgroup") != 0)
            continue;
        for (int i = 0; i < SV_CG_N; i++)
            if (cg->dir[i] == NULL && has_option(superopts, ctl_names[i]))
                cg->dir[i] = sv_xasprintf("%s/%s", mnt, name);
    }
    return 0;
}

/* The group and any parent missing: on a hybrid host a container's v1
 * group exists only when it has a limit, and a handler's group inside it
 * (servos/<id>/h1) may be the first to need it. */
static int make_dirs(const char *dir, sv_error_t *err)
{
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        return 0;
    if (errno == ENOENT) /* a parent is missing too */
        return sv_mkdir_p(dir, 0755, err);
    return sv_error(err, errno, "cgroup: cannot create %s", dir);
}

/* The device policy, where the devices controller is mounted; without it
 * (rare on v1) the container opens the nodes it is given, as it did
 * before servos had one: said once. */
static int devices_policy(const struct sv_cgroup *cg, sv_error_t *err)
{
    static bool told;
    /* A hybrid host's policy is a program on the unified group (hybrid_create)
     * unless the kernel could not load it. */
    if (cg->nested || (cg->unified && cg->dir[SV_CG_DEVICES] == NULL))
        return 0;
    if (cg->dir[SV_CG_DEVICES] == NULL) {
        if (!told)
            fprintf(stderr, "servos: cgroup v1: no devices controller is mounted, so containers "
                            "get no device policy\n");
        told = true;
        return 0;
    }
    return sv_devices_write_v1(cg->dir[SV_CG_DEVICES], cg->devices, cg->n_devices, err);
}

int sv_cgroup_v1_create(struct sv_cgroup *cg, const struct sv_limits *lim, sv_error_t *err)
{
    /* Each hierarchy may be shared (cpu,cpuacct): create every distinct dir. */
    for (int i = 0; i < SV_CG_N; i++)
        if (cg->dir[i] && make_dirs(cg->dir[i], err) < 0)
            return -1;
    char buf[64];
    if (lim->memory >= 0) {
        const char *mem = cg->dir[SV_CG_MEMORY];
        if (mem == NULL)
            return sv_error(err, ENOTSUP, "cgroup v1: no memory controller is mounted");
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->memory);
        if (sv_cgroup_write(mem, "memory.limit_in_bytes", buf, err) < 0)
            return -1;
        /* No swap beyond the limit: memsw when swap accounting is on,
         * otherwise keep the group from swapping at all. */
        cleanup_free char *memsw = sv_xasprintf("%s/memory.memsw.limit_in_bytes", mem);
        if (access(memsw, F_OK) == 0) {
            if (sv_cgroup_write(mem, "memory.memsw.limit_in_bytes", buf, err) < 0)
                return -1;
        } else {
            sv_error_t ignored = NULL;
            sv_cgroup_write(mem, "memory.swappiness", "0", &ignored);
            sv_error_free(&ignored);
        }
    }
    if (lim->cpus >= 0) {
        const char *cpu = cg->dir[SV_CG_CPU];
        if (cpu == NULL)
            return sv_error(err, ENOTSUP, "cgroup v1: no cpu controller is mounted");
        if (sv_cgroup_write(cpu, "cpu.cfs_period_us", "100000", err) < 0)
            return -1;
        snprintf(buf, sizeof(buf), "%lld", (long long)(lim->cpus * 100000 + 0.5));
        if (sv_cgroup_write(cpu, "cpu.cfs_quota_us", buf, err) < 0)
            return -1;
    }
    if (lim->pids >= 0) {
        const char *pids = cg->dir[SV_CG_PIDS];
        if (pids == NULL)
            return sv_error(err, ENOTSUP, "cgroup v1: no pids controller is mounted");
        snprintf(buf, sizeof(buf), "%lld", (long long)lim->pids);
        if (sv_cgroup_write(pids, "pids.max", buf, err) < 0)
            return -1;
    }
    return devices_policy(cg, err);
}

bool sv_cgroup_v1_oom_killed(const struct sv_cgroup *cg)
{
    return sv_cgroup_read_key(cg->dir[SV_CG_MEMORY], "memory.oom_control", "oom_kill") > 0;
}

int sv_cgroup_v1_destroy(struct sv_cgroup *cg, sv_error_t *err)
{
    int rc = 0;
    for (int i = 0; i < SV_CG_N; i++) {
        if (cg->dir[i] == NULL)
            continue;
        bool dup = false; /* cpu and cpuacct may share a hierarchy */
        for (int j = 0; j < i; j++)
            dup |= cg->dir[j] && strcmp(cg->dir[j], cg->dir[i]) == 0;
        if (!dup && sv_cgroup_remove_tree(cg->dir[i], true, err) < 0)
            rc = -1;
    }
    return rc;
}
