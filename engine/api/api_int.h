/* The daemon's parts (api.h is its face to other modules). One thread, one
 * epoll loop (loop.c) drives everything: libmicrohttpd in its "external
 * polling" mode (httpd.c), child processes (job.c), log files followed
 * through inotify (logfeed.c), the state store's events (evfeed.c).
 * Nothing here locks, and a fork would copy no other thread's lock: the
 * engine's own forks happen in jobs, fresh servos processes.
 *
 *   serve.c      sv_api_serve: options, the lock, -d, the listeners, the end
 *   loop.c       the epoll loop: watched descriptors, ticks, signals
 *   httpd.c      listeners, requests in and answers out, connection limits
 *   auth.c       bearer tokens for TCP, the read-only one
 *   reply.c      JSON answers, errors, bodies read as JSON
 *   router.c     the route table and path matching
 *   stream.c     server-sent events: buffered streams and pulled ones
 *   job.c        servos commands in child processes
 *   logfeed.c    replicas' logs read once and shared by every follower
 *   evfeed.c     the store's events, to /v1/events and to the daemon's parts
 *   pscache.c    pidfds and addresses of running replicas, between requests
 *   r_*.c        the endpoints: stacks (r_apply.c: apply), containers
 *                (r_exec.c: exec), images, metrics and stats, the rest
 *                (r_misc.c: events, /v1, the dashboard's files)
 */
#ifndef SV_API_INT_H
#define SV_API_INT_H

#include "api/api.h"
#include "core/events.h"
#include "core/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct MHD_Connection;
struct MHD_Response;

/* ---- loop.c ------------------------------------------------------------------- */

int loop_init(sv_error_t *err);
/* Until SIGTERM/SIGINT (or loop_stop). */
void loop_run(void);
void loop_stop(void);
bool loop_stopping(void);
/* fn every period_ms (first after one period). */
void loop_every(int period_ms, void (*fn)(void *ud), void *ud);
/* fn before each wait for events; it returns the most ms the wait may
 * last (-1: no limit). */
void loop_before_wait(int (*fn)(void));
/* Ask for a pass over the HTTP daemons before the next wait. */
void loop_kick(void);
/* The daemon's own store connection (reads: stacks, events, metrics). */
struct sv_store *loop_store(void);

/* ---- httpd.c ------------------------------------------------------------------ */

struct api_listener;
/* Listen on the unix socket <root>/servos.sock (0660, group servos). */
int httpd_listen_unix(const char *path, sv_error_t *err);
/* Listen on addr "IP:PORT" (TLS when cert and key are PEM texts). */
int httpd_listen_tcp(const char *addr, const char *cert, const char *key, sv_error_t *err);
/* One pass over every daemon (what is ready, timeouts). */
void httpd_run(void);
/* ms until the daemons want a pass at the latest (-1: none). */
int httpd_timeout(void);
/* Stop listening; open streams are ended first. */
void httpd_stop(void);
/* Figures for /metrics. */
struct httpd_stats {
    uint64_t connections, requests, streams;
};
void httpd_stats(struct httpd_stats *out);

struct api_param {
    char *name, *value;
};

struct sv_api_req {
    int refs; /* the connection's, and each sv_api_hold */
    struct MHD_Connection *conn;
    struct api_listener *l;
    char *method, *path;
    const struct sv_api_route *route;
    struct api_param params[6];
    size_t n_params;
    char *body;
    size_t len;
    bool too_big, handled, gone, suspended, read_only;
    /* The answer, once given: queued at the next call from the server. */
    struct MHD_Response *resp;
    unsigned status;
    struct sv_api_stream *stream;
    int64_t t0_us;
};

/* The answer rq got, handed to the server (httpd.c). resp NULL: a stream,
 * set up by stream.c. */
void httpd_answer(struct sv_api_req *rq, unsigned status, struct MHD_Response *resp);
/* Resume a connection suspended for its answer or its stream. */
void httpd_resume(struct sv_api_req *rq);
void httpd_suspend(struct sv_api_req *rq);
/* libmicrohttpd's functions, for the files that build answers. */
struct MHD_Response *httpd_response_buffer(char *body, size_t len, const char *type);
struct MHD_Response *httpd_response_stream(ssize_t (*read)(void *, uint64_t, char *, size_t),
                                           void *ud, void (*free_ud)(void *));
void httpd_add_header(struct MHD_Response *r, const char *name, const char *value);
const char *httpd_lookup(struct sv_api_req *rq, int kind, const char *name);
void httpd_release(struct sv_api_req *rq);

