/* The Lua state of one evaluation: its memory cap and instruction budget,
 * errors that name file:line, and stdlib/ loaded into it (the host table
 * it gets is hostlib.c; the repositories it may read, roots.c). */
#include "lua/sandbox.h"

#include "lua/embedded.h"
#include "lua/hostlib.h"
#include "manifests/yaml.h"

#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HOOK_EVERY 10000

uint64_t sv_lua_instruction_limit = SV_LUA_INSTRUCTION_LIMIT;
size_t sv_lua_memory_limit = SV_LUA_MEMORY_LIMIT;
bool sv_lua_warnings = true;

/* Sanitizer builds give Lua plain malloc, so ASan sees every Lua object. */
#if defined(__SANITIZE_ADDRESS__)
#define SV_LUA_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SV_LUA_POOL 0
#endif
#endif
#ifndef SV_LUA_POOL
#define SV_LUA_POOL 1
#endif

/* Count every byte Lua holds and refuse growth past the cap: Lua then
 * raises a memory error that ends the evaluation cleanly. */
static void *lua_alloc_capped(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct sv_lua *s = ud;
    size_t old = ptr ? osize : 0;
    if (nsize > old && s->mem_used + (nsize - old) > s->mem_limit)
        return NULL;
#if SV_LUA_POOL
    void *p = sv_pool_realloc(&s->pool, ptr, osize, nsize);
#else
    void *p = nsize ? realloc(ptr, nsize) : (free(ptr), NULL);
#endif
    if (p == NULL && nsize != 0)
        return NULL;
    s->mem_used = s->mem_used - old + nsize;
    return p;
}

/* Remember where user code is (for memory errors, which carry no position)
 * and stop endless loops. */
static void count_hook(lua_State *L, lua_Debug *ar)
{
    struct sv_lua *s = sv_lua_of(L);
    s->instructions += HOOK_EVERY;
    if (lua_getinfo(L, "Sl", ar) && ar->source[0] == '@' && ar->currentline > 0)
        snprintf(s->last_where, sizeof(s->last_where), "%s:%d", ar->source + 1, ar->currentline);
    if (s->instructions > s->instr_limit) {
        lua_pushfstring(L,
                        "%s: evaluation stopped after %d million instructions (an endless "
                        "loop?)",
                        s->last_where, (int)(s->instr_limit / 1000000));
        lua_error(L);
    }
}

/* The file:line of the innermost user frame, for errors that have none. */
static void push_user_where(lua_State *L)
{
    lua_Debug ar;
    for (int level = 0; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.source[0] == '@' && ar.currentline > 0) {
            lua_pushfstring(L, "%s:%d", ar.source + 1, ar.currentline);
            return;
        }
    }
    lua_pushstring(L, sv_lua_of(L)->last_where);
}

static int message_handler(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING)
        return 1;
    push_user_where(L);
    lua_pushfstring(L, "%s: error raised with a %s value instead of a message", lua_tostring(L, -1),
                    luaL_typename(L, 1));
    return 1;
}

bool sv_lua_isnull(lua_State *L, int idx)
{
    return lua_islightuserdata(L, idx) && lua_touserdata(L, idx) == SV_YAML_NULL;
}

int sv_lua_push_stdlib(lua_State *L, const char *name)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "sv.stdlib");
    if (lua_getfield(L, -1, name) != LUA_TNIL) {
        lua_remove(L, -2);
        return 0;
    }
    lua_pop(L, 1);
    char fname[128];
    snprintf(fname, sizeof(fname), "stdlib/%s.lua", name);
    const struct sv_embedded_file *f = sv_embedded_find(fname);
    if (f == NULL)
        return luaL_error(L, "internal error: no embedded %s", fname);
    lua_pushfstring(L, "=%s", fname);
    /* Compiled at build time by the very Lua linked in: servos' own code,
     * never a user's (their chunks load as text only). */
    int rc = f->code
                 ? luaL_loadbufferx(L, (const char *)f->code, f->code_len, lua_tostring(L, -1), "b")
                 : luaL_loadbufferx(L, f->data, f->len, lua_tostring(L, -1), "t");
    if (rc != LUA_OK)
        return lua_error(L);
    lua_remove(L, -2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sv_lua_of(L)->host_ref);
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    lua_remove(L, -2);
    return 0;
}

