/* Idmapped bind volumes. Under a user namespace, container root is an
 * ordinary host uid, so a volume owned by some host user U would be
 * read-only for it. Where the kernel and file system allow (Linux 5.12+,
 * most local file systems), servos binds such a source through an
 * idmapped mount that shows U's files as container root's and writes
 * container root's files as U: the volume stays usable and its files keep
 * their host owner.
 *
 * Only regular accounts are ever mapped (ids within UID_MIN..UID_MAX and
 * GID_MIN..GID_MAX of /etc/login.defs): never root, a system account or
 * group, nobody, or the containers' own range. The uid and the group are
 * judged apart: the group is the source's own when it is a regular one,
 * else U's primary group, else there is no mapping. Whatever the
 * container makes there is U's at most, and the volume is mounted nosuid
 * and nodev in the container. The kernel has no way to strip setuid bits
 * from files container root makes through the mount, so a setuid file
 * there runs as U on the host: the container holds U's rights over U's
 * directory, no more. Sources that cannot be mapped, and every source on
 * a kernel without idmapped mounts, are bound as they are (the documented
 * fallback: container root then has only the access "others" have). */
#ifndef SV_IDMAP_H
#define SV_IDMAP_H

#include "userns.h"
#include "util.h"

/* A detached, idmapped copy of the mount tree at source (an fd for
 * move_mount), or -1 when the source needs or allows no mapping, or the
 * kernel refuses one. Never fails: the fallback is a plain bind. */
int sv_idmap_open(const char *source, const struct sv_idmap *map);

#endif
