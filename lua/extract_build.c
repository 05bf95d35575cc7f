/* build: the image is built from a Containerfile at up. A string is the
 * context (a directory, relative to the declaring file); a table gives
 * context, dockerfile (relative to the context, as Compose reads it),
 * target and args (NAME = value, or "NAME=value" items). */
#include "lua/extract_int.h"

#include <string.h>

static const char *const build_keys[] = {"args", "context", "dockerfile", "target"};

static int build_field(struct service_reader *rd, struct sv_build_spec *b, const char *k, int v,
                       const char *key)
{
    if (strcmp(k, "args") == 0)
        return ex_want_kv(rd, v, key, &b->args, &b->n_args);
    const char *s;
    if (ex_want_string(rd, v, key, &s) < 0)
        return -1;
    if (*s == '\0')
        return ex_fail(rd, key, "%s is empty", k);
    if (strcmp(k, "context") == 0)
        b->context = s;
    else if (strcmp(k, "dockerfile") == 0)
        b->dockerfile = s;
    else
        b->target = s;
    return 0;
}

int ex_key_build(struct service_reader *rd, int idx, const char *key)
{
    lua_State *L = rd->L;
    struct sv_build_spec *b = sv_graph_alloc(rd->g, sizeof(*b));
    memset(b, 0, sizeof(*b));
    if (lua_type(L, idx) == LUA_TSTRING) {
        if (ex_want_string(rd, idx, key, &b->context) < 0)
            return -1;
    } else if (lua_istable(L, idx)) {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
            bool known = false;
            for (size_t i = 0; k && i < SV_ARRAY_LEN(build_keys); i++)
                known |= strcmp(k, build_keys[i]) == 0;
            if (!known) {
                const char *sugg = k ? sv_suggest(k, build_keys, SV_ARRAY_LEN(build_keys)) : NULL;
                ex_fail(rd, key,
                        "unknown key \"%s\"%s%s%s (expected context, dockerfile, args, "
                        "target)",
                        k ? k : "?", sugg ? " (did you mean \"" : "", sugg ? sugg : "",
                        sugg ? "\"?)" : "");
                lua_pop(L, 2);
                return -1;
            }
            if (!sv_lua_isnull(L, -1) && build_field(rd, b, k, lua_gettop(L), key) < 0) {
                lua_pop(L, 2);
                return -1;
            }
            lua_pop(L, 1);
        }
    } else {
        return ex_fail(rd, key,
                       "expected a context directory or a table (context, dockerfile, "
                       "args, target), got %s",
                       ex_type_of(L, idx));
    }
    if (b->context == NULL)
        return ex_fail(rd, key, "needs a context (the directory to build from)");
    b->context = ex_resolve_path(rd, b->context);
    if (b->dockerfile && b->dockerfile[0] != '/') {
        cleanup_free char *p = sv_join_path(b->context, b->dockerfile);
        b->dockerfile = sv_graph_strdup(rd->g, p);
    }
    rd->svc->build = b;
    return 0;
}
