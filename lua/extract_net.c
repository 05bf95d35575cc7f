/* ports, network, networks and extra_hosts: how a service is reached and
 * what it reaches. */
#include "lua/extract_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PORTS 1024

struct port_list {
    struct sv_port_spec *v;
    size_t n;
};

static int port_item(struct service_reader *rd, const char *key, int idx, void *ud)
{
    lua_State *L = rd->L;
    struct port_list *p = ud;
    sv_error_t perr = NULL;
    size_t got;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        int64_t port;
        if (ex_want_int(rd, idx, key, 1, 65535, &port) < 0)
            return -1;
        char buf[16];
        snprintf(buf, sizeof(buf), "%lld", (long long)port);
        if (sv_parse_ports(buf, p->v + p->n, MAX_PORTS - p->n, &got, &perr) < 0)
            return ex_fail_parse(rd, key, &perr);
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        if (sv_parse_ports(lua_tostring(L, idx), p->v + p->n, MAX_PORTS - p->n, &got, &perr) < 0)
            return ex_fail_parse(rd, key, &perr);
    } else if (lua_istable(L, idx)) {
        /* { target = 80, published = 8080, host_ip = "...", protocol = "tcp" } */
        struct sv_port_spec *s = p->v + p->n;
        if (p->n >= MAX_PORTS)
            return ex_fail(rd, key, "more than %d ports", MAX_PORTS);
        memset(s, 0, sizeof(*s));
        int64_t v;
        lua_getfield(L, idx, "target");
        if (ex_want_int(rd, lua_gettop(L), key, 1, 65535, &v) < 0)
            return -1;
        s->container = (int)v;
        lua_getfield(L, idx, "published");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) == LUA_TSTRING) {
                char *end;
                long pv = strtol(lua_tostring(L, -1), &end, 10);
                if (*end || pv < 1 || pv > 65535)
                    return ex_fail(rd, key, "published: \"%s\" is not a port", lua_tostring(L, -1));
                v = pv;
            } else if (ex_want_int(rd, lua_gettop(L), key, 1, 65535, &v) < 0) {
                return -1;
            }
            s->host = (int)v;
        }
        const char *ip = "127.0.0.1", *proto = "tcp";
        lua_getfield(L, idx, "host_ip");
        if (!lua_isnil(L, -1) && ex_want_string(rd, lua_gettop(L), key, &ip) < 0)
            return -1;
        lua_getfield(L, idx, "protocol");
        if (!lua_isnil(L, -1) && ex_want_string(rd, lua_gettop(L), key, &proto) < 0)
            return -1;
        lua_pop(L, 4);
        if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
            return ex_fail(rd, key, "protocol \"%s\" is not tcp or udp", proto);
        snprintf(s->host_ip, sizeof(s->host_ip), "%s", ip);
        snprintf(s->protocol, sizeof(s->protocol), "%s", proto);
        got = 1;
    } else {
        return ex_fail(rd, key, "expected \"HOST:CONTAINER\", a port number or a table, got %s",
                       ex_type_of(L, idx));
    }
    p->n += got;
    return 0;
}

int ex_key_ports(struct service_reader *rd, int idx, const char *key)
{
    /* Collect in scratch space (ranges expand), keep only what was used. */
    static struct sv_port_spec scratch[MAX_PORTS];
    struct port_list p = {scratch, 0};
    if (ex_for_each(rd, idx, key, false, port_item, &p) < 0)
        return -1;
    rd->svc->ports = sv_graph_alloc(rd->g, (p.n ? p.n : 1) * sizeof(*scratch));
    memcpy(rd->svc->ports, scratch, p.n * sizeof(*scratch));
    rd->svc->n_ports = p.n;
    return 0;
}

int ex_key_network(struct service_reader *rd, int idx, const char *key)
{
    static const char *const nets[] = {"stack", "none", "host"};
    return ex_want_choice(rd, idx, key, nets, 3, &rd->svc->network);
}

/* A name a resolver will take: letters, digits, "-", "_" and ".", from a
 * letter or digit, at most 63 characters. */
