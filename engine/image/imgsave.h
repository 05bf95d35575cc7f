/* `servos image save`: images of the store as one tar archive that is both
 * a docker-archive (manifest.json, repositories: what `docker load`,
 * `podman load` and skopeo's docker-archive: read) and an OCI image layout
 * (oci-layout, index.json, blobs/sha256/...: what oci-archive: readers
 * take), the blobs stored once for both, as Docker 25's `docker save`
 * writes it. The blobs go in as they are stored, compressed layers
 * included, so the manifest and its digest survive a save and a load. */
#ifndef SV_IMGSAVE_H
#define SV_IMGSAVE_H

#include "core/util.h"

/* Write the images refs name (n of them) to path, through a temporary
 * file renamed into place; path NULL or "-": standard output. */
int sv_imgsave(const char *const *refs, size_t n, const char *path, sv_error_t *err);

#endif
