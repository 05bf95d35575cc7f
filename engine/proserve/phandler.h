/* One ProServe handler run, as the service host sees it: a request's or
 * a background task's command, started fresh by the stack's supervisor
 * (pgateway.h: it alone can give the run a cgroup, a uid and a network
 * namespace of its own, and kill all of it), fed its input on stdin, its
 * answer read from stdout, and ended when it outlives its time. Safe to
 * call from many threads at once. */
#ifndef SV_PHANDLER_H
#define SV_PHANDLER_H

#include "core/util.h"

struct sv_handler_limits {
    double timeout;  /* seconds; <= 0: none */
    int64_t memory;  /* bytes (enforced by the supervisor; here for messages); 0: none */
    bool private_fs; /* filesystem_isolation: only its own temporary directory is writable */
    bool clean_env;  /* environment_isolation: only the env given */
    bool container;  /* a servos container per run, not a process */
};

struct sv_handler_result {
    int wait_status; /* as waitpid says it */
    bool timed_out, out_of_memory;
    char *out, *err; /* NUL-terminated; err keeps the last 4 KiB */
    size_t out_len, err_len;
    double seconds;
};

/* Run argv in cwd with env (NULL-terminated "K=V"), feeding input on its
 * stdin. 0 when it ran (whatever its exit), -1 when it could not start. */
int sv_handler_run(char *const argv[], char *const env[], const char *cwd, const char *input,
                   size_t input_len, const struct sv_handler_limits *lim,
                   struct sv_handler_result *res, sv_error_t *err);
void sv_handler_result_free(struct sv_handler_result *res);

/* A run kept going while its caller wants it (a WebSocket connection's
 * handler): started as sv_handler_run starts one, but with no time limit,
 * its stdin, stdout and stderr left to the caller (non-blocking). gw
 * reports "exit N", "signal N" (with " oom") or "error MESSAGE" when the
 * run ends; writing "kill\n" to it, or closing it, ends the run. */
struct sv_handler_proc {
    int in, out, err, gw;
};
int sv_handler_spawn(char *const argv[], char *const env[], const char *cwd,
                     struct sv_handler_proc *p, sv_error_t *err);
/* Runs as children of this process instead, each in a process group of
 * its own, killed whole at its end or its timeout: `servos proserve-host
 * --direct-handlers`, where no supervisor runs (a Kubernetes pod, whose
 * own limits and isolation are the cluster's). No per-run cgroup, uid or
 * network namespace: the pod is the boundary. */
void sv_handler_set_direct(bool on);

/* The program cmd names: cmd itself when it has a "/", else the first of
 * /usr/local/bin, /usr/bin and /bin that has it, else cmd (the gateway
 * starts a handler with execve, which searches no PATH). Newly allocated. */
char *sv_handler_find_program(const char *cmd);

#endif
