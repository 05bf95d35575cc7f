/* Unpacking rootfs tarballs with libarchive. libarchive pulls in libxml2
 * and ICU (a dozen libraries, ~35 MB mapped), which would more than double
 * the start-up time of every servos command, so it is loaded with dlopen
 * only when a tarball is actually unpacked. */
#ifndef SV_UNPACK_H
#define SV_UNPACK_H

#include "core/digest.h"
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

/* A file's compression, as far as image layers go: OCI names media types
 * for plain, gzip'ed and zstd'ed tar only. */
enum sv_unpack_compression { SV_UNPACK_PLAIN, SV_UNPACK_GZIP, SV_UNPACK_ZSTD, SV_UNPACK_OTHER };

/* The digest of path's uncompressed content (a layer's diff_id) and its
 * compression; the uncompressed bytes are also written to out unless it
 * is -1 (a layer in a compression OCI has no media type for). */
int sv_unpack_diff_id(const char *path, char digest[SV_DIGEST_LEN + 1],
                      enum sv_unpack_compression *comp, int out, sv_error_t *err);

/* Read an archive entry by entry without writing any of it to disk under
 * its own name: begin for each entry (kind 'f' a regular file, 'l' a
 * symbolic link, 'h' a hard link, both to link; anything else 'o'), then
 * data for each block of a file's content. A callback's -1 stops it. */
struct sv_unpack_scan {
    int (*begin)(void *ud, const char *name, char kind, const char *link, sv_error_t *err);
    int (*data)(void *ud, const void *buf, size_t len, sv_error_t *err);
    int (*end)(void *ud, sv_error_t *err);
    void *ud;
};
/* path NULL: standard input. */
int sv_unpack_scan(const char *path, const struct sv_unpack_scan *cb, sv_error_t *err);

#endif
