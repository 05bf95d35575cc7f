/* servos board build | flash | monitor (bverb.h). */
#include "board/bverb.h"

#include "board/steps.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

/* ---- build ---------------------------------------------------------------------------------- */

/* Where the build's files go: into a sketch's directory, else beside the
 * source file. */
static char *out_dir(const struct sv_steps *s)
{
    struct stat st;
    if (stat(s->src, &st) == 0 && S_ISDIR(st.st_mode))
        return sv_xstrdup(s->src);
    return sv_dirname(s->src);
}

static void strv_add(char ***v, size_t *n, char *s)
{
    *v = sv_xrealloc(*v, (*n + 2) * sizeof(char *));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

/* The build's files into the user's directory. */
static int copy_out(const struct sv_steps *s, char ***written, sv_error_t *err)
{
    cleanup_free char *dir = out_dir(s);
    size_t n = 0;
    *written = sv_xcalloc(1, sizeof(char *));
    for (size_t i = 0; s->plan.outs[i]; i++) {
        cleanup_free char *from = sv_xasprintf("%s/%s%s", s->work, s->plan.name, s->plan.outs[i]);
        if (access(from, F_OK) < 0)
            continue;
        char *to = sv_xasprintf("%s/%s%s", dir, s->plan.name, s->plan.outs[i]);
        strv_add(written, &n, to);
        if (sv_bjob_copy_out(from, to, err) < 0)
            return -1;
    }
    if (n == 0)
        return sv_error(err, 0, "the build made none of the files its template names");
    return 0;
}

int sv_bverb_build(const struct sv_isolate_opts *o, char ***written, sv_error_t *err)
{
    *written = NULL;
    cleanup_steps struct sv_steps s = {0};
    if (sv_steps_prepare(o, &s, err) < 0)
        return -1;
    if (s.plan.build == NULL)
        return sv_error(err, 0,
                        "%s: nothing to build for %s: it runs as it is (servos isolate or "
                        "board emulate runs it)",
                        o->script, s.pick.board->id);
    struct sv_isolate_result r;
    memset(&r, 0, sizeof(r));
    if (sv_steps_build(o, &s, &r, err) < 0)
        return -1;
    if (r.verdict == SV_VERDICT_INTERRUPTED)
        return sv_error(err, EINTR, "interrupted");
    if (r.verdict != SV_VERDICT_OK)
        return sv_error(err, 0, "the build for %s failed (exit %d)", s.pick.board->id, r.code);
    return copy_out(&s, written, err);
}

int sv_bverb_flash(const struct sv_isolate_opts *o, struct sv_isolate_result *r, sv_error_t *err)
{
    memset(r, 0, sizeof(*r));
    cleanup_steps struct sv_steps s = {0};
    if (sv_steps_prepare(o, &s, err) < 0)
        return -1;
    snprintf(r->what, sizeof(r->what), "%s, %s", s.pick.board->id, s.pick.family->name);
    if (s.plan.build && sv_steps_build(o, &s, r, err) < 0)
        return -1;
    if (r->verdict != SV_VERDICT_OK)
        return 0;
    return sv_steps_run(o, &s, r, err);
}

/* ---- monitor -------------------------------------------------------------------------------- */

static speed_t baud_speed(unsigned baud)
{
    static const struct {
        unsigned baud;
        speed_t speed;
    } speeds[] = {{1200, B1200},     {2400, B2400},     {4800, B4800},     {9600, B9600},
                  {19200, B19200},   {38400, B38400},   {57600, B57600},   {115200, B115200},
                  {230400, B230400}, {460800, B460800}, {921600, B921600}, {1000000, B1000000}};
    for (size_t i = 0; i < SV_ARRAY_LEN(speeds); i++)
        if (speeds[i].baud == baud)
            return speeds[i].speed;
    return 0;
}

/* Copy what one descriptor has to the other; false at its end. */
static bool pass(int from, int to)
{
    char buf[4096];
    ssize_t n = read(from, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return true;
    if (n <= 0)
        return false;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(to, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

int sv_bverb_monitor(const char *port, unsigned baud, double timeout, sv_error_t *err)
{
    speed_t speed = baud_speed(baud);
    if (speed == 0)
        return sv_error(err, 0, "--baud %u: not a serial speed (9600, 115200, ...)", baud);
    cleanup_close int fd = open(port, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return sv_error(err, errno, "%s", port);
    if (!isatty(fd))
        return sv_error(err, 0, "%s is not a serial port", port);
    struct termios t;
    if (tcgetattr(fd, &t) < 0)
        return sv_error(err, errno, "%s", port);
    cfmakeraw(&t);
    t.c_cflag |= CLOCAL | CREAD;
    cfsetispeed(&t, speed);
    cfsetospeed(&t, speed);
    if (tcsetattr(fd, TCSANOW, &t) < 0)
        return sv_error(err, errno, "%s: cannot set %u baud", port, baud);
    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &old);
    cleanup_close int sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
    bool input = true;
    double end = timeout > 0 ? sv_now_s() + timeout : 0;
    for (;;) {
        int ms = end > 0 ? (int)((end - sv_now_s()) * 1000) : -1;
        if (end > 0 && ms <= 0)
            break;
        struct pollfd p[3] = {{fd, POLLIN, 0}, {sigfd, POLLIN, 0}, {input ? 0 : -1, POLLIN, 0}};
        int n = poll(p, 3, ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || p[1].revents)
            break;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (!pass(fd, 1))
                break; /* the port hung up (the board went away) */
        }
        if (p[2].revents)
            input = pass(0, fd);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return 0;
}
