/* The state of a `servos run` container as ls, logs and rm see it, and
 * stopping one (cli_runctr.c). Engine work rather than the CLI's: see
 * cli_runctr.c. */
#ifndef SV_CLI_RUNCTR_H
#define SV_CLI_RUNCTR_H

#include "core/store.h"

#include <stdbool.h>

/* Its init process runs (the row says so, and the pid is still that
 * process). */
bool sv_runctr_running(const struct sv_ctr_row *r);
/* Exited, but its monitor is alive to start it again (its back-off). */
bool sv_runctr_restarting(const struct sv_ctr_row *r);
/* Stop it with its stop signal (--stop-signal, else the image's, else
 * SIGTERM), then SIGKILL after timeout_s seconds (< 0: its own
 * --stop-timeout, else 10). One that a monitor restarts is marked first,
 * so the monitor starts it no more. */
int sv_runctr_stop(struct sv_store *st, const struct sv_ctr_row *r, int timeout_s);

#endif
