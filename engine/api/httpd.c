/* The HTTP front: libmicrohttpd (loaded on first use, as the ProServe
 * host loads it) in its external polling mode, one daemon per listener,
 * driven by our loop; requests read, routed, checked (token, size) and
 * answered, at once or later (the connection suspended meanwhile).
 *
 * Connections are policed as the ProServe host's are (proserve.c), in one
 * thread instead of one per connection: a connection waiting for a
 * request's headers, or sending its body, has a deadline (HEADERS_S,
 * BODY_S: a byte now and then does not extend it); past CONN_SOFT open
 * connections each new one pushes out the oldest idle one; streams and
 * requests being worked on (an apply) have none, as their time is the
 * daemon's, not the client's. */
#include "api/api_int.h"
#include "core/dynlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONN_HARD  4096 /* libmicrohttpd refuses past this */
#define CONN_SOFT  3072 /* past this, new connections push out idle ones */
#define HEADERS_S  10.0
#define BODY_S     60.0
#define SENDING_S  60.0
#define MIN_AGE_S  1.0
#define IDLE_S     60u        /* libmicrohttpd's own: no byte either way for this long */
#define POOL_BYTES (8u << 10) /* headers and the send buffer: a follower holds little */

/* ---- libmicrohttpd ------------------------------------------------------------- */

static struct {
    struct MHD_Daemon *(*start)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
                                MHD_AccessHandlerCallback, void *, ...);
    void (*stop)(struct MHD_Daemon *);
    enum MHD_Result (*run)(struct MHD_Daemon *);
    enum MHD_Result (*get_timeout)(struct MHD_Daemon *, MHD_UNSIGNED_LONG_LONG *);
    const union MHD_DaemonInfo *(*daemon_info)(struct MHD_Daemon *, enum MHD_DaemonInfoType, ...);
    struct MHD_Response *(*from_buffer)(size_t, void *, enum MHD_ResponseMemoryMode);
    struct MHD_Response *(*from_callback)(uint64_t, size_t, MHD_ContentReaderCallback, void *,
                                          MHD_ContentReaderFreeCallback);
    enum MHD_Result (*add_header)(struct MHD_Response *, const char *, const char *);
    enum MHD_Result (*queue)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
    void (*destroy)(struct MHD_Response *);
    const char *(*lookup)(struct MHD_Connection *, enum MHD_ValueKind, const char *);
    const union MHD_ConnectionInfo *(*info)(struct MHD_Connection *, enum MHD_ConnectionInfoType,
                                            ...);
    void (*suspend)(struct MHD_Connection *);
    void (*resume)(struct MHD_Connection *);
} mhd;

static int load_mhd(sv_error_t *err)
{
    static void *lib;
    static const char *const names[] = {"MHD_start_daemon",
                                        "MHD_stop_daemon",
                                        "MHD_run",
                                        "MHD_get_timeout",
                                        "MHD_get_daemon_info",
                                        "MHD_create_response_from_buffer",
                                        "MHD_create_response_from_callback",
                                        "MHD_add_response_header",
                                        "MHD_queue_response",
                                        "MHD_destroy_response",
                                        "MHD_lookup_connection_value",
                                        "MHD_get_connection_info",
                                        "MHD_suspend_connection",
                                        "MHD_resume_connection"};
    _Static_assert(sizeof(mhd) == sizeof(names), "one name per function");
    return sv_dynlib_load(&lib, "libmicrohttpd.so.12", names, (void **)&mhd, SV_ARRAY_LEN(names),
                          "to serve the API (apt install libmicrohttpd12)", err);
}

struct MHD_Response *httpd_response_buffer(char *body, size_t len, const char *type)
{
    struct MHD_Response *r = mhd.from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (type)
        mhd.add_header(r, "Content-Type", type);
    return r;
}

struct MHD_Response *httpd_response_stream(ssize_t (*read)(void *, uint64_t, char *, size_t),
                                           void *ud, void (*free_ud)(void *))
{
    return mhd.from_callback(MHD_SIZE_UNKNOWN, 4096, read, ud, free_ud);
}

void httpd_add_header(struct MHD_Response *r, const char *name, const char *value)
{
    mhd.add_header(r, name, value);
}

const char *httpd_lookup(struct sv_api_req *rq, int kind, const char *name)
{
    return rq->conn ? mhd.lookup(rq->conn, (enum MHD_ValueKind)kind, name) : NULL;
}

/* ---- connections ---------------------------------------------------------------- */

enum phase { WAITING, BODY, WORKING, SENDING, STREAMING };

