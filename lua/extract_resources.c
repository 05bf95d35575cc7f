/* What a service may use: replicas, memory, CPUs, processes, log space. */
#include "lua/extract_int.h"

#include "log/logfile.h"

#include <string.h>

int ex_key_replicas(struct service_reader *rd, int idx, const char *key)
{
    int64_t v;
    if (ex_want_int(rd, idx, key, 0, 10000, &v) < 0)
        return -1;
    rd->svc->replicas = (int)v;
    return 0;
}

int ex_key_memory(struct service_reader *rd, int idx, const char *key)
{
    lua_State *L = rd->L;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        int64_t v;
        if (ex_want_int(rd, idx, key, 0, INT64_MAX, &v) < 0)
            return -1;
        rd->svc->memory = v;
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        sv_error_t perr = NULL;
        if (sv_parse_size(lua_tostring(L, idx), &rd->svc->memory, &perr) < 0)
            return ex_fail_parse(rd, key, &perr);
    } else {
        return ex_fail(rd, key, "expected a size like \"256M\" or a number of bytes, got %s",
                       ex_type_of(L, idx));
    }
    if (rd->svc->memory < 4 * 1024 * 1024)
        return ex_fail(rd, key, "%lld bytes is too little (at least 4M; did you mean \"%lldM\"?)",
                       (long long)rd->svc->memory, (long long)rd->svc->memory);
    return 0;
}

int ex_key_cpus(struct service_reader *rd, int idx, const char *key)
{
    lua_State *L = rd->L;
    sv_error_t perr = NULL;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        if (!(v > 0 && v <= 1024))
            return ex_fail(rd, key, "%g CPUs is out of range (expected more than 0, at most 1024)",
                           v);
        rd->svc->cpus = v;
        return 0;
    }
    if (lua_type(L, idx) != LUA_TSTRING)
        return ex_fail(rd, key, "expected a number like 0.5, got %s", ex_type_of(L, idx));
    if (sv_parse_cpus(lua_tostring(L, idx), &rd->svc->cpus, &perr) < 0)
        return ex_fail_parse(rd, key, &perr);
    return 0;
}

int ex_key_pids(struct service_reader *rd, int idx, const char *key)
{
    int64_t v;
    if (ex_want_int(rd, idx, key, -1, 4194304, &v) < 0)
        return -1;
    if (v == 0)
        return ex_fail(rd, key, "0 would forbid every process (use -1 for no limit)");
    rd->svc->pids = v < 0 ? -1 : v;
    return 0;
}

/* Compose's shape: logging = { driver = "json-file", options = { ["max-size"]
 * = "10m", ["max-file"] = 3 } }. Every replica's output goes to files of
 * its own (logfile.h), so only the file drivers' names are accepted. */
static int logging_options(struct service_reader *rd, int idx, const char *key,
                           struct sv_log_opts *o)
{
    lua_State *L = rd->L;
    if (!lua_istable(L, idx))
        return ex_fail(rd, key, "options: expected a table, got %s", ex_type_of(L, idx));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int t = lua_type(L, -1);
        if (lua_type(L, -2) != LUA_TSTRING || (t != LUA_TSTRING && t != LUA_TNUMBER))
            return ex_fail(rd, key,
                           "options: expected names with sizes or numbers, as "
                           "[\"max-size\"] = \"10m\"");
        char opt[256];
        snprintf(opt, sizeof(opt), "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
        sv_error_t perr = NULL;
        if (sv_log_opt_parse(o, opt, &perr) < 0)
            return ex_fail_parse(rd, key, &perr);
        lua_pop(L, 1);
    }
    return 0;
}

int ex_key_logging(struct service_reader *rd, int idx, const char *key)
{
    lua_State *L = rd->L;
    if (!lua_istable(L, idx))
        return ex_fail(rd, key,
                       "expected a table like { options = { [\"max-size\"] = \"10m\", "
                       "[\"max-file\"] = 3 } }, got %s",
                       ex_type_of(L, idx));
    struct sv_log_opts o = {0, 0};
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
        if (strcmp(k, "driver") == 0) {
            const char *d = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
            if (strcmp(d, "json-file") != 0 && strcmp(d, "local") != 0 &&
                strcmp(d, "k8s-file") != 0)
                return ex_fail(rd, key,
                               "driver \"%s\" is not supported: servos keeps each replica's "
                               "output in files (json-file, local or k8s-file)",
                               d);
        } else if (strcmp(k, "options") == 0) {
            if (logging_options(rd, lua_gettop(L), key, &o) < 0)
                return -1;
        } else {
            return ex_fail(rd, key, "unknown key \"%s\" (expected driver and options)", k);
        }
        lua_pop(L, 1);
    }
    rd->svc->log_max_size = o.max_size;
    rd->svc->log_max_files = o.max_files;
    return 0;
}
