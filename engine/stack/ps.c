#include "stack/ps.h"
#include "stack/lastup.h"
#include "core/statedir.h"
#include "net/stacknet.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The ports the supervisor published for service, from <stack>/ports
 * ("SERVICE\tDESCRIPTION" lines). */
static char **ports_of(const char *ports, const char *service)
{
    char **out = sv_xcalloc(1, sizeof(*out));
    size_t n = 0, sl = strlen(service);
    for (const char *l = ports; l && *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        if (len > sl && strncmp(l, service, sl) == 0 && l[sl] == '\t') {
            out = sv_xrealloc(out, (n + 2) * sizeof(*out));
            out[n++] = sv_xstrndup(l + sl + 1, len - sl - 1);
            out[n] = NULL;
        }
        l += len + (end ? 1 : 0);
    }
    return out;
}

static char *read_ports(const char *stack)
{
    cleanup_free char *dir = sv_statedir_stack(stack);
    cleanup_free char *path = sv_xasprintf("%s/ports", dir);
    char *ports = NULL;
    sv_error_t err = NULL;
    if (sv_read_file(path, 1 << 20, &ports, NULL, &err) < 0)
        sv_error_free(&err); /* nothing published */
    return ports;
}

int sv_ps_collect(const char *stack, struct sv_ps *ps, sv_error_t *err)
{
    return sv_ps_collect_in(NULL, NULL, stack, ps, err);
}

int sv_ps_collect_in(struct sv_store *st, const struct sv_ps_known *known, const char *stack,
                     struct sv_ps *ps, sv_error_t *err)
{
    memset(ps, 0, sizeof(*ps));
    if (sv_rows_list(st, stack, &ps->rows, err) < 0)
        return -1;
    time_t now = time(NULL);
    cleanup_free char *ports = read_ports(stack);
    /* A stack from git: which repository and commit it runs. */
    cleanup_free char *pins = sv_lastup_pins(stack);
    ps->from_git = sv_git_pins_source(pins, ps->source, sizeof(ps->source), ps->commit);
    ps->v = sv_xcalloc(ps->rows.n + 1, sizeof(*ps->v));
    for (size_t i = 0; i < ps->rows.n; i++) {
        struct sv_ps_replica *p = &ps->v[i];
        const struct sv_ctr_row *r = &ps->rows.v[i];
        p->row = r;
        p->running = known ? known->running(known->ud, r) : sv_ctr_row_running(r);
        p->state = p->running                    ? "running"
                   : r->status == SV_CTR_CREATED ? "created"
                                                 : "exited"; /* as sv_rows_state says */
        p->exited = !p->running && r->status == SV_CTR_EXITED;
        p->uptime_s = p->running ? (long long)(now - r->started) : 0;
        uint32_t addr = !p->running ? 0
                        : known     ? known->address(known->ud, r)
                                    : sv_stacknet_address_of(r->spec_json);
        if (addr)
            sv_stacknet_ip4_format(addr, p->address);
        p->ports = ports_of(ports, r->service);
    }
    return 0;
}

/* s as a JSON string; null for "" (and for bytes that are not UTF-8,
 * which JSON cannot carry). */
static json_t *string_or_null(const char *s)
{
    json_t *j = s && *s ? json_string(s) : NULL;
    return j ? j : json_null();
}

static json_t *replica_json(const struct sv_ps *ps, const struct sv_ps_replica *p)
{
    const struct sv_ctr_row *r = p->row;
    json_t *ports = json_array();
    for (char **q = p->ports; q && *q; q++)
        json_array_append_new(ports, json_string(*q));
    json_t *o = json_object();
    json_object_set_new(o, "service", json_string(r->service));
    json_object_set_new(o, "replica", json_integer(r->replica));
    json_object_set_new(o, "image", string_or_null(r->image));
    json_object_set_new(o, "state", json_string(p->state));
    json_object_set_new(o, "health", string_or_null(r->health));
    json_object_set_new(o, "pid", json_integer(p->running ? r->pid : 0));
    json_object_set_new(o, "uptime", json_integer(p->uptime_s));
    json_object_set_new(o, "restarts", json_integer(r->restarts));
    json_object_set_new(o, "exit_code", p->exited ? json_integer(r->exit_code) : json_null());
    json_object_set_new(o, "oom", json_boolean(r->oom));
    json_object_set_new(o, "address", string_or_null(p->address));
    json_object_set_new(o, "ports", ports);
    json_object_set_new(o, "commit", ps->from_git ? json_string(ps->commit) : json_null());
    return o;
}

json_t *sv_ps_json(const struct sv_ps *ps)
{
    json_t *a = json_array();
    for (size_t i = 0; i < ps->rows.n; i++)
        json_array_append_new(a, replica_json(ps, &ps->v[i]));
    return a;
}

void sv_ps_free(struct sv_ps *ps)
{
    for (size_t i = 0; ps->v && i < ps->rows.n; i++)
        sv_strv_free(ps->v[i].ports);
    free(ps->v);
    sv_rows_freep(&ps->rows);
    memset(ps, 0, sizeof(*ps));
}
