/* Paths that come from an image or a spec, handled so they cannot lead
 * outside the tree they belong to. A root file system is the image's to
 * shape: its symbolic links ("etc -> /tmp/x") must resolve inside it, as
 * they will once the container runs, never on the host while servos sets
 * it up as root. Every lookup below a root goes through openat2 with
 * RESOLVE_IN_ROOT (Linux 5.6+), and what it yields is used through its
 * descriptor, so a link swapped in afterwards cannot redirect it. */
#ifndef SV_SAFEPATH_H
#define SV_SAFEPATH_H

#include "core/util.h"

#include <sys/types.h>

/* An absolute path with "//", "." and ".." resolved by its text alone
 * ("/x/.." is "/", "/a//b/" is "/a/b"); never above "/". Newly allocated;
 * path must start with "/". */
char *sv_path_clean(const char *path);

/* Why a cleaned mount target is not allowed, or NULL: "/" (the source
 * would become the container's root), /proc and below, /sys, /dev (what
 * the runtime mounts there must stay the runtime's). */
const char *sv_path_refused_target(const char *clean);

/* openat2(dirfd, path, flags, mode) resolving inside dirfd as if it were
 * "/" (RESOLVE_IN_ROOT), without magic links. Returns an fd or -1/errno. */
int sv_path_openat_in(int rootfd, const char *path, int flags, mode_t mode);

enum sv_path_make {
    SV_PATH_EXISTING, /* it must exist */
    SV_PATH_DIR,      /* mkdir -p beneath the root */
    SV_PATH_FILE,     /* missing parents as directories, then an empty file */
};

/* An O_PATH descriptor (a plain one for a file just made) for path
 * resolved beneath rootfd, making what is missing as make says. Parents
 * are made one at a time with mkdirat on the descriptor of the resolved
 * parent: nothing is ever created by a path the host would resolve. what
 * names the path in errors ("volume target", "working directory"). */
int sv_path_open_in(int rootfd, const char *path, enum sv_path_make make, const char *what,
                    sv_error_t *err);

#endif
