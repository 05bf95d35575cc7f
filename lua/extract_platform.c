/* platform, board and toolchain: names the tables of platforms/ must know. */
#include "lua/extract_int.h"

/* Ask stdlib/platforms.lua whether a platform or board exists; on no, the
 * closest known name for the message. */
static bool platform_known(struct service_reader *rd, const char *fn, const char *name,
                           const char **sugg)
{
    lua_State *L = rd->L;
    sv_lua_push_stdlib(L, "platforms");
    lua_getfield(L, -1, fn);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    bool found = !lua_isnil(L, -1);
    lua_pop(L, 2);
    *sugg = NULL;
    if (found)
        return true;
    const char *names[256];
    size_t n = 0;
    sv_lua_push_stdlib(L, "platforms");
    lua_getfield(L, -1, "all");
    lua_call(L, 0, 1);
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1) && n < 256; i++) {
        lua_rawgeti(L, -1, i);
        lua_getfield(L, -1, "name");
        names[n++] = sv_graph_strdup(rd->g, lua_tostring(L, -1));
        lua_pop(L, 1);
        lua_getfield(L, -1, "boards");
        for (lua_Integer j = 1; j <= (lua_Integer)lua_rawlen(L, -1) && n < 256; j++) {
            lua_rawgeti(L, -1, j);
            lua_getfield(L, -1, "id");
            names[n++] = sv_graph_strdup(rd->g, lua_tostring(L, -1));
            lua_pop(L, 2);
        }
        lua_pop(L, 2);
    }
    lua_pop(L, 2);
    *sugg = sv_suggest(name, names, n);
    return false;
}

/* A platform name (arduino, arm64, ...) or, as ProServe writes it, a board
 * id (rp2040, esp32). */
int ex_key_platform(struct service_reader *rd, int idx, const char *key)
{
    const char *s, *sugg;
    if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    if (!platform_known(rd, "find_platform", s, &sugg) &&
        !platform_known(rd, "find_board", s, &sugg))
        return ex_fail(rd, key, "unknown platform \"%s\"%s%s%s (see servos list-platforms)", s,
                       sugg ? " (did you mean \"" : "", sugg ? sugg : "", sugg ? "\"?)" : "");
    rd->svc->platform = s;
    return 0;
}

int ex_key_board(struct service_reader *rd, int idx, const char *key)
{
    const char *s, *sugg;
    if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    if (!platform_known(rd, "find_board", s, &sugg))
        return ex_fail(rd, key, "unknown board \"%s\"%s%s%s (see servos list-platforms)", s,
                       sugg ? " (did you mean \"" : "", sugg ? sugg : "", sugg ? "\"?)" : "");
    rd->svc->board = s;
    return 0;
}

int ex_key_toolchain(struct service_reader *rd, int idx, const char *key)
{
    return ex_want_string(rd, idx, key, &rd->svc->toolchain);
}
