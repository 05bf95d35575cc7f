/* A container as `servos ls` shows it: its status in words ("running",
 * "restarting (exited 1)", "exited (137, OOM killed)") and the JSON object
 * of `ls --format json`, which the API answers too. */
#ifndef SV_CTRJSON_H
#define SV_CTRJSON_H

#include "core/store.h"

#include <jansson.h>

void sv_ctrjson_status(const struct sv_ctr_row *r, char *buf, size_t size);
/* The recorded spec, or an empty object. */
json_t *sv_ctrjson_spec(const struct sv_ctr_row *r);
/* spec: sv_ctrjson_spec's; status: sv_ctrjson_status's. */
json_t *sv_ctrjson_row(const struct sv_ctr_row *r, json_t *spec, const char *status);

#endif
