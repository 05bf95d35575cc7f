/* SERVOS_TRACE=1: where a command's time goes. Each step the code marks
 * prints one line on the caller's stderr, "servos-trace: PID +MS step",
 * milliseconds since main() began; a container's process marks its own
 * steps up to the exec the same way (the line goes to the caller's stderr,
 * not the container's). Off, a step costs one branch. The descriptor is
 * checked before each write: a process that closed its descriptors and
 * opened others under the same number stops tracing rather than write
 * into them. */
#ifndef SV_TRACE_H
#define SV_TRACE_H

#include <stdbool.h>

extern int sv_trace_fd; /* -1: off */

/* In main(), first: reads SERVOS_TRACE and starts the clock. */
void sv_trace_init(void);
void sv_trace_step(const char *step);

static inline void sv_trace(const char *step)
{
    if (__builtin_expect(sv_trace_fd >= 0, 0))
        sv_trace_step(step);
}

#endif
