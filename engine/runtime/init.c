#include "runtime/init.h"

#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Faults are the init's own business, never the command's. */
static const int own_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGABRT};

void sv_init_block_signals(sigset_t *set)
{
    sigfillset(set);
    for (size_t i = 0; i < SV_ARRAY_LEN(own_signals); i++)
        sigdelset(set, own_signals[i]);
    sigprocmask(SIG_SETMASK, set, NULL);
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

void sv_init_close_fds_except(const int *keep, size_t n)
{
    int k[16];
    size_t m = 0;
    for (size_t i = 0; i < n && m < SV_ARRAY_LEN(k); i++)
        if (keep[i] >= 3)
            k[m++] = keep[i];
    qsort(k, m, sizeof(k[0]), cmp_int);
    unsigned lo = 3;
    for (size_t i = 0; i < m; i++) {
        if ((unsigned)k[i] > lo)
            syscall(SYS_close_range, lo, (unsigned)k[i] - 1, 0);
        lo = (unsigned)k[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0U, 0);
}

void sv_init_shed(const int *keep, size_t n)
{
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    sv_init_close_fds_except(keep, n);
    sv_retitle("servos-init", true); /* nothing here reads its environment again */
    prctl(PR_SET_NAME, "servos-init", 0, 0, 0);
}

/* What the command's terminal gave, to out. A failed write drops it: the
 * terminal must keep being read or the command blocks. 0 once the
 * terminal is closed on the command's side. */
static int copy_out(int master, int out)
{
    char buf[16384];
    for (int i = 0; i < 16; i++) {
        ssize_t n = read(master, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 1;
        if (n <= 0)
            return 0;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            off += w;
        }
    }
    return 1;
}

/* Every child that ended; true once the command has. */
static bool reap(pid_t child, int *status)
{
    bool gone = false;
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
        if (pid == child) {
            *status = st;
            gone = true;
        }
    return gone;
}

int sv_init_run(pid_t child, const sigset_t *set, int master, int out)
{
    cleanup_close int sfd = signalfd(-1, set, SFD_CLOEXEC);
    int status = 0;
    bool gone = false;
    while (!gone) {
        if (sfd < 0) { /* no signalfd: still reap, and end with the command */
            int sig = sigwaitinfo(set, NULL);
            if (sig == SIGCHLD)
                gone = reap(child, &status);
            else if (sig > 0)
                kill(child, sig);
            continue;
        }
        struct pollfd p[2] = {{.fd = sfd, .events = POLLIN}, {.fd = master, .events = POLLIN}};
        if (poll(p, master >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 125;
        }
        if (master >= 0 && p[1].revents && copy_out(master, out) == 0) {
            close(master); /* nothing holds the terminal any more */
            master = -1;
        }
        if (!(p[0].revents & POLLIN))
            continue;
        struct signalfd_siginfo si[16];
        ssize_t n = read(sfd, si, sizeof(si));
        for (ssize_t i = 0; i < n / (ssize_t)sizeof(si[0]); i++) {
            if (si[i].ssi_signo == SIGCHLD)
                gone |= reap(child, &status);
            else
                kill(child, (int)si[i].ssi_signo);
        }
    }
    for (int i = 0; master >= 0 && i < 16 && copy_out(master, out) > 0; i++) {
        struct pollfd q = {.fd = master, .events = POLLIN};
        if (poll(&q, 1, 0) <= 0)
            break;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
