/* A ProServe manifest's body, kept as a plain value tree for the service
 * host (the YAML front hands it over as Lua tables). */
#include "lua/extract_int.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int to_value(struct service_reader *rd, int idx, const char *key, struct sv_value *out,
                    int depth);

/* An empty table is a list when the YAML front says it was one ({} reads
 * both ways in Lua): its line table holds [true] = "seq". */
static bool empty_is_list(lua_State *L, int idx)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "sv.lines");
    lua_pushvalue(L, idx);
    lua_rawget(L, -2);
    bool seq = false;
    if (lua_istable(L, -1)) {
        lua_pushboolean(L, 1);
        lua_rawget(L, -2);
        seq = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "seq") == 0;
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    return seq;
}

static int list_to_value(struct service_reader *rd, int idx, const char *key, size_t n,
                         struct sv_value *out, int depth)
{
    lua_State *L = rd->L;
    out->kind = SV_ARRAY;
    out->u.list.n = n;
    out->u.list.items = sv_graph_alloc(rd->g, (n ? n : 1) * sizeof(struct sv_value));
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        int rc = to_value(rd, -1, key, &out->u.list.items[i], depth + 1);
        lua_pop(L, 1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Keys as text, sorted, so the value (and the service's hash) does not
 * depend on table order. */
static int map_to_value(struct service_reader *rd, int idx, const char *key, struct sv_value *out,
                        int depth)
{
    lua_State *L = rd->L;
    size_t count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
    }
    const char **keys = sv_graph_alloc(rd->g, (count ? count : 1) * sizeof(*keys));
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        lua_pushvalue(L, -1); /* lua_tostring turns a number key into text in place */
        keys[k++] = sv_graph_strdup(rd->g, lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        lua_pop(L, 1);
    }
    qsort(keys, count, sizeof(*keys), cmp_str);
    out->kind = SV_OBJECT;
    out->u.list.n = count;
    out->u.list.keys = keys;
    out->u.list.items = sv_graph_alloc(rd->g, (count ? count : 1) * sizeof(struct sv_value));
    for (size_t i = 0; i < count; i++) {
        lua_getfield(L, idx, keys[i]);
        if (lua_isnil(L, -1)) { /* a numeric key: fetch it as a number */
            lua_pop(L, 1);
            lua_pushnumber(L, strtod(keys[i], NULL));
            if (lua_isinteger(L, -1) == 0) {
                lua_Integer iv = (lua_Integer)lua_tonumber(L, -1);
                lua_pop(L, 1);
                lua_pushinteger(L, iv);
            }
            lua_rawget(L, idx);
        }
        int rc = to_value(rd, -1, key, &out->u.list.items[i], depth + 1);
        lua_pop(L, 1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Any Lua value as a plain value tree (the ProServe body). The YAML front
 * shares tables between aliases, so a budget stops "billion laughs". */
static int to_value(struct service_reader *rd, int idx, const char *key, struct sv_value *out,
                    int depth)
{
    lua_State *L = rd->L;
    if (rd->value_budget-- == 0)
        return ex_fail(rd, key,
                       "the value is too large (more than 1,000,000 nodes after "
                       "expanding YAML aliases)");
    if (depth > 64)
        return ex_fail(rd, key, "the value is nested too deeply");
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        out->kind = SV_NULL;
        return 0;
    case LUA_TBOOLEAN:
        out->kind = SV_BOOL;
        out->u.b = lua_toboolean(L, idx);
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            out->kind = SV_INT;
            out->u.i = lua_tointeger(L, idx);
        } else {
            out->kind = SV_NUM;
            out->u.d = lua_tonumber(L, idx);
        }
        return 0;
    case LUA_TSTRING:
        out->kind = SV_STR;
        out->u.s = sv_graph_strdup(rd->g, lua_tostring(L, idx));
        return 0;
    case LUA_TLIGHTUSERDATA:
        if (sv_lua_isnull(L, idx)) {
            out->kind = SV_NULL;
            return 0;
        }
        break;
    case LUA_TTABLE: {
        if (!lua_checkstack(L, 8))
            return ex_fail(rd, key, "the value is nested too deeply");
        size_t n;
        bool seq = ex_is_list(L, idx, &n);
        if (n == 0) /* {} : an empty YAML list stays a list */
            seq = empty_is_list(L, idx);
        return seq ? list_to_value(rd, idx, key, n, out, depth)
                   : map_to_value(rd, idx, key, out, depth);
    }
    default:
        break;
    }
    return ex_fail(rd, key, "a %s cannot be part of the graph", luaL_typename(L, idx));
}

int ex_key_proserve(struct service_reader *rd, int idx, const char *key)
{
    rd->svc->proserve = sv_graph_alloc(rd->g, sizeof(struct sv_value));
    rd->value_budget = 1000000;
    return to_value(rd, idx, key, rd->svc->proserve, 0);
}
