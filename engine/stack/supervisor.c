/* The supervisor's start-up and event loop (supervisor_int.h maps the
 * other parts). sv_supervisor_spawn forks it detached; it takes the
 * stack's supervisor.lock for as long as it lives, re-adopts what an
 * earlier supervisor left running, does the first reconcile, tells the
 * CLI how that went through a pipe, then serves until down or SIGTERM. */
#include "stack/supervisor.h"
#include "stack/supervisor_int.h"
#include "stack/lastup.h"
#include "core/trace.h"
#include "core/statedir.h"
#include "proserve/pgateway.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sup_log(const char *fmt, ...)
{
    time_t t = time(NULL);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", localtime(&t));
    fprintf(stderr, "%s ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

void sup_report(sv_error_t *err)
{
    if (*err) {
        sup_log("%s", (*err)->msg);
        sv_error_free(err);
    }
}

void sup_watch(struct supervisor *sup, int fd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(sup->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
}

void sup_unwatch(struct supervisor *sup, int fd)
{
    epoll_ctl(sup->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- events ------------------------------------------------------------------ */

/* Children that ended: a health check's, or a replica's init. */
static void reap(struct supervisor *sup)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        for (size_t i = 0; i < sup->n_replicas; i++) {
            struct replica *r = sup->replicas[i];
            if (r->check_pid == pid) {
                health_result(sup, r, code);
                break;
            }
            if (r->pid == pid && r->pidfd < 0) {
                replica_exited(sup, r, code);
                break;
            }
        }
    }
}

/* Every 100 ms: log stamps, names that changed, checks and restarts due. */
static void tick(struct supervisor *sup)
{
    int64_t now = sv_now_ms();
    replica_stamp_logs(sup);
    network_refresh_hosts(sup);
    for (size_t i = 0; i < sup->n_replicas; i++) {
        health_tick(sup, sup->replicas[i], now);
        replica_tick(sup, sup->replicas[i], now);
    }
}

/* A gateway socket's or a replica's descriptor (its log, or the pidfd of
 * an adopted one) is ready. */
static void replica_event(struct supervisor *sup, int fd)
{
    for (size_t k = 0; k < sup->n_gateways; k++)
        if (sup->gateways[k].fd == fd) {
            const struct sv_service *s = sv_graph_find(sup->g, sup->gateways[k].service);
            if (s)
                sv_gateway_accept(fd, sup->stack, s);
            return;
        }
    for (size_t k = 0; k < sup->n_replicas; k++) {
        struct replica *r = sup->replicas[k];
        if (r->log && sv_log_fd(r->log) == fd) {
            replica_pump_log(r);
            break;
        }
        if (r->pidfd == fd) { /* an adopted replica ended */
            replica_exited(sup, r, -1);
            break;
        }
    }
}

static void dispatch_event(struct supervisor *sup, int fd)
{
    if (fd == sup->signal_fd) {
        struct signalfd_siginfo si;
        while (read(sup->signal_fd, &si, sizeof(si)) == sizeof(si)) {
            if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                sup->exiting = true;
        }
        reap(sup);
    } else if (sup->proxy && fd == sv_proxy_fd(sup->proxy)) {
        sv_proxy_pump(sup->proxy);
    } else if (fd == sup->timer_fd) {
        uint64_t x;
        if (read(sup->timer_fd, &x, sizeof(x)) < 0) {
            /* spurious */
        }
        tick(sup);
    } else if (fd != sup->listen_fd) {
        replica_event(sup, fd);
    }
}

void sup_pump(struct supervisor *sup, int ms)
{
    struct epoll_event ev[16];
    int n = epoll_wait(sup->epoll_fd, ev, 16, ms);
    for (int i = 0; i < n; i++)
        dispatch_event(sup, ev[i].data.fd);
    if (sup->proxy)
        sv_proxy_refresh(sup->proxy);
}

/* Until down or SIGTERM: requests and events. */
static void event_loop(struct supervisor *sup)
{
    while (!sup->exiting) {
        struct epoll_event ev[16];
        int n = epoll_wait(sup->epoll_fd, ev, 16, -1);
        for (int i = 0; i < n && !sup->exiting; i++) {
            if (ev[i].data.fd == sup->listen_fd) {
                /* A request may replace replicas and their descriptors: the
                 * rest of this batch is stale. Level-triggered, it comes back. */
                control_accept(sup);
                break;
            } else
                dispatch_event(sup, ev[i].data.fd);
        }
        if (sup->proxy)
            sv_proxy_refresh(sup->proxy);
    }
    control_stop_listening(sup);
}

/* ---- start-up ---------------------------------------------------------------- */

/* The loop's descriptors (they live as long as the process), the control
 * socket and the store. */
static int setup(struct supervisor *sup, sv_error_t *err)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sup->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (control_listen(sup, err) < 0)
        return -1;
    sup->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    sup->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec its = {{0, 100 * 1000000}, {0, 100 * 1000000}};
    timerfd_settime(sup->timer_fd, 0, &its, NULL);
    sup_watch(sup, sup->signal_fd);
    sup_watch(sup, sup->timer_fd);
    sup->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    return sv_store_open(&sup->st, err);
}

/* stdin from /dev/null, stdout and stderr to <dir>/supervisor.log (one
 * old file kept, as for replicas), nothing else of the CLI's. */
static void redirect_stdio(const char *dir)
{
    cleanup_free char *logpath = sv_xasprintf("%s/supervisor.log", dir);
    struct stat lst;
    if (stat(logpath, &lst) == 0 && lst.st_size > SV_LOG_MAX_SIZE) {
        cleanup_free char *old = sv_xasprintf("%s.1", logpath);
        rename(logpath, old);
    }
    cleanup_close int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    cleanup_close int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(null, 0);
    if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
    }
    sv_trace_init(); /* SERVOS_TRACE: into the log, the CLI's stderr is not ours */
    if (chdir("/") < 0) {
        /* keep the cwd */
    }
}

/* The first reconcile, told to the CLI on report_fd. An `up` of a stack
 * of which nothing runs is all or nothing: when it fails, what it started
 * goes again, with the network and its ports, and so do we (false). A
 * half-started stack nobody asked for would hold its ports (the next `up`
 * of another checkout fails with "Address already in use") and restart
 * nothing. A stack that ran before keeps running (see the CLI, which says
 * what runs). */
static bool first_reconcile(struct supervisor *sup, struct sv_graph *g, int report_fd)
{
    sv_error_t e = NULL;
    bool fresh = g != NULL && !reconcile_any_running(sup);
    /* Without a graph (a command found the supervisor gone), the last
     * `up` request is evaluated again; failing that, adopt only. */
    if (g == NULL && sv_lastup_load(sup->stack, SV_GIT_PINNED, &g, &e) < 0) {
        sup_log("cannot evaluate the last up request: %s", e->msg);
        sv_error_free(&e);
    }
    sv_store_burst_begin(sup->st);
    int rc = g ? reconcile(sup, g, &e) : 0;
    if (rc < 0 && fresh) {
        sup_log("up failed: %s; undoing it", e->msg);
        sv_error_t undo = NULL;
        if (reconcile_take_down(sup, -1, &undo) < 0) {
            dprintf(report_fd, "error: %s (and undoing the up failed: %s)", e->msg, undo->msg);
            sup_report(&undo);
        } else {
            dprintf(report_fd, "undone: %s", e->msg);
            sup_log("stack %s is down again", sup->stack);
        }
        sup_report(&e);
        sv_store_burst_end(sup->st);
        return false;
    }
    if (e) {
        dprintf(report_fd, "error: %s", e->msg);
        sup_report(&e);
    } else {
        dprintf(report_fd, "ok");
    }
    sv_store_burst_end(sup->st); /* once the caller has its answer */
    return true;
}

/* The supervisor process, from the second fork on; never returns. Its
 * report pipe is made descriptor 3 and everything else of the CLI's is
 * closed (its stack lock above all). */
static void __attribute__((noreturn))
supervisor_main(const char *stack, struct sv_graph *g, const char *dir, int report_fd)
{
    if (report_fd != 3 && dup3(report_fd, 3, O_CLOEXEC) < 0)
        _exit(1);
    report_fd = 3;
    syscall(SYS_close_range, 4, ~0U, 0);
    /* Held, never closed, for as long as we live: supervisor.lock says a
     * supervisor of this stack runs. */
    cleanup_free char *lockpath = sv_xasprintf("%s/supervisor.lock", dir);
    int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
        dprintf(report_fd, "busy");
        _exit(0);
    }
    redirect_stdio(dir);
    struct supervisor sup = {.stack = sv_xstrdup(stack), .listen_fd = -1};
    sv_error_t e = NULL;
    if (setup(&sup, &e) < 0) {
        dprintf(report_fd, "error: %s", e->msg);
        _exit(1);
    }
    sup_log("supervisor of stack %s (pid %d)", stack, (int)getpid());
    sv_statedir_binds_migrate(stack);
    adopt(&sup);
    bool serve = first_reconcile(&sup, g, report_fd);
    /* The CLI's read ends here: closed now, not at exit, as it waits. */
    close(report_fd);
    if (serve) {
        event_loop(&sup);
        if (sup.exiting && sup.n_replicas > 0) /* SIGTERM: leave the replicas running */
            sup_log("exiting; %zu replicas keep running", sup.n_replicas);
    }
    sv_store_close(sup.st);
    _exit(0);
}

