#include "net/proxy.h"

#include "net/pubnat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RELAY_BUF   (64 * 1024)
#define MAX_BACKEND 64

enum tag_kind { K_LISTENER, K_CLIENT, K_BACKEND, K_PROBE };

/* Every epoll registration points at one of these, so an event says which
 * descriptor fired. */
struct epoll_tag {
    enum tag_kind kind;
    void *owner;
};

struct listener {
    struct epoll_tag h;
    int fd;
    char *service;
    struct sv_port_spec spec; /* as declared (host 0: any free port) */
    int port;                 /* as bound */
    unsigned rr;
    bool seen;
    bool fast; /* 127.0.0.1 goes through the kernel (pubnat.h) */
    struct target *targets[MAX_BACKEND];
    size_t n_targets;
    uint32_t fast_to[MAX_BACKEND]; /* the replicas the kernel was last given */
    size_t fast_n;
    struct listener *next;
};

/* A replica of a fast listener's service. The kernel cannot try the next
 * replica when one refuses, as the relay does, so a replica gets the
 * kernel's connections only once it has accepted one of ours: a probe,
 * repeated every PROBE_MS until it does. */
#define PROBE_MS 100
struct target {
    struct epoll_tag h;
    struct listener *l;
    uint32_t addr;
    bool ready;
    int probe; /* a connection in progress, or -1 */
    int64_t probed_ms;
};

/* One direction of a relayed connection. (splice(2) through a pipe measured
 * no faster here: the cost is the second TCP connection, not the copy.) */
struct half {
    char *buf;
    size_t len, off;
    bool eof, shut;
};

struct conn {
    struct epoll_tag hc, hb;
    int cfd, bfd;
    int cport;
    uint32_t backends[MAX_BACKEND];
    int nb, tried;
    bool connecting, dead;
    struct half up, down; /* client -> replica, replica -> client */
    struct conn *next;
};

struct sv_proxy {
    int ep;
    struct sv_stacknet *net;
    sv_proxy_backends_fn backends;
    void *ctx;
    struct listener *listeners;
    struct conn *conns;
    struct sv_pubnat *nat;
    bool nat_tried;
};

struct sv_proxy *sv_proxy_new(struct sv_stacknet *net, sv_proxy_backends_fn fn, void *ctx)
{
    struct sv_proxy *p = sv_xcalloc(1, sizeof(*p));
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    if (p->ep < 0) {
        free(p);
        return NULL;
    }
    p->net = net;
    p->backends = fn;
    p->ctx = ctx;
    return p;
}

int sv_proxy_fd(const struct sv_proxy *p)
{
    return p->ep;
}

static void conn_free(struct conn *c)
{
    if (c->cfd >= 0)
        close(c->cfd);
    if (c->bfd >= 0)
        close(c->bfd);
    free(c->up.buf);
    free(c->down.buf);
    free(c);
}

static void target_free(struct target *t)
{
    if (t->probe >= 0)
        close(t->probe); /* and out of the epoll */
    free(t);
}

static void listener_free(struct sv_proxy *p, struct listener *l)
{
    if (l->fast)
        sv_pubnat_unset(p->nat, l->port);
    for (size_t i = 0; i < l->n_targets; i++)
        target_free(l->targets[i]);
    close(l->fd);
    free(l->service);
    free(l);
}

void sv_proxy_free(struct sv_proxy *p)
{
    if (p == NULL)
        return;
    while (p->listeners) {
        struct listener *l = p->listeners;
        p->listeners = l->next;
        listener_free(p, l);
    }
    while (p->conns) {
        struct conn *c = p->conns;
        p->conns = c->next;
        conn_free(c);
    }
    sv_pubnat_close(p->nat);
    close(p->ep);
    free(p);
}

/* ---- relaying ------------------------------------------------------------- */

static void conn_kill(struct conn *c)
{
    c->dead = true; /* freed after the current batch of events */
}

/* Move what src has to dst until one of them would block. A short read means
 * the socket is drained for now: edge-triggered epoll reports the next data,
 * so reading again would only cost an EAGAIN (unless the peer also closed,
 * which must be read to see). */
