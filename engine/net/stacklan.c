/* A stack's networks besides its default one (Compose's top-level
 * networks): each a bridge of its own in the stack's namespace, on a /16 of
 * 172.16.0.0/12 (the default network keeps its 10.x.0.0/16, see
 * stacknet.h). Replicas on one bridge reach each other; a replica reaches
 * another network only through an interface of its own on it.
 *
 * The namespace routes between its bridges when forwarding is on (the
 * published ports' fast path turns it on, and a namespace inherits the
 * host's setting), so a replica allowed to add routes (--cap-add
 * NET_ADMIN) could cross over through the bridge's address. Routing rules
 * close that: what comes in on a bridge is routed only to the transit
 * address of the published ports (pubnat.h), and refused anywhere else.
 * They are made with the first extra network, for every bridge then. */
#include "net/stacknet.h"

#include "core/statedir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LAN_PREFIX 16
/* Rule priorities: two per bridge, after the local table (0), before the
 * main one (32766). */
#define RULE_BASE 1000

static uint32_t lan_subnet(int number)
{
    return (172u << 24) | ((uint32_t)(15 + number) << 16);
}

static char *numbers_path(const char *stack)
{
    cleanup_free char *dir = sv_statedir_stack(stack);
    return sv_xasprintf("%s/networks", dir);
}

/* The number recorded for name, or a new one (the lowest free), recorded
 * before any bridge is made. */
static int lan_number(const char *stack, const char *name, int *out, sv_error_t *err)
{
    cleanup_free char *path = numbers_path(stack);
    cleanup_free char *text = NULL;
    size_t len = 0;
    sv_error_t ignored = NULL;
    if (sv_read_file(path, 1 << 16, &text, &len, &ignored) < 0) {
        sv_error_free(&ignored);
        text = sv_xstrdup("");
        len = 0;
    }
    bool taken[SV_STACKNET_LANS + 1] = {false};
    char word[80];
    int n, used;
    for (const char *p = text; sscanf(p, "%d %79s%n", &n, word, &used) == 2; p += used) {
        if (n >= 1 && n <= SV_STACKNET_LANS) {
            if (strcmp(word, name) == 0) {
                *out = n;
                return 0;
            }
            taken[n] = true;
        }
    }
    for (n = 1; n <= SV_STACKNET_LANS && taken[n]; n++)
        ;
    if (n > SV_STACKNET_LANS)
        return sv_error(err, ENOSPC,
                        "network \"%s\": a stack has at most %d networks besides "
                        "the default one",
                        name, SV_STACKNET_LANS);
    cleanup_free char *tmp = sv_xasprintf("%s.tmp", path);
    cleanup_fclose FILE *f = fopen(tmp, "we");
    if (f == NULL || fprintf(f, "%s%d %s\n", text, n, name) < 0)
        return sv_error(err, errno, "cannot write %s", tmp);
    if (fclose(sv_steal(f)) != 0 || rename(tmp, path) < 0)
        return sv_error(err, errno, "cannot write %s", path);
    *out = n;
    return 0;
}

/* Bridge name: routed only to the transit address, else refused. */
static int lan_rules(struct sv_stacknet *net, const char *bridge, int number, sv_error_t *err)
{
    uint32_t prio = RULE_BASE + 2 * (uint32_t)number;
    if (sv_nl_rule(net->nl, bridge, sv_stacknet_transit(net), 32, false, prio, err) < 0 ||
        sv_nl_rule(net->nl, bridge, 0, 0, true, prio + 1, err) < 0)
        return sv_error_wrap(err, "network isolation");
    return 0;
}

/* Replicas reach the transit address through their first network's
 * bridge: it answers their ARP for it, at once. */
static int lan_proxy_arp(struct sv_stacknet *net, const char *bridge, sv_error_t *err)
{
    cleanup_free char *arp = sv_xasprintf("net/ipv4/conf/%s/proxy_arp", bridge);
    cleanup_free char *delay = sv_xasprintf("net/ipv4/neigh/%s/proxy_delay", bridge);
    if (sv_stacknet_sysctl(net, arp, "1", err) < 0 || sv_stacknet_sysctl(net, delay, "0", err) < 0)
        return -1;
    return 0;
}

int sv_stacklan_get(struct sv_stacknet *net, const char *name, struct sv_stacknet_lan **out,
                    sv_error_t *err)
{
    for (size_t i = 0; i < net->n_lans; i++)
        if (strcmp(net->lans[i].name, name) == 0) {
            *out = &net->lans[i];
            return 0;
        }
    struct sv_stacknet_lan lan = {0};
    if (lan_number(net->stack, name, &lan.number, err) < 0)
        return -1;
    snprintf(lan.bridge_name, sizeof(lan.bridge_name), "br%d", lan.number);
    lan.subnet = lan_subnet(lan.number);
    lan.gateway = lan.subnet + 1;
    if (sv_stacknet_bridge(net, lan.bridge_name, lan.gateway, LAN_PREFIX, &lan.bridge, err) < 0 ||
        lan_proxy_arp(net, lan.bridge_name, err) < 0 ||
        lan_rules(net, SV_STACKNET_BRIDGE, 0, err) < 0 ||
        lan_rules(net, lan.bridge_name, lan.number, err) < 0)
        return sv_error_wrap(err, "network \"%s\"", name);
    lan.name = sv_xstrdup(name);
    /* Room for all at once: callers hold pointers into it. */
    if (net->lans == NULL)
        net->lans = sv_xcalloc(SV_STACKNET_LANS, sizeof(*net->lans));
    net->lans[net->n_lans] = lan;
    *out = &net->lans[net->n_lans++];
    return 0;
}

uint32_t sv_stacklan_alloc(struct sv_stacknet_lan *lan, bool (*used)(void *ctx, uint32_t a),
                           void *ctx)
{
    uint32_t first = lan->gateway + 1, last = lan->subnet + (1u << (32 - LAN_PREFIX)) - 2;
    uint32_t span = last - first + 1;
    if (lan->next < first || lan->next > last)
        lan->next = first;
    for (uint32_t k = 0; k < span; k++) {
        uint32_t a = first + (lan->next - first + k) % span;
        if (!used(ctx, a)) {
            lan->next = a == last ? first : a + 1;
            return a;
        }
    }
    return 0;
}

void sv_stacklan_forget(const char *stack)
{
    cleanup_free char *path = numbers_path(stack);
    unlink(path);
}

void sv_stacklan_free(struct sv_stacknet *net)
{
    for (size_t i = 0; i < net->n_lans; i++)
        free(net->lans[i].name);
    free(net->lans);
    net->lans = NULL;
    net->n_lans = 0;
}
