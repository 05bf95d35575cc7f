/* secrets and configs of a service: which of the stack's it mounts, where,
 * owned by whom and with what mode. Short form: the name; long form:
 * { source = NAME, target = PATH, uid = N, gid = N, mode = "0440" }. */
#include "lua/extract_int.h"

#include "core/safepath.h"

#include <stdlib.h>
#include <string.h>

#define MAX_FILES 256

/* A mode as people write it: "0440" or 0440, which YAML 1.2 and Lua both
 * read as the number 440. Its digits are taken as octal either way, so a
 * number with an 8 or 9 in it (a mode already converted to decimal) is
 * refused rather than guessed at. */
static int want_mode(struct service_reader *rd, int idx, const char *key, int *out)
{
    lua_State *L = rd->L;
    char text[32];
    if (lua_type(L, idx) == LUA_TSTRING) {
        snprintf(text, sizeof(text), "%s", lua_tostring(L, idx));
    } else if (lua_isinteger(L, idx)) {
        snprintf(text, sizeof(text), "%lld", (long long)lua_tointeger(L, idx));
    } else {
        return ex_fail(rd, key, "mode: expected an octal mode like \"0440\", got %s",
                       ex_type_of(L, idx));
    }
    const char *digits = strncmp(text, "0o", 2) == 0 ? text + 2 : text;
    char *end;
    long v = strtol(digits, &end, 8);
    if (*digits == '\0' || *end || v < 0 || v > 0777)
        return ex_fail(rd, key, "mode: \"%s\" is not an octal mode like \"0440\" (0 to 0777)",
                       text);
    *out = (int)v;
    return 0;
}

/* A uid or gid inside the container: a number, or one written as text. */
static int want_id(struct service_reader *rd, int idx, const char *key, const char *what,
                   int64_t *out)
{
    lua_State *L = rd->L;
    if (lua_type(L, idx) == LUA_TSTRING) {
        char *end;
        long long v = strtoll(lua_tostring(L, idx), &end, 10);
        if (*lua_tostring(L, idx) == '\0' || *end || v < 0 || v > 65535)
            return ex_fail(rd, key, "%s: \"%s\" is not a number from 0 to 65535", what,
                           lua_tostring(L, idx));
        *out = v;
        return 0;
    }
    char k[64];
    snprintf(k, sizeof(k), "%s.%s", key, what);
    return ex_want_int(rd, idx, k, 0, 65535, out);
}

/* Where the file goes: a secret under /run/secrets, a config at /NAME
 * unless a target says otherwise (a relative target is under those). */
static int want_target(struct service_reader *rd, const char *key, struct sv_file_ref *f,
                       const char *given)
{
    const char *base = f->config ? "/" : "/run/secrets/";
    const char *t = given ? given : f->source;
    cleanup_free char *full = t[0] == '/' ? sv_xstrdup(t) : sv_xasprintf("%s%s", base, t);
    cleanup_free char *clean = sv_path_clean(full);
    const char *why = sv_path_refused_target(clean);
    if (why)
        return ex_fail(rd, key, "%s: target \"%s\": %s", f->source, t, why);
    f->target = sv_graph_strdup(rd->g, clean);
    return 0;
}

struct file_list {
    struct sv_file_ref v[MAX_FILES];
    size_t n;
    bool config;
};

static int long_form(struct service_reader *rd, const char *key, int idx, struct sv_file_ref *f)
{
    lua_State *L = rd->L;
    static const char *const known[] = {"source", "target", "uid", "gid", "mode"};
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
        bool found = false;
        for (size_t i = 0; i < SV_ARRAY_LEN(known); i++)
            found |= strcmp(k, known[i]) == 0;
        if (!found) {
            const char *copy = sv_graph_strdup(rd->g, k);
            lua_pop(L, 1);
            const char *sugg = sv_suggest(copy, known, SV_ARRAY_LEN(known));
            return ex_fail(rd, key, "unknown key \"%s\"%s%s%s", copy,
                           sugg ? " (did you mean \"" : "", sugg ? sugg : "", sugg ? "\"?)" : "");
        }
    }
    lua_getfield(L, idx, "source");
    if (lua_isnil(L, -1))
        return ex_fail(rd, key, "an item without source (the name of the %s)",
                       f->config ? "config" : "secret");
    if (ex_want_string(rd, lua_gettop(L), key, &f->source) < 0)
        return -1;
    const char *target = NULL;
    lua_getfield(L, idx, "target");
    if (!lua_isnil(L, -1) && ex_want_string(rd, lua_gettop(L), key, &target) < 0)
        return -1;
    lua_getfield(L, idx, "uid");
    if (!lua_isnil(L, -1) && want_id(rd, lua_gettop(L), key, "uid", &f->uid) < 0)
        return -1;
    lua_getfield(L, idx, "gid");
    if (!lua_isnil(L, -1) && want_id(rd, lua_gettop(L), key, "gid", &f->gid) < 0)
        return -1;
    lua_getfield(L, idx, "mode");
    if (!lua_isnil(L, -1) && want_mode(rd, lua_gettop(L), key, &f->mode) < 0)
        return -1;
    lua_pop(L, 5);
    return want_target(rd, key, f, target);
}

static int file_item(struct service_reader *rd, const char *key, int idx, void *ud)
{
    lua_State *L = rd->L;
    struct file_list *l = ud;
    if (l->n >= MAX_FILES)
        return ex_fail(rd, key, "more than %d items", MAX_FILES);
    struct sv_file_ref *f = &l->v[l->n];
    *f = (struct sv_file_ref){.config = l->config, .mode = 0444};
    if (lua_type(L, idx) == LUA_TSTRING) {
        if (ex_want_string(rd, idx, key, &f->source) < 0 || want_target(rd, key, f, NULL) < 0)
            return -1;
    } else if (lua_istable(L, idx)) {
        if (long_form(rd, key, idx, f) < 0)
            return -1;
    } else {
        return ex_fail(rd, key, "expected a name or a table with source, got %s",
                       ex_type_of(L, idx));
    }
    l->n++;
    return 0;
}

/* Secrets and configs share the service's list: both keys add to it. */
static int want_files(struct service_reader *rd, int idx, const char *key, bool config)
{
    static struct file_list l;
    l.n = 0;
    l.config = config;
    if (ex_for_each(rd, idx, key, false, file_item, &l) < 0)
        return -1;
    struct sv_service *s = rd->svc;
    struct sv_file_ref *v = sv_graph_alloc(rd->g, (s->n_files + l.n + 1) * sizeof(*v));
    if (s->n_files)
        memcpy(v, s->files, s->n_files * sizeof(*v));
    memcpy(v + s->n_files, l.v, l.n * sizeof(*v));
    s->files = v;
    s->n_files += l.n;
    return 0;
}

int ex_key_secrets(struct service_reader *rd, int idx, const char *key)
{
    return want_files(rd, idx, key, false);
}

int ex_key_configs(struct service_reader *rd, int idx, const char *key)
{
    return want_files(rd, idx, key, true);
}
