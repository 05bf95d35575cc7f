/* Checks across services that no one file can make: two services publishing
 * the same host port (the second would fail to listen at start, after the
 * first was already running), and the upstreams a ProServe manifest's
 * api_proxy_rules name, which must be services of the same stack. */
#include "graph/graph.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

struct published {
    const struct sv_service *s;
    const struct sv_port_spec *p;
};

static int cmp_published(const void *a, const void *b)
{
    const struct published *x = a, *y = b;
    if (x->p->host != y->p->host)
        return x->p->host < y->p->host ? -1 : 1;
    return strcmp(x->s->name, y->s->name);
}

/* Do two listening addresses take the same port? "0.0.0.0" (or "::")
 * takes it on every address. */
static bool same_listener(const struct sv_port_spec *a, const struct sv_port_spec *b)
{
    if (strcmp(a->protocol, b->protocol) != 0)
        return false;
    const char *x = a->host_ip[0] ? a->host_ip : "127.0.0.1";
    const char *y = b->host_ip[0] ? b->host_ip : "127.0.0.1";
    bool x_any = strcmp(x, "0.0.0.0") == 0 || strcmp(x, "::") == 0;
    bool y_any = strcmp(y, "0.0.0.0") == 0 || strcmp(y, "::") == 0;
    return x_any || y_any || strcmp(x, y) == 0;
}

int sv_graph_check_ports(const struct sv_graph *g, sv_error_t *err)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n_services; i++)
        n += g->services[i].n_ports;
    if (n < 2)
        return 0;
    cleanup_free struct published *all = sv_xcalloc(n, sizeof(*all));
    size_t k = 0;
    for (size_t i = 0; i < g->n_services; i++)
        for (size_t j = 0; j < g->services[i].n_ports; j++)
            if (g->services[i].ports[j].host != 0) /* 0: any free port */
                all[k++] = (struct published){&g->services[i], &g->services[i].ports[j]};
    qsort(all, k, sizeof(*all), cmp_published);
    for (size_t i = 0; i < k; i++)
        for (size_t j = i + 1; j < k && all[j].p->host == all[i].p->host; j++) {
            const struct published *a = &all[i], *b = &all[j];
            if (a->s == b->s || !same_listener(a->p, b->p))
                continue;
            return sv_error(err, 0,
                            "%s: service \"%s\" publishes host port %d, which service \"%s\" "
                            "publishes too (at %s); give one of them another port",
                            b->s->where, b->s->name, b->p->host, a->s->name, a->s->where);
        }
    return 0;
}

/* body[key], when body is an object. */
static const struct sv_value *member(const struct sv_value *body, const char *key)
{
    for (size_t i = 0; body && body->kind == SV_OBJECT && i < body->u.list.n; i++)
        if (strcmp(body->u.list.keys[i], key) == 0)
            return &body->u.list.items[i];
    return NULL;
}

static bool loopback(const char *host)
{
    struct in_addr a;
    return strcmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 ||
           (inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127);
}

int sv_graph_check_upstreams(const struct sv_graph *g, sv_error_t *err)
{
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        const struct sv_value *rules = member(s->proserve, "api_proxy_rules");
        for (size_t r = 0; rules && rules->kind == SV_ARRAY && r < rules->u.list.n; r++) {
            const struct sv_value *up = member(&rules->u.list.items[r], "upstream");
            const struct sv_value *h = member(up, "host");
            if (h == NULL || h->kind != SV_STR || loopback(h->u.s) || sv_graph_find(g, h->u.s))
                continue;
            const struct sv_value *p = member(&rules->u.list.items[r], "path");
            return sv_error(err, 0,
                            "%s: service \"%s\": api_proxy_rules: %s: the target's host \"%s\" is "
                            "neither a service of this stack nor a loopback address",
                            s->where, s->name, p && p->kind == SV_STR ? p->u.s : "?", h->u.s);
        }
    }
    return 0;
}