static int half_pump(int src, int dst, struct half *h, bool hup)
{
    for (;;) {
        if (h->off == h->len) {
            if (h->eof)
                break;
            if (h->buf == NULL)
                h->buf = sv_xmalloc(RELAY_BUF);
            ssize_t n = recv(src, h->buf, RELAY_BUF, 0);
            if (n == 0) {
                h->eof = true;
                break;
            }
            if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -1;
            h->len = (size_t)n;
            ssize_t w = send(dst, h->buf, h->len, MSG_NOSIGNAL);
            if (w < 0)
                w = errno == EAGAIN || errno == EINTR ? 0 : -1;
            if (w < 0)
                return -1;
            h->off = (size_t)w;
            if (h->off == h->len && n < RELAY_BUF && !hup)
                return 0;
            continue;
        }
        ssize_t n = send(dst, h->buf + h->off, h->len - h->off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        h->off += (size_t)n;
    }
    if (!h->shut) { /* everything sent: pass the end of stream on */
        shutdown(dst, SHUT_WR);
        h->shut = true;
    }
    return 0;
}

/* An event on one side: its readable data flows away from it, its writable
 * space lets the other side's pending data in. Hang-ups and errors move both. */
static void conn_relay(struct conn *c, bool on_client, uint32_t ev)
{
    bool hup = ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    bool in = hup || (ev & EPOLLIN), out = hup || (ev & EPOLLOUT);
    bool up = on_client ? in : out, down = on_client ? out : in;
    if ((up && half_pump(c->cfd, c->bfd, &c->up, hup) < 0) ||
        (down && half_pump(c->bfd, c->cfd, &c->down, hup) < 0) || (c->up.shut && c->down.shut))
        conn_kill(c);
}

static void epoll_watch(struct sv_proxy *p, int fd, struct epoll_tag *h, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = h};
    epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev);
}

static int connect_replica(int fd, uint32_t addr, int port)
{
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(addr)};
    return connect(fd, (struct sockaddr *)&sin, sizeof(sin));
}

/* Connect to the next replica that has not refused yet. */
static void try_backend(struct sv_proxy *p, struct conn *c)
{
    if (c->bfd >= 0) {
        epoll_ctl(p->ep, EPOLL_CTL_DEL, c->bfd, NULL);
        close(c->bfd);
        c->bfd = -1;
    }
    while (c->tried < c->nb) {
        uint32_t a = c->backends[c->tried++];
        cleanup_close int fd = sv_stacknet_socket(p->net, AF_INET, SOCK_STREAM);
        if (fd < 0)
            break;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect_replica(fd, a, c->cport) == 0 || errno == EINPROGRESS) {
            c->bfd = fd, fd = -1; /* the connection's */
            c->connecting = true;
            epoll_watch(p, c->bfd, &c->hb, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
            return;
        }
    }
    conn_kill(c);
}

static void accept_all(struct sv_proxy *p, struct listener *l)
{
    for (int i = 0; i < 64; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        struct conn *c = sv_xcalloc(1, sizeof(*c));
        c->hc = (struct epoll_tag){K_CLIENT, c};
        c->hb = (struct epoll_tag){K_BACKEND, c};
        c->cfd = fd;
        c->bfd = -1;
        c->cport = l->spec.container;
        uint32_t all[MAX_BACKEND];
        size_t n = p->backends(p->ctx, l->service, all, MAX_BACKEND);
        /* Round robin: start at the next replica, then try the others. */
        for (size_t k = 0; k < n; k++)
            c->backends[k] = all[(l->rr + k) % n];
        c->nb = (int)n;
        l->rr++;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->next = p->conns;
        p->conns = c;
        epoll_watch(p, fd, &c->hc, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
        try_backend(p, c);
    }
}

static void backend_event(struct sv_proxy *p, struct conn *c, uint32_t ev)
{
    if (c->connecting) {
        int e = 0;
        socklen_t len = sizeof(e);
        getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &e, &len);
        if (e == EINPROGRESS || e == EALREADY)
            return;
        if (e != 0) { /* refused: the next replica */
            try_backend(p, c);
            return;
        }
        c->connecting = false;
        ev = EPOLLIN | EPOLLOUT | EPOLLRDHUP; /* and the client's data that waited */
    }
    conn_relay(c, false, ev);
}

static void target_probe_done(struct target *t)
{
    int e = 0;
    socklen_t len = sizeof(e);
    getsockopt(t->probe, SOL_SOCKET, SO_ERROR, &e, &len);
    if (e == EINPROGRESS || e == EALREADY)
        return;
    t->ready = e == 0;
    close(t->probe);
    t->probe = -1;
}

