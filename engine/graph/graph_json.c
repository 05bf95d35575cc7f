/* The graph as JSON: what `servos config` prints, and each service's
 * canonical text, whose hash tells the reconciler to recreate a replica.
 * Keys, their order and the number format are part of that hash: a change
 * here recreates every service of every running stack after an upgrade
 * (tests/unit/test_graph.c pins one value). A key added later is written
 * only when set, so services that do not use it keep their hash. */
#include "graph/graph.h"

#include "graph/jsonfmt.h"

#include <string.h>

/* Our own keys are ASCII literals: no need to check them. */
static void obj_set(json_t *obj, const char *key, json_t *v)
{
    json_object_set_new_nocheck(obj, key, v);
}

static json_t *argv_json(const char *const *argv)
{
    if (argv == NULL)
        return json_null();
    json_t *a = json_array();
    for (; *argv; argv++)
        json_array_append_new(a, sv_jsonfmt_string(*argv));
    return a;
}

static json_t *kv_json(const struct sv_kv *kv, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        sv_jsonfmt_set(o, kv[i].key, sv_jsonfmt_string(kv[i].value));
    return o;
}

static json_t *value_json(const struct sv_value *v)
{
    switch (v ? v->kind : SV_NULL) {
    case SV_NULL:
        return json_null();
    case SV_BOOL:
        return json_boolean(v->u.b);
    case SV_INT:
        return json_integer(v->u.i);
    case SV_NUM:
        return sv_jsonfmt_real(v->u.d);
    case SV_STR:
        return sv_jsonfmt_string(v->u.s);
    case SV_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; i < v->u.list.n; i++)
            json_array_append_new(a, value_json(&v->u.list.items[i]));
        return a;
    }
    case SV_OBJECT: {
        json_t *o = json_object();
        for (size_t i = 0; i < v->u.list.n; i++)
            sv_jsonfmt_set(o, v->u.list.keys[i], value_json(&v->u.list.items[i]));
        return o;
    }
    }
    return json_null();
}

/* A count or size, null when unset (< 0, or 0 where 0 means unset). */
static json_t *limit_json(int64_t v, int64_t unset_below)
{
    return v < unset_below ? json_null() : json_integer(v);
}

