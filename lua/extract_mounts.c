/* volumes, tmpfs and devices: what a service mounts, checked where the
 * kernel would resolve it. */
#include "lua/extract_int.h"

#include "core/safepath.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool is_volume_name(const char *s)
{
    if (!isalnum((unsigned char)s[0]))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
            return false;
    return true;
}

struct mount_list {
    struct sv_mount *v;
    size_t n, cap;
};

static struct sv_mount *mount_add(struct service_reader *rd, struct mount_list *m)
{
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 4;
        struct sv_mount *nv = sv_graph_alloc(rd->g, ncap * sizeof(*nv));
        if (m->n)
            memcpy(nv, m->v, m->n * sizeof(*nv));
        m->v = nv;
        m->cap = ncap;
    }
    return &m->v[m->n++];
}

/* Absolute, and judged (and kept) as the kernel will resolve it: "/x/.."
 * is "/", which would make the source the container's root. */
static int check_target(struct service_reader *rd, const char *key, const char **target)
{
    if (*target == NULL || (*target)[0] != '/')
        return ex_fail(rd, key, "the path inside the container must be absolute, got \"%s\"",
                       *target ? *target : "");
    char *clean = sv_path_clean(*target);
    const char *why = sv_path_refused_target(clean);
    if (why) {
        free(clean);
        return ex_fail(rd, key, "the path inside the container may not be %s: %s", *target, why);
    }
    *target = sv_graph_strdup(rd->g, clean);
    free(clean);
    return 0;
}

/* "name:/path[:ro]", "./dir:/path", "/abs:/path:ro", "/path" (anonymous);
 * options may add U (podman's: hand the source to the container's user). */
static int parse_volume_string(struct service_reader *rd, const char *key, const char *spec,
                               struct mount_list *m)
{
    char buf[4096];
    if (strlen(spec) >= sizeof(buf))
        return ex_fail(rd, key, "volume spec too long");
    strcpy(buf, spec);
    char *parts[3] = {buf, NULL, NULL};
    int np = 1;
    for (char *c = buf; *c && np < 3; c++)
        if (*c == ':') {
            *c = '\0';
            parts[np++] = c + 1;
        }
    struct sv_mount *mt = mount_add(rd, m);
    if (np == 1) {
        mt->type = SV_MOUNT_VOLUME;
        mt->target = sv_graph_strdup(rd->g, parts[0]);
        return check_target(rd, key, &mt->target);
    }
    if (np == 3) {
        for (char *o = strtok(parts[2], ","); o; o = strtok(NULL, ",")) {
            if (strcmp(o, "ro") == 0)
                mt->read_only = true;
            else if (strcmp(o, "rw") == 0)
                mt->read_only = false;
            else if (strcmp(o, "U") == 0)
                mt->chown = true;
            else if (strcmp(o, "z") && strcmp(o, "Z") && strcmp(o, "cached") &&
                     strcmp(o, "delegated") && strcmp(o, "consistent"))
                return ex_fail(rd, key, "\"%s\": unknown option \"%s\" (expected ro, rw or U)",
                               spec, o);
        }
    }
    const char *src = parts[0];
    if (src[0] == '\0')
        return ex_fail(rd, key, "\"%s\": the source is empty", spec);
    mt->target = sv_graph_strdup(rd->g, parts[1]);
    if (src[0] == '/' || src[0] == '.' || src[0] == '~') {
        mt->type = SV_MOUNT_BIND;
        mt->source = ex_resolve_path(rd, src);
    } else if (is_volume_name(src)) {
        mt->type = SV_MOUNT_VOLUME;
        mt->source = sv_graph_strdup(rd->g, src);
    } else {
        return ex_fail(rd, key,
                       "\"%s\": \"%s\" is neither a volume name nor a path (write "
                       "./%s for a directory)",
                       spec, src, src);
    }
    return check_target(rd, key, &mt->target);
}

