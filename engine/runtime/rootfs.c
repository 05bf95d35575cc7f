/* Where a container's root file system comes from, on the host before it
 * starts: an image resolved to the read-only lower layer of its overlay
 * (the generated host base, a directory, an unpacked tarball, or a store
 * image's layers), and the guarded directories that hold what images and
 * containers made. The mounts themselves are the child's (mounts.c). */
#include "runtime/rootfs.h"

#include "image/imgstore.h"
#include "image/unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Debian 12 has merged /usr, so most of these are symlinks, mirrored as
 * symlinks in the base. */
const char *const sv_rootfs_host_dirs[] = {"/usr",   "/bin",   "/sbin",  "/lib",
                                           "/lib32", "/lib64", "/libx32"};
const size_t sv_rootfs_n_host_dirs = SV_ARRAY_LEN(sv_rootfs_host_dirs);

int sv_rootfs_write_text(const char *path, const char *text, mode_t mode, sv_error_t *err)
{
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return sv_error(err, errno, "cannot create %s", path);
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n)
        return sv_error(err, errno, "cannot write %s", path);
    return 0;
}

/* The ids host_base_chown gives every entry: nftw passes its callback no
 * argument of ours. */
static uid_t host_base_uid;
static gid_t host_base_gid;
static int host_base_chown(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return lchown(path, host_base_uid, host_base_gid) < 0 ? -1 : 0;
}

/* The host base's tree in tmp: the usual top-level directories, the
 * host's /usr and friends mirrored (mount points, or links as on the
 * host), and the /etc files a program looks for; all owned by container
 * root (uid:gid), so a container may change its /etc through the
 * overlay. */
static int host_base_fill(const char *tmp, uid_t uid, gid_t gid, sv_error_t *err)
{
    if (mkdir(tmp, 0755) < 0)
        return sv_error(err, errno, "cannot create %s", tmp);
    static const char *const dirs[] = {"etc",  "proc", "sys",     "dev", "tmp", "run", "root",
                                       "home", "var",  "var/tmp", "mnt", "opt", "srv"};
    for (size_t i = 0; i < SV_ARRAY_LEN(dirs); i++) {
        cleanup_free char *p = sv_xasprintf("%s/%s", tmp, dirs[i]);
        mode_t mode = strcmp(dirs[i], "tmp") == 0 || strcmp(dirs[i], "var/tmp") == 0 ? 01777
                      : strcmp(dirs[i], "root") == 0                                 ? 0700
                                                                                     : 0755;
        if (mkdir(p, mode) < 0 || chmod(p, mode) < 0)
            return sv_error(err, errno, "cannot create %s", p);
    }
    for (size_t i = 0; i < sv_rootfs_n_host_dirs; i++) {
        const char *dir = sv_rootfs_host_dirs[i];
        struct stat st;
        if (lstat(dir, &st) < 0)
            continue;
        cleanup_free char *p = sv_xasprintf("%s%s", tmp, dir);
        if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlink(dir, target, sizeof(target) - 1);
            if (n < 0)
                return sv_error(err, errno, "cannot read the link %s", dir);
            target[n] = '\0';
            if (symlink(target, p) < 0)
                return sv_error(err, errno, "cannot create %s", p);
        } else if (S_ISDIR(st.st_mode) && mkdir(p, 0755) < 0) {
            return sv_error(err, errno, "cannot create %s", p);
        }
    }
    static const struct {
        const char *name, *text;
    } etc[] = {
        {"passwd", "root:x:0:0:root:/root:/bin/sh\n"
                   "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"},
        {"group", "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n"},
        {"nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n"},
        {"hostname", ""},
        {"hosts", ""},
        {"resolv.conf", ""},
        {"host.conf", ""},
        {"ld.so.cache", ""},
    };
    for (size_t i = 0; i < SV_ARRAY_LEN(etc); i++) {
        cleanup_free char *p = sv_xasprintf("%s/etc/%s", tmp, etc[i].name);
        if (sv_rootfs_write_text(p, etc[i].text, 0644, err) < 0)
            return -1;
    }
    cleanup_free char *alt = sv_xasprintf("%s/etc/alternatives", tmp);
    if (mkdir(alt, 0755) < 0)
        return sv_error(err, errno, "cannot create %s", alt);
    host_base_uid = uid, host_base_gid = gid;
    if (nftw(tmp, host_base_chown, 32, FTW_PHYS) < 0)
        return sv_error(err, errno, "cannot hand %s to the container's root", tmp);
    return 0;
}

/* The base a "host" image's overlay lies on, at dir. Later runs trust any
 * base that exists there, so it is built in a temporary directory and
 * renamed into place: a crash leaves at most a dir.tmp.PID that nothing
 * trusts, and a failure removes its half-built tree. */
