/* File-system helpers below every subsystem: images, git, stacks, the
 * ProServe host and the runtime all remove trees that a container or a
 * handler may have written, so the one remover that never follows a link
 * lives here. */
#ifndef SV_FS_H
#define SV_FS_H

#include "core/util.h"

/* Remove a directory tree (no symlinks followed, stays on one file system). */
int sv_rmtree(const char *path, sv_error_t *err);

#endif
