#include "lua/inputs.h"
#include "core/util.h"
#include "lua/sandbox.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

void sv_inputs_hash(const void *data, size_t len, char out[17])
{
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)len;
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static void add_line(struct sv_inputs *in, const char *kind, const char *key, const char *hash)
{
    if (in->volatile_)
        return;
    /* A path or name with a newline cannot be written as a line. */
    if (strchr(key, '\n')) {
        in->volatile_ = true;
        return;
    }
    size_t need = strlen(kind) + strlen(key) + (hash ? strlen(hash) + 1 : 0) + 3;
    if (in->len + need > in->cap) {
        in->cap = (in->len + need) * 2;
        in->lines = sv_xrealloc(in->lines, in->cap);
    }
    in->len += (size_t)snprintf(in->lines + in->len, in->cap - in->len, "%s %s%s%s\n", kind, key,
                                hash ? " " : "", hash ? hash : "");
}

void sv_inputs_file(struct sv_inputs *in, const char *path, const char *text, size_t len)
{
    char h[17];
    sv_inputs_hash(text, len, h);
    add_line(in, "file", path, h);
}

void sv_inputs_missing_file(struct sv_inputs *in, const char *path)
{
    add_line(in, "nofile", path, NULL);
}

void sv_inputs_env(struct sv_inputs *in, const char *name, const char *value)
{
    if (value == NULL) {
        add_line(in, "noenv", name, NULL);
        return;
    }
    char h[17];
    sv_inputs_hash(value, strlen(value), h);
    add_line(in, "env", name, h);
}

void sv_inputs_volatile(struct sv_inputs *in)
{
    in->volatile_ = true;
}

void sv_inputs_free(struct sv_inputs *in)
{
    free(in->lines);
    *in = (struct sv_inputs){0};
}

/* os.getenv: the original (upvalue 1), its answer recorded. */
static int recorded_getenv(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    sv_inputs_env(&sv_lua_of(L)->inputs, name, lua_tostring(L, -1));
    return 1;
}

/* Anything else wrapped: the evaluation stops being memoizable, then the
 * original (upvalue 1) runs with the same arguments. */
static int volatile_call(lua_State *L)
{
    sv_inputs_volatile(&sv_lua_of(L)->inputs);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static void wrap(lua_State *L, const char *lib, const char *name, lua_CFunction with)
{
    if (lua_getglobal(L, lib) != LUA_TTABLE) {
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, -1, name);
    lua_pushcclosure(L, with, 1);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
}

void sv_inputs_wrap_stdlib(lua_State *L)
{
    wrap(L, "os", "getenv", recorded_getenv);
    static const char *const volatile_fns[][2] = {
        {"os", "time"}, {"os", "clock"}, {"os", "date"},         {"math", "random"},
        {"io", "open"}, {"io", "lines"}, {"math", "randomseed"},
    };
    for (size_t i = 0; i < SV_ARRAY_LEN(volatile_fns); i++)
        wrap(L, volatile_fns[i][0], volatile_fns[i][1], volatile_call);
}
