/* What the stack's graph says about a ProServe service's handler runs: its
 * manifest's isolation block. Everything here is the graph's (the
 * operator's) word; nothing comes from the request. */
#include "proserve/pgateway_int.h"

#include "graph/units.h"

#include <stdio.h>
#include <string.h>

/* What a board mode's handler run (node, simavr) may use. */
#define BOARD_MEMORY (512LL << 20)

/* The member key of object o, or NULL. */
const struct sv_value *gw_spec_member(const struct sv_value *o, const char *key)
{
    for (size_t i = 0; o && o->kind == SV_OBJECT && i < o->u.list.n; i++)
        if (strcmp(o->u.list.keys[i], key) == 0)
            return &o->u.list.items[i];
    return NULL;
}

static const char *member_str(const struct sv_value *o, const char *key)
{
    const struct sv_value *v = gw_spec_member(o, key);
    return v && v->kind == SV_STR ? v->u.s : NULL;
}

static bool member_true(const struct sv_value *o, const char *key)
{
    const struct sv_value *v = gw_spec_member(o, key);
    return v && v->kind == SV_BOOL && v->u.b;
}

const struct sv_value *gw_spec_isolation(const struct sv_service *s)
{
    return s->proserve ? gw_spec_member(s->proserve, "isolation") : NULL;
}

const char *gw_spec_mode(const struct sv_service *s)
{
    const char *board = sv_gateway_board_mode(s); /* a board mode may fall back */
    if (board)
        return board;
    const char *mode = member_str(gw_spec_isolation(s), "mode");
    return mode ? mode : "none";
}

bool gw_spec_container_mode(const struct sv_service *s)
{
    const char *mode = gw_spec_mode(s);
    return strcmp(mode, "container") == 0 || strcmp(mode, "docker") == 0 ||
           strcmp(mode, "sandbox") == 0;
}

bool gw_spec_board_mode(const struct sv_service *s)
{
    const char *mode = gw_spec_mode(s);
    return strcmp(mode, "micropython") == 0 || strcmp(mode, "arduino") == 0;
}

bool gw_spec_has_websockets(const struct sv_service *s)
{
    const struct sv_value *a = gw_spec_member(s->proserve, "websocket_handlers");
    const struct sv_value *b = gw_spec_member(s->proserve, "websockets");
    return (a && a->kind == SV_ARRAY && a->u.list.n > 0) ||
           (b && b->kind == SV_ARRAY && b->u.list.n > 0);
}

const char *gw_spec_image(const struct sv_service *s)
{
    return member_str(gw_spec_isolation(s), "image");
}

const char *gw_spec_base_dir(const struct sv_service *s)
{
    return member_str(s->proserve, "base_dir");
}

void gw_spec_limits(const struct sv_service *s, struct gw_limits *l)
{
    const struct sv_value *iso = gw_spec_isolation(s);
    const struct sv_value *res = gw_spec_member(iso, "resources");
    *l = (struct gw_limits){.memory = -1, .pids = SV_GATEWAY_PIDS};
    /* The service host ends a run at isolation.timeout; this is the
     * backstop should it not (a grace for its kill to arrive first). */
    const struct sv_value *t = gw_spec_member(iso, "timeout");
    double timeout = t && t->kind == SV_NUM ? t->u.d : t && t->kind == SV_INT ? (double)t->u.i : 30;
    l->deadline = timeout + 10;
    const struct sv_value *mem = gw_spec_member(iso, "memory_limit");
    if (!mem || (mem->kind != SV_STR && mem->kind != SV_INT))
        mem = gw_spec_member(res, "memory");
    if (mem && mem->kind == SV_INT)
        l->memory = mem->u.i;
    else if (mem && mem->kind == SV_STR) {
        sv_error_t e = NULL; /* the service host reports a bad size at start */
        if (sv_parse_size(mem->u.s, &l->memory, &e) < 0)
            l->memory = -1;
        sv_error_free(&e);
    }
    const struct sv_value *pids = gw_spec_member(res, "pids");
    if (pids && pids->kind == SV_INT && pids->u.i > 0)
        l->pids = pids->u.i;
    l->no_network = member_true(iso, "network_isolation");
    l->private_fs = member_true(iso, "filesystem_isolation");
    if (gw_spec_board_mode(s)) {
        /* memory_limit is the board's RAM (the MicroPython heap: the
         * service host passes it on as SERVOS_HEAP); the runtime that
         * emulates the board gets room of its own. A board has no
         * network here. */
        l->memory = BOARD_MEMORY;
        l->no_network = true;
    }
}

static bool is_cpu_value(const struct sv_value *v)
{
    return v && (v->kind == SV_NUM || v->kind == SV_INT || v->kind == SV_STR);
}

bool gw_spec_cpus(const struct sv_service *s, char *buf, size_t size)
{
    const struct sv_value *iso = gw_spec_isolation(s);
    const struct sv_value *res = gw_spec_member(iso, "resources");
    const struct sv_value *cpu = gw_spec_member(iso, "cpu_limit");
    if (!is_cpu_value(cpu))
        cpu = gw_spec_member(res, "cpu") ? gw_spec_member(res, "cpu") : gw_spec_member(res, "cpus");
    if (!is_cpu_value(cpu))
        return false;
    if (cpu->kind == SV_STR)
        snprintf(buf, size, "%s", cpu->u.s);
    else
        snprintf(buf, size, "%g", cpu->kind == SV_NUM ? cpu->u.d : (double)cpu->u.i);
    return true;
}
