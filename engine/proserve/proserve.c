/* The service host's HTTP front on libmicrohttpd (loaded on first use):
 * connections policed so that no client can hold the service, requests
 * read and handed to the router (proserve_route.c), answers sent, counted
 * and logged; and the process itself, its container's pid 1. */
#include "proserve/proserve.h"

#include "core/dynlib.h"
#include "proserve/proserve_int.h"
#include "board/bproserve.h"
#include "proserve/tls.h"
#include "proserve/wsconn.h"
#include "core/json.h"

#include <arpa/inet.h>
#include <malloc.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A request body larger than this is answered 413. */
#define BODY_MAX (16u << 20)

/* ---- libmicrohttpd, loaded when a service starts ------------------------------ */

static struct {
    struct MHD_Daemon *(*start)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
                                MHD_AccessHandlerCallback, void *, ...);
    void (*stop)(struct MHD_Daemon *);
    struct MHD_Response *(*from_buffer)(size_t, void *, enum MHD_ResponseMemoryMode);
    enum MHD_Result (*add_header)(struct MHD_Response *, const char *, const char *);
    enum MHD_Result (*queue)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
    void (*destroy)(struct MHD_Response *);
    int (*values)(struct MHD_Connection *, enum MHD_ValueKind, MHD_KeyValueIterator, void *);
    const union MHD_ConnectionInfo *(*info)(struct MHD_Connection *, enum MHD_ConnectionInfoType,
                                            ...);
    const char *(*lookup)(struct MHD_Connection *, enum MHD_ValueKind, const char *);
    struct MHD_Response *(*for_upgrade)(MHD_UpgradeHandler, void *);
    enum MHD_Result (*upgrade_action)(struct MHD_UpgradeResponseHandle *, enum MHD_UpgradeAction,
                                      ...);
    enum MHD_Result (*feature)(enum MHD_FEATURE);
} mhd;

static int load_mhd(sv_error_t *err)
{
    static void *lib;
    static const char *const names[] = {"MHD_start_daemon",
                                        "MHD_stop_daemon",
                                        "MHD_create_response_from_buffer",
                                        "MHD_add_response_header",
                                        "MHD_queue_response",
                                        "MHD_destroy_response",
                                        "MHD_get_connection_values",
                                        "MHD_get_connection_info",
                                        "MHD_lookup_connection_value",
                                        "MHD_create_response_for_upgrade",
                                        "MHD_upgrade_action",
                                        "MHD_is_feature_supported"};
    _Static_assert(sizeof(mhd) == sizeof(names), "one name per function");
    return sv_dynlib_load(&lib, "libmicrohttpd.so.12", names, (void **)&mhd, SV_ARRAY_LEN(names),
                          "to serve ProServe manifests (apt install libmicrohttpd12)", err);
}

static size_t unescape_cb(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    return pf_route_unescape(s);
}

/* ---- connections: no client may hold the service --------------------------------- *
 *
 * One thread per connection (a handler may run for its whole timeout), at
 * most CONN_HARD of them. A connection waiting for a request's headers,
 * or sending its body, has a deadline (HEADERS_S, BODY_S: a byte now and
 * then does not extend it, unlike libmicrohttpd's idle timeout). Past
 * CONN_SOFT open connections, or PER_CLIENT from one address, each new one
 * pushes out the oldest that has been idle for MIN_AGE_S, and the watchdog
 * trims back to CONN_SOFT: slow clients cannot fill the table, and a
 * request that has just arrived is not dropped for them. Only past
 * CONN_FLOOD, well before CONN_HARD (where libmicrohttpd refuses without
 * asking us), may a flood of fresh connections push out fresh ones.
 * Clients from outside the stack all reach the service from the port's
 * address, so the total counts as much as the per-client bound. */

#define CONN_HARD  1024
#define CONN_SOFT  512
#define PER_CLIENT 256
#define HEADERS_S  10.0
#define BODY_S     60.0
#define SENDING_S  60.0
#define MIN_AGE_S  1.0
#define CONN_FLOOD 768 /* from here a flood of fresh ones is pushed out too */

enum phase { WAITING, BODY, WORKING, SENDING, UPGRADED };

struct conn {
    struct conn *prev, *next;
    int fd; /* our own duplicate of the socket: shutdown() it to drop the client */
    enum phase phase;
    double since;
    bool dropped;
    unsigned char client[16];
};

