/* cgroups for containers: a front that picks the back end for this host
 * (cgroup_v1.c for v1 and hybrid hosts, whose controllers live in v1
 * hierarchies; cgroup_v2.c for the unified hierarchy) and the operations
 * the runtime needs. Each container gets servos/<id> under every hierarchy
 * that holds a controller it uses; a container's own sub-groups (a
 * ProServe handler's, servos/<id>/h<N>) are made by the same calls with
 * the id "<id>/h<N>", and go when the container's group goes.
 *
 * On a hybrid host (v1 controllers, a v2 hierarchy at /sys/fs/cgroup/unified
 * without them), every container also gets servos/<id> in the unified
 * hierarchy, which it starts in (clone3 CLONE_INTO_CGROUP): that group
 * tracks, kills and removes its processes, and the v1 groups are made only
 * for the controllers whose limits it has. Joining a v1 group writes
 * cgroup.procs, which waits for an RCU grace period (the kernel's
 * cgroup_threadgroup_rwsem): 5 to 15 ms, the longest step of a start;
 * starting in a v2 group waits for nothing. A v1 host without a unified
 * hierarchy keeps a group in every controller's hierarchy, as before.
 *
 * v2 allows processes only in leaves once a group hands controllers to
 * its children: when a container's group first gets a sub-group, its own
 * processes move to servos/<id>/main, where later ones enter too. */
#ifndef SV_CGROUP_H
#define SV_CGROUP_H

#include "core/util.h"
#include "host/detect.h"
#include "runtime/devices.h"

#include <sys/types.h>

struct sv_limits {
    int64_t memory; /* bytes; -1: none */
    double cpus;    /* < 0: none */
    int64_t pids;   /* -1: none */
};

enum sv_cgroup_ctl { SV_CG_MEMORY, SV_CG_CPU, SV_CG_CPUACCT, SV_CG_PIDS, SV_CG_DEVICES, SV_CG_N };
/* The most directories a container's group has: one per v1 controller,
 * and a hybrid host's unified one. */
#define SV_CG_DIRS (SV_CG_N + 1)

struct sv_cgroup {
    enum sv_cgroup_mode mode;
    char *dir[SV_CG_N]; /* v1: one directory per controller (NULL: absent) */
    char *v2;           /* v2: the container's directory */
    char *unified;      /* hybrid: its directory in the unified hierarchy */
    bool nested;        /* a container's sub-group (<id>/h<N>): the policy is inherited */
    /* Device nodes allowed beyond the default policy (devices.h), set
     * between sv_cgroup_init and sv_cgroup_create (--device); the array
     * is the caller's, and must outlive the group's re-creations. */
    const struct sv_device_rule *devices;
    size_t n_devices;
};

/* The group every container's cgroup is made in, in each hierarchy:
 * "servos" for the default state root, "servos-<hash of the root>" for
 * another (SERVOS_ROOT, --root). */
const char *sv_cgroup_parent(void);
/* Paths for container id (nothing is created). */
int sv_cgroup_init(struct sv_cgroup *cg, const char *id, sv_error_t *err);
void sv_cgroup_clear(struct sv_cgroup *cg);
/* A struct sv_cgroup cleared at scope exit (zero it first). */
#define cleanup_cgroup __attribute__((cleanup(sv_cgroup_clear)))
/* Create the directories, set the limits and, for a container's own
 * group, the device policy (devices.h). */
int sv_cgroup_create(struct sv_cgroup *cg, const struct sv_limits *lim, sv_error_t *err);
/* Make the first directory only if it does not exist yet (-1 with status
 * EEXIST if it does): an atomic claim of the name among concurrent
 * callers. sv_cgroup_create then makes the rest. */
int sv_cgroup_claim(const struct sv_cgroup *cg, sv_error_t *err);
/* Open cgroup.procs of each directory for writing (fds[i] = -1 past the
 * last): writing "0" to them later moves the writer in, even from a mount
 * namespace without the cgroup file systems. Returns how many. */
int sv_cgroup_open_procs(const struct sv_cgroup *cg, int fds[SV_CG_DIRS], sv_error_t *err);
/* The calling process into the groups opened by sv_cgroup_open_procs
 * (system calls only: safe between fork and exec). */
int sv_cgroup_enter_self(const int fds[SV_CG_DIRS]);
/* Move pid into the container's cgroup(s); cloned_in: it started in the
 * group sv_cgroup_clone_target gave, so only the others are left. */
int sv_cgroup_enter(const struct sv_cgroup *cg, pid_t pid, bool cloned_in, sv_error_t *err);
/* Did the memory limit kill something? */
bool sv_cgroup_oom_killed(const struct sv_cgroup *cg);
/* Kill whatever still runs inside, then remove the directories. */
int sv_cgroup_destroy(struct sv_cgroup *cg, sv_error_t *err);

/* The back ends (same contract as the front functions). */
int sv_cgroup_v1_init(struct sv_cgroup *cg, const char *name, sv_error_t *err);
int sv_cgroup_v1_create(struct sv_cgroup *cg, const struct sv_limits *lim, sv_error_t *err);
bool sv_cgroup_v1_oom_killed(const struct sv_cgroup *cg);
int sv_cgroup_v1_destroy(struct sv_cgroup *cg, sv_error_t *err);
int sv_cgroup_v2_init(struct sv_cgroup *cg, const char *name, sv_error_t *err);
int sv_cgroup_v2_create(struct sv_cgroup *cg, const struct sv_limits *lim, sv_error_t *err);
bool sv_cgroup_v2_oom_killed(const struct sv_cgroup *cg);
int sv_cgroup_v2_destroy(struct sv_cgroup *cg, sv_error_t *err);
/* The container's device policy attached to the v2 group at dir (its own,
 * or a hybrid host's unified one): 0 done, 1 this kernel cannot (said once
 * on stderr unless quiet: the container gets none), -1 a bad extra rule. */
int sv_cgroup_v2_devices(const struct sv_cgroup *cg, const char *dir, bool quiet, sv_error_t *err);
/* Kill everything in the v2 group at dir (cgroup.kill where the kernel has
 * it) and remove it with its sub-groups. */
int sv_cgroup_v2_kill_tree(const char *dir, sv_error_t *err);

/* Shared helpers for the back ends. */
int sv_cgroup_write(const char *dir, const char *file, const char *value, sv_error_t *err);
/* The value after "key " in a flat-keyed file (memory.events, oom_control). */
int64_t sv_cgroup_read_key(const char *dir, const char *file, const char *key);
/* Remove dir once no process is left in it, its sub-groups first (depth
 * first). kill: SIGKILL what each one's cgroup.procs lists until it stays
 * empty; else the processes were killed already (v2's cgroup.kill) and
 * this waits for them to be gone. */
int sv_cgroup_remove_tree(const char *dir, bool kill, sv_error_t *err);
/* The v2 leaf that holds a split group's own processes. */
#define SV_CGROUP_V2_LEAF "main"
/* Where a hybrid host mounts its unified hierarchy. */
#define SV_CGROUP_UNIFIED "/sys/fs/cgroup/unified"

/* A descriptor of the group a new process of cg's should start in, for
 * clone3's CLONE_INTO_CGROUP (a v2 group: the container's on v2, its
 * unified one on a hybrid host), or -1. */
int sv_cgroup_clone_target(const struct sv_cgroup *cg);

#endif
