/* The typed readers every service key uses: a string, a whole number, a
 * list, a command, a path, one of a few words. Each one fails through
 * ex_fail, so every message names file:line, the service and the key. */
#include "lua/extract_int.h"

#include "core/safepath.h"

#include <lauxlib.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char *ex_where(struct service_reader *rd, const char *key)
{
    if (rd->lines) {
        lua_getfield(rd->L, rd->lines, key);
        const char *w = lua_tostring(rd->L, -1);
        lua_pop(rd->L, 1);
        if (w)
            return sv_graph_strdup(rd->g, w);
    }
    return rd->svc->where;
}

int ex_fail(struct service_reader *rd, const char *key, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sv_error(rd->err, 0, "%s: service \"%s\": %s: %s", ex_where(rd, key), rd->svc->name, key,
                    msg);
}

int ex_fail_parse(struct service_reader *rd, const char *key, sv_error_t *perr)
{
    char msg[1024]; /* a copy: ex_where may raise, and *perr must not leak */
    snprintf(msg, sizeof(msg), "%s", (*perr)->msg);
    sv_error_free(perr);
    return ex_fail(rd, key, "%s", msg);
}

const char *ex_type_of(lua_State *L, int idx)
{
    if (sv_lua_isnull(L, idx))
        return "null";
    if (lua_isinteger(L, idx))
        return "integer";
    return luaL_typename(L, idx);
}

int ex_want_string(struct service_reader *rd, int idx, const char *key, const char **out)
{
    lua_State *L = rd->L;
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (strlen(s) != len)
            return ex_fail(rd, key, "the string contains a NUL byte");
        *out = sv_graph_strndup(rd->g, s, len);
        return 0;
    }
    if (t == LUA_TNUMBER) {
        lua_pushvalue(L, idx);
        *out = sv_graph_strdup(rd->g, lua_tostring(L, -1));
        lua_pop(L, 1);
        return 0;
    }
    return ex_fail(rd, key, "expected a string, got %s", ex_type_of(L, idx));
}

int ex_want_int(struct service_reader *rd, int idx, const char *key, int64_t lo, int64_t hi,
                int64_t *out)
{
    lua_State *L = rd->L;
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum || lua_type(L, idx) != LUA_TNUMBER) {
        if (lua_type(L, idx) == LUA_TNUMBER)
            return ex_fail(rd, key, "expected a whole number, got %g", lua_tonumber(L, idx));
        if (lua_type(L, idx) == LUA_TSTRING)
            return ex_fail(rd, key, "expected a whole number, got the string \"%s\"",
                           lua_tostring(L, idx));
        return ex_fail(rd, key, "expected a whole number, got %s", ex_type_of(L, idx));
    }
    if (v < lo || v > hi)
        return ex_fail(rd, key, "%lld is out of range (expected %lld to %lld)", (long long)v,
                       (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

int ex_want_bool(struct service_reader *rd, int idx, const char *key, bool *out)
{
    if (lua_type(rd->L, idx) != LUA_TBOOLEAN)
        return ex_fail(rd, key, "expected true or false, got %s", ex_type_of(rd->L, idx));
    *out = lua_toboolean(rd->L, idx);
    return 0;
}

bool ex_is_list(lua_State *L, int idx, size_t *n)
{
    size_t len = lua_rawlen(L, idx), count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return false;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1 || (size_t)k > len) {
            lua_pop(L, 1);
            return false;
        }
        count++;
    }
    *n = len;
    return count == len;
}

int ex_want_string_list(struct service_reader *rd, int idx, const char *key, bool allow_single,
                        const char ***out)
{
    lua_State *L = rd->L;
    size_t n;
    if (allow_single && lua_type(L, idx) == LUA_TSTRING) {
        const char **v = sv_graph_alloc(rd->g, 2 * sizeof(*v));
        if (ex_want_string(rd, idx, key, &v[0]) < 0)
            return -1;
        *out = v;
        return 0;
    }
    if (!lua_istable(L, idx) || !ex_is_list(L, idx, &n))
        return ex_fail(rd, key, "expected a list of strings, got %s",
                       lua_istable(L, idx) ? "a table with named keys" : ex_type_of(L, idx));
    const char **v = sv_graph_alloc(rd->g, (n + 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        int t = lua_type(L, -1);
        if (t != LUA_TSTRING && t != LUA_TNUMBER) {
            ex_fail(rd, key, "item %zu: expected a string, got %s", i + 1, ex_type_of(L, -1));
            lua_pop(L, 1);
            return -1;
        }
        int rc = ex_want_string(rd, lua_gettop(L), key, &v[i]);
        lua_pop(L, 1);
        if (rc < 0)
            return -1;
    }
    *out = v;
    return 0;
}

int ex_want_argv(struct service_reader *rd, int idx, const char *key, const char ***out)
{
    lua_State *L = rd->L;
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char **v = sv_graph_alloc(rd->g, 4 * sizeof(*v));
        v[0] = "/bin/sh";
        v[1] = "-c";
        if (ex_want_string(rd, idx, key, &v[2]) < 0)
            return -1;
        if (v[2][0] == '\0')
            return ex_fail(rd, key, "the command is empty");
        *out = v;
        return 0;
    }
    if (!lua_istable(L, idx))
        return ex_fail(rd, key, "expected a list of arguments or a shell command string, got %s",
                       ex_type_of(L, idx));
    if (ex_want_string_list(rd, idx, key, false, out) < 0)
        return -1;
    if ((*out)[0] == NULL)
        return ex_fail(rd, key, "the command is empty");
    return 0;
}

const char *ex_resolve_path(struct service_reader *rd, const char *p)
{
    if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
        const char *home = getenv("HOME");
        cleanup_free char *t = sv_xasprintf("%s%s", home ? home : "/root", p + 1);
        return sv_graph_strdup(rd->g, t);
    }
    cleanup_free char *joined = sv_join_path(rd->dir, p);
    cleanup_free char *abs = sv_join_path(rd->cwd, joined);
    /* Fold "/./" and "a/../" so the graph holds one spelling per path. */
    cleanup_free char *clean = sv_path_clean(abs);
    return sv_graph_strdup(rd->g, clean);
}

int ex_for_each(struct service_reader *rd, int idx, const char *key, bool allow_single,
                int (*fn)(struct service_reader *, const char *, int, void *), void *ud)
{
    lua_State *L = rd->L;
    size_t n;
    if (!lua_istable(L, idx) || (allow_single && !ex_is_list(L, idx, &n))) {
        if (allow_single)
            return fn(rd, key, idx, ud);
        return ex_fail(rd, key, "expected a list, got %s", ex_type_of(L, idx));
    }
    if (!ex_is_list(L, idx, &n))
        return ex_fail(rd, key, "expected a list, got a table with named keys");
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        int rc = fn(rd, key, lua_gettop(L), ud);
        lua_pop(L, 1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int ex_want_choice(struct service_reader *rd, int idx, const char *key, const char *const *choices,
                   size_t n, const char **out)
{
    const char *s;
    if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, choices[i]) == 0) {
            *out = choices[i];
            return 0;
        }
    char list[256] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                 i == 0       ? ""
                 : i + 1 == n ? " or "
                              : ", ",
                 choices[i]);
    const char *sugg = sv_suggest(s, choices, n);
    return ex_fail(rd, key, "\"%s\" is not one of %s%s%s%s", s, list,
                   sugg ? " (did you mean \"" : "", sugg ? sugg : "", sugg ? "\"?)" : "");
}
