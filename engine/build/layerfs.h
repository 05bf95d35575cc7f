/* The file tree a stack of unpacked layers shows, read without mounting
 * it, as overlayfs would show it: the topmost entry of a name wins, a
 * whiteout (a 0/0 character device) hides the name below it, an opaque
 * directory hides what lower layers hold in it, directories merge.
 * Symbolic links are followed by servos itself, inside the tree (an
 * absolute link starts at the tree's root, ".." never leaves it), never by
 * the host: a layer a container wrote can make no lookup leave it.
 * COPY uses it to find where its destination really is, the image's
 * /etc/passwd for --chown, and the files of COPY --from. */
#ifndef SV_LAYERFS_H
#define SV_LAYERFS_H

#include "core/util.h"

#include <sys/stat.h>

struct sv_layerfs {
    char **dirs; /* unpacked layers, top first; NULL-terminated */
    size_t n;
};

/* The tree over dirs (copied; top first). */
void sv_layerfs_init(struct sv_layerfs *fs, char *const *dirs, size_t n);
void sv_layerfs_clear(struct sv_layerfs *fs);

/* path ("/a/b") resolved in the tree, links followed (the last one only
 * when follow): *canon gets the path with no link left in it (to free),
 * *found whether it exists, and st its entry when it does. A link loop
 * or a component that is no directory is an error naming path. */
int sv_layerfs_resolve(const struct sv_layerfs *fs, const char *path, bool follow, char **canon,
                       bool *found, struct stat *st, sv_error_t *err);

/* The names in directory canon (resolved first), merged over the layers,
 * sorted (NULL-terminated). */
int sv_layerfs_list(const struct sv_layerfs *fs, const char *canon, char ***names, sv_error_t *err);

/* The host path of canon's topmost entry (for reading a file or a link),
 * or NULL when it does not exist. */
char *sv_layerfs_host_path(const struct sv_layerfs *fs, const char *canon);

/* A file of the tree read whole (at most max bytes): 0, or 1 when it does
 * not exist. */
int sv_layerfs_read(const struct sv_layerfs *fs, const char *path, size_t max, char **data,
                    sv_error_t *err);

#endif