/* Every open connection, newest first. An upgraded one (a WebSocket) is
 * the WebSocket loop's to police (wsconn.h): it counts in none of these
 * bounds, and PF_WSC_MAX bounds them. */
static struct {
    pthread_mutex_t lock;
    struct conn *head;
    size_t live; /* not dropped, not upgraded */
} conns = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void client_key(const struct sockaddr *sa, unsigned char key[16])
{
    memset(key, 0, 16);
    if (sa && sa->sa_family == AF_INET)
        memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    else if (sa && sa->sa_family == AF_INET6)
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
}

/* Under conns.lock. */
static void drop_conn(struct conn *c)
{
    if (c->dropped)
        return;
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
    c->dropped = true;
    conns.live--;
}

/* Is a better eviction candidate than b (NULL: anything is)? Idle before
 * a body in flight, then the oldest. */
static bool evicts_before(const struct conn *a, const struct conn *b)
{
    if (b == NULL)
        return true;
    if (a->phase != b->phase)
        return a->phase == WAITING;
    return a->since < b->since;
}

/* Under conns.lock: push out one idle connection (of client, if given) that
 * has waited MIN_AGE_S, or any idle one when young_too: a request that has
 * just arrived goes only when the alternative is refusing new ones. */
static bool evict_one(const unsigned char *client, double now, bool young_too)
{
    struct conn *pick = NULL;
    for (struct conn *c = conns.head; c; c = c->next)
        if (!c->dropped && (c->phase == WAITING || c->phase == BODY) &&
            (young_too || now - c->since >= MIN_AGE_S) &&
            (!client || memcmp(c->client, client, 16) == 0) && evicts_before(c, pick))
            pick = c;
    if (pick)
        drop_conn(pick);
    return pick != NULL;
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t len)
{
    (void)cls, (void)len;
    unsigned char key[16];
    client_key(addr, key);
    double now = sv_now_s();
    pthread_mutex_lock(&conns.lock);
    size_t mine = 0;
    for (struct conn *c = conns.head; c; c = c->next)
        mine += !c->dropped && c->phase != UPGRADED && memcmp(c->client, key, 16) == 0;
    if (mine >= PER_CLIENT)
        evict_one(key, now, false);
    else if (conns.live >= CONN_SOFT)
        evict_one(NULL, now, conns.live >= CONN_FLOOD);
    /* libmicrohttpd's own limit leaves room for the WebSockets: HTTP
     * connections stop here. */
    bool refuse = conns.live >= CONN_HARD;
    pthread_mutex_unlock(&conns.lock);
    return refuse ? MHD_NO : MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *c = sv_xcalloc(1, sizeof(*c));
        const union MHD_ConnectionInfo *fd =
            mhd.info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *ad =
            mhd.info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        c->fd = fd ? fcntl(fd->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
        client_key(ad ? ad->client_addr : NULL, c->client);
        c->since = sv_now_s();
        pthread_mutex_lock(&conns.lock);
        c->next = conns.head;
        if (conns.head)
            conns.head->prev = c;
        conns.head = c;
        conns.live++;
        pthread_mutex_unlock(&conns.lock);
        *socket_context = c;
        return;
    }
    struct conn *c = *socket_context;
    if (c == NULL)
        return;
    pthread_mutex_lock(&conns.lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns.head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (!c->dropped && c->phase != UPGRADED)
        conns.live--;
    pthread_mutex_unlock(&conns.lock);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    *socket_context = NULL;
}

static void set_phase(struct MHD_Connection *connection, enum phase p)
{
    const union MHD_ConnectionInfo *i = mhd.info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn *c = i ? i->socket_context : NULL;
    if (c == NULL)
        return;
    pthread_mutex_lock(&conns.lock);
    if (c->phase == UPGRADED) { /* for good */
        pthread_mutex_unlock(&conns.lock);
        return;
    }
    if (p == UPGRADED) {
        if (!c->dropped)
            conns.live--;
        if (c->fd >= 0) /* the WebSocket loop ends it: no duplicate held */
            close(c->fd);
        c->fd = -1;
    }
    c->phase = p;
    c->since = sv_now_s();
    pthread_mutex_unlock(&conns.lock);
}

/* Past its phase's deadline, a connection is dropped; past CONN_SOFT,
 * the oldest idle ones are. */
static void *conn_watchdog(void *arg)
{
    (void)arg;
    while (!pf_service.stopping) {
        struct timespec ts = {0, 250 * 1000000};
        nanosleep(&ts, NULL);
        fflush(stdout); /* the access log (send_answer) */
        double now = sv_now_s();
        pthread_mutex_lock(&conns.lock);
        for (struct conn *c = conns.head; c; c = c->next) {
            double limit = c->phase == WAITING   ? HEADERS_S
                           : c->phase == BODY    ? BODY_S
                           : c->phase == SENDING ? SENDING_S
                                                 : 0; /* WORKING, UPGRADED */
            if (limit > 0 && now - c->since > limit)
                drop_conn(c);
        }
        while (conns.live > CONN_SOFT && evict_one(NULL, now, conns.live > CONN_FLOOD))
            ;
        pthread_mutex_unlock(&conns.lock);
    }
    return NULL;
}

/* ---- requests ------------------------------------------------------------------------ */

struct upload {
    char *data;
    size_t len;
    bool too_big;
    /* A WebSocket whose 101 is queued: on_upgraded takes it; if the
     * upgrade never comes (the client left first), on_done discards it,
     * and its handler ends with it. */
    struct pf_wsc *ws;
};

static enum MHD_Result collect_value(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    json_t *v = json_string(value ? value : "");
    /* Not UTF-8: as raw bytes would not be JSON; the handler gets "". */
    if (key)
        json_object_set_new(cls, key, v ? v : json_string(""));
    else
        json_decref(v);
    return MHD_YES;
}

void pf_request_values(struct pf_request *rq)
{
    if (rq->query || rq->connection == NULL)
        return;
    rq->query = json_object();
    rq->headers = json_object();
    mhd.values(rq->connection, MHD_GET_ARGUMENT_KIND, collect_value, rq->query);
    mhd.values(rq->connection, MHD_HEADER_KIND, collect_value, rq->headers);
}

/* Requests between their headers and their end (on_request, on_done). */
static atomic_int requests_in_flight;

static enum MHD_Result send_answer(struct MHD_Connection *c, const char *method, const char *url,
                                   struct pf_answer *a, double t0)
{
    struct MHD_Response *resp = mhd.from_buffer(a->len, a->body, MHD_RESPMEM_MUST_FREE);
    mhd.add_header(resp, "Content-Type", a->type);
    if (a->allow[0])
        mhd.add_header(resp, "Allow", a->allow);
    if (a->cache)
        mhd.add_header(resp, "Cache-Control", a->cache);
    size_t hi;
    json_t *h;
    json_array_foreach(a->headers, hi, h) mhd.add_header(
        resp, json_string_value(json_array_get(h, 0)), json_string_value(json_array_get(h, 1)));
    json_decref(a->headers);
    a->headers = NULL;
    if (a->status == 426) { /* a WebSocket's path: how to ask for it */
        mhd.add_header(resp, "Upgrade", "websocket");
        mhd.add_header(resp, "Sec-WebSocket-Version", "13");
    }
    if (pf_service.cors) {
        mhd.add_header(resp, "Access-Control-Allow-Origin", pf_service.cors);
        mhd.add_header(resp, "Access-Control-Allow-Methods",
                       "GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS");
        mhd.add_header(resp, "Access-Control-Allow-Headers", "*");
    }
    enum MHD_Result rc = mhd.queue(c, a->status, resp);
    mhd.destroy(resp);
    free(a->type_own);
    set_phase(c, SENDING);
    double secs = sv_now_s() - t0;
    pf_metrics_count(method, a->route, a->status, secs);
    /* Method and path are the client's: one line each, whatever they hold. */
    cleanup_free char *m = pf_answer_printable(method, 32);
    cleanup_free char *u = pf_answer_printable(url, 2048);
    /* Written out when no request is left in flight (on_done), so a lone
     * request's line is in the log at once, while under load one write
     * carries many: a write (and the supervisor's read and write) per
     * request cost more than answering it. */
    unsigned long tenths = (unsigned long)(secs * 1e4 + 0.5); /* of a ms: no %f, it costs */
    printf("%s %s %u %lu.%lums\n", m, u, a->status, tenths / 10, tenths % 10);
    return rc;
}

static enum MHD_Result too_large(struct MHD_Connection *c, const char *method, const char *url)
{
    struct pf_answer a = {0};
    char msg[64];
    snprintf(msg, sizeof(msg), "the body is larger than %u MiB", BODY_MAX >> 20);
    pf_answer_error(&a, 413, "request body too large", msg);
    a.route = "unmatched";
    return send_answer(c, method, url, &a, sv_now_s());
}

/* The client's address as text (for X-Forwarded-For). */
static void client_text(struct MHD_Connection *c, char out[64])
{
    const union MHD_ConnectionInfo *i = mhd.info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = i ? i->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, 64);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, 64);
}

