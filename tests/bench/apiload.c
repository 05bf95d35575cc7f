/* apiload: a client of servos serve's unix socket for tests/bench/api.sh.
 *
 *   apiload get SOCKET PATH N
 *       N GETs of PATH, one after the other on one kept-alive connection:
 *       each answer's time in ms, one a line (the whole body read).
 *   apiload follow SOCKET PATH CONNS LINES SECS
 *       CONNS connections each following PATH (server-sent events): prints
 *       "ready" once every one has its answer's headers, then, when each
 *       has counted LINES events (or SECS have passed), "MIN MAX SECONDS":
 *       the fewest and most events a connection got, and how long since
 *       ready. One thread, epoll. Built by tests/bench/api.sh. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int dial(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        perror("apiload: connect");
        exit(1);
    }
    return fd;
}

static void send_all(int fd, const char *s)
{
    for (size_t n = strlen(s); n > 0;) {
        ssize_t w = write(fd, s, n);
        if (w <= 0) {
            perror("apiload: write");
            exit(1);
        }
        s += w;
        n -= (size_t)w;
    }
}

/* One answer on fd: headers, then Content-Length bytes or chunks. */
static void read_answer(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    char *end = NULL;
    while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r <= 0) {
            fprintf(stderr, "apiload: the server closed\n");
            exit(1);
        }
        len += (size_t)r;
    }
    size_t head = (size_t)(end + 4 - buf);
    char *cl = strcasestr(buf, "content-length:");
    if (cl && cl < end) {
        size_t want = head + strtoul(cl + 15, NULL, 10);
        while (len < want) {
            ssize_t r = read(fd, buf + len, cap - len);
            if (r <= 0)
                exit(1);
            len += (size_t)r;
        }
        return;
    }
    while (!memmem(buf + head, len - head, "\r\n0\r\n\r\n", 7)) { /* chunked */
        ssize_t r = read(fd, buf + len, cap - len);
        if (r <= 0)
            exit(1);
        len += (size_t)r;
    }
}

static int get(const char *sock, const char *path, int n)
{
    static char buf[1 << 24];
    int fd = dial(sock);
    char req[1024];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    for (int i = 0; i < n; i++) {
        double t0 = now();
        send_all(fd, req);
        read_answer(fd, buf, sizeof(buf));
        printf("%.3f\n", (now() - t0) * 1000);
    }
    return 0;
}

struct follower {
    int fd;
    long events;
    char tail[8]; /* the last bytes of the previous read: "\ndata: " may straddle */
    size_t tail_len;
    int headers;
};

/* Events in [p, p+n): each "data: " at a line's start. */
static long count_events(struct follower *f, const char *p, size_t n)
{
    static char joined[65536 + 8];
    memcpy(joined, f->tail, f->tail_len);
    memcpy(joined + f->tail_len, p, n);
    size_t len = f->tail_len + n;
    long k = 0;
    for (char *s = joined; (s = memmem(s, (size_t)(joined + len - s), "\ndata: ", 7)); s += 7)
        k++;
    f->tail_len = len < 6 ? len : 6;
    memcpy(f->tail, joined + len - f->tail_len, f->tail_len);
    return k;
}

static int follow(const char *sock, const char *path, int conns, long lines, double secs)
{
    int ep = epoll_create1(0);
    struct follower *v = calloc((size_t)conns, sizeof(*v));
    char req[1024];
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n", path);
    for (int i = 0; i < conns; i++) {
        v[i].fd = dial(sock);
        send_all(v[i].fd, req);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, v[i].fd, &ev);
    }
    int with_headers = 0, done = 0;
    double t0 = 0, deadline = now() + secs + 30;
    char buf[65536];
    while (done < conns && now() < deadline) {
        struct epoll_event evs[256];
        int n = epoll_wait(ep, evs, 256, 200);
        for (int k = 0; k < n; k++) {
            struct follower *f = &v[evs[k].data.u32];
            ssize_t r = read(f->fd, buf, sizeof(buf));
            if (r <= 0) {
                epoll_ctl(ep, EPOLL_CTL_DEL, f->fd, NULL);
                done++;
                continue;
            }
            if (!f->headers && memmem(buf, (size_t)r, "\r\n\r\n", 4)) {
                f->headers = 1;
                if (++with_headers == conns) {
                    printf("ready\n");
                    fflush(stdout);
                    t0 = now();
                    deadline = t0 + secs;
                }
            }
            long before = f->events;
            f->events += count_events(f, buf, (size_t)r);
            if (before < lines && f->events >= lines)
                done++;
        }
    }
    long min = -1, max = 0;
    for (int i = 0; i < conns; i++) {
        min = min < 0 || v[i].events < min ? v[i].events : min;
        max = v[i].events > max ? v[i].events : max;
    }
    printf("%ld %ld %.3f\n", min, max, t0 > 0 ? now() - t0 : 0.0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "get") == 0)
        return get(argv[2], argv[3], atoi(argv[4]));
    if (argc == 7 && strcmp(argv[1], "follow") == 0)
        return follow(argv[2], argv[3], atoi(argv[4]), atol(argv[5]), atof(argv[6]));
    fprintf(stderr, "usage: apiload get SOCKET PATH N | follow SOCKET PATH CONNS LINES SECS\n");
    return 2;
}
