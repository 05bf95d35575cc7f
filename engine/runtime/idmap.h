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

#include "host/userns.h"
#include "core/util.h"

#include <sys/stat.h>

/* A detached, idmapped copy of the mount tree at source (an fd for
 * move_mount), or -1 when the source needs or allows no mapping, or the
 * kernel refuses one. Never fails: the fallback is a plain bind. */
int sv_idmap_open(const char *source, const struct sv_idmap *map);

/* A root file system directory as the lower layer of a container's
 * overlay: a detached, read-only copy of the mount at dir (an fd for
 * move_mount). A tree of host ids (the owner of dir below map->size:
 * what mmdebstrap, debootstrap or tar made as root) is idmapped, host
 * 0..size-1 to the containers' range, so container root owns what host
 * root owns there, as in an image the store unpacked. The host
 * directory cannot change through it: the copy is read-only, and the
 * container's writes go to its overlay's upper layer. A tree the range
 * already owns, or any with map NULL (--userns host), is used as it is.
 * Opened by host root, so a directory above dir that container root may
 * not pass (0700) does not matter. Idmapped lower layers need Linux 5.19
 * for overlayfs.
 * *to_map: the tree is to be idmapped, which sv_idmap_rootfs_map does
 * once the container exists, through its own user namespace (whose map
 * is the same: 0..size-1 onto the range): no namespace is made for it,
 * which would cost a process of its own. Until then the copy is neither
 * mapped nor read-only, and the container must not mount it. */
int sv_idmap_rootfs(const char *dir, const struct sv_idmap *map, bool *to_map, sv_error_t *err);
/* Make fd (sv_idmap_rootfs's, *to_map) read-only and idmapped through
 * the user namespace of pid, whose maps are written; dir for messages. */
int sv_idmap_rootfs_map(int fd, pid_t pid, const char *dir, sv_error_t *err);

/* :U, as podman has it: hand the volume at source, and everything below
 * it, to the container's user (uid:gid, host ids), so a directory of the
 * host's root becomes the container's. By descriptors only, no link
 * followed, no mount below entered; set-id bits are cleared by the
 * kernel on each chown. A file with several hard links (it may be a
 * host file linked in) is left alone unless the containers own it
 * already (map: their range; NULL under --userns host). "/", top-level
 * and system
 * directories, shared ones (/var/lib, /home), home directories and
 * servos' state root (or what holds it) are refused. */
int sv_idmap_volume_chown(const char *source, uid_t uid, gid_t gid, const struct sv_idmap *map,
                          sv_error_t *err);

/* May host uid:gid write into (a directory) or to (a file) what st
 * describes, as the container will see it (stat through its idmapped
 * mount if it has one)? dac_override: the user is root with that
 * capability, in the user namespace of map (NULL: --userns host). The
 * mode bits only: an ACL may allow more. */
bool sv_idmap_volume_writable(const struct stat *st, uid_t uid, gid_t gid,
                              const struct sv_idmap *map, bool dac_override);

#endif
