/* Unpacking rootfs tarballs with libarchive. libarchive pulls in libxml2
 * and ICU (a dozen libraries, ~35 MB mapped), which would more than double
 * the start-up time of every servos command, so it is loaded with dlopen
 * only when a tarball is actually unpacked. */
#ifndef SV_UNPACK_H
#define SV_UNPACK_H

#include "host/userns.h"
#include "core/util.h"

/* Unpack tarball (any format and compression libarchive reads) into dest,
 * via a temporary directory renamed into place, with every owner shifted by
 * shift (container uid 0 = host uid shift->uid_base). */
int sv_unpack_tarball(const char *tarball, const char *dest, const struct sv_idmap *shift,
                      sv_error_t *err);

/* Unpack one OCI/Docker image layer (any compression) into dest the same
 * way, turning its whiteouts into overlayfs ones and leaving out device
 * nodes. */
int sv_unpack_layer(const char *blob, const char *dest, const struct sv_idmap *shift,
                    sv_error_t *err);

/* Does the archive have an entry called name (at its top, "./" aside)? */
int sv_unpack_has_entry(const char *tarball, const char *name, bool *found, sv_error_t *err);

#endif
