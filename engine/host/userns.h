/* User namespaces: which host ids container ids map to. Root in a container
 * is an unprivileged host uid: the subordinate range of the invoking user
 * (/etc/subuid, /etc/subgid; for root, an entry for "servos" or "root"), or
 * else a range servos reserves for itself: 1000000000-1000065535, far above
 * ids that distributions hand out. All containers share the range, as with
 * Docker's userns-remap. */
#ifndef SV_USERNS_H
#define SV_USERNS_H

#include "core/util.h"

#include <sys/types.h>

#define SV_USERNS_RESERVED_BASE 1000000000u
#define SV_USERNS_SIZE          65536u

struct sv_idmap {
    uid_t uid_base; /* host uid of container uid 0 */
    gid_t gid_base;
    unsigned size;
};

/* The host ids of a container's root: the range's base, or 0:0 for
 * userns "host". */
int sv_userns_root_ids(const char *userns, uid_t *uid, gid_t *gid, sv_error_t *err);
int sv_userns_range(struct sv_idmap *m, sv_error_t *err);
/* Write /proc/PID/{uid,gid}_map for a child waiting in its new user ns. */
int sv_userns_write_maps(pid_t pid, const struct sv_idmap *m, sv_error_t *err);

#endif
