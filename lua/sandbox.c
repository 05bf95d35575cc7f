#include "lua/sandbox.h"

#include "git/gitsrc.h"
#include "manifests/dotenv.h"
#include "manifests/yaml.h"
#include "lua/embedded.h"
#include "lua/nesting.h"

#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HOOK_EVERY 10000
/* Lua's parser gives up near 200 C levels (LUAI_MAXCCALLS); each bracket or
 * block costs at least one, so blame the line where nesting passes ~190. */
#define SV_LUA_PARSE_DEPTH 190

uint64_t sv_lua_instruction_limit = SV_LUA_INSTRUCTION_LIMIT;
size_t sv_lua_memory_limit = SV_LUA_MEMORY_LIMIT;
bool sv_lua_warnings = true;

static struct sv_lua *self_of(lua_State *L)
{
    return *(struct sv_lua **)lua_getextraspace(L);
}

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
    struct sv_lua *s = self_of(L);
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
    lua_pushstring(L, self_of(L)->last_where);
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
    return lua_islightuserdata(L, idx) && lua_touserdata(L, idx) == SV_LUA_NULL;
}

/* The parser's own limits (C stack) come without a position: replace the
 * message on top of the stack with one that names the line. Does not
 * raise, so the caller can free src first. */
static void add_parse_position(lua_State *L, const char *path, const char *src, size_t len)
{
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL || strncmp(msg, path, strlen(path)) == 0)
        return;
    int line = sv_lua_deepest_line(src, len, SV_LUA_PARSE_DEPTH);
    lua_pushfstring(L, "%s:%d: cannot parse: %s (the code is nested too deeply here)", path, line,
                    msg);
    lua_replace(L, -2);
}

/* Load a text chunk named "@path" (so errors say path:line). Binary
 * (precompiled) chunks are refused. Pushes the function, or raises. */
static void load_source(lua_State *L, const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    sv_error_t err = NULL;
    if (sv_read_file(path, SV_MAX_INPUT_BYTES, &buf, &len, &err) < 0) {
        lua_pushstring(L, err->msg);
        sv_error_free(&err);
        lua_error(L);
    }
    if (len > 0 && buf[0] == LUA_SIGNATURE[0]) {
        free(buf);
        luaL_error(L, "%s:1: this is a compiled Lua chunk; Envirofiles must be Lua source text",
                   path);
    }
    lua_pushfstring(L, "@%s", path);
    int rc = luaL_loadbufferx(L, buf, len, lua_tostring(L, -1), "t");
    lua_remove(L, -2);
    if (rc != LUA_OK)
        add_parse_position(L, path, buf, len);
    free(buf);
    if (rc != LUA_OK)
        lua_error(L);
}

/* host.loadfile(path) -> chunk | nil, message */
static int host_loadfile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *buf = NULL;
    size_t len = 0;
    sv_error_t err = NULL;
    if (sv_read_file(path, SV_MAX_INPUT_BYTES, &buf, &len, &err) < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err->msg);
        sv_error_free(&err);
        return 2;
    }
    if (len > 0 && buf[0] == LUA_SIGNATURE[0]) {
        free(buf);
        lua_pushnil(L);
        lua_pushfstring(L, "%s is a compiled Lua chunk; only Lua source can be included", path);
        return 2;
    }
    lua_pushfstring(L, "@%s", path);
    int rc = luaL_loadbufferx(L, buf, len, lua_tostring(L, -1), "t");
    if (rc != LUA_OK)
        add_parse_position(L, path, buf, len);
    free(buf);
    if (rc != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return 1;
}

/* host.readfile(path) -> string | nil, message */
static int host_readfile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *buf = NULL;
    size_t len = 0;
    sv_error_t err = NULL;
    if (sv_read_file(path, SV_MAX_INPUT_BYTES, &buf, &len, &err) < 0) {
        lua_pushnil(L);
        lua_pushstring(L, err->msg);
        sv_error_free(&err);
        return 2;
    }
    /* Copy into a Lua-owned buffer first so a memory error cannot leak buf. */
    luaL_Buffer b;
    char *dst = luaL_buffinitsize(L, &b, len);
    memcpy(dst, buf, len);
    free(buf);
    luaL_pushresultsize(&b, len);
    return 1;
}

