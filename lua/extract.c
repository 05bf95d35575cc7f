#include "lua/extract.h"

#include "core/safepath.h"
#include "log/logfile.h"
#include "graph/units.h"
#include "manifests/dotenv.h"

#include <ctype.h>
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <unistd.h>

/* State while extracting one service. Lua stack slots are absolute. */
struct xs {
    lua_State *L;
    struct sv_graph *g;
    sv_error_t *err;
    struct sv_service *svc;
    int spec, lines; /* lines: table of key -> "file:line", or 0 */
    const char *dir; /* directory of the declaring file */
    const char *cwd;
    size_t value_budget; /* nodes left for generic values (alias bombs) */
};

/* Where a key was set: its own line when known, else the declaration. */
static const char *key_where(struct xs *x, const char *key)
{
    if (x->lines) {
        lua_getfield(x->L, x->lines, key);
        const char *w = lua_tostring(x->L, -1);
        lua_pop(x->L, 1);
        if (w)
            return sv_graph_strdup(x->g, w);
    }
    return x->svc->where;
}

static int fail_key(struct xs *x, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_key(struct xs *x, const char *key, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sv_error(x->err, 0, "%s: service \"%s\": %s: %s", key_where(x, key), x->svc->name, key,
                    msg);
}

/* A units.c parser failed: move its message under file:line and key. */
static int fail_parse(struct xs *x, const char *key, sv_error_t *perr)
{
    fail_key(x, key, "%s", (*perr)->msg);
    sv_error_free(perr);
    return -1;
}

static const char *type_of(lua_State *L, int idx)
{
    if (sv_lua_isnull(L, idx))
        return "null";
    if (lua_isinteger(L, idx))
        return "integer";
    return luaL_typename(L, idx);
}

/* A string, or a number written as text ("user = 1000"). */
static int want_string(struct xs *x, int idx, const char *key, const char **out)
{
    lua_State *L = x->L;
    int t = lua_type(L, idx);
    if (t == LUA_TSTRING) {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (strlen(s) != len)
            return fail_key(x, key, "the string contains a NUL byte");
        *out = sv_graph_strndup(x->g, s, len);
        return 0;
    }
    if (t == LUA_TNUMBER) {
        lua_pushvalue(L, idx);
        *out = sv_graph_strdup(x->g, lua_tostring(L, -1));
        lua_pop(L, 1);
        return 0;
    }
    return fail_key(x, key, "expected a string, got %s", type_of(L, idx));
}

static int want_int(struct xs *x, int idx, const char *key, int64_t lo, int64_t hi, int64_t *out)
{
    lua_State *L = x->L;
    int isnum = 0;
    lua_Integer v = lua_tointegerx(L, idx, &isnum);
    if (!isnum || lua_type(L, idx) != LUA_TNUMBER) {
        if (lua_type(L, idx) == LUA_TNUMBER)
            return fail_key(x, key, "expected a whole number, got %g", lua_tonumber(L, idx));
        if (lua_type(L, idx) == LUA_TSTRING)
            return fail_key(x, key, "expected a whole number, got the string \"%s\"",
                            lua_tostring(L, idx));
        return fail_key(x, key, "expected a whole number, got %s", type_of(L, idx));
    }
    if (v < lo || v > hi)
        return fail_key(x, key, "%lld is out of range (expected %lld to %lld)", (long long)v,
                        (long long)lo, (long long)hi);
    *out = v;
    return 0;
}

static int want_bool(struct xs *x, int idx, const char *key, bool *out)
{
    if (lua_type(x->L, idx) != LUA_TBOOLEAN)
        return fail_key(x, key, "expected true or false, got %s", type_of(x->L, idx));
    *out = lua_toboolean(x->L, idx);
    return 0;
}

/* Is the table at idx a list 1..n (n may be 0)? */
static bool is_list(lua_State *L, int idx, size_t *n)
{
    size_t len = lua_rawlen(L, idx), count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return false;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1 || (size_t)k > len) {
            lua_pop(L, 1);
            return false;
        }
        count++;
    }
    *n = len;
    return count == len;
}

/* A list of strings (numbers allowed) as a NULL-terminated array. */
static int want_string_list(struct xs *x, int idx, const char *key, bool allow_single,
                            const char ***out)
{
    lua_State *L = x->L;
    size_t n;
    if (allow_single && lua_type(L, idx) == LUA_TSTRING) {
        const char **v = sv_graph_alloc(x->g, 2 * sizeof(*v));
        if (want_string(x, idx, key, &v[0]) < 0)
            return -1;
        *out = v;
        return 0;
    }
    if (!lua_istable(L, idx) || !is_list(L, idx, &n))
        return fail_key(x, key, "expected a list of strings, got %s",
                        lua_istable(L, idx) ? "a table with named keys" : type_of(L, idx));
    const char **v = sv_graph_alloc(x->g, (n + 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        int t = lua_type(L, -1);
        if (t != LUA_TSTRING && t != LUA_TNUMBER) {
            fail_key(x, key, "item %zu: expected a string, got %s", i + 1, type_of(L, -1));
            lua_pop(L, 1);
            return -1;
        }
        int rc = want_string(x, lua_gettop(L), key, &v[i]);
        lua_pop(L, 1);
        if (rc < 0)
            return -1;
    }
    *out = v;
    return 0;
}

/* command/entrypoint: a list, or a string run by /bin/sh -c. */
static int want_argv(struct xs *x, int idx, const char *key, const char ***out)
{
    lua_State *L = x->L;
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char **v = sv_graph_alloc(x->g, 4 * sizeof(*v));
        v[0] = "/bin/sh";
        v[1] = "-c";
        if (want_string(x, idx, key, &v[2]) < 0)
            return -1;
        if (v[2][0] == '\0')
            return fail_key(x, key, "the command is empty");
        *out = v;
        return 0;
    }
    if (!lua_istable(L, idx))
        return fail_key(x, key, "expected a list of arguments or a shell command string, got %s",
                        type_of(L, idx));
    if (want_string_list(x, idx, key, false, out) < 0)
        return -1;
    if ((*out)[0] == NULL)
        return fail_key(x, key, "the command is empty");
    return 0;
}

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
static int want_map(struct xs *x, int idx, const char *key, struct sv_kv **out, size_t *nout)
{
    lua_State *L = x->L;
    if (!lua_istable(L, idx))
        return fail_key(x, key, "expected a table of NAME = value, got %s", type_of(L, idx));
    struct sv_kv *kv = NULL;
    size_t n = 0, cap = 0, len;
    if (is_list(L, idx, &len) && len > 0) {
        for (size_t i = 1; i <= len; i++) {
            lua_rawgeti(L, idx, (lua_Integer)i);
            const char *item;
            int rc = lua_type(L, -1) == LUA_TSTRING ? want_string(x, lua_gettop(L), key, &item)
                                                    : fail_key(x, key,
                                                               "item %zu: expected \"NAME=value\", "
                                                               "got %s",
                                                               i, type_of(L, -1));
            lua_pop(L, 1);
            if (rc < 0)
                return -1;
            const char *eq = strchr(item, '=');
            const char *k = eq ? sv_graph_strndup(x->g, item, (size_t)(eq - item)) : item;
            const char *v = eq ? eq + 1 : getenv(k);
            if (!valid_env_name(k))
                return fail_key(x, key, "\"%s\" is not a valid name", k);
            if (v)
                kv_set(x->g, &kv, &n, &cap, k, sv_graph_strdup(x->g, v), true);
        }
    } else {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                lua_pop(L, 2);
                return fail_key(x, key, "names must be strings");
            }
            const char *k = sv_graph_strdup(x->g, lua_tostring(L, -2));
            const char *v = NULL;
            int t = lua_type(L, -1);
            if (!valid_env_name(k)) {
                lua_pop(L, 2);
                return fail_key(x, key, "\"%s\" is not a valid name", k);
            }
            if (t == LUA_TBOOLEAN) {
                v = lua_toboolean(L, -1) ? "true" : "false";
            } else if (t == LUA_TSTRING || t == LUA_TNUMBER) {
                if (want_string(x, lua_gettop(L), key, &v) < 0) {
                    lua_pop(L, 2);
                    return -1;
                }
            } else if (sv_lua_isnull(L, -1)) {
                v = getenv(k);
            } else {
                fail_key(x, key, "%s: expected a string, number or boolean, got %s", k,
                         type_of(L, -1));
                lua_pop(L, 2);
                return -1;
            }
            if (v)
                kv_set(x->g, &kv, &n, &cap, k, sv_graph_strdup(x->g, v), true);
            lua_pop(L, 1);
        }
    }
    /* Merge with what env_file already put there: explicit values win. */
    for (size_t i = 0; i < *nout; i++)
        kv_set(x->g, &kv, &n, &cap, (*out)[i].key, (*out)[i].value, false);
    qsort(kv, n, sizeof(*kv), cmp_kv);
    *out = kv;
    *nout = n;
    return 0;
}

