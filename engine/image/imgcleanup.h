/* Cleanup attributes core/util.h does not have (it includes no jansson):
 * jansson values, directory streams and NULL-terminated string vectors. */
#ifndef SV_IMGCLEANUP_H
#define SV_IMGCLEANUP_H

#include "core/util.h"

#include <dirent.h>
#include <jansson.h>

static inline void sv_image_json_decrefp(json_t **j)
{
    json_decref(*j);
}

static inline void sv_image_closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

static inline void sv_image_strv_freep(char ***v)
{
    sv_strv_free(*v);
}

#ifndef cleanup_json
#define cleanup_json __attribute__((cleanup(sv_image_json_decrefp)))
#endif
#define cleanup_closedir __attribute__((cleanup(sv_image_closedirp)))
#define cleanup_strv     __attribute__((cleanup(sv_image_strv_freep)))

#endif