struct conn {
    struct conn *prev, *next;
    int fd; /* our duplicate of the socket: shutdown() it to drop the client */
    enum phase phase;
    double since;
    bool dropped;
};

static struct {
    struct conn *head; /* newest first */
    size_t live;
    uint64_t accepted, requests;
} conns;

struct api_listener {
    struct MHD_Daemon *d;
    bool tcp;
};

static struct api_listener listeners[2];
static size_t n_listeners;

static void drop_conn(struct conn *c)
{
    if (c->dropped)
        return;
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
    c->dropped = true;
    conns.live--;
}

static bool evictable(const struct conn *c, double now, bool young_too)
{
    return !c->dropped && (c->phase == WAITING || c->phase == BODY) &&
           (young_too || now - c->since >= MIN_AGE_S);
}

/* The oldest idle connection (waiting before sending), pushed out. */
static bool evict_one(double now, bool young_too)
{
    struct conn *pick = NULL;
    for (struct conn *c = conns.head; c; c = c->next)
        if (evictable(c, now, young_too) &&
            (pick == NULL ||
             (c->phase != pick->phase ? c->phase == WAITING : c->since < pick->since)))
            pick = c;
    if (pick)
        drop_conn(pick);
    return pick != NULL;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    (void)cls, (void)addr, (void)len;
    if (conns.live >= CONN_SOFT)
        evict_one(sv_now_s(), conns.live >= CONN_HARD - 64);
    return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *c = sv_xcalloc(1, sizeof(*c));
        const union MHD_ConnectionInfo *fd =
            mhd.info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = fd ? fcntl(fd->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
        c->since = sv_now_s();
        c->next = conns.head;
        if (conns.head)
            conns.head->prev = c;
        conns.head = c;
        conns.live++;
        conns.accepted++;
        *socket_context = c;
        return;
    }
    struct conn *c = *socket_context;
    if (c == NULL)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        conns.head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (!c->dropped)
        conns.live--;
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    *socket_context = NULL;
}

static void set_phase(struct MHD_Connection *connection, enum phase p)
{
    const union MHD_ConnectionInfo *i = mhd.info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn *c = i ? i->socket_context : NULL;
    if (c) {
        c->phase = p;
        c->since = sv_now_s();
    }
}

/* Every 250 ms: deadlines, and the table trimmed back to CONN_SOFT. */
static void watchdog(void *ud)
{
    (void)ud;
    double now = sv_now_s();
    for (struct conn *c = conns.head; c; c = c->next) {
        double limit = c->phase == WAITING   ? HEADERS_S
                       : c->phase == BODY    ? BODY_S
                       : c->phase == SENDING ? SENDING_S
                                             : 0;
        if (limit > 0 && now - c->since > limit)
            drop_conn(c);
    }
    while (conns.live > CONN_SOFT && evict_one(now, false))
        ;
    fflush(stderr); /* the access log */
}

/* ---- requests ---------------------------------------------------------------------- */

static struct sv_api_req *req_new(struct api_listener *l, struct MHD_Connection *c, const char *url,
                                  const char *method)
{
    struct sv_api_req *rq = sv_xcalloc(1, sizeof(*rq));
    rq->refs = 1;
    rq->conn = c;
    rq->l = l;
    rq->method = sv_xstrdup(strcmp(method, "HEAD") == 0 ? "GET" : method);
    rq->path = sv_xstrdup(url);
    rq->t0_us = sv_now_ms() * 1000;
    return rq;
}

static void req_free(struct sv_api_req *rq)
{
    if (rq->resp)
        mhd.destroy(rq->resp);
    for (size_t i = 0; i < rq->n_params; i++) {
        free(rq->params[i].name);
        free(rq->params[i].value);
    }
    free(rq->method);
    free(rq->path);
    free(rq->body);
    free(rq);
}

void httpd_release(struct sv_api_req *rq)
{
    if (--rq->refs == 0)
        req_free(rq);
}

void sv_api_hold(struct sv_api_req *rq)
{
    rq->refs++;
}

void sv_api_release(struct sv_api_req *rq)
{
    httpd_release(rq);
}

bool sv_api_gone(const struct sv_api_req *rq)
{
    return rq->gone;
}

void httpd_suspend(struct sv_api_req *rq)
{
    if (rq->conn && !rq->suspended) {
        mhd.suspend(rq->conn);
        rq->suspended = true;
    }
}

void httpd_resume(struct sv_api_req *rq)
{
    if (rq->conn && rq->suspended) {
        rq->suspended = false;
        mhd.resume(rq->conn);
        loop_kick();
    }
}

