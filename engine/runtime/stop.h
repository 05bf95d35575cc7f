/* Stopping a `servos run` container: its stop signal, the wait, SIGKILL,
 * the exit recorded where its monitor is gone, and the mark that keeps
 * its monitor (monitor.h) from starting it again. The CLI's stop and rm
 * call it; any other front would too. */
#ifndef SV_STOP_H
#define SV_STOP_H

#include "core/store.h"

#include <stdbool.h>

/* How a container is stopped, from its recorded spec: the signal (its
 * own, else the image's, else SIGTERM), the seconds before SIGKILL, and
 * whether a monitor would start it again. */
struct sv_stop_how {
    int signal;
    int timeout;
    bool restarts;
};
void sv_stop_how_of(const struct sv_ctr_row *row, struct sv_stop_how *how);

/* "Stopped for good": once marked, a container's monitor starts it no
 * more. The mark lives in the container's directory and goes with it. */
char *sv_stop_mark(const char *id);

/* Stop it with its stop signal, then SIGKILL after timeout_s seconds (<
 * 0: its own --stop-timeout, else 10). One that a monitor restarts is
 * marked first, so the monitor starts it no more. Returns 0. */
int sv_stop_container(struct sv_store *st, const struct sv_ctr_row *r, int timeout_s);

#endif
