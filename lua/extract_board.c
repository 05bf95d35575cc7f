/* A board service: board = "uno" with build = its sources (a sketch's
 * directory, a .ino or C file, relative to the declaring file) builds
 * them in the board's toolchain image at start and runs the firmware in
 * the board's emulator as the service's process (engine/board/, the
 * stack's spec.c). emulate = true, or { time = "10s", realtime = false },
 * says how; flash = "/dev/ttyACM0" (or { port, baud }) writes it to a
 * real board instead and then monitors its port. Such a service's image
 * is its toolchain's: image is refused, and so are build's Containerfile
 * keys. */
#include "lua/extract_int.h"

#include "graph/units.h"

#include <string.h>

static const char *const emulate_keys[] = {"realtime", "time"};

static int emulate_time(struct service_reader *rd, int v, const char *key, double *out)
{
    lua_State *L = rd->L;
    if (lua_type(L, v) == LUA_TNUMBER) {
        *out = lua_tonumber(L, v);
        if (!(*out >= 0 && *out < 1e9))
            return ex_fail(rd, key, "time: %g is not a duration", *out);
        return 0;
    }
    if (lua_type(L, v) != LUA_TSTRING)
        return ex_fail(rd, key, "time: expected a duration like \"10s\", got %s", ex_type_of(L, v));
    int64_t ms;
    sv_error_t perr = NULL;
    if (sv_parse_duration(lua_tostring(L, v), &ms, &perr) < 0)
        return ex_fail_parse(rd, key, &perr);
    *out = (double)ms / 1000;
    return 0;
}

static int emulate_field(struct service_reader *rd, struct sv_emulate *e, const char *k, int v,
                         const char *key)
{
    if (strcmp(k, "realtime") == 0)
        return ex_want_bool(rd, v, key, &e->realtime);
    return emulate_time(rd, v, key, &e->sim_time);
}

