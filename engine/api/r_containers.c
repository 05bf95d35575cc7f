/* /v1/containers: `servos ls`, `run -d`, `stop`, `rm`, `exec` and `logs`
 * of containers (a stack's replicas too, by their container names). */
#include "api/api_int.h"
#include "core/json.h"
#include "runtime/ctrjson.h"

#include <errno.h>
#include <string.h>

static json_t *ctr_doc(const struct sv_ctr_row *r)
{
    cleanup_json json_t *spec = sv_ctrjson_spec(r);
    char status[64];
    sv_ctrjson_status(r, status, sizeof(status));
    return sv_ctrjson_row(r, spec, status);
}

static void list_containers(struct sv_api_req *rq)
{
    struct sv_ctr_row *rows = NULL;
    size_t n = 0;
    sv_error_t err = NULL;
    if (sv_store_list(loop_store(), &rows, &n, &err) < 0) {
        sv_api_reply_error(rq, 500, "failed", "%s", err->msg);
        sv_error_free(&err);
        return;
    }
    const char *stack = sv_api_query(rq, "stack");
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        if (stack == NULL || (rows[i].stack && strcmp(rows[i].stack, stack) == 0))
            json_array_append_new(out, ctr_doc(&rows[i]));
    sv_ctr_rows_free(rows, n);
    sv_api_reply_json(rq, 200, out);
}

/* The container {id} names (a name or a unique id prefix), else an
 * answered 404 and -1. */
static int find(struct sv_api_req *rq, struct sv_ctr_row *r)
{
    sv_error_t err = NULL;
    if (sv_store_find(loop_store(), sv_api_param(rq, "id"), r, &err) == 0)
        return 0;
    if (err->status == ENOENT)
        sv_api_reply_error(rq, 404, "not_found",
                           "no container \"%s\" (GET /v1/containers "
                           "lists them)",
                           sv_api_param(rq, "id"));
    else
        sv_api_reply_error(rq, 400, "bad_request", "%s", err->msg);
    sv_error_free(&err);
    return -1;
}

static void get_container(struct sv_api_req *rq)
{
    cleanup_row struct sv_ctr_row r = {0};
    if (find(rq, &r) == 0)
        sv_api_reply_json(rq, 200, ctr_doc(&r));
}

/* ---- run -------------------------------------------------------------------------- */

struct argv_b {
    char **v;
    size_t n;
};

static void add(struct argv_b *b, const char *s)
{
    b->v = sv_xrealloc(b->v, (b->n + 2) * sizeof(*b->v));
    b->v[b->n++] = sv_xstrdup(s);
    b->v[b->n] = NULL;
}

/* A key of the body as the run option flag: a string, number or boolean
 * once; an array's items each (repeatable options); an object's members
 * as KEY=VALUE (env, labels). */
static int add_option(struct argv_b *b, const char *flag, json_t *v, sv_error_t *err)
{
    if (json_is_true(v)) {
        add(b, flag);
        return 0;
    }
    if (json_is_false(v) || json_is_null(v))
        return 0;
    if (json_is_string(v) || json_is_number(v)) {
        cleanup_free char *text = json_is_string(v) ? sv_xstrdup(json_string_value(v))
                                  : json_is_integer(v)
                                      ? sv_xasprintf("%lld", (long long)json_integer_value(v))
                                      : sv_xasprintf("%g", json_real_value(v));
        add(b, flag);
        add(b, text);
        return 0;
    }
    size_t i;
    json_t *item;
    if (json_is_array(v)) {
        json_array_foreach(v, i, item)
        {
            if (!json_is_string(item) && !json_is_number(item))
                return sv_error(err, 0, "%s: each item must be a string", flag + 2);
            if (add_option(b, flag, item, err) < 0)
                return -1;
        }
        return 0;
    }
    const char *k;
    json_object_foreach(v, k, item)
    {
        if (!json_is_string(item))
            return sv_error(err, 0, "%s: \"%s\" must be a string", flag + 2, k);
        cleanup_free char *kv = sv_xasprintf("%s=%s", k, json_string_value(item));
        add(b, flag);
        add(b, kv);
    }
    return 0;
}

/* Body keys and the `servos run` flags they stand for. */
static const char *const run_keys[][2] = {
    {"name", "--name"},
    {"hostname", "--hostname"},
    {"memory", "--memory"},
    {"cpus", "--cpus"},
    {"pids", "--pids"},
    {"layer_size", "--layer-size"},
    {"volumes", "--volume"},
    {"env", "--env"},
    {"env_file", "--env-file"},
    {"workdir", "--workdir"},
    {"user", "--user"},
    {"log_opts", "--log-opt"},
    {"init", "--init"},
    {"network", "--network"},
    {"read_only", "--read-only"},
    {"cap_add", "--cap-add"},
    {"cap_drop", "--cap-drop"},
    {"userns", "--userns"},
    {"security_opt", "--security-opt"},
    {"entrypoint", "--entrypoint"},
    {"pull", "--pull"},
    {"ports", "--publish"},
    {"tmpfs", "--tmpfs"},
    {"labels", "--label"},
    {"restart", "--restart"},
    {"stop_signal", "--stop-signal"},
    {"stop_timeout", "--stop-timeout"},
    {"remove", "--rm"},
};

