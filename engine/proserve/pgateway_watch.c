/* A handler run's end, whichever way it was started: it exits, the service
 * host asks for a kill (or hangs up), the deadline passes, or the memory
 * limit kills it. */
#include "proserve/pgateway_int.h"

#include <errno.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

int gw_watch(struct gw_run *run, pid_t pid, const struct sv_cgroup *cg, double deadline,
             void (*stop)(void *), void *stop_arg)
{
    int status = 0;
    bool stopped = false;
    /* A WebSocket's handler runs while its connection lasts: the service
     * host ends it (or hangs up) when the connection ends. */
    double end = run->rq && run->rq->keep ? 1e18 : sv_now_s() + deadline;
    run->oom = false;
    /* Its end wakes us at once (a pidfd polls readable); the memory is
     * looked at every 20 ms. */
    cleanup_close int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        struct pollfd p[2] = {{stopped ? -1 : run->conn, POLLIN, 0}, {pfd, POLLIN, 0}};
        int wait_ms = cg && !stopped ? 20 : pfd >= 0 ? 1000 : 10;
        bool ask = !stopped &&
                   (run->kill_now || (poll(p, 2, wait_ms) > 0 && p[0].revents) || sv_now_s() > end);
        if (stopped && pfd < 0) {
            struct timespec ts = {0, 5 * 1000000};
            nanosleep(&ts, NULL);
        } else if (stopped) {
            poll(&p[1], 1, 100);
        }
        if (!stopped && cg && sv_cgroup_oom_killed(cg))
            ask = run->oom = true;
        if (ask) {
            stop(stop_arg);
            stopped = true;
        }
    }
    return status;
}
