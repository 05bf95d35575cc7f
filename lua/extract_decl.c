/* The stack's own networks, secrets and configs (top-level `networks`,
 * `secrets`, `configs`; network "x", secret "x", config "x" in an
 * Envirofile) into the graph. A secret's content is read here, once, so a
 * missing file is an error of `servos config` already; no message ever
 * carries content. */
#include "lua/extract_int.h"

#include "core/safepath.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Bigger than this is not a secret or a config but data: a volume. */
#define FILE_MAX (1 << 20)

struct decl_reader {
    lua_State *L;
    struct sv_graph *g;
    sv_error_t *err;
    const char *cwd;
    const char *kind, *name, *where;
};

static int decl_fail(struct decl_reader *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int decl_fail(struct decl_reader *d, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sv_error(d->err, 0, "%s: %s \"%s\": %s", d->where, d->kind, d->name, msg);
}

/* Unknown option keys, with the closest known one. */
static int check_keys(struct decl_reader *d, int opts, const char *const *known, size_t n)
{
    lua_State *L = d->L;
    lua_pushnil(L);
    while (lua_next(L, opts)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        bool found = false;
        for (size_t i = 0; k && i < n; i++)
            found |= strcmp(k, known[i]) == 0;
        if (!found) {
            char key[128];
            snprintf(key, sizeof(key), "%s", k ? k : "(a list item)");
            lua_pop(L, 1);
            const char *sugg = k ? sv_suggest(key, known, n) : NULL;
            return decl_fail(d, "unknown option \"%s\"%s%s%s", key, sugg ? " (did you mean \"" : "",
                             sugg ? sugg : "", sugg ? "\"?)" : "");
        }
    }
    return 0;
}

static void string_of(lua_State *L, int t, const char *k, struct sv_graph *g, const char **out)
{
    lua_getfield(L, t, k);
    *out = lua_type(L, -1) == LUA_TSTRING ? sv_graph_strdup(g, lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
}

static int read_network(struct decl_reader *d, int rec, struct sv_network *net)
{
    lua_State *L = d->L;
    net->name = d->name;
    net->where = d->where;
    lua_getfield(L, rec, "opts");
    int opts = lua_gettop(L);
    if (!lua_istable(L, opts))
        return 0;
    static const char *const known[] = {"internal"};
    if (check_keys(d, opts, known, SV_ARRAY_LEN(known)) < 0)
        return -1;
    lua_getfield(L, opts, "internal");
    if (!lua_isnil(L, -1) && !sv_lua_isnull(L, -1)) {
        if (lua_type(L, -1) != LUA_TBOOLEAN)
            return decl_fail(d, "internal: expected true or false");
        net->internal = lua_toboolean(L, -1);
    }
    lua_settop(L, opts - 1);
    return 0;
}

/* A path of the declaring file, relative to its directory. */
static const char *resolve(struct decl_reader *d, const char *p)
{
    cleanup_free char *file = sv_xstrdup(d->where);
    char *colon = strrchr(file, ':');
    if (colon)
        *colon = '\0';
    cleanup_free char *dir = sv_dirname(file);
    cleanup_free char *joined = sv_join_path(dir, p);
    cleanup_free char *abs = sv_join_path(d->cwd, joined);
    cleanup_free char *clean = sv_path_clean(abs);
    return sv_graph_strdup(d->g, clean);
}

static int read_file_source(struct decl_reader *d, const char *given, struct sv_filedef *f)
{
    f->file = resolve(d, given);
    char *buf = NULL;
    size_t len = 0;
    sv_error_t rerr = NULL;
    if (sv_read_file(f->file, FILE_MAX, &buf, &len, &rerr) < 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s", rerr->msg);
        sv_error_free(&rerr);
        return decl_fail(d, "file: %s", msg);
    }
    f->data = sv_graph_strndup(d->g, buf, len);
    f->len = len;
    free(buf);
    return 0;
}

static int read_filedef(struct decl_reader *d, int rec, struct sv_filedef *f)
{
    lua_State *L = d->L;
    f->name = d->name;
    f->where = d->where;
    lua_getfield(L, rec, "opts");
    int opts = lua_gettop(L);
    if (!lua_istable(L, opts))
        return decl_fail(d, "needs one of file, environment or content");
    static const char *const known[] = {"file", "environment", "content"};
    if (check_keys(d, opts, known, SV_ARRAY_LEN(known)) < 0)
        return -1;
    const char *file, *env, *content;
    string_of(L, opts, "file", d->g, &file);
    string_of(L, opts, "environment", d->g, &env);
    string_of(L, opts, "content", d->g, &content);
    int given = !!file + !!env + !!content;
    for (size_t i = 0; i < SV_ARRAY_LEN(known); i++) {
        lua_getfield(L, opts, known[i]);
        bool bad = !lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING;
        lua_pop(L, 1);
        if (bad)
            return decl_fail(d, "%s: expected a string", known[i]);
    }
    if (given != 1)
        return decl_fail(d, given ? "give only one of file, environment and content"
                                  : "needs one of file, environment or content");
    if (file)
        return read_file_source(d, file, f);
    if (env) {
        const char *value;
        string_of(L, rec, "value", d->g, &value);
        if (value == NULL)
            return decl_fail(d, "environment: the variable %s is not set", env);
        f->env = env;
        f->data = value;
        f->len = strlen(value);
        return 0;
    }
    f->data = content;
    f->len = strlen(content);
    return 0;
}

/* decl.networks and decl.files (the table at decl) into g. */
int ex_decl_read(lua_State *L, int decl, struct sv_graph *g, const char *cwd, sv_error_t *err)
{
    struct decl_reader d = {.L = L, .g = g, .err = err, .cwd = cwd};
    lua_getfield(L, decl, "networks");
    int nets = lua_gettop(L);
    size_t n = lua_rawlen(L, nets);
    g->networks = sv_graph_alloc(g, (n ? n : 1) * sizeof(*g->networks));
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, nets, (lua_Integer)i + 1);
        int rec = lua_gettop(L);
        d.kind = "network";
        string_of(L, rec, "name", g, &d.name);
        string_of(L, rec, "where", g, &d.where);
        memset(&g->networks[i], 0, sizeof(g->networks[i]));
        if (read_network(&d, rec, &g->networks[i]) < 0)
            return -1;
        g->n_networks++;
        lua_settop(L, nets);
    }
    lua_getfield(L, decl, "files");
    int files = lua_gettop(L);
    n = lua_rawlen(L, files);
    g->files = sv_graph_alloc(g, (n ? n : 1) * sizeof(*g->files));
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, files, (lua_Integer)i + 1);
        int rec = lua_gettop(L);
        lua_getfield(L, rec, "config");
        bool config = lua_toboolean(L, -1);
        lua_pop(L, 1);
        d.kind = config ? "config" : "secret";
        string_of(L, rec, "name", g, &d.name);
        string_of(L, rec, "where", g, &d.where);
        struct sv_filedef *f = &g->files[i];
        memset(f, 0, sizeof(*f));
        f->config = config;
        if (read_filedef(&d, rec, f) < 0)
            return -1;
        g->n_files++;
        lua_settop(L, files);
    }
    lua_settop(L, decl);
    return 0;
}
