/* The cgroup front: choose the back end for this host. */
#include "runtime/cgroup.h"

#include "core/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *sv_cgroup_parent(void)
{
    /* Derived from the state root, so every command that finds a container
     * (same root) finds its cgroup, and two roots on one host (the tests,
     * a second installation) never count each other's. */
    static char name[32];
    const char *root = sv_state_root();
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (n == strlen("/var/lib/servos") && strncmp(root, "/var/lib/servos", n) == 0)
        return "servos";
    snprintf(name, sizeof(name), "servos-%08x", (unsigned)(sv_fnv1a(root, n) & 0xffffffffu));
    return name;
}

int sv_cgroup_init(struct sv_cgroup *cg, const char *id, sv_error_t *err)
{
    memset(cg, 0, sizeof(*cg));
    cg->mode = sv_detect_cgroup_mode();
    cg->nested = strchr(id, '/') != NULL;
    cleanup_free char *name = sv_xasprintf("%s/%s", sv_cgroup_parent(), id);
    switch (cg->mode) {
    case SV_CGROUP_V2:
        return sv_cgroup_v2_init(cg, name, err);
    case SV_CGROUP_HYBRID: /* controllers in v1; the unified hierarchy tracks */
        cg->unified = sv_xasprintf(SV_CGROUP_UNIFIED "/%s", name);
        return sv_cgroup_v1_init(cg, name, err);
    case SV_CGROUP_V1:
        return sv_cgroup_v1_init(cg, name, err);
    default:
        return 0;
    }
}

void sv_cgroup_clear(struct sv_cgroup *cg)
{
    for (int i = 0; i < SV_CG_N; i++)
        free(cg->dir[i]);
    free(cg->v2);
    free(cg->unified);
    memset(cg, 0, sizeof(*cg));
}

/* A hybrid host's container: its unified group, and v1 groups only for
 * the limits it has (see cgroup.h for why). */
static int hybrid_create(struct sv_cgroup *cg, const struct sv_limits *lim, sv_error_t *err)
{
    if (mkdir(cg->unified, 0755) < 0 && errno != EEXIST &&
        (errno != ENOENT || sv_mkdir_p(cg->unified, 0755, err) < 0)) /* a parent missing too */
        return sv_error(err, errno, "cgroup: cannot create %s", cg->unified);
    /* The device policy as on v2, on the unified group: the kernel checks
     * both a program there and the devices controller. Where it cannot
     * (no BPF), the v1 devices group does it, at the price of the join. */
    int devices = cg->nested ? 0 : sv_cgroup_v2_devices(cg, cg->unified, true, err);
    if (devices < 0)
        return -1;
    bool want[SV_CG_N] = {[SV_CG_MEMORY] = lim->memory >= 0,
                          [SV_CG_CPU] = lim->cpus >= 0,
                          [SV_CG_PIDS] = lim->pids >= 0,
                          [SV_CG_DEVICES] = devices == 1};
    for (int i = 0; i < SV_CG_N; i++)
        if (!want[i]) {
            free(cg->dir[i]);
            cg->dir[i] = NULL;
        }
    return 0;
}

int sv_cgroup_create(struct sv_cgroup *cg, const struct sv_limits *lim, sv_error_t *err)
{
    switch (cg->mode) {
    case SV_CGROUP_V2:
        return sv_cgroup_v2_create(cg, lim, err);
    case SV_CGROUP_HYBRID:
        if (hybrid_create(cg, lim, err) < 0)
            return -1;
        return sv_cgroup_v1_create(cg, lim, err);
    case SV_CGROUP_V1:
        return sv_cgroup_v1_create(cg, lim, err);
    default:
        if (lim->memory >= 0 || lim->cpus >= 0 || lim->pids >= 0)
            return sv_error(err, ENOTSUP,
                            "this host has no cgroup file system at /sys/fs/cgroup, so memory, "
                            "cpu and pids limits cannot be enforced");
        return 0;
    }
}

/* The distinct directories of cg that exist or are to be made: its v2
 * group, or its unified group first and then its v1 groups (cpu and
 * cpuacct may share one). A hybrid host's container has v1 groups only
 * for its limits, so a fresh sv_cgroup_init (which names them all) is
 * checked against what is there. */
static size_t dirs_of(const struct sv_cgroup *cg, const char *out[SV_CG_DIRS])
{
    size_t n = 0;
    if (cg->v2) {
        out[n++] = cg->v2;
        return n;
    }
    if (cg->unified)
        out[n++] = cg->unified;
    for (int i = 0; i < SV_CG_N; i++) {
        bool dup = false;
        for (size_t j = 0; j < n && cg->dir[i]; j++)
            dup |= strcmp(out[j], cg->dir[i]) == 0;
        if (cg->dir[i] && !dup && (cg->unified == NULL || access(cg->dir[i], F_OK) == 0))
            out[n++] = cg->dir[i];
    }
    return n;
}