/* tls_ca_cert: libmicrohttpd asks clients for a certificate but lets
 * those without one in; each request checks. */
static bool client_ca;

static bool client_verified(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i = mhd.info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    return i && sv_tls_client_verified(i->tls_session);
}

/* ---- WebSockets: the handshake's answer, then the socket to wsconn.h ----------------------- */

static void close_urh(void *urh)
{
    mhd.upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* Over plain TCP the socket is the client's own: the WebSocket loop takes
 * a duplicate, and libmicrohttpd is told at once that it is done, so it
 * frees the connection's pool and joins its thread now (with MHD_USE_TURBO
 * it closes its descriptor without a shutdown() that would end ours too).
 * An idle WebSocket then costs its socket and the loop's small struct,
 * not a 48 KiB pool and a thread's stack. Over TLS libmicrohttpd relays
 * through a socket pair for as long as the connection lasts: the loop
 * hands it back when done. */
static void on_upgraded(void *cls, struct MHD_Connection *connection, void *con_cls,
                        const char *extra_in, size_t extra_in_size, MHD_socket sock,
                        struct MHD_UpgradeResponseHandle *urh)
{
    (void)cls;
    struct upload *up = con_cls;
    struct pf_wsc *ws = up ? up->ws : NULL;
    if (ws == NULL) { /* cannot be: the request had one */
        mhd.upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    up->ws = NULL;
    set_phase(connection, UPGRADED);
    int own = pf_service.tls ? -1 : fcntl(sock, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
        pf_wsc_attach(ws, sock, urh, extra_in, extra_in_size);
        return;
    }
    pf_wsc_attach(ws, own, NULL, extra_in, extra_in_size);
    mhd.upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

static enum MHD_Result ws_upgrade(struct MHD_Connection *c, struct upload *up,
                                  struct pf_request *rq, const struct pf_ws_route *wr,
                                  json_t *params, struct pf_ws_hello *h, double t0)
{
    h->connection = mhd.lookup(c, MHD_HEADER_KIND, "Connection");
    h->key = mhd.lookup(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    h->version = mhd.lookup(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    h->origin = mhd.lookup(c, MHD_HEADER_KIND, "Origin");
    struct pf_answer a = {.route = wr->path};
    char accept[29];
    if (pf_ws_check(h, accept, &a) < 0)
        return send_answer(c, rq->method, rq->url, &a, t0);
    cleanup_json json_t *req = pf_route_request_json(rq, params);
    json_object_del(req, "body");
    json_object_del(req, "json");
    cleanup_free char *text = sv_json_dumps(req, SV_JSON_COMPACT);
    unsigned status = 0;
    const char *why = NULL;
    struct pf_wsc *ws = pf_wsc_new(wr, text, &status, &why);
    if (ws == NULL) {
        pf_answer_error(&a, status, why, NULL);
        return send_answer(c, rq->method, rq->url, &a, t0);
    }
    struct MHD_Response *resp = mhd.for_upgrade(on_upgraded, NULL);
    mhd.add_header(resp, "Upgrade", "websocket");
    mhd.add_header(resp, "Sec-WebSocket-Accept", accept);
    up->ws = ws;
    enum MHD_Result rc = mhd.queue(c, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    mhd.destroy(resp);
    pf_metrics_count(rq->method, wr->path, 101, sv_now_s() - t0);
    cleanup_free char *u = pf_answer_printable(rq->url, 2048);
    printf("GET %s 101 websocket\n", u);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_len, void **ctx)
{
    (void)cls, (void)version;
    struct upload *up = *ctx;
    if (up == NULL) { /* the headers are in */
        *ctx = sv_xcalloc(1, sizeof(*up));
        atomic_fetch_add(&requests_in_flight, 1);
        set_phase(c, BODY);
        /* Said too large up front: answer now rather than read it. */
        const char *cl = mhd.lookup(c, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > BODY_MAX)
            return too_large(c, method, url);
        return MHD_YES;
    }
    if (*data_len) {
        /* Chunked past the limit: read on to the end, keep nothing. */
        if (!up->too_big && up->len + *data_len > BODY_MAX) {
            up->too_big = true;
            free(up->data);
            up->data = NULL;
            up->len = 0;
        }
        if (!up->too_big) {
            up->data = sv_xrealloc(up->data, up->len + *data_len + 1);
            memcpy(up->data + up->len, data, *data_len);
            up->len += *data_len;
            up->data[up->len] = '\0';
        }
        *data_len = 0;
        return MHD_YES;
    }
    if (up->too_big)
        return too_large(c, method, url);
    set_phase(c, WORKING);
    double t0 = sv_now_s();
    struct pf_request rq = {method, url, NULL, NULL, up->data, up->len, c, ""};
    if (pf_service.n_proxies)
        client_text(c, rq.client);
    struct pf_answer a = {0};
    if (client_ca && !client_verified(c)) {
        a.route = "unmatched";
        pf_answer_error(&a, 403, "a client certificate that tls_ca_cert signed is required", NULL);
        return send_answer(c, method, url, &a, t0);
    }
    cleanup_json json_t *params = pf_service.n_ws_routes ? json_object() : NULL;
    const struct pf_ws_route *wr = params ? pf_ws_find(url, params) : NULL;
    struct pf_ws_hello hello = {.method = method,
                                .upgrade = wr ? mhd.lookup(c, MHD_HEADER_KIND, "Upgrade") : NULL};
    if (wr && pf_ws_wanted(&hello)) {
        enum MHD_Result rc = ws_upgrade(c, up, &rq, wr, params, &hello, t0);
        json_decref(rq.query);
        json_decref(rq.headers);
        return rc;
    }
    pf_route(&rq, &a);
    if (wr && a.status == 404) { /* a WebSocket's path, asked for as a page */
        free(a.body);
        a = (struct pf_answer){.route = wr->path};
        pf_answer_error(&a, 426, "this path is a WebSocket: connect with Upgrade: websocket", url);
    }
    json_decref(rq.query);
    json_decref(rq.headers);
    return send_answer(c, method, url, &a, t0);
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx,
                    enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)t;
    struct upload *up = *ctx;
    if (up) {
        if (up->ws) /* its upgrade never came */
            pf_wsc_discard(up->ws);
        free(up->data);
        free(up);
        if (atomic_fetch_sub(&requests_in_flight, 1) == 1)
            fflush(stdout); /* the access log (send_answer) */
    }
    *ctx = NULL;
    set_phase(c, WAITING); /* keep-alive: the next request's headers have a deadline too */
}

/* ---- main ---------------------------------------------------------------------------------- */

/* The service host is its container's pid 1: a handler's orphans (a
 * daemonised child, what a killed run left) come to it, and stay zombies
 * holding pids until it reaps them. It has no children of its own (the
 * supervisor starts every handler), so it reaps whatever ends. */
static void reap_orphans(void)
{
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* The cluster mode runs handlers where servos does not go: say so and
 * start nothing. Returns the exit code, or 0 to go on. (The board modes
 * run on the board's runtime, in its toolchain image: board/bproserve.h.) */
static int refuse_foreign_mode(const char *mode)
{
    if (strcmp(mode, "kubernetes") == 0) {
        fprintf(stderr, "proserve: isolation.mode kubernetes needs a cluster, which servos does "
                        "not drive; use container or process. Nothing was started\n");
        return 2;
    }
    return 0;
}

/* Each connection's memory pool (its request's headers, its buffers).
 * Past 32 KiB libmicrohttpd maps it rather than mallocs it: only the pages
 * a connection touches cost memory, and a closed one gives them back, so
 * 5,000 idle WebSockets (whose pools live as long as they do) stay small
 * and the heap does not fragment under thread-per-connection. */
#define POOL_SIZE (48u << 10)

static struct MHD_Daemon *start_daemon(int port, const struct pf_tls_pem *tls)
{
    /* In its container the service listens on every address: the stack
     * network reaches it by name, and the manifest's host:port is where
     * the published port listens on the host. */
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, tls->cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, tls->key},
        /* Clients are asked for a certificate this CA signed (on_request
         * checks it). */
        {tls->ca ? MHD_OPTION_HTTPS_MEM_TRUST : MHD_OPTION_END, 0, tls->ca},
        {MHD_OPTION_END, 0, NULL},
    };
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_ALLOW_UPGRADE | MHD_USE_TURBO |
                     (tls->cert ? MHD_USE_TLS : 0);
    return mhd.start(
        flags, 0, on_accept, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        NULL, MHD_OPTION_UNESCAPE_CALLBACK, unescape_cb, NULL, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(CONN_HARD + PF_WSC_MAX), MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HEADERS_S,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)POOL_SIZE, MHD_OPTION_ARRAY, tls->cert ? opts : opts + 3, MHD_OPTION_END);
}

int sv_proserve_serve(const char *manifest_json)
{
    struct pf_service *svc = &pf_service;
    sv_error_t err = NULL;
    if (pf_service_read(manifest_json, &err) < 0)
        return sv_error_report(&err);
    int refused = refuse_foreign_mode(svc->mode);
    if (refused)
        return refused;
    svc->limits.container = strcmp(svc->mode, "container") == 0 ||
                            strcmp(svc->mode, "docker") == 0 || strcmp(svc->mode, "sandbox") == 0 ||
                            sv_bproserve_is_board_mode(svc->mode);
    if (load_mhd(&err) < 0)
        return sv_error_report(&err);
    pf_service_env();
    if (svc->limits.private_fs) /* handlers write only their own directory */
        for (const char *d = "/tmp\0/var/tmp\0/dev/shm\0"; *d; d += strlen(d) + 1)
            chmod(d, 0711);
    json_t *portj = json_object_get(svc->manifest, "port");
    int port = json_is_integer(portj) ? (int)json_integer_value(portj) : 8080;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit: only sigwait sees them */
    svc->started = time(NULL);
    /* Threads come and go with connections: two malloc arenas, not one per
     * core times eight, keep what they free reusable. */
    mallopt(M_ARENA_MAX, 2);
    if (svc->n_ws_routes && mhd.feature(MHD_FEATURE_UPGRADE) != MHD_YES)
        sv_error(&err, ENOTSUP, "this libmicrohttpd cannot upgrade connections (WebSockets)");
    if (err || pf_wsc_start(close_urh, &err) < 0)
        return sv_error_report(&err);
    struct pf_tls_pem tls;
    if (pf_tls_load(&tls, &err) < 0) {
        fprintf(stderr, "proserve: %s; nothing was started\n", err->msg);
        sv_error_free(&err);
        return 1;
    }
    client_ca = tls.ca != NULL;
    struct MHD_Daemon *d = start_daemon(port, &tls);
    if (d == NULL) {
        fprintf(stderr, "proserve: cannot listen on port %d: %s\n", port, strerror(errno));
        return 1;
    }
    /* A board mode whose runtime is missing here runs as process (the
     * supervisor decided, and said why at up): the log says so too. */
    json_t *from = json_object_get(json_object_get(svc->manifest, "isolation"), "fallback_from");
    printf("proserve: %s %s listening on port %d%s (%zu endpoints, %zu WebSockets, isolation "
           "%s%s%s)\n",
           svc->name, svc->version, port, tls.cert ? " with TLS" : "", svc->n_endpoints,
           svc->n_ws_routes, svc->mode, json_is_string(from) ? ", fallen back from " : "",
           json_is_string(from) ? json_string_value(from) : "");
    fflush(stdout);
    cleanup_free pthread_t *threads = sv_xcalloc(svc->n_tasks + 2, sizeof(*threads));
    for (size_t i = 0; i < svc->n_tasks; i++)
        pthread_create(&threads[i], NULL, pf_run_task_loop, &svc->tasks[i]);
    pthread_create(&threads[svc->n_tasks], NULL, conn_watchdog, NULL);
    int sig = 0;
    reap_orphans();
    while (sigwait(&set, &sig) == 0 && sig == SIGCHLD)
        reap_orphans();
    svc->stopping = 1;
    printf("proserve: stopping (signal %d)\n", sig);
    fflush(stdout);
    pf_wsc_stop(); /* every upgraded socket back to libmicrohttpd before it stops */
    mhd.stop(d);
    free(tls.cert); /* libmicrohttpd serves from them until it stops */
    free(tls.key);
    free(tls.ca);
    for (size_t i = 0; i <= svc->n_tasks; i++)
        pthread_join(threads[i], NULL);
    return 0;
}
