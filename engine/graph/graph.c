#include "graph/graph.h"

#include "core/bulkmem.h"
#include "core/json.h"

#include <stdlib.h>
#include <string.h>

/* A bump allocator: a graph of 10,000 services makes ~200,000 small
 * allocations that all die together. Chunks come zeroed from
 * sv_chunk_alloc and are never reused, so allocations need no memset. */
struct sv_arena_chunk {
    struct sv_arena_chunk *next;
    size_t used, size;
    max_align_t data[];
};
struct sv_arena {
    struct sv_arena_chunk *head;
};

void *sv_graph_alloc(struct sv_graph *g, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    struct sv_arena_chunk *c = g->arena->head;
    if (c == NULL || c->used + n > c->size) {
        size_t total = sizeof(*c) + n > SV_CHUNK_SIZE ? sizeof(*c) + n : SV_CHUNK_SIZE;
        c = sv_chunk_alloc(total, !sv_bulkmem_lean || g->arena->head != NULL);
        if (c == NULL)
            sv_oom();
        c->size = ((total + SV_CHUNK_SIZE - 1) & ~(SV_CHUNK_SIZE - 1)) - sizeof(*c);
        c->next = g->arena->head;
        g->arena->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    return p;
}

const char *sv_graph_strndup(struct sv_graph *g, const char *s, size_t n)
{
    char *p = sv_graph_alloc(g, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

const char *sv_graph_strdup(struct sv_graph *g, const char *s)
{
    return s ? sv_graph_strndup(g, s, strlen(s)) : NULL;
}

struct sv_graph *sv_graph_new(void)
{
    struct sv_graph *g = sv_xcalloc(1, sizeof(*g));
    g->arena = sv_xcalloc(1, sizeof(*g->arena));
    return g;
}

void sv_graph_free(struct sv_graph *g)
{
    if (g == NULL)
        return;
    for (struct sv_arena_chunk *c = g->arena->head, *next; c; c = next) {
        next = c->next;
        sv_chunk_free(c, sizeof(*c) + c->size);
    }
    free(g->arena);
    free(g->services);
    free(g->volumes);
    free(g);
}

static int cmp_service(const void *a, const void *b)
{
    return strcmp(((const struct sv_service *)a)->name, ((const struct sv_service *)b)->name);
}

static int cmp_volume(const void *a, const void *b)
{
    return strcmp(((const struct sv_volume *)a)->name, ((const struct sv_volume *)b)->name);
}

const struct sv_service *sv_graph_find(const struct sv_graph *g, const char *name)
{
    struct sv_service key = {.name = name};
    return bsearch(&key, g->services, g->n_services, sizeof(key), cmp_service);
}

static const struct sv_volume *find_volume(const struct sv_graph *g, const char *name)
{
    struct sv_volume key = {.name = name};
    return bsearch(&key, g->volumes, g->n_volumes, sizeof(key), cmp_volume);
}

const char *sv_dep_condition_name(enum sv_dep_condition c)
{
    static const char *const names[] = {"started", "healthy", "completed"};
    return names[c];
}

/* Suggest the closest existing service name; only worth it for small graphs. */
static const char *suggest_service(const struct sv_graph *g, const char *name)
{
    if (g->n_services > 2000)
        return NULL;
    const char **names = sv_xmalloc(g->n_services * sizeof(*names));
    for (size_t i = 0; i < g->n_services; i++)
        names[i] = g->services[i].name;
    const char *s = sv_suggest(name, names, g->n_services);
    free(names);
    return s;
}

static int check_references(struct sv_graph *g, sv_error_t *err)
{
    for (size_t i = 0; i < g->n_services; i++) {
        struct sv_service *s = &g->services[i];
        for (size_t d = 0; d < s->n_deps; d++) {
            const char *t = s->deps[d].service;
            if (strcmp(t, s->name) == 0)
                return sv_error(err, 0, "%s: service \"%s\" depends on itself", s->where, s->name);
            if (sv_graph_find(g, t) == NULL) {
                const char *sugg = suggest_service(g, t);
                return sv_error(err, 0,
                                "%s: service \"%s\": depends_on names \"%s\", which is not a "
                                "service of this stack%s%s%s",
                                s->where, s->name, t, sugg ? " (did you mean \"" : "",
                                sugg ? sugg : "", sugg ? "\"?)" : "");
            }
        }
        for (size_t m = 0; m < s->n_mounts; m++) {
            const struct sv_mount *mt = &s->mounts[m];
            if (mt->type != SV_MOUNT_VOLUME || mt->source == NULL)
                continue;
            if (find_volume(g, mt->source) == NULL) {
                const char *sugg = NULL;
                if (g->n_volumes < 2000) {
                    const char **names = sv_xmalloc(g->n_volumes * sizeof(*names) + 1);
                    for (size_t v = 0; v < g->n_volumes; v++)
                        names[v] = g->volumes[v].name;
                    sugg = sv_suggest(mt->source, names, g->n_volumes);
                    free(names);
                }
                if (sugg)
                    return sv_error(err, 0,
                                    "%s: service \"%s\": volume \"%s\" is not declared (did you "
                                    "mean \"%s\"?)",
                                    s->where, s->name, mt->source, sugg);
                return sv_error(err, 0,
                                "%s: service \"%s\": volume \"%s\" is not declared; declare it "
                                "with volume \"%s\" (or use ./%s for a directory)",
                                s->where, s->name, mt->source, mt->source, mt->source);
            }
        }
    }
    return 0;
}

/* Depth-first search with an explicit stack, so 10,000 chained services
 * cannot overflow the C stack. Colours: 0 new, 1 on the path, 2 done. */
static int check_cycles(struct sv_graph *g, sv_error_t *err)
{
    size_t n = g->n_services;
    cleanup_free unsigned char *colour = sv_xcalloc(n, 1);
    cleanup_free size_t *path = sv_xmalloc((n + 1) * sizeof(size_t));
    cleanup_free size_t *next_dep = sv_xmalloc((n + 1) * sizeof(size_t));
    for (size_t root = 0; root < n; root++) {
        if (colour[root])
            continue;
        size_t depth = 0;
        path[0] = root;
        next_dep[0] = 0;
        colour[root] = 1;
        while (1) {
            struct sv_service *s = &g->services[path[depth]];
            if (next_dep[depth] == s->n_deps) {
                colour[path[depth]] = 2;
                if (depth == 0)
                    break;
                depth--;
                continue;
            }
            const struct sv_service *t = sv_graph_find(g, s->deps[next_dep[depth]++].service);
            size_t ti = (size_t)(t - g->services);
            if (colour[ti] == 2)
                continue;
            if (colour[ti] == 1) {
                /* Name the cycle: from where t sits on the path back to t. */
                size_t start = 0;
                while (path[start] != ti)
                    start++;
                size_t len = 64;
                for (size_t k = start; k <= depth; k++)
                    len += strlen(g->services[path[k]].name) + 4;
                cleanup_free char *cycle = sv_xmalloc(len + strlen(t->name));
                cycle[0] = '\0';
                for (size_t k = start; k <= depth; k++) {
                    strcat(cycle, g->services[path[k]].name);
                    strcat(cycle, " -> ");
                }
                strcat(cycle, t->name);
                return sv_error(err, 0, "%s: dependency cycle: %s", t->where, cycle);
            }
            colour[ti] = 1;
            depth++;
            path[depth] = ti;
            next_dep[depth] = 0;
        }
    }
    return 0;
}

static void print_service(struct sv_json *w, const struct sv_service *s, bool with_replicas);

uint64_t sv_service_hash(const struct sv_service *s)
{
    struct sv_json w;
    sv_json_init(&w, NULL, false);
    print_service(&w, s, false);
    uint64_t h = sv_fnv1a(w.buf, w.len);
    sv_json_free(&w);
    return h;
}

int sv_graph_finish(struct sv_graph *g, sv_error_t *err)
{
    qsort(g->services, g->n_services, sizeof(*g->services), cmp_service);
    for (size_t i = 1; i < g->n_services; i++)
        if (strcmp(g->services[i - 1].name, g->services[i].name) == 0) {
            const struct sv_service *a = &g->services[i - 1], *b = &g->services[i];
            /* qsort is not stable: name the later declaration first when we can tell. */
            return sv_error(err, 0, "%s: service \"%s\" is declared twice (also at %s)", b->where,
                            b->name, a->where);
        }
    qsort(g->volumes, g->n_volumes, sizeof(*g->volumes), cmp_volume);
    size_t out = 0;
    for (size_t i = 0; i < g->n_volumes; i++) /* declaring a volume twice is harmless */
        if (out == 0 || strcmp(g->volumes[out - 1].name, g->volumes[i].name) != 0)
            g->volumes[out++] = g->volumes[i];
    g->n_volumes = out;
    if (check_references(g, err) < 0 || check_cycles(g, err) < 0)
        return -1;
    return 0;
}

static void print_argv(struct sv_json *w, const char *const *argv)
{
    if (argv == NULL) {
        sv_json_null(w);
        return;
    }
    sv_json_array_begin(w);
    for (; *argv; argv++)
        sv_json_str(w, *argv);
    sv_json_array_end(w);
}

static void print_kv(struct sv_json *w, const struct sv_kv *kv, size_t n)
{
    sv_json_object_begin(w);
    for (size_t i = 0; i < n; i++) {
        sv_json_key(w, kv[i].key);
        sv_json_str(w, kv[i].value);
    }
    sv_json_object_end(w);
}

static void print_value(struct sv_json *w, const struct sv_value *v)
{
    switch (v ? v->kind : SV_NULL) {
    case SV_NULL:
        sv_json_null(w);
        break;
    case SV_BOOL:
        sv_json_bool(w, v->u.b);
        break;
    case SV_INT:
        sv_json_int(w, v->u.i);
        break;
    case SV_NUM:
        sv_json_num(w, v->u.d);
        break;
    case SV_STR:
        sv_json_str(w, v->u.s);
        break;
    case SV_ARRAY:
        sv_json_array_begin(w);
        for (size_t i = 0; i < v->u.list.n; i++)
            print_value(w, &v->u.list.items[i]);
        sv_json_array_end(w);
        break;
    case SV_OBJECT:
        sv_json_object_begin(w);
        for (size_t i = 0; i < v->u.list.n; i++) {
            sv_json_key(w, v->u.list.keys[i]);
            print_value(w, &v->u.list.items[i]);
        }
        sv_json_object_end(w);
        break;
    }
}

static void print_limit(struct sv_json *w, int64_t v)
{
    if (v < 0)
        sv_json_null(w);
    else
        sv_json_int(w, v);
}

static void print_service(struct sv_json *w, const struct sv_service *s, bool with_replicas)
{
    sv_json_object_begin(w);
    sv_json_key(w, "image");
    sv_json_str(w, s->image);
    sv_json_key(w, "command");
    print_argv(w, s->command);
    sv_json_key(w, "entrypoint");
    print_argv(w, s->entrypoint);
    sv_json_key(w, "env");
    print_kv(w, s->env, s->n_env);
    if (with_replicas) {
        sv_json_key(w, "replicas");
        sv_json_int(w, s->replicas);
    }
    sv_json_key(w, "memory");
    print_limit(w, s->memory);
    sv_json_key(w, "cpus");
    if (s->cpus < 0)
        sv_json_null(w);
    else
        sv_json_num(w, s->cpus);
    sv_json_key(w, "pids");
    print_limit(w, s->pids);

    sv_json_key(w, "volumes");
    sv_json_array_begin(w);
    static const char *const mtypes[] = {"volume", "bind", "tmpfs"};
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct sv_mount *m = &s->mounts[i];
        sv_json_object_begin(w);
        sv_json_key(w, "type");
        sv_json_str(w, mtypes[m->type]);
        sv_json_key(w, "source");
        sv_json_str(w, m->source);
        sv_json_key(w, "target");
        sv_json_str(w, m->target);
        sv_json_key(w, "read_only");
        sv_json_bool(w, m->read_only);
        if (m->chown) { /* only when set: older hashes stay as they were */
            sv_json_key(w, "chown");
            sv_json_bool(w, true);
        }
        if (m->options) {
            sv_json_key(w, "options");
            sv_json_str(w, m->options);
        }
        sv_json_object_end(w);
    }
    sv_json_array_end(w);

    sv_json_key(w, "ports");
    sv_json_array_begin(w);
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct sv_port_spec *p = &s->ports[i];
        sv_json_object_begin(w);
        sv_json_key(w, "host_ip");
        sv_json_str(w, p->host_ip);
        sv_json_key(w, "host");
        if (p->host)
            sv_json_int(w, p->host);
        else
            sv_json_null(w);
        sv_json_key(w, "container");
        sv_json_int(w, p->container);
        sv_json_key(w, "protocol");
        sv_json_str(w, p->protocol);
        sv_json_object_end(w);
    }
    sv_json_array_end(w);

    sv_json_key(w, "depends_on");
    sv_json_object_begin(w);
    for (size_t i = 0; i < s->n_deps; i++) {
        sv_json_key(w, s->deps[i].service);
        sv_json_str(w, sv_dep_condition_name(s->deps[i].condition));
    }
    sv_json_object_end(w);

    sv_json_key(w, "restart");
    if (s->restart == SV_RESTART_ON_FAILURE && s->restart_max > 0) {
        char buf[32];
        snprintf(buf, sizeof(buf), "on-failure:%d", s->restart_max);
        sv_json_str(w, buf);
    } else {
        sv_json_str(w, sv_restart_name(s->restart));
    }

    sv_json_key(w, "healthcheck");
    if (s->health == NULL) {
        sv_json_null(w);
    } else {
        sv_json_object_begin(w);
        sv_json_key(w, "test");
        print_argv(w, s->health->test);
        sv_json_key(w, "interval_ms");
        sv_json_int(w, s->health->interval_ms);
        sv_json_key(w, "timeout_ms");
        sv_json_int(w, s->health->timeout_ms);
        sv_json_key(w, "retries");
        sv_json_int(w, s->health->retries);
        sv_json_key(w, "start_period_ms");
        sv_json_int(w, s->health->start_period_ms);
        sv_json_object_end(w);
    }

    sv_json_key(w, "working_dir");
    sv_json_str(w, s->working_dir);
    sv_json_key(w, "user");
    sv_json_str(w, s->user);
    sv_json_key(w, "hostname");
    sv_json_str(w, s->hostname);
    sv_json_key(w, "read_only");
    sv_json_bool(w, s->read_only);
    /* Only when set: a service that does not use them keeps the hash an
     * older servos gave it, so an upgrade recreates nothing. */
    const struct {
        const char *key;
        bool on;
    } flags[] = {{"init", s->init}, {"tty", s->tty}, {"stdin_open", s->stdin_open}};
    for (size_t i = 0; i < SV_ARRAY_LEN(flags); i++)
        if (flags[i].on) {
            sv_json_key(w, flags[i].key);
            sv_json_bool(w, true);
        }
    sv_json_key(w, "cap_add");
    print_argv(w, s->cap_add);
    sv_json_key(w, "cap_drop");
    print_argv(w, s->cap_drop);
    sv_json_key(w, "stop_signal");
    sv_json_str(w, sv_signal_name(s->stop_signal ? s->stop_signal : 15));
    sv_json_key(w, "stop_grace_period_ms");
    sv_json_int(w, s->stop_grace_ms < 0 ? 10000 : s->stop_grace_ms);
    sv_json_key(w, "labels");
    print_kv(w, s->labels, s->n_labels);
    sv_json_key(w, "network");
    sv_json_str(w, s->network);
    sv_json_key(w, "userns");
    sv_json_str(w, s->userns);
    sv_json_key(w, "platform");
    sv_json_str(w, s->platform);
    sv_json_key(w, "board");
    sv_json_str(w, s->board);
    sv_json_key(w, "toolchain");
    sv_json_str(w, s->toolchain);
    sv_json_key(w, "profiles");
    print_argv(w, s->profiles);
    if (s->log_max_size > 0 || s->log_max_files > 0) { /* only when set: older hashes hold */
        sv_json_key(w, "logging");
        sv_json_object_begin(w);
        sv_json_key(w, "max_size");
        if (s->log_max_size > 0)
            sv_json_int(w, s->log_max_size);
        else
            sv_json_null(w);
        sv_json_key(w, "max_file");
        if (s->log_max_files > 0)
            sv_json_int(w, s->log_max_files);
        else
            sv_json_null(w);
        sv_json_object_end(w);
    }
    if (s->proserve) {
        sv_json_key(w, "proserve");
        print_value(w, s->proserve);
    }
    sv_json_object_end(w);
}

void sv_service_print_json(const struct sv_service *s, FILE *out, bool with_replicas)
{
    struct sv_json w;
    sv_json_init(&w, out, false);
    print_service(&w, s, with_replicas);
    sv_json_free(&w);
}

void sv_value_print_json(const struct sv_value *v, FILE *out)
{
    struct sv_json w;
    sv_json_init(&w, out, false);
    print_value(&w, v);
    sv_json_free(&w);
}

void sv_graph_print_json(const struct sv_graph *g, FILE *out)
{
    struct sv_json w;
    sv_json_init(&w, out, true);
    sv_json_object_begin(&w);
    sv_json_key(&w, "stack");
    sv_json_str(&w, g->stack);
    if (g->commit) { /* an environment repository: which one, and where it stood */
        sv_json_key(&w, "source");
        sv_json_str(&w, g->source);
        sv_json_key(&w, "commit");
        sv_json_str(&w, g->commit);
    }
    sv_json_key(&w, "services");
    sv_json_object_begin(&w);
    for (size_t i = 0; i < g->n_services; i++) {
        sv_json_key(&w, g->services[i].name);
        print_service(&w, &g->services[i], true);
    }
    sv_json_object_end(&w);
    sv_json_key(&w, "volumes");
    sv_json_object_begin(&w);
    for (size_t i = 0; i < g->n_volumes; i++) {
        sv_json_key(&w, g->volumes[i].name);
        sv_json_object_begin(&w);
        sv_json_object_end(&w);
    }
    sv_json_object_end(&w);
    sv_json_object_end(&w);
    sv_json_end(&w);
}
