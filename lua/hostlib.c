/* The `host` table stdlib/ calls into: reading files (Lua source, text,
 * .env, YAML), git imports, positions and small helpers, all under the
 * sandbox's rules. A host function may meet a Lua error at any call, so
 * whatever C memory it holds across Lua calls sits in a box Lua owns. */
#include "lua/hostlib.h"

#include "git/gitsrc.h"
#include "lua/embedded.h"
#include "lua/nesting.h"
#include "lua/roots.h"
#include "manifests/dotenv.h"
#include "manifests/yaml.h"

#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Lua's parser gives up near 200 C levels (LUAI_MAXCCALLS); each bracket or
 * block costs at least one, so blame the line where nesting passes ~190. */
#define PARSE_DEPTH 190

/* Any Lua call may raise (a memory error, once the evaluation reaches its
 * cap) and longjmp past C cleanup attributes. What a host function holds
 * across Lua calls lives in a box on the Lua stack instead, a userdata
 * whose __gc frees it (as yaml.c keeps its parser). */
struct c_box {
    char *text; /* a file's contents */
    sv_error_t err;
    struct sv_git_checkout co;
    char **pairs; /* name, value, name, value, ... (a .env file) */
    size_t n_pairs;
};

static void c_box_release(struct c_box *b)
{
    free(b->text);
    b->text = NULL;
    sv_error_free(&b->err);
    sv_git_checkout_free(&b->co);
    for (size_t i = 0; i < b->n_pairs; i++)
        free(b->pairs[i]);
    free(b->pairs);
    b->pairs = NULL;
    b->n_pairs = 0;
}

static int c_box_gc(lua_State *L)
{
    c_box_release(lua_touserdata(L, 1));
    return 0;
}

/* An empty box on the stack. Raising here holds nothing yet. */
static struct c_box *push_box(lua_State *L)
{
    struct c_box *b = lua_newuserdatauv(L, sizeof(*b), 0);
    memset(b, 0, sizeof(*b));
    luaL_setmetatable(L, "sv.box");
    return b;
}

/* path into the box: its text, or the error. What was read (or found
 * missing) is one of the evaluation's inputs (lua/inputs.h), by absolute
 * path: a memo is checked from wherever the next command runs. */
static int box_read(lua_State *L, struct c_box *b, const char *path, size_t *len)
{
    size_t n = 0;
    int rc = sv_read_file(path, SV_MAX_INPUT_BYTES, &b->text, &n, &b->err);
    int e = errno;
    struct sv_inputs *in = &sv_lua_of(L)->inputs;
    char cwd[4096];
    cleanup_free char *abs = path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL
                                 ? sv_xstrdup(path)
                                 : sv_join_path(cwd, path);
    if (abs[0] != '/')
        sv_inputs_volatile(in);
    else if (rc == 0)
        sv_inputs_file(in, abs, b->text, n);
    else if (e == ENOENT)
        sv_inputs_missing_file(in, abs);
    else
        sv_inputs_volatile(in);
    if (len)
        *len = n;
    return rc;
}

/* The parser's own limits (C stack) come without a position: replace the
 * message on top of the stack with one that names the line. */
static void add_parse_position(lua_State *L, const char *path, const char *src, size_t len)
{
    const char *msg = lua_tostring(L, -1);
    if (msg == NULL || strncmp(msg, path, strlen(path)) == 0)
        return;
    int line = sv_nesting_deepest_line(src, len, PARSE_DEPTH);
    lua_pushfstring(L, "%s:%d: cannot parse: %s (the code is nested too deeply here)", path, line,
                    msg);
    lua_replace(L, -2);
}

/* path's Lua source loaded as a chunk: LUA_OK with the chunk pushed, or
 * an error status with the message pushed (the file unread, a compiled
 * chunk refused with path and then compiled as the message, a syntax
 * error with its line). */