static void target_probe(struct sv_proxy *p, struct target *t)
{
    int64_t now = sv_now_ms();
    if (t->ready || t->probe >= 0 || now - t->probed_ms < PROBE_MS)
        return;
    t->probed_ms = now;
    cleanup_close int fd = sv_stacknet_socket(p->net, AF_INET, SOCK_STREAM);
    if (fd < 0)
        return;
    if (connect_replica(fd, t->addr, t->l->spec.container) == 0) {
        t->ready = true;
    } else if (errno == EINPROGRESS) {
        t->probe = fd, fd = -1; /* the target's until it connects */
        epoll_watch(p, t->probe, &t->h, EPOLLOUT);
    }
}

void sv_proxy_pump(struct sv_proxy *p)
{
    struct epoll_event ev[64];
    int n;
    do {
        n = epoll_wait(p->ep, ev, 64, 0);
        for (int i = 0; i < n; i++) {
            struct epoll_tag *h = ev[i].data.ptr;
            if (h->kind == K_PROBE) {
                target_probe_done(h->owner);
                continue;
            }
            if (h->kind == K_LISTENER) {
                accept_all(p, h->owner);
                continue;
            }
            struct conn *c = h->owner;
            if (c->dead)
                continue;
            if (h->kind == K_BACKEND)
                backend_event(p, c, ev[i].events);
            else if (!c->connecting) /* the client's data waits for the connection */
                conn_relay(c, true, ev[i].events);
        }
        for (struct conn **pc = &p->conns; *pc;) {
            struct conn *c = *pc;
            if (c->dead) {
                *pc = c->next;
                conn_free(c); /* closing removes its descriptors from the epoll */
            } else {
                pc = &c->next;
            }
        }
    } while (n == 64);
}

/* ---- publishing ------------------------------------------------------------ */

static const char *host_ip(const struct sv_port_spec *ps)
{
    return ps->host_ip[0] ? ps->host_ip : "127.0.0.1";
}

static bool covers_loopback(const char *ip)
{
    return strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "0.0.0.0") == 0;
}

/* Set up the kernel's fast path when the first port needs it; where it
 * cannot work, say why once and let the relay carry everything. */
static bool fast_path_ready(struct sv_proxy *p)
{
    if (!p->nat_tried) {
        p->nat_tried = true;
        cleanup_free char *why = NULL;
        if (getenv("SERVOS_PORT_RELAY"))
            why = sv_xstrdup("SERVOS_PORT_RELAY is set");
        else
            p->nat = sv_pubnat_open(p->net, &why);
        if (p->nat == NULL)
            fprintf(stderr, "servos: published ports are relayed in userspace: %s\n", why);
    }
    return p->nat != NULL;
}

static int publish_port(struct sv_proxy *p, const struct sv_service *s,
                        const struct sv_port_spec *ps, sv_error_t *err)
{
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } a = {0};
    socklen_t alen;
    const char *ip = host_ip(ps);
    if (inet_pton(AF_INET, ip, &a.in.sin_addr) == 1) {
        a.in.sin_family = AF_INET;
        a.in.sin_port = htons((uint16_t)ps->host);
        alen = sizeof(a.in);
    } else if (inet_pton(AF_INET6, ip, &a.in6.sin6_addr) == 1) {
        a.in6.sin6_family = AF_INET6;
        a.in6.sin6_port = htons((uint16_t)ps->host);
        alen = sizeof(a.in6);
    } else {
        return sv_error(err, EINVAL, "service \"%s\": \"%s\" is not an IP address to publish on",
                        s->name, ip);
    }
    cleanup_close int fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sv_error(err, errno, "socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, &a.sa, alen) < 0 || listen(fd, 512) < 0)
        return sv_error(err, errno, "service \"%s\": cannot publish port %s:%d", s->name, ip,
                        ps->host);
    if (getsockname(fd, &a.sa, &alen) < 0)
        return sv_error(err, errno, "getsockname");
    struct listener *l = sv_xcalloc(1, sizeof(*l));
    l->h = (struct epoll_tag){K_LISTENER, l};
    l->fd = fd, fd = -1; /* the listener's */
    l->service = sv_xstrdup(s->name);
    l->spec = *ps;
    l->port = ntohs(a.sa.sa_family == AF_INET ? a.in.sin_port : a.in6.sin6_port);
    l->seen = true;
    l->fast = covers_loopback(ip) && fast_path_ready(p);
    l->next = p->listeners;
    p->listeners = l;
    epoll_watch(p, l->fd, &l->h, EPOLLIN);
    return 0;
}

