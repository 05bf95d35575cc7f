#include "runtime/ctrjson.h"
#include "runtime/monitor.h"

#include <stdio.h>
#include <string.h>

void sv_ctrjson_status(const struct sv_ctr_row *r, char *buf, size_t size)
{
    if (sv_ctr_row_running(r))
        snprintf(buf, size, "running");
    else if (r->status == SV_CTR_EXITED && sv_monitor_restarting(r))
        snprintf(buf, size, "restarting (exited %d)", r->exit_code);
    else if (r->status == SV_CTR_EXITED)
        snprintf(buf, size, "exited (%d%s)", r->exit_code, r->oom ? ", OOM killed" : "");
    else if (r->status == SV_CTR_RUNNING)
        snprintf(buf, size, "exited (unknown)"); /* its monitor died with it */
    else
        snprintf(buf, size, "created");
}

json_t *sv_ctrjson_spec(const struct sv_ctr_row *r)
{
    json_t *o = r->spec_json ? json_loads(r->spec_json, 0, NULL) : NULL;
    return o ? o : json_object();
}

json_t *sv_ctrjson_row(const struct sv_ctr_row *r, json_t *spec, const char *status)
{
    bool running = sv_ctr_row_running(r);
    json_t *labels = json_object_get(spec, "labels"), *ports = json_object_get(spec, "ports");
    labels = labels ? json_incref(labels) : json_object();
    ports = ports ? json_incref(ports) : json_array();
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:o, s:o}", "id", r->id, "name",
                          r->name, "image", r->image, "command", r->command, "state",
                          running                                  ? "running"
                          : strncmp(status, "restarting", 10) == 0 ? "restarting"
                          : r->status == SV_CTR_CREATED            ? "created"
                                                                   : "exited",
                          "status", status, "created", (json_int_t)r->created, "restarts",
                          r->restarts, "labels", labels, "ports", ports);
    json_object_set_new(o, "pid", running ? json_integer(r->pid) : json_null());
    json_object_set_new(o, "exit_code",
                        !running && r->status == SV_CTR_EXITED ? json_integer(r->exit_code)
                                                               : json_null());
    json_object_set_new(o, "oom", json_boolean(r->oom));
    const char *restart = json_string_value(json_object_get(spec, "restart"));
    json_object_set_new(o, "restart", json_string(restart ? restart : "no"));
    if (r->stack) {
        json_object_set_new(o, "stack", json_string(r->stack));
        json_object_set_new(o, "service", json_string(r->service ? r->service : ""));
        json_object_set_new(o, "replica", json_integer(r->replica));
    }
    return o;
}
