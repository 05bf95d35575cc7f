/* servos run, inside: its options, parsed into a container's spec
 * (cli_run_opts.c); cli_run.c holds the verb, and starts a -d container
 * under its monitor (runtime/monitor.h). */
#ifndef SV_CLI_RUN_INT_H
#define SV_CLI_RUN_INT_H

#include "core/store.h"
#include "core/util.h"
#include "graph/units.h"
#include "log/logfile.h"
#include "runtime/container.h"

#include <stdbool.h>
#include <stddef.h>

struct sv_runopts {
    struct sv_run_spec spec;
    bool detach, remove, interactive;
    char **env;
    size_t n_env;
    const char **cap_add, **cap_drop;
    size_t n_add, n_drop;
    char *entrypoint[2];
    const char *pull;       /* missing (default), always, never */
    struct sv_log_opts log; /* -d: --log-opt max-size=, max-file= */
    /* -p, --env-file, --label, --restart */
    struct sv_port_spec *ports;
    size_t n_ports;
    char **env_file; /* its NAME=VALUE lines, in order; -e wins over them */
    size_t n_env_file;
    char **labels;
    size_t n_labels;
    enum sv_restart_policy restart;
    int restart_max; /* on-failure:N; 0: no limit */
    char restart_text[32];
    bool network_given;
};

/* The command line into o (its strings point into argv). Returns 0, 1
 * for --help, or -1 with what is wrong in one line. */
int sv_runopt_parse(int argc, char **argv, struct sv_runopts *o, sv_error_t *err);
void sv_runopt_free(struct sv_runopts *o);
/* --env-file's reading (Docker's format), also isolate's -e: its
 * NAME=VALUE entries appended to *v (NULL-terminated, *n of them). */
int sv_runopt_env_file(const char *path, char ***v, size_t *n, sv_error_t *err);
#define cleanup_runopts __attribute__((cleanup(sv_runopt_free)))

#endif
