/* A container under a monitor process of its own (`servos run -d`): the
 * monitor, forked here, creates and starts the container and answers
 * with its id or the error; then it copies the container's output into
 * its log, starts it again by its restart policy, and records its end.
 * With ports it makes the container's network and the process that holds
 * the ports first (runnet.h), so a port in use is the caller's error.
 * The CLI's run -d starts one; any other front could too. */
#ifndef SV_MONITOR_H
#define SV_MONITOR_H

#include "core/store.h"
#include "graph/units.h"
#include "log/logfile.h"
#include "runtime/container.h"

#include <stdbool.h>
#include <stddef.h>

struct sv_monitor_opts {
    struct sv_run_spec *spec; /* -p's network is attached to it */
    bool remove;              /* --rm: the container goes at its end */
    enum sv_restart_policy restart;
    int restart_max;        /* on-failure:N; 0: no limit */
    struct sv_log_opts log; /* the size and rotation of its log */
    const struct sv_port_spec *ports;
    size_t n_ports;
};

/* Start the container under a monitor and wait for its answer: 0 with the
 * container's id (to free), or -1 with what failed and the exit code the
 * failure asks for (125, or the command's own, as 126 or 127). */
int sv_monitor_detach(const struct sv_monitor_opts *o, char **id, int *exit_code, sv_error_t *err);

/* How c ended, recorded (by its monitor, or by whoever waited for it
 * attached), and what it leaves cleaned up: its cgroup, and with remove,
 * itself. */
void sv_monitor_record_end(struct sv_store *st, struct sv_container *c, bool remove, int code,
                           bool oom);

/* Does a monitor hold the container's lock? (A monitor holds it for as
 * long as it lives: the state row names no monitor while the container
 * waits to be restarted, and a pid could be another process's by then.) */
bool sv_monitor_alive(const char *id);
/* Exited, but its monitor is alive to start it again (its back-off). */
bool sv_monitor_restarting(const struct sv_ctr_row *r);

#endif
