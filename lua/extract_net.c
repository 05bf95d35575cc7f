/* ports and network: how a service is reached. */
#include "lua/extract_int.h"

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