/* { type = "bind"|"volume"|"tmpfs", source, target, read_only, chown, size } */
static int parse_volume_table(struct service_reader *rd, const char *key, int idx,
                              struct mount_list *m)
{
    lua_State *L = rd->L;
    struct sv_mount *mt = mount_add(rd, m);
    const char *type = NULL;
    lua_getfield(L, idx, "type");
    if (!lua_isnil(L, -1) && ex_want_string(rd, lua_gettop(L), key, &type) < 0)
        return -1;
    lua_getfield(L, idx, "source");
    if (!lua_isnil(L, -1) && !sv_lua_isnull(L, -1) &&
        ex_want_string(rd, lua_gettop(L), key, &mt->source) < 0)
        return -1;
    lua_getfield(L, idx, "target");
    if (lua_isnil(L, -1))
        return ex_fail(rd, key, "a volume table needs a target");
    if (ex_want_string(rd, lua_gettop(L), key, &mt->target) < 0)
        return -1;
    lua_getfield(L, idx, "read_only");
    if (!lua_isnil(L, -1) && ex_want_bool(rd, lua_gettop(L), key, &mt->read_only) < 0)
        return -1;
    lua_getfield(L, idx, "chown");
    if (!lua_isnil(L, -1) && ex_want_bool(rd, lua_gettop(L), key, &mt->chown) < 0)
        return -1;
    lua_getfield(L, idx, "size");
    if (!lua_isnil(L, -1)) {
        int64_t bytes;
        sv_error_t perr = NULL;
        const char *sz;
        if (ex_want_string(rd, lua_gettop(L), key, &sz) < 0)
            return -1;
        if (sv_parse_size(sz, &bytes, &perr) < 0)
            return ex_fail_parse(rd, key, &perr);
        char opt[64];
        snprintf(opt, sizeof(opt), "size=%lld", (long long)bytes);
        mt->options = sv_graph_strdup(rd->g, opt);
    }
    lua_pop(L, 6);
    if (type == NULL)
        type = mt->source == NULL                               ? "volume"
               : (mt->source[0] == '/' || mt->source[0] == '.') ? "bind"
                                                                : "volume";
    if (strcmp(type, "bind") == 0) {
        mt->type = SV_MOUNT_BIND;
        if (mt->source == NULL)
            return ex_fail(rd, key, "a bind mount needs a source");
        mt->source = ex_resolve_path(rd, mt->source);
    } else if (strcmp(type, "volume") == 0) {
        mt->type = SV_MOUNT_VOLUME;
        if (mt->source && !is_volume_name(mt->source))
            return ex_fail(rd, key, "\"%s\" is not a volume name", mt->source);
    } else if (strcmp(type, "tmpfs") == 0) {
        mt->type = SV_MOUNT_TMPFS;
        mt->source = NULL;
    } else {
        return ex_fail(rd, key, "unknown volume type \"%s\" (expected bind, volume or tmpfs)",
                       type);
    }
    return check_target(rd, key, &mt->target);
}

static int volume_item(struct service_reader *rd, const char *key, int idx, void *ud)
{
    if (lua_type(rd->L, idx) == LUA_TSTRING) {
        const char *s;
        if (ex_want_string(rd, idx, key, &s) < 0)
            return -1;
        return parse_volume_string(rd, key, s, ud);
    }
    if (lua_istable(rd->L, idx))
        return parse_volume_table(rd, key, idx, ud);
    return ex_fail(rd, key, "expected \"SOURCE:TARGET[:ro]\" or a table, got %s",
                   ex_type_of(rd->L, idx));
}

static int tmpfs_item(struct service_reader *rd, const char *key, int idx, void *ud)
{
    const char *s;
    if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    struct sv_mount *mt = mount_add(rd, ud);
    mt->type = SV_MOUNT_TMPFS;
    const char *colon = strchr(s, ':');
    mt->target = colon ? sv_graph_strndup(rd->g, s, (size_t)(colon - s)) : s;
    if (colon && colon[1])
        mt->options = colon + 1;
    return check_target(rd, key, &mt->target);
}

