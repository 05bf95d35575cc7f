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

struct pf_endpoint {
    char *path;       /* "/api/hello/{name}" */
    unsigned methods; /* bit per method in pf_service_method_names */
    enum pf_endpoint_kind kind;
    json_t *response;
    char *target; /* script path, or shell command */
    bool text;    /* shell converter: text */
};

struct pf_static_dir {
    char *prefix; /* URL path, no trailing "/" ("" for the root) */
    char *dir;    /* real path */
};

struct pf_task {
    char *target;
    bool shell;
    double interval;
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
/* Percent-decode s in place; returns the new length. */
size_t pf_route_unescape(char *s);

/* proserve_answer.c */
void pf_answer_json(struct pf_answer *a, unsigned status, json_t *j);
void pf_answer_error(struct pf_answer *a, unsigned status, const char *msg, const char *detail);
void pf_answer_handler(struct pf_answer *a, const struct sv_handler_result *res, bool text);
/* s with control bytes, backslashes and bytes past 0x7e as \xHH, cut at
 * max bytes: a client's text as one line of a log. */
char *pf_answer_printable(const char *s, size_t max);

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
int pf_run_handler(const char *target, bool shell, const char *mode, const char *input,
                   struct sv_handler_result *res, sv_error_t *err);
/* A background task's thread (arg: its struct pf_task). */
void *pf_run_task_loop(void *arg);

#endif
