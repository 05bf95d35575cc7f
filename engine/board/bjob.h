/* One step of board work (a build, an emulator's run, a flash, a script
 * under isolate) as a container of its own: the toolchain's image (or the
 * host's), isolated as `servos run` isolates (user namespace, seccomp,
 * capabilities, cgroup limits) and, unless asked, with loopback only. The
 * step's files are in a work directory servos makes, owned by the
 * container's root, bound read-write at /work; nothing else of the
 * caller's is reachable. The container is removed when the step ends
 * (its own end, a wall-clock timeout, Ctrl-C): nothing is left behind.
 *
 * Work directories live under <state root>/boards/work and go with the
 * step; one a killed servos left behind goes with the next step (the pid
 * in its name is gone). */
#ifndef SV_BJOB_H
#define SV_BJOB_H

#include "runtime/cgroup.h"
#include "core/util.h"

struct sv_bjob {
    const char *image;     /* "host" or a toolchain image */
    char **argv;           /* the command, NULL-terminated */
    char **env;            /* "K=V", NULL-terminated; may be NULL */
    const char *work;      /* the host directory bound at /work, the working directory */
    const char *cache;     /* a host directory bound at /cache (kept between steps), or NULL */
    const char *device;    /* a host device node given to the step (a board's port), or NULL */
    const char *device_in; /* where it is inside (NULL: the same path) */
    struct sv_limits limits;
    double timeout; /* wall-clock seconds; <= 0: none */
    int stdio[3];   /* the command's stdin, stdout, stderr */
    bool network;   /* the host's network (else loopback only) */
};

struct sv_bjob_result {
    int code; /* the command's exit code, 128+N after signal N */
    bool timed_out, oom, interrupted;
    double seconds;
};

/* Run the step to its end. SIGINT, SIGTERM and SIGHUP end it early
 * (interrupted). -1 when it could not start (err says why; code is 126
 * or 127 when the command could not run, as a shell says). */
int sv_bjob_run(const struct sv_bjob *j, struct sv_bjob_result *r, sv_error_t *err);

/* A fresh work directory (<state>/boards/work/KIND-PID-XXXXXX), owned
 * by the containers' root; stale ones are removed first. */
int sv_bjob_workdir(const char *kind, char **path, sv_error_t *err);
/* The same for a cache kept between steps (<state>/boards/cache/NAME). */
int sv_bjob_cachedir(const char *name, char **path, sv_error_t *err);
/* Copy src (a file, or a directory's tree: regular files and directories
 * only, at most 64 MB) to dst, owned by the containers' root. */
int sv_bjob_copy_in(const char *src, const char *dst, sv_error_t *err);
/* Copy a file the step made to dst, owned as the directory dst goes into
 * (the user's sources), replacing dst whole. */
int sv_bjob_copy_out(const char *src, const char *dst, sv_error_t *err);

#endif
