/* The service graph: its arena, lookups, and the checks sv_graph_finish
 * makes before anything runs (the graph as JSON is graph_json.c). */
#include "graph/graph.h"

#include "core/bulkmem.h"

#include <ctype.h>
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
        c = sv_chunk_alloc(total, g->arena->head != NULL);
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

const char *sv_graph_dep_condition_name(enum sv_dep_condition c)
{
    static const char *const names[] = {"started", "healthy", "completed"};
    return names[c];
}

/* The closest existing service or volume name; only worth it for small
 * graphs. */
static const char *suggest_service(const struct sv_graph *g, const char *name)
{
    if (g->n_services > 2000)
        return NULL;
    cleanup_free const char **names = sv_xmalloc(g->n_services * sizeof(*names) + 1);
    for (size_t i = 0; i < g->n_services; i++)
        names[i] = g->services[i].name;
    return sv_suggest(name, names, g->n_services);
}

static const char *suggest_volume(const struct sv_graph *g, const char *name)
{
    if (g->n_volumes >= 2000)
        return NULL;
    cleanup_free const char **names = sv_xmalloc(g->n_volumes * sizeof(*names) + 1);
    for (size_t i = 0; i < g->n_volumes; i++)
        names[i] = g->volumes[i].name;
    return sv_suggest(name, names, g->n_volumes);
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
                const char *sugg = suggest_volume(g, mt->source);
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
    if (check_references(g, err) < 0 || sv_graph_check_refs(g, err) < 0 ||
        check_cycles(g, err) < 0 || sv_graph_check_ports(g, err) < 0 ||
        sv_graph_check_upstreams(g, err) < 0)
        return -1;
    return 0;
}

void sv_graph_name_builds(struct sv_graph *g)
{
    for (size_t i = 0; i < g->n_services; i++) {
        struct sv_service *s = &g->services[i];
        if (s->build == NULL || !s->build->image_default)
            continue;
        char *name = sv_xasprintf("%s-%s", g->stack, s->name);
        for (char *c = name; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        s->image = sv_graph_strdup(g, name);
        free(name);
    }
}