static int setup_state(lua_State *L)
{
    struct sv_lua *s = lua_touserdata(L, 1);
    /* The libraries an Envirofile may use: not package and debug, which the
     * sandbox (stdlib/servos.lua) would take away again; opening them was a
     * tenth of a small evaluation. */
    static const luaL_Reg libs[] = {
        {LUA_GNAME, luaopen_base},       {LUA_COLIBNAME, luaopen_coroutine},
        {LUA_TABLIBNAME, luaopen_table}, {LUA_IOLIBNAME, luaopen_io},
        {LUA_OSLIBNAME, luaopen_os},     {LUA_STRLIBNAME, luaopen_string},
        {LUA_MATHLIBNAME, luaopen_math}, {LUA_UTF8LIBNAME, luaopen_utf8},
    };
    for (size_t i = 0; i < SV_ARRAY_LEN(libs); i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    sv_inputs_wrap_stdlib(L);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "sv.stdlib");
    lua_newtable(L); /* weak-keyed: lines die with their tables */
    lua_createtable(L, 0, 1);
    lua_pushstring(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "sv.lines");
    sv_hostlib_push(L);
    s->host_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    sv_lua_push_stdlib(L, "servos");
    s->stdlib_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

int sv_lua_protected(struct sv_lua *s, lua_CFunction f, void *ud, sv_error_t *err)
{
    lua_State *L = s->L;
    int top = lua_gettop(L);
    lua_pushcfunction(L, message_handler);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, ud);
    int rc = lua_pcall(L, 1, 0, top + 1);
    if (rc == LUA_OK) {
        lua_settop(L, top);
        return 0;
    }
    if (rc == LUA_ERRMEM) {
        s->mem_limit = SIZE_MAX; /* let the error path allocate */
        sv_error(err, 0, "%s: evaluation used more than %zu MB of memory",
                 s->last_where[0] ? s->last_where : "?", sv_lua_memory_limit >> 20);
    } else {
        const char *msg = lua_tostring(L, -1);
        sv_error(err, 0, "%s", msg ? msg : "unknown Lua error");
    }
    lua_settop(L, top);
    return -1;
}

int sv_lua_new(struct sv_lua **out, sv_error_t *err)
{
    struct sv_lua *s = sv_xcalloc(1, sizeof(*s));
    s->mem_limit = sv_lua_memory_limit;
    s->instr_limit = sv_lua_instruction_limit;
    s->L = lua_newstate(lua_alloc_capped, s);
    if (s->L == NULL) {
        sv_pool_release(&s->pool);
        free(s);
        return sv_error(err, 0, "cannot create a Lua state");
    }
    *(struct sv_lua **)lua_getextraspace(s->L) = s;
    lua_sethook(s->L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
    if (sv_lua_protected(s, setup_state, s, err) < 0) {
        sv_lua_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void sv_lua_free(struct sv_lua *s)
{
    if (s == NULL)
        return;
    s->mem_limit = SIZE_MAX;
    lua_close(s->L);
    sv_pool_release(&s->pool);
    for (size_t i = 0; i < s->n_roots; i++) {
        free(s->roots[i]);
        free(s->labels[i]);
    }
    free(s->roots);
    free(s->labels);
    sv_inputs_free(&s->inputs);
    free(s);
}

static int run_envirofile(lua_State *L)
{
    const char *path = lua_touserdata(L, 1);
    sv_hostlib_load(L, path);
    lua_call(L, 0, 0);
    return 0;
}

int sv_lua_run_envirofile(struct sv_lua *s, const char *path, sv_error_t *err)
{
    return sv_lua_protected(s, run_envirofile, (void *)path, err);
}

static int run_yaml(lua_State *L)
{
    const char *path = lua_touserdata(L, 1);
    sv_lua_push_stdlib(L, "yamlfile");
    lua_getfield(L, -1, "load");
    lua_pushstring(L, path);
    lua_call(L, 1, 0);
    return 0;
}

int sv_lua_run_yaml(struct sv_lua *s, const char *path, sv_error_t *err)
{
    return sv_lua_protected(s, run_yaml, (void *)path, err);
}
