/* Root file systems, on the host side: an image resolved to the read-only
 * base directory (or overlay lowerdir list) a container's overlay lies
 * on, and the guarded directories images and volumes live in. The
 * container's own mounts, over that base, are mounts.h's. */
#ifndef SV_ROOTFS_H
#define SV_ROOTFS_H

#include "core/fs.h"
#include "runtime/container.h"

#include <sys/types.h>

struct sv_image_config;
/* "host": the generated base under <root>/images/host-UID, owned by the
 * container root of map (all zero for --userns host; the host's /usr and
 * friends are bound in read-only at start); a directory: itself (used as
 * it is, or idmapped, at start: see sv_idmap_rootfs); a tarball: unpacked
 * once with libarchive into <root>/images/<hash>; anything else names an
 * image in the store (see imgstore.h): its layers (unpacked as needed),
 * its config into cfg and its digest. Which of these it was goes to
 * *kind. */
int sv_rootfs_resolve(const char *image, const struct sv_idmap *map, char **lower,
                      enum sv_rootfs_kind *kind, struct sv_image_config *cfg, char digest[72],
                      sv_error_t *err);

/* Make dir (parents 0711) and let only root and the containers' group (the
 * gid container root has on the host) pass it: mode 0710, root:gid_base.
 * For images/ and volumes/, which hold what images and containers made:
 * setuid files of container root's (of host root's under --userns host),
 * device-free but otherwise as the image or container left them. Container
 * root must reach them to mount them; a host user must not, or running
 * such a file would make them that owner. */
int sv_rootfs_guard_dir(const char *dir, sv_error_t *err);

/* For mounts.c. The host directories a "host" container sees read-only:
 * the base has a mount point (or the host's link) for each. */
extern const char *const sv_rootfs_host_dirs[];
extern const size_t sv_rootfs_n_host_dirs;
/* Create (or truncate) path with mode and write text into it. */
int sv_rootfs_write_text(const char *path, const char *text, mode_t mode, sv_error_t *err);

#endif
