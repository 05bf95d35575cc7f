/* The container's mounts, built by its child inside the new mount
 * namespace (see mounts.c for what goes where), ending in pivot_root. */
#ifndef SV_MOUNTS_H
#define SV_MOUNTS_H

#include "runtime/container.h"

/* Every mount, then pivot_root into the new root. Runs as root of the new
 * user namespace (or real root with --userns host). */
int sv_mounts_setup(const struct sv_container *c, sv_error_t *err);

#endif
