/* The service graph out of what an evaluation declared: the table of
 * service keys and the walk of every declared service through it. The
 * keys' readers live in extract_*.c, grouped by what they describe. */
#include "lua/extract_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int key_profiles(struct service_reader *rd, int idx, const char *key)
{
    return ex_want_string_list(rd, idx, key, true, &rd->svc->profiles);
}

/* Every key a service may have, sorted by name (bsearch), each with its
 * reader (extract_int.h says which file holds which). alias: the canonical
 * key this one stands for. */
static const struct key_def {
    const char *name;
    ex_key_fn fn;
    const char *alias;
} key_defs[] = {
    {"board", ex_key_board, NULL},
    {"build", ex_key_build, NULL},
    {"cap_add", ex_key_cap_add, NULL},
    {"cap_drop", ex_key_cap_drop, NULL},
    {"command", ex_key_command, NULL},
    {"configs", ex_key_configs, NULL},
    {"container_name", ex_key_container_name, NULL},
    {"cpu", ex_key_cpus, "cpus"},
    {"cpus", ex_key_cpus, NULL},
    {"depends_on", ex_key_depends_on, NULL},
    {"devices", ex_key_devices, NULL},
    {"entrypoint", ex_key_entrypoint, NULL},
    {"env", ex_key_env, NULL},
    {"env_file", ex_key_env_file, NULL},
    {"environment", ex_key_env, "env"},
    {"extra_hosts", ex_key_extra_hosts, NULL},
    {"healthcheck", ex_key_healthcheck, NULL},
    {"hostname", ex_key_hostname, NULL},
    {"image", ex_key_image, NULL},
    {"init", ex_key_init, NULL},
    {"labels", ex_key_labels, NULL},
    {"logging", ex_key_logging, NULL},
    {"memory", ex_key_memory, NULL},
    {"network", ex_key_network, NULL},
    {"networks", ex_key_networks, NULL},
    {"pids", ex_key_pids, NULL},
    {"platform", ex_key_platform, NULL},
    {"ports", ex_key_ports, NULL},
    {"profiles", key_profiles, NULL},
    {"proserve", ex_key_proserve, NULL},
    {"read_only", ex_key_read_only, NULL},
    {"replicas", ex_key_replicas, NULL},
    {"restart", ex_key_restart, NULL},
    {"secrets", ex_key_secrets, NULL},
    {"stdin_open", ex_key_stdin_open, NULL},
    {"stop_grace_period", ex_key_stop_grace_period, NULL},
    {"stop_signal", ex_key_stop_signal, NULL},
    {"sysctls", ex_key_sysctls, NULL},
    {"tmpfs", ex_key_tmpfs, NULL},
    {"toolchain", ex_key_toolchain, NULL},
    {"tty", ex_key_tty, NULL},
    {"user", ex_key_user, NULL},
    {"userns", ex_key_userns, NULL},
    {"volumes", ex_key_volumes, NULL},
    {"workdir", ex_key_working_dir, "working_dir"},
    {"working_dir", ex_key_working_dir, NULL},
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

static int extract_service(struct service_reader *rd, int rec)
{
    lua_State *L = rd->L;
    struct sv_service *s = rd->svc;
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
    rd->spec = lua_gettop(L);
    lua_getfield(L, rec, "lines");
    rd->lines = lua_istable(L, -1) ? lua_gettop(L) : 0;
    lua_getfield(L, rec, "dir");
    const char *dir = lua_tostring(L, -1) ? lua_tostring(L, -1) : ".";
    if (rd->dir == NULL || strcmp(rd->dir, dir) != 0) /* services share a few dirs */
        rd->dir = sv_graph_strdup(rd->g, dir);

    /* First pass: unknown keys and aliases given twice, and which keys are
     * present, so the second pass looks up only those. */
    const char *seen_canon[SV_ARRAY_LEN(key_defs)] = {0};
    bool present[SV_ARRAY_LEN(key_defs)] = {0};
    lua_pushnil(L);
    while (lua_next(L, rd->spec)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            lua_pop(L, 1);
            return sv_error(rd->err, 0,
                            "%s: service \"%s\": settings must have names (found a "
                            "list item; did you forget a key = ?)",
                            s->where, s->name);
        }
        const char *k = lua_tostring(L, -1);
        const struct key_def *d = find_key(k);
        if (d == NULL) {
            const char *sugg = suggest_key(k);
            sv_error(rd->err, 0, "%s: service \"%s\": unknown key \"%s\"%s%s%s", ex_where(rd, k),
                     s->name, k, sugg ? " (did you mean \"" : "", sugg ? sugg : "",
                     sugg ? "\"?)" : "");
            lua_pop(L, 1);
            return -1;
        }
        const char *canon = d->alias ? d->alias : d->name;
        const struct key_def *cd = find_key(canon);
        size_t ci = (size_t)(cd - key_defs);
        if (seen_canon[ci]) {
            sv_error(rd->err, 0, "%s: service \"%s\": both \"%s\" and \"%s\" are set; keep one",
                     ex_where(rd, k), s->name, seen_canon[ci], k);
            lua_pop(L, 1);
            return -1;
        }
        seen_canon[ci] = d->name;
        present[d - key_defs] = true;
    }
    /* env_file first: env's explicit values then override the file's. */
    const struct key_def *env_file = find_key("env_file");
    if (present[env_file - key_defs]) {
        lua_getfield(L, rd->spec, "env_file");
        if (!lua_isnil(L, -1) && ex_key_env_file(rd, lua_gettop(L), "env_file") < 0)
            return -1;
        lua_pop(L, 1);
    }
    /* Keys in a fixed order so errors and results do not depend on table
     * iteration order. */
    for (size_t i = 0; i < SV_ARRAY_LEN(key_defs); i++) {
        const struct key_def *d = &key_defs[i];
        if (!present[i] || d == env_file)
            continue;
        lua_getfield(L, rd->spec, d->name);
        if (!lua_isnil(L, -1) && !sv_lua_isnull(L, -1)) {
            int top = lua_gettop(L);
            if (d->fn(rd, top, d->name) < 0)
                return -1;
            lua_settop(L, top);
        }
        lua_pop(L, 1);
    }
    /* Built without an image: named once the stack's name is final. */
    if (s->build && !present[find_key("image") - key_defs])
        s->build->image_default = true;
    return ex_check_platform(rd);
}