static void dotenv_set(void *ud, const char *key, const char *value)
{
    lua_State *L = ud;
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

/* host.dotenv(path) -> table | nil (no such file); raises on a bad line */
static int host_dotenv(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char *buf = NULL;
    sv_error_t err = NULL;
    if (sv_read_file(path, SV_MAX_INPUT_BYTES, &buf, NULL, &err) < 0) {
        sv_error_free(&err);
        lua_pushnil(L);
        return 1;
    }
    lua_pushstring(L, buf); /* keep the text Lua-owned while parsing */
    free(buf);
    lua_newtable(L);
    if (sv_dotenv_parse(path, lua_tostring(L, -2), dotenv_set, L, &err) < 0) {
        lua_pushstring(L, err->msg);
        sv_error_free(&err);
        lua_error(L);
    }
    return 1;
}

struct lookup_ctx {
    lua_State *L;
    int fallback; /* table of values the host environment overrides (.env), or 0 */
    int override; /* table of values that override the host (ProServe env_files), or 0 */
    int warned;   /* table of names already warned about */
    const char *path;
};

static const char *table_string(lua_State *L, int t, const char *name)
{
    if (t == 0)
        return NULL;
    lua_getfield(L, t, name);
    const char *v = lua_tostring(L, -1); /* stays alive: it is in the table */
    lua_pop(L, 1);
    return v;
}

static const char *lookup_var(void *ud, const char *name)
{
    struct lookup_ctx *c = ud;
    const char *v = table_string(c->L, c->override, name);
    if (v == NULL)
        v = getenv(name);
    if (v == NULL)
        v = table_string(c->L, c->fallback, name);
    return v;
}

static void missing_var(void *ud, const char *name)
{
    struct lookup_ctx *c = ud;
    if (!sv_lua_warnings)
        return;
    lua_getfield(c->L, c->warned, name);
    bool seen = lua_toboolean(c->L, -1);
    lua_pop(c->L, 1);
    if (seen)
        return;
    lua_pushboolean(c->L, 1);
    lua_setfield(c->L, c->warned, name);
    fprintf(stderr, "servos: warning: %s: variable %s is not set; using an empty string\n", c->path,
            name);
}

/* host.yaml_load(path [, fallback [, override]]) -> value. With fallback (a
 * table, possibly empty) scalars are interpolated: override, then the host
 * environment, then fallback. */
static int host_yaml_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    bool interpolate = lua_istable(L, 2);
    int override = lua_istable(L, 3) ? 3 : 0;
    char *buf = NULL;
    size_t len = 0;
    sv_error_t err = NULL;
    if (sv_read_file(path, SV_MAX_INPUT_BYTES, &buf, &len, &err) < 0) {
        lua_pushstring(L, err->msg);
        sv_error_free(&err);
        lua_error(L);
    }
    lua_pushlstring(L, buf, len);
    free(buf);
    int text = lua_gettop(L);
    lua_newtable(L);
    struct lookup_ctx lc = {.L = L,
                            .fallback = interpolate ? 2 : 0,
                            .override = override,
                            .warned = lua_gettop(L),
                            .path = path};
    struct sv_interp ip = {.lookup = lookup_var, .missing = missing_var, .ud = &lc};
    lua_getfield(L, LUA_REGISTRYINDEX, "sv.lines");
    size_t tlen;
    const char *t = lua_tolstring(L, text, &tlen);
    sv_yaml_push(L, path, t, tlen, -1, interpolate ? &ip : NULL);
    return 1;
}

/* host.lines(tbl) -> the line table the YAML front made for tbl, or nil */
static int host_lines(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "sv.lines");
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    return 1;
}

static int host_warn(lua_State *L)
{
    const char *msg = luaL_checkstring(L, 1);
    if (sv_lua_warnings)
        fputs(msg, stderr);
    return 0;
}

/* host.realpath(path) -> absolute path (the path itself when it cannot be
 * resolved) */
static int host_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char resolved[PATH_MAX]; /* on the stack: nothing to free if pushing raises */
    lua_pushstring(L, realpath(path, resolved) ? resolved : path);
    return 1;
}

/* ---- repositories ---------------------------------------------------------- */