/* A path from the user's file, made absolute. */
static const char *resolve_path(struct xs *x, const char *p)
{
    if (p[0] == '~' && (p[1] == '/' || p[1] == '\0')) {
        const char *home = getenv("HOME");
        char *t = sv_xasprintf("%s%s", home ? home : "/root", p + 1);
        const char *r = sv_graph_strdup(x->g, t);
        free(t);
        return r;
    }
    char *joined = sv_path_join(x->dir, p);
    char *abs = joined[0] == '/' ? joined : sv_path_join(x->cwd, joined);
    if (abs != joined)
        free(joined);
    /* Fold "/./" and "a/../" so the graph holds one spelling per path. */
    cleanup_free char *clean = sv_path_clean(abs);
    char *out = (char *)sv_graph_strdup(x->g, clean);
    free(abs);
    return out;
}

static bool is_volume_name(const char *s)
{
    if (!isalnum((unsigned char)s[0]))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
            return false;
    return true;
}

struct mounts {
    struct sv_mount *v;
    size_t n, cap;
};

static struct sv_mount *mount_add(struct xs *x, struct mounts *m)
{
    if (m->n == m->cap) {
        size_t ncap = m->cap ? m->cap * 2 : 4;
        struct sv_mount *nv = sv_graph_alloc(x->g, ncap * sizeof(*nv));
        if (m->n)
            memcpy(nv, m->v, m->n * sizeof(*nv));
        m->v = nv;
        m->cap = ncap;
    }
    return &m->v[m->n++];
}

/* Absolute, and judged (and kept) as the kernel will resolve it: "/x/.."
 * is "/", which would make the source the container's root. */
static int check_target(struct xs *x, const char *key, const char **target)
{
    if (*target == NULL || (*target)[0] != '/')
        return fail_key(x, key, "the path inside the container must be absolute, got \"%s\"",
                        *target ? *target : "");
    char *clean = sv_path_clean(*target);
    const char *why = sv_path_refused_target(clean);
    if (why) {
        free(clean);
        return fail_key(x, key, "the path inside the container may not be %s: %s", *target, why);
    }
    *target = sv_graph_strdup(x->g, clean);
    free(clean);
    return 0;
}

/* "name:/path[:ro]", "./dir:/path", "/abs:/path:ro", "/path" (anonymous);
 * options may add U (podman's: hand the source to the container's user). */
static int parse_volume_string(struct xs *x, const char *key, const char *spec, struct mounts *m)
{
    char buf[4096];
    if (strlen(spec) >= sizeof(buf))
        return fail_key(x, key, "volume spec too long");
    strcpy(buf, spec);
    char *parts[3] = {buf, NULL, NULL};
    int np = 1;
    for (char *c = buf; *c && np < 3; c++)
        if (*c == ':') {
            *c = '\0';
            parts[np++] = c + 1;
        }
    struct sv_mount *mt = mount_add(x, m);
    if (np == 1) {
        mt->type = SV_MOUNT_VOLUME;
        mt->target = sv_graph_strdup(x->g, parts[0]);
        return check_target(x, key, &mt->target);
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
                return fail_key(x, key, "\"%s\": unknown option \"%s\" (expected ro, rw or U)",
                                spec, o);
        }
    }
    const char *src = parts[0];
    if (src[0] == '\0')
        return fail_key(x, key, "\"%s\": the source is empty", spec);
    mt->target = sv_graph_strdup(x->g, parts[1]);
    if (src[0] == '/' || src[0] == '.' || src[0] == '~') {
        mt->type = SV_MOUNT_BIND;
        mt->source = resolve_path(x, src);
    } else if (is_volume_name(src)) {
        mt->type = SV_MOUNT_VOLUME;
        mt->source = sv_graph_strdup(x->g, src);
    } else {
        return fail_key(x, key,
                        "\"%s\": \"%s\" is neither a volume name nor a path (write "
                        "./%s for a directory)",
                        spec, src, src);
    }
    return check_target(x, key, &mt->target);
}

