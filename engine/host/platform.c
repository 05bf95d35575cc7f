#include "host/platform.h"

#include "lua/sandbox.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

static char *field_str(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    char *s = lua_type(L, -1) == LUA_TSTRING ? sv_xstrdup(lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
    return s;
}

/* A list of strings, NULL-terminated (empty when absent). */
static char **field_strv(lua_State *L, int t, const char *k)
{
    lua_getfield(L, t, k);
    size_t n = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
    char **v = sv_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        v[i] = sv_xstrdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return v;
}

static void read_board(lua_State *L, int t, struct sv_board *b)
{
    b->id = field_str(L, t, "id");
    b->aliases = field_strv(L, t, "aliases");
    b->name = field_str(L, t, "name");
    b->mcu = field_str(L, t, "mcu");
    b->arch = field_str(L, t, "arch");
    b->model = field_str(L, t, "model");
    lua_getfield(L, t, "usb");
    size_t n = lua_istable(L, -1) ? lua_rawlen(L, -1) : 0;
    b->usb = sv_xcalloc(n ? n : 1, sizeof(*b->usb));
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i + 1);
        unsigned vid, pid;
        if (lua_tostring(L, -1) && sscanf(lua_tostring(L, -1), "%x:%x", &vid, &pid) == 2)
            b->usb[b->n_usb++] = (struct sv_usb_id){vid, pid};
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    lua_getfield(L, t, "toolchain");
    if (lua_istable(L, -1)) {
        int tc = lua_gettop(L);
        b->family = field_str(L, tc, "family");
        b->build = field_str(L, tc, "build");
        b->flash = field_str(L, tc, "flash");
        b->emulate = field_str(L, tc, "emulate");
        b->note = field_str(L, tc, "note");
        b->no_build = field_str(L, tc, "no_build");
        b->no_flash = field_str(L, tc, "no_flash");
        b->packages = field_strv(L, tc, "packages");
    }
    if (b->packages == NULL)
        b->packages = sv_xcalloc(1, sizeof(char *));
    lua_pop(L, 1);
}

static int load_all(lua_State *L)
{
    struct sv_platforms *out = lua_touserdata(L, 1);
    sv_lua_push_stdlib(L, "platforms");
    lua_getfield(L, -1, "all");
    lua_call(L, 0, 1);
    int list = lua_gettop(L);
    size_t n = lua_rawlen(L, list);
    out->v = sv_xcalloc(n ? n : 1, sizeof(*out->v));
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, list, (lua_Integer)i + 1);
        int t = lua_gettop(L);
        struct sv_platform *p = &out->v[out->n++];
        p->name = field_str(L, t, "name");
        p->arch = field_str(L, t, "arch");
        p->description = field_str(L, t, "description");
        p->aliases = field_strv(L, t, "aliases");
        lua_getfield(L, t, "boards");
        size_t nb = lua_rawlen(L, -1);
        p->boards = sv_xcalloc(nb ? nb : 1, sizeof(*p->boards));
        for (size_t j = 0; j < nb; j++) {
            lua_rawgeti(L, -1, (lua_Integer)j + 1);
            read_board(L, lua_gettop(L), &p->boards[p->n_boards++]);
            lua_pop(L, 1);
        }
        lua_settop(L, list);
    }
    return 0;
}

int sv_platforms_load(struct sv_platforms **out, sv_error_t *err)
{
    struct sv_lua *s = NULL;
    if (sv_lua_new(&s, err) < 0)
        return -1;
    struct sv_platforms *p = sv_xcalloc(1, sizeof(*p));
    int rc = sv_lua_protected(s, load_all, p, err);
    sv_lua_free(s);
    if (rc < 0) {
        sv_platforms_free(p);
        return -1;
    }
    *out = p;
    return 0;
}

void sv_platforms_free(struct sv_platforms *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        struct sv_platform *pl = &p->v[i];
        for (size_t j = 0; j < pl->n_boards; j++) {
            struct sv_board *b = &pl->boards[j];
            free(b->id), free(b->name), free(b->mcu), free(b->arch), free(b->model);
            free(b->usb), free(b->build), free(b->flash), free(b->emulate), free(b->note);
            free(b->family), free(b->no_build), free(b->no_flash);
            sv_strv_free(b->packages);
            sv_strv_free(b->aliases);
        }
        free(pl->boards), free(pl->name), free(pl->arch), free(pl->description);
        sv_strv_free(pl->aliases);
    }
    free(p->v);
    free(p);
}

const char *sv_platforms_missing(const struct sv_board *b, const char *step)
{
    bool build = strcmp(step, "build") == 0, flash = strcmp(step, "flash") == 0;
    const char *tmpl = build ? b->build : flash ? b->flash : b->emulate;
    if (tmpl)
        return NULL;
    const char *why = build ? b->no_build : flash ? b->no_flash : NULL;
    return why ? why : "the board tables have no template for it";
}
