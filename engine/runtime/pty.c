#include "runtime/pty.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

/* ---- the container's side ---------------------------------------------------- */

int sv_pty_open(int *master, int *slave, unsigned short rows, unsigned short cols, sv_error_t *err)
{
    *master = *slave = -1;
    struct open_how how = {
        .flags = O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK,
        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    cleanup_close int m = (int)syscall(SYS_openat2, AT_FDCWD, "/dev/pts/ptmx", &how, sizeof(how));
    if (m < 0)
        return sv_error(err, errno, "cannot open the container's /dev/pts/ptmx");
    struct statfs sfs;
    struct stat st;
    if (fstatfs(m, &sfs) < 0 || fstat(m, &st) < 0)
        return sv_error(err, errno, "/dev/pts/ptmx");
    if (sfs.f_type != DEVPTS_SUPER_MAGIC || !S_ISCHR(st.st_mode))
        return sv_error(err, ENOTTY,
                        "the container's /dev/pts/ptmx is not a devpts terminal master");
    int unlock = 0;
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0)
        return sv_error(err, errno, "unlocking the container's terminal");
    struct winsize ws = {.ws_row = rows ? rows : 24, .ws_col = cols ? cols : 80};
    if (ioctl(m, TIOCSWINSZ, &ws) < 0)
        return sv_error(err, errno, "setting the size of the container's terminal");
    int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0)
        return sv_error(err, errno, "opening the container's terminal");
    *master = m;
    *slave = s;
    m = -1;
    return 0;
}

int sv_pty_take(int slave, sv_error_t *err)
{
    if (ioctl(slave, TIOCSCTTY, 0) < 0)
        return sv_error(err, errno, "cannot make the terminal the command's own");
    for (int fd = 0; fd < 3; fd++)
        if (slave != fd && dup2(slave, fd) < 0)
            return sv_error(err, errno, "dup2");
    return 0;
}

bool sv_pty_user_size(struct winsize *ws)
{
    for (int fd = 0; fd < 3; fd++)
        if (ioctl(fd, TIOCGWINSZ, ws) == 0 && ws->ws_row > 0 && ws->ws_col > 0)
            return true;
    return false;
}

/* ---- passing the master -------------------------------------------------------- */

int sv_pty_send_fd(int sock, int fd, sv_error_t *err)
{
    char byte = 't';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof(u));
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
        if (errno != EINTR)
            return sv_error(err, errno, "handing the terminal to servos");
    return 0;
}

int sv_pty_recv_fd(int sock, int *fd, sv_error_t *err)
{
    *fd = -1;
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    ssize_t n;
    while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0)
        if (errno != EINTR)
            return sv_error(err, errno, "receiving the container's terminal");
    if (n == 0)
        return 0;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c == NULL || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(sizeof(int)) || (msg.msg_flags & MSG_CTRUNC))
        return sv_error(err, EPROTO, "the container sent no terminal");
    memcpy(fd, CMSG_DATA(c), sizeof(int));
    return 0;
}

/* ---- the user's side: raw mode and the relay -------------------------------------- */

/* The user's terminal as it was, for the fatal-signal handler too. */
static struct termios saved_term;
static volatile sig_atomic_t term_raw;

static void term_restore(void)
{
    if (term_raw) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_term);
        term_raw = 0;
    }
}

static int term_make_raw(void)
{
    struct termios raw = saved_term;
    cfmakeraw(&raw);
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
        return -1;
    term_raw = 1;
    return 0;
}

/* A crash (or abort) while raw would leave the user's shell unusable:
 * put the terminal back, then let the signal do what it did before us. */
static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
static struct sigaction fatal_old[SV_ARRAY_LEN(fatal_signals)];

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    term_restore();
    for (size_t i = 0; i < SV_ARRAY_LEN(fatal_signals); i++)
        if (fatal_signals[i] == sig)
            sigaction(sig, &fatal_old[i], NULL);
    /* A fault comes again once we return; a sent signal must be sent
     * again (abort() does so itself). */
    if (si->si_code <= 0)
        raise(sig);
}

static volatile sig_atomic_t got_winch, got_tstp, got_cont;

static void on_relay_signal(int sig)
{
    if (sig == SIGWINCH)
        got_winch = 1;
    else if (sig == SIGTSTP)
        got_tstp = 1;
    else
        got_cont = 1;
}

static const int relay_signals[] = {SIGWINCH, SIGTSTP, SIGCONT};

struct relay {
    int master, watch;
    bool input, in_open, raw;
    char pend[4096]; /* typed, not yet taken by the master */
    size_t pend_off, pend_len;
    struct sigaction old[SV_ARRAY_LEN(relay_signals)];
    sigset_t old_mask, wait_mask;
};

