/* A layer blob written as it is built: entries go into a tar stream
 * (libarchive, pax where ustar falls short: long names, xattrs), whose
 * SHA-256 is the layer's diff_id, gzip'ed (zlib) into a temporary file of
 * the image store, whose SHA-256 is the blob's digest; finishing moves the
 * file into the store. Both libraries are loaded on first use (see
 * core/dynlib.h): a build needs them, no other command does. */
#ifndef SV_TARW_H
#define SV_TARW_H

#include "core/digest.h"
#include "core/util.h"

#include <sys/stat.h>

struct sv_tarw;

struct sv_tarw_out {
    char digest[SV_DIGEST_LEN + 1];  /* the gzip'ed blob's */
    char diff_id[SV_DIGEST_LEN + 1]; /* the tar stream's */
    int64_t size;                    /* of the blob */
    size_t entries;
    const char *media_type; /* the blob's OCI layer type */
};

struct sv_tarw_xattr {
    const char *name;
    const void *value;
    size_t size;
};

/* gzip: the layer of an image (else a plain tar, for a layer only the
 * build reads back: an intermediate stage's). */
int sv_tarw_new(struct sv_tarw **w, bool gzip, sv_error_t *err);
/* One entry: name relative to the layer's root ("usr/bin/x"), type, mode,
 * owner (as the image sees them), mtime and size from st; link: a
 * symlink's target, or with hard the earlier entry this one links to; a
 * regular file's data read from fd (st->st_size bytes). */
int sv_tarw_entry(struct sv_tarw *w, const char *name, const struct stat *st, const char *link,
                  bool hard, int fd, const struct sv_tarw_xattr *x, size_t nx, sv_error_t *err);
/* An OCI whiteout: dir/.wh.name (name NULL: dir's opaque marker). */
int sv_tarw_whiteout(struct sv_tarw *w, const char *dir, const char *name, sv_error_t *err);
/* Every entry of the archive at path (a tar, plain or compressed;
 * shown: its name for errors), its names put under prefix (one that
 * steps out with ".." is refused); owners kept unless uid/gid >= 0 (ADD's
 * --chown). 1 when path is no archive libarchive reads (nothing added). */
int sv_tarw_add_archive(struct sv_tarw *w, const char *path, const char *shown, const char *prefix,
                        int64_t uid, int64_t gid, sv_error_t *err);
/* End the stream and store the blob; frees w. */
int sv_tarw_finish(struct sv_tarw *w, struct sv_tarw_out *out, sv_error_t *err);
/* Give up: the temporary file goes. NULL is fine. */
void sv_tarw_free(struct sv_tarw *w);

/* The diff_id of a stored layer blob (its content decompressed). */
int sv_tarw_diff_id(const char *blob_digest, char diff_id[SV_DIGEST_LEN + 1], sv_error_t *err);

#endif
