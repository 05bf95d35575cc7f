#include "runtime/monitor.h"

#include "runtime/runnet.h"
#include "runtime/stop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sv_monitor_record_end(struct sv_store *st, struct sv_container *c, bool remove, int code,
                           bool oom)
{
    sv_error_t err = NULL;
    /* Nothing runs any more: the cgroup goes now, not at rm (the OOM
     * verdict was read before). */
    if (sv_cgroup_destroy(&c->cg, &err) < 0)
        sv_error_report(&err);
    if (sv_store_set_exited(st, c->id, code, oom, &err) < 0)
        sv_error_report(&err);
    if (oom)
        fprintf(stderr, "servos: %s was killed: out of memory (limit %lld MB)\n", c->name,
                (long long)(c->spec.limits.memory >> 20));
    if (remove && sv_container_remove(st, c->id, &err) < 0)
        sv_error_report(&err);
}

/* Until the container's init exits: copy its output into its log. A
 * full disk drops output rather than stalling the container. */
static void copy_output(struct sv_container *c, struct sv_log *log)
{
    cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    for (;;) {
        struct pollfd p[2] = {{sv_log_fd(log), POLLIN, 0}, {pidfd, POLLIN, 0}};
        int n = poll(p, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 100);
        if (n < 0 && errno != EINTR)
            break;
        sv_error_t err = NULL;
        if (sv_log_pump(log, &err) < 0)
            sv_error_free(&err);
        siginfo_t si = {0};
        if (p[1].revents ||
            (pidfd < 0 && waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
             si.si_pid == c->pid))
            break;
    }
    sv_error_t err = NULL; /* what it wrote last */
    if (sv_log_pump(log, &err) < 0)
        sv_error_free(&err);
}

