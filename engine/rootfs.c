#include "rootfs.h"

#include "idmap.h"
#include "imgstore.h"
#include "unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Host directories a "host" container sees read-only. Debian 12 has merged
 * /usr, so most of these are symlinks, mirrored as symlinks in the base. */
static const char *const host_dirs[] = {"/usr",   "/bin",   "/sbin",  "/lib",
                                        "/lib32", "/lib64", "/libx32"};
/* Host files under /etc that programs need and users expect to match. */
static const char *const host_etc[] = {"/etc/ld.so.cache", "/etc/alternatives"};

static int write_text(const char *path, const char *text, mode_t mode, sv_error_t *err)
{
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return sv_error(err, errno, "cannot create %s", path);
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n)
        return sv_error(err, errno, "cannot write %s", path);
    return 0;
}

/* Build the host base in a temporary directory and rename it into place,
 * so a crash never leaves half a base that later runs would trust. */
static uid_t chown_uid;
static gid_t chown_gid;
static int chown_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return lchown(path, chown_uid, chown_gid) < 0 ? -1 : 0;
}

/* The base is owned by container root (the shared user-namespace range),
 * so a container may change its /etc through the overlay. */
static int make_host_base(const char *dir, uid_t uid, gid_t gid, sv_error_t *err)
{
    cleanup_free char *tmp = sv_xasprintf("%s.tmp.%d", dir, (int)getpid());
    cleanup_free char *parent = sv_dirname(dir);
    if (sv_mkdir_p(parent, 0711, err) < 0)
        return -1;
    sv_rmtree(tmp, NULL);
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
    for (size_t i = 0; i < SV_ARRAY_LEN(host_dirs); i++) {
        struct stat st;
        if (lstat(host_dirs[i], &st) < 0)
            continue;
        cleanup_free char *p = sv_xasprintf("%s%s", tmp, host_dirs[i]);
        if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlink(host_dirs[i], target, sizeof(target) - 1);
            if (n < 0)
                return sv_error(err, errno, "cannot read the link %s", host_dirs[i]);
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
        if (write_text(p, etc[i].text, 0644, err) < 0)
            return -1;
    }
    cleanup_free char *alt = sv_xasprintf("%s/etc/alternatives", tmp);
    if (mkdir(alt, 0755) < 0)
        return sv_error(err, errno, "cannot create %s", alt);
    chown_uid = uid, chown_gid = gid;
    if (nftw(tmp, chown_entry, 32, FTW_PHYS) < 0)
        return sv_error(err, errno, "cannot hand %s to the container's root", tmp);
    if (rename(tmp, dir) < 0 && errno != EEXIST && errno != ENOTEMPTY)
        return sv_error(err, errno, "cannot move %s into place", dir);
    sv_rmtree(tmp, NULL); /* lost a race with another servos: theirs is as good */
    return 0;
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

int sv_image_resolve(const char *image, const struct sv_idmap *map, char **lower, bool *host,
                     struct sv_image_config *cfg, char digest[72], sv_error_t *err)
{
    *host = false;
    digest[0] = '\0';
    if (strcmp(image, "host") == 0) {
        *host = true;
        char *dir = sv_xasprintf("%s/images/host-%u", sv_state_root(), (unsigned)map->uid_base);
        if (access(dir, F_OK) < 0 && make_host_base(dir, map->uid_base, map->gid_base, err) < 0) {
            free(dir);
            return -1;
        }
        *lower = dir;
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
        *lower = sv_xstrdup(real);
        return 0;
    }
    if (!S_ISREG(st.st_mode))
        return sv_error(err, EINVAL, "image %s: not a directory or a tarball", image);
    char *dir = sv_xasprintf("%s/images/tar-%016llx-%u", sv_state_root(),
                             (unsigned long long)tarball_key(real, &st), (unsigned)map->uid_base);
    if (access(dir, F_OK) < 0) {
        cleanup_free char *parent = sv_dirname(dir);
        if (sv_mkdir_p(parent, 0711, err) < 0 || sv_unpack_tarball(real, dir, map, err) < 0) {
            free(dir);
            return -1;
        }
    }
    *lower = dir;
    return 0;
}

/* Generated /etc files, written into the container's scratch tmpfs. */
static int write_etc(const char *rt, const char *hn, sv_error_t *err)
{
    cleanup_free char *hostname = sv_xasprintf("%s\n", hn);
    cleanup_free char *hosts =
        sv_xasprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                     "127.0.1.1\t%s\n",
                     hn);
    /* "multi on": glibc then returns every line of a name, so a service
     * name with several replicas resolves to all of them. */
    const char *names[] = {"hostname", "hosts", "resolv.conf", "host.conf"};
    const char *texts[] = {hostname, hosts, "nameserver 127.0.0.1\n", "multi on\n"};
    for (size_t i = 0; i < SV_ARRAY_LEN(names); i++) {
        cleanup_free char *p = sv_xasprintf("%s/%s", rt, names[i]);
        if (write_text(p, texts[i], 0644, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- inside the container's mount namespace ---------------------------- */

/* What a container may write outside its volumes: its layer lives in RAM,
 * where an unsized tmpfs may take half of it. The memory limit, when there
 * is one, is the natural bound (the pages are charged to the container's
 * cgroup anyway); else a fixed one. --layer-size overrides both. */
static long long layer_size(const struct sv_run_spec *s)
{
    if (s->layer_size > 0)
        return s->layer_size;
    if (s->limits.memory > 0)
        return s->limits.memory;
    return SV_LAYER_SIZE_DEFAULT;
}

/* tmpfs options with a size (given ones win): size bounds the pages, and
 * nr_inodes the kernel memory of files, which size does not count (an
 * unsized tmpfs allows half of RAM's pages as inodes). One inode per KB,
 * at least 64K. */
static char *tmpfs_options(const char *given, long long size)
{
    bool has_size = given && (strncmp(given, "size=", 5) == 0 || strstr(given, ",size="));
    bool has_inodes =
        given && (strncmp(given, "nr_inodes=", 10) == 0 || strstr(given, ",nr_inodes="));
    long long inodes = size / 1024 > 65536 ? size / 1024 : 65536;
    char *sz = has_size ? sv_xstrdup("") : sv_xasprintf(",size=%lld", size);
    char *in = has_inodes ? sv_xstrdup("") : sv_xasprintf(",nr_inodes=%lld", inodes);
    char *out = sv_xasprintf("%s%s%s", given ? given : "", sz, in);
    free(sz);
    free(in);
    return out[0] == ',' ? memmove(out, out + 1, strlen(out)) : out;
}

static int do_mount(const char *src, const char *dst, const char *type, unsigned long flags,
                    const char *data, sv_error_t *err)
{
    if (mount(src, dst, type, flags, data) < 0)
        return sv_error(err, errno, "mount %s on %s (%s)", src ? src : "none", dst,
                        type ? type : "bind");
    return 0;
}

/* Bind, then remount read-only: a bind ignores MS_RDONLY on its first call.
 * The remount must keep the flags the kernel locked on the source mount
 * (nosuid, nodev, noexec) or a user namespace gets EPERM. */
static int bind_ro(const char *src, const char *dst, bool recursive, sv_error_t *err)
{
    if (do_mount(src, dst, NULL, MS_BIND | (recursive ? MS_REC : 0), NULL, err) < 0)
        return -1;
    struct statvfs sv;
    unsigned long keep = 0;
    if (statvfs(dst, &sv) == 0) {
        keep |= sv.f_flag & ST_NOSUID ? MS_NOSUID : 0;
        keep |= sv.f_flag & ST_NODEV ? MS_NODEV : 0;
        keep |= sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0;
    }
    if (mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | keep, NULL) < 0)
        return sv_error(err, errno, "remount %s read-only", dst);
    return 0;
}

/* A mount point for a file; an existing one is left alone (opening it for
 * writing would copy it up, which container root may not be allowed to). */
static int ensure_file(const char *path, sv_error_t *err)
{
    if (access(path, F_OK) == 0)
        return 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return sv_error(err, errno, "cannot create %s", path);
    close(fd);
    return 0;
}

static int setup_dev(const char *root, sv_error_t *err)
{
    cleanup_free char *dev = sv_xasprintf("%s/dev", root);
    /* nodev: a node container root makes here (CAP_MKNOD works without a
     * user namespace) opens nothing; the nodes below are mounts of their
     * own, which the flag does not reach. */
    if (do_mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV, "mode=755,size=65536k",
                 err) < 0)
        return -1;
    /* The host's nodes, bound (mknod is not allowed in a user namespace, as
     * rootless runtimes know), and read-only: a bind shares the host's
     * inode, so container root with --userns host could chmod or chown the
     * host's /dev/null; on a read-only mount that is EROFS, while reading
     * and writing the device itself still work. */
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    for (size_t i = 0; i < SV_ARRAY_LEN(nodes); i++) {
        cleanup_free char *host = sv_xasprintf("/dev/%s", nodes[i]);
        cleanup_free char *p = sv_xasprintf("%s/%s", dev, nodes[i]);
        struct stat st;
        if (stat(host, &st) < 0 || !S_ISCHR(st.st_mode))
            return sv_error(err, ENODEV, "the host's %s is not a character device", host);
        if (ensure_file(p, err) < 0 || do_mount(host, p, NULL, MS_BIND, NULL, err) < 0)
            return -1;
        if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) <
            0)
            return sv_error(err, errno, "remount %s read-only", p);
    }
    static const struct {
        const char *dir, *type, *data;
        unsigned long flags;
    } mounts[] = {
        {"pts", "devpts", "newinstance,ptmxmode=0666,mode=0620,gid=5", MS_NOSUID | MS_NOEXEC},
        {"shm", "tmpfs", "mode=1777,size=65536k", MS_NOSUID | MS_NODEV | MS_NOEXEC},
        {"mqueue", "mqueue", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC},
    };
    for (size_t i = 0; i < SV_ARRAY_LEN(mounts); i++) {
        cleanup_free char *p = sv_xasprintf("%s/%s", dev, mounts[i].dir);
        if (mkdir(p, 0755) < 0)
            return sv_error(err, errno, "cannot create %s", p);
        const char *data = mounts[i].data;
        if (mount(mounts[i].type, p, mounts[i].type, mounts[i].flags, data) < 0) {
            /* gid=5 needs a mapped tty group; try without it. */
            if (strcmp(mounts[i].type, "devpts") != 0 ||
                do_mount("devpts", p, "devpts", mounts[i].flags, "newinstance,ptmxmode=0666", err) <
                    0)
                return sv_error(err, errno, "mount %s on %s", mounts[i].type, p);
        }
    }
    static const struct {
        const char *name, *target;
    } links[] = {{"ptmx", "pts/ptmx"},          {"fd", "/proc/self/fd"},
                 {"stdin", "/proc/self/fd/0"},  {"stdout", "/proc/self/fd/1"},
                 {"stderr", "/proc/self/fd/2"}, {"core", "/proc/kcore"}};
    for (size_t i = 0; i < SV_ARRAY_LEN(links); i++) {
        cleanup_free char *p = sv_xasprintf("%s/%s", dev, links[i].name);
        if (symlink(links[i].target, p) < 0)
            return sv_error(err, errno, "cannot create %s", p);
    }
    return 0;
}

