/* The ProServe service host's parts (proserve.h is its face): the service
 * as its manifest describes it (proserve_service.c), routing a request to
 * its answer (proserve_route.c), answers (proserve_answer.c), metrics
 * (proserve_metrics.c), handler and task runs (proserve_run.c), and the
 * HTTP front on libmicrohttpd (proserve.c). One service per process, so
 * what the manifest says is one global, pf_service. */
#ifndef SV_PROSERVE_INT_H
#define SV_PROSERVE_INT_H

#include "proserve/phandler.h"

#include <signal.h>
#include <string.h>
#include <time.h>

enum pf_endpoint_kind { PF_RESPONSE, PF_SCRIPT, PF_SHELL };

/* What a script or shell command runs (the manifest's, resolved when it
 * was read: stdlib/proserve_blocks.lua). */
struct pf_target {
    char *target;   /* a script's path, or the shell command */
    char *function; /* a Python function to call, or NULL (its default names) */
    bool shell;
    json_t *convert; /* shell output: {"type": "json"|"text"|"lines"|...}, or NULL (text) */
    double timeout;  /* > 0: this command's own (shell_commands) */
};

struct pf_endpoint {
    char *path;       /* "/api/hello/{name}" */
    unsigned methods; /* bit per method in pf_service_method_names */
    enum pf_endpoint_kind kind;
    json_t *response;
    struct pf_target run;
};

struct pf_static_dir {
    char *prefix; /* URL path, no trailing "/" ("" for the root) */
    char *dir;    /* real path */
    bool spa;     /* static_hosting's spa_fallback: an unknown path is the index */
    const char *index;
};

struct pf_static_file {
    char *url, *file;
};

struct pf_task {
    struct pf_target run;
    double interval;
    bool broadcast; /* its output goes to every WebSocket client */
};

/* A WebSocket route: a built-in handler, or a run kept going per
 * connection; on_connect / on_disconnect a message or a run. */
enum pf_ws_kind { PF_WS_ECHO, PF_WS_BROADCAST, PF_WS_RUN };
struct pf_ws_route {
    char *path;
    enum pf_ws_kind kind;
    struct pf_target run;
    json_t *on_connect, *on_disconnect;           /* inline messages, or NULL */
    struct pf_target connect_run, disconnect_run; /* .target NULL when none */
};

/* api_proxy_rules: requests under prefix go to host:port (base + rest). */
struct pf_proxy_rule {
    char *prefix, *host, *base;
    int port;
    bool strip;
    double timeout;
    json_t *headers; /* added to the request, or NULL */
};

struct pf_service {
    json_t *manifest; /* as the service host was given it */
    const char *name, *version, *base_dir, *mode;
    /* A board mode's board: the manifest's board and platform (or its
     * isolation block's), NULL when absent (board/bproserve.h). */
    const char *board, *platform;
    struct pf_endpoint *endpoints;
    size_t n_endpoints;
    struct pf_static_dir *static_dirs;
    size_t n_static_dirs;
    struct pf_task *tasks;
    size_t n_tasks;
    struct pf_ws_route *ws_routes;
    size_t n_ws_routes;
    struct pf_static_file *static_files;
    size_t n_static_files;
    struct pf_proxy_rule *proxies;
    size_t n_proxies;
    const char *cache_control; /* static_hosting's, or NULL */
    /* shell_config: the shell, its working directory and variables. */
    const char *shell, *shell_dir;
    double shell_timeout;
    json_t *shell_env;
    json_t *tls; /* {cert, key, ca, provider, domain}, or NULL */
    bool enable_health, enable_metrics;
    char *cors; /* Access-Control-Allow-Origin when enable_cors, else NULL */
    struct sv_handler_limits limits;
    char **handler_env; /* what handlers get */
    /* The host's own state, beside what the manifest says. */
    time_t started;
    volatile sig_atomic_t stopping;
};
extern struct pf_service pf_service;

/* A request as the router sees it. */
struct pf_request {
    const char *method, *url; /* url: the path, percent-decoded (pf_route_unescape) */
    json_t *query, *headers;  /* objects, or NULL until pf_request_values */
    const char *body;
    size_t body_len;
    void *connection; /* the server's, for pf_request_values */
    char client[64];  /* the client's address, for X-Forwarded-For ("" when unknown) */
};
/* Fill query and headers from the connection: only a handler needs them,
 * and building them for every request cost an inline answer a third of
 * its time. */
void pf_request_values(struct pf_request *rq);

struct pf_answer {
    unsigned status;
    const char *type;
    char *body;
    size_t len;
    char allow[64];
    const char *route; /* for metrics */
    const char *cache; /* Cache-Control, or NULL */
    json_t *headers;   /* more headers ([name, value] pairs; a proxy's), or NULL */
    char *type_own;    /* type, when it was allocated */
};