/* A line from servos itself in the container's log. */
static void log_note(struct sv_log *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_note(struct sv_log *log, const char *fmt, ...)
{
    sv_error_t err = NULL;
    {
        cleanup_close int fd = sv_log_writer(log, &err);
        if (fd < 0) {
            sv_error_free(&err);
            return;
        }
        va_list ap;
        va_start(ap, fmt);
        dprintf(fd, "servos: ");
        vdprintf(fd, fmt, ap);
        dprintf(fd, "\n");
        va_end(ap);
    } /* the writer is closed before the line is pumped into the log */
    if (sv_log_pump(log, &err) < 0)
        sv_error_free(&err);
}

static bool stop_marked(const struct sv_container *c)
{
    cleanup_free char *mark = sv_stop_mark(c->id);
    return access(mark, F_OK) == 0;
}

/* Does the policy start the container again after it ended with code? */
static bool restart_wanted(const struct sv_monitor_opts *o, int code, int restarts)
{
    switch (o->restart) {
    case SV_RESTART_ALWAYS:
    case SV_RESTART_UNLESS_STOPPED:
        return true;
    case SV_RESTART_ON_FAILURE:
        return code != 0 && (o->restart_max <= 0 || restarts < o->restart_max);
    default:
        return false;
    }
}

/* The back-off before the next start, as a stack's supervisor waits: 100
 * ms doubling to 10 s, from 100 ms again after a run of 10 s. Cut short
 * by `servos stop`'s mark; false then. */
static bool back_off(const struct sv_container *c, int restarts, int64_t ran_ms)
{
    int shift = ran_ms > 10000 ? 0 : (restarts < 7 ? restarts : 7);
    int64_t delay = 100LL << shift, until = sv_now_ms() + (delay > 10000 ? 10000 : delay);
    while (!stop_marked(c)) {
        int64_t left = until - sv_now_ms();
        if (left <= 0)
            return true;
        struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* Start c with its output into log; false (and a note in the log) when
 * it could not be started. */
static bool start_logged(struct sv_store *st, struct sv_container *c, struct sv_log *log,
                         struct sv_runnet *rn, int null, int *code)
{
    sv_error_t err = NULL;
    cleanup_close int out = -1; /* the container has its own copy once started */
    int exec_status = 0;
    if (rn)
        sv_runnet_prepare(rn, c->id);
    if (sv_container_reset(c, &err) < 0 || (out = sv_log_writer(log, &err)) < 0 ||
        sv_container_start(st, c, (int[3]){null, out, out}, &exec_status, &err) < 0) {
        log_note(log, "cannot start %s again: %s", c->name, err->msg);
        sv_error_free(&err);
        *code = exec_status ? exec_status : 125;
        return false;
    }
    return true;
}

/* The monitor's life after the container started: copy its output, and
 * start it again while its restart policy says so and nobody stopped it
 * for good; then close its ports and record the end. */
static void monitor_loop(struct sv_store *st, struct sv_container *c,
                         const struct sv_monitor_opts *o, struct sv_log *log, struct sv_runnet *rn,
                         int null)
{
    int code = 0, restarts = 0;
    bool oom = false, running = true;
    for (;;) {
        int64_t started = sv_now_ms();
        if (running) {
            copy_output(c, log);
            sv_container_wait(c, &code, &oom);
        }
        if (!restart_wanted(o, code, restarts) || stop_marked(c))
            break;
        sv_error_t err = NULL;
        if (sv_store_set_exited(st, c->id, code, oom, &err) < 0)
            sv_error_free(&err);
        if (!back_off(c, restarts, running ? sv_now_ms() - started : 0))
            break;
        restarts++;
        if (sv_store_set_restarts(st, c->id, restarts, &err) < 0)
            sv_error_free(&err);
        oom = false;
        running = start_logged(st, c, log, rn, null, &code);
        /* Started just as `servos stop` marked it: it goes at once. */
        if (running && stop_marked(c))
            kill(c->pid, SIGKILL);
    }
    /* The ports close before the end is recorded: once `servos stop`
     * returns, nothing answers on them. */
    sv_runnet_close(rn);
    sv_monitor_record_end(st, c, o->remove, code, oom);
}

static char *lock_path(const char *id)
{
    return sv_xasprintf("%s/containers/%s/monitor.lock", sv_state_root(), id);
}

/* The lock the monitor holds for as long as it lives (the descriptor,
 * closed on exec; see sv_monitor_alive). */
static int monitor_lock(const struct sv_container *c, sv_error_t *err)
{
    if (mkdir(c->dir, 0700) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cannot create %s", c->dir);
    cleanup_free char *path = lock_path(c->id);
    cleanup_close int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) < 0)
        return sv_error(err, errno, "cannot lock %s", path);
    return sv_steal_fd(fd);
}

/* The monitor process: start the container, write "0 ID" or "CODE
 * MESSAGE" to answer (the caller's pipe), then watch it until the end. */
__attribute__((noreturn)) static void monitor_main(const struct sv_monitor_opts *o, int answer)
{
    setsid();
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    sv_error_t err = NULL;
    struct sv_store *st = NULL;
    struct sv_container *c = NULL;
    struct sv_runnet *rn = NULL;
    /* Held for the monitor's life: each restart's stdin. */
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (o->n_ports && sv_runnet_open(o->ports, o->n_ports, &rn, &err) == 0)
        sv_runnet_attach(rn, o->spec);
    if (err || sv_store_open(&st, &err) < 0 || sv_container_create(st, o->spec, &c, &err) < 0) {
        dprintf(answer, "125 %s", err->msg);
        sv_runnet_close(rn);
        _exit(125);
    }
    /* The container writes into its log's FIFO; we copy that into
     * capped, rotated files while it runs (logfile.h). */
    cleanup_free char *logpath = NULL;
    struct sv_log *log = NULL;
    int out = sv_container_log_path(c, &logpath, &err) < 0 || monitor_lock(c, &err) < 0 ||
                      sv_log_open(logpath, &o->log, false, &log, &err) < 0
                  ? -1
                  : sv_log_writer(log, &err);
    int fds[3] = {null, out, out}, exec_status = 0;
    if (out < 0 || sv_container_start(st, c, fds, &exec_status, &err) < 0) {
        dprintf(answer, "%d %s", exec_status ? exec_status : 125,
                err ? err->msg : "cannot open the log");
        sv_container_remove(st, c->id, NULL);
        sv_runnet_close(rn);
        _exit(125);
    }
    close(out); /* the container has its own copy */
    dprintf(answer, "0 %s", c->id);
    close(answer); /* now: the caller returns once it sees the end */
    char title[128];
    snprintf(title, sizeof(title), "servos: monitor of container %.12s", c->id);
    /* Its caller's -e NAME=SECRET would show in ps for the container's life. */
    sv_retitle(title, false);
    for (int fd = 0; fd < 3; fd++)
        dup2(null, fd);
    monitor_loop(st, c, o, log, rn, null);
    sv_log_close(log);
    sv_store_close(st);
    _exit(0);
}

/* What the monitor answered on fd: the id (0), or what failed and its
 * exit code. */
static int monitor_answer(int fd, pid_t monitor, char **id, int *exit_code, sv_error_t *err)
{
    char buf[1200];
    size_t len = sv_read_pipe(fd, buf, sizeof(buf));
    char *msg = strchr(buf, ' ');
    int status = len ? atoi(buf) : 125;
    if (status == 0 && msg) {
        *id = sv_xstrdup(msg + 1);
        return 0;
    }
    waitpid(monitor, NULL, WNOHANG);
    *exit_code = status;
    return sv_error(err, 0, "%s", msg ? msg + 1 : "the container monitor died");
}

int sv_monitor_detach(const struct sv_monitor_opts *o, char **id, int *exit_code, sv_error_t *err)
{
    *exit_code = 125;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    cleanup_close int answer_rd = pfd[0];
    cleanup_close int answer_wr = pfd[1];
    fflush(NULL);
    pid_t m = fork();
    if (m < 0)
        return sv_error(err, errno, "fork");
    if (m == 0) {
        close(answer_rd); /* the caller's end */
        answer_rd = -1;
        monitor_main(o, answer_wr);
    }
    /* Ours goes before the read: the read ends when the monitor closes
     * its end (or dies). */
    close(answer_wr);
    answer_wr = -1;
    return monitor_answer(answer_rd, m, id, exit_code, err);
}

bool sv_monitor_alive(const char *id)
{
    cleanup_free char *path = lock_path(id);
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0)
        return errno == EWOULDBLOCK;
    return false; /* closing drops our lock */
}

bool sv_monitor_restarting(const struct sv_ctr_row *r)
{
    struct sv_stop_how how;
    sv_stop_how_of(r, &how);
    cleanup_free char *mark = sv_stop_mark(r->id);
    return how.restarts && !sv_ctr_row_running(r) && access(mark, F_OK) < 0 &&
           sv_monitor_alive(r->id);
}