/* { type = "bind"|"volume"|"tmpfs", source, target, read_only, chown, size } */
static int parse_volume_table(struct xs *x, const char *key, int idx, struct mounts *m)
{
    lua_State *L = x->L;
    struct sv_mount *mt = mount_add(x, m);
    const char *type = NULL;
    lua_getfield(L, idx, "type");
    if (!lua_isnil(L, -1) && want_string(x, lua_gettop(L), key, &type) < 0)
        return -1;
    lua_getfield(L, idx, "source");
    if (!lua_isnil(L, -1) && !sv_lua_isnull(L, -1) &&
        want_string(x, lua_gettop(L), key, &mt->source) < 0)
        return -1;
    lua_getfield(L, idx, "target");
    if (lua_isnil(L, -1))
        return fail_key(x, key, "a volume table needs a target");
    if (want_string(x, lua_gettop(L), key, &mt->target) < 0)
        return -1;
    lua_getfield(L, idx, "read_only");
    if (!lua_isnil(L, -1) && want_bool(x, lua_gettop(L), key, &mt->read_only) < 0)
        return -1;
    lua_getfield(L, idx, "chown");
    if (!lua_isnil(L, -1) && want_bool(x, lua_gettop(L), key, &mt->chown) < 0)
        return -1;
    lua_getfield(L, idx, "size");
    if (!lua_isnil(L, -1)) {
        int64_t bytes;
        sv_error_t perr = NULL;
        const char *sz;
        if (want_string(x, lua_gettop(L), key, &sz) < 0)
            return -1;
        if (sv_parse_size(sz, &bytes, &perr) < 0)
            return fail_parse(x, key, &perr);
        char opt[64];
        snprintf(opt, sizeof(opt), "size=%lld", (long long)bytes);
        mt->options = sv_graph_strdup(x->g, opt);
    }
    lua_pop(L, 6);
    if (type == NULL)
        type = mt->source == NULL                               ? "volume"
               : (mt->source[0] == '/' || mt->source[0] == '.') ? "bind"
                                                                : "volume";
    if (strcmp(type, "bind") == 0) {
        mt->type = SV_MOUNT_BIND;
        if (mt->source == NULL)
            return fail_key(x, key, "a bind mount needs a source");
        mt->source = resolve_path(x, mt->source);
    } else if (strcmp(type, "volume") == 0) {
        mt->type = SV_MOUNT_VOLUME;
        if (mt->source && !is_volume_name(mt->source))
            return fail_key(x, key, "\"%s\" is not a volume name", mt->source);
    } else if (strcmp(type, "tmpfs") == 0) {
        mt->type = SV_MOUNT_TMPFS;
        mt->source = NULL;
    } else {
        return fail_key(x, key, "unknown volume type \"%s\" (expected bind, volume or tmpfs)",
                        type);
    }
    return check_target(x, key, &mt->target);
}

static int list_foreach(struct xs *x, int idx, const char *key, bool allow_single,
                        int (*fn)(struct xs *, const char *, int, void *), void *ud)
{
    lua_State *L = x->L;
    size_t n;
    if (!lua_istable(L, idx) || (allow_single && !is_list(L, idx, &n))) {
        if (allow_single)
            return fn(x, key, idx, ud);
        return fail_key(x, key, "expected a list, got %s", type_of(L, idx));
    }
    if (!is_list(L, idx, &n))
        return fail_key(x, key, "expected a list, got a table with named keys");
    for (size_t i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i);
        int rc = fn(x, key, lua_gettop(L), ud);
        lua_pop(L, 1);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int volume_item(struct xs *x, const char *key, int idx, void *ud)
{
    if (lua_type(x->L, idx) == LUA_TSTRING) {
        const char *s;
        if (want_string(x, idx, key, &s) < 0)
            return -1;
        return parse_volume_string(x, key, s, ud);
    }
    if (lua_istable(x->L, idx))
        return parse_volume_table(x, key, idx, ud);
    return fail_key(x, key, "expected \"SOURCE:TARGET[:ro]\" or a table, got %s",
                    type_of(x->L, idx));
}

static int tmpfs_item(struct xs *x, const char *key, int idx, void *ud)
{
    const char *s;
    if (want_string(x, idx, key, &s) < 0)
        return -1;
    struct sv_mount *mt = mount_add(x, ud);
    mt->type = SV_MOUNT_TMPFS;
    const char *colon = strchr(s, ':');
    mt->target = colon ? sv_graph_strndup(x->g, s, (size_t)(colon - s)) : s;
    if (colon && colon[1])
        mt->options = colon + 1;
    return check_target(x, key, &mt->target);
}

/* Mounts accumulate across volumes and tmpfs; keep them in the service. */
static int key_volumes(struct xs *x, int idx, const char *key)
{
    struct mounts m = {x->svc->mounts, x->svc->n_mounts, x->svc->n_mounts};
    if (list_foreach(x, idx, key, false, volume_item, &m) < 0)
        return -1;
    x->svc->mounts = m.v;
    x->svc->n_mounts = m.n;
    return 0;
}

static int key_tmpfs(struct xs *x, int idx, const char *key)
{
    struct mounts m = {x->svc->mounts, x->svc->n_mounts, x->svc->n_mounts};
    if (list_foreach(x, idx, key, true, tmpfs_item, &m) < 0)
        return -1;
    x->svc->mounts = m.v;
    x->svc->n_mounts = m.n;
    return 0;
}

#define MAX_PORTS 1024

struct ports {
    struct sv_port_spec *v;
    size_t n;
};

static int port_item(struct xs *x, const char *key, int idx, void *ud)
{
    lua_State *L = x->L;
    struct ports *p = ud;
    sv_error_t perr = NULL;
    size_t got;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        int64_t port;
        if (want_int(x, idx, key, 1, 65535, &port) < 0)
            return -1;
        char buf[16];
        snprintf(buf, sizeof(buf), "%lld", (long long)port);
        if (sv_parse_ports(buf, p->v + p->n, MAX_PORTS - p->n, &got, &perr) < 0)
            return fail_parse(x, key, &perr);
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        if (sv_parse_ports(lua_tostring(L, idx), p->v + p->n, MAX_PORTS - p->n, &got, &perr) < 0)
            return fail_parse(x, key, &perr);
    } else if (lua_istable(L, idx)) {
        /* { target = 80, published = 8080, host_ip = "...", protocol = "tcp" } */
        struct sv_port_spec *s = p->v + p->n;
        if (p->n >= MAX_PORTS)
            return fail_key(x, key, "more than %d ports", MAX_PORTS);
        memset(s, 0, sizeof(*s));
        int64_t v;
        lua_getfield(L, idx, "target");
        if (want_int(x, lua_gettop(L), key, 1, 65535, &v) < 0)
            return -1;
        s->container = (int)v;
        lua_getfield(L, idx, "published");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) == LUA_TSTRING) {
                char *end;
                long pv = strtol(lua_tostring(L, -1), &end, 10);
                if (*end || pv < 1 || pv > 65535)
                    return fail_key(x, key, "published: \"%s\" is not a port", lua_tostring(L, -1));
                v = pv;
            } else if (want_int(x, lua_gettop(L), key, 1, 65535, &v) < 0) {
                return -1;
            }
            s->host = (int)v;
        }
        const char *ip = "127.0.0.1", *proto = "tcp";
        lua_getfield(L, idx, "host_ip");
        if (!lua_isnil(L, -1) && want_string(x, lua_gettop(L), key, &ip) < 0)
            return -1;
        lua_getfield(L, idx, "protocol");
        if (!lua_isnil(L, -1) && want_string(x, lua_gettop(L), key, &proto) < 0)
            return -1;
        lua_pop(L, 4);
        if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
            return fail_key(x, key, "protocol \"%s\" is not tcp or udp", proto);
        snprintf(s->host_ip, sizeof(s->host_ip), "%s", ip);
        snprintf(s->protocol, sizeof(s->protocol), "%s", proto);
        got = 1;
    } else {
        return fail_key(x, key, "expected \"HOST:CONTAINER\", a port number or a table, got %s",
                        type_of(L, idx));
    }
    p->n += got;
    return 0;
}

