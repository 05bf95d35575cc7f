/* Pulling images from OCI distribution registries (libcurl, loaded on
 * first use). Image indexes and Docker manifest lists resolve to this
 * host's platform; OCI and Docker schema 2 manifests; any layer
 * compression libarchive reads (gzip, zstd). Anonymous access, basic auth
 * and the bearer-token challenge, with credentials from the servos config
 * ($SERVOS_CONFIG, default /etc/servos/config.json), $REGISTRY_AUTH_FILE or
 * ~/.docker/config.json ("auths" as Docker writes it). Plain HTTP only for
 * registries on loopback and those listed under "insecure_registries" in
 * the servos config. Blobs download in parallel into temporary files, are
 * verified against their digest, and only then enter the store. */
#ifndef SV_REGISTRY_H
#define SV_REGISTRY_H

#include "core/digest.h"
#include "core/util.h"

/* Pull ref; sets digest to the stored image's. Progress goes to stderr: a
 * bar on a terminal, a line per blob otherwise (nothing when quiet). */
int sv_registry_pull(const char *ref, bool quiet, char digest[SV_DIGEST_LEN + 1], sv_error_t *err);

/* The image is in the store, or is pulled now (for run and up). Names of
 * "host", paths and rootfs tarballs need nothing. */
int sv_registry_ensure(const char *image, bool quiet, sv_error_t *err);

#endif