static struct listener *find_listener(struct sv_proxy *p, const char *service,
                                      const struct sv_port_spec *ps)
{
    for (struct listener *l = p->listeners; l; l = l->next)
        if (strcmp(l->service, service) == 0 && l->spec.host == ps->host &&
            l->spec.container == ps->container && strcmp(host_ip(&l->spec), host_ip(ps)) == 0)
            return l;
    return NULL;
}

/* The listener's targets become the service's running replicas: new ones
 * start unproven, gone ones are dropped. */
static void targets_track(struct sv_proxy *p, struct listener *l, const uint32_t *addrs, size_t n)
{
    struct target *keep[MAX_BACKEND];
    for (size_t k = 0; k < n; k++) {
        keep[k] = NULL;
        for (size_t i = 0; i < l->n_targets; i++)
            if (l->targets[i] && l->targets[i]->addr == addrs[k]) {
                keep[k] = l->targets[i];
                l->targets[i] = NULL;
            }
        if (keep[k] == NULL) {
            keep[k] = sv_xcalloc(1, sizeof(**keep));
            *keep[k] = (struct target){{K_PROBE, keep[k]}, l, addrs[k], false, -1, 0};
        }
        target_probe(p, keep[k]);
    }
    for (size_t i = 0; i < l->n_targets; i++)
        if (l->targets[i])
            target_free(l->targets[i]);
    memcpy(l->targets, keep, n * sizeof(*keep));
    l->n_targets = n;
}

void sv_proxy_refresh(struct sv_proxy *p)
{
    for (struct listener *l = p->listeners; l; l = l->next) {
        if (!l->fast)
            continue;
        uint32_t all[MAX_BACKEND], now[MAX_BACKEND];
        size_t n = 0;
        targets_track(p, l, all, p->backends(p->ctx, l->service, all, MAX_BACKEND));
        for (size_t i = 0; i < l->n_targets; i++)
            if (l->targets[i]->ready)
                now[n++] = l->targets[i]->addr;
        if (n == l->fast_n && memcmp(now, l->fast_to, n * sizeof(*now)) == 0)
            continue;
        sv_pubnat_set(p->nat, l->port, l->spec.container, now, n);
        memcpy(l->fast_to, now, n * sizeof(*now));
        l->fast_n = n;
    }
}

int sv_proxy_sync(struct sv_proxy *p, const struct sv_graph *g, sv_error_t *err)
{
    for (struct listener *l = p->listeners; l; l = l->next)
        l->seen = false;
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        if (s->n_ports == 0 || strcmp(s->network, "host") == 0) /* its ports are the host's */
            continue;
        if (strcmp(s->network, "none") == 0)
            return sv_error(err, EINVAL,
                            "%s: service \"%s\" publishes ports but has network = \"none\"",
                            s->where, s->name);
        for (size_t k = 0; k < s->n_ports; k++) {
            const struct sv_port_spec *ps = &s->ports[k];
            if (strcmp(ps->protocol, "tcp") != 0)
                return sv_error(err, ENOTSUP,
                                "%s: service \"%s\": only TCP ports can be published (%d/%s)",
                                s->where, s->name, ps->container, ps->protocol);
            struct listener *l = find_listener(p, s->name, ps);
            if (l)
                l->seen = true;
            else if (publish_port(p, s, ps, err) < 0)
                return -1;
        }
    }
    for (struct listener **pl = &p->listeners; *pl;) {
        struct listener *l = *pl;
        if (!l->seen) {
            *pl = l->next;
            listener_free(p, l);
        } else {
            pl = &l->next;
        }
    }
    sv_proxy_refresh(p);
    return 0;
}

void sv_proxy_describe(const struct sv_proxy *p, FILE *out)
{
    for (const struct listener *l = p->listeners; l; l = l->next) {
        const char *ip = host_ip(&l->spec);
        fprintf(out, "%s\t%s%s%s:%d->%d/tcp\n", l->service, strchr(ip, ':') ? "[" : "", ip,
                strchr(ip, ':') ? "]" : "", l->port, l->spec.container);
    }
}
