/* The container's mounts, made by its child (child.c) inside its new
 * mount namespace, before it drops privileges: a scratch tmpfs for its
 * writable layer and generated /etc files, the overlay root over the
 * image, a host image's read-only /usr and friends, /proc, /sys and a
 * /dev of its own, the volumes and tmpfs mounts, the masked and frozen
 * paths; then pivot_root. Every path inside the root is resolved beneath
 * the root's descriptor, never through a link the image holds. */
#include "runtime/mounts.h"

#include "core/safepath.h"
#include "runtime/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Host files under /etc that programs need and users expect to match. */
static const char *const host_etc[] = {"/etc/ld.so.cache", "/etc/alternatives"};

/* The resolver a container on the host's network uses: the host's, as
 * podman gives it (a build's apt-get must resolve the mirror's name);
 * else no server, the one a container without a route out can reach. */
static char *resolv_conf(bool host_netns)
{
    char *text = NULL;
    if (host_netns && sv_read_file("/etc/resolv.conf", 64 << 10, &text, NULL, NULL) == 0)
        return text;
    return sv_xstrdup("nameserver 127.0.0.1\n");
}

/* Generated /etc files, written into the container's scratch tmpfs. */
static int write_etc(const char *rt, const struct sv_run_spec *s, bool host_netns, sv_error_t *err)
{
    const char *hn = s->hostname;
    cleanup_free char *hostname = sv_xasprintf("%s\n", hn);
    cleanup_free char *extra = NULL;
    size_t extra_len = 0;
    FILE *m = open_memstream(&extra, &extra_len);
    if (m == NULL)
        sv_oom();
    for (char **l = s->extra_hosts; l && *l; l++)
        fprintf(m, "%s\n", *l);
    fclose(m); /* sets extra */
    cleanup_free char *hosts =
        sv_xasprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                     "127.0.1.1\t%s\n%s",
                     hn, extra);
    /* "multi on": glibc then returns every line of a name, so a service
     * name with several replicas resolves to all of them. */
    cleanup_free char *resolv = resolv_conf(host_netns);
    const char *names[] = {"hostname", "hosts", "resolv.conf", "host.conf"};
    const char *texts[] = {hostname, hosts, resolv, "multi on\n"};
    for (size_t i = 0; i < SV_ARRAY_LEN(names); i++) {
        cleanup_free char *p = sv_xasprintf("%s/%s", rt, names[i]);
        if (sv_rootfs_write_text(p, texts[i], 0644, err) < 0)
            return -1;
    }
    return 0;
}

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
    cleanup_free char *sz = has_size ? sv_xstrdup("") : sv_xasprintf(",size=%lld", size);
    cleanup_free char *in = has_inodes ? sv_xstrdup("") : sv_xasprintf(",nr_inodes=%lld", inodes);
    char *out = sv_xasprintf("%s%s%s", given ? given : "", sz, in);
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

/* "/proc/self/fd/N": mount(2) on a descriptor, so the kernel mounts on
 * exactly what was opened beneath the root, whatever a path would resolve
 * to by now. (The host's /proc is still ours until pivot_root.) */
static const char *fd_path(int fd, char buf[32])
{
    snprintf(buf, 32, "/proc/self/fd/%d", fd);
    return buf;
}

static int mount_fs_on(const char *type, int target, unsigned long flags, const char *data,
                       const char *shown, sv_error_t *err)
{
    char p[32];
    if (mount(type, fd_path(target, p), type, flags, data) < 0)
        return sv_error(err, errno, "mount %s on %s", type, shown);
    return 0;
}

/* A detached copy of the mount tree at dirfd/src ("" for dirfd itself), an
 * fd for attach_tree. */
static int clone_tree_at(int dirfd, const char *src, bool recursive, sv_error_t *err)
{
    int fd = (int)syscall(SYS_open_tree, dirfd, src,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0) |
                              (*src ? 0 : AT_EMPTY_PATH));
    if (fd < 0)
        return sv_error(err, errno, "cannot bind %s", *src ? src : "a path in the container");
    return fd;
}

/* Attach a detached tree at target. Read-only and the extra attributes
 * are set on the whole tree before it is attached (a remount after a bind
 * left a moment of a writable mount, and left its submounts writable);
 * mount_setattr only adds flags, so those the kernel locked stay. */
