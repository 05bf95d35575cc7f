/* Idmapped bind volumes. Under a user namespace, container root is an
 * ordinary host uid, so a volume owned by some host user U would be
 * read-only for it. Where the kernel and file system allow (Linux 5.12+,
 * most local file systems), servos binds such a source through an
 * idmapped mount that shows U's files as container root's and writes
 * container root's files as U: the volume stays usable and its files keep
 * their host owner. Sources owned by host root are never mapped (container
 * root must not become host root); they, and every source on a kernel
 * without idmapped mounts, are bound as they are (the documented fallback). */
#ifndef SV_IDMAP_H
#define SV_IDMAP_H

#include "userns.h"
#include "util.h"

/* A detached, idmapped copy of the mount tree at source (an fd for
 * move_mount), or -1 when the source needs no mapping or the kernel
 * refuses one. Never fails: the fallback is a plain bind. */
int sv_idmap_open(const char *source, const struct sv_idmap *map);
/* Attach fd at target (in the caller's mount namespace). */
int sv_idmap_attach(int fd, const char *target, bool read_only, sv_error_t *err);

#endif
