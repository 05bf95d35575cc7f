#include "core/trace.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int sv_trace_fd = -1;
static struct timespec trace_start;
static dev_t trace_dev; /* what sv_trace_fd is: a process that closed its */
static ino_t trace_ino; /* descriptors (a supervisor) may have reused it */

void sv_trace_init(void)
{
    const char *e = getenv("SERVOS_TRACE");
    if (e == NULL || *e == '\0' || *e == '0')
        return;
    clock_gettime(CLOCK_MONOTONIC, &trace_start);
    /* A descriptor of our own, above the three a container's process
     * replaces with its own stdio, closed at its exec. */
    sv_trace_fd = fcntl(2, F_DUPFD_CLOEXEC, 900);
    struct stat st;
    if (sv_trace_fd >= 0 && fstat(sv_trace_fd, &st) == 0) {
        trace_dev = st.st_dev;
        trace_ino = st.st_ino;
    } else if (sv_trace_fd >= 0) {
        close(sv_trace_fd);
        sv_trace_fd = -1;
    }
}

/* System calls and snprintf only: safe in a child between clone and exec.
 * A reader gone (`servos up 2>&1 | head`, a detached supervisor's caller
 * exited) must not kill the writer: a container's process has SIGPIPE at
 * its default by then. So SIGPIPE is held while writing, and one it raised
 * is taken back before it is let through. */
void sv_trace_step(const char *step)
{
    struct stat st;
    if (fstat(sv_trace_fd, &st) < 0 || st.st_dev != trace_dev || st.st_ino != trace_ino) {
        sv_trace_fd = -1; /* closed, or now something else: never write into it */
        return;
    }
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