static void copy_size(int master)
{
    struct winsize ws;
    if (sv_pty_user_size(&ws))
        ioctl(master, TIOCSWINSZ, &ws);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) { /* a stdout someone made non-blocking */
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, 1000);
            continue;
        }
        if (w < 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copy what the master has to stdout: 1 when more may come, 0 when the
 * container's side is closed, -1 when stdout is gone. */
static int pump_output(int master)
{
    char buf[16384];
    for (int i = 0; i < 16; i++) {
        ssize_t n = read(master, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 1;
        if (n <= 0) /* EIO: no process holds the terminal any more */
            return 0;
        if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
            return -1;
    }
    return 1;
}

/* Keys to the master: 1 while the user's terminal is there, 0 when not. */
static int pump_input(struct relay *r)
{
    if (r->pend_len == 0) {
        ssize_t n = read(STDIN_FILENO, r->pend, sizeof(r->pend));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return 1;
        if (n <= 0)
            return 0;
        r->pend_off = 0;
        r->pend_len = (size_t)n;
    }
    ssize_t w = write(r->master, r->pend + r->pend_off, r->pend_len);
    if (w > 0) {
        r->pend_off += (size_t)w;
        r->pend_len -= (size_t)w;
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        r->pend_len = 0; /* the container's side is gone: the output side sees it */
    }
    return 1;
}

static void relay_begin(struct relay *r)
{
    sigset_t block;
    sigemptyset(&block);
    for (size_t i = 0; i < SV_ARRAY_LEN(relay_signals); i++)
        sigaddset(&block, relay_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &r->old_mask);
    r->wait_mask = r->old_mask;
    for (size_t i = 0; i < SV_ARRAY_LEN(relay_signals); i++)
        sigdelset(&r->wait_mask, relay_signals[i]);
    got_winch = got_tstp = got_cont = 0;
    struct sigaction sa = {.sa_handler = on_relay_signal};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < SV_ARRAY_LEN(relay_signals); i++)
        sigaction(relay_signals[i], &sa, &r->old[i]);
    r->raw = r->input && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_term) == 0;
    if (r->raw) {
        struct sigaction fa = {.sa_sigaction = on_fatal, .sa_flags = SA_SIGINFO};
        sigemptyset(&fa.sa_mask);
        for (size_t i = 0; i < SV_ARRAY_LEN(fatal_signals); i++)
            sigaction(fatal_signals[i], &fa, &fatal_old[i]);
        if (term_make_raw() < 0)
            r->raw = false;
    }
    /* The size may have changed since the container was made. */
    copy_size(r->master);
}

static void relay_end(struct relay *r)
{
    if (r->raw) {
        /* What the command wrote is on its way out before the modes change. */
        tcdrain(STDOUT_FILENO);
        term_restore();
        for (size_t i = 0; i < SV_ARRAY_LEN(fatal_signals); i++)
            sigaction(fatal_signals[i], &fatal_old[i], NULL);
    }
    for (size_t i = 0; i < SV_ARRAY_LEN(relay_signals); i++)
        sigaction(relay_signals[i], &r->old[i], NULL);
    sigprocmask(SIG_SETMASK, &r->old_mask, NULL);
}

/* Signals that arrived while waiting. */
static void relay_signals_seen(struct relay *r)
{
    if (got_tstp) {
        /* Someone stopped servos (Ctrl-Z goes to the container): the user's
         * shell gets its terminal back as it was. */
        got_tstp = 0;
        term_restore();
        kill(getpid(), SIGSTOP);
        got_cont = 1;
    }
    if (got_cont) {
        got_cont = 0;
        if (r->raw && tcgetattr(STDIN_FILENO, &saved_term) == 0)
            term_make_raw();
        got_winch = 1;
    }
    if (got_winch) {
        got_winch = 0;
        copy_size(r->master);
    }
}

int sv_pty_relay(int master, bool input, int watch, sv_error_t *err)
{
    struct relay r = {.master = master, .watch = watch, .input = input, .in_open = input};
    int fl = fcntl(master, F_GETFL);
    if (fl < 0 || fcntl(master, F_SETFL, fl | O_NONBLOCK) < 0)
        return sv_error(err, errno, "the container's terminal");
    relay_begin(&r);
    int rc = 0;
    for (;;) {
        relay_signals_seen(&r);
        struct pollfd p[3];
        int n = 0, in = -1, w = -1;
        if (r.in_open && r.pend_len == 0) {
            in = n;
            p[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        }
        int m = n;
        p[n++] = (struct pollfd){.fd = master, .events = POLLIN | (r.pend_len ? POLLOUT : 0)};
        if (watch >= 0) {
            w = n;
            p[n++] = (struct pollfd){.fd = watch, .events = POLLIN};
        }
        if (ppoll(p, (nfds_t)n, NULL, &r.wait_mask) < 0) {
            if (errno == EINTR)
                continue;
            rc = sv_error(err, errno, "poll");
            break;
        }
        if (p[m].revents & (POLLIN | POLLHUP | POLLERR)) {
            int o = pump_output(master);
            if (o <= 0)
                break; /* everything in the container closed it, or stdout went away */
        }
        if (r.pend_len && (p[m].revents & POLLOUT))
            pump_input(&r);
        if (in >= 0 && (p[in].revents & (POLLIN | POLLHUP | POLLERR)) && pump_input(&r) == 0) {
            /* The user's terminal is gone (a closed window): end, so the
             * caller's close hangs up the container's terminal too. */
            r.in_open = false;
            break;
        }
        if (w >= 0 && (p[w].revents & POLLIN)) {
            /* The command is gone; what it wrote last is still to show
             * (a read flushes the terminal's pending input first). */
            for (int i = 0; i < 16 && pump_output(master) > 0; i++) {
                struct pollfd q = {.fd = master, .events = POLLIN};
                if (poll(&q, 1, 0) <= 0)
                    break;
            }
            break;
        }
    }
    relay_end(&r);
    return rc;
}
