/* Capabilities: the default set (Docker's 14), --cap-add/--cap-drop, and
 * applying a set to the current process before exec. */
#ifndef SV_CAPS_H
#define SV_CAPS_H

#include "core/util.h"

#include <stdint.h>

/* Bit mask of capabilities (bit N = capability N). */
typedef uint64_t sv_capset_t;

/* Docker's default set (without MKNOD under --userns host), plus add,
 * minus drop: names as "NET_ADMIN", "CAP_NET_ADMIN" or "all", any case. */
int sv_caps_compute(bool userns_host, const char *const *add, const char *const *drop,
                    sv_capset_t *out, sv_error_t *err);
/* In the child: drop the others from the bounding set; set permitted and
 * effective to set (inheritable stays empty). Call before switching user. */
int sv_caps_apply_bounding(sv_capset_t set, sv_error_t *err);
int sv_caps_apply(sv_capset_t set, sv_error_t *err);

#endif
