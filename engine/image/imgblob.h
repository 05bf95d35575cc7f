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

#endif
