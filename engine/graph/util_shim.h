/* Stand-ins for cleanup helpers core/util.h gains in the same wave (issue
 * 19, the core helper's branch): each drops out by itself once util.h
 * defines it, and this file goes when the branches meet. */
#ifndef SV_UTIL_SHIM_H
#define SV_UTIL_SHIM_H

#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>

#ifndef cleanup_json
static inline void sv_json_decrefp(json_t **j)
{
    json_decref(*j);
}
#define cleanup_json __attribute__((cleanup(sv_json_decrefp)))
#endif

#ifndef cleanup_closedir
static inline void sv_closedirp(DIR **d)
{
    if (*d) {
        int e = errno; /* a cleanup runs as a function returns: keep its errno */
        closedir(*d);
        errno = e;
    }
}
#define cleanup_closedir __attribute__((cleanup(sv_closedirp)))
#endif

#endif
