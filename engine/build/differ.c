/* A RUN step's changes, read from its overlay's upper directory once the
 * container is gone (nothing can change it meanwhile): what the step
 * wrote is there as it is; what it deleted is a whiteout (a 0/0
 * character device: ".wh.NAME" in the layer); a directory it emptied and
 * refilled is opaque (an xattr: ".wh..wh..opq"). Owners go back from the
 * containers' host ids to the image's; file capabilities written in the
 * user namespace (v3, with its root id) become plain v2 ones. The
 * directory is walked by descriptors, never by a path a link could
 * redirect, and then fixed up to serve as the unpacked layer itself. */
#include "build/build_int.h"
#include "build/tarw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define CAP_REVISION_MASK 0xFF000000u
#define CAP_REVISION_2    0x02000000u
#define CAP_REVISION_3    0x03000000u
#define CAP_V2_SIZE       20

struct differ {
    struct sv_tarw *w;
    const struct sv_idmap *map;
    json_t *inodes; /* "dev:ino" -> the first name of a file with several links */
    size_t entries;
};

/* The files the runtime makes as mount points for the ones it generates:
 * empty unless the image had them, and never written through (what a
 * step writes there goes to the mount). */
static bool mount_point(const char *rel, const struct stat *st)
{
    static const char *const files[] = {"etc/hostname", "etc/hosts", "etc/resolv.conf",
                                        "etc/host.conf"};
    if (!S_ISREG(st->st_mode) || st->st_size != 0)
        return false;
    for (size_t i = 0; i < SV_ARRAY_LEN(files); i++)
        if (strcmp(rel, files[i]) == 0)
            return true;
    return false;
}

static id_t unshift(id_t id, id_t base, unsigned size)
{
    if (size == 0)
        return id;
    return id >= base && id - base < size ? id - base : 65534;
}

static char *fd_path(int dfd, const char *name)
{
    return sv_xasprintf("/proc/self/fd/%d/%s", dfd, name);
}

/* The xattrs the layer keeps (user.*, file capabilities), and overlay's
 * own ones dropped from the directory, whose opaque mark is set for
 * overlays mounted by root too. */
static size_t xattrs(const char *path, bool is_dir, struct sv_tarw_xattr *x, char **bufs,
                     size_t max)
{
    char list[4096];
    ssize_t len = llistxattr(path, list, sizeof(list));
    size_t n = 0;
    for (ssize_t off = 0; len > 0 && off < len; off += (ssize_t)strlen(list + off) + 1) {
        const char *name = list + off;
        if (strncmp(name, "user.overlay.", 13) == 0) {
            if (is_dir && strcmp(name, "user.overlay.opaque") == 0)
                lsetxattr(path, "trusted.overlay.opaque", "y", 1, 0);
            else
                lremovexattr(path, name);
            continue;
        }
        bool cap = strcmp(name, "security.capability") == 0;
        if ((!cap && strncmp(name, "user.", 5) != 0) || n == max)
            continue;
        char val[512];
        ssize_t vlen = lgetxattr(path, name, val, sizeof(val));
        if (vlen < 0)
            continue;
        if (cap && vlen > CAP_V2_SIZE) { /* v3: drop the root id */
            uint32_t magic;
            memcpy(&magic, val, 4);
            if ((magic & CAP_REVISION_MASK) == CAP_REVISION_3)
                magic = (magic & ~CAP_REVISION_MASK) | CAP_REVISION_2;
            memcpy(val, &magic, 4);
            vlen = CAP_V2_SIZE;
        }
        bufs[n] = sv_xmalloc((size_t)vlen + 1);
        memcpy(bufs[n], val, (size_t)vlen);
        x[n] = (struct sv_tarw_xattr){name, bufs[n], (size_t)vlen};
        n++;
    }
    return n;
}

static int walk(struct differ *d, int dfd, const char *rel, sv_error_t *err);

/* An entry into the layer's tar (none without one: the walk then only
 * fixes the directory up and counts). */
static int emit(struct differ *d, const char *name, const struct stat *st, const char *link,
                bool hard, int fd, const struct sv_tarw_xattr *x, size_t nx, sv_error_t *err)
{
    return d->w ? sv_tarw_entry(d->w, name, st, link, hard, fd, x, nx, err) : 0;
}

static int emit_whiteout(struct differ *d, const char *dir, const char *name, sv_error_t *err)
{
    return d->w ? sv_tarw_whiteout(d->w, dir, name, err) : 0;
}