int sv_cgroup_enter(const struct sv_cgroup *cg, pid_t pid, bool cloned_in, sv_error_t *err)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%d", (int)pid);
    if (cg->v2 && cloned_in)
        return 0;
    if (cg->unified && !cloned_in && sv_cgroup_write(cg->unified, "cgroup.procs", buf, err) < 0)
        return -1;
    if (cg->v2) {
        /* Split (it has sub-groups): its own processes live in the leaf. */
        cleanup_free char *leaf = sv_xasprintf("%s/" SV_CGROUP_V2_LEAF, cg->v2);
        return sv_cgroup_write(access(leaf, F_OK) == 0 ? leaf : cg->v2, "cgroup.procs", buf, err);
    }
    const char *dirs[SV_CG_DIRS];
    for (size_t i = cg->unified ? 1 : 0, n = dirs_of(cg, dirs); i < n; i++)
        if (sv_cgroup_write(dirs[i], "cgroup.procs", buf, err) < 0)
            return -1;
    return 0;
}

int sv_cgroup_clone_target(const struct sv_cgroup *cg)
{
    if (cg->unified)
        return open(cg->unified, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg->v2 == NULL)
        return -1;
    cleanup_free char *leaf = sv_xasprintf("%s/" SV_CGROUP_V2_LEAF, cg->v2);
    int fd = open(leaf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return fd >= 0 ? fd : open(cg->v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int sv_cgroup_claim(const struct sv_cgroup *cg, sv_error_t *err)
{
    const char *dirs[SV_CG_DIRS];
    if (dirs_of(cg, dirs) == 0)
        return sv_error(err, ENOTSUP, "this host has no cgroup file system at /sys/fs/cgroup");
    if (mkdir(dirs[0], 0755) < 0)
        return sv_error(err, errno, "cgroup: cannot create %s", dirs[0]);
    return 0;
}

int sv_cgroup_open_procs(const struct sv_cgroup *cg, int fds[SV_CG_DIRS], sv_error_t *err)
{
    const char *dirs[SV_CG_DIRS];
    size_t n = dirs_of(cg, dirs);
    for (int i = 0; i < SV_CG_DIRS; i++)
        fds[i] = -1;
    for (size_t i = 0; i < n; i++) {
        cleanup_free char *p = sv_xasprintf("%s/cgroup.procs", dirs[i]);
        fds[i] = open(p, O_WRONLY | O_CLOEXEC);
        if (fds[i] < 0) {
            int e = errno;
            for (size_t j = 0; j < i; j++) /* the caller's on success only */
                close(fds[j]), fds[j] = -1;
            return sv_error(err, e, "cgroup: cannot open %s", p);
        }
    }
    return (int)n;
}

int sv_cgroup_enter_self(const int fds[SV_CG_DIRS])
{
    for (int i = 0; i < SV_CG_DIRS && fds[i] >= 0; i++)
        if (write(fds[i], "0", 1) != 1)
            return -1;
    return 0;
}

bool sv_cgroup_oom_killed(const struct sv_cgroup *cg)
{
    if (cg->v2)
        return sv_cgroup_v2_oom_killed(cg);
    if (cg->dir[SV_CG_MEMORY])
        return sv_cgroup_v1_oom_killed(cg);
    return false;
}

int sv_cgroup_destroy(struct sv_cgroup *cg, sv_error_t *err)
{
    if (cg->v2)
        return sv_cgroup_v2_destroy(cg, err);
    int rc = 0;
    if (cg->mode == SV_CGROUP_V1 || cg->mode == SV_CGROUP_HYBRID)
        rc = sv_cgroup_v1_destroy(cg, err);
    if (cg->unified && sv_cgroup_v2_kill_tree(cg->unified, rc < 0 ? NULL : err) < 0)
        rc = -1;
    return rc;
}

int sv_cgroup_write(const char *dir, const char *file, const char *value, sv_error_t *err)
{
    cleanup_free char *path = sv_xasprintf("%s/%s", dir, file);
    if (sv_write_file(path, value, err) < 0)
        return sv_error_wrap(err, "cgroup");
    return 0;
}

int64_t sv_cgroup_read_key(const char *dir, const char *file, const char *key)
{
    cleanup_free char *path = sv_xasprintf("%s/%s", dir, file);
    cleanup_fclose FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    char line[256];
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ' ')
            return strtoll(line + kl + 1, NULL, 10);
    return -1;
}

/* SIGKILL every pid listed; returns how many there were. */
static int kill_listed(const char *procs)
{
    cleanup_fclose FILE *f = fopen(procs, "re");
    if (f == NULL)
        return 0;
    int n = 0;
    long pid;
    while (fscanf(f, "%ld", &pid) == 1) {
        kill((pid_t)pid, SIGKILL);
        n++;
    }
    return n;
}

int sv_cgroup_remove_tree(const char *dir, bool kill, sv_error_t *err)
{
    cleanup_free char *procs = sv_xasprintf("%s/cgroup.procs", dir);
    if (access(dir, F_OK) < 0)
        return 0; /* already gone */
    /* A group with sub-groups cannot be removed: they go first. */
    cleanup_closedir DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        cleanup_free char *sub = sv_xasprintf("%s/%s", dir, e->d_name);
        if (sv_cgroup_remove_tree(sub, kill, err) < 0)
            return -1;
    }
    /* A fork bomb may add pids while we kill: repeat until the list stays
     * empty and rmdir succeeds (killed tasks leave the cgroup as they die). */
    for (int tries = 0; tries < 2000; tries++) {
        if (kill)
            kill_listed(procs);
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return sv_error(err, errno, "cgroup: cannot remove %s", dir);
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return sv_error(err, EBUSY, "cgroup: %s still has processes after 2 s%s", dir,
                    kill ? " of SIGKILL" : " (they were killed)");
}
