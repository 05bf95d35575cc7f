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
    for (size_t i = 0; i < sup->n_replicas; i++) {
        const struct replica *r = sup->replicas[i];
        if (r->addr == a)
            return true;
        for (size_t k = 0; k < r->n_more; k++)
            if (r->more[k].addr == a)
                return true;
    }
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
    /* Addresses continue after the highest in use (see sv_stacknet_alloc),
     * on each network (an adopted replica's own networks are opened for
     * that). */
    for (size_t i = 0; i < sup->n_replicas; i++) {
        const struct replica *r = sup->replicas[i];
        if (r->net0 == NULL && r->addr >= sup->net->next)
            sup->net->next = r->addr + 1;
        for (size_t k = 0; k <= r->n_more; k++) {
            const char *name = k == 0 ? r->net0 : r->more[k - 1].net;
            uint32_t a = k == 0 ? r->addr : r->more[k - 1].addr;
            struct sv_stacknet_lan *lan;
            sv_error_t e = NULL;
            if (name == NULL || a == 0)
                continue;
            if (sv_stacklan_get(sup->net, name, &lan, &e) < 0)
                sup_report(&e);
            else if (a >= lan->next)
                lan->next = a + 1;
        }
    }
    return 0;
}

/* Does a service see other networks than the default one, or hosts of
 * its own? Then its replicas get a hosts file of their own; the others
 * share the stack's. */
static bool own_hosts(const struct sv_service *s)
{
    if (s->n_extra_hosts)
        return true;
    for (size_t i = 0; i < s->n_networks; i++)
        if (strcmp(s->networks[i].network, SV_NET_DEFAULT) != 0)
            return true;
    return false;
}

static char *own_hosts_path(const char *stack, const char *service)
{
    cleanup_free char *dir = sv_statedir_binds(stack);
    return sv_xasprintf("%s/hosts-%s", dir, service);
}

/* The names replica r answers to on network net (NULL: the default): its
 * NAME-N, its service's name, hostname and container name, and the
 * service's aliases there. own: where NAME-N is written. */
static void host_entry(const struct replica *r, const char *net, uint32_t addr, char **own,
                       struct sv_stacknet_host *e)
{
    *own = sv_xasprintf("%s-%d", r->service, r->n);
    *e = (struct sv_stacknet_host){.addr = addr, .names = {*own, r->service}};
    size_t k = 2;
    const struct sv_service *s = r->svc;
    if (s && s->hostname && strcmp(s->hostname, *own) != 0)
        e->names[k++] = s->hostname;
    if (s && s->container_name)
        e->names[k++] = s->container_name;
    for (size_t i = 0; s && i < s->n_networks; i++)
        if (strcmp(s->networks[i].network, net ? net : SV_NET_DEFAULT) == 0)
            e->aliases = s->networks[i].aliases;
}

/* Does the view (a service's networks; NULL: the default one alone) take
 * in network net (NULL: the default)? */
static bool in_view(const struct sv_service *view, const char *net)
{
    return view ? sv_graph_on_network(view, net ? net : SV_NET_DEFAULT) : net == NULL;
}

/* One hosts file: every running replica on the view's networks, at its
 * address on each, then the view's extra hosts. */
static int write_hosts_for(struct supervisor *sup, const struct sv_service *view, const char *path,
                           sv_error_t *err)
{
    size_t cap = sup->n_replicas + 1, k = 0;
    for (size_t i = 0; i < sup->n_replicas; i++)
        cap += sup->replicas[i]->n_more;
    cleanup_free struct sv_stacknet_host *e = sv_xcalloc(cap, sizeof(*e));
    char **own = sv_xcalloc(cap, sizeof(*own)); /* e's NAME-N */
    for (size_t i = 0; i < sup->n_replicas; i++) {
        const struct replica *r = sup->replicas[i];
        if (r->addr == 0)
            continue;
        if (in_view(view, r->net0))
            host_entry(r, r->net0, r->addr, &own[k], &e[k]), k++;
        for (size_t m = 0; m < r->n_more; m++)
            if (in_view(view, r->more[m].net))
                host_entry(r, r->more[m].net, r->more[m].addr, &own[k], &e[k]), k++;
    }
    cleanup_free char *extra = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&extra, &len);
    if (f == NULL)
        sv_oom();
    for (size_t i = 0; view && i < view->n_extra_hosts; i++)
        fprintf(f, "%s\t%s\n", view->extra_hosts[i].value, view->extra_hosts[i].key);
    fclose(f); /* sets extra */
    int rc = path ? sv_stacknet_write_hosts_at(path, e, k, extra, err)
                  : sv_stacknet_write_hosts(sup->net, e, k, err);
    sv_strv_free(own);
    return rc;
}

/* Every replica on the network by NAME-N, its service's name and its own
 * hostname: what each replica's /etc/hosts says, in the shared file and
 * in each file of a service that has its own. */
