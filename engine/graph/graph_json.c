/* The graph as JSON: what `servos config` prints, and each service's
 * canonical text, whose hash tells the reconciler to recreate a replica.
 * Keys, their order and the number format are part of that hash: a change
 * here recreates every service of every running stack after an upgrade
 * (tests/unit/test_graph.c pins one value). A key added later is written
 * only when set, so services that do not use it keep their hash. */
#include "graph/graph.h"

#include "core/json.h"

#include <string.h>

static void argv_put(struct sv_jw *w, const char *const *argv)
{
    if (argv == NULL) {
        sv_jw_null(w);
        return;
    }
    sv_jw_array(w);
    for (; *argv; argv++)
        sv_jw_string(w, *argv);
    sv_jw_close(w);
}

static void kv_put(struct sv_jw *w, const struct sv_kv *kv, size_t n)
{
    sv_jw_object(w);
    for (size_t i = 0; i < n; i++) {
        sv_jw_key(w, kv[i].key);
        sv_jw_string(w, kv[i].value);
    }
    sv_jw_close(w);
}

static void value_put(struct sv_jw *w, const struct sv_value *v)
{
    switch (v ? v->kind : SV_NULL) {
    case SV_NULL:
        sv_jw_null(w);
        break;
    case SV_BOOL:
        sv_jw_bool(w, v->u.b);
        break;
    case SV_INT:
        sv_jw_int(w, v->u.i);
        break;
    case SV_NUM:
        sv_jw_real(w, v->u.d);
        break;
    case SV_STR:
        sv_jw_string(w, v->u.s);
        break;
    case SV_ARRAY:
        sv_jw_array(w);
        for (size_t i = 0; i < v->u.list.n; i++)
            value_put(w, &v->u.list.items[i]);
        sv_jw_close(w);
        break;
    case SV_OBJECT:
        sv_jw_object(w);
        for (size_t i = 0; i < v->u.list.n; i++) {
            sv_jw_key(w, v->u.list.keys[i]);
            value_put(w, &v->u.list.items[i]);
        }
        sv_jw_close(w);
        break;
    }
}

/* A count or size, null when unset (< 0, or 0 where 0 means unset). */
static void limit_put(struct sv_jw *w, int64_t v, int64_t unset_below)
{
    if (v < unset_below)
        sv_jw_null(w);
    else
        sv_jw_int(w, v);
}

static void key_string(struct sv_jw *w, const char *key, const char *value)
{
    sv_jw_key(w, key);
    sv_jw_string(w, value);
}

static void key_int(struct sv_jw *w, const char *key, long long value)
{
    sv_jw_key(w, key);
    sv_jw_int(w, value);
}

static void key_limit(struct sv_jw *w, const char *key, int64_t v, int64_t unset_below)
{
    sv_jw_key(w, key);
    limit_put(w, v, unset_below);
}

static void key_true(struct sv_jw *w, const char *key)
{
    sv_jw_key(w, key);
    sv_jw_bool(w, true);
}

static void mounts_put(struct sv_jw *w, const struct sv_service *s)
{
    static const char *const types[] = {"volume", "bind", "tmpfs"};
    sv_jw_array(w);
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct sv_mount *m = &s->mounts[i];
        sv_jw_object(w);
        key_string(w, "type", types[m->type]);
        key_string(w, "source", m->source);
        key_string(w, "target", m->target);
        sv_jw_key(w, "read_only");
        sv_jw_bool(w, m->read_only);
        if (m->chown)
            key_true(w, "chown");
        if (m->options)
            key_string(w, "options", m->options);
        sv_jw_close(w);
    }
    sv_jw_close(w);
}

static void ports_put(struct sv_jw *w, const struct sv_service *s)
{
    sv_jw_array(w);
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct sv_port_spec *p = &s->ports[i];
        sv_jw_object(w);
        key_string(w, "host_ip", p->host_ip);
        key_limit(w, "host", p->host, 1);
        key_int(w, "container", p->container);
        key_string(w, "protocol", p->protocol);
        sv_jw_close(w);
    }
    sv_jw_close(w);
}

static void deps_put(struct sv_jw *w, const struct sv_service *s)
{
    sv_jw_object(w);
    for (size_t i = 0; i < s->n_deps; i++)
        key_string(w, s->deps[i].service, sv_graph_dep_condition_name(s->deps[i].condition));
    sv_jw_close(w);
}

static void restart_put(struct sv_jw *w, const struct sv_service *s)
{
    if (s->restart == SV_RESTART_ON_FAILURE && s->restart_max > 0) {
        char buf[32];
        snprintf(buf, sizeof(buf), "on-failure:%d", s->restart_max);
        sv_jw_string(w, buf);
        return;
    }
    sv_jw_string(w, sv_restart_name(s->restart));
}

