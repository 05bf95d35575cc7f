/* The image store's blobs: content (manifests, configs, layers) stored
 * under its sha256 digest, "sha256:<64 hex digits>". */
#ifndef SV_IMGBLOB_H
#define SV_IMGBLOB_H

#include "core/digest.h"
#include "core/util.h"

char *sv_blob_path(const char *digest);
bool sv_blob_exists(const char *digest);
/* Move the file tmp into the store as digest, after checking that its
 * content has that digest (else tmp is removed and the error names it). */
int sv_blob_commit(const char *tmp, const char *digest, sv_error_t *err);
/* Store data, setting digest. */
int sv_blob_put(const void *data, size_t len, char digest[SV_DIGEST_LEN + 1], sv_error_t *err);
/* Read a stored blob of at most max bytes, verifying its digest again. */
int sv_blob_read(const char *digest, size_t max, char **data, size_t *len, sv_error_t *err);
/* A temporary file name inside the blob directory (same file system). */
char *sv_blob_tmp_path(void);

/* A blob on its way in: written to a temporary file in the blob directory
 * and hashed as it is written, so the content is read once. */
struct sv_blob_tmp {
    char *path;
    int fd;
    struct sv_sha256 *hash;
    int64_t size;
};
int sv_blob_tmp_open(struct sv_blob_tmp *t, sv_error_t *err);
int sv_blob_tmp_write(struct sv_blob_tmp *t, const void *data, size_t len, sv_error_t *err);
/* The file complete: closed, its digest set; t->path stays for adopt. */
int sv_blob_tmp_close(struct sv_blob_tmp *t, char digest[SV_DIGEST_LEN + 1], sv_error_t *err);
/* Remove the temporary file (if still there) and free t's fields. */
void sv_blob_tmp_discard(struct sv_blob_tmp *t);
/* Copy what fd reads into a new temporary blob file, hashing it. */
int sv_blob_tmp_from_fd(struct sv_blob_tmp *t, int fd, char digest[SV_DIGEST_LEN + 1],
                        sv_error_t *err);
/* Move tmp into the store as digest, which the caller has just computed
 * over tmp's content (sv_blob_tmp_close): no second read. */
int sv_blob_adopt(const char *tmp, const char *digest, sv_error_t *err);

#endif