static int load_source(lua_State *L, const char *path, const char *compiled)
{
    struct c_box *b = push_box(L);
    size_t len = 0;
    int rc = LUA_ERRFILE;
    if (box_read(L, b, path, &len) < 0) {
        lua_pushstring(L, b->err->msg);
    } else if (len > 0 && b->text[0] == LUA_SIGNATURE[0]) {
        lua_pushfstring(L, "%s%s", path, compiled);
    } else {
        lua_pushfstring(L, "@%s", path);
        rc = luaL_loadbufferx(L, b->text, len, lua_tostring(L, -1), "t");
        if (rc != LUA_OK)
            add_parse_position(L, path, b->text, len);
        lua_remove(L, -2); /* the chunk's name */
    }
    c_box_release(b);  /* now, rather than at the next collection: it may be 16 MB */
    lua_remove(L, -2); /* the box */
    return rc;
}

void sv_hostlib_load(lua_State *L, const char *path)
{
    if (load_source(L, path,
                    ":1: this is a compiled Lua chunk; Envirofiles must be Lua source text") !=
        LUA_OK)
        lua_error(L);
}

/* host.loadfile(path) -> chunk | nil, message */
static int host_loadfile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    if (load_source(L, path, " is a compiled Lua chunk; only Lua source can be included") == LUA_OK)
        return 1;
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

/* host.readfile(path) -> string | nil, message */
static int host_readfile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct c_box *b = push_box(L);
    size_t len = 0;
    if (box_read(L, b, path, &len) < 0) {
        lua_pushnil(L);
        lua_pushstring(L, b->err->msg);
        return 2;
    }
    lua_pushlstring(L, b->text, len);
    c_box_release(b);
    return 1;
}

/* Each variable into the box: the table is filled once parsing is done,
 * as a Lua call under sv_dotenv_parse could leave its own memory behind. */
static void dotenv_keep(void *ud, const char *key, const char *value)
{
    struct c_box *b = ud;
    b->pairs = sv_xrealloc(b->pairs, (b->n_pairs + 2) * sizeof(*b->pairs));
    b->pairs[b->n_pairs++] = sv_xstrdup(key);
    b->pairs[b->n_pairs++] = sv_xstrdup(value);
}

/* host.dotenv(path) -> table | nil (no such file); raises on a bad line */
static int host_dotenv(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct c_box *b = push_box(L);
    if (box_read(L, b, path, NULL) < 0) {
        lua_pushnil(L);
        return 1;
    }
    if (sv_dotenv_parse(path, b->text, dotenv_keep, b, &b->err) < 0) {
        lua_pushstring(L, b->err->msg);
        lua_error(L);
    }
    lua_createtable(L, 0, (int)(b->n_pairs / 2));
    for (size_t i = 0; i < b->n_pairs; i += 2) {
        lua_pushstring(L, b->pairs[i + 1]);
        lua_setfield(L, -2, b->pairs[i]);
    }
    return 1;
}

/* Where a YAML file's ${VAR} finds its value. */
struct var_sources {
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
    struct var_sources *vs = ud;
    const char *v = table_string(vs->L, vs->override, name);
    if (v == NULL) {
        v = getenv(name);
        sv_inputs_env(&sv_lua_of(vs->L)->inputs, name, v);
    }
    if (v == NULL)
        v = table_string(vs->L, vs->fallback, name);
    return v;
}

static void missing_var(void *ud, const char *name)
{
    struct var_sources *vs = ud;
    if (!sv_lua_warnings)
        return;
    lua_getfield(vs->L, vs->warned, name);
    bool seen = lua_toboolean(vs->L, -1);
    lua_pop(vs->L, 1);
    if (seen)
        return;
    lua_pushboolean(vs->L, 1);
    lua_setfield(vs->L, vs->warned, name);
    fprintf(stderr, "servos: warning: %s: variable %s is not set; using an empty string\n",
            vs->path, name);
}