static void health_put(struct sv_jw *w, const struct sv_health *h)
{
    if (h == NULL) {
        sv_jw_null(w);
        return;
    }
    sv_jw_object(w);
    sv_jw_key(w, "test");
    argv_put(w, h->test);
    key_int(w, "interval_ms", h->interval_ms);
    key_int(w, "timeout_ms", h->timeout_ms);
    key_int(w, "retries", h->retries);
    key_int(w, "start_period_ms", h->start_period_ms);
    sv_jw_close(w);
}

/* image to healthcheck: what runs, with what, and how it is kept up. */
static void put_process(struct sv_jw *w, const struct sv_service *s, bool with_replicas)
{
    key_string(w, "image", s->image);
    sv_jw_key(w, "command");
    argv_put(w, s->command);
    sv_jw_key(w, "entrypoint");
    argv_put(w, s->entrypoint);
    sv_jw_key(w, "env");
    kv_put(w, s->env, s->n_env);
    if (with_replicas)
        key_int(w, "replicas", s->replicas);
    key_limit(w, "memory", s->memory, 0);
    sv_jw_key(w, "cpus");
    if (s->cpus < 0)
        sv_jw_null(w);
    else
        sv_jw_real(w, s->cpus);
    key_limit(w, "pids", s->pids, 0);
    sv_jw_key(w, "volumes");
    mounts_put(w, s);
    sv_jw_key(w, "ports");
    ports_put(w, s);
    sv_jw_key(w, "depends_on");
    deps_put(w, s);
    sv_jw_key(w, "restart");
    restart_put(w, s);
    sv_jw_key(w, "healthcheck");
    health_put(w, s->health);
}

/* Secrets and configs as mounted: never their content. For the hash
 * (digest), a hash of the content too, so that a changed secret makes new
 * replicas. */
static void files_put(struct sv_jw *w, const struct sv_service *s, bool config, bool digest)
{
    sv_jw_key(w, config ? "configs" : "secrets");
    sv_jw_array(w);
    for (size_t i = 0; i < s->n_files; i++) {
        const struct sv_file_ref *f = &s->files[i];
        if (f->config != config)
            continue;
        sv_jw_object(w);
        key_string(w, "source", f->source);
        key_string(w, "target", f->target);
        key_int(w, "uid", f->uid);
        key_int(w, "gid", f->gid);
        char mode[8];
        snprintf(mode, sizeof(mode), "%04o", f->mode);
        key_string(w, "mode", mode);
        if (digest && f->def) {
            char hex[17];
            snprintf(hex, sizeof(hex), "%016llx",
                     (unsigned long long)sv_fnv1a(f->def->data, f->def->len));
            key_string(w, "digest", hex);
        }
        sv_jw_close(w);
    }
    sv_jw_close(w);
}

/* The keys of Compose projects beyond the first ones: each written only
 * when set (see the top of this file). */
static void put_compose(struct sv_jw *w, const struct sv_service *s, bool digest)
{
    if (s->container_name)
        key_string(w, "container_name", s->container_name);
    if (s->n_networks) {
        sv_jw_key(w, "networks");
        sv_jw_object(w);
        for (size_t i = 0; i < s->n_networks; i++) {
            sv_jw_key(w, s->networks[i].network);
            sv_jw_object(w);
            sv_jw_key(w, "aliases");
            argv_put(w, s->networks[i].aliases);
            sv_jw_close(w);
        }
        sv_jw_close(w);
    }
    bool secrets = false, configs = false;
    for (size_t i = 0; i < s->n_files; i++)
        *(s->files[i].config ? &configs : &secrets) = true;
    if (secrets)
        files_put(w, s, false, digest);
    if (configs)
        files_put(w, s, true, digest);
    if (s->n_sysctls) {
        sv_jw_key(w, "sysctls");
        kv_put(w, s->sysctls, s->n_sysctls);
    }
    if (s->n_devices) {
        sv_jw_key(w, "devices");
        sv_jw_array(w);
        for (size_t i = 0; i < s->n_devices; i++) {
            sv_jw_object(w);
            key_string(w, "source", s->devices[i].source);
            key_string(w, "target", s->devices[i].target);
            key_string(w, "permissions", s->devices[i].access);
            sv_jw_close(w);
        }
        sv_jw_close(w);
    }
    if (s->n_extra_hosts) {
        sv_jw_key(w, "extra_hosts");
        sv_jw_array(w);
        for (size_t i = 0; i < s->n_extra_hosts; i++) {
            sv_jw_object(w);
            key_string(w, "host", s->extra_hosts[i].key);
            key_string(w, "ip", s->extra_hosts[i].value);
            sv_jw_close(w);
        }
        sv_jw_close(w);
    }
}

