/* `servos serve`: the control API (REST and server-sent events over
 * HTTP/1.1, on a unix socket and, when asked, on TCP with a bearer token)
 * and the dashboard, one daemon per state root.
 *
 * This header is the face other modules use to serve their own endpoints
 * from the same daemon (the code-execution service adds /api/repl/...):
 * a table of routes given to sv_api_routes_add before sv_api_serve, whose
 * handlers read the request and answer it, at once or later, with JSON,
 * an error, or a stream of events; and jobs, servos commands run in a
 * child process whose output comes back line by line.
 *
 * Everything runs on the daemon's one thread, in its event loop: a
 * handler must not block (what takes time is a job, or a descriptor of
 * its own in the loop, sv_api_watch). */
#ifndef SV_API_H
#define SV_API_H

#include "core/util.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the daemon ------------------------------------------------------------- */

struct sv_api_opts {
    bool detach;            /* -d: into the background, output to <root>/serve.log */
    const char *listen;     /* "127.0.0.1:PORT" or NULL: the unix socket only */
    const char *token_file; /* bearer token for TCP (required with listen) */
    const char *ro_token_file;
    const char *tls_cert, *tls_key; /* PEM files: HTTPS on the TCP listener */
};

/* Serve until SIGTERM or SIGINT; returns the process exit code. Errors
 * before listening (a bad option, a second daemon) are said on stderr. */
int sv_api_serve(const struct sv_api_opts *o);

/* ---- routes ----------------------------------------------------------------- */

struct sv_api_req;
typedef void sv_api_handler(struct sv_api_req *rq);

#define SV_API_WRITE  1u /* changes something: refused (403) to the read-only token */
#define SV_API_PUBLIC 2u /* no token needed (the dashboard's own files) */

struct sv_api_route {
    const char *method;  /* "GET", "POST", "PUT", "DELETE" (GET also answers HEAD) */
    const char *pattern; /* "/v1/stacks/{name}/scale"; a last "{ref*}" takes the rest */
    sv_api_handler *fn;
    unsigned flags;
    size_t body_max; /* bytes; 0: 1 MiB. A larger body is answered 413. */
};

/* Add routes (the table must outlive the daemon: a static one). A path
 * that matches no route is 404; one that matches with another method
 * 405 with Allow. */
void sv_api_routes_add(const struct sv_api_route *routes, size_t n);

/* ---- requests ----------------------------------------------------------------- */

const char *sv_api_method(const struct sv_api_req *rq);
const char *sv_api_path(const struct sv_api_req *rq);
/* A {name} of the route's pattern (percent-decoded, once); NULL when
 * absent. */
const char *sv_api_param(const struct sv_api_req *rq, const char *name);
/* A query argument (NULL: absent) and a request header (any case). */
const char *sv_api_query(const struct sv_api_req *rq, const char *name);
const char *sv_api_header(const struct sv_api_req *rq, const char *name);
const char *sv_api_body(const struct sv_api_req *rq, size_t *len);
/* The body as a JSON object whose keys are all among allowed
 * (NULL-terminated). On malformed JSON, another type or an unknown key it
 * answers 400 itself (naming the line and column, or the key and what was
 * meant) and returns NULL. An empty body is an empty object. */
json_t *sv_api_body_object(struct sv_api_req *rq, const char *const *allowed);
/* A query flag: "1", "true", "yes" (or present with no value) are true. */
bool sv_api_query_flag(const struct sv_api_req *rq, const char *name);

/* ---- answers: exactly one per request, now or later ---------------------------- */

/* body is stolen. */
void sv_api_reply_json(struct sv_api_req *rq, unsigned status, json_t *body);
/* body (malloc'd) is stolen. */
void sv_api_reply_bytes(struct sv_api_req *rq, unsigned status, const char *type, char *body,
                        size_t len);
/* A header on the answer just given (before the handler returns). */
void sv_api_reply_header(struct sv_api_req *rq, const char *name, const char *value);
/* {"error": {"code": code, "message": ...}} with status. */
void sv_api_reply_error(struct sv_api_req *rq, unsigned status, const char *code, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
/* Has the client gone (closed the connection before the answer)? An
 * answer to a gone client is dropped, so a late job may answer anyway. */
bool sv_api_gone(const struct sv_api_req *rq);
/* Keep rq after the handler returns (for a later answer); each hold is
 * released by sv_api_release. A request answered at once needs neither. */
void sv_api_hold(struct sv_api_req *rq);
void sv_api_release(struct sv_api_req *rq);

/* ---- server-sent events -------------------------------------------------------- */

struct sv_api_stream;
/* Answer rq with 200 text/event-stream; events follow as they are sent.
 * on_close (may be NULL) is called once, when the client goes or the
 * daemon stops, after which s is gone. */
struct sv_api_stream *sv_api_sse_open(struct sv_api_req *rq, void (*on_close)(void *ud), void *ud);
/* One event: id and event may be NULL; data may hold several lines. */
void sv_api_sse_send(struct sv_api_stream *s, const char *id, const char *event, const char *data);
/* End the stream once what was sent is delivered (on_close follows). */
void sv_api_sse_end(struct sv_api_stream *s);

/* ---- jobs: servos commands in child processes ------------------------------------ */

struct sv_api_job;
struct sv_api_job_ops {
    /* A line of the command's stdout (fd 1) or stderr (2), without its
     * newline; NULL: only collected. */
    void (*line)(void *ud, int fd, const char *line, size_t len);
    /* It ended: code is its exit code (128+N after signal N); out and err
     * what it wrote (up to 16 MiB each; the rest is dropped). */
    void (*done)(void *ud, int code, const char *out, size_t out_len, const char *err,
                 size_t err_len);
};
/* Run `servos --root ROOT ARGV...` (this very binary) with input on its
 * stdin (NULL: /dev/null) and env added to the daemon's environment
 * ("K=V" strings, NULL-terminated, or NULL). ops->done is always called,
 * once; ud must live until then. */
int sv_api_job_start(char *const argv[], const char *input, char *const env[],
                     const struct sv_api_job_ops *ops, void *ud, sv_error_t *err);

/* ---- the loop ------------------------------------------------------------------- */

/* Call fn(ud) when fd is readable (level-triggered), until unwatched. */
int sv_api_watch(int fd, void (*fn)(void *ud), void *ud);
void sv_api_unwatch(int fd);
/* The daemon reaps its children (SIGCHLD): fn is told of every one that
 * ended, with its exit code (128+N after signal N), and keeps its own. */
void sv_api_on_child(void (*fn)(pid_t pid, int code));
/* Call fn(ud) every period_ms, from the daemon's start (a module's
 * upkeep: a pool refilled, leases expired). At most a dozen in all. */
void sv_api_every(int period_ms, void (*fn)(void *ud), void *ud);

#endif
