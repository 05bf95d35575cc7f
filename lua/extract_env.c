/* env, labels and env_file: maps of NAME = value, merged so that explicit
 * values win over a file's. */
#include "lua/extract_int.h"

#include "manifests/dotenv.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static int cmp_kv(const void *a, const void *b)
{
    return strcmp(((const struct sv_kv *)a)->key, ((const struct sv_kv *)b)->key);
}

static void kv_set(struct sv_graph *g, struct sv_kv **kv, size_t *n, size_t *cap, const char *k,
                   const char *v, bool override)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*kv)[i].key, k) == 0) {
            if (override)
                (*kv)[i].value = v;
            return;
        }
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct sv_kv *nk = sv_graph_alloc(g, ncap * sizeof(*nk));
        if (*n)
            memcpy(nk, *kv, *n * sizeof(*nk));
        *kv = nk;
        *cap = ncap;
    }
    (*kv)[*n].key = k;
    (*kv)[*n].value = v;
    (*n)++;
}

static bool valid_env_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (*s == '=' || !isprint((unsigned char)*s))
            return false;
    return true;
}

/* env/labels: { K = V } or { "K=V", "K" }. A bare "K" (or K = null) takes
 * the host's value, as Compose does; unset, it is left out. */
static int want_map(struct service_reader *rd, int idx, const char *key, struct sv_kv **out,
                    size_t *nout)
{
    lua_State *L = rd->L;
    if (!lua_istable(L, idx))
        return ex_fail(rd, key, "expected a table of NAME = value, got %s", ex_type_of(L, idx));
    struct sv_kv *kv = NULL;
    size_t n = 0, cap = 0, len;
    if (ex_is_list(L, idx, &len) && len > 0) {
        for (size_t i = 1; i <= len; i++) {
            lua_rawgeti(L, idx, (lua_Integer)i);
            const char *item;
            int rc = lua_type(L, -1) == LUA_TSTRING ? ex_want_string(rd, lua_gettop(L), key, &item)
                                                    : ex_fail(rd, key,
                                                              "item %zu: expected \"NAME=value\", "
                                                              "got %s",
                                                              i, ex_type_of(L, -1));
            lua_pop(L, 1);
            if (rc < 0)
                return -1;
            const char *eq = strchr(item, '=');
            const char *k = eq ? sv_graph_strndup(rd->g, item, (size_t)(eq - item)) : item;
            const char *v = eq ? eq + 1 : getenv(k);
            if (!valid_env_name(k))
                return ex_fail(rd, key, "\"%s\" is not a valid name", k);
            if (v)
                kv_set(rd->g, &kv, &n, &cap, k, sv_graph_strdup(rd->g, v), true);
        }
    } else {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                lua_pop(L, 2);
                return ex_fail(rd, key, "names must be strings");
            }
            const char *k = sv_graph_strdup(rd->g, lua_tostring(L, -2));
            const char *v = NULL;
            int t = lua_type(L, -1);
            if (!valid_env_name(k)) {
                lua_pop(L, 2);
                return ex_fail(rd, key, "\"%s\" is not a valid name", k);
            }
            if (t == LUA_TBOOLEAN) {
                v = lua_toboolean(L, -1) ? "true" : "false";
            } else if (t == LUA_TSTRING || t == LUA_TNUMBER) {
                if (ex_want_string(rd, lua_gettop(L), key, &v) < 0) {
                    lua_pop(L, 2);
                    return -1;
                }
            } else if (sv_lua_isnull(L, -1)) {
                v = getenv(k);
            } else {
                ex_fail(rd, key, "%s: expected a string, number or boolean, got %s", k,
                        ex_type_of(L, -1));
                lua_pop(L, 2);
                return -1;
            }
            if (v)
                kv_set(rd->g, &kv, &n, &cap, k, sv_graph_strdup(rd->g, v), true);
            lua_pop(L, 1);
        }
    }
    /* Merge with what env_file already put there: explicit values win. */
    for (size_t i = 0; i < *nout; i++)
        kv_set(rd->g, &kv, &n, &cap, (*out)[i].key, (*out)[i].value, false);
    if (n) /* kv is NULL when every name had no value (env_vars the host lacks) */
        qsort(kv, n, sizeof(*kv), cmp_kv);
    *out = kv;
    *nout = n;
    return 0;
}

int ex_key_env(struct service_reader *rd, int idx, const char *key)
{
    return want_map(rd, idx, key, &rd->svc->env, &rd->svc->n_env);
}

int ex_key_labels(struct service_reader *rd, int idx, const char *key)
{
    return want_map(rd, idx, key, &rd->svc->labels, &rd->svc->n_labels);
}

static void envfile_set(void *ud, const char *k, const char *v)
{
    struct service_reader *rd = ud;
    size_t cap = rd->svc->n_env;
    /* explicit env wins; env_file is applied first (see extract order) */
    kv_set(rd->g, &rd->svc->env, &rd->svc->n_env, &cap, sv_graph_strdup(rd->g, k),
           sv_graph_strdup(rd->g, v), true);
}

static int env_file_item(struct service_reader *rd, const char *key, int idx, void *ud)
{
    (void)ud;
    lua_State *L = rd->L;
    const char *path;
    bool required = true;
    if (lua_istable(L, idx)) { /* Compose long form { path = , required = } */
        lua_getfield(L, idx, "path");
        if (ex_want_string(rd, lua_gettop(L), key, &path) < 0)
            return -1;
        lua_getfield(L, idx, "required");
        if (!lua_isnil(L, -1) && ex_want_bool(rd, lua_gettop(L), key, &required) < 0)
            return -1;
        lua_pop(L, 2);
    } else if (ex_want_string(rd, idx, key, &path) < 0) {
        return -1;
    }
    const char *full = ex_resolve_path(rd, path);
    char *buf = NULL;
    sv_error_t perr = NULL;
    if (sv_read_file(full, SV_MAX_INPUT_BYTES, &buf, NULL, &perr) < 0) {
        if (!required) {
            sv_error_free(&perr);
            return 0;
        }
        return ex_fail_parse(rd, key, &perr);
    }
    int rc = sv_dotenv_parse(full, buf, envfile_set, rd, &perr);
    free(buf); /* by hand, before ex_fail_parse reads Lua, which may raise */
    return rc < 0 ? ex_fail_parse(rd, key, &perr) : 0;
}

int ex_key_env_file(struct service_reader *rd, int idx, const char *key)
{
    return ex_for_each(rd, idx, key, true, env_file_item, NULL);
}

int ex_want_kv(struct service_reader *rd, int idx, const char *key, struct sv_kv **out, size_t *n)
{
    return want_map(rd, idx, key, out, n);
}
