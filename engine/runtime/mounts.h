/* The container's mounts, built by its child inside the new mount
 * namespace (see mounts.c for what goes where), ending in pivot_root. */
#ifndef SV_MOUNTS_H
#define SV_MOUNTS_H

#include "runtime/container.h"

/* Every mount, then pivot_root into the new root. Runs as root of the new
 * user namespace (or real root with --userns host). With sysctls in the
 * spec, *sysctl_dir is a descriptor of the container's /proc/sys that
 * stays writable (its read-only mount is put on top). */
int sv_mounts_setup(const struct sv_container *c, int *sysctl_dir, sv_error_t *err);

#endif
