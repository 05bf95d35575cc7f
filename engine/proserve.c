#include "proserve.h"

#include "dynlib.h"
#include "proserve_int.h"
#include "units.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
} mhd;

static int load_mhd(sv_error_t *err)
{
    static void *lib;
    static const char *const names[] = {
        "MHD_start_daemon",         "MHD_stop_daemon",    "MHD_create_response_from_buffer",
        "MHD_add_response_header",  "MHD_queue_response", "MHD_destroy_response",
        "MHD_get_connection_values"};
    _Static_assert(sizeof(mhd) == sizeof(names), "one name per function");
    return sv_dynlib_load(&lib, "libmicrohttpd.so.12", names, (void **)&mhd, SV_ARRAY_LEN(names),
                          "to serve ProServe manifests (apt install libmicrohttpd12)", err);
}

static json_t *fill(json_t *v, json_t *params)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strstr(s, "{{"))
            return json_incref(v);
        char *out = sv_xstrdup("");
        while (*s) {
            const char *open = strstr(s, "{{"), *close = open ? strstr(open, "}}") : NULL;
            if (!close) {
                char *next = sv_xasprintf("%s%s", out, s);
                free(out);
                out = next;
                break;
            }
            cleanup_free char *key = sv_xstrndup(open + 2, (size_t)(close - open - 2));
            const char *val = json_string_value(json_object_get(params, key));
            char *next = sv_xasprintf("%s%.*s%s", out, (int)(open - s), s, val ? val : "");
            free(out);
            out = next;
            s = close + 2;
        }
        json_t *r = json_string(out);
        free(out);
        return r;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) json_object_set_new(o, k, fill(x, params));
        return o;
    }
    if (json_is_array(v)) {
        json_t *o = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(o, fill(x, params));
        return o;
    }
    return json_incref(v);
}

/* Does path match pattern? Fills params with {name} segments. */
static bool match(const char *pattern, const char *path, json_t *params)
{
    while (*pattern && *path) {
        if (*pattern++ != '/' || *path++ != '/')
            return false;
        size_t pl = strcspn(pattern, "/"), ql = strcspn(path, "/");
        if (pl > 2 && pattern[0] == '{' && pattern[pl - 1] == '}') {
            if (ql == 0)
                return false;
            cleanup_free char *k = sv_xstrndup(pattern + 1, pl - 2);
            cleanup_free char *v = sv_xstrndup(path, ql);
            json_object_set_new(params, k, json_string(v));
        } else if (pl != ql || strncmp(pattern, path, pl) != 0) {
            return false;
        }
        pattern += pl;
        path += ql;
    }
    return *pattern == '\0' && (*path == '\0' || strcmp(path, "/") == 0);
}

/* ---- requests ------------------------------------------------------------------------ */

struct upload {
    char *data;
    size_t len;
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    json_object_set_new(cls, key, json_string(value ? value : ""));
    return MHD_YES;
}

static json_t *request_json(struct MHD_Connection *c, const char *url, const char *method,
                            json_t *params, const struct upload *up)
{
    json_t *query = json_object(), *headers = json_object();
    mhd.values(c, MHD_GET_ARGUMENT_KIND, collect, query);
    mhd.values(c, MHD_HEADER_KIND, collect, headers);
    json_t *body = json_loadb(up->data ? up->data : "", up->len, JSON_DECODE_ANY, NULL);
    return json_pack("{s:s,s:s,s:O,s:o,s:o,s:s%,s:o}", "method", method, "path", url, "path_params",
                     params, "query", query, "headers", headers, "body", up->data ? up->data : "",
                     up->len, "json", body ? body : json_null());
}