/* host.yaml_load(path [, fallback [, override [, keep_bare_unset]]]) ->
 * value. With fallback (a table, possibly empty) scalars are interpolated:
 * override, then the host environment, then fallback; keep_bare_unset
 * leaves an unset $VAR as written (ProServe's way). */
static int host_yaml_load(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    bool interpolate = lua_istable(L, 2);
    int override = lua_istable(L, 3) ? 3 : 0;
    bool keep_bare = lua_toboolean(L, 4); /* before anything is pushed */
    struct c_box *b = push_box(L);
    size_t len = 0;
    if (box_read(L, b, path, &len) < 0) {
        lua_pushstring(L, b->err->msg);
        lua_error(L);
    }
    lua_newtable(L);
    struct var_sources vars = {.L = L,
                               .fallback = interpolate ? 2 : 0,
                               .override = override,
                               .warned = lua_gettop(L),
                               .path = path};
    struct sv_interp ip = {
        .lookup = lookup_var, .missing = missing_var, .ud = &vars, .keep_bare_unset = keep_bare};
    lua_getfield(L, LUA_REGISTRYINDEX, "sv.lines");
    sv_yaml_push(L, path, b->text, len, -1, interpolate ? &ip : NULL);
    c_box_release(b);
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
    sv_inputs_volatile(&sv_lua_of(L)->inputs); /* links can change under an unchanged file */
    char resolved[PATH_MAX];                   /* on the stack: nothing to free if pushing raises */
    lua_pushstring(L, realpath(path, resolved) ? resolved : path);
    return 1;
}

/* host.kind(path) -> "file", "dir", "other", or nil when nothing is there
 * (links followed): a manifest's scripts and directories are checked when
 * it is read, not at the first request. */
static int host_kind(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    sv_inputs_volatile(&sv_lua_of(L)->inputs); /* not recorded: a file may come and go */
    struct stat st;
    if (stat(path, &st) < 0)
        lua_pushnil(L);
    else
        lua_pushstring(L, S_ISREG(st.st_mode) ? "file" : S_ISDIR(st.st_mode) ? "dir" : "other");
    return 1;
}

static int host_git(lua_State *L)
{
    struct sv_lua *s = sv_lua_of(L);
    sv_inputs_volatile(&s->inputs); /* a branch moves with no file here changing */
    const char *spec = luaL_checkstring(L, 1);
    struct c_box *b = push_box(L);
    struct sv_git_source src = {0};
    int git = sv_git_source_parse(spec, &src, &b->err);
    if (git == 0) {
        lua_pushnil(L);
        return 1;
    }
    if (git > 0 && *src.path == '\0')
        sv_error(&b->err, 0, "%s: name a file in the repository (git+URL#REF:path/to/module.lua)",
                 src.display);
    else if (git > 0)
        sv_git_checkout(&src, "import", &b->co, &b->err);
    sv_git_source_free(&src); /* before any Lua call: it holds a credential */
    if (b->err) {
        lua_pushnil(L);
        lua_pushstring(L, b->err->msg);
        return 2;
    }
    sv_roots_add(s, b->co.root, b->co.label);
    lua_pushstring(L, b->co.path);
    lua_pushstring(L, b->co.commit);
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

void sv_hostlib_push(lua_State *L)
{
    luaL_newmetatable(L, "sv.box");
    lua_pushcfunction(L, c_box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    static const luaL_Reg host[] = {
        {"loadfile", host_loadfile},
        {"readfile", host_readfile},
        {"dotenv", host_dotenv},
        {"yaml_load", host_yaml_load},
        {"lines", host_lines},
        {"stdlib", host_stdlib},
        {"embedded", host_embedded},
        {"warn", host_warn},
        {"realpath", host_realpath},
        {"where", host_where},
        {"clone", host_clone},
        {"confine", sv_roots_confine},
        {"git", host_git},
        {"kind", host_kind},
        {NULL, NULL},
    };
    luaL_newlib(L, host);
    lua_pushlightuserdata(L, SV_YAML_NULL);
    lua_setfield(L, -2, "null");
}
