/* One ProServe handler run: a process started fresh for a request or a
 * background task, isolated inside the service's container by what the
 * manifest's `isolation` asks for, and killed when it outlives its time or
 * memory. Safe to call from many threads at once. */
#ifndef SV_PHANDLER_H
#define SV_PHANDLER_H

#include "util.h"

struct sv_handler_limits {
    double timeout;      /* seconds; <= 0: none */
    int64_t memory;      /* bytes of resident memory; 0: none */
    bool no_network;     /* network_isolation: no IP, packet or netlink sockets */
    bool private_fs;     /* filesystem_isolation: only its own temporary directory is writable */
    bool clean_env;      /* environment_isolation: only the env given */
    bool drop_privilege; /* run as nobody (the service itself runs as root) */
    bool container;      /* a servos container per run, through the gateway (pgateway.h) */
};

struct sv_handler_result {
    int wait_status;
    bool timed_out, out_of_memory;
    char *out, *err; /* NUL-terminated; err keeps the last 4 KiB */
    size_t out_len, err_len;
    double seconds;
};

/* Build the network filter once, before threads fork handlers. */
int sv_handler_init(sv_error_t *err);

/* Run argv in cwd with env (NULL-terminated "K=V"), feeding input on its
 * stdin. 0 when it ran (whatever its exit), -1 when it could not start. */
int sv_handler_run(char *const argv[], char *const env[], const char *cwd, const char *input,
                   size_t input_len, const struct sv_handler_limits *lim,
                   struct sv_handler_result *res, sv_error_t *err);
void sv_handler_result_free(struct sv_handler_result *res);

#endif