static int key_ports(struct xs *x, int idx, const char *key)
{
    /* Collect in scratch space (ranges expand), keep only what was used. */
    static struct sv_port_spec scratch[MAX_PORTS];
    struct ports p = {scratch, 0};
    if (list_foreach(x, idx, key, false, port_item, &p) < 0)
        return -1;
    x->svc->ports = sv_graph_alloc(x->g, (p.n ? p.n : 1) * sizeof(*scratch));
    memcpy(x->svc->ports, scratch, p.n * sizeof(*scratch));
    x->svc->n_ports = p.n;
    return 0;
}

static int parse_condition(struct xs *x, const char *key, const char *dep, const char *c,
                           enum sv_dep_condition *out)
{
    if (!strcmp(c, "started") || !strcmp(c, "service_started"))
        *out = SV_DEP_STARTED;
    else if (!strcmp(c, "healthy") || !strcmp(c, "service_healthy"))
        *out = SV_DEP_HEALTHY;
    else if (!strcmp(c, "completed") || !strcmp(c, "service_completed_successfully"))
        *out = SV_DEP_COMPLETED;
    else
        return fail_key(x, key,
                        "%s: \"%s\" is not a condition (expected started, healthy or "
                        "completed)",
                        dep, c);
    return 0;
}

static int key_depends_on(struct xs *x, int idx, const char *key)
{
    lua_State *L = x->L;
    if (lua_type(L, idx) == LUA_TSTRING) {
        x->svc->deps = sv_graph_alloc(x->g, sizeof(struct sv_dep));
        x->svc->n_deps = 1;
        return want_string(x, idx, key, &x->svc->deps[0].service);
    }
    if (!lua_istable(L, idx))
        return fail_key(x, key,
                        "expected a list of service names or a table of name = "
                        "condition, got %s",
                        type_of(L, idx));
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        n++;
    }
    struct sv_dep *deps = sv_graph_alloc(x->g, (n ? n : 1) * sizeof(*deps));
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        struct sv_dep *d = &deps[i++];
        int v = lua_gettop(L);
        if (lua_isinteger(L, -2)) { /* list form: a name, started */
            if (want_string(x, v, key, &d->service) < 0)
                goto fail;
            d->condition = SV_DEP_STARTED;
        } else if (lua_type(L, -2) == LUA_TSTRING) {
            d->service = sv_graph_strdup(x->g, lua_tostring(L, -2));
            const char *cond = "started";
            if (lua_istable(L, v)) {
                lua_getfield(L, v, "condition");
                if (!lua_isnil(L, -1) && want_string(x, lua_gettop(L), key, &cond) < 0)
                    goto fail;
                lua_pop(L, 1);
            } else if (lua_type(L, v) == LUA_TSTRING) {
                cond = lua_tostring(L, v);
            } else if (!(lua_type(L, v) == LUA_TBOOLEAN && lua_toboolean(L, v))) {
                fail_key(x, key, "%s: expected a condition string, got %s", d->service,
                         type_of(L, v));
                goto fail;
            }
            if (parse_condition(x, key, d->service, cond, &d->condition) < 0)
                goto fail;
        } else {
            fail_key(x, key, "expected service names");
            goto fail;
        }
        lua_pop(L, 1);
    }
    /* Table order is arbitrary: sort so the graph (and its hash) is stable. */
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && strcmp(deps[b - 1].service, deps[b].service) > 0; b--) {
            struct sv_dep t = deps[b];
            deps[b] = deps[b - 1];
            deps[b - 1] = t;
        }
    for (size_t a = 1; a < n; a++)
        if (strcmp(deps[a - 1].service, deps[a].service) == 0)
            return fail_key(x, key, "\"%s\" is listed twice", deps[a].service);
    x->svc->deps = deps;
    x->svc->n_deps = n;
    return 0;
fail:
    lua_settop(L, idx);
    return -1;
}

static int want_duration(struct xs *x, int idx, const char *key, int64_t *ms)
{
    lua_State *L = x->L;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        if (!(v >= 0 && v < 1e12))
            return fail_key(x, key, "%g is not a duration", v);
        *ms = (int64_t)llround(v * 1000);
        return 0;
    }
    if (lua_type(L, idx) != LUA_TSTRING)
        return fail_key(x, key, "expected a duration like \"2s\", got %s", type_of(L, idx));
    sv_error_t perr = NULL;
    if (sv_parse_duration(lua_tostring(L, idx), ms, &perr) < 0)
        return fail_parse(x, key, &perr);
    return 0;
}

static int key_healthcheck(struct xs *x, int idx, const char *key)
{
    lua_State *L = x->L;
    if (!lua_istable(L, idx))
        return fail_key(x, key,
                        "expected a table with test, interval, timeout, retries, "
                        "start_period; got %s",
                        type_of(L, idx));
    static const char *const known[] = {"test",    "interval",     "timeout",
                                        "retries", "start_period", "disable"};
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
        bool ok = false;
        for (size_t i = 0; i < SV_ARRAY_LEN(known); i++)
            ok |= strcmp(k, known[i]) == 0;
        if (!ok) {
            const char *s = sv_suggest(k, known, SV_ARRAY_LEN(known));
            fail_key(x, key, "unknown key \"%s\"%s%s%s", k, s ? " (did you mean \"" : "",
                     s ? s : "", s ? "\"?)" : "");
            lua_pop(L, 1);
            return -1;
        }
    }
    lua_getfield(L, idx, "disable");
    bool disabled = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (disabled)
        return 0;
    struct sv_health *h = sv_graph_alloc(x->g, sizeof(*h));
    h->interval_ms = 30000;
    h->timeout_ms = 30000;
    h->retries = 3;
    int base = lua_gettop(L);
    lua_getfield(L, idx, "test");
    if (lua_isnil(L, -1))
        return fail_key(x, key, "a healthcheck needs a test (a command list or a shell string)");
    if (lua_istable(L, -1)) {
        /* Compose's ["CMD", ...], ["CMD-SHELL", "..."], ["NONE"] */
        lua_rawgeti(L, -1, 1);
        const char *first = lua_tostring(L, -1);
        if (first && strcmp(first, "NONE") == 0) {
            lua_settop(L, base);
            return 0;
        }
        if (first && strcmp(first, "CMD-SHELL") == 0) {
            lua_rawgeti(L, -2, 2);
            lua_replace(L, base + 1);
        } else if (first && strcmp(first, "CMD") == 0) {
            lua_newtable(L);
            for (lua_Integer i = 2; i <= (lua_Integer)lua_rawlen(L, base + 1); i++) {
                lua_rawgeti(L, base + 1, i);
                lua_rawseti(L, -2, i - 1);
            }
            lua_replace(L, base + 1);
        }
        lua_settop(L, base + 1);
    }
    if (want_argv(x, base + 1, key, &h->test) < 0)
        return -1;
    int64_t v;
    static const char *const durs[] = {"interval", "timeout", "start_period"};
    int64_t *dst[] = {&h->interval_ms, &h->timeout_ms, &h->start_period_ms};
    for (size_t i = 0; i < 3; i++) {
        lua_getfield(L, idx, durs[i]);
        if (!lua_isnil(L, -1) && want_duration(x, lua_gettop(L), key, dst[i]) < 0)
            return -1;
        lua_pop(L, 1);
    }
    if (h->interval_ms < 10 || h->timeout_ms < 10)
        return fail_key(x, key, "interval and timeout must be at least 10ms");
    lua_getfield(L, idx, "retries");
    if (!lua_isnil(L, -1)) {
        if (want_int(x, lua_gettop(L), key, 1, 1000000, &v) < 0)
            return -1;
        h->retries = (int)v;
    }
    lua_settop(L, base);
    x->svc->health = h;
    return 0;
}

