/* What services name beyond themselves, checked by sv_graph_finish: the
 * networks they join, the secrets and configs they mount, the container
 * names they take. Every name must lead somewhere before anything runs. */
#include "graph/graph.h"

#include <stdlib.h>
#include <string.h>

static int cmp_network(const void *a, const void *b)
{
    return strcmp(((const struct sv_network *)a)->name, ((const struct sv_network *)b)->name);
}

/* Secrets first, then configs; by name within each. */
static int cmp_filedef(const void *a, const void *b)
{
    const struct sv_filedef *x = a, *y = b;
    if (x->config != y->config)
        return x->config ? 1 : -1;
    return strcmp(x->name, y->name);
}

const struct sv_network *sv_graph_network(const struct sv_graph *g, const char *name)
{
    struct sv_network key = {.name = name};
    return bsearch(&key, g->networks, g->n_networks, sizeof(key), cmp_network);
}

static const struct sv_filedef *find_file(const struct sv_graph *g, bool config, const char *name)
{
    struct sv_filedef key = {.name = name, .config = config};
    return bsearch(&key, g->files, g->n_files, sizeof(key), cmp_filedef);
}

size_t sv_graph_service_networks(const struct sv_service *s, const struct sv_net_ref **out)
{
    static const char *const no_aliases[] = {NULL};
    static const struct sv_net_ref default_ref = {SV_NET_DEFAULT, (const char **)no_aliases};
    if (strcmp(s->network, "stack") != 0) {
        *out = NULL;
        return 0;
    }
    if (s->n_networks == 0) {
        *out = &default_ref;
        return 1;
    }
    *out = s->networks;
    return s->n_networks;
}

bool sv_graph_on_network(const struct sv_service *s, const char *network)
{
    const struct sv_net_ref *refs;
    size_t n = sv_graph_service_networks(s, &refs);
    for (size_t i = 0; i < n; i++)
        if (strcmp(refs[i].network, network) == 0)
            return true;
    return false;
}

/* Sorted, and a name declared twice only when both say the same. */
static int finish_networks(struct sv_graph *g, sv_error_t *err)
{
    qsort(g->networks, g->n_networks, sizeof(*g->networks), cmp_network);
    size_t out = 0;
    for (size_t i = 0; i < g->n_networks; i++) {
        struct sv_network *prev = out ? &g->networks[out - 1] : NULL;
        if (prev && strcmp(prev->name, g->networks[i].name) == 0) {
            if (prev->internal != g->networks[i].internal)
                return sv_error(err, 0,
                                "%s: network \"%s\" is declared twice, once internal and once "
                                "not (also at %s)",
                                g->networks[i].where, prev->name, prev->where);
            continue;
        }
        g->networks[out++] = g->networks[i];
    }
    g->n_networks = out;
    qsort(g->files, g->n_files, sizeof(*g->files), cmp_filedef);
    for (size_t i = 1; i < g->n_files; i++)
        if (cmp_filedef(&g->files[i - 1], &g->files[i]) == 0)
            return sv_error(err, 0, "%s: %s \"%s\" is declared twice (also at %s)",
                            g->files[i].where, g->files[i].config ? "config" : "secret",
                            g->files[i].name, g->files[i - 1].where);
    return 0;
}

/* The closest declared network or secret/config name, for a typo. */
static const char *suggest_network(const struct sv_graph *g, const char *name)
{
    const char *names[64];
    size_t n = 0;
    names[n++] = SV_NET_DEFAULT;
    for (size_t i = 0; i < g->n_networks && n < SV_ARRAY_LEN(names); i++)
        names[n++] = g->networks[i].name;
    return sv_suggest(name, names, n);
}

static const char *suggest_file(const struct sv_graph *g, bool config, const char *name)
{
    const char *names[64];
    size_t n = 0;
    for (size_t i = 0; i < g->n_files && n < SV_ARRAY_LEN(names); i++)
        if (g->files[i].config == config)
            names[n++] = g->files[i].name;
    return sv_suggest(name, names, n);
}

/* Does a declaration at "file:line" come from an Envirofile (its own
 * syntax in a hint), or from YAML? */
static bool from_lua(const char *where)
{
    const char *colon = where ? strrchr(where, ':') : NULL;
    return colon && colon - where >= 4 && strncmp(colon - 4, ".lua", 4) == 0;
}

static int check_networks(const struct sv_graph *g, const struct sv_service *s, sv_error_t *err)
{
    if (s->n_networks && strcmp(s->network, "stack") != 0)
        return sv_error(err, 0,
                        "%s: service \"%s\": networks: the service has network \"%s\", so it "
                        "joins no network of the stack; keep one of the two",
                        s->where, s->name, s->network);
    bool reachable = false;
    const struct sv_net_ref *refs;
    size_t n = sv_graph_service_networks(s, &refs);
    for (size_t i = 0; i < n; i++) {
        const struct sv_network *net = sv_graph_network(g, refs[i].network);
        if (net == NULL && strcmp(refs[i].network, SV_NET_DEFAULT) != 0) {
            const char *sugg = suggest_network(g, refs[i].network);
            if (sugg)
                return sv_error(err, 0,
                                "%s: service \"%s\": networks: \"%s\" is not a network of "
                                "this stack; did you mean \"%s\"?",
                                s->where, s->name, refs[i].network, sugg);
            cleanup_free char *decl = from_lua(s->where)
                                          ? sv_xasprintf("network \"%s\"", refs[i].network)
                                          : sv_xasprintf("networks: {%s: {}}", refs[i].network);
            return sv_error(err, 0,
                            "%s: service \"%s\": networks: \"%s\" is not a network of this "
                            "stack: declare it at the top level (%s)",
                            s->where, s->name, refs[i].network, decl);
        }
        reachable |= net == NULL || !net->internal;
    }
    if (s->n_ports && n && !reachable)
        return sv_error(err, 0,
                        "%s: service \"%s\": ports: the service is only on internal networks, "
                        "which no published port reaches; add a network that is not internal",
                        s->where, s->name);
    return 0;
}