void sv_lua_add_root(struct sv_lua *s, const char *root, const char *label)
{
    for (size_t i = 0; i < s->n_roots; i++)
        if (strcmp(s->roots[i], root) == 0)
            return;
    s->roots = sv_xrealloc(s->roots, (s->n_roots + 1) * sizeof(*s->roots));
    s->labels = sv_xrealloc(s->labels, (s->n_roots + 1) * sizeof(*s->labels));
    s->labels[s->n_roots] = sv_xstrdup(label);
    s->roots[s->n_roots++] = sv_xstrdup(root);
}

void sv_lua_relabel(struct sv_lua *s, sv_error_t *err)
{
    if (err == NULL || *err == NULL)
        return;
    for (size_t i = 0; i < s->n_roots; i++) {
        /* "<root>/path" reads "git+URL#COMMIT:path"; "<root>" alone, the
         * label without its ":". */
        size_t rl = strlen(s->roots[i]), ll = strlen(s->labels[i]);
        char *p;
        while ((p = strstr((*err)->msg, s->roots[i])) != NULL) {
            bool sub = p[rl] == '/';
            char *msg = sv_xasprintf("%.*s%.*s%s", (int)(p - (*err)->msg), (*err)->msg,
                                     (int)(sub ? ll : ll - 1), s->labels[i], p + rl + sub);
            free((*err)->msg);
            (*err)->msg = msg;
        }
    }
}

/* The root whose tree holds path, or NULL. */
static const char *root_of(struct sv_lua *s, const char *path)
{
    for (size_t i = 0; i < s->n_roots; i++) {
        size_t rl = strlen(s->roots[i]);
        if (strncmp(path, s->roots[i], rl) == 0 && (path[rl] == '/' || path[rl] == '\0'))
            return s->roots[i];
    }
    return NULL;
}

/* path made absolute with "." and ".." folded away, without asking the
 * file system (for paths that do not exist). */
static char *lexical_abs(const char *path)
{
    char cwd[PATH_MAX] = "/";
    if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
        strcpy(cwd, "/");
    char *joined = path[0] == '/' ? sv_xstrdup(path) : sv_xasprintf("%s/%s", cwd, path);
    char *out = sv_xmalloc(strlen(joined) + 2);
    size_t n = 0;
    for (char *save = NULL, *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            while (n > 0 && out[--n] != '/')
                ;
            continue;
        }
        out[n++] = '/';
        size_t l = strlen(c);
        memcpy(out + n, c, l);
        n += l;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    free(joined);
    return out;
}

bool sv_lua_inside_roots(struct sv_lua *s, const char *path)
{
    char real[PATH_MAX];
    char *target = realpath(path, real) ? sv_xstrdup(real) : lexical_abs(path);
    bool inside = root_of(s, target) != NULL;
    free(target);
    return inside;
}

/* host.confine(path) -> boolean: may the running code read path? Code
 * from a repository's tree reads only inside that tree (symlinks
 * followed); when the evaluation itself comes from a repository, or a tail
 * call hides who is asking, every read stays inside the repositories. */
static int host_confine(lua_State *L)
{
    struct sv_lua *s = self_of(L);
    const char *path = luaL_checkstring(L, 1);
    if (s->n_roots == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    const char *caller = NULL;
    bool hidden = false;
    lua_Debug ar;
    for (int level = 1; caller == NULL && !hidden && lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "St", &ar))
            continue;
        if (ar.source[0] == '@')
            caller = ar.source + 1;
        else
            hidden = ar.istailcall;
    }
    const char *root = caller ? root_of(s, caller) : NULL;
    char real[PATH_MAX];
    char *target = realpath(path, real) ? sv_xstrdup(real) : lexical_abs(path);
    const char *in = root_of(s, target);
    free(target);
    bool ok = root ? in == root : (s->confine_all || hidden) ? in != NULL : true;
    lua_pushboolean(L, ok);
    return 1;
}

/* host.git(spec) -> file, commit | nil, message | nil (not a git source):
 * fetch (or take from the cache) the repository and commit spec names. */
