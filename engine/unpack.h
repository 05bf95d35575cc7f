/* Unpacking rootfs tarballs with libarchive. libarchive pulls in libxml2
 * and ICU (a dozen libraries, ~35 MB mapped), which would more than double
 * the start-up time of every servos command, so it is loaded with dlopen
 * only when a tarball is actually unpacked. */
#ifndef SV_UNPACK_H
#define SV_UNPACK_H

#include "util.h"

/* Unpack tarball (any format and compression libarchive reads) into dest,
 * via a temporary directory renamed into place. */
int sv_unpack_tarball(const char *tarball, const char *dest, sv_error_t *err);

#endif
