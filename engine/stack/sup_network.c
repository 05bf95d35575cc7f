/* The stack network as the supervisor keeps it: opened when a service
 * first needs it, an address per replica start, every replica's names in
 * the hosts file they share, the graph's published ports (relay and
 * kernel fast path, proxy.h), and all of it taken down with the stack. */
#include "stack/supervisor_int.h"
#include "core/statedir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool addr_used(void *ctx, uint32_t a)
{
    struct supervisor *sup = ctx;
    for (size_t i = 0; i < sup->n_replicas; i++)
        if (sup->replicas[i]->addr == a)
            return true;
    return false;
}

/* The running replicas of service: where the relay sends its ports. */
static size_t backends(void *ctx, const char *service, uint32_t *out, size_t max)
{
    struct supervisor *sup = ctx;
    size_t k = 0;
    for (size_t i = 0; i < sup->n_replicas && k < max; i++) {
        const struct replica *r = sup->replicas[i];
        if (r->state == REPLICA_RUNNING && r->addr && strcmp(r->service, service) == 0)
            out[k++] = r->addr;
    }
    return k;
}

int network_ensure(struct supervisor *sup, sv_error_t *err)
{
    if (sup->net)
        return 0;
    if (sv_stacknet_open(sup->stack, &sup->net, err) < 0)
        return sv_error_wrap(err, "stack network");
    sup->proxy = sv_proxy_new(sup->net, backends, sup);
    if (sup->proxy == NULL)
        return sv_error(err, errno, "epoll");
    sup_watch(sup, sv_proxy_fd(sup->proxy));
    /* Addresses continue after the highest in use (see sv_stacknet_alloc). */
    for (size_t i = 0; i < sup->n_replicas; i++)
        if (sup->replicas[i]->addr >= sup->net->next)
            sup->net->next = sup->replicas[i]->addr + 1;
    return 0;
}

/* Every replica on the network by NAME-N, its service's name and its own
 * hostname: what each replica's /etc/hosts says. */
int network_write_hosts(struct supervisor *sup, sv_error_t *err)
{
    if (sup->net == NULL)
        return 0;
    cleanup_free struct sv_stacknet_host *e = sv_xcalloc(sup->n_replicas + 1, sizeof(*e));
    /* The replicas' own NAME-N, which e borrows. */
    char **own = sv_xcalloc(sup->n_replicas + 1, sizeof(*own));
    size_t k = 0;
    for (size_t i = 0; i < sup->n_replicas; i++) {
        struct replica *r = sup->replicas[i];
        if (r->addr == 0)
            continue;
        own[k] = sv_xasprintf("%s-%d", r->service, r->n);
        e[k].addr = r->addr;
        e[k].names[0] = own[k];
        e[k].names[1] = r->service;
        if (r->svc && r->svc->hostname && strcmp(r->svc->hostname, own[k]) != 0)
            e[k].names[2] = r->svc->hostname;
        k++;
    }
    int rc = sv_stacknet_write_hosts(sup->net, e, k, err);
    sv_strv_free(own);
    sup->hosts_dirty = false;
    return rc;
}

void network_refresh_hosts(struct supervisor *sup)
{
    if (!sup->hosts_dirty)
        return;
    sv_error_t e = NULL;
    network_write_hosts(sup, &e);
    sup_report(&e);
}

void network_leave(struct supervisor *sup, struct replica *r)
{
    if (r->addr) {
        r->addr = 0;
        sup->hosts_dirty = true;
    }
}

/* A new address each start: nobody's neighbour cache can hold a dead
 * replica's MAC for it. */
int network_join(struct supervisor *sup, struct replica *r, struct sv_net_attach *att,
                 sv_error_t *err)
{
    network_leave(sup, r);
    uint32_t a = network_ensure(sup, err) < 0 ? 0 : sv_stacknet_alloc(sup->net, addr_used, sup);
    if (a == 0) {
        if (*err == NULL)
            sv_error(err, ENOSPC, "the stack network has no free address left");
        return -1;
    }
    r->addr = a;
    *att = (struct sv_net_attach){sup->net->nl, sup->net->bridge, a, SV_STACKNET_PREFIX,
                                  sup->net->hosts};
    if (network_write_hosts(sup, err) < 0) {
        network_leave(sup, r);
        return -1;
    }
    return 0;
}

static bool graph_needs_net(const struct sv_graph *g)
{
    for (size_t i = 0; i < g->n_services; i++)
        if (strcmp(g->services[i].network, "stack") == 0)
            return true;
    return false;
}

/* Is name what service a is called by on the stack network: its name, a
 * replica's SERVICE-N, its hostname? */
static bool net_name_of(const struct sv_service *a, const char *name)
{
    size_t al = strlen(a->name);
    if (strcmp(name, a->name) == 0 || (a->hostname && strcmp(name, a->hostname) == 0))
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
int network_check_names(const struct sv_graph *g, sv_error_t *err)
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
                                                                             : NULL;
            if (clash)
                return sv_error(err, 0,
                                "services \"%s\" and \"%s\" would both be called \"%s\" on "
                                "the stack network: rename one (or its hostname)",
                                a->name, b->name, clash);
        }
    }
    return 0;
}

int network_sync_ports(struct supervisor *sup, const struct sv_graph *g, sv_error_t *err)
{
    if (sup->net == NULL && !graph_needs_net(g))
        return 0;
    if (network_ensure(sup, err) < 0 || sv_proxy_sync(sup->proxy, g, err) < 0)
        return -1;
    cleanup_free char *dir = sv_statedir_stack(sup->stack);
    cleanup_free char *path = sv_xasprintf("%s/ports", dir);
    cleanup_free char *tmp = sv_xasprintf("%s/ports.tmp", dir);
    cleanup_fclose FILE *f = fopen(tmp, "we");
    if (f == NULL)
        return sv_error(err, errno, "cannot write %s", tmp);
    sv_proxy_describe(sup->proxy, f);
    /* Closed here, not at return: a write that failed shows in fclose. */
    if (fclose(sv_steal(f)) != 0 || rename(tmp, path) < 0)
        return sv_error(err, errno, "cannot write %s", path);
    return 0;
}

/* The listeners, the namespace with its bridge (the veths went with the
 * replicas). */
int network_down(struct supervisor *sup, sv_error_t *err)
{
    if (sup->proxy) {
        sup_unwatch(sup, sv_proxy_fd(sup->proxy));
        sv_proxy_free(sup->proxy);
        sup->proxy = NULL;
    }
    sv_stacknet_close(sup->net);
    sup->net = NULL;
    return sv_stacknet_destroy(sup->stack, err);
}
