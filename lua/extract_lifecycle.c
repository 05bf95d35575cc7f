/* When a service starts, how it is checked, restarted and stopped:
 * depends_on, healthcheck, restart, stop_signal, stop_grace_period. */
#include "lua/extract_int.h"

#include <math.h>
#include <string.h>

static int parse_condition(struct service_reader *rd, const char *key, const char *dep,
                           const char *c, enum sv_dep_condition *out)
{
    if (!strcmp(c, "started") || !strcmp(c, "service_started"))
        *out = SV_DEP_STARTED;
    else if (!strcmp(c, "healthy") || !strcmp(c, "service_healthy"))
        *out = SV_DEP_HEALTHY;
    else if (!strcmp(c, "completed") || !strcmp(c, "service_completed_successfully"))
        *out = SV_DEP_COMPLETED;
    else
        return ex_fail(rd, key,
                       "%s: \"%s\" is not a condition (expected started, healthy or "
                       "completed)",
                       dep, c);
    return 0;
}

int ex_key_depends_on(struct service_reader *rd, int idx, const char *key)
{
    lua_State *L = rd->L;
    if (lua_type(L, idx) == LUA_TSTRING) {
        rd->svc->deps = sv_graph_alloc(rd->g, sizeof(struct sv_dep));
        rd->svc->n_deps = 1;
        return ex_want_string(rd, idx, key, &rd->svc->deps[0].service);
    }
    if (!lua_istable(L, idx))
        return ex_fail(rd, key,
                       "expected a list of service names or a table of name = "
                       "condition, got %s",
                       ex_type_of(L, idx));
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        n++;
    }
    struct sv_dep *deps = sv_graph_alloc(rd->g, (n ? n : 1) * sizeof(*deps));
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        struct sv_dep *d = &deps[i++];
        int v = lua_gettop(L);
        if (lua_isinteger(L, -2)) { /* list form: a name, started */
            if (ex_want_string(rd, v, key, &d->service) < 0)
                goto fail;
            d->condition = SV_DEP_STARTED;
        } else if (lua_type(L, -2) == LUA_TSTRING) {
            d->service = sv_graph_strdup(rd->g, lua_tostring(L, -2));
            const char *cond = "started";
            if (lua_istable(L, v)) {
                lua_getfield(L, v, "condition");
                if (!lua_isnil(L, -1) && ex_want_string(rd, lua_gettop(L), key, &cond) < 0)
                    goto fail;
                lua_pop(L, 1);
            } else if (lua_type(L, v) == LUA_TSTRING) {
                cond = lua_tostring(L, v);
            } else if (!(lua_type(L, v) == LUA_TBOOLEAN && lua_toboolean(L, v))) {
                ex_fail(rd, key, "%s: expected a condition string, got %s", d->service,
                        ex_type_of(L, v));
                goto fail;
            }
            if (parse_condition(rd, key, d->service, cond, &d->condition) < 0)
                goto fail;
        } else {
            ex_fail(rd, key, "expected service names");
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
            return ex_fail(rd, key, "\"%s\" is listed twice", deps[a].service);
    rd->svc->deps = deps;
    rd->svc->n_deps = n;
    return 0;
fail:
    lua_settop(L, idx);
    return -1;
}

static int want_duration(struct service_reader *rd, int idx, const char *key, int64_t *ms)
{
    lua_State *L = rd->L;
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double v = lua_tonumber(L, idx);
        if (!(v >= 0 && v < 1e12))
            return ex_fail(rd, key, "%g is not a duration", v);
        *ms = (int64_t)(v * 1000 + 0.5); /* v >= 0: llround's rounding, without libm */
        return 0;
    }
    if (lua_type(L, idx) != LUA_TSTRING)
        return ex_fail(rd, key, "expected a duration like \"2s\", got %s", ex_type_of(L, idx));
    sv_error_t perr = NULL;
    if (sv_parse_duration(lua_tostring(L, idx), ms, &perr) < 0)
        return ex_fail_parse(rd, key, &perr);
    return 0;
}

int ex_key_healthcheck(struct service_reader *rd, int idx, const char *key)
{
    lua_State *L = rd->L;
    if (!lua_istable(L, idx))
        return ex_fail(rd, key,
                       "expected a table with test, interval, timeout, retries, "
                       "start_period; got %s",
                       ex_type_of(L, idx));
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
            ex_fail(rd, key, "unknown key \"%s\"%s%s%s", k, s ? " (did you mean \"" : "",
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
    struct sv_health *h = sv_graph_alloc(rd->g, sizeof(*h));
    h->interval_ms = 30000;
    h->timeout_ms = 30000;
    h->retries = 3;
    int base = lua_gettop(L);
    lua_getfield(L, idx, "test");
    if (lua_isnil(L, -1))
        return ex_fail(rd, key, "a healthcheck needs a test (a command list or a shell string)");
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
    if (ex_want_argv(rd, base + 1, key, &h->test) < 0)
        return -1;
    int64_t v;
    static const char *const durs[] = {"interval", "timeout", "start_period"};
    int64_t *dst[] = {&h->interval_ms, &h->timeout_ms, &h->start_period_ms};
    for (size_t i = 0; i < 3; i++) {
        lua_getfield(L, idx, durs[i]);
        if (!lua_isnil(L, -1) && want_duration(rd, lua_gettop(L), key, dst[i]) < 0)
            return -1;
        lua_pop(L, 1);
    }
    if (h->interval_ms < 10 || h->timeout_ms < 10)
        return ex_fail(rd, key, "interval and timeout must be at least 10ms");
    lua_getfield(L, idx, "retries");
    if (!lua_isnil(L, -1)) {
        if (ex_want_int(rd, lua_gettop(L), key, 1, 1000000, &v) < 0)
            return -1;
        h->retries = (int)v;
    }
    lua_settop(L, base);
    rd->svc->health = h;
    return 0;
}

int ex_key_restart(struct service_reader *rd, int idx, const char *key)
{
    const char *s;
    if (lua_type(rd->L, idx) == LUA_TBOOLEAN && !lua_toboolean(rd->L, idx))
        s = "no";
    else if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    sv_error_t perr = NULL;
    if (sv_parse_restart(s, &rd->svc->restart, &rd->svc->restart_max, &perr) < 0)
        return ex_fail_parse(rd, key, &perr);
    return 0;
}

int ex_key_stop_signal(struct service_reader *rd, int idx, const char *key)
{
    const char *s;
    if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    sv_error_t perr = NULL;
    if (sv_parse_signal(s, &rd->svc->stop_signal, &perr) < 0)
        return ex_fail_parse(rd, key, &perr);
    return 0;
}

int ex_key_stop_grace_period(struct service_reader *rd, int idx, const char *key)
{
    return want_duration(rd, idx, key, &rd->svc->stop_grace_ms);
}
