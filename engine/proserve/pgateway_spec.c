/* What the stack's graph says about a ProServe service's handler runs: its
 * manifest's isolation block. Everything here is the graph's (the
 * operator's) word; nothing comes from the request. */
#include "proserve/pgateway_int.h"

#include "graph/units.h"

#include <stdio.h>
#include <string.h>

/* The member key of object o, or NULL. */
static const struct sv_value *member(const struct sv_value *o, const char *key)
{
    for (size_t i = 0; o && o->kind == SV_OBJECT && i < o->u.list.n; i++)
        if (strcmp(o->u.list.keys[i], key) == 0)
            return &o->u.list.items[i];
    return NULL;
}

static const char *member_str(const struct sv_value *o, const char *key)
{
    const struct sv_value *v = member(o, key);
    return v && v->kind == SV_STR ? v->u.s : NULL;
}

static bool member_true(const struct sv_value *o, const char *key)
{
    const struct sv_value *v = member(o, key);
    return v && v->kind == SV_BOOL && v->u.b;
}

static const struct sv_value *isolation(const struct sv_service *s)
{
    return s->proserve ? member(s->proserve, "isolation") : NULL;
}

const char *gw_spec_mode(const struct sv_service *s)
{
    const char *mode = member_str(isolation(s), "mode");
    return mode ? mode : "none";
}

bool gw_spec_container_mode(const struct sv_service *s)
{
    const char *mode = gw_spec_mode(s);
    return strcmp(mode, "container") == 0 || strcmp(mode, "docker") == 0 ||
           strcmp(mode, "sandbox") == 0;
}

bool gw_spec_has_websockets(const struct sv_service *s)
{
    const struct sv_value *a = member(s->proserve, "websocket_handlers");
    const struct sv_value *b = member(s->proserve, "websockets");
    return (a && a->kind == SV_ARRAY && a->u.list.n > 0) ||
           (b && b->kind == SV_ARRAY && b->u.list.n > 0);
}

const char *gw_spec_image(const struct sv_service *s)
{
    return member_str(isolation(s), "image");
}

const char *gw_spec_base_dir(const struct sv_service *s)
{
    return member_str(s->proserve, "base_dir");
}

void gw_spec_limits(const struct sv_service *s, struct gw_limits *l)
{
    const struct sv_value *iso = isolation(s);
    const struct sv_value *res = member(iso, "resources");
    *l = (struct gw_limits){.memory = -1, .pids = SV_GATEWAY_PIDS};
    /* The service host ends a run at isolation.timeout; this is the
     * backstop should it not (a grace for its kill to arrive first). */
    const struct sv_value *t = member(iso, "timeout");
    double timeout = t && t->kind == SV_NUM ? t->u.d : t && t->kind == SV_INT ? (double)t->u.i : 30;
    l->deadline = timeout + 10;
    const struct sv_value *mem = member(iso, "memory_limit");
    if (!mem || (mem->kind != SV_STR && mem->kind != SV_INT))
        mem = member(res, "memory");
    if (mem && mem->kind == SV_INT)
        l->memory = mem->u.i;
    else if (mem && mem->kind == SV_STR) {
        sv_error_t e = NULL; /* the service host reports a bad size at start */
        if (sv_parse_size(mem->u.s, &l->memory, &e) < 0)
            l->memory = -1;
        sv_error_free(&e);
    }
    const struct sv_value *pids = member(res, "pids");
    if (pids && pids->kind == SV_INT && pids->u.i > 0)
        l->pids = pids->u.i;
    l->no_network = member_true(iso, "network_isolation");
    l->private_fs = member_true(iso, "filesystem_isolation");
}

static bool is_cpu_value(const struct sv_value *v)
{
    return v && (v->kind == SV_NUM || v->kind == SV_INT || v->kind == SV_STR);
}

bool gw_spec_cpus(const struct sv_service *s, char *buf, size_t size)
{
    const struct sv_value *iso = isolation(s);
    const struct sv_value *res = member(iso, "resources");
    const struct sv_value *cpu = member(iso, "cpu_limit");
    if (!is_cpu_value(cpu))
        cpu = member(res, "cpu") ? member(res, "cpu") : member(res, "cpus");
    if (!is_cpu_value(cpu))
        return false;
    if (cpu->kind == SV_STR)
        snprintf(buf, size, "%s", cpu->u.s);
    else
        snprintf(buf, size, "%g", cpu->kind == SV_NUM ? cpu->u.d : (double)cpu->u.i);
    return true;
}
