/* Cleanup attributes core/util.h does not have (it includes no jansson):
 * jansson values, and NULL-terminated string vectors. */
#ifndef SV_PCLEANUP_H
#define SV_PCLEANUP_H

#include "core/util.h"

#include <jansson.h>

static inline void pf_json_decrefp(json_t **j)
{
    json_decref(*j);
}

static inline void pf_strv_freep(char ***v)
{
    sv_strv_free(*v);
}

#ifndef cleanup_json
#define cleanup_json __attribute__((cleanup(pf_json_decrefp)))
#endif
#define cleanup_strv __attribute__((cleanup(pf_strv_freep)))

#endif
