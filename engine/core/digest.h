/* SHA-256 content digests ("sha256:<64 hex>"), as OCI names blobs. The
 * hashing is libcrypto's (loaded on first use: see core/dynlib.h), which uses
 * the CPU's SHA extensions. */
#ifndef SV_DIGEST_H
#define SV_DIGEST_H

#include "core/util.h"

#define SV_DIGEST_LEN 71 /* "sha256:" + 64 hex */

struct sv_sha256;

int sv_sha256_new(struct sv_sha256 **h, sv_error_t *err);
void sv_sha256_update(struct sv_sha256 *h, const void *data, size_t len);
/* "sha256:<hex>" into out (SV_DIGEST_LEN + 1 bytes); frees h. */
void sv_sha256_final(struct sv_sha256 *h, char out[SV_DIGEST_LEN + 1]);
void sv_sha256_free(struct sv_sha256 *h);
void sv_sha256_freep(struct sv_sha256 **h);
#define cleanup_sha256 __attribute__((cleanup(sv_sha256_freep)))

int sv_digest_mem(const void *data, size_t len, char out[SV_DIGEST_LEN + 1], sv_error_t *err);
int sv_digest_file(const char *path, char out[SV_DIGEST_LEN + 1], sv_error_t *err);
/* Is s a well-formed "sha256:<64 lowercase hex>"? (Anything else must
 * never become a path.) */
bool sv_digest_valid(const char *s);

/* HMAC-SHA1 (OpenSSH's hashed known_hosts names). */
int sv_hmac_sha1(const void *key, size_t klen, const void *data, size_t dlen, unsigned char out[20],
                 sv_error_t *err);

/* SHA-1 (a WebSocket handshake's Sec-WebSocket-Accept). The first call
 * loads libcrypto: make it before threads share this. */
int sv_sha1(const void *data, size_t len, unsigned char out[20], sv_error_t *err);

#endif