static int run_argv(json_t *b, struct argv_b *out, sv_error_t *err)
{
    add(out, "run");
    add(out, "-d");
    for (size_t i = 0; i < SV_ARRAY_LEN(run_keys); i++) {
        json_t *v = json_object_get(b, run_keys[i][0]);
        if (v && add_option(out, run_keys[i][1], v, err) < 0)
            return -1;
    }
    const char *image = json_string_value(json_object_get(b, "image"));
    if (image == NULL || *image == '\0' || *image == '-')
        return sv_error(err, 0,
                        "run wants \"image\": host, a root file system's path or "
                        "an image reference");
    add(out, image);
    json_t *cmd = json_object_get(b, "command");
    size_t i;
    json_t *item;
    if (json_is_string(cmd)) {
        add(out, "/bin/sh");
        add(out, "-c");
        add(out, json_string_value(cmd));
    } else if (json_is_array(cmd)) {
        json_array_foreach(cmd, i, item)
        {
            if (!json_is_string(item))
                return sv_error(err, 0, "\"command\" must be a list of strings");
            add(out, json_string_value(item));
        }
    } else if (cmd && !json_is_null(cmd)) {
        return sv_error(err, 0,
                        "\"command\" must be a list of strings, or a string for "
                        "/bin/sh -c");
    }
    return 0;
}

static json_t *ran(struct sv_api_req *rq, const char *out, size_t len)
{
    cleanup_free char *id = sv_xstrndup(out, strcspn(out, "\n") < len ? strcspn(out, "\n") : len);
    cleanup_row struct sv_ctr_row r = {0};
    sv_error_t err = NULL;
    if (sv_store_find(loop_store(), id, &r, &err) < 0) {
        sv_error_free(&err);
        json_t *doc = json_object();
        sv_json_set(doc, "id", sv_json_string(id));
        return doc;
    }
    return ctr_doc(&r);
}

static void run_container(struct sv_api_req *rq)
{
    static const char *keys[SV_ARRAY_LEN(run_keys) + 3];
    for (size_t i = 0; i < SV_ARRAY_LEN(run_keys); i++)
        keys[i] = run_keys[i][0];
    keys[SV_ARRAY_LEN(run_keys)] = "image";
    keys[SV_ARRAY_LEN(run_keys) + 1] = "command";
    cleanup_json json_t *b = sv_api_body_object(rq, keys);
    if (b == NULL)
        return;
    struct argv_b argv = {0};
    sv_error_t err = NULL;
    if (run_argv(b, &argv, &err) < 0) {
        sv_api_reply_error(rq, 400, "bad_request", "%s", err->msg);
        sv_error_free(&err);
    } else {
        rjob_run(rq, argv.v, NULL, NULL, ran);
    }
    sv_strv_free(argv.v);
}

/* ---- stop, rm ---------------------------------------------------------------------- */

/* After stop: the container as it is now. */
static json_t *stopped(struct sv_api_req *rq, const char *out, size_t len)
{
    cleanup_row struct sv_ctr_row r = {0};
    sv_error_t err = NULL;
    if (sv_store_find(loop_store(), sv_api_param(rq, "id"), &r, &err) < 0) {
        sv_error_free(&err);
        return json_pack("{s:s%}", "id", out, strcspn(out, "\n"));
    }
    return ctr_doc(&r);
}

static json_t *removed(struct sv_api_req *rq, const char *out, size_t len)
{
    return json_pack("{s:s%,s:b}", "id", out, strcspn(out, "\n"), "removed", 1);
}

static void stop_container(struct sv_api_req *rq)
{
    cleanup_row struct sv_ctr_row r = {0};
    if (find(rq, &r) < 0)
        return;
    const char *t = sv_api_query(rq, "timeout");
    char *argv[] = {"stop", t ? "-t" : r.id, t ? (char *)t : NULL, t ? r.id : NULL, NULL};
    rjob_run(rq, argv, NULL, NULL, stopped);
}

static void rm_container(struct sv_api_req *rq)
{
    cleanup_row struct sv_ctr_row r = {0};
    if (find(rq, &r) < 0)
        return;
    if (r.stack && !sv_api_query_flag(rq, "force")) {
        sv_api_reply_error(rq, 409, "conflict",
                           "%s is a replica of stack %s: its supervisor would start it again "
                           "(scale the service, or take the stack down)",
                           r.name, r.stack);
        return;
    }
    char *argv[] = {"rm", sv_api_query_flag(rq, "force") ? "-f" : r.id,
                    sv_api_query_flag(rq, "force") ? r.id : NULL, NULL};
    rjob_run(rq, argv, NULL, NULL, removed);
}

/* ---- logs --------------------------------------------------------------------------- */

static void container_logs(struct sv_api_req *rq)
{
    cleanup_row struct sv_ctr_row r = {0};
    if (find(rq, &r) < 0)
        return;
    struct logsel sel = {0};
    if (r.stack) { /* a replica: its stack's log */
        sel.stack = r.stack;
        sel.service = r.service;
        sel.replica = r.replica;
    } else {
        sel.container_id = r.id;
        sel.container_name = r.name;
    }
    logfeed_serve(rq, &sel);
}

void r_exec(struct sv_api_req *rq);

static const struct sv_api_route routes[] = {
    {"GET", "/v1/containers", list_containers, 0, 0},
    {"POST", "/v1/containers", run_container, SV_API_WRITE, 0},
    {"GET", "/v1/containers/{id}", get_container, 0, 0},
    {"DELETE", "/v1/containers/{id}", rm_container, SV_API_WRITE, 0},
    {"POST", "/v1/containers/{id}/stop", stop_container, SV_API_WRITE, 0},
    {"POST", "/v1/containers/{id}/exec", r_exec, SV_API_WRITE, 0},
    {"GET", "/v1/containers/{id}/logs", container_logs, 0, 0},
};

void r_containers_register(void)
{
    sv_api_routes_add(routes, SV_ARRAY_LEN(routes));
}