static bool serve_static(struct answer *a, const char *url)
{
    for (size_t i = 0; i < F.n_statics; i++) {
        const struct statics *s = &F.statics[i];
        size_t pl = strlen(s->prefix);
        if (strncmp(url, s->prefix, pl) != 0 || (url[pl] != '/' && url[pl] != '\0'))
            continue;
        const char *rest = url[pl] ? url + pl : "/";
        cleanup_free char *want =
            sv_xasprintf("%s%s%s", s->dir, rest, rest[strlen(rest) - 1] == '/' ? "index.html" : "");
        char real[PATH_MAX];
        size_t dl = strlen(s->dir);
        struct stat st;
        /* Only files inside the directory, symlinks followed: no escape. */
        if (realpath(want, real) == NULL || strncmp(real, s->dir, dl) != 0 || real[dl] != '/' ||
            stat(real, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        sv_error_t err = NULL;
        if (sv_read_file(real, 64u << 20, &a->body, &a->len, &err) < 0) {
            sv_error_free(&err);
            continue;
        }
        a->status = 200;
        a->type = pf_ends_with(real, ".html")   ? "text/html; charset=utf-8"
                  : pf_ends_with(real, ".css")  ? "text/css"
                  : pf_ends_with(real, ".js")   ? "application/javascript"
                  : pf_ends_with(real, ".json") ? "application/json"
                  : pf_ends_with(real, ".svg")  ? "image/svg+xml"
                  : pf_ends_with(real, ".png")  ? "image/png"
                                                : "application/octet-stream";
        a->route = s->prefix[0] ? s->prefix : "/";
        return true;
    }
    return false;
}

static void route(struct MHD_Connection *c, const char *url, const char *method,
                  const struct upload *up, struct answer *a)
{
    a->route = "unmatched";
    if (F.cors && strcmp(method, "OPTIONS") == 0) { /* a browser's preflight */
        a->status = 204;
        a->type = "text/plain";
        a->body = sv_xstrdup("");
        a->route = "preflight";
        return;
    }
    if (F.health && strcmp(url, "/health") == 0) {
        a->route = "/health";
        pf_answer_json(a, 200,
                       json_pack("{s:s,s:s,s:s,s:I}", "status", "healthy", "service", F.name,
                                 "version", F.version, "uptime",
                                 (json_int_t)(time(NULL) - F.started)));
        return;
    }
    if (F.metrics && strcmp(url, "/metrics") == 0) {
        a->route = "/metrics";
        pf_answer_metrics(a);
        return;
    }
    unsigned allowed = 0;
    for (size_t i = 0; i < F.n_routes; i++) {
        struct route *r = &F.routes[i];
        json_t *params = json_object();
        if (!match(r->path, url, params)) {
            json_decref(params);
            continue;
        }
        unsigned bit = (unsigned)pf_method_bit(method);
        if (!(r->methods & bit)) {
            allowed |= r->methods;
            json_decref(params);
            continue;
        }
        a->route = r->path;
        if (r->kind == RESPONSE) {
            pf_answer_json(a, 200, fill(r->response, params));
        } else {
            json_t *req = request_json(c, url, method, params, up);
            char *input = json_dumps(req, JSON_COMPACT);
            json_decref(req);
            struct sv_handler_result res;
            sv_error_t err = NULL;
            if (pf_run_handler(r->target, r->kind == SHELL, "request", input, &res, &err) < 0) {
                pf_bump(&F.failures);
                pf_answer_error(a, 500, "cannot start the handler", err->msg);
                sv_error_free(&err);
            } else {
                pf_answer_handler(a, &res, r->kind == SHELL && r->text);
            }
            sv_handler_result_free(&res);
            free(input);
        }
        json_decref(params);
        return;
    }
    if (allowed) {
        char *p = a->allow;
        for (size_t i = 0; i < SV_ARRAY_LEN(pf_method_names); i++)
            if (allowed & (1u << i))
                p += snprintf(p, sizeof(a->allow) - (size_t)(p - a->allow), "%s%s",
                              p == a->allow ? "" : ", ", pf_method_names[i]);
        pf_answer_error(a, 405, "method not allowed", method);
        return;
    }
    if (serve_static(a, url))
        return;
    pf_answer_error(a, 404, "not found", url);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_len, void **ctx)
{
    (void)cls, (void)version;
    struct upload *up = *ctx;
    if (up == NULL) {
        *ctx = sv_xcalloc(1, sizeof(*up));
        return MHD_YES;
    }
    if (*data_len) {
        if (up->len + *data_len > (16u << 20))
            return MHD_NO; /* 16 MiB of body is enough for a handler */
        up->data = sv_xrealloc(up->data, up->len + *data_len + 1);
        memcpy(up->data + up->len, data, *data_len);
        up->len += *data_len;
        up->data[up->len] = '\0';
        *data_len = 0;
        return MHD_YES;
    }
    double t0 = sv_now_s();
    struct answer a = {0};
    route(c, url, method, up, &a);
    struct MHD_Response *resp = mhd.from_buffer(a.len, a.body, MHD_RESPMEM_MUST_FREE);
    mhd.add_header(resp, "Content-Type", a.type);
    if (a.allow[0])
        mhd.add_header(resp, "Allow", a.allow);
    if (F.cors) {
        mhd.add_header(resp, "Access-Control-Allow-Origin", F.cors);
        mhd.add_header(resp, "Access-Control-Allow-Methods",
                       "GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS");
        mhd.add_header(resp, "Access-Control-Allow-Headers", "*");
    }
    enum MHD_Result rc = mhd.queue(c, a.status, resp);
    mhd.destroy(resp);
    double secs = sv_now_s() - t0;
    pf_count(method, a.route, a.status, secs);
    printf("%s %s %u %.1fms\n", method, url, a.status, secs * 1000);
    fflush(stdout);
    return rc;
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx,
                    enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    struct upload *up = *ctx;
    if (up) {
        free(up->data);
        free(up);
    }
    *ctx = NULL;
}

/* ---- main ---------------------------------------------------------------------------------- */

int sv_proserve_serve(const char *manifest_json)
{
    sv_error_t err = NULL;
    if (pf_read_manifest(manifest_json, &err) < 0)
        return sv_error_report(&err);
    if (strcmp(F.mode, "micropython") == 0 || strcmp(F.mode, "arduino") == 0) {
        fprintf(stderr,
                "proserve: isolation.mode %s runs handlers on a board, which needs the board "
                "toolchains (%s) that servos does not drive yet; nothing was started\n",
                F.mode,
                strcmp(F.mode, "arduino") == 0 ? "avr-gcc, avrdude and a connected board"
                                               : "mpy-cross, a MicroPython board and its flasher");
        return 2;
    }
    if (strcmp(F.mode, "kubernetes") == 0) {
        fprintf(stderr, "proserve: isolation.mode kubernetes needs a cluster, which servos does "
                        "not drive; use container or process. Nothing was started\n");
        return 2;
    }
    F.lim.container = strcmp(F.mode, "container") == 0 || strcmp(F.mode, "docker") == 0 ||
                      strcmp(F.mode, "sandbox") == 0;
    if (load_mhd(&err) < 0 || sv_handler_init(&err) < 0)
        return sv_error_report(&err);
    pf_build_env();
    if (F.lim.private_fs) /* handlers write only their own directory */
        for (const char *d = "/tmp\0/var/tmp\0/dev/shm\0"; *d; d += strlen(d) + 1)
            chmod(d, 0711);
    json_t *portj = json_object_get(F.doc, "port");
    int port = json_is_integer(portj) ? (int)json_integer_value(portj) : 8080;
    /* In its container the service listens on every address: the stack
     * network reaches it by name, and the manifest's host:port is where
     * the published port listens on the host. */
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit: only sigwait sees them */
    F.started = time(NULL);
    struct MHD_Daemon *d =
        mhd.start(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0,
                  NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                  MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_CONNECTION_LIMIT, 1000u,
                  MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
                  MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "proserve: cannot listen on port %d: %s\n", port, strerror(errno));
        return 1;
    }
    printf("proserve: %s %s listening on port %d (%zu endpoints, isolation %s)\n", F.name,
           F.version, port, F.n_routes, F.mode);
    fflush(stdout);
    pthread_t *threads = sv_xcalloc(F.n_tasks + 1, sizeof(*threads));
    for (size_t i = 0; i < F.n_tasks; i++)
        pthread_create(&threads[i], NULL, pf_task_loop, &F.tasks[i]);
    int sig = 0;
    sigwait(&set, &sig);
    F.stopping = 1;
    printf("proserve: stopping (signal %d)\n", sig);
    fflush(stdout);
    mhd.stop(d);
    for (size_t i = 0; i < F.n_tasks; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    return 0;
}