/* One entry of directory dfd (rel its path in the layer). */
static int one(struct differ *d, int dfd, const char *rel, const char *name, sv_error_t *err)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return sv_error(err, errno, "layer: %s/%s", rel, name);
    cleanup_free char *path = sv_xasprintf("%s%s%s", rel, *rel ? "/" : "", name);
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
        d->entries++;
        return emit_whiteout(d, rel, name, err);
    }
    if (S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ||
        mount_point(path, &st))
        return 0;
    st.st_uid = unshift(st.st_uid, d->map->uid_base, d->map->size);
    st.st_gid = unshift(st.st_gid, d->map->gid_base, d->map->size);
    cleanup_free char *proc = fd_path(dfd, name);
    struct sv_tarw_xattr x[8];
    char *bufs[8] = {0};
    size_t nx = S_ISLNK(st.st_mode) ? 0 : xattrs(proc, S_ISDIR(st.st_mode), x, bufs, 8);
    int rc = 0;
    char target[4096], ino[64];
    snprintf(ino, sizeof(ino), "%lu:%lu", (unsigned long)st.st_dev, (unsigned long)st.st_ino);
    const char *first = S_ISREG(st.st_mode) && st.st_nlink > 1
                            ? json_string_value(json_object_get(d->inodes, ino))
                            : NULL;
    if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
        if (n < 0)
            rc = sv_error(err, errno, "layer: %s", path);
        else
            target[n] = '\0', rc = emit(d, path, &st, target, false, -1, NULL, 0, err);
    } else if (first) { /* another name of a file already in the layer */
        rc = emit(d, path, &st, first, true, -1, NULL, 0, err);
    } else if (S_ISREG(st.st_mode)) {
        if (st.st_nlink > 1)
            json_object_set_new(d->inodes, ino, json_string(path));
        cleanup_close int fd = d->w ? openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -2;
        rc = fd == -1 ? sv_error(err, errno, "layer: %s", path)
                      : emit(d, path, &st, NULL, false, fd, x, nx, err);
    } else {
        rc = emit(d, path, &st, NULL, false, -1, x, nx, err);
    }
    for (size_t i = 0; i < nx; i++)
        free(bufs[i]);
    d->entries++;
    if (rc < 0 || !S_ISDIR(st.st_mode))
        return rc;
    char v[2];
    if (lgetxattr(proc, "trusted.overlay.opaque", v, 1) == 1 && v[0] == 'y' &&
        emit_whiteout(d, path, NULL, err) < 0)
        return -1;
    cleanup_close int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub < 0)
        return sv_error(err, errno, "layer: %s", path);
    return walk(d, sub, path, err);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dfd, sorted: the same changes make the same stream. */
static char **names_of(int dfd)
{
    int fd = dup(dfd);
    DIR *dir = fd < 0 ? NULL : fdopendir(fd);
    size_t n = 0;
    char **v = sv_xcalloc(1, sizeof(char *));
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        v = sv_xrealloc(v, (n + 2) * sizeof(char *));
        v[n++] = sv_xstrdup(e->d_name);
        v[n] = NULL;
    }
    if (dir)
        closedir(dir);
    else if (fd >= 0)
        close(fd);
    qsort(v, n, sizeof(char *), cmp_names);
    return v;
}

static int walk(struct differ *d, int dfd, const char *rel, sv_error_t *err)
{
    cleanup_strv char **names = names_of(dfd);
    for (char **n = names; *n; n++)
        if (one(d, dfd, rel, *n, err) < 0)
            return -1;
    return 0;
}

int sv_differ_commit(const char *upper, const struct sv_idmap *map, bool gzip,
                     struct sv_tarw_out *out, bool *empty, sv_error_t *err)
{
    cleanup_close int root = open(upper, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0)
        return sv_error(err, errno, "cannot open %s", upper);
    /* The root's own overlay xattrs go too (it is no entry of the layer). */
    struct sv_tarw_xattr x[8];
    char *bufs[8] = {0};
    cleanup_free char *self = sv_xasprintf("/proc/self/fd/%d", root);
    for (size_t i = 0, n = xattrs(self, true, x, bufs, 8); i < n; i++)
        free(bufs[i]);
    struct differ d = {.map = map, .inodes = json_object()};
    int rc = out ? sv_tarw_new(&d.w, gzip, err) : 0;
    if (rc == 0)
        rc = walk(&d, root, "", err);
    json_decref(d.inodes);
    if (rc < 0) {
        sv_tarw_free(d.w);
        return -1;
    }
    *empty = d.entries == 0;
    return out ? sv_tarw_finish(d.w, out, err) : 0;
}