static int key_image(struct xs *x, int idx, const char *key)
{
    const char *s;
    if (want_string(x, idx, key, &s) < 0)
        return -1;
    if (s[0] == '\0')
        return fail_key(x, key, "the image is empty (use \"host\" for the host's root)");
    for (const char *c = s; *c; c++)
        if (isspace((unsigned char)*c) || !isprint((unsigned char)*c))
            return fail_key(x, key, "\"%s\" is not an image reference or path", s);
    if (s[0] == '.' || s[0] == '/' || s[0] == '~')
        s = resolve_path(x, s);
    x->svc->image = s;
    return 0;
}

static int key_command(struct xs *x, int idx, const char *key)
{
    return want_argv(x, idx, key, &x->svc->command);
}

static int key_entrypoint(struct xs *x, int idx, const char *key)
{
    return want_argv(x, idx, key, &x->svc->entrypoint);
}

static int key_env(struct xs *x, int idx, const char *key)
{
    return want_map(x, idx, key, &x->svc->env, &x->svc->n_env);
}

static int key_labels(struct xs *x, int idx, const char *key)
{
    return want_map(x, idx, key, &x->svc->labels, &x->svc->n_labels);
}

static void envfile_set(void *ud, const char *k, const char *v)
{
    struct xs *x = ud;
    size_t cap = x->svc->n_env;
    /* explicit env wins; env_file is applied first (see extract order) */
    kv_set(x->g, &x->svc->env, &x->svc->n_env, &cap, sv_graph_strdup(x->g, k),
           sv_graph_strdup(x->g, v), true);
}

static int env_file_item(struct xs *x, const char *key, int idx, void *ud)
{
    (void)ud;
    lua_State *L = x->L;
    const char *path;
    bool required = true;
    if (lua_istable(L, idx)) { /* Compose long form { path = , required = } */
        lua_getfield(L, idx, "path");
        if (want_string(x, lua_gettop(L), key, &path) < 0)
            return -1;
        lua_getfield(L, idx, "required");
        if (!lua_isnil(L, -1) && want_bool(x, lua_gettop(L), key, &required) < 0)
            return -1;
        lua_pop(L, 2);
    } else if (want_string(x, idx, key, &path) < 0) {
        return -1;
    }
    const char *full = resolve_path(x, path);
    cleanup_free char *buf = NULL;
    sv_error_t perr = NULL;
    if (sv_read_file(full, SV_MAX_INPUT_BYTES, &buf, NULL, &perr) < 0) {
        if (!required) {
            sv_error_free(&perr);
            return 0;
        }
        return fail_parse(x, key, &perr);
    }
    if (sv_dotenv_parse(full, buf, envfile_set, x, &perr) < 0)
        return fail_parse(x, key, &perr);
    return 0;
}

static int key_env_file(struct xs *x, int idx, const char *key)
{
    return list_foreach(x, idx, key, true, env_file_item, NULL);
}

static int key_replicas(struct xs *x, int idx, const char *key)
{
    int64_t v;
    if (want_int(x, idx, key, 0, 10000, &v) < 0)
        return -1;
    x->svc->replicas = (int)v;
    return 0;
}

static int key_memory(struct xs *x, int idx, const char *key)
{
    lua_State *L = x->L;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        int64_t v;
        if (want_int(x, idx, key, 0, INT64_MAX, &v) < 0)
            return -1;
        x->svc->memory = v;
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        sv_error_t perr = NULL;
        if (sv_parse_size(lua_tostring(L, idx), &x->svc->memory, &perr) < 0)
            return fail_parse(x, key, &perr);
    } else {
        return fail_key(x, key, "expected a size like \"256M\" or a number of bytes, got %s",
                        type_of(L, idx));
    }
    if (x->svc->memory < 4 * 1024 * 1024)
        return fail_key(x, key, "%lld bytes is too little (at least 4M; did you mean \"%lldM\"?)",
                        (long long)x->svc->memory, (long long)x->svc->memory);
    return 0;
}

static int key_cpus(struct xs *x, int idx, const char *key)
{
    lua_State *L = x->L;
    sv_error_t perr = NULL;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        if (!(v > 0 && v <= 1024))
            return fail_key(x, key, "%g CPUs is out of range (expected more than 0, at most 1024)",
                            v);
        x->svc->cpus = v;
        return 0;
    }
    if (lua_type(L, idx) != LUA_TSTRING)
        return fail_key(x, key, "expected a number like 0.5, got %s", type_of(L, idx));
    if (sv_parse_cpus(lua_tostring(L, idx), &x->svc->cpus, &perr) < 0)
        return fail_parse(x, key, &perr);
    return 0;
}

static int key_pids(struct xs *x, int idx, const char *key)
{
    int64_t v;
    if (want_int(x, idx, key, -1, 4194304, &v) < 0)
        return -1;
    if (v == 0)
        return fail_key(x, key, "0 would forbid every process (use -1 for no limit)");
    x->svc->pids = v < 0 ? -1 : v;
    return 0;
}

static int key_restart(struct xs *x, int idx, const char *key)
{
    const char *s;
    if (lua_type(x->L, idx) == LUA_TBOOLEAN && !lua_toboolean(x->L, idx))
        s = "no";
    else if (want_string(x, idx, key, &s) < 0)
        return -1;
    sv_error_t perr = NULL;
    if (sv_parse_restart(s, &x->svc->restart, &x->svc->restart_max, &perr) < 0)
        return fail_parse(x, key, &perr);
    return 0;
}

static int key_working_dir(struct xs *x, int idx, const char *key)
{
    if (want_string(x, idx, key, &x->svc->working_dir) < 0)
        return -1;
    if (x->svc->working_dir[0] != '/')
        return fail_key(x, key, "\"%s\" must be an absolute path", x->svc->working_dir);
    return 0;
}

static int key_user(struct xs *x, int idx, const char *key)
{
    if (want_string(x, idx, key, &x->svc->user) < 0)
        return -1;
    if (x->svc->user[0] == '\0' || strchr(x->svc->user, ' '))
        return fail_key(x, key, "\"%s\" is not a user (expected NAME, UID or UID:GID)",
                        x->svc->user);
    return 0;
}