static int make_host_base(const char *dir, uid_t uid, gid_t gid, sv_error_t *err)
{
    cleanup_free char *tmp = sv_xasprintf("%s.tmp.%d", dir, (int)getpid());
    cleanup_free char *parent = sv_dirname(dir);
    if (sv_mkdir_p(parent, 0711, err) < 0)
        return -1;
    sv_rmtree(tmp, NULL); /* a crashed run's of our pid */
    int rc = host_base_fill(tmp, uid, gid, err);
    if (rc == 0 && rename(tmp, dir) < 0 && errno != EEXIST && errno != ENOTEMPTY)
        rc = sv_error(err, errno, "cannot move %s into place", dir);
    /* Gone on failure; or we lost a race with another servos, whose base
     * is as good. */
    sv_rmtree(tmp, NULL);
    return rc;
}

/* FNV-1a of path, size and mtime: a changed tarball unpacks anew. */
static uint64_t tarball_key(const char *path, const struct stat *st)
{
    char buf[4200];
    int n = snprintf(buf, sizeof(buf), "%s|%lld|%lld", path, (long long)st->st_size,
                     (long long)st->st_mtime);
    return sv_fnv1a(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static int resolve_stored(const char *image, const struct sv_idmap *map, char **lower,
                          struct sv_image_config *cfg, char digest[72], sv_error_t *err)
{
    int found = sv_image_lookup(image, digest, err);
    if (found < 0)
        return -1;
    if (found == 1)
        return sv_error(err, ENOENT,
                        "no image \"%s\" in the store: servos image pull %s (or give \"host\", "
                        "a root file system directory or a tarball)",
                        image, image);
    struct sv_image img;
    if (sv_image_load(digest, &img, err) < 0)
        return -1;
    int rc = sv_image_lowerdirs(&img, map, lower, err);
    if (rc == 0)
        rc = sv_image_config_load(&img, cfg, err);
    sv_image_clear(&img);
    return rc;
}

int sv_rootfs_guard_dir(const char *dir, sv_error_t *err)
{
    struct sv_idmap range;
    if (sv_userns_range(&range, err) < 0)
        return -1;
    cleanup_free char *parent = sv_dirname(dir);
    if (sv_mkdir_p(parent, 0711, err) < 0)
        return -1;
    if (mkdir(dir, 0710) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cannot create %s", dir);
    if (geteuid() != 0) /* not ours to hand over; nor is any container's root */
        return 0;
    cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return sv_error(err, errno, "cannot open %s", dir);
    if (st.st_uid != 0)
        return sv_error(err, 0, "%s belongs to uid %u, not root: refusing to use it", dir,
                        (unsigned)st.st_uid);
    if ((st.st_gid != range.gid_base && fchown(fd, (uid_t)-1, range.gid_base) < 0) ||
        ((st.st_mode & 07777) != 0710 && fchmod(fd, 0710) < 0))
        return sv_error(err, errno, "cannot restrict %s to root and the containers' group", dir);
    return 0;
}

int sv_rootfs_resolve(const char *image, const struct sv_idmap *map, char **lower,
                      enum sv_rootfs_kind *kind, struct sv_image_config *cfg, char digest[72],
                      sv_error_t *err)
{
    *kind = SV_ROOTFS_STORE;
    digest[0] = '\0';
    cleanup_free char *images = sv_xasprintf("%s/images", sv_state_root());
    if (sv_rootfs_guard_dir(images, err) < 0)
        return -1;
    if (strcmp(image, "host") == 0) {
        *kind = SV_ROOTFS_HOST;
        cleanup_free char *dir =
            sv_xasprintf("%s/images/host-%u", sv_state_root(), (unsigned)map->uid_base);
        if (access(dir, F_OK) < 0 && make_host_base(dir, map->uid_base, map->gid_base, err) < 0)
            return -1;
        *lower = sv_steal(dir);
        return 0;
    }
    struct stat st;
    if (stat(image, &st) < 0) {
        /* Paths start with "/" or "."; everything else is a reference. */
        if (image[0] != '/' && image[0] != '.')
            return resolve_stored(image, map, lower, cfg, digest, err);
        return sv_error(err, errno, "image %s", image);
    }
    char real[4096];
    if (realpath(image, real) == NULL)
        return sv_error(err, errno, "image %s", image);
    if (S_ISDIR(st.st_mode)) {
        *kind = SV_ROOTFS_DIR;
        *lower = sv_xstrdup(real);
        return 0;
    }
    if (!S_ISREG(st.st_mode))
        return sv_error(err, EINVAL, "image %s: not a directory or a tarball", image);
    *kind = SV_ROOTFS_TARBALL;
    cleanup_free char *dir =
        sv_xasprintf("%s/images/tar-%016llx-%u", sv_state_root(),
                     (unsigned long long)tarball_key(real, &st), (unsigned)map->uid_base);
    if (access(dir, F_OK) < 0) {
        cleanup_free char *parent = sv_dirname(dir);
        if (sv_mkdir_p(parent, 0711, err) < 0 || sv_unpack_tarball(real, dir, map, err) < 0)
            return -1;
    }
    *lower = sv_steal(dir);
    return 0;
}
