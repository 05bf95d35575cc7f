/* Cleanup helpers the runtime uses beyond core/util.h's. cleanup_json,
 * cleanup_closedir and sv_steal_fd are core/util.h's on the r19-core
 * branch, with these names: until it is merged they are defined here
 * (each only where util.h has none), and then these blocks go. */
#ifndef SV_RUNTIME_CLEANUP_H
#define SV_RUNTIME_CLEANUP_H

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
        int e = errno; /* an early return's errno is still to be read */
        closedir(*d);
        errno = e;
    }
}
#define cleanup_closedir __attribute__((cleanup(sv_closedirp)))
#endif

#ifndef sv_steal_fd
/* Hand a descriptor out of a cleanup_close variable. */
#define sv_steal_fd(fd)                                                                            \
    ({                                                                                             \
        int sv_fd_ = (fd);                                                                         \
        (fd) = -1;                                                                                 \
        sv_fd_;                                                                                    \
    })
#endif

/* A NULL-terminated string array (sv_strv_free), released at scope exit. */
static inline void sv_strv_freep(char ***v)
{
    sv_strv_free(*v);
}
#define cleanup_strv __attribute__((cleanup(sv_strv_freep)))

#endif