static int attach_tree(int tree, int target, bool read_only, uint64_t attrs, const char *shown,
                       sv_error_t *err)
{
    struct mount_attr attr = {.attr_set = attrs | (read_only ? MOUNT_ATTR_RDONLY : 0)};
    if (attr.attr_set &&
        syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
        return sv_error(err, errno, "cannot set the options of the mount at %s", shown);
    if (syscall(SYS_move_mount, tree, "", target, "",
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return sv_error(err, errno, "cannot mount on %s", shown);
    return 0;
}

static int bind_on(const char *src, int target, bool read_only, bool recursive, const char *shown,
                   sv_error_t *err)
{
    cleanup_close int tree = clone_tree_at(AT_FDCWD, src, recursive, err);
    if (tree < 0)
        return -1;
    return attach_tree(tree, target, read_only, 0, shown, err);
}

/* Is fd the entry name of the root (without following a link)? */
static bool is_entry(int rootfd, const struct stat *st, const char *name)
{
    struct stat e;
    return fstatat(rootfd, name, &e, AT_SYMLINK_NOFOLLOW) == 0 && st->st_dev == e.st_dev &&
           st->st_ino == e.st_ino;
}

/* What a mount must never land on, whatever path led there: the root
 * itself (its source would become the container's root: "-v /:/." or an
 * image link "data -> /"), the runtime's procfs (a bind there could undo
 * its masks), or the /sys and /dev it mounted. A link may lead there
 * though the path looked harmless. Below /sys and /dev is allowed, as
 * runc allows it (-v /sys/fs/cgroup:/sys/fs/cgroup:ro). */
static int check_landing(int rootfd, int fd, const char *what, const char *shown, sv_error_t *err)
{
    struct stat st, rst;
    struct statfs fs;
    if (fstat(fd, &st) < 0 || fstat(rootfd, &rst) < 0 || fstatfs(fd, &fs) < 0)
        return sv_error(err, errno, "%s %s", what, shown);
    if (st.st_dev == rst.st_dev && st.st_ino == rst.st_ino)
        return sv_error(err, 0, "%s %s: it leads to the container's root", what, shown);
    if (fs.f_type == PROC_SUPER_MAGIC)
        return sv_error(err, 0, "%s %s: it leads into the container's /proc", what, shown);
    if (is_entry(rootfd, &st, "sys") || is_entry(rootfd, &st, "dev"))
        return sv_error(err, 0, "%s %s: it leads to the container's /%s", what, shown,
                        is_entry(rootfd, &st, "sys") ? "sys" : "dev");
    return 0;
}

/* A mount target beneath the root (made as make says), checked. */
static int open_target(int rootfd, const char *path, enum sv_path_make make, const char *what,
                       sv_error_t *err)
{
    cleanup_close int fd = sv_path_open_in(rootfd, path, make, what, err);
    if (fd >= 0 && check_landing(rootfd, fd, what, path, err) < 0)
        return -1;
    return sv_steal_fd(fd);
}

/* A mount point for a file; an existing one is left alone (opening it for
 * writing would copy it up, which container root may not be allowed to). */
static int ensure_file(const char *path, sv_error_t *err)
{
    if (access(path, F_OK) == 0)
        return 0;
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return sv_error(err, errno, "cannot create %s", path);
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

/* The devices passed in: their nodes, made on the host side in a tmpfs of
 * their own (devices.h), attached on the scratch tmpfs (gone with the old
 * root), then each bound at its target beneath the root; a pseudo-
 * terminal is the host's own node, bound read-only (no chmod through it). */
static int setup_devices(const struct sv_container *c, int rootfd, const char *rt, sv_error_t *err)
{
    if (c->spec.n_devices == 0)
        return 0;
    cleanup_free char *dir = sv_xasprintf("%s/devices", rt);
    cleanup_close int at = -1;
    if (c->dev_fd >= 0 &&
        (mkdir(dir, 0755) < 0 || (at = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0))
        return sv_error(err, errno, "cannot create %s", dir);
    if (c->dev_fd >= 0 && attach_tree(c->dev_fd, at, false, 0, dir, err) < 0)
        return -1;
    for (size_t i = 0; i < c->spec.n_devices; i++) {
        const struct sv_device_spec *d = &c->spec.devices[i];
        bool host = c->dev_rules[i].host_node;
        cleanup_free char *node = host ? sv_xstrdup(d->source) : sv_xasprintf("%s/%zu", dir, i);
        cleanup_close int tree = clone_tree_at(AT_FDCWD, node, false, err);
        cleanup_close int t =
            tree < 0 ? -1 : open_target(rootfd, d->target, SV_PATH_FILE, "device", err);
        if (t < 0 || attach_tree(tree, t, host, 0, d->target, err) < 0)
            return -1;
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

static int mask_and_freeze(int rootfd, sv_error_t *err)
{
    for (size_t i = 0; i < SV_ARRAY_LEN(masked_paths); i++) {
        sv_error_t ignored = NULL;
        cleanup_close int p =
            sv_path_open_in(rootfd, masked_paths[i], SV_PATH_EXISTING, "masked path", &ignored);
        sv_error_free(&ignored);
        struct stat st;
        if (p < 0 || fstat(p, &st) < 0)
            continue;
        int rc;
        if (S_ISDIR(st.st_mode)) {
            rc = mount_fs_on("tmpfs", p, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0",
                             masked_paths[i], err);
        } else {
            cleanup_close int null =
                sv_path_open_in(rootfd, "/dev/null", SV_PATH_EXISTING, "the container's", err);
            cleanup_close int tree = null < 0 ? -1 : clone_tree_at(null, "", false, err);
            rc = tree < 0 ? -1 : attach_tree(tree, p, false, 0, masked_paths[i], err);
        }
        if (rc < 0)
            return -1;
    }
    for (size_t i = 0; i < SV_ARRAY_LEN(readonly_paths); i++) {
        sv_error_t ignored = NULL;
        cleanup_close int p =
            sv_path_open_in(rootfd, readonly_paths[i], SV_PATH_EXISTING, "path", &ignored);
        sv_error_free(&ignored);
        if (p < 0)
            continue;
        cleanup_close int tree = clone_tree_at(p, "", true, err);
        if (tree < 0 || attach_tree(tree, p, true, 0, readonly_paths[i], err) < 0)
            return -1;
    }
    return 0;
}

/* The mount flags among a tmpfs's options (Docker's "rw,noexec,size=64m"):
 * tmpfs itself takes only its KEY=VALUE options (spec.c checked
 * them). Returns the rest, or NULL. */
static char *tmpfs_flags(const char *given, unsigned long *flags)
{
    if (given == NULL)
        return NULL;
    char *out = sv_xcalloc(1, strlen(given) + 1);
    cleanup_free char *copy = sv_xstrdup(given);
    for (char *p = copy, *o; (o = strsep(&p, ",")) != NULL;) {
        if (strcmp(o, "ro") == 0)
            *flags |= MS_RDONLY;
        else if (strcmp(o, "rw") == 0)
            *flags &= ~(unsigned long)MS_RDONLY;
        else if (strcmp(o, "noexec") == 0)
            *flags |= MS_NOEXEC;
        else if (strcmp(o, "exec") == 0)
            *flags &= ~(unsigned long)MS_NOEXEC;
        else if (strcmp(o, "nosuid") != 0 && strcmp(o, "nodev") != 0 && *o)
            sprintf(out + strlen(out), "%s%s", *out ? "," : "", o);
    }
    if (*out)
        return out;
    free(out);
    return NULL;
}

/* Volumes and tmpfs mounts, each on its target opened beneath the root
 * (made there if missing), so an image's links lead where the container
 * would see them lead, never onto the host. */
static int setup_binds(const struct sv_container *c, int rootfd, sv_error_t *err)
{
    for (size_t i = 0; i < c->spec.n_binds; i++) {
        const struct sv_bind *b = &c->spec.binds[i];
        if (b->tmpfs) {
            unsigned long flags = MS_NOSUID | MS_NODEV;
            cleanup_free char *data = tmpfs_flags(b->source, &flags);
            cleanup_free char *opts = tmpfs_options(data, layer_size(&c->spec));
            cleanup_close int t = open_target(rootfd, b->target, SV_PATH_DIR, "tmpfs", err);
            if (t < 0 || mount_fs_on("tmpfs", t, flags, opts, b->target, err) < 0)
                return -1;
            continue;
        }
        /* An idmapped copy (see idmap.h) is made on the host side; the
         * rest are cloned here, from our copy of the host's mounts. */
        cleanup_close int own =
            b->idmap_fd >= 0 ? -1 : clone_tree_at(AT_FDCWD, b->source, true, err);
        int tree = b->idmap_fd >= 0 ? b->idmap_fd : own;
        struct stat st;
        if (tree < 0)
            return -1;
        if (fstat(tree, &st) < 0)
            return sv_error(err, errno, "volume source %s", b->source);
        cleanup_close int t =
            open_target(rootfd, b->target, S_ISDIR(st.st_mode) ? SV_PATH_DIR : SV_PATH_FILE,
                        "volume target", err);
        /* What a container writes through an idmapped volume is the host
         * user's: its setuid files must not count inside. No volume opens
         * device nodes (a node that container root made there with
         * --cap-add MKNOD would open whatever device the policy lets
         * through, all of them where it could not be applied: devices.h),
         * but one the user binds on purpose: a device itself. */
        uint64_t attrs = b->idmap_fd >= 0 ? MOUNT_ATTR_NOSUID : 0;
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
            attrs |= MOUNT_ATTR_NODEV;
        if (t < 0 || attach_tree(tree, t, b->read_only, attrs, b->target, err) < 0)
            return -1;
    }
    return 0;
}

/* EACCES on paths: the container's root (an unprivileged host uid) may
 * not pass some directory on the way. Names the first one it cannot
 * search, walking each colon-separated path from "/", as this process
 * (that uid) sees them. */
static int unreachable(const struct sv_container *c, const char *paths, const char *what,
                       sv_error_t *err)
{
    cleanup_free char *all = sv_xstrdup(paths);
    char *save = NULL;
    for (char *p = strtok_r(all, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
        cleanup_free char *full = sv_xstrdup(p);
        for (char *slash = p + 1;; slash++) {
            if (*slash != '/' && *slash != '\0')
                continue;
            char was = *slash;
            *slash = '\0';
            struct stat st;
            if (access(p, X_OK) < 0 && errno == EACCES && stat(p, &st) == 0)
                return sv_error(err, EACCES,
                                "%s: its root (host uid %u) cannot pass %s (mode %04o); every "
                                "directory above %s needs o+x, or run it with --userns host",
                                what, (unsigned)c->map.uid_base, p, (unsigned)(st.st_mode & 07777),
                                full);
            if (was == '\0')
                break;
            *slash = was;
        }
    }
    return sv_error(err, EACCES, "%s: its root (host uid %u) may not use %s", what,
                    (unsigned)c->map.uid_base, paths);
}

/* proc, sys and dev: real directories of the root (made if missing). A
 * link there ("proc -> /tmp/p") is refused: every later path through them
 * (masks, /dev nodes) must stay on what the runtime mounted. */
static int mountpoint_in(int rootfd, const char *name, sv_error_t *err)
{
    if (mkdirat(rootfd, name, 0755) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cannot create /%s in the container's root file system", name);
    int fd = openat(rootfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return sv_error(err, errno,
                        "the image's /%s is not a directory (a root file system needs one "
                        "there)",
                        name);
    return fd;
}

/* The container's writable layer, its root mount point and generated
 * /etc files live on a tmpfs mounted in its own mount namespace only
 * (over the state root's containers/ directory, rt): nothing is written
 * to the host's disk, its pages are charged to the container's memory
 * cgroup, and it all vanishes with the namespace. */
static int mount_scratch(const struct sv_container *c, const char *rt, sv_error_t *err)
{
    cleanup_free char *rt_opts = tmpfs_options("mode=0755", layer_size(&c->spec));
    if (mount("tmpfs", rt, "tmpfs", MS_NOSUID | MS_NODEV, rt_opts) < 0) {
        if (errno == EACCES)
            return unreachable(c, rt, "cannot mount the container's scratch space", err);
        return sv_error(err, errno, "mount tmpfs on %s", rt);
    }
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
    return write_etc(rt, &c->spec, c->host_netns, err);
}

/* The overlay at root: the image below (a directory image through the
 * mount the parent opened), the scratch's upper and work dirs above. */
static int mount_overlay(const struct sv_container *c, const char *rt, const char *root,
                         sv_error_t *err)
{
    /* A directory image comes as a mount the parent opened (and idmapped
     * when needed): attached on the scratch tmpfs, it is the lower layer,
     * and the path to the user's directory is never walked from here. */
    cleanup_free char *lower = NULL;
    if (c->lower_fd >= 0) {
        lower = sv_xasprintf("%s/lower", rt);
        cleanup_close int at = -1;
        if (mkdir(lower, 0755) < 0 ||
            (at = open(lower, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
            return sv_error(err, errno, "cannot create %s", lower);
        if (attach_tree(c->lower_fd, at, true, 0, lower, err) < 0)
            return -1;
    }
    /* A build step's upper layer is kept on disk (see container.h). */
    const char *up = c->spec.build_upper ? c->spec.build_upper : rt;
    cleanup_free char *opts =
        sv_xasprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work%s", lower ? lower : c->lower,
                     up, up, c->spec.userns_host ? "" : ",userxattr");
    /* nodev as on /dev: a node made in the layer opens nothing. */
    if (mount("overlay", root, "overlay", MS_NODEV, opts) < 0) {
        int e = errno;
        if (e == EACCES && lower == NULL)
            return unreachable(c, c->lower, "cannot mount the container's root file system", err);
        if (e == EINVAL && c->lower_shifted)
            return sv_error(err, e,
                            "cannot mount the container's root file system on %s as an idmapped "
                            "lower layer: overlayfs takes idmapped layers from Linux 5.19 on; run "
                            "it with --userns host, or pack it as a tarball (tar -C %s -cf "
                            "rootfs.tar .), which servos unpacks onto the containers' ids",
                            c->lower, c->lower);
        return sv_error(err, e, "mount overlay on %s", root);
    }
    return 0;
}

/* A "host" image: the host's /usr and friends and a few /etc files,
 * read-only, and /tmp and /run from the scratch tmpfs. */
static int bind_host(int rootfd, const char *rt, const char *root, sv_error_t *err)
{
    for (size_t i = 0; i < sv_rootfs_n_host_dirs; i++) {
        const char *dir = sv_rootfs_host_dirs[i];
        struct stat st;
        if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        cleanup_close int t = open_target(rootfd, dir, SV_PATH_EXISTING, "host directory", err);
        if (t < 0 || bind_on(dir, t, true, true, dir, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < SV_ARRAY_LEN(host_etc); i++) {
        if (access(host_etc[i], F_OK) < 0)
            continue;
        cleanup_close int t = open_target(rootfd, host_etc[i], SV_PATH_EXISTING, "host file", err);
        if (t < 0 || bind_on(host_etc[i], t, true, false, host_etc[i], err) < 0)
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
    return 0;
}

/* The generated /etc files, each bound on its own in the image's /etc. */
static int bind_etc(const struct sv_container *c, int rootfd, const char *rt, sv_error_t *err)
{
    static const char *const etc_files[] = {"hostname", "hosts", "resolv.conf", "host.conf"};
    for (size_t i = 0; i < SV_ARRAY_LEN(etc_files); i++) {
        /* On a stack network, names come from the stack's hosts file. */
        bool stack_hosts = i == 1 && c->spec.network == SV_NET_STACK && c->spec.net.hosts;
        cleanup_free char *src =
            stack_hosts ? sv_xstrdup(c->spec.net.hosts) : sv_xasprintf("%s/%s", rt, etc_files[i]);
        cleanup_free char *dst = sv_xasprintf("/etc/%s", etc_files[i]);
        cleanup_close int t = open_target(rootfd, dst, SV_PATH_FILE, "generated file", err);
        struct stat st;
        if (t >= 0 && fstat(t, &st) == 0 && S_ISDIR(st.st_mode))
            return sv_error(err, EISDIR,
                            "the image's %s is a directory, where servos mounts the file it "
                            "generates",
                            dst);
        if (t < 0 || bind_on(src, t, stack_hosts, false, dst, err) < 0)
            return -1;
    }
    return 0;
}

/* /proc, and /sys as the network allows (see below); /dev's mount point
 * is checked here too, for setup_dev. */
static int mount_proc_sys(const struct sv_container *c, int rootfd, sv_error_t *err)
{
    cleanup_close int proc = mountpoint_in(rootfd, "proc", err);
    cleanup_close int sys = proc < 0 ? -1 : mountpoint_in(rootfd, "sys", err);
    cleanup_close int dev = sys < 0 ? -1 : mountpoint_in(rootfd, "dev", err);
    if (dev < 0)
        return -1;
    if (mount_fs_on("proc", proc, MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/proc", err) < 0)
        return -1;
    /* sysfs needs a network namespace of our own. Without one, the host's
     * /sys (read-only) where the network is truly the host's, by the
     * user's choice, as rootless podman does; else (a namespace joined,
     * another container's) an empty one: the host's would show other
     * containers' cgroups and the host's links. */
    sv_error_t no_sysfs = NULL;
    if (mount_fs_on("sysfs", sys, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "/sys",
                    &no_sysfs) < 0 &&
        (c->host_netns ? bind_on("/sys", sys, true, true, "/sys", err)
                       : mount_fs_on("tmpfs", sys, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                                     "size=0", "/sys", err)) < 0) {
        sv_error_free(&no_sysfs);
        return -1;
    }
    sv_error_free(&no_sysfs);
    return 0;
}

/* pivot_root(".", "."): the old root ends up stacked on the new one and
 * is detached at once; no directory for it is needed. */
static int pivot_into(int rootfd, const char *root, bool read_only, sv_error_t *err)
{
    if (fchdir(rootfd) < 0)
        return sv_error(err, errno, "chdir %s", root);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return sv_error(err, errno, "pivot_root into %s", root);
    if (umount2(".", MNT_DETACH) < 0)
        return sv_error(err, errno, "cannot detach the old root");
    if (chdir("/") < 0)
        return sv_error(err, errno, "chdir /");
    /* A bind remount sets every per-mount flag: keep nodev. */
    if (read_only && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV, NULL) < 0)
        return sv_error(err, errno, "remount / read-only");
    return 0;
}

int sv_mounts_setup(const struct sv_container *c, int *sysctl_dir, sv_error_t *err)
{
    /* Nothing we mount may propagate back to the host. */
    if (do_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL, err) < 0)
        return -1;
    cleanup_free char *rt = sv_xasprintf("%s/containers", sv_state_root());
    cleanup_free char *root = sv_xasprintf("%s/rootfs", rt);
    if (mount_scratch(c, rt, err) < 0 || mount_overlay(c, rt, root, err) < 0)
        return -1;
    /* From here on every path inside the root is resolved beneath this
     * descriptor: the image shapes the tree, not where our mounts go. */
    cleanup_close int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return sv_error(err, errno, "cannot open %s", root);
    if (c->image_kind == SV_ROOTFS_HOST && bind_host(rootfd, rt, root, err) < 0)
        return -1;
    if (bind_etc(c, rootfd, rt, err) < 0 || mount_proc_sys(c, rootfd, err) < 0)
        return -1;
    /* Sysctls are written once the network is up, after /proc/sys is
     * read-only: through this descriptor of the proc mount beneath. */
    if (c->spec.sysctls && (*sysctl_dir = sv_path_open_in(rootfd, "/proc/sys", SV_PATH_EXISTING,
                                                          "/proc/sys", err)) < 0)
        return -1;
    if (setup_dev(root, err) < 0 || setup_devices(c, rootfd, rt, err) < 0 ||
        setup_binds(c, rootfd, err) < 0 || mask_and_freeze(rootfd, err) < 0)
        return -1;
    /* The working directory, made beneath the root when missing (the
     * child's chdir after the pivot needs it there). */
    if (c->spec.workdir) {
        cleanup_close int wd =
            sv_path_open_in(rootfd, c->spec.workdir, SV_PATH_DIR, "working directory", err);
        if (wd < 0)
            return -1;
    }
    return pivot_into(rootfd, root, c->spec.read_only, err);
}