static void string_field(lua_State *L, int t, const char *k, struct sv_graph *g, const char **out)
{
    lua_getfield(L, t, k);
    *out = lua_tostring(L, -1) ? sv_graph_strdup(g, lua_tostring(L, -1)) : NULL;
    lua_pop(L, 1);
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
    if (ex_decl_read(L, decl, g, a->cwd, a->err) < 0) {
        a->rc = -1;
        return 0;
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
        struct service_reader rd = {
            .L = L, .g = g, .err = a->err, .svc = svc, .cwd = a->cwd, .dir = last_dir};
        if (extract_service(&rd, rec) < 0) {
            a->rc = -1;
            return 0;
        }
        last_dir = rd.dir;
        lua_settop(L, svcs);
    }
    a->rc = 0;
    return 0;
}

int sv_extract_graph(struct sv_lua *s, const char *default_stack, struct sv_graph **out,
                     sv_error_t *err)
{
    cleanup_graph struct sv_graph *g = sv_graph_new();
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        strcpy(cwd, "/");
    struct extract_args a = {
        .s = s, .g = g, .default_stack = default_stack, .cwd = cwd, .err = err, .rc = -1};
    if (sv_lua_protected(s, extract_all, &a, err) < 0 || a.rc < 0 || sv_graph_finish(g, err) < 0)
        return -1;
    *out = sv_steal(g);
    return 0;
}
