/* The daemon's event loop: one epoll set holding libmicrohttpd's own
 * epoll descriptor (one per listener), signals (a signalfd: SIGCHLD for
 * jobs, SIGTERM and SIGINT to stop), and whatever the parts watch (job
 * pipes, inotify). Ticks (heartbeats, connection deadlines) run from the
 * wait's timeout. */
#include "api/api_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

struct watch {
    int fd;
    void (*fn)(void *ud);
    void *ud;
};

struct tick {
    int period_ms;
    int64_t next_ms;
    void (*fn)(void *ud);
    void *ud;
};

static struct {
    int epfd, sigfd;
    struct watch *w;
    size_t n_w;
    struct tick t[16];
    size_t n_t;
    void (*on_child[4])(pid_t pid, int code);
    size_t n_child;
    int (*before_wait[4])(void);
    size_t n_before;
    bool stop, kicked;
    struct sv_store *st;
} L = {.epfd = -1, .sigfd = -1};

struct sv_store *loop_store(void)
{
    return L.st;
}

static struct watch *watch_of(int fd)
{
    for (size_t i = 0; i < L.n_w; i++)
        if (L.w[i].fd == fd)
            return &L.w[i];
    return NULL;
}

int sv_api_watch(int fd, void (*fn)(void *ud), void *ud)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(L.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -1;
    L.w = sv_xrealloc(L.w, (L.n_w + 1) * sizeof(*L.w));
    L.w[L.n_w++] = (struct watch){fd, fn, ud};
    return 0;
}

void sv_api_unwatch(int fd)
{
    epoll_ctl(L.epfd, EPOLL_CTL_DEL, fd, NULL);
    struct watch *w = watch_of(fd);
    if (w)
        *w = L.w[--L.n_w];
}

void loop_every(int period_ms, void (*fn)(void *ud), void *ud)
{
    if (L.n_t == SV_ARRAY_LEN(L.t))
        abort(); /* a fixed set, registered at start-up */
    L.t[L.n_t++] = (struct tick){period_ms, sv_now_ms() + period_ms, fn, ud};
}

void sv_api_every(int period_ms, void (*fn)(void *ud), void *ud)
{
    loop_every(period_ms, fn, ud);
}

void sv_api_on_child(void (*fn)(pid_t pid, int code))
{
    if (L.n_child == SV_ARRAY_LEN(L.on_child))
        abort(); /* a fixed set, registered at start-up */
    L.on_child[L.n_child++] = fn;
}

void loop_before_wait(int (*fn)(void))
{
    if (L.n_before < SV_ARRAY_LEN(L.before_wait))
        L.before_wait[L.n_before++] = fn;
}

void loop_kick(void)
{
    L.kicked = true;
}

void loop_stop(void)
{
    L.stop = true;
}

bool loop_stopping(void)
{
    return L.stop;
}

int loop_init(sv_error_t *err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    L.epfd = epoll_create1(EPOLL_CLOEXEC);
    L.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (L.epfd < 0 || L.sigfd < 0)
        return sv_error(err, errno, "cannot set up the event loop");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = L.sigfd};
    epoll_ctl(L.epfd, EPOLL_CTL_ADD, L.sigfd, &ev);
    return sv_store_open(&L.st, err);
}

static void on_signals(void)
{
    struct signalfd_siginfo si;
    bool child = false;
    while (read(L.sigfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
            child = true;
        else if (si.ssi_signo != SIGHUP) /* a closed terminal: serve on */
            L.stop = true;
    }
    if (!child)
        return;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
        for (size_t i = 0; i < L.n_child; i++)
            L.on_child[i](pid, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* Ticks due now; returns ms until the next one. */
static int run_ticks(void)
{
    int64_t now = sv_now_ms(), next = INT64_MAX;
    for (size_t i = 0; i < L.n_t; i++) {
        struct tick *t = &L.t[i];
        if (now >= t->next_ms) {
            t->fn(t->ud);
            t->next_ms = now + t->period_ms;
        }
        next = t->next_ms < next ? t->next_ms : next;
    }
    return next == INT64_MAX ? 1000 : (int)(next - now < 0 ? 0 : next - now);
}

void loop_run(void)
{
    while (!L.stop) {
        int wait = run_ticks();
        int h = httpd_timeout();
        if (h >= 0 && h < wait)
            wait = h;
        for (size_t i = 0; i < L.n_before; i++) {
            int b = L.before_wait[i]();
            if (b >= 0 && b < wait)
                wait = b;
        }
        if (L.kicked)
            wait = 0;
        L.kicked = false;
        struct epoll_event ev[64];
        int n = epoll_wait(L.epfd, ev, 64, wait);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n && !L.stop; i++) {
            int fd = ev[i].data.fd;
            if (fd == L.sigfd) {
                on_signals();
                continue;
            }
            struct watch *w = watch_of(fd);
            if (w)
                w->fn(w->ud);
        }
        /* Whatever happened may have resumed connections or queued
         * answers: one pass over the servers after every wake-up. */
        httpd_run();
    }
}
