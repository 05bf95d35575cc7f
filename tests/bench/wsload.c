/* A WebSocket client for tests/bench/ws.sh, light enough that what it
 * measures is the server:
 *   wsload rtt PORT PATH N     one connection, N round trips of a 16-byte
 *                              text message; prints "p50 p99" in ms
 *   wsload idle PORT PATH N S  N connections opened (a handshake each) and
 *                              held S seconds; prints "open N" once all are
 *                              open, then waits
 * On 127.0.0.1. Frames are masked, as a client's must be. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int open_ws(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, port);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    char buf[1024];
    size_t got = 0;
    while (got < sizeof(buf) - 1) { /* byte by byte: nothing past the headers is read */
        if (read(fd, buf + got, 1) != 1)
            break;
        got++;
        buf[got] = '\0';
        if (got >= 4 && memcmp(buf + got - 4, "\r\n\r\n", 4) == 0)
            return strncmp(buf, "HTTP/1.1 101", 12) == 0 ? fd : (close(fd), -1);
    }
    close(fd);
    return -1;
}

static int read_full(int fd, unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = read(fd, p, n);
        if (k <= 0)
            return -1;
        p += k, n -= (size_t)k;
    }
    return 0;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int rtt(int port, const char *path, int n)
{
    int fd = open_ws(port, path);
    if (fd < 0)
        return fprintf(stderr, "wsload: no WebSocket at %d%s\n", port, path), 1;
    unsigned char frame[6 + 16] = {0x81, 0x80 | 16, 1, 2, 3, 4};
    double *t = calloc((size_t)n, sizeof(double));
    for (int i = -100; i < n; i++) { /* 100 to warm up */
        char msg[17];
        snprintf(msg, sizeof(msg), "\"ping-%09d\"", i < 0 ? -i : i);
        for (int k = 0; k < 16; k++)
            frame[6 + k] = (unsigned char)(msg[k] ^ frame[2 + (k & 3)]);
        double t0 = now_ms();
        unsigned char h[2], back[126];
        if (write(fd, frame, sizeof(frame)) != (ssize_t)sizeof(frame) || read_full(fd, h, 2) < 0 ||
            (h[1] & 0x7f) > 125 || read_full(fd, back, h[1] & 0x7f) < 0)
            return fprintf(stderr, "wsload: the connection broke\n"), 1;
        if (i >= 0)
            t[i] = now_ms() - t0;
    }
    qsort(t, (size_t)n, sizeof(double), cmp);
    printf("%.4f %.4f\n", t[n / 2], t[(int)(n * 0.99)]);
    return 0;
}

static int idle(int port, const char *path, int n, int secs)
{
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int open = 0;
    for (int i = 0; i < n; i++)
        open += open_ws(port, path) >= 0;
    printf("open %d\n", open);
    fflush(stdout);
    sleep((unsigned)secs);
    return open == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "rtt") == 0)
        return rtt(atoi(argv[2]), argv[3], atoi(argv[4]));
    if (argc == 6 && strcmp(argv[1], "idle") == 0)
        return idle(atoi(argv[2]), argv[3], atoi(argv[4]), atoi(argv[5]));
    fprintf(stderr, "usage: wsload rtt PORT PATH N | wsload idle PORT PATH N SECONDS\n");
    return 2;
}