/* What mature runtimes hide or freeze in /proc and /sys. */
static const char *const masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                             "/proc/sysrq-trigger"};

static int mask_and_freeze(const char *root, sv_error_t *err)
{
    for (size_t i = 0; i < SV_ARRAY_LEN(masked_paths); i++) {
        cleanup_free char *p = sv_xasprintf("%s%s", root, masked_paths[i]);
        struct stat st;
        if (stat(p, &st) < 0)
            continue;
        int rc;
        if (S_ISDIR(st.st_mode))
            rc = do_mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                          "size=0", err);
        else {
            cleanup_free char *null = sv_xasprintf("%s/dev/null", root);
            rc = do_mount(null, p, NULL, MS_BIND, NULL, err);
        }
        if (rc < 0)
            return -1;
    }
    for (size_t i = 0; i < SV_ARRAY_LEN(readonly_paths); i++) {
        cleanup_free char *p = sv_xasprintf("%s%s", root, readonly_paths[i]);
        if (access(p, F_OK) < 0)
            continue;
        if (bind_ro(p, p, true, err) < 0)
            return -1;
    }
    return 0;
}

static int setup_binds(const struct sv_container *c, const char *root, sv_error_t *err)
{
    for (size_t i = 0; i < c->spec.n_binds; i++) {
        const struct sv_bind *b = &c->spec.binds[i];
        cleanup_free char *dst = sv_xasprintf("%s%s", root, b->target);
        struct stat st;
        if (b->tmpfs) {
            cleanup_free char *opts = tmpfs_options(b->source, layer_size(&c->spec));
            if (sv_mkdir_p(dst, 0755, err) < 0 ||
                do_mount("tmpfs", dst, "tmpfs", MS_NOSUID | MS_NODEV, opts, err) < 0)
                return -1;
            continue;
        }
        if (stat(b->source, &st) < 0)
            return sv_error(err, errno, "volume source %s", b->source);
        if (S_ISDIR(st.st_mode)) {
            if (sv_mkdir_p(dst, 0755, err) < 0)
                return -1;
        } else {
            cleanup_free char *parent = sv_dirname(dst);
            if (sv_mkdir_p(parent, 0755, err) < 0 || ensure_file(dst, err) < 0)
                return -1;
        }
        if (b->idmap_fd >= 0) {
            if (sv_idmap_attach(b->idmap_fd, dst, b->read_only, err) < 0)
                return -1;
        } else if (b->read_only ? bind_ro(b->source, dst, true, err) < 0
                                : do_mount(b->source, dst, NULL, MS_BIND | MS_REC, NULL, err) < 0) {
            return -1;
        }
    }
    return 0;
}