int network_write_hosts(struct supervisor *sup, sv_error_t *err)
{
    if (sup->net == NULL)
        return 0;
    int rc = write_hosts_for(sup, NULL, NULL, err);
    for (size_t i = 0; rc == 0 && sup->g && i < sup->g->n_services; i++) {
        const struct sv_service *s = &sup->g->services[i];
        if (strcmp(s->network, "stack") != 0 || !own_hosts(s))
            continue;
        cleanup_free char *path = own_hosts_path(sup->stack, s->name);
        rc = write_hosts_for(sup, s, path, err);
    }
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

void network_forget(struct replica *r)
{
    free(r->net0);
    r->net0 = NULL;
    for (size_t i = 0; i < r->n_more; i++)
        free(r->more[i].net);
    free(r->more);
    r->more = NULL;
    r->n_more = 0;
    free(r->hosts_file);
    r->hosts_file = NULL;
}

void network_leave(struct supervisor *sup, struct replica *r)
{
    if (r->addr) {
        r->addr = 0;
        sup->hosts_dirty = true;
    }
    network_forget(r);
}

void network_adopt(struct replica *r, const char *spec_json)
{
    char *names[SV_NET_LINKS_MAX];
    uint32_t addrs[SV_NET_LINKS_MAX];
    size_t n = sv_stacknet_links_of(spec_json, names, addrs, SV_NET_LINKS_MAX);
    if (n == 0)
        return;
    r->net0 = strcmp(names[0], SV_NET_DEFAULT) == 0 ? NULL : names[0];
    if (r->net0 == NULL)
        free(names[0]);
    r->more = sv_xcalloc(n, sizeof(*r->more));
    for (size_t i = 1; i < n; i++)
        r->more[r->n_more++] = (struct replica_link){names[i], addrs[i]};
}

/* The order of a service's networks on its replicas: eth0 is the first
 * that is not internal (the default network first), so published ports
 * reach it there; the rest by name. */
static size_t link_order(const struct sv_graph *g, const struct sv_service *s,
                         const struct sv_net_ref *order[SV_NET_LINKS_MAX])
{
    const struct sv_net_ref *refs;
    size_t n = sv_graph_service_networks(s, &refs), first = 0, k = 1;
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        const struct sv_network *net = sv_graph_network(g, refs[i].network);
        if (strcmp(refs[i].network, SV_NET_DEFAULT) == 0 && !(net && net->internal))
            first = i, found = true;
    }
    for (size_t i = 0; i < n && !found; i++) {
        const struct sv_network *net = sv_graph_network(g, refs[i].network);
        if (!(net && net->internal))
            first = i, found = true;
    }
    order[0] = &refs[first];
    for (size_t i = 0; i < n && k < SV_NET_LINKS_MAX; i++)
        if (i != first)
            order[k++] = &refs[i];
    return n;
}

/* An address on network name (the default, or one of the stack's own):
 * where its bridge is, and which address; 0 on failure. */
static uint32_t join_one(struct supervisor *sup, const char *name, int *bridge, int *prefix,
                         sv_error_t *err)
{
    if (strcmp(name, SV_NET_DEFAULT) == 0) {
        *bridge = sup->net->bridge;
        *prefix = SV_STACKNET_PREFIX;
        uint32_t a = sv_stacknet_alloc(sup->net, addr_used, sup);
        if (a == 0)
            sv_error(err, ENOSPC, "the stack network has no free address left");
        return a;
    }
    struct sv_stacknet_lan *lan;
    if (sv_stacklan_get(sup->net, name, &lan, err) < 0)
        return 0;
    *bridge = lan->bridge;
    *prefix = 16;
    uint32_t a = sv_stacklan_alloc(lan, addr_used, sup);
    if (a == 0)
        sv_error(err, ENOSPC, "network \"%s\" has no free address left", name);
    return a;
}

/* A new address each start: nobody's neighbour cache can hold a dead
 * replica's MAC for it. */
int network_join(struct supervisor *sup, struct replica *r, struct sv_net_attach *att,
                 sv_error_t *err)
{
    network_leave(sup, r);
    if (network_ensure(sup, err) < 0)
        return -1;
    const struct sv_net_ref *order[SV_NET_LINKS_MAX];
    size_t n = link_order(sup->g, r->svc, order);
    bool named = n > 1 || strcmp(order[0]->network, SV_NET_DEFAULT) != 0;
    *att = (struct sv_net_attach){.nl = sup->net->nl, .hosts = sup->net->hosts};
    for (size_t i = 0; i < n; i++) {
        int bridge = 0, prefix = 0;
        /* Taken at once: the next one's allocation sees it. */
        uint32_t a = join_one(sup, order[i]->network, &bridge, &prefix, err);
        if (a == 0) {
            network_leave(sup, r);
            return -1;
        }
        if (i == 0) {
            r->addr = att->addr = a;
            att->bridge = bridge;
            att->prefix = prefix;
            att->name = named ? order[i]->network : NULL;
            if (named && strcmp(order[i]->network, SV_NET_DEFAULT) != 0)
                r->net0 = sv_xstrdup(order[i]->network);
        } else {
            if (r->more == NULL)
                r->more = sv_xcalloc(n, sizeof(*r->more));
            r->more[r->n_more++] = (struct replica_link){sv_xstrdup(order[i]->network), a};
            att->more[att->n_more++] = (struct sv_net_link){bridge, a, prefix, order[i]->network};
        }
    }
    /* eth0 outside the default network: its way to the published ports'
     * transit address, unless it is internal (no port reaches it). */
    const struct sv_network *first = sv_graph_network(sup->g, order[0]->network);
    if (r->net0 && !(first && first->internal))
        att->route_to = sv_stacknet_transit(sup->net);
    if (own_hosts(r->svc)) {
        r->hosts_file = own_hosts_path(sup->stack, r->service);
        att->hosts = r->hosts_file;
    }
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
