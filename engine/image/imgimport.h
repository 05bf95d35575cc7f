/* Importing images from files: `servos image import`. */
#ifndef SV_IMGIMPORT_H
#define SV_IMGIMPORT_H

#include "core/digest.h"
#include "core/util.h"

/* A root file system tarball, a `docker save` archive, or an OCI image
 * layout (directory or tarball). name: NULL for the archive's own (or the
 * file's) name. Sets digest to the image's. */
int sv_import_image(const char *path, const char *name, char digest[SV_DIGEST_LEN + 1],
                    sv_error_t *err);

#endif