static inline bool pf_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* proserve_service.c */
extern const char *const pf_service_method_names[7];
/* The bit of method m in pf_endpoint.methods; 0 for any other method. */
int pf_service_method_bit(const char *m);
/* A method as a metrics label: one of pf_service_method_names, or "other". */
const char *pf_service_method_label(const char *method);
int pf_service_read(const char *file, sv_error_t *err);
/* pf_service.handler_env, from our environment and the manifest. */
void pf_service_env(void);

/* proserve_route.c */
void pf_route(struct pf_request *rq, struct pf_answer *a);
/* Does path match pattern ("/api/{name}")? Fills params with {name}s. */
bool pf_route_match(const char *pattern, const char *path, json_t *params);
/* The request as a handler gets it: method, path, path_params, query,
 * headers, body, json. */
json_t *pf_route_request_json(struct pf_request *rq, json_t *params);
/* Percent-decode s in place; returns the new length. */
size_t pf_route_unescape(char *s);

/* proserve_answer.c */
void pf_answer_json(struct pf_answer *a, unsigned status, json_t *j);
void pf_answer_error(struct pf_answer *a, unsigned status, const char *msg, const char *detail);
/* shell: a shell command's output, text unless convert (its converter,
 * or NULL) says otherwise; a script's is JSON. */
void pf_answer_handler(struct pf_answer *a, const struct sv_handler_result *res, bool shell,
                       const json_t *convert);

/* proserve_convert.c: a shell command's output as its converter makes it
 * ({"type": "json"|"lines"|"csv"|"table"|"keyvalue"|"text", "delimiter"}),
 * or NULL when json is asked and the output is not JSON. */
json_t *pf_convert(const json_t *convert, const char *out, size_t len);
/* s with control bytes, backslashes and bytes past 0x7e as \xHH, cut at
 * max bytes: a client's text as one line of a log. */
char *pf_answer_printable(const char *s, size_t max);

/* proserve_ws.c: WebSocket routes and handshakes. */
/* The WebSocket route url is on, its {name}s into params; or NULL. */
const struct pf_ws_route *pf_ws_find(const char *url, json_t *params);
/* A handshake's headers, as the client sent them (NULL when absent). */
struct pf_ws_hello {
    const char *method, *upgrade, *connection, *key, *version, *origin;
};
/* Is it an upgrade to a WebSocket at all (Upgrade: websocket)? */
bool pf_ws_wanted(const struct pf_ws_hello *h);
/* Check the handshake (RFC 6455 4.2.1): 0 with the Sec-WebSocket-Accept
 * value, or -1 with the error answer (400, 403, 426). */
int pf_ws_check(const struct pf_ws_hello *h, char accept[29], struct pf_answer *a);

/* proserve_proxy.c: api_proxy_rules. */
const struct pf_proxy_rule *pf_proxy_find(const char *url);
void pf_proxy_answer(const struct pf_proxy_rule *r, struct pf_request *rq, struct pf_answer *a);

/* proserve_tls.c: the PEM texts libmicrohttpd serves TLS with (all NULL
 * without TLS; ca NULL without tls_ca_cert), the pair checked. */
struct pf_tls_pem {
    char *cert, *key, *ca;
};
int pf_tls_load(struct pf_tls_pem *pem, sv_error_t *err);

/* proserve_metrics.c */
enum pf_metrics_counter { PF_HANDLER_FAILURES, PF_HANDLER_TIMEOUTS, PF_HANDLER_OOM_KILLS };
/* One request answered. */
void pf_metrics_count(const char *method, const char *route, unsigned status, double secs);
void pf_metrics_bump(enum pf_metrics_counter c);
/* /metrics, in Prometheus' text format. */
void pf_metrics_answer(struct pf_answer *a);

/* proserve_run.c */
/* Run a script or shell command with the service's env, limits and
 * isolation; mode "request" (input on stdin) or "task". */
int pf_run_handler(const struct pf_target *t, const char *mode, const char *input,
                   struct sv_handler_result *res, sv_error_t *err);
/* Start a WebSocket connection's handler, kept running (request: the
 * connection's request as JSON, in PROSERVE_REQUEST). */
int pf_run_spawn(const struct pf_target *t, const char *request, struct sv_handler_proc *p,
                 sv_error_t *err);
/* pyrunner.c: ProServe's Python contract, as python3 -c runs it. */
extern const char pf_python_runner[];
/* A background task's thread (arg: its struct pf_task). */
void *pf_run_task_loop(void *arg);

#endif