/* ---- auth.c ------------------------------------------------------------------- */

int auth_load(const char *token_file, const char *ro_token_file, sv_error_t *err);
enum auth_result { AUTH_OK, AUTH_READ_ONLY, AUTH_MISSING, AUTH_WRONG };
enum auth_result auth_check(const char *authorization);

/* ---- router.c ----------------------------------------------------------------- */

/* The route for method and path (params filled into rq); NULL with
 * *allow set to the methods the path has ("" when none matches). */
const struct sv_api_route *route_find(struct sv_api_req *rq, char *allow, size_t allow_size);
/* "METHOD PATTERN" of every route, for GET /v1. */
json_t *route_list(void);
void route_register_builtin(void);

/* ---- stream.c ------------------------------------------------------------------- */

/* A stream whose events come from a pull function (a log follower):
 * read copies what is ready into buf (at most max), returning 0 when
 * nothing is; stream_wake when more is ready. */
struct sv_api_stream *stream_open_pull(struct sv_api_req *rq,
                                       size_t (*read)(void *ud, char *buf, size_t max),
                                       void (*on_close)(void *ud), void *ud);
void stream_wake(struct sv_api_stream *s);
/* Raw text into the stream's buffer (SSE comments, prepared events). */
void stream_write(struct sv_api_stream *s, const char *text, size_t len);
/* Bytes queued and not yet handed to the server. */
size_t stream_pending(const struct sv_api_stream *s);
/* Every stream: a comment now and then, so dead clients are found and
 * proxies keep the connection. */
void stream_heartbeat_all(void *ud);
/* At shutdown: end them all. */
void stream_end_all(void);
size_t stream_count(void);

/* ---- job.c ------------------------------------------------------------------------ */

size_t job_count(void);

/* ---- logfeed.c --------------------------------------------------------------------- */

struct logsel {
    const char *stack;        /* a stack's replicas... */
    const char *service;      /* ...of this service (NULL: all) */
    int replica;              /* ...this one (0: all) */
    const char *container_id; /* or a container of `servos run -d` */
    const char *container_name;
    long tail;        /* lines before the end (-1: all) */
    int64_t since_ms; /* only lines that arrived from then on (0: any) */
    bool follow;
};
/* Answer rq with the selected logs as events; 404 when nothing matches. */
void logfeed_serve(struct sv_api_req *rq, const struct logsel *sel);
int logfeed_init(sv_error_t *err);
size_t logfeed_followers(void);

/* ---- pscache.c ------------------------------------------------------------------ */

/* What the daemon remembers of running containers (pidfds, addresses),
 * for sv_ps_collect_in. */
struct sv_ps_known;
const struct sv_ps_known *pscache_known(void);

/* ---- evfeed.c ------------------------------------------------------------------------ */

int evfeed_init(sv_error_t *err);
/* GET /v1/events */
void evfeed_serve(struct sv_api_req *rq);
/* A listener inside the daemon (logfeed: new replicas of followed stacks). */
void evfeed_subscribe(void (*fn)(void *ud, const struct sv_event *e), void *ud);

/* ---- the endpoints ------------------------------------------------------------------ */

void r_stacks_register(void);
void r_containers_register(void);
void r_images_register(void);
void r_misc_register(void);
void r_metrics_register(void);

/* r_stacks.c: a stack as GET /v1/stacks/{name} (full) or the list shows it. */
json_t *rstack_doc(const char *stack, bool full, sv_error_t *err);
/* The {name} of the path when it names a stack that exists; else a 404
 * answered and NULL. */
const char *rstack_known(struct sv_api_req *rq);

/* Shared by the endpoints (r_util.c). */
/* A job whose end answers rq: 200 with its stdout as {"output": ...}
 * (what, when given, shapes the answer instead), or its error. */
struct sv_event;
typedef json_t *job_answer_fn(struct sv_api_req *rq, const char *out, size_t len);
void rjob_run(struct sv_api_req *rq, char *const argv[], const char *input, char *const env[],
              job_answer_fn *answer);
/* An error a servos command printed ("servos: ..." lines) as the
 * message; its exit code as the status (2: 400, else 500 unless
 * the text says what is missing: 404). */
void rjob_error(struct sv_api_req *rq, int code, const char *err, size_t len);
/* Its "servos: ..." lines as one message, prefixes off; to free. */
char *rjob_message(const char *err, size_t len);
/* "running" etc. and a string or null. */
json_t *rjson_str(const char *s);

#endif