int ex_key_emulate(struct service_reader *rd, int idx, const char *key)
{
    lua_State *L = rd->L;
    struct sv_emulate *e = sv_graph_alloc(rd->g, sizeof(*e));
    *e = (struct sv_emulate){.realtime = true};
    rd->svc->emulate = e;
    if (lua_type(L, idx) == LUA_TBOOLEAN) {
        if (!lua_toboolean(L, idx))
            return ex_fail(rd, key,
                           "false: a board service's firmware runs in its emulator (leave "
                           "board out for a service that runs none)");
        return 0;
    }
    if (!lua_istable(L, idx))
        return ex_fail(rd, key, "expected true or a table (time, realtime), got %s",
                       ex_type_of(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        bool known = false;
        for (size_t i = 0; k && i < SV_ARRAY_LEN(emulate_keys); i++)
            known |= strcmp(k, emulate_keys[i]) == 0;
        if (!known) {
            const char *s = k ? sv_suggest(k, emulate_keys, SV_ARRAY_LEN(emulate_keys)) : NULL;
            ex_fail(rd, key, "unknown key \"%s\"%s%s%s (expected time, realtime)", k ? k : "?",
                    s ? " (did you mean \"" : "", s ? s : "", s ? "\"?)" : "");
            lua_pop(L, 2);
            return -1;
        }
        if (!sv_lua_isnull(L, -1) && emulate_field(rd, e, k, lua_gettop(L), key) < 0) {
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

static const char *const flash_keys[] = {"baud", "port"};

static int flash_field(struct service_reader *rd, struct sv_flash *f, const char *k, int v,
                       const char *key)
{
    if (strcmp(k, "port") == 0)
        return ex_want_string(rd, v, key, &f->port);
    int64_t baud;
    if (ex_want_int(rd, v, key, 300, 4000000, &baud) < 0)
        return -1;
    f->baud = (int)baud;
    return 0;
}

static int flash_table(struct service_reader *rd, struct sv_flash *f, int idx, const char *key)
{
    lua_State *L = rd->L;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        bool known = false;
        for (size_t i = 0; k && i < SV_ARRAY_LEN(flash_keys); i++)
            known |= strcmp(k, flash_keys[i]) == 0;
        if (!known) {
            const char *sg = k ? sv_suggest(k, flash_keys, SV_ARRAY_LEN(flash_keys)) : NULL;
            ex_fail(rd, key, "unknown key \"%s\"%s%s%s (expected port, baud)", k ? k : "?",
                    sg ? " (did you mean \"" : "", sg ? sg : "", sg ? "\"?)" : "");
            lua_pop(L, 2);
            return -1;
        }
        if (!sv_lua_isnull(L, -1) && flash_field(rd, f, k, lua_gettop(L), key) < 0) {
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

int ex_key_flash(struct service_reader *rd, int idx, const char *key)
{
    lua_State *L = rd->L;
    struct sv_flash *f = sv_graph_alloc(rd->g, sizeof(*f));
    *f = (struct sv_flash){.baud = 115200};
    rd->svc->flash = f;
    if (lua_type(L, idx) == LUA_TSTRING) {
        if (ex_want_string(rd, idx, key, &f->port) < 0)
            return -1;
    } else if (lua_istable(L, idx)) {
        if (flash_table(rd, f, idx, key) < 0)
            return -1;
    } else {
        return ex_fail(rd, key,
                       "expected the board's port (\"/dev/ttyACM0\") or a table (port, baud), "
                       "got %s",
                       ex_type_of(L, idx));
    }
    if (f->port == NULL || strncmp(f->port, "/dev/", 5) != 0)
        return ex_fail(rd, key, "needs the board's port, a device under /dev (\"/dev/ttyACM0\")");
    /* In the container: its own /dev name, or /dev/ttyBOARD for a by-id
     * link or a pseudo-terminal (the container's /dev/pts is its own). */
    const char *rest = f->port + 5;
    f->inside = *rest && !strchr(rest, '/') ? f->port : "/dev/ttyBOARD";
    return 0;
}

/* The port is one of the service's devices, read and written. */
static int add_port(struct service_reader *rd, const struct sv_flash *f)
{
    struct sv_service *s = rd->svc;
    for (size_t i = 0; i < s->n_devices; i++)
        if (strcmp(s->devices[i].target, f->inside) == 0)
            return ex_fail(rd, "flash", "its port goes to %s, where devices puts %s", f->inside,
                           s->devices[i].source);
    struct sv_device_spec *d = sv_graph_alloc(rd->g, (s->n_devices + 1) * sizeof(*d));
    if (s->n_devices)
        memcpy(d, s->devices, s->n_devices * sizeof(*d));
    d[s->n_devices] =
        (struct sv_device_spec){.source = f->port, .target = f->inside, .access = "rw"};
    s->devices = d;
    s->n_devices++;
    return 0;
}

int ex_board_finish(struct service_reader *rd, bool image_given)
{
    struct sv_service *s = rd->svc;
    if (s->emulate && !s->board)
        return ex_fail(rd, "emulate",
                       "is for a board service (board = \"uno\", build = its "
                       "sources)");
    if (s->flash && !(s->board && s->build))
        return ex_fail(rd, "flash",
                       "is for a board service (board = \"uno\", build = its sources)");
    if (s->flash && s->emulate)
        return ex_fail(rd, "flash",
                       "a board service's firmware is flashed or emulated, not both (leave "
                       "emulate out)");
    if (!s->board || !s->build)
        return 0;
    if (s->command || s->entrypoint)
        return ex_fail(rd, s->command ? "command" : "entrypoint",
                       "a board service (board with build) runs its firmware in the board's "
                       "emulator; leave %s out",
                       s->command ? "command" : "entrypoint");
    if (image_given)
        return ex_fail(rd, "image",
                       "a board service (board with build) runs in its board's toolchain image; "
                       "leave image out");
    if (s->build->dockerfile || s->build->target || s->build->n_args)
        return ex_fail(rd, "build",
                       "for a board service, build is its sources (a sketch's directory, a .ino "
                       "or a C file): no dockerfile, target or args");
    /* Not an image built at up: the sources are the board's. */
    s->build->image_default = false;
    return s->flash ? add_port(rd, s->flash) : 0;
}
