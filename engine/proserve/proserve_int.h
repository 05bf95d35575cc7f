/* The ProServe service host's parts (proserve.h is its face): the
 * manifest as read (proserve_conf.c), handlers, answers, metrics and tasks
 * (proserve_run.c), and the HTTP front (proserve.c). One service per
 * process, so its state is one global, F. */
#ifndef SV_PROSERVE_INT_H
#define SV_PROSERVE_INT_H

#include "proserve/phandler.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>

enum kind { RESPONSE, SCRIPT, SHELL };

struct route {
    char *path;       /* "/api/hello/{name}" */
    unsigned methods; /* bit per method in method_names */
    enum kind kind;
    json_t *response;
    char *target; /* script path, or shell command */
    bool text;    /* shell converter: text */
};

struct statics {
    char *prefix; /* URL path, no trailing "/" ("" for the root) */
    char *dir;    /* real path */
};

struct task {
    char *target;
    bool shell;
    double interval;
};

struct metric {
    char *method, *route;
    int status;
    unsigned long long count;
    double seconds;
};

struct front {
    json_t *doc;
    const char *name, *version, *base_dir, *mode;
    struct route *routes;
    size_t n_routes;
    struct statics *statics;
    size_t n_statics;
    struct task *tasks;
    size_t n_tasks;
    bool health, metrics;
    char *cors; /* Access-Control-Allow-Origin when enable_cors, else NULL */
    struct sv_handler_limits lim;
    char **env; /* what handlers get */
    time_t started;
    pthread_mutex_t lock; /* the metrics below */
    struct metric *m;
    size_t n_m;
    unsigned long long failures, timeouts, oom;
    volatile sig_atomic_t stopping;
};
extern struct front F;

/* A request as the router sees it (proserve.c: pf_route). */
struct pf_request {
    const char *method, *url; /* url: the path, percent-decoded (pf_unescape) */
    json_t *query, *headers;  /* objects, or NULL */
    const char *body;
    size_t body_len;
};

struct answer {
    unsigned status;
    const char *type;
    char *body;
    size_t len;
    char allow[64];
    const char *route; /* for metrics */
};

/* proserve.c */
void pf_route(const struct pf_request *rq, struct answer *a);
size_t pf_unescape(char *s);

/* proserve_conf.c */
int pf_method_bit(const char *m);
extern const char *const pf_method_names[7];
int pf_read_manifest(const char *file, sv_error_t *err);
void pf_build_env(void);

/* proserve_run.c */
bool pf_ends_with(const char *s, const char *suffix);
/* s with control bytes, backslashes and bytes past 0x7e as \xHH, cut at
 * max bytes: a client's text as one line of a log. */
char *pf_printable(const char *s, size_t max);
/* A method as a metrics label: one of pf_method_names, or "other". */
const char *pf_method_label(const char *method);
int pf_run_handler(const char *target, bool shell, const char *mode, const char *input,
                   struct sv_handler_result *res, sv_error_t *err);
void pf_answer_json(struct answer *a, unsigned status, json_t *j);
void pf_answer_error(struct answer *a, unsigned status, const char *msg, const char *detail);
void pf_answer_handler(struct answer *a, const struct sv_handler_result *res, bool text);
void pf_answer_metrics(struct answer *a);
void pf_count(const char *method, const char *route, unsigned status, double secs);
void pf_bump(unsigned long long *counter);
void *pf_task_loop(void *arg);

#endif
