/* A layer written straight into its unpacked directory, entry by entry,
 * as COPY writes its tar: the next RUN mounts it without unpacking the
 * blob first, and a stage no image takes needs no blob at all. Owners go
 * into the containers' host range, as unpacked layers have them. Every
 * entry is made beneath the directory's root by descriptors, its parent
 * opened with openat2 refusing any link: two sources that give "x" as a
 * link and "x/y" as a file cannot make servos write through the link. */
#include "build/bdir.h"

#include "core/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct sv_bdir {
    int root;
    struct sv_idmap map;
    /* Directories' times, set at the end (an entry made in one would
     * change its mtime), deepest last so set first. */
    char **dirs;
    struct timespec *times;
    size_t n;
};

void sv_bdir_free(struct sv_bdir *d)
{
    if (d == NULL)
        return;
    if (d->root >= 0)
        close(d->root);
    for (size_t i = 0; i < d->n; i++)
        free(d->dirs[i]);
    free(d->dirs);
    free(d->times);
    free(d);
}

int sv_bdir_new(const char *path, const struct sv_idmap *map, struct sv_bdir **out, sv_error_t *err)
{
    struct sv_bdir *d = sv_xcalloc(1, sizeof(*d));
    d->map = *map;
    d->root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (d->root < 0) {
        sv_bdir_free(d);
        return sv_error(err, errno, "cannot open %s", path);
    }
    *out = d;
    return 0;
}

/* The parent of name, beneath the root, no link followed. */
static int open_parent(struct sv_bdir *d, const char *name, const char **base)
{
    const char *slash = strrchr(name, '/');
    *base = slash ? slash + 1 : name;
    if (slash == NULL)
        return fcntl(d->root, F_DUPFD_CLOEXEC, 3);
    cleanup_free char *parent = sv_xstrndup(name, (size_t)(slash - name));
    struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                           .resolve =
                               RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    return (int)syscall(SYS_openat2, d->root, parent, &how, sizeof(how));
}

static int copy_data(int from, int to, off_t size)
{
    if (lseek(from, 0, SEEK_SET) < 0)
        return -1;
    while (size > 0) {
        ssize_t n = copy_file_range(from, NULL, to, NULL, (size_t)size, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -1 : 0; /* it shrank: what there was */
        size -= n;
    }
    return 0;
}

int sv_bdir_entry(struct sv_bdir *d, const char *name, const struct stat *st, const char *link,
                  int fd, sv_error_t *err)
{
    const char *base;
    cleanup_close int dir = open_parent(d, name, &base);
    if (dir < 0)
        return sv_error(err, errno, "layer: %s", name);
    uid_t uid = st->st_uid + d->map.uid_base;
    gid_t gid = st->st_gid + d->map.gid_base;
    struct timespec ts[2] = {st->st_mtim, st->st_mtim};
    if (S_ISDIR(st->st_mode)) {
        if (mkdirat(dir, base, 0700) < 0 && errno != EEXIST)
            return sv_error(err, errno, "layer: %s", name);
        if (fchownat(dir, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            fchmodat(dir, base, st->st_mode & 07777, 0) < 0)
            return sv_error(err, errno, "layer: %s", name);
        d->dirs = sv_xrealloc(d->dirs, (d->n + 1) * sizeof(char *));
        d->times = sv_xrealloc(d->times, (d->n + 1) * sizeof(*d->times));
        d->dirs[d->n] = sv_xstrdup(name);
        d->times[d->n++] = st->st_mtim;
        return 0;
    }
    if (unlinkat(dir, base, 0) < 0 && errno != ENOENT) /* a later source wins */
        return sv_error(err, errno, "layer: %s", name);
    if (S_ISLNK(st->st_mode)) {
        if (symlinkat(link, dir, base) < 0 ||
            fchownat(dir, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            utimensat(dir, base, ts, AT_SYMLINK_NOFOLLOW) < 0)
            return sv_error(err, errno, "layer: %s", name);
        return 0;
    }
    if (!S_ISREG(st->st_mode))
        return 0;
    cleanup_close int out =
        openat(dir, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    /* chown before chmod: a chown clears set-id bits. */
    if (out < 0 || copy_data(fd, out, st->st_size) < 0 || fchown(out, uid, gid) < 0 ||
        fchmod(out, st->st_mode & 07777) < 0 || futimens(out, ts) < 0)
        return sv_error(err, errno, "layer: %s", name);
    return 0;
}

int sv_bdir_finish(struct sv_bdir *d, sv_error_t *err)
{
    for (size_t i = d->n; i-- > 0;) {
        struct timespec ts[2] = {d->times[i], d->times[i]};
        if (utimensat(d->root, d->dirs[i], ts, AT_SYMLINK_NOFOLLOW) < 0)
            return sv_error(err, errno, "layer: %s", d->dirs[i]);
    }
    return 0;
}
