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
static int rm_at(int dirfd, const char *name, dev_t dev)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -1 : 0;
    if (st.st_dev == dev) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        DIR *d = fd < 0 ? NULL : fdopendir(fd);
        if (d == NULL) {
            if (fd >= 0)
                close(fd);
            return errno == ENOENT ? 0 : -1;
        }
        struct stat now;
        /* The directory we looked at, not one swapped in since. */
        if (fstat(fd, &now) < 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino) {
            closedir(d);
            errno = ESTALE;
            return -1;
        }
        int rc = 0;
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
                rm_at(fd, e->d_name, dev) < 0)
                rc = -1;
        closedir(d);
        if (rc < 0)
            return -1;
    }
    return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -1 : 0;
}

int sv_rmtree(const char *path, sv_error_t *err)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : (err ? sv_error(err, errno, "cannot remove %s", path) : -1);
    cleanup_free char *trimmed = sv_xstrdup(path);
    for (size_t n = strlen(trimmed); n > 1 && trimmed[n - 1] == '/'; n--)
        trimmed[n - 1] = '\0';
    cleanup_free char *parent = sv_dirname(trimmed);
    const char *base = strrchr(trimmed, '/') ? strrchr(trimmed, '/') + 1 : trimmed;
    cleanup_close int dirfd = open(parent, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0 || rm_at(dirfd, base, st.st_dev) < 0)
        return err ? sv_error(err, errno, "cannot remove %s", path) : -1;
    return 0;
}