void httpd_answer(struct sv_api_req *rq, unsigned status, struct MHD_Response *resp)
{
    if (rq->gone || rq->resp) { /* gone, or answered already (a bug): drop it */
        mhd.destroy(resp);
        return;
    }
    rq->resp = resp;
    rq->status = status;
    httpd_resume(rq);
}

static enum MHD_Result queue_answer(struct sv_api_req *rq)
{
    struct MHD_Response *resp = rq->resp;
    rq->resp = NULL;
    enum MHD_Result r = mhd.queue(rq->conn, rq->status, resp);
    mhd.destroy(resp);
    set_phase(rq->conn, rq->stream ? STREAMING : SENDING);
    conns.requests++;
    double ms = (double)(sv_now_ms() * 1000 - rq->t0_us) / 1000.0;
    fprintf(stderr, "%s %s %u %.1fms\n", rq->method, rq->path, rq->status, ms);
    return r;
}

/* Before the body: the token, the route, the size. An answer now ends the
 * request (libmicrohttpd discards the body and closes). */
static void begin(struct sv_api_req *rq)
{
    char allow[64] = "";
    rq->route = route_find(rq, allow, sizeof(allow));
    if (rq->l->tcp && !(rq->route && (rq->route->flags & SV_API_PUBLIC))) {
        enum auth_result a = auth_check(httpd_lookup(rq, MHD_HEADER_KIND, "Authorization"));
        if (a == AUTH_MISSING || a == AUTH_WRONG) {
            sv_api_reply_error(rq, 401, "unauthorized",
                               a == AUTH_MISSING ? "this listener needs Authorization: Bearer "
                                                   "TOKEN (servos serve --token-file)"
                                                 : "the bearer token is not right");
            return;
        }
        rq->read_only = a == AUTH_READ_ONLY;
    }
    if (rq->route == NULL && allow[0]) {
        sv_api_reply_error(rq, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)",
                           rq->method, rq->path, allow);
        return;
    }
    if (rq->route == NULL) {
        sv_api_reply_error(rq, 404, "not_found", "no such endpoint: %s %s", rq->method, rq->path);
        return;
    }
    if (rq->read_only && (rq->route->flags & SV_API_WRITE)) {
        sv_api_reply_error(rq, 403, "forbidden",
                           "the read-only token cannot %s %s (it may only read)", rq->method,
                           rq->path);
        return;
    }
    size_t max = rq->route->body_max ? rq->route->body_max : 1u << 20;
    const char *cl = httpd_lookup(rq, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > max)
        sv_api_reply_error(rq, 413, "too_large", "the body is larger than %zu bytes", max);
}

static void collect(struct sv_api_req *rq, const char *data, size_t n)
{
    size_t max = rq->route && rq->route->body_max ? rq->route->body_max : 1u << 20;
    if (rq->too_big || rq->len + n > max) {
        rq->too_big = true; /* read on to the end, keep nothing */
        free(rq->body);
        rq->body = NULL;
        rq->len = 0;
        return;
    }
    rq->body = sv_xrealloc(rq->body, rq->len + n + 1);
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    rq->body[rq->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_len, void **ctx)
{
    (void)version;
    struct sv_api_req *rq = *ctx;
    if (rq == NULL) { /* the headers are in */
        rq = req_new(cls, c, url, method);
        *ctx = rq;
        set_phase(c, BODY);
        begin(rq);
        return rq->resp ? queue_answer(rq) : MHD_YES;
    }
    if (*data_len) {
        collect(rq, data, *data_len);
        *data_len = 0;
        return MHD_YES;
    }
    if (rq->resp)
        return queue_answer(rq);
    if (rq->handled) { /* resumed without an answer (a spurious wake): wait on */
        httpd_suspend(rq);
        return MHD_YES;
    }
    rq->handled = true;
    if (rq->too_big) {
        sv_api_reply_error(rq, 413, "too_large", "the body is larger than %zu bytes",
                           rq->route->body_max ? rq->route->body_max : (size_t)1 << 20);
        return queue_answer(rq);
    }
    set_phase(c, WORKING);
    rq->route->fn(rq);
    if (rq->resp)
        return queue_answer(rq);
    httpd_suspend(rq); /* answered later: a job, a stream */
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
                         enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)t;
    struct sv_api_req *rq = *ctx;
    *ctx = NULL;
    set_phase(c, WAITING); /* keep-alive: the next request's headers have a deadline too */
    if (rq == NULL)
        return;
    rq->gone = true;
    rq->conn = NULL;
    if (rq->resp) { /* never queued: a stream's goes (and lets go of rq) */
        mhd.destroy(rq->resp);
        rq->resp = NULL;
    }
    httpd_release(rq);
}