/* What the supervisor wrote to the report pipe, as sv_supervisor_spawn
 * returns it. */
static int read_report(int fd, sv_error_t *err)
{
    char buf[4096];
    size_t len = sv_read_pipe(fd, buf, sizeof(buf));
    if (strcmp(buf, "ok") == 0)
        return 0;
    if (strcmp(buf, "busy") == 0)
        return sv_error(err, EBUSY, "busy");
    if (strncmp(buf, "undone: ", 8) == 0) {
        sv_error(err, 0, "%s", buf + 8); /* the message is the supervisor's */
        (*err)->status = ECANCELED;
        return -1;
    }
    return sv_error(err, 0, "%s",
                    strncmp(buf, "error: ", 7) == 0 ? buf + 7
                    : len                           ? buf
                                                    : "the supervisor died while starting");
}

int sv_supervisor_spawn(const char *stack, struct sv_graph *g, sv_error_t *err)
{
    if (sv_statedir_stack_make(stack, err) < 0)
        return -1;
    cleanup_free char *dir = sv_statedir_stack(stack);
    int report_pipe[2];
    if (pipe2(report_pipe, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    cleanup_close int report_rd = report_pipe[0];
    cleanup_close int report_wr = report_pipe[1];
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return sv_error(err, errno, "fork");
    if (pid == 0) {
        /* The CLI's end; our cleanups never run, as this side _exits. */
        close(report_rd);
        setsid();
        if (fork() != 0)
            _exit(0); /* the supervisor is reparented: nobody waits for it */
        supervisor_main(stack, g, dir, report_wr);
    }
    /* Ours goes before reading: the read ends when the supervisor's does. */
    close(report_wr);
    report_wr = -1;
    waitpid(pid, NULL, 0);
    return read_report(report_rd, err);
}
