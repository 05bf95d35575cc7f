/* The container's own root lies in wait for `servos exec`: each process
 * that joins the container shows up in its /proc, and runs servos' code
 * until it execs the command. If the container may open that process's
 * /proc/PID/mem for writing before the joining process has loaded its
 * seccomp filter, it can run code of its choice there, outside the filter
 * and with the joining process's open files (runc's CVE-2016-9962).
 *
 *     execwatch SECONDS
 *
 * Watches for SECONDS, then prints one line per joining process it saw:
 *
 *     seen PID seccomp=S nnp=N mem=RESULT opened=FDS fds=...
 *
 * where S and N are what /proc/PID/status said just after the mem open;
 * "mem=ok" with "seccomp=0" is the hole, and opened= lists the process's
 * files we could open through /proc/PID/fd then. Last comes
 *
 *     execwatch held|open SUMMARY
 *
 * It writes nothing into any process or file. Built by tests/95-security-sandbox.t. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_SEEN 256

struct seen {
    int pid;
    char line[1024];
    int best; /* 2: mem opened before the filter, 1: mem opened, 0: refused */
};

static struct seen seen[MAX_SEEN];
static int n_seen;
static int stores; /* times the host's state store was opened read-write */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct seen *slot(int pid)
{
    for (int i = 0; i < n_seen; i++)
        if (seen[i].pid == pid)
            return &seen[i];
    if (n_seen == MAX_SEEN)
        return NULL;
    seen[n_seen].pid = pid;
    seen[n_seen].best = -1;
    return &seen[n_seen++];
}

/* "Seccomp:\t2" and "NoNewPrivs:\t1" of a process, -1 when unreadable. */
static void status_of(int pid, int *seccomp, int *nnp)
{
    char p[64], buf[4096];
    *seccomp = *nnp = -1;
    snprintf(p, sizeof(p), "/proc/%d/status", pid);
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *s = strstr(buf, "\nSeccomp:");
    if (s)
        *seccomp = atoi(s + 9);
    s = strstr(buf, "\nNoNewPrivs:");
    if (s)
        *nnp = atoi(s + 12);
}

static void fds_of(int pid, char *out, size_t size)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/fd", pid);
    DIR *d = opendir(p);
    size_t len = 0;
    out[0] = '\0';
    if (d == NULL) {
        snprintf(out, size, "(%s)", strerrorname_np(errno) ?: "E?");
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) && len + 80 < size) {
        if (e->d_name[0] == '.')
            continue;
        char lp[320], target[256];
        snprintf(lp, sizeof(lp), "%s/%s", p, e->d_name);
        ssize_t t = readlink(lp, target, sizeof(target) - 1);
        target[t > 0 ? t : 0] = '\0';
        len += (size_t)snprintf(out + len, size - len, "%s%s:%s", len ? "," : "", e->d_name,
                                t > 0 ? target : "?");
    }
    closedir(d);
}

/* Try the process; 0 when there is no such process. */
static int look(int pid)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/mem", pid);
    /* The open first, the status after: a filter is never unloaded, so
     * "no filter" read after a successful open held at the open too. */
    int fd = open(p, O_RDWR | O_CLOEXEC);
    int e = errno;
    if (fd < 0 && e == ENOENT)
        return 0;
    struct seen *s = slot(pid);
    if (s == NULL || s->best == 2) {
        if (fd >= 0)
            close(fd);
        return 1;
    }
    int sc, nnp;
    status_of(pid, &sc, &nnp);
    int best = fd < 0 ? 0 : sc == 0 ? 2 : 1;
    if (best <= s->best)
        goto out;
    s->best = best;
    char fds[512];
    fds_of(pid, fds, sizeof(fds));
    /* what the process holds, opened through /proc: files of the host's
     * servos (its state store), network namespaces, sockets */
    char grabbed[256] = "";
    size_t len = 0;
    for (int i = 3; best == 2 && i < 64 && len + 16 < sizeof(grabbed); i++) {
        snprintf(p, sizeof(p), "/proc/%d/fd/%d", pid, i);
        char target[256];
        ssize_t t = readlink(p, target, sizeof(target) - 1);
        target[t > 0 ? t : 0] = '\0';
        size_t tl = strlen(target);
        /* the state store: read-write, and show it is one (its header) */
        int store = tl > 9 && strcmp(target + tl - 9, "/state.db") == 0;
        int g = open(p, (store ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (g < 0)
            continue;
        char head[16] = "";
        if (store && pread(g, head, 15, 0) == 15) {
            len += (size_t)snprintf(grabbed + len, sizeof(grabbed) - len, "%s%d(rw:%s)",
                                    len ? "," : "", i, head);
            stores++;
        } else {
            len +=
                (size_t)snprintf(grabbed + len, sizeof(grabbed) - len, "%s%d", len ? "," : "", i);
        }
        close(g);
    }
    snprintf(s->line, sizeof(s->line), "seen %d seccomp=%d nnp=%d mem=%s opened=%s fds=%s", pid, sc,
             nnp, fd >= 0 ? "ok" : (strerrorname_np(e) ?: "E?"), grabbed[0] ? grabbed : "-", fds);
out:
    if (fd >= 0)
        close(fd);
    return 1;
}

int main(int argc, char **argv)
{
    double until = now() + (argc > 1 ? atof(argv[1]) : 5);
    int self = getpid();
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("watching\n");
    /* Pids in our namespace come in order: the next one to join gets the
     * next free pid. Watch those closely, and list /proc now and then for
     * the rest. */
    int next = self + 1;
    for (unsigned long round = 0; now() < until; round++) {
        for (int pid = next - 4; pid < next + 4; pid++)
            if (pid > 1 && pid != self && look(pid) && pid >= next)
                next = pid + 1;
        if (round % 512)
            continue;
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid > 1 && pid != self && look(pid) && pid >= next)
                next = pid + 1;
        }
        if (d)
            closedir(d);
    }
    int caught = 0, joined = 0;
    for (int i = 0; i < n_seen; i++) {
        if (seen[i].best < 0)
            continue;
        printf("%s\n", seen[i].line);
        joined++;
        caught += seen[i].best == 2;
    }
    printf("execwatch %s %d of %d joining processes open to us before their filter; state store "
           "opened read-write %d times\n",
           caught ? "open" : "held", caught, joined, stores);
    return 0;
}
