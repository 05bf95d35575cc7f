/* Importing images from files, and choosing this host's variant of a
 * multi-platform image. */
#ifndef SV_IMGIMPORT_H
#define SV_IMGIMPORT_H

#include "core/digest.h"
#include "core/util.h"

/* A root file system tarball, a `docker save` archive, or an OCI image
 * layout (directory or tarball). name: NULL for the archive's own (or the
 * file's) name. Sets digest to the image's. */
int sv_image_import(const char *path, const char *name, char digest[SV_DIGEST_LEN + 1],
                    sv_error_t *err);

/* The OCI architecture name of this host ("amd64", "arm64", ...). */
const char *sv_oci_arch(void);
/* From an image index (or Docker manifest list), this host's manifest. */
int sv_image_pick_platform(const char *doc, size_t len, char **manifest, sv_error_t *err);

#endif