static int key_hostname(struct xs *x, int idx, const char *key)
{
    const char *h;
    if (want_string(x, idx, key, &h) < 0)
        return -1;
    size_t n = strlen(h);
    bool ok = n > 0 && n <= 63 && isalnum((unsigned char)h[0]);
    for (const char *c = h; ok && *c; c++)
        ok = isalnum((unsigned char)*c) || *c == '-' || *c == '.';
    if (!ok)
        return fail_key(x, key, "\"%s\" is not a valid hostname", h);
    x->svc->hostname = h;
    return 0;
}

static int key_read_only(struct xs *x, int idx, const char *key)
{
    return want_bool(x, idx, key, &x->svc->read_only);
}

static int key_init(struct xs *x, int idx, const char *key)
{
    return want_bool(x, idx, key, &x->svc->init);
}

static int key_tty(struct xs *x, int idx, const char *key)
{
    return want_bool(x, idx, key, &x->svc->tty);
}

static int key_stdin_open(struct xs *x, int idx, const char *key)
{
    return want_bool(x, idx, key, &x->svc->stdin_open);
}

static int want_caps(struct xs *x, int idx, const char *key, const char ***out)
{
    const char **caps;
    if (want_string_list(x, idx, key, true, &caps) < 0)
        return -1;
    for (size_t i = 0; caps[i]; i++) {
        char buf[64];
        const char *c = caps[i];
        if (strncasecmp(c, "CAP_", 4) == 0)
            c += 4;
        size_t n = strlen(c);
        if (n == 0 || n >= sizeof(buf) - 4)
            return fail_key(x, key, "\"%s\" is not a capability", caps[i]);
        for (size_t j = 0; j <= n; j++)
            buf[j] = (char)toupper((unsigned char)c[j]);
        if (strcmp(buf, "ALL") != 0) {
            char lower[80];
            snprintf(lower, sizeof(lower), "cap_%s", c);
            for (char *p = lower; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            cap_value_t v;
            if (cap_from_name(lower, &v) < 0)
                return fail_key(x, key, "\"%s\" is not a capability (e.g. NET_ADMIN, SYS_TIME)",
                                caps[i]);
        }
        caps[i] = sv_graph_strdup(x->g, buf);
    }
    *out = caps;
    return 0;
}

static int key_cap_add(struct xs *x, int idx, const char *key)
{
    return want_caps(x, idx, key, &x->svc->cap_add);
}

static int key_cap_drop(struct xs *x, int idx, const char *key)
{
    return want_caps(x, idx, key, &x->svc->cap_drop);
}

static int key_stop_signal(struct xs *x, int idx, const char *key)
{
    const char *s;
    if (want_string(x, idx, key, &s) < 0)
        return -1;
    sv_error_t perr = NULL;
    if (sv_parse_signal(s, &x->svc->stop_signal, &perr) < 0)
        return fail_parse(x, key, &perr);
    return 0;
}

static int key_stop_grace_period(struct xs *x, int idx, const char *key)
{
    return want_duration(x, idx, key, &x->svc->stop_grace_ms);
}

static int want_choice(struct xs *x, int idx, const char *key, const char *const *choices, size_t n,
                       const char **out)
{
    const char *s;
    if (want_string(x, idx, key, &s) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, choices[i]) == 0) {
            *out = choices[i];
            return 0;
        }
    char list[256] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                 i == 0       ? ""
                 : i + 1 == n ? " or "
                              : ", ",
                 choices[i]);
    const char *sugg = sv_suggest(s, choices, n);
    return fail_key(x, key, "\"%s\" is not one of %s%s%s%s", s, list,
                    sugg ? " (did you mean \"" : "", sugg ? sugg : "", sugg ? "\"?)" : "");
}

static int key_network(struct xs *x, int idx, const char *key)
{
    static const char *const nets[] = {"stack", "none", "host"};
    return want_choice(x, idx, key, nets, 3, &x->svc->network);
}

static int key_userns(struct xs *x, int idx, const char *key)
{
    static const char *const modes[] = {"auto", "host"};
    return want_choice(x, idx, key, modes, 2, &x->svc->userns);
}

/* Ask stdlib/platforms.lua whether a platform or board exists; on no, the
 * closest known name for the message. */
static bool platform_known(struct xs *x, const char *fn, const char *name, const char **sugg)
{
    lua_State *L = x->L;
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
        names[n++] = sv_graph_strdup(x->g, lua_tostring(L, -1));
        lua_pop(L, 1);
        lua_getfield(L, -1, "boards");
        for (lua_Integer j = 1; j <= (lua_Integer)lua_rawlen(L, -1) && n < 256; j++) {
            lua_rawgeti(L, -1, j);
            lua_getfield(L, -1, "id");
            names[n++] = sv_graph_strdup(x->g, lua_tostring(L, -1));
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
static int key_platform(struct xs *x, int idx, const char *key)
{
    const char *s, *sugg;
    if (want_string(x, idx, key, &s) < 0)
        return -1;
    if (!platform_known(x, "find_platform", s, &sugg) && !platform_known(x, "find_board", s, &sugg))
        return fail_key(x, key, "unknown platform \"%s\"%s%s%s (see servos list-platforms)", s,
                        sugg ? " (did you mean \"" : "", sugg ? sugg : "", sugg ? "\"?)" : "");
    x->svc->platform = s;
    return 0;
}

static int key_board(struct xs *x, int idx, const char *key)
{
    const char *s, *sugg;
    if (want_string(x, idx, key, &s) < 0)
        return -1;
    if (!platform_known(x, "find_board", s, &sugg))
        return fail_key(x, key, "unknown board \"%s\"%s%s%s (see servos list-platforms)", s,
                        sugg ? " (did you mean \"" : "", sugg ? sugg : "", sugg ? "\"?)" : "");
    x->svc->board = s;
    return 0;
}

static int key_toolchain(struct xs *x, int idx, const char *key)
{
    return want_string(x, idx, key, &x->svc->toolchain);
}

static int key_profiles(struct xs *x, int idx, const char *key)
{
    return want_string_list(x, idx, key, true, &x->svc->profiles);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Any Lua value as a plain value tree (the ProServe body). The YAML front
 * shares tables between aliases, so a budget stops "billion laughs". */
static int to_value(struct xs *x, int idx, const char *key, struct sv_value *out, int depth)
{
    lua_State *L = x->L;
    if (x->value_budget-- == 0)
        return fail_key(x, key,
                        "the value is too large (more than 1,000,000 nodes after "
                        "expanding YAML aliases)");
    if (depth > 64)
        return fail_key(x, key, "the value is nested too deeply");
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        out->kind = SV_NULL;
        return 0;
    case LUA_TBOOLEAN:
        out->kind = SV_BOOL;
        out->u.b = lua_toboolean(L, idx);
        return 0;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            out->kind = SV_INT;
            out->u.i = lua_tointeger(L, idx);
        } else {
            out->kind = SV_NUM;
            out->u.d = lua_tonumber(L, idx);
        }
        return 0;
    case LUA_TSTRING:
        out->kind = SV_STR;
        out->u.s = sv_graph_strdup(x->g, lua_tostring(L, idx));
        return 0;
    case LUA_TLIGHTUSERDATA:
        if (sv_lua_isnull(L, idx)) {
            out->kind = SV_NULL;
            return 0;
        }
        break;
    case LUA_TTABLE: {
        if (!lua_checkstack(L, 8))
            return fail_key(x, key, "the value is nested too deeply");
        size_t n;
        bool seq = is_list(L, idx, &n);
        if (n == 0) { /* {} : an empty YAML list stays a list */
            lua_getfield(L, LUA_REGISTRYINDEX, "sv.lines");
            lua_pushvalue(L, idx);
            lua_rawget(L, -2);
            seq = false;
            if (lua_istable(L, -1)) {
                lua_pushboolean(L, 1);
                lua_rawget(L, -2);
                seq = lua_isstring(L, -1) && strcmp(lua_tostring(L, -1), "seq") == 0;
                lua_pop(L, 1);
            }
            lua_pop(L, 2);
        }
        if (seq) {
            out->kind = SV_ARRAY;
            out->u.list.n = n;
            out->u.list.items = sv_graph_alloc(x->g, (n ? n : 1) * sizeof(struct sv_value));
            for (size_t i = 0; i < n; i++) {
                lua_rawgeti(L, idx, (lua_Integer)i + 1);
                int rc = to_value(x, -1, key, &out->u.list.items[i], depth + 1);
                lua_pop(L, 1);
                if (rc < 0)
                    return -1;
            }
            return 0;
        }
        size_t count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            count++;
        }
        const char **keys = sv_graph_alloc(x->g, (count ? count : 1) * sizeof(*keys));
        size_t k = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            keys[k++] = sv_graph_strdup(x->g, lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
            lua_pop(L, 1);
        }
        qsort(keys, count, sizeof(*keys), cmp_str);
        out->kind = SV_OBJECT;
        out->u.list.n = count;
        out->u.list.keys = keys;
        out->u.list.items = sv_graph_alloc(x->g, (count ? count : 1) * sizeof(struct sv_value));
        for (size_t i = 0; i < count; i++) {
            lua_getfield(L, idx, keys[i]);
            if (lua_isnil(L, -1)) { /* a numeric key: fetch it as a number */
                lua_pop(L, 1);
                lua_pushnumber(L, strtod(keys[i], NULL));
                if (lua_isinteger(L, -1) == 0) {
                    lua_Integer iv = (lua_Integer)lua_tonumber(L, -1);
                    lua_pop(L, 1);
                    lua_pushinteger(L, iv);
                }
                lua_rawget(L, idx);
            }
            int rc = to_value(x, -1, key, &out->u.list.items[i], depth + 1);
            lua_pop(L, 1);
            if (rc < 0)
                return -1;
        }
        return 0;
    }
    default:
        break;
    }
    return fail_key(x, key, "a %s cannot be part of the graph", luaL_typename(L, idx));
}