static bool valid_host_name(const char *h)
{
    size_t n = strlen(h);
    bool ok = n > 0 && n <= 63 && isalnum((unsigned char)h[0]);
    for (const char *c = h; ok && *c; c++)
        ok = isalnum((unsigned char)*c) || *c == '-' || *c == '_' || *c == '.';
    return ok;
}

static int cmp_net_ref(const void *a, const void *b)
{
    return strcmp(((const struct sv_net_ref *)a)->network, ((const struct sv_net_ref *)b)->network);
}

struct net_list {
    struct sv_net_ref v[SV_NET_PER_SERVICE];
    size_t n;
};

static int net_add(struct service_reader *rd, const char *key, struct net_list *l, const char *name,
                   const char **aliases)
{
    if (!valid_host_name(name) || strchr(name, '.'))
        return ex_fail(rd, key, "\"%s\" is not a network name", name);
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].network, name) == 0)
            return ex_fail(rd, key, "network \"%s\" is listed twice", name);
    if (l->n == SV_NET_PER_SERVICE)
        return ex_fail(rd, key, "more than %d networks", SV_NET_PER_SERVICE);
    for (size_t i = 0; aliases[i]; i++)
        if (!valid_host_name(aliases[i]))
            return ex_fail(rd, key, "%s: alias \"%s\" is not a valid host name", name, aliases[i]);
    l->v[l->n++] = (struct sv_net_ref){name, aliases};
    return 0;
}

static int net_item(struct service_reader *rd, const char *key, int idx, void *ud)
{
    const char *name;
    static const char *no_aliases[] = {NULL};
    if (lua_type(rd->L, idx) != LUA_TSTRING)
        return ex_fail(rd, key, "expected network names, got %s", ex_type_of(rd->L, idx));
    if (ex_want_string(rd, idx, key, &name) < 0)
        return -1;
    return net_add(rd, key, ud, name, no_aliases);
}

/* { back = { aliases = { "db" } }, front = {} } (or = true). */
static int net_entry(struct service_reader *rd, const char *key, struct net_list *l, int v)
{
    lua_State *L = rd->L;
    const char *name = sv_graph_strdup(rd->g, lua_tostring(L, v - 1));
    const char **aliases = sv_graph_alloc(rd->g, sizeof(*aliases));
    if (lua_istable(L, v)) {
        lua_pushnil(L);
        while (lua_next(L, v)) {
            lua_pop(L, 1);
            const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
            if (strcmp(k, "aliases") != 0) {
                const char *copy = sv_graph_strdup(rd->g, k);
                lua_pop(L, 1);
                return ex_fail(rd, key, "%s: unknown key \"%s\" (a network takes aliases)", name,
                               copy);
            }
        }
        lua_getfield(L, v, "aliases");
        if (!lua_isnil(L, -1) && !sv_lua_isnull(L, -1) &&
            ex_want_string_list(rd, lua_gettop(L), key, false, &aliases) < 0)
            return -1;
        lua_pop(L, 1);
    } else if (!(lua_type(L, v) == LUA_TBOOLEAN && lua_toboolean(L, v)) && !sv_lua_isnull(L, v)) {
        return ex_fail(rd, key, "%s: expected a table of settings or true, got %s", name,
                       ex_type_of(L, v));
    }
    return net_add(rd, key, l, name, aliases);
}

int ex_key_networks(struct service_reader *rd, int idx, const char *key)
{
    lua_State *L = rd->L;
    struct net_list l = {.n = 0};
    size_t n;
    if (lua_type(L, idx) == LUA_TSTRING || (lua_istable(L, idx) && ex_is_list(L, idx, &n))) {
        if (ex_for_each(rd, idx, key, true, net_item, &l) < 0)
            return -1;
    } else if (lua_istable(L, idx)) {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                lua_pop(L, 2);
                return ex_fail(rd, key, "network names must be strings");
            }
            if (net_entry(rd, key, &l, lua_gettop(L)) < 0)
                return -1;
            lua_pop(L, 1);
        }
    } else {
        return ex_fail(rd, key, "expected a list of network names or a table, got %s",
                       ex_type_of(L, idx));
    }
    if (l.n == 0)
        return ex_fail(rd, key, "the list is empty (leave networks out for the default network)");
    qsort(l.v, l.n, sizeof(l.v[0]), cmp_net_ref);
    rd->svc->networks = sv_graph_alloc(rd->g, l.n * sizeof(l.v[0]));
    memcpy(rd->svc->networks, l.v, l.n * sizeof(l.v[0]));
    rd->svc->n_networks = l.n;
    return 0;
}

