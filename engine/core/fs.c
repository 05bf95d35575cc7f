/* File-system helpers every subsystem needs (see core/fs.h). */
#include "core/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Remove name in dirfd and, for a directory, all below it, by
 * descriptors only: a directory swapped for a link while we work (what is
 * removed was often written by a container or a handler that may still
 * run) is unlinked as a link, never followed; a mount point below is not
 * entered (its directory then stays, and the removal fails). */
static int rm_at(int dirfd, const char *name, dev_t dev);

/* Empty the directory name in dirfd, which lstat found as st: 0 done, 1
 * it is gone already, -1 failed (errno). */
static int rm_entries(int dirfd, const char *name, const struct stat *st, dev_t dev)
{
    cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 1 : -1;
    struct stat now;
    /* The directory we looked at, not one swapped in since. */
    if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
        errno = ESTALE;
        return -1;
    }
    cleanup_closedir DIR *d = fdopendir(fd);
    if (d == NULL)
        return -1;
    int entries = sv_steal_fd(fd); /* d owns it now */
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
            rm_at(entries, e->d_name, dev) < 0)
            rc = -1;
    return rc;
}

static int rm_at(int dirfd, const char *name, dev_t dev)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
    if (st.st_dev == dev) {
        int rc = rm_entries(dirfd, name, &st, dev);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1 : 0;
}

int sv_rmtree(const char *path, sv_error_t *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : sv_error(err, errno, "cannot remove %s", path);
    cleanup_free char *trimmed = sv_xstrdup(path);
    for (size_t n = strlen(trimmed); n > 1 && trimmed[n - 1] == '/'; n--)
        trimmed[n - 1] = '\0';
    cleanup_free char *parent = sv_dirname(trimmed);
    const char *base = strrchr(trimmed, '/') ? strrchr(trimmed, '/') + 1 : trimmed;
    cleanup_close int dirfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0 || rm_at(dirfd, base, st.st_dev) < 0)
        return sv_error(err, errno, "cannot remove %s", path);
    return 0;
}