static int host_git(lua_State *L)
{
    struct sv_lua *s = self_of(L);
    const char *spec = luaL_checkstring(L, 1);
    struct sv_git_source src;
    struct sv_git_checkout co = {0};
    sv_error_t err = NULL;
    int git = sv_git_source_parse(spec, &src, &err);
    if (git == 0) {
        lua_pushnil(L);
        return 1;
    }
    if (git > 0 && *src.path == '\0')
        sv_error(&err, 0, "%s: name a file in the repository (git+URL#REF:path/to/module.lua)",
                 src.display);
    else if (git > 0)
        sv_git_checkout(&src, "import", &co, &err);
    sv_git_source_free(&src);
    if (err) {
        lua_pushnil(L);
        lua_pushstring(L, err->msg);
        sv_error_free(&err);
        sv_git_checkout_free(&co);
        return 2;
    }
    sv_lua_add_root(s, co.root, co.label);
    lua_pushstring(L, co.path);
    lua_pushstring(L, co.commit);
    sv_git_checkout_free(&co);
    return 2;
}

/* host.where() -> file, line of the innermost frame running user code
 * (chunks named "@path"; the embedded stdlib is "=..."), or "?", 0. In C
 * because every declaration asks, and debug.getinfo builds a table per
 * frame it looks at. */
static int host_where(lua_State *L)
{
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.source[0] == '@' && ar.currentline > 0) {
            lua_pushstring(L, ar.source + 1);
            lua_pushinteger(L, ar.currentline);
            return 2;
        }
    }
    lua_pushliteral(L, "?");
    lua_pushinteger(L, 0);
    return 2;
}

/* host.clone(t) -> a shallow copy of t, sized once (a copy built key by
 * key in Lua rehashes its way up through every power of two). */
static int host_clone(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int narr = 0, nrec = 0;
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pop(L, 1);
        if (lua_isinteger(L, -1) && lua_tointeger(L, -1) == narr + 1)
            narr++;
        else
            nrec++;
    }
    lua_createtable(L, narr, nrec);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 2);
    }
    return 1;
}

static int host_stdlib(lua_State *L)
{
    sv_lua_push_stdlib(L, luaL_checkstring(L, 1));
    return 1;
}

/* host.embedded(prefix) -> { name = source, ... } for every embedded file
 * under prefix (platform tables). */
static int host_embedded(lua_State *L)
{
    const char *prefix = luaL_checkstring(L, 1);
    size_t pl = strlen(prefix);
    lua_newtable(L);
    for (size_t i = 0; i < sv_embedded_count; i++) {
        const struct sv_embedded_file *f = &sv_embedded_files[i];
        if (strncmp(f->name, prefix, pl) != 0)
            continue;
        lua_pushlstring(L, f->data, f->len);
        lua_setfield(L, -2, f->name);
    }
    return 1;
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
    if (luaL_loadbufferx(L, f->data, f->len, lua_tostring(L, -1), "t") != LUA_OK)
        return lua_error(L);
    lua_remove(L, -2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, self_of(L)->host_ref);
    lua_call(L, 1, 1);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, name);
    lua_remove(L, -2);
    return 0;
}

static int setup(lua_State *L)
{
    struct sv_lua *s = lua_touserdata(L, 1);
    luaL_openlibs(L);
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "sv.stdlib");
    lua_newtable(L); /* weak-keyed: lines die with their tables */
    lua_createtable(L, 0, 1);
    lua_pushstring(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, "sv.lines");

    static const luaL_Reg host[] = {
        {"loadfile", host_loadfile}, {"readfile", host_readfile},
        {"dotenv", host_dotenv},     {"yaml_load", host_yaml_load},
        {"lines", host_lines},       {"stdlib", host_stdlib},
        {"embedded", host_embedded}, {"warn", host_warn},
        {"realpath", host_realpath}, {"where", host_where},
        {"clone", host_clone},       {"confine", host_confine},
        {"git", host_git},           {NULL, NULL},
    };
    luaL_newlib(L, host);
    lua_pushlightuserdata(L, SV_LUA_NULL);
    lua_setfield(L, -2, "null");
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
    if (sv_lua_protected(s, setup, s, err) < 0) {
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
    free(s);
}

static int run_envirofile(lua_State *L)
{
    const char *path = lua_touserdata(L, 1);
    load_source(L, path);
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
