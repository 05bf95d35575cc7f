/* /v1/stacks: what `servos ps`, `apply`, `down`, `scale`, `restart` and
 * `pull` do, over HTTP. Reads are answered here, from the store and the
 * stack's files, at once; changes run as the CLI's own commands (jobs),
 * so a stack changed through the API is one the CLI sees, and the other
 * way round. */
#include "api/api_int.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/statedir.h"
#include "lua/load.h"
#include "stack/client.h"
#include "stack/ps.h"
#include "stack/select.h"

#include <dirent.h>
#include <string.h>

/* ---- reading ------------------------------------------------------------------- */

/* The stack's saved source (the first field of its request): a path or
 * a git source; NULL when it has none. */
static char *stack_source(const char *stack)
{
    cleanup_free char *dir = sv_statedir_stack(stack);
    cleanup_free char *path = sv_xasprintf("%s/request", dir);
    char *buf = NULL;
    sv_error_t err = NULL;
    if (sv_read_file(path, 1 << 20, &buf, NULL, &err) < 0) {
        sv_error_free(&err);
        return NULL;
    }
    if (*buf == '\0') {
        free(buf);
        return NULL;
    }
    return buf; /* NUL-separated: the first field is the string */
}

/* graph.json, which the supervisor writes after each reconcile. */
static json_t *stack_graph(const char *stack)
{
    cleanup_free char *dir = sv_statedir_stack(stack);
    cleanup_free char *path = sv_xasprintf("%s/graph.json", dir);
    json_t *g = json_load_file(path, 0, NULL);
    return g ? g : json_null();
}

/* Per service: replicas wanted (the graph's), running, healthy. */
static json_t *services_summary(json_t *graph, const struct sv_ps *ps)
{
    json_t *out = json_object();
    json_t *svcs = json_object_get(graph, "services");
    const char *name;
    json_t *s;
    json_object_foreach(svcs, name, s)
    {
        json_t *o = json_object();
        json_object_set(o, "desired", json_object_get(s, "replicas"));
        json_object_set_new(out, name, o);
    }
    for (size_t i = 0; i < ps->rows.n; i++) {
        const struct sv_ps_replica *p = &ps->v[i];
        json_t *o = json_object_get(out, p->row->service);
        if (o == NULL) {
            o = json_object();
            json_object_set_new(o, "desired", json_null());
            json_object_set_new(out, p->row->service, o);
        }
        json_int_t running = json_integer_value(json_object_get(o, "running"));
        json_int_t healthy = json_integer_value(json_object_get(o, "healthy"));
        json_int_t restarts = json_integer_value(json_object_get(o, "restarts"));
        json_object_set_new(o, "running", json_integer(running + p->running));
        json_object_set_new(o, "healthy",
                            json_integer(healthy + (strcmp(p->row->health, "healthy") == 0)));
        json_object_set_new(o, "restarts", json_integer(restarts + p->row->restarts));
    }
    json_object_foreach(out, name, s)
    {
        if (!json_object_get(s, "running"))
            json_object_set_new(s, "running", json_integer(0));
        if (!json_object_get(s, "healthy"))
            json_object_set_new(s, "healthy", json_integer(0));
        if (!json_object_get(s, "restarts"))
            json_object_set_new(s, "restarts", json_integer(0));
    }
    return out;
}

json_t *rstack_doc(const char *stack, bool full, sv_error_t *err)
{
    cleanup_ps struct sv_ps ps = {0};
    if (sv_ps_collect_in(loop_store(), pscache_known(), stack, &ps, err) < 0)
        return NULL;
    json_t *graph = stack_graph(stack);
    json_t *doc = json_object();
    cleanup_free char *source = stack_source(stack);
    sv_json_set(doc, "name", sv_json_string(stack));
    json_object_set_new(doc, "supervisor", json_boolean(sv_client_supervisor_alive(stack)));
    json_object_set_new(doc, "source", rjson_str(source));
    json_object_set_new(doc, "commit", ps.from_git ? json_string(ps.commit) : json_null());
    json_object_set_new(doc, "services", services_summary(graph, &ps));
    if (full) {
        json_object_set_new(doc, "graph", graph);
        json_object_set_new(doc, "replicas", sv_ps_json(&ps));
    } else {
        json_decref(graph);
        json_t *counts = json_object();
        size_t running = 0;
        for (size_t i = 0; i < ps.rows.n; i++)
            running += ps.v[i].running;
        json_object_set_new(counts, "total", json_integer((json_int_t)ps.rows.n));
        json_object_set_new(counts, "running", json_integer((json_int_t)running));
        json_object_set_new(doc, "replicas", counts);
    }
    return doc;
}