static int key_proserve(struct xs *x, int idx, const char *key)
{
    x->svc->proserve = sv_graph_alloc(x->g, sizeof(struct sv_value));
    x->value_budget = 1000000;
    return to_value(x, idx, key, x->svc->proserve, 0);
}

/* Compose's shape: logging = { driver = "json-file", options = { ["max-size"]
 * = "10m", ["max-file"] = 3 } }. Every replica's output goes to files of
 * its own (logfile.h), so only the file drivers' names are accepted. */
static int logging_options(struct xs *x, int idx, const char *key, struct sv_log_opts *o)
{
    lua_State *L = x->L;
    if (!lua_istable(L, idx))
        return fail_key(x, key, "options: expected a table, got %s", type_of(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int t = lua_type(L, -1);
        if (lua_type(L, -2) != LUA_TSTRING || (t != LUA_TSTRING && t != LUA_TNUMBER))
            return fail_key(x, key,
                            "options: expected names with sizes or numbers, as "
                            "[\"max-size\"] = \"10m\"");
        char opt[256];
        snprintf(opt, sizeof(opt), "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
        sv_error_t perr = NULL;
        if (sv_log_opt_parse(o, opt, &perr) < 0)
            return fail_parse(x, key, &perr);
        lua_pop(L, 1);
    }
    return 0;
}

static int key_logging(struct xs *x, int idx, const char *key)
{
    lua_State *L = x->L;
    if (!lua_istable(L, idx))
        return fail_key(x, key,
                        "expected a table like { options = { [\"max-size\"] = \"10m\", "
                        "[\"max-file\"] = 3 } }, got %s",
                        type_of(L, idx));
    struct sv_log_opts o = {0, 0};
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
        if (strcmp(k, "driver") == 0) {
            const char *d = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
            if (strcmp(d, "json-file") != 0 && strcmp(d, "local") != 0 &&
                strcmp(d, "k8s-file") != 0)
                return fail_key(x, key,
                                "driver \"%s\" is not supported: servos keeps each replica's "
                                "output in files (json-file, local or k8s-file)",
                                d);
        } else if (strcmp(k, "options") == 0) {
            if (logging_options(x, lua_gettop(L), key, &o) < 0)
                return -1;
        } else {
            return fail_key(x, key, "unknown key \"%s\" (expected driver and options)", k);
        }
        lua_pop(L, 1);
    }
    x->svc->log_max_size = o.max_size;
    x->svc->log_max_files = o.max_files;
    return 0;
}

typedef int (*key_fn)(struct xs *x, int idx, const char *key);

/* Sorted by name (bsearch). alias: the canonical key this one stands for. */
static const struct key_def {
    const char *name;
    key_fn fn;
    const char *alias;
} key_defs[] = {
    {"board", key_board, NULL},
    {"cap_add", key_cap_add, NULL},
    {"cap_drop", key_cap_drop, NULL},
    {"command", key_command, NULL},
    {"cpu", key_cpus, "cpus"},
    {"cpus", key_cpus, NULL},
    {"depends_on", key_depends_on, NULL},
    {"entrypoint", key_entrypoint, NULL},
    {"env", key_env, NULL},
    {"env_file", key_env_file, NULL},
    {"environment", key_env, "env"},
    {"healthcheck", key_healthcheck, NULL},
    {"hostname", key_hostname, NULL},
    {"image", key_image, NULL},
    {"init", key_init, NULL},
    {"labels", key_labels, NULL},
    {"logging", key_logging, NULL},
    {"memory", key_memory, NULL},
    {"network", key_network, NULL},
    {"pids", key_pids, NULL},
    {"platform", key_platform, NULL},
    {"ports", key_ports, NULL},
    {"profiles", key_profiles, NULL},
    {"proserve", key_proserve, NULL},
    {"read_only", key_read_only, NULL},
    {"replicas", key_replicas, NULL},
    {"restart", key_restart, NULL},
    {"stdin_open", key_stdin_open, NULL},
    {"stop_grace_period", key_stop_grace_period, NULL},
    {"stop_signal", key_stop_signal, NULL},
    {"tmpfs", key_tmpfs, NULL},
    {"toolchain", key_toolchain, NULL},
    {"tty", key_tty, NULL},
    {"user", key_user, NULL},
    {"userns", key_userns, NULL},
    {"volumes", key_volumes, NULL},
    {"workdir", key_working_dir, "working_dir"},
    {"working_dir", key_working_dir, NULL},
};

static int cmp_key_def(const void *k, const void *d)
{
    return strcmp(k, ((const struct key_def *)d)->name);
}

static const struct key_def *find_key(const char *name)
{
    return bsearch(name, key_defs, SV_ARRAY_LEN(key_defs), sizeof(key_defs[0]), cmp_key_def);
}

/* The closest accepted key to a misspelt one, from the key table itself. */
static const char *suggest_key(const char *k)
{
    const char *names[SV_ARRAY_LEN(key_defs)];
    for (size_t i = 0; i < SV_ARRAY_LEN(key_defs); i++)
        names[i] = key_defs[i].name;
    return sv_suggest(k, names, SV_ARRAY_LEN(key_defs));
}

static int extract_service(struct xs *x, int rec)
{
    lua_State *L = x->L;
    struct sv_service *s = x->svc;
    s->image = "host";
    s->replicas = 1;
    s->memory = -1;
    s->cpus = -1;
    s->pids = -1;
    s->stop_grace_ms = -1;
    s->network = "stack";
    s->userns = "auto";
    static const char *empty[] = {NULL};
    s->cap_add = s->cap_drop = s->profiles = empty;

    lua_getfield(L, rec, "spec");
    x->spec = lua_gettop(L);
    lua_getfield(L, rec, "lines");
    x->lines = lua_istable(L, -1) ? lua_gettop(L) : 0;
    lua_getfield(L, rec, "dir");
    const char *dir = lua_tostring(L, -1) ? lua_tostring(L, -1) : ".";
    if (x->dir == NULL || strcmp(x->dir, dir) != 0) /* services share a few dirs */
        x->dir = sv_graph_strdup(x->g, dir);

    /* First pass: unknown keys and aliases given twice, and which keys are
     * present, so the second pass looks up only those. */
    const char *seen_canon[SV_ARRAY_LEN(key_defs)] = {0};
    bool present[SV_ARRAY_LEN(key_defs)] = {0};
    lua_pushnil(L);
    while (lua_next(L, x->spec)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return sv_error(x->err, 0,
                            "%s: service \"%s\": settings must have names (found a "
                            "list item; did you forget a key = ?)",
                            s->where, s->name);
        }
        const char *k = lua_tostring(L, -1);
        const struct key_def *d = find_key(k);
        if (d == NULL) {
            const char *sugg = suggest_key(k);
            sv_error(x->err, 0, "%s: service \"%s\": unknown key \"%s\"%s%s%s", key_where(x, k),
                     s->name, k, sugg ? " (did you mean \"" : "", sugg ? sugg : "",
                     sugg ? "\"?)" : "");
            lua_pop(L, 1);
            return -1;
        }
        const char *canon = d->alias ? d->alias : d->name;
        const struct key_def *cd = find_key(canon);
        size_t ci = (size_t)(cd - key_defs);
        if (seen_canon[ci]) {
            sv_error(x->err, 0, "%s: service \"%s\": both \"%s\" and \"%s\" are set; keep one",
                     key_where(x, k), s->name, seen_canon[ci], k);
            lua_pop(L, 1);
            return -1;
        }
        seen_canon[ci] = d->name;
        present[d - key_defs] = true;
    }
    /* env_file first: env's explicit values then override the file's. */
    const struct key_def *env_file = find_key("env_file");
    if (present[env_file - key_defs]) {
        lua_getfield(L, x->spec, "env_file");
        if (!lua_isnil(L, -1) && key_env_file(x, lua_gettop(L), "env_file") < 0)
            return -1;
        lua_pop(L, 1);
    }
    /* Keys in a fixed order so errors and results do not depend on table
     * iteration order. */
    for (size_t i = 0; i < SV_ARRAY_LEN(key_defs); i++) {
        const struct key_def *d = &key_defs[i];
        if (!present[i] || d == env_file)
            continue;
        lua_getfield(L, x->spec, d->name);
        if (!lua_isnil(L, -1) && !sv_lua_isnull(L, -1)) {
            int top = lua_gettop(L);
            if (d->fn(x, top, d->name) < 0)
                return -1;
            lua_settop(L, top);
        }
        lua_pop(L, 1);
    }
    return 0;
}