/* working_dir to the end: the container around the process. */
static void put_container(struct sv_jw *w, const struct sv_service *s)
{
    key_string(w, "working_dir", s->working_dir);
    key_string(w, "user", s->user);
    key_string(w, "hostname", s->hostname);
    sv_jw_key(w, "read_only");
    sv_jw_bool(w, s->read_only);
    if (s->init)
        key_true(w, "init");
    if (s->tty)
        key_true(w, "tty");
    if (s->stdin_open)
        key_true(w, "stdin_open");
    sv_jw_key(w, "cap_add");
    argv_put(w, s->cap_add);
    sv_jw_key(w, "cap_drop");
    argv_put(w, s->cap_drop);
    key_string(w, "stop_signal", sv_signal_name(s->stop_signal ? s->stop_signal : 15));
    key_int(w, "stop_grace_period_ms", s->stop_grace_ms < 0 ? 10000 : s->stop_grace_ms);
    sv_jw_key(w, "labels");
    kv_put(w, s->labels, s->n_labels);
    key_string(w, "network", s->network);
    key_string(w, "userns", s->userns);
    key_string(w, "platform", s->platform);
    key_string(w, "board", s->board);
    key_string(w, "toolchain", s->toolchain);
    sv_jw_key(w, "profiles");
    argv_put(w, s->profiles);
    if (s->log_max_size > 0 || s->log_max_files > 0) {
        sv_jw_key(w, "logging");
        sv_jw_object(w);
        key_limit(w, "max_size", s->log_max_size, 1);
        key_limit(w, "max_file", s->log_max_files, 1);
        sv_jw_close(w);
    }
    if (s->proserve) {
        sv_jw_key(w, "proserve");
        value_put(w, s->proserve);
    }
    if (s->build) {
        sv_jw_key(w, "build");
        sv_jw_object(w);
        key_string(w, "context", s->build->context);
        key_string(w, "dockerfile", s->build->dockerfile);
        key_string(w, "target", s->build->target);
        sv_jw_key(w, "args");
        kv_put(w, s->build->args, s->build->n_args);
        sv_jw_close(w);
    }
}

static void service_put(struct sv_jw *w, const struct sv_service *s, bool with_replicas)
{
    sv_jw_object(w);
    put_process(w, s, with_replicas);
    put_container(w, s);
    put_compose(w, s, !with_replicas);
    sv_jw_close(w);
}

uint64_t sv_graph_json_hash(const struct sv_service *s)
{
    struct sv_jw *w = sv_jw_new(NULL, SV_JSON_COMPACT);
    service_put(w, s, false);
    cleanup_free char *text = sv_jw_end(w);
    return sv_fnv1a(text, strlen(text));
}

void sv_graph_json_print_value(const struct sv_value *v, FILE *out)
{
    struct sv_jw *w = sv_jw_new(out, SV_JSON_COMPACT);
    value_put(w, v);
    sv_jw_end(w);
}

static void top_networks_put(struct sv_jw *w, const struct sv_graph *g)
{
    if (g->n_networks == 0)
        return;
    sv_jw_key(w, "networks");
    sv_jw_object(w);
    for (size_t i = 0; i < g->n_networks; i++) {
        sv_jw_key(w, g->networks[i].name);
        sv_jw_object(w);
        sv_jw_key(w, "internal");
        sv_jw_bool(w, g->networks[i].internal);
        sv_jw_close(w);
    }
    sv_jw_close(w);
}

/* Where each secret or config comes from, never what it holds. */
static void top_files_put(struct sv_jw *w, const struct sv_graph *g, bool config)
{
    bool any = false;
    for (size_t i = 0; i < g->n_files; i++)
        any |= g->files[i].config == config;
    if (!any)
        return;
    sv_jw_key(w, config ? "configs" : "secrets");
    sv_jw_object(w);
    for (size_t i = 0; i < g->n_files; i++) {
        const struct sv_filedef *f = &g->files[i];
        if (f->config != config)
            continue;
        sv_jw_key(w, f->name);
        sv_jw_object(w);
        if (f->file)
            key_string(w, "file", f->file);
        else if (f->env)
            key_string(w, "environment", f->env);
        else
            key_string(w, "content", "(not shown)");
        sv_jw_close(w);
    }
    sv_jw_close(w);
}

/* Written as it goes: the whole graph as jansson values first would cost
 * more than evaluating it. */
void sv_graph_json_print(const struct sv_graph *g, FILE *out)
{
    struct sv_jw *w = sv_jw_new(out, SV_JSON_PRETTY);
    sv_jw_object(w);
    key_string(w, "stack", g->stack);
    if (g->commit) { /* an environment repository: which one, and where it stood */
        key_string(w, "source", g->source);
        key_string(w, "commit", g->commit);
    }
    sv_jw_key(w, "services");
    sv_jw_object(w);
    for (size_t i = 0; i < g->n_services; i++) {
        sv_jw_key(w, g->services[i].name);
        service_put(w, &g->services[i], true);
    }
    sv_jw_close(w);
    sv_jw_key(w, "volumes");
    sv_jw_object(w);
    for (size_t i = 0; i < g->n_volumes; i++) {
        sv_jw_key(w, g->volumes[i].name);
        sv_jw_object(w);
        sv_jw_close(w);
    }
    sv_jw_close(w);
    top_networks_put(w, g);
    top_files_put(w, g, false);
    top_files_put(w, g, true);
    sv_jw_close(w);
    sv_jw_end(w);
}