/* Stack names: their state directories, and replicas' rows. */
static json_t *stack_names(void)
{
    json_t *names = json_object();
    cleanup_free char *root = sv_xasprintf("%s/stacks", sv_state_root());
    cleanup_closedir DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.' && sv_load_valid_stack_name(e->d_name))
            json_object_set_new(names, e->d_name, json_true());
    struct sv_ctr_row *rows = NULL;
    size_t n = 0;
    sv_error_t err = NULL;
    if (sv_store_list(loop_store(), &rows, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            if (rows[i].stack && sv_load_valid_stack_name(rows[i].stack))
                json_object_set_new(names, rows[i].stack, json_true());
        sv_ctr_rows_free(rows, n);
    }
    sv_error_free(&err);
    return names;
}

static void list_stacks(struct sv_api_req *rq)
{
    cleanup_json json_t *names = stack_names();
    json_t *out = json_array();
    const char *name;
    json_t *v;
    json_object_foreach(names, name, v)
    {
        sv_error_t err = NULL;
        json_t *doc = rstack_doc(name, false, &err);
        if (doc)
            json_array_append_new(out, doc);
        sv_error_free(&err);
    }
    sv_api_reply_json(rq, 200, out);
}

/* The {name} of the path, for a stack that exists (else a 404, said as
 * the CLI says it, and NULL). */
const char *rstack_known(struct sv_api_req *rq)
{
    const char *name = sv_api_param(rq, "name");
    sv_error_t err = NULL;
    if (!sv_load_valid_stack_name(name)) {
        sv_api_reply_error(rq, 404, "not_found", "\"%s\" is not a valid stack name", name);
        return NULL;
    }
    if (!sv_select_exists(name)) {
        sv_select_no_such(name, &err);
        sv_api_reply_error(rq, 404, "not_found", "%s", err->msg);
        sv_error_free(&err);
        return NULL;
    }
    return name;
}

static void get_stack(struct sv_api_req *rq)
{
    const char *name = rstack_known(rq);
    if (name == NULL)
        return;
    sv_error_t err = NULL;
    json_t *doc = rstack_doc(name, true, &err);
    if (doc == NULL) {
        sv_api_reply_error(rq, 500, "failed", "%s", err->msg);
        sv_error_free(&err);
        return;
    }
    sv_api_reply_json(rq, 200, doc);
}

/* ---- changing ------------------------------------------------------------------- */

/* What the API uploaded for the stack goes with it. */
static json_t *down_done(struct sv_api_req *rq, const char *out, size_t len)
{
    cleanup_free char *upload =
        sv_xasprintf("%s/api/stacks/%s", sv_state_root(), sv_api_param(rq, "name"));
    sv_rmtree(upload, NULL);
    json_t *doc = json_object();
    cleanup_free char *text = sv_xstrndup(out, len);
    sv_json_set(doc, "output", sv_json_string(text));
    return doc;
}

static void down_stack(struct sv_api_req *rq)
{
    const char *name = rstack_known(rq);
    if (name == NULL)
        return;
    const char *t = sv_api_query(rq, "timeout");
    char *end = NULL;
    long secs = t ? strtol(t, &end, 10) : -1;
    if (t && (*t == '\0' || *end || secs < 0 || secs > 86400)) {
        sv_api_reply_error(rq, 400, "bad_request", "timeout is whole seconds, not \"%s\"", t);
        return;
    }
    char ts[32];
    snprintf(ts, sizeof(ts), "%ld", secs);
    char *argv[8] = {"down", "-p", (char *)name};
    int n = 3;
    if (sv_api_query_flag(rq, "volumes"))
        argv[n++] = "-v";
    if (t) {
        argv[n++] = "-t";
        argv[n++] = ts;
    }
    argv[n] = NULL;
    rjob_run(rq, argv, NULL, NULL, down_done);
}

static void scale_stack(struct sv_api_req *rq)
{
    const char *name = rstack_known(rq);
    if (name == NULL)
        return;
    static const char *const keys[] = {"service", "replicas", NULL};
    cleanup_json json_t *b = sv_api_body_object(rq, keys);
    if (b == NULL)
        return;
    const char *svc = json_string_value(json_object_get(b, "service"));
    json_t *n = json_object_get(b, "replicas");
    if (svc == NULL || *svc == '\0' || !json_is_integer(n) || json_integer_value(n) < 0 ||
        json_integer_value(n) > 1000) {
        sv_api_reply_error(rq, 400, "bad_request",
                           "scale wants {\"service\": NAME, \"replicas\": N} with N from 0 to "
                           "1000");
        return;
    }
    cleanup_free char *arg = sv_xasprintf("%s=%lld", svc, (long long)json_integer_value(n));
    char *argv[] = {"scale", "-p", (char *)name, arg, NULL};
    rjob_run(rq, argv, NULL, NULL, NULL);
}

static void restart_stack(struct sv_api_req *rq)
{
    const char *name = rstack_known(rq);
    if (name == NULL)
        return;
    static const char *const keys[] = {"service", NULL};
    cleanup_json json_t *b = sv_api_body_object(rq, keys);
    if (b == NULL)
        return;
    const char *svc = json_string_value(json_object_get(b, "service"));
    if (svc == NULL || *svc == '\0') {
        sv_api_reply_error(rq, 400, "bad_request", "restart wants {\"service\": NAME}");
        return;
    }
    char *argv[] = {"restart", "-p", (char *)name, (char *)svc, NULL};
    rjob_run(rq, argv, NULL, NULL, NULL);
}

static void pull_stack(struct sv_api_req *rq)
{
    const char *name = rstack_known(rq);
    if (name == NULL)
        return;
    char *argv[] = {"pull", (char *)name, NULL};
    rjob_run(rq, argv, NULL, NULL, NULL);
}

static void stack_logs(struct sv_api_req *rq)
{
    const char *name = rstack_known(rq);
    if (name == NULL)
        return;
    struct logsel sel = {.stack = name, .service = sv_api_query(rq, "service")};
    const char *rep = sv_api_query(rq, "replica");
    if (rep) {
        char *end;
        long r = strtol(rep, &end, 10);
        if (*rep == '\0' || *end || r < 1) {
            sv_api_reply_error(rq, 400, "bad_request", "replica is a number from 1, not \"%s\"",
                               rep);
            return;
        }
        sel.replica = (int)r;
    }
    logfeed_serve(rq, &sel);
}

void r_apply(struct sv_api_req *rq);

static const struct sv_api_route routes[] = {
    {"GET", "/v1/stacks", list_stacks, 0, 0},
    {"POST", "/v1/stacks", r_apply, SV_API_WRITE, 16u << 20},
    {"GET", "/v1/stacks/{name}", get_stack, 0, 0},
    {"PUT", "/v1/stacks/{name}", r_apply, SV_API_WRITE, 16u << 20},
    {"DELETE", "/v1/stacks/{name}", down_stack, SV_API_WRITE, 0},
    {"POST", "/v1/stacks/{name}/scale", scale_stack, SV_API_WRITE, 0},
    {"POST", "/v1/stacks/{name}/restart", restart_stack, SV_API_WRITE, 0},
    {"POST", "/v1/stacks/{name}/pull", pull_stack, SV_API_WRITE, 0},
    {"GET", "/v1/stacks/{name}/logs", stack_logs, 0, 0},
};

void r_stacks_register(void)
{
    sv_api_routes_add(routes, SV_ARRAY_LEN(routes));
}
