/* tcpload: a small TCP server and load generator for the network benchmark.
 *
 *   tcpload serve PORT                  echo server (one thread, epoll); a
 *                                       connection whose first byte is 'B'
 *                                       gets an endless stream of zeros
 *   tcpload rr   HOST PORT CONNS SECS   64-byte request/response over CONNS
 *                                       kept-alive connections: requests/s
 *   tcpload cr   HOST PORT CONNS SECS   a new connection per request, CONNS in
 *                                       flight: connections/s
 *   tcpload bulk HOST PORT SECS         one stream from the server: MB/s
 *   tcpload http PORT                   a do-nothing HTTP/1.1 server on
 *                                       127.0.0.1 (epoll, keep-alive): every
 *                                       request gets the same small JSON; the
 *                                       ceiling an HTTP load tool reaches here
 *
 * Each client mode prints one number. Built by tests/bench/net.sh. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG  64
#define MAXC 256

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* ---- server ---------------------------------------------------------------- */

static _Noreturn void serve(int port)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1024) < 0)
        die("listen");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    static char zeros[65536], buf[65536];
    char streaming[65536] = {0}; /* by fd: 1 = stream mode */
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                int c;
                while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (c >= (int)sizeof(streaming)) {
                        close(c);
                        continue;
                    }
                    nodelay(c);
                    streaming[c] = 0;
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            if (streaming[fd]) {
                if (write(fd, zeros, sizeof(zeros)) < 0 && errno != EAGAIN) {
                    close(fd);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r <= 0) {
                if (r == 0 || errno != EAGAIN)
                    close(fd);
                continue;
            }
            if (buf[0] == 'B') {
                streaming[fd] = 1;
                struct epoll_event ce = {.events = EPOLLOUT, .data.fd = fd};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ce);
                continue;
            }
            /* Requests are small: the socket buffer takes the echo whole. */
            if (write(fd, buf, r) != r)
                close(fd);
        }
    }
}

/* ---- clients --------------------------------------------------------------- */

static struct sockaddr_in target;

static int dial(int flags)
{
    int fd = socket(AF_INET, SOCK_STREAM | flags, 0);
    if (fd < 0)
        die("socket");
    nodelay(fd);
    if (connect(fd, (struct sockaddr *)&target, sizeof(target)) < 0 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

/* Kept-alive request/response; also the per-request core of cr. */
static double load(int conns, double secs, int reconnect)
{
    static char req[MSG], buf[MSG];
    memset(req, 'r', sizeof(req));
    int ep = epoll_create1(0), got[MAXC] = {0}, fds[MAXC];
    long done = 0;
    for (int i = 0; i < conns; i++) {
        fds[i] = dial(SOCK_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    double start = now(), end = start + secs;
    while (now() < end) {
        struct epoll_event evs[MAXC];
        int n = epoll_wait(ep, evs, MAXC, 100);
        for (int k = 0; k < n; k++) {
            int i = evs[k].data.u32, fd = fds[i];
            if (evs[k].events & (EPOLLERR | EPOLLHUP) && !(evs[k].events & EPOLLIN)) {
                fprintf(stderr, "tcpload: connection failed\n");
                exit(1);
            }
            if (evs[k].events & EPOLLOUT) { /* connected: first request */
                if (write(fd, req, MSG) != MSG)
                    die("write");
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                continue;
            }
            ssize_t r = read(fd, buf, MSG - got[i]);
            if (r <= 0) {
                if (r < 0 && errno == EAGAIN)
                    continue;
                fprintf(stderr, "tcpload: the server closed a connection\n");
                exit(1);
            }
            got[i] += r;
            if (got[i] < MSG)
                continue;
            got[i] = 0;
            done++;
            if (!reconnect) {
                if (write(fd, req, MSG) != MSG)
                    die("write");
                continue;
            }
            /* Reset rather than close: no TIME_WAIT piles up on our side. */
            struct linger lg = {1, 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(fd);
            fds[i] = dial(SOCK_NONBLOCK);
            struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = i};
            epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev);
        }
    }
    return done / (now() - start);
}

static double bulk(double secs)
{
    int fd = dial(0);
    if (write(fd, "B", 1) != 1)
        die("write");
    static char buf[1 << 20];
    long long bytes = 0;
    double start = now(), end = start + secs;
    while (now() < end) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r <= 0)
            die("read");
        bytes += r;
    }
    return bytes / (now() - start) / 1e6;
}

/* ---- HTTP ceiling ------------------------------------------------------------ */

static _Noreturn void serve_http(int port)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                "Content-Length: 11\r\nConnection: keep-alive\r\n\r\n{\"ok\":true}";
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1024) < 0)
        die("listen");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);
    static char buf[65536];
    for (;;) {
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd, c;
            if (fd == l) {
                while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    nodelay(c);
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r <= 0) {
                close(fd);
                continue;
            }
            /* One reply per request head: ab sends one at a time a connection. */
            for (ssize_t k = 3; k < r; k++)
                if (memcmp(buf + k - 3, "\r\n\r\n", 4) == 0 &&
                    write(fd, reply, sizeof(reply) - 1) < 0)
                    break;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        serve(atoi(argv[2]));
    if (argc == 3 && strcmp(argv[1], "http") == 0)
        serve_http(atoi(argv[2]));
    if (argc < 5) {
        fprintf(stderr, "usage: tcpload serve PORT | http PORT | rr|cr HOST PORT CONNS SECS | "
                        "bulk HOST PORT SECS\n");
        return 2;
    }
    target.sin_family = AF_INET;
    target.sin_port = htons(atoi(argv[3]));
    if (inet_pton(AF_INET, argv[2], &target.sin_addr) != 1) {
        fprintf(stderr, "tcpload: not an IPv4 address: %s\n", argv[2]);
        return 2;
    }
    if (strcmp(argv[1], "bulk") == 0) {
        printf("%.0f\n", bulk(atof(argv[4])));
        return 0;
    }
    if (argc < 6 || atoi(argv[4]) < 1 || atoi(argv[4]) > MAXC) {
        fprintf(stderr, "tcpload: CONNS must be 1..%d\n", MAXC);
        return 2;
    }
    printf("%.0f\n", load(atoi(argv[4]), atof(argv[5]), strcmp(argv[1], "cr") == 0));
    return 0;
}