static int string_field(lua_State *L, int t, const char *k, struct sv_graph *g, const char **out)
{
    lua_getfield(L, t, k);
    *out = lua_tostring(L, -1) ? sv_graph_strdup(g, lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
    return 0;
}

struct extract_args {
    struct sv_lua *s;
    struct sv_graph *g;
    const char *default_stack;
    const char *cwd;
    sv_error_t *err;
    int rc;
};

static int extract_all(lua_State *L)
{
    struct extract_args *a = lua_touserdata(L, 1);
    struct sv_graph *g = a->g;
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->s->stdlib_ref);
    lua_getfield(L, -1, "decl");
    int decl = lua_gettop(L);
    string_field(L, decl, "stack", g, &g->stack);
    if (g->stack == NULL)
        g->stack = sv_graph_strdup(g, a->default_stack);

    lua_getfield(L, decl, "volumes");
    int vols = lua_gettop(L);
    size_t nv = lua_rawlen(L, vols);
    g->volumes = sv_xcalloc(nv ? nv : 1, sizeof(*g->volumes));
    for (size_t i = 0; i < nv; i++) {
        lua_rawgeti(L, vols, (lua_Integer)i + 1);
        string_field(L, -1, "name", g, &g->volumes[i].name);
        string_field(L, -1, "where", g, &g->volumes[i].where);
        lua_pop(L, 1);
        g->n_volumes++;
    }

    lua_getfield(L, decl, "services");
    int svcs = lua_gettop(L);
    size_t n = lua_rawlen(L, svcs);
    g->services = sv_xcalloc(n ? n : 1, sizeof(*g->services));
    const char *last_dir = NULL;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, svcs, (lua_Integer)i + 1);
        int rec = lua_gettop(L);
        struct sv_service *svc = &g->services[i];
        g->n_services++;
        string_field(L, rec, "name", g, &svc->name);
        string_field(L, rec, "where", g, &svc->where);
        struct xs x = {.L = L, .g = g, .err = a->err, .svc = svc, .cwd = a->cwd, .dir = last_dir};
        if (extract_service(&x, rec) < 0) {
            a->rc = -1;
            return 0;
        }
        last_dir = x.dir;
        lua_settop(L, svcs);
    }
    a->rc = 0;
    return 0;
}

int sv_extract_graph(struct sv_lua *s, const char *default_stack, struct sv_graph **out,
                     sv_error_t *err)
{
    struct sv_graph *g = sv_graph_new();
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        strcpy(cwd, "/");
    struct extract_args a = {
        .s = s, .g = g, .default_stack = default_stack, .cwd = cwd, .err = err, .rc = -1};
    if (sv_lua_protected(s, extract_all, &a, err) < 0 || a.rc < 0 || sv_graph_finish(g, err) < 0) {
        sv_graph_free(g);
        return -1;
    }
    *out = g;
    return 0;
}
