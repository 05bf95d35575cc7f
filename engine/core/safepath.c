#include "core/safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

char *sv_path_clean(const char *path)
{
    size_t len = strlen(path);
    char *out = sv_xmalloc(len + 2);
    size_t o = 0;
    for (const char *c = path; *c;) {
        while (*c == '/')
            c++;
        const char *e = strchrnul(c, '/');
        size_t seg = (size_t)(e - c);
        if (seg == 0 || (seg == 1 && c[0] == '.')) {
            /* "//" or "/." */
        } else if (seg == 2 && c[0] == '.' && c[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, c, seg);
            o += seg;
        }
        c = e;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

static bool is_or_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

const char *sv_path_refused_target(const char *clean)
{
    if (strcmp(clean, "/") == 0)
        return "it is the container's root";
    /* runc's rule: procfs is the runtime's; a bind over part of it could
     * undo the masked and read-only paths. */
    if (is_or_under(clean, "/proc"))
        return "/proc is the container's own";
    if (strcmp(clean, "/sys") == 0 || strcmp(clean, "/dev") == 0)
        return "the runtime mounts its own file system there";
    return NULL;
}

int sv_path_openat_in(int rootfd, const char *path, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    while (*path == '/')
        path++;
    if (*path == '\0')
        path = ".";
    /* EAGAIN: a rename raced a ".." lookup; the kernel asks for a retry. */
    for (int i = 0;; i++) {
        int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN || i == 16)
            return fd;
    }
}

static int open_error(const char *what, const char *path, sv_error_t *err)
{
    if (errno == ENOSYS)
        return sv_error(err, errno,
                        "%s %s: resolving paths inside a root file system needs openat2 "
                        "(Linux 5.6 or later)",
                        what, path);
    return sv_error(err, errno, "%s %s in the container's root file system", what, path);
}

/* mkdir -p beneath rootfd: each missing component is made by mkdirat on
 * the descriptor of its parent as resolved in the root, so an image's
 * link ("data -> /tmp/x") leads to its target inside the root, or to an
 * error, never to a directory on the host. */
static int make_dirs_in(int rootfd, const char *rel, const char *what, const char *shown,
                        sv_error_t *err)
{
    cleanup_free char *p = sv_xstrdup(rel);
    cleanup_close int parent = sv_path_openat_in(rootfd, "", O_PATH | O_DIRECTORY, 0);
    if (parent < 0)
        return open_error(what, shown, err);
    for (char *s = p, *name = p;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        int fd = *name ? sv_path_openat_in(rootfd, p, O_PATH | O_DIRECTORY, 0) : dup(parent);
        if (fd < 0 && errno == ENOENT) {
            if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST)
                return sv_error(err, errno,
                                "%s %s: cannot create /%s in the container's root file "
                                "system",
                                what, shown, p);
            fd = sv_path_openat_in(rootfd, p, O_PATH | O_DIRECTORY, 0);
            if (fd < 0 && errno == ENOENT) /* a link to nowhere in the image */
                return sv_error(err, 0, "%s %s: /%s is a symbolic link to a missing directory",
                                what, shown, p);
        }
        if (fd < 0)
            return open_error(what, shown, err);
        sv_closep(&parent); /* one step down: fd is the parent now */
        parent = fd;
        *s = c;
        if (c == '\0')
            return sv_steal_fd(parent);
        name = s + 1;
    }
}

int sv_path_open_in(int rootfd, const char *path, enum sv_path_make make, const char *what,
                    sv_error_t *err)
{
    const char *rel = path;
    while (*rel == '/')
        rel++;
    int fd = sv_path_openat_in(rootfd, rel, O_PATH, 0);
    if (fd >= 0 || errno != ENOENT || make == SV_PATH_EXISTING) {
        if (fd < 0)
            return open_error(what, path, err);
        return fd;
    }
    if (make == SV_PATH_DIR)
        return make_dirs_in(rootfd, rel, what, path, err);
    cleanup_free char *dir = sv_dirname(rel);
    cleanup_close int d = -1;
    if (strcmp(dir, ".") != 0)
        d = make_dirs_in(rootfd, dir, what, path, err);
    else if ((d = sv_path_openat_in(rootfd, "", O_PATH, 0)) < 0)
        open_error(what, path, err);
    if (d < 0)
        return -1;
    /* O_CREAT follows a final link, as the container would, but only
     * inside the root; without O_EXCL so a link is no error. */
    fd = sv_path_openat_in(rootfd, rel, O_RDONLY | O_CREAT | O_NOCTTY, 0644);
    if (fd < 0 && errno == ENOENT) {
        /* A link to a file in a missing directory (an image's
         * "etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf"):
         * make that directory beneath the root, as runc does, then the
         * file through the link. */
        const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
        char target[4096];
        ssize_t n = readlinkat(d, base, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            cleanup_free char *joined =
                target[0] == '/' ? sv_xstrdup(target) : sv_xasprintf("%s/%s", dir, target);
            cleanup_free char *tdir = sv_dirname(joined);
            cleanup_close int t = make_dirs_in(rootfd, tdir, what, path, err);
            if (t < 0)
                return -1;
            fd = sv_path_openat_in(rootfd, rel, O_RDONLY | O_CREAT | O_NOCTTY, 0644);
        } else {
            errno = ENOENT;
        }
    }
    if (fd < 0)
        return open_error(what, path, err);
    return fd;
}