static json_t *mounts_json(const struct sv_service *s)
{
    static const char *const types[] = {"volume", "bind", "tmpfs"};
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct sv_mount *m = &s->mounts[i];
        json_t *o = json_object();
        obj_set(o, "type", json_string(types[m->type]));
        obj_set(o, "source", sv_jsonfmt_string(m->source));
        obj_set(o, "target", sv_jsonfmt_string(m->target));
        obj_set(o, "read_only", json_boolean(m->read_only));
        if (m->chown)
            obj_set(o, "chown", json_true());
        if (m->options)
            obj_set(o, "options", sv_jsonfmt_string(m->options));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *ports_json(const struct sv_service *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct sv_port_spec *p = &s->ports[i];
        json_t *o = json_object();
        obj_set(o, "host_ip", sv_jsonfmt_string(p->host_ip));
        obj_set(o, "host", limit_json(p->host, 1));
        obj_set(o, "container", json_integer(p->container));
        obj_set(o, "protocol", sv_jsonfmt_string(p->protocol));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *deps_json(const struct sv_service *s)
{
    json_t *o = json_object();
    for (size_t i = 0; i < s->n_deps; i++)
        sv_jsonfmt_set(o, s->deps[i].service,
                       json_string(sv_graph_dep_condition_name(s->deps[i].condition)));
    return o;
}

static json_t *restart_json(const struct sv_service *s)
{
    if (s->restart == SV_RESTART_ON_FAILURE && s->restart_max > 0) {
        char buf[32];
        snprintf(buf, sizeof(buf), "on-failure:%d", s->restart_max);
        return json_string(buf);
    }
    return json_string(sv_restart_name(s->restart));
}

static json_t *health_json(const struct sv_health *h)
{
    if (h == NULL)
        return json_null();
    json_t *o = json_object();
    obj_set(o, "test", argv_json(h->test));
    obj_set(o, "interval_ms", json_integer(h->interval_ms));
    obj_set(o, "timeout_ms", json_integer(h->timeout_ms));
    obj_set(o, "retries", json_integer(h->retries));
    obj_set(o, "start_period_ms", json_integer(h->start_period_ms));
    return o;
}

static json_t *logging_json(const struct sv_service *s)
{
    json_t *o = json_object();
    obj_set(o, "max_size", limit_json(s->log_max_size, 1));
    obj_set(o, "max_file", limit_json(s->log_max_files, 1));
    return o;
}

/* image to healthcheck: what runs, with what, and how it is kept up. */
static void put_process(json_t *o, const struct sv_service *s, bool with_replicas)
{
    obj_set(o, "image", sv_jsonfmt_string(s->image));
    obj_set(o, "command", argv_json(s->command));
    obj_set(o, "entrypoint", argv_json(s->entrypoint));
    obj_set(o, "env", kv_json(s->env, s->n_env));
    if (with_replicas)
        obj_set(o, "replicas", json_integer(s->replicas));
    obj_set(o, "memory", limit_json(s->memory, 0));
    obj_set(o, "cpus", s->cpus < 0 ? json_null() : sv_jsonfmt_real(s->cpus));
    obj_set(o, "pids", limit_json(s->pids, 0));
    obj_set(o, "volumes", mounts_json(s));
    obj_set(o, "ports", ports_json(s));
    obj_set(o, "depends_on", deps_json(s));
    obj_set(o, "restart", restart_json(s));
    obj_set(o, "healthcheck", health_json(s->health));
}

/* working_dir to the end: the container around the process. */
static void put_container(json_t *o, const struct sv_service *s)
{
    obj_set(o, "working_dir", sv_jsonfmt_string(s->working_dir));
    obj_set(o, "user", sv_jsonfmt_string(s->user));
    obj_set(o, "hostname", sv_jsonfmt_string(s->hostname));
    obj_set(o, "read_only", json_boolean(s->read_only));
    if (s->init)
        obj_set(o, "init", json_true());
    if (s->tty)
        obj_set(o, "tty", json_true());
    if (s->stdin_open)
        obj_set(o, "stdin_open", json_true());
    obj_set(o, "cap_add", argv_json(s->cap_add));
    obj_set(o, "cap_drop", argv_json(s->cap_drop));
    obj_set(o, "stop_signal", json_string(sv_signal_name(s->stop_signal ? s->stop_signal : 15)));
    obj_set(o, "stop_grace_period_ms",
            json_integer(s->stop_grace_ms < 0 ? 10000 : s->stop_grace_ms));
    obj_set(o, "labels", kv_json(s->labels, s->n_labels));
    obj_set(o, "network", sv_jsonfmt_string(s->network));
    obj_set(o, "userns", sv_jsonfmt_string(s->userns));
    obj_set(o, "platform", sv_jsonfmt_string(s->platform));
    obj_set(o, "board", sv_jsonfmt_string(s->board));
    obj_set(o, "toolchain", sv_jsonfmt_string(s->toolchain));
    obj_set(o, "profiles", argv_json(s->profiles));
    if (s->log_max_size > 0 || s->log_max_files > 0)
        obj_set(o, "logging", logging_json(s));
    if (s->proserve)
        obj_set(o, "proserve", value_json(s->proserve));
}

static json_t *service_json(const struct sv_service *s, bool with_replicas)
{
    json_t *o = json_object();
    put_process(o, s, with_replicas);
    put_container(o, s);
    return o;
}

uint64_t sv_graph_json_hash(const struct sv_service *s)
{
    cleanup_json json_t *o = service_json(s, false);
    cleanup_free char *text = sv_jsonfmt_dumps(o, SV_JSONFMT_COMPACT);
    return sv_fnv1a(text, strlen(text));
}

void sv_graph_json_print_value(const struct sv_value *v, FILE *out)
{
    cleanup_json json_t *j = value_json(v);
    sv_jsonfmt_print(j, out, SV_JSONFMT_COMPACT);
}

/* Service by service: the whole graph as jansson values would cost more
 * than evaluating it (see sv_jsonfmt_stream). */
void sv_graph_json_print(const struct sv_graph *g, FILE *out)
{
    struct sv_jsonfmt_stream *st = sv_jsonfmt_stream_new(out);
    sv_jsonfmt_stream_put(st, "stack", sv_jsonfmt_string(g->stack));
    if (g->commit) { /* an environment repository: which one, and where it stood */
        sv_jsonfmt_stream_put(st, "source", sv_jsonfmt_string(g->source));
        sv_jsonfmt_stream_put(st, "commit", sv_jsonfmt_string(g->commit));
    }
    sv_jsonfmt_stream_open(st, "services");
    for (size_t i = 0; i < g->n_services; i++)
        sv_jsonfmt_stream_put(st, g->services[i].name, service_json(&g->services[i], true));
    sv_jsonfmt_stream_close(st);
    sv_jsonfmt_stream_open(st, "volumes");
    for (size_t i = 0; i < g->n_volumes; i++)
        sv_jsonfmt_stream_put(st, g->volumes[i].name, json_object());
    sv_jsonfmt_stream_close(st);
    sv_jsonfmt_stream_end(st);
}
