#include "core/trace.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int sv_trace_fd = -1;
static struct timespec trace_start;

void sv_trace_init(void)
{
    const char *e = getenv("SERVOS_TRACE");
    if (e == NULL || *e == '\0' || *e == '0')
        return;
    clock_gettime(CLOCK_MONOTONIC, &trace_start);
    /* A descriptor of our own, above the three a container's process
     * replaces with its own stdio, closed at its exec. */
    sv_trace_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
}

/* System calls and snprintf only: safe in a child between clone and exec. */
void sv_trace_step(const char *step)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (double)(now.tv_sec - trace_start.tv_sec) * 1e3 +
                (double)(now.tv_nsec - trace_start.tv_nsec) / 1e6;
    char line[160];
    int n = snprintf(line, sizeof(line), "servos-trace: %d +%.3f ms %s\n", (int)getpid(), ms, step);
    if (n > 0 &&
        write(sv_trace_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
        sv_trace_fd = -1;
}