static int check_files(const struct sv_graph *g, struct sv_service *s, sv_error_t *err)
{
    for (size_t i = 0; i < s->n_files; i++) {
        struct sv_file_ref *f = &s->files[i];
        const char *kind = f->config ? "config" : "secret";
        f->def = find_file(g, f->config, f->source);
        if (f->def == NULL) {
            const char *sugg = suggest_file(g, f->config, f->source);
            if (sugg)
                return sv_error(err, 0,
                                "%s: service \"%s\": %ss: %s \"%s\" is not declared; did you mean "
                                "\"%s\"?",
                                s->where, s->name, kind, kind, f->source, sugg);
            cleanup_free char *decl =
                from_lua(s->where)
                    ? sv_xasprintf("%s \"%s\" { file = \"./%s\" }", kind, f->source, f->source)
                    : sv_xasprintf("%ss: {%s: {file: ./%s}}", kind, f->source, f->source);
            return sv_error(err, 0,
                            "%s: service \"%s\": %ss: %s \"%s\" is not declared: declare it at "
                            "the top level (%s)",
                            s->where, s->name, kind, kind, f->source, decl);
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(s->files[k].target, f->target) == 0)
                return sv_error(err, 0,
                                "%s: service \"%s\": %s \"%s\" and %s \"%s\" are both mounted "
                                "at %s",
                                s->where, s->name, s->files[k].config ? "config" : "secret",
                                s->files[k].source, kind, f->source, f->target);
    }
    return 0;
}

/* A container name is one container's, on the whole host: one replica,
 * one service. */
static int check_container_names(const struct sv_graph *g, sv_error_t *err)
{
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        if (s->container_name == NULL)
            continue;
        if (s->replicas > 1)
            return sv_error(err, 0,
                            "%s: service \"%s\": container_name \"%s\" names one container, "
                            "but the service has %d replicas: drop container_name or keep one "
                            "replica",
                            s->where, s->name, s->container_name, s->replicas);
        for (size_t k = 0; k < i; k++)
            if (g->services[k].container_name &&
                strcmp(g->services[k].container_name, s->container_name) == 0)
                return sv_error(err, 0,
                                "%s: services \"%s\" and \"%s\" both have container_name \"%s\"",
                                s->where, g->services[k].name, s->name, s->container_name);
    }
    return 0;
}

/* Is name what service a is called by on the stack network: its name, a
 * replica's SERVICE-N, its hostname? */
static bool net_name_of(const struct sv_service *a, const char *name)
{
    size_t al = strlen(a->name);
    if (strcmp(name, a->name) == 0 || (a->hostname && strcmp(name, a->hostname) == 0) ||
        (a->container_name && strcmp(name, a->container_name) == 0))
        return true;
    if (strncmp(name, a->name, al) != 0 || name[al] != '-' || name[al + 1] < '1' ||
        name[al + 1] > '9' || strspn(name + al + 1, "0123456789") != strlen(name + al + 1))
        return false;
    long k = strtol(name + al + 1, NULL, 10);
    return k >= 1 && k <= a->replicas;
}

/* The same mistake as STACK-SERVICE-N container names, inside a stack:
 * service "web-1" and replica 1 of "web" would both be "web-1" in every
 * /etc/hosts, and a client would reach either. Refused, before anything
 * starts. */
int sv_graph_check_names(const struct sv_graph *g, sv_error_t *err)
{
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *b = &g->services[i];
        if (strcmp(b->network, "stack") != 0)
            continue;
        for (size_t k = 0; k < g->n_services; k++) {
            const struct sv_service *a = &g->services[k];
            if (k == i || strcmp(a->network, "stack") != 0)
                continue;
            const char *clash = net_name_of(a, b->name)                      ? b->name
                                : b->hostname && net_name_of(a, b->hostname) ? b->hostname
                                : b->container_name && net_name_of(a, b->container_name)
                                    ? b->container_name
                                    : NULL;
            if (clash)
                return sv_error(err, 0,
                                "%s: services \"%s\" and \"%s\" would both be called \"%s\" "
                                "on the stack network: rename one (or its hostname or "
                                "container_name)",
                                b->where, a->name, b->name, clash);
        }
    }
    return 0;
}

int sv_graph_check_refs(struct sv_graph *g, sv_error_t *err)
{
    if (finish_networks(g, err) < 0)
        return -1;
    for (size_t i = 0; i < g->n_services; i++) {
        struct sv_service *s = &g->services[i];
        if (check_networks(g, s, err) < 0 || check_files(g, s, err) < 0)
            return -1;
    }
    return check_container_names(g, err) < 0 ? -1 : sv_graph_check_names(g, err);
}