/* ---- listeners ------------------------------------------------------------------------- */

static void on_ready(void *ud)
{
    (void)ud; /* loop_run passes over every daemon after each wake-up */
}

static int start(int fd, bool tcp, const char *cert, const char *key, sv_error_t *err)
{
    if (load_mhd(err) < 0)
        return -1;
    struct api_listener *l = &listeners[n_listeners];
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | (cert ? MHD_USE_TLS : 0);
    l->tcp = tcp;
    l->d = cert ? mhd.start(
                      flags, 0, on_accept, NULL, on_request, l, MHD_OPTION_LISTEN_SOCKET, fd,
                      MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION,
                      on_connection, NULL, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_HARD,
                      MHD_OPTION_CONNECTION_TIMEOUT, IDLE_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                      (size_t)POOL_BYTES, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_HTTPS_MEM_CERT,
                      cert, MHD_OPTION_END)
                : mhd.start(flags, 0, on_accept, NULL, on_request, l, MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_HARD,
                            MHD_OPTION_CONNECTION_TIMEOUT, IDLE_S,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)POOL_BYTES, MHD_OPTION_END);
    if (l->d == NULL) {
        close(fd);
        return sv_error(err, 0, "libmicrohttpd refused to serve%s",
                        cert ? " (is the TLS key the certificate's, both PEM?)" : "");
    }
    const union MHD_DaemonInfo *i = mhd.daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (i == NULL || sv_api_watch(i->epoll_fd, on_ready, l) < 0) {
        mhd.stop(l->d);
        return sv_error(err, errno, "cannot watch libmicrohttpd's descriptor");
    }
    n_listeners++;
    if (n_listeners == 1)
        loop_every(250, watchdog, NULL);
    return 0;
}

int httpd_listen_unix(const char *path, sv_error_t *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return sv_error(err, ENAMETOOLONG, "socket path %s is too long", path);
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return sv_error(err, errno, "socket");
    unlink(path); /* a dead daemon's: the serve lock says none lives */
    /* Made 0660 from the start: no moment where others may connect. */
    mode_t old = umask(0117);
    int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    umask(old);
    if (rc < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        close(fd);
        return sv_error(err, e, "cannot listen on %s", path);
    }
    struct group *g = getgrnam("servos");
    if (g && chown(path, 0, g->gr_gid) < 0) {
        int e = errno;
        close(fd);
        return sv_error(err, e, "cannot give %s to group servos", path);
    }
    chmod(path, 0660);
    return start(fd, false, NULL, NULL, err);
}

/* "IP:PORT" (an IPv6 address in brackets: "[::1]:8080"). */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len, sv_error_t *err)
{
    const char *colon = strrchr(s, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || colon == s || *end || port <= 0 || port > 65535)
        return sv_error(err, 0, "--listen wants IP:PORT (127.0.0.1:8700), not \"%s\"", s);
    char host[64];
    snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    size_t hl = strlen(host);
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof(*a4);
    } else if (hl > 2 && host[0] == '[' && host[hl - 1] == ']' &&
               (host[hl - 1] = '\0', inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1)) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*a6);
    } else {
        return sv_error(err, 0, "--listen: \"%.*s\" is not an IP address (127.0.0.1)",
                        (int)(colon - s), s);
    }
    return 0;
}

int httpd_listen_tcp(const char *spec, const char *cert, const char *key, sv_error_t *err)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    if (parse_addr(spec, &ss, &len, err) < 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0)
        return sv_error(err, errno, "socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        close(fd);
        return sv_error(err, e, "cannot listen on %s", spec);
    }
    return start(fd, true, cert, key, err);
}

void httpd_run(void)
{
    for (size_t i = 0; i < n_listeners; i++)
        mhd.run(listeners[i].d);
}

int httpd_timeout(void)
{
    int best = -1;
    for (size_t i = 0; i < n_listeners; i++) {
        MHD_UNSIGNED_LONG_LONG t;
        if (mhd.get_timeout(listeners[i].d, &t) == MHD_YES) {
            int ms = t > 60000 ? 60000 : (int)t;
            best = best < 0 || ms < best ? ms : best;
        }
    }
    return best;
}

/* The streams' ends go out; the daemons are not stopped, as
 * libmicrohttpd may not be stopped with connections suspended (requests
 * whose job still runs): the process exits, and the kernel closes them. */
void httpd_stop(void)
{
    stream_end_all();
    for (int pass = 0; pass < 20; pass++) {
        httpd_run();
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
}

void httpd_stats(struct httpd_stats *out)
{
    out->connections = conns.live;
    out->requests = conns.requests;
    out->streams = stream_count();
}
