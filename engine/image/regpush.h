/* Pushing an image of the store to an OCI distribution registry: each
 * blob the registry lacks (a HEAD asks) is mounted from another repository
 * of the registry known to hold it (regblobs.h), else uploaded, whole or,
 * when larger than push_chunk_size (regconfig.h, 64 MiB by default), in
 * chunks; a few blobs at once; then the manifest, byte for byte as stored,
 * so the registry's digest is the store's. Credentials, tokens and the
 * plain-HTTP rule are pull's (regclient.h). */
#ifndef SV_REGPUSH_H
#define SV_REGPUSH_H

#include "core/digest.h"
#include "core/util.h"

/* Push the image src names (any form `image ls` shows) to dest, a
 * reference with a registry ("registry:5000/team/app:1.4"); dest NULL:
 * src itself, when it names a registry. Sets digest to the manifest's.
 * Progress to stderr: a line per blob (and a bar on a terminal); nothing
 * when quiet. */
int sv_regpush_image(const char *src, const char *dest, bool quiet, char digest[SV_DIGEST_LEN + 1],
                     sv_error_t *err);

#endif