/* ---- extra_hosts: NAME:IP lines for the container's /etc/hosts ---- */

#define MAX_EXTRA_HOSTS 256

struct host_list {
    struct sv_kv v[MAX_EXTRA_HOSTS];
    size_t n;
};

static int host_add(struct service_reader *rd, const char *key, struct host_list *l,
                    const char *name, const char *ip)
{
    char addr[INET6_ADDRSTRLEN + 2];
    snprintf(addr, sizeof(addr), "%s", ip);
    size_t len = strlen(addr);
    if (len > 2 && addr[0] == '[' && addr[len - 1] == ']') { /* [::1] */
        memmove(addr, addr + 1, len - 2);
        addr[len - 2] = '\0';
    }
    unsigned char bin[16];
    if (!valid_host_name(name))
        return ex_fail(rd, key, "\"%s\" is not a valid host name", name);
    if (strcmp(addr, "host-gateway") == 0)
        return ex_fail(rd, key,
                       "%s: \"host-gateway\" (the host's address) is not reachable: a stack's "
                       "network has no route to the host",
                       name);
    if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
        return ex_fail(rd, key, "%s: \"%s\" is not an IP address", name, ip);
    if (l->n == MAX_EXTRA_HOSTS)
        return ex_fail(rd, key, "more than %d entries", MAX_EXTRA_HOSTS);
    l->v[l->n++] = (struct sv_kv){name, sv_graph_strdup(rd->g, addr)};
    return 0;
}

/* "NAME:IP" or "NAME=IP" (the IP may be IPv6: split at the first one). */
static int host_item(struct service_reader *rd, const char *key, int idx, void *ud)
{
    const char *s;
    if (lua_type(rd->L, idx) != LUA_TSTRING)
        return ex_fail(rd, key, "expected \"NAME:IP\", got %s", ex_type_of(rd->L, idx));
    if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    size_t cut = strcspn(s, "=");
    if (s[cut] == '\0')
        cut = strcspn(s, ":");
    if (s[cut] == '\0')
        return ex_fail(rd, key, "\"%s\" is not NAME:IP", s);
    return host_add(rd, key, ud, sv_graph_strndup(rd->g, s, cut), s + cut + 1);
}

int ex_key_extra_hosts(struct service_reader *rd, int idx, const char *key)
{
    lua_State *L = rd->L;
    static struct host_list l;
    l.n = 0;
    size_t n;
    if (!lua_istable(L, idx))
        return ex_fail(rd, key, "expected a list of \"NAME:IP\" or a table, got %s",
                       ex_type_of(L, idx));
    if (ex_is_list(L, idx, &n)) {
        if (ex_for_each(rd, idx, key, false, host_item, &l) < 0)
            return -1;
    } else {
        /* { name = "IP" } or { name = { "IP", "IP" } } */
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                lua_pop(L, 2);
                return ex_fail(rd, key, "host names must be strings");
            }
            const char *name = sv_graph_strdup(rd->g, lua_tostring(L, -2));
            const char **ips;
            if (ex_want_string_list(rd, lua_gettop(L), key, true, &ips) < 0)
                return -1;
            for (size_t i = 0; ips[i]; i++)
                if (host_add(rd, key, &l, name, ips[i]) < 0)
                    return -1;
            lua_pop(L, 1);
        }
        /* A table's order is not the file's: by name (stable, so one
         * name's addresses keep theirs). */
        for (size_t i = 1; i < l.n; i++)
            for (size_t k = i; k > 0 && strcmp(l.v[k - 1].key, l.v[k].key) > 0; k--) {
                struct sv_kv t = l.v[k];
                l.v[k] = l.v[k - 1];
                l.v[k - 1] = t;
            }
    }
    rd->svc->extra_hosts = sv_graph_alloc(rd->g, (l.n ? l.n : 1) * sizeof(l.v[0]));
    memcpy(rd->svc->extra_hosts, l.v, l.n * sizeof(l.v[0]));
    rd->svc->n_extra_hosts = l.n;
    return 0;
}