int sv_rootfs_setup(const struct sv_container *c, sv_error_t *err)
{
    /* Nothing we mount may propagate back to the host. */
    if (do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, err) < 0)
        return -1;
    /* The container's writable layer, its root mount point and generated
     * /etc files live on a tmpfs mounted in its own mount namespace only
     * (over the state root's containers/ directory): nothing is written to
     * the host's disk, its pages are charged to the container's memory
     * cgroup, and it all vanishes with the namespace. */
    cleanup_free char *rt = sv_xasprintf("%s/containers", sv_state_root());
    cleanup_free char *rt_opts = tmpfs_options("mode=0755", layer_size(&c->spec));
    if (do_mount("tmpfs", rt, "tmpfs", MS_NOSUID | MS_NODEV, rt_opts, err) < 0)
        return -1;
    /* tmp and run: a host image's /tmp and /run, on the same budget. */
    static const struct {
        const char *name;
        mode_t mode;
    } sub[] = {{"upper", 0755}, {"work", 0755}, {"rootfs", 0755}, {"tmp", 01777}, {"run", 0755}};
    for (size_t i = 0; i < SV_ARRAY_LEN(sub); i++) {
        cleanup_free char *p = sv_xasprintf("%s/%s", rt, sub[i].name);
        if (mkdir(p, sub[i].mode) < 0 || chmod(p, sub[i].mode) < 0)
            return sv_error(err, errno, "cannot create %s", p);
    }
    if (write_etc(rt, c->spec.hostname, err) < 0)
        return -1;
    cleanup_free char *root = sv_xasprintf("%s/rootfs", rt);
    cleanup_free char *opts =
        sv_xasprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work%s", c->lower, rt, rt,
                     c->spec.userns_host ? "" : ",userxattr");
    /* nodev as on /dev: a node made in the layer opens nothing. */
    if (mount("overlay", root, "overlay", MS_NODEV, opts) < 0) {
        if (errno == EACCES)
            return sv_error(err, errno,
                            "cannot mount the container's root file system: its root (host uid "
                            "%u) cannot reach %s; every directory above it needs o+x",
                            (unsigned)c->map.uid_base, rt);
        return sv_error(err, errno, "mount overlay on %s", root);
    }
    if (c->host_image) {
        for (size_t i = 0; i < SV_ARRAY_LEN(host_dirs); i++) {
            struct stat st;
            if (lstat(host_dirs[i], &st) < 0 || !S_ISDIR(st.st_mode))
                continue;
            cleanup_free char *p = sv_xasprintf("%s%s", root, host_dirs[i]);
            if (bind_ro(host_dirs[i], p, true, err) < 0)
                return -1;
        }
        for (size_t i = 0; i < SV_ARRAY_LEN(host_etc); i++) {
            cleanup_free char *p = sv_xasprintf("%s%s", root, host_etc[i]);
            if (access(host_etc[i], F_OK) == 0 && bind_ro(host_etc[i], p, false, err) < 0)
                return -1;
        }
        /* Directories of the scratch tmpfs (nosuid, nodev like it), so
         * /tmp and /run count against the container's writable space
         * rather than taking half of RAM each. */
        static const char *const scratch[] = {"tmp", "run"};
        for (size_t i = 0; i < SV_ARRAY_LEN(scratch); i++) {
            cleanup_free char *src = sv_xasprintf("%s/%s", rt, scratch[i]);
            cleanup_free char *p = sv_xasprintf("%s/%s", root, scratch[i]);
            if (do_mount(src, p, NULL, MS_BIND, NULL, err) < 0)
                return -1;
        }
    }
    static const char *const etc_files[] = {"hostname", "hosts", "resolv.conf", "host.conf"};
    for (size_t i = 0; i < SV_ARRAY_LEN(etc_files); i++) {
        /* On a stack network, names come from the stack's hosts file. */
        bool stack_hosts = i == 1 && c->spec.network == SV_NET_STACK && c->spec.net.hosts;
        cleanup_free char *src =
            stack_hosts ? sv_xstrdup(c->spec.net.hosts) : sv_xasprintf("%s/%s", rt, etc_files[i]);
        cleanup_free char *dst = sv_xasprintf("%s/etc/%s", root, etc_files[i]);
        cleanup_free char *etc = sv_xasprintf("%s/etc", root);
        if (sv_mkdir_p(etc, 0755, err) < 0 || ensure_file(dst, err) < 0 ||
            (stack_hosts ? bind_ro(src, dst, false, err)
                         : do_mount(src, dst, NULL, MS_BIND, NULL, err)) < 0)
            return -1;
    }
    static const char *const mountpoints[] = {"proc", "sys", "dev"};
    for (size_t i = 0; i < SV_ARRAY_LEN(mountpoints); i++) {
        cleanup_free char *p = sv_xasprintf("%s/%s", root, mountpoints[i]);
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return sv_error(err, errno, "cannot create %s", p);
    }
    cleanup_free char *proc = sv_xasprintf("%s/proc", root);
    if (do_mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err) < 0)
        return -1;
    cleanup_free char *sys = sv_xasprintf("%s/sys", root);
    /* sysfs needs a network namespace of our own; else bind the host's. */
    if (mount("sysfs", sys, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
        bind_ro("/sys", sys, true, err) < 0)
        return -1;
    if (setup_dev(root, err) < 0 || setup_binds(c, root, err) < 0 || mask_and_freeze(root, err) < 0)
        return -1;
    if (c->spec.workdir) {
        cleanup_free char *wd = sv_xasprintf("%s%s", root, c->spec.workdir);
        if (sv_mkdir_p(wd, 0755, err) < 0)
            return -1;
    }
    /* pivot_root(".", "."): the old root ends up stacked on the new one and
     * is detached at once; no directory for it is needed. */
    if (chdir(root) < 0)
        return sv_error(err, errno, "chdir %s", root);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return sv_error(err, errno, "pivot_root into %s", root);
    if (umount2(".", MNT_DETACH) < 0)
        return sv_error(err, errno, "cannot detach the old root");
    if (chdir("/") < 0)
        return sv_error(err, errno, "chdir /");
    /* A bind remount sets every per-mount flag: keep nodev. */
    if (c->spec.read_only &&
        mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV, NULL) < 0)
        return sv_error(err, errno, "remount / read-only");
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP || flag == FTW_D)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int sv_rmtree(const char *path, sv_error_t *err)
{
    if (access(path, F_OK) < 0 && errno == ENOENT)
        return 0;
    if (nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
        return err ? sv_error(err, errno, "cannot remove %s", path) : -1;
    return 0;
}
