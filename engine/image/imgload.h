/* `servos image load` (and the archive half of `image import`): the images
 * of a docker-archive (what `docker save` and `podman save` write), an OCI
 * archive or layout (`podman save --format oci-archive|oci-dir`, skopeo's
 * oci:), or an archive that is both (what `servos image save` and Docker
 * 25's `docker save` write): a tar, compressed or not, or its directory.
 * All or nothing: every blob is copied into a temporary file and checked
 * (OCI blobs against their digests, docker-archive layers against the
 * config's diff_ids) before the first one enters the store, so a
 * truncated or corrupt archive changes nothing. */
#ifndef SV_IMGLOAD_H
#define SV_IMGLOAD_H

#include "core/digest.h"
#include "core/util.h"

struct sv_imgload_image {
    char digest[SV_DIGEST_LEN + 1]; /* the manifest's */
    char **names;                   /* as recorded, NULL-terminated */
};

/* Load path's images, each under its names (as references: "app:1" is
 * docker.io/library/app:1, as docker and podman load them). one: only
 * one image, the one whose name matches as (else the first), named as
 * when as is given (under localhost/ when it names no registry, as import
 * does) and localhost/imported when it has no name. */
int sv_imgload(const char *path, bool one, const char *as, struct sv_imgload_image **out, size_t *n,
               sv_error_t *err);
void sv_imgload_free(struct sv_imgload_image *v, size_t n);
/* A name for the store: as given when it names a registry, else under
 * localhost/ as podman names local images ("app:1" -> localhost/app:1). */
char *sv_imgload_local_name(const char *name, sv_error_t *err);

#endif