/* Mounts accumulate across volumes and tmpfs; keep them in the service. */
int ex_key_volumes(struct service_reader *rd, int idx, const char *key)
{
    struct mount_list m = {rd->svc->mounts, rd->svc->n_mounts, rd->svc->n_mounts};
    if (ex_for_each(rd, idx, key, false, volume_item, &m) < 0)
        return -1;
    rd->svc->mounts = m.v;
    rd->svc->n_mounts = m.n;
    return 0;
}

int ex_key_tmpfs(struct service_reader *rd, int idx, const char *key)
{
    struct mount_list m = {rd->svc->mounts, rd->svc->n_mounts, rd->svc->n_mounts};
    if (ex_for_each(rd, idx, key, true, tmpfs_item, &m) < 0)
        return -1;
    rd->svc->mounts = m.v;
    rd->svc->n_mounts = m.n;
    return 0;
}

struct device_list {
    struct sv_device_spec *v;
    size_t n;
};

/* Compose's long form, { source, target, permissions }, as the short one. */
static int device_table(struct service_reader *rd, const char *key, int idx, char *buf, size_t size)
{
    lua_State *L = rd->L;
    static const char *const names[] = {"source", "target", "permissions"};
    const char *v[3] = {NULL, NULL, NULL};
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return ex_fail(rd, key,
                           "a device is \"PATH[:PATH_IN][:PERMISSIONS]\" or a table of "
                           "source, target and permissions");
        }
        const char *k = lua_tostring(L, -1);
        size_t i = 0;
        while (i < 3 && strcmp(k, names[i]) != 0)
            i++;
        if (i == 3) {
            char bad[64];
            snprintf(bad, sizeof(bad), "%s", k);
            lua_pop(L, 1);
            return ex_fail(rd, key,
                           "unknown key \"%s\" in a device (expected source, target, "
                           "permissions)",
                           bad);
        }
        lua_getfield(L, idx, names[i]);
        if (ex_want_string(rd, lua_gettop(L), key, &v[i]) < 0)
            return -1;
        lua_pop(L, 1);
    }
    if (v[0] == NULL)
        return ex_fail(rd, key, "a device needs a source (the host's node, /dev/...)");
    snprintf(buf, size, "%s:%s:%s", v[0], v[1] ? v[1] : v[0], v[2] ? v[2] : "rwm");
    return 0;
}

/* "/dev/ttyUSB0", "/dev/ttyUSB0:/dev/ttyACM0:rw" (Docker's --device), or
 * the long form. Whether the source is a device node is the runtime's to
 * say: the board may be plugged in on another host. */
static int device_item(struct service_reader *rd, const char *key, int idx, void *ud)
{
    struct device_list *l = ud;
    char buf[8192];
    const char *text = buf;
    if (lua_istable(rd->L, idx)) {
        if (device_table(rd, key, idx, buf, sizeof(buf)) < 0)
            return -1;
    } else if (ex_want_string(rd, idx, key, &text) < 0) {
        return -1;
    }
    struct sv_device_spec d;
    sv_error_t perr = NULL;
    if (sv_parse_device(text, &d, &perr) < 0)
        return ex_fail_parse(rd, key, &perr);
    struct sv_device_spec *nv = sv_graph_alloc(rd->g, (l->n + 1) * sizeof(*nv));
    if (l->n)
        memcpy(nv, l->v, l->n * sizeof(*nv));
    nv[l->n] = d;
    nv[l->n].source = sv_graph_strdup(rd->g, d.source);
    nv[l->n].target = sv_graph_strdup(rd->g, d.target);
    sv_device_spec_clear(&d); /* before any Lua call that may raise */
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].target, nv[l->n].target) == 0)
            return ex_fail(rd, key, "%s and %s both go to %s", l->v[i].source, nv[l->n].source,
                           nv[l->n].target);
    l->v = nv;
    l->n++;
    return 0;
}

int ex_key_devices(struct service_reader *rd, int idx, const char *key)
{
    struct device_list l = {NULL, 0};
    if (ex_for_each(rd, idx, key, true, device_item, &l) < 0)
        return -1;
    rd->svc->devices = l.v;
    rd->svc->n_devices = l.n;
    return 0;
}
