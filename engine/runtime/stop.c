#include "runtime/stop.h"

#include "runtime/container.h"
#include "runtime/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void sv_stop_how_of(const struct sv_ctr_row *row, struct sv_stop_how *how)
{
    how->signal = SIGTERM;
    how->timeout = SV_STOP_TIMEOUT_DEFAULT;
    how->restarts = false;
    cleanup_json json_t *o = row->spec_json ? json_loads(row->spec_json, 0, NULL) : NULL;
    json_int_t sig = json_integer_value(json_object_get(o, "stop_signal"));
    json_t *t = json_object_get(o, "stop_timeout");
    if (sig > 0 && sig < NSIG)
        how->signal = (int)sig;
    if (json_is_integer(t) && json_integer_value(t) >= 0 &&
        json_integer_value(t) <= SV_STOP_TIMEOUT_MAX)
        how->timeout = (int)json_integer_value(t);
    how->restarts = json_string_value(json_object_get(o, "restart")) != NULL;
}

char *sv_stop_mark(const char *id)
{
    return sv_xasprintf("%s/containers/%s/stopped", sv_state_root(), id);
}

/* Wait up to ms for the init process to be gone (reaped or a zombie). */
static bool wait_gone(const struct sv_ctr_row *r, int ms)
{
    for (int t = 0; t < ms; t += 10) {
        if (!sv_pid_alive(r->pid, r->pid_start))
            return true;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    return !sv_pid_alive(r->pid, r->pid_start);
}

/* After the init process is gone: give its monitor a moment to record the
 * exit; when there is no monitor any more, record it ourselves. */
static void settle(struct sv_store *st, const struct sv_ctr_row *r, int sig)
{
    for (int t = 0; t < 3000; t += 10) {
        struct sv_ctr_row now;
        sv_error_t err = NULL;
        if (sv_store_find(st, r->id, &now, &err) < 0) {
            sv_error_free(&err);
            return; /* removed (run --rm) */
        }
        bool done = now.status != SV_CTR_RUNNING;
        bool monitor = now.monitor > 0 && kill(now.monitor, 0) == 0;
        sv_ctr_row_clear(&now);
        if (done)
            return;
        if (!monitor) {
            sv_store_set_exited(st, r->id, 128 + sig, false, &err);
            sv_error_free(&err);
            return;
        }
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* A container with a restart policy: once its monitor is gone, nothing
 * starts it again. A start that raced the mark is killed (the monitor
 * kills it too, once it sees the mark). */
static void wait_monitor(struct sv_store *st, const struct sv_ctr_row *r, int ms)
{
    for (int t = 0; t < ms && sv_monitor_alive(r->id); t += 10) {
        struct sv_ctr_row now;
        sv_error_t err = NULL;
        if (sv_store_find(st, r->id, &now, &err) < 0) {
            sv_error_free(&err);
            return;
        }
        if (sv_ctr_row_running(&now))
            kill(now.pid, SIGKILL);
        sv_ctr_row_clear(&now);
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
}

int sv_stop_container(struct sv_store *st, const struct sv_ctr_row *r, int timeout_s)
{
    struct sv_stop_how how;
    sv_stop_how_of(r, &how);
    if (timeout_s < 0)
        timeout_s = how.timeout;
    if (how.restarts) {
        cleanup_free char *mark = sv_stop_mark(r->id);
        cleanup_close int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno != ENOENT)
            fprintf(stderr, "servos: cannot mark %s stopped (%s): %s\n", r->name, mark,
                    strerror(errno));
    }
    int sig = SIGKILL;
    if (sv_ctr_row_running(r)) {
        kill(r->pid, how.signal);
        sig = how.signal;
        if (!wait_gone(r, timeout_s * 1000)) {
            kill(r->pid, SIGKILL); /* pid 1 dies, and the kernel kills its namespace */
            sig = SIGKILL;
            wait_gone(r, 5000);
        }
    }
    settle(st, r, sig);
    if (how.restarts)
        wait_monitor(st, r, 15000);
    return 0;
}
