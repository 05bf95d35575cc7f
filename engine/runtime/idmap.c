#include "runtime/idmap.h"

#include "core/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Write the uid and gid maps of child pid (inside host count, each),
 * then open its user namespace: the descriptor, or -1 and errno. */
static int userns_map_open(pid_t pid, const unsigned inside[2], const unsigned host[2],
                           unsigned count)
{
    static const char *const files[] = {"uid_map", "gid_map"};
    char path[64], map[64];
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
        int n = snprintf(map, sizeof(map), "%u %u %u\n", inside[i], host[i], count);
        cleanup_close int mfd = open(path, O_WRONLY | O_CLOEXEC);
        if (mfd < 0 || write(mfd, map, (size_t)n) != n)
            return -1;
    }
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* A user namespace whose only ids are inside:uid -> host:huid and
 * inside:gid -> host:hgid, count of each: made by a child that waits
 * while we write its maps. As a mount's idmapping, on-disk uid shows as
 * host huid (the containers' root) and what that root writes lands as
 * uid. */
static int userns_fd(uid_t uid, uid_t huid, gid_t gid, gid_t hgid, unsigned count)
{
    int hold[2];
    if (pipe2(hold, O_CLOEXEC) < 0)
        return -1;
    struct clone_args args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0) {
        char c;
        close(hold[1]); /* the parent's: its close is our EOF */
        while (read(hold[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    int saved = errno; /* clone3's, should it have failed */
    close(hold[0]);    /* the child's */
    int fd = -1;
    if (pid > 0) {
        unsigned inside[] = {(unsigned)uid, (unsigned)gid},
                 host[] = {(unsigned)huid, (unsigned)hgid};
        fd = userns_map_open(pid, inside, host, count);
        saved = errno;
    }
    close(hold[1]); /* now: lets the child exit */
    if (pid > 0)
        waitpid(pid, NULL, 0);
    errno = saved; /* why fd is -1, for the caller */
    return fd;
}

/* The ids of regular accounts: [UID_MIN, UID_MAX] or [GID_MIN, GID_MAX]
 * of /etc/login.defs (1000-60000 where it says nothing). Below are root
 * and the system accounts and groups a host trusts (disk, shadow, adm,
 * sudo...); above, nobody and other users' subordinate ranges. */
static void login_range(bool group, unsigned *lo, unsigned *hi)
{
    *lo = 1000;
    *hi = 60000;
    cleanup_fclose FILE *f = fopen("/etc/login.defs", "re");
    char line[256], key[64];
    unsigned long v;
    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, " %63s %lu", key, &v) != 2 || v > UINT32_MAX)
            continue;
        if (strcmp(key, group ? "GID_MIN" : "UID_MIN") == 0)
            *lo = (unsigned)v;
        else if (strcmp(key, group ? "GID_MAX" : "UID_MAX") == 0)
            *hi = (unsigned)v;
    }
    if (*lo == 0) /* never host root, whatever the file says */
        *lo = 1;
}

/* May a volume's host id become the container's root (uid or group)? Only
 * a regular account's, and not one already the containers' own. */
static bool mappable(unsigned id, bool group, const struct sv_idmap *map)
{
    unsigned lo, hi;
    login_range(group, &lo, &hi);
    unsigned base = group ? (unsigned)map->gid_base : (unsigned)map->uid_base;
    if (id < lo || id > hi)
        return false;
    return !(id >= base && id - base < map->size);
}

/* The host group container root's group stands for: the volume's own when
 * it is a regular account's group, else its owner's primary group; never a
 * privileged one (a 1000:0 directory would make container gid 0 host gid
 * 0, and a setgid file made inside a host root-group binary). */
static bool pick_group(const struct stat *st, const struct sv_idmap *map, gid_t *gid)
{
    if (mappable(st->st_gid, true, map)) {
        *gid = st->st_gid;
        return true;
    }
    struct passwd pw, *found = NULL;
    char buf[4096];
    if (getpwuid_r(st->st_uid, &pw, buf, sizeof(buf), &found) == 0 && found &&
        mappable(found->pw_gid, true, map)) {
        *gid = found->pw_gid;
        return true;
    }
    return false;
}

int sv_idmap_open(const char *source, const struct sv_idmap *map)
{
    if (map->size == 0)
        return -1;
    /* One lookup of the source: what is judged is what gets mapped. */
    cleanup_close int src = open(source, O_PATH | O_CLOEXEC);
    struct stat st;
    gid_t gid;
    if (src < 0 || fstat(src, &st) < 0 || !mappable(st.st_uid, false, map) ||
        !pick_group(&st, map, &gid))
        return -1;
    if (gid != st.st_gid) /* the kernel refuses writes to inodes of unmapped ids */
        fprintf(stderr,
                "servos: volume %s: its group (gid %u) is not a regular group and is never "
                "mapped into a container: the directory itself and what belongs to that group "
                "are read-only there (chgrp it to a regular group, or use :U)\n",
                source, (unsigned)st.st_gid);
    cleanup_close int ns = userns_fd(st.st_uid, map->uid_base, gid, map->gid_base, 1);
    if (ns < 0)
        return -1;
    cleanup_close int fd = (int)syscall(
        SYS_open_tree, src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    if (fd < 0)
        return -1;
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (__u64)ns};
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
        /* The file system or kernel cannot (tmpfs before Linux 6.3, NFS,
         * most FUSE): a plain bind, whose owner the container sees as
         * nobody. Said, or the warning that it is not writable would be
         * the only trace. */
        fprintf(stderr,
                "servos: volume %s cannot be idmapped here (%s: idmapped mounts need Linux 5.12, "
                "and 6.3 on tmpfs): bound as it is\n",
                source, strerror(errno));
        return -1;
    }
    return sv_steal_fd(fd);
}

static bool is_or_under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Why path (real, absolute) is the host's own rather than a tree made
 * for containers, or NULL: "/", a top-level or system directory, one the
 * host's programs or users share, a home, or what holds servos' state.
 * :U refuses to hand such a path over (a wrong -v must not give a
 * container the host's system files or someone's home), and a root file
 * system directory there is not idmapped (container root would own, and
 * read, the host's root-only files). */
static const char *host_own_path(const char *path)
{
    static const char *const system[] = {"/usr",   "/etc",    "/boot", "/proc",        "/sys",
                                         "/dev",   "/bin",    "/sbin", "/lib",         "/lib32",
                                         "/lib64", "/libx32", "/run",  "/var/lib/dpkg"};
    if (strcmp(path, "/") == 0)
        return "it is the host's root";
    if (strchr(path + 1, '/') == NULL)
        return "it is a top-level directory of the host";
    for (size_t i = 0; i < SV_ARRAY_LEN(system); i++)
        if (is_or_under(path, system[i]))
            return "it is part of the host's system";
    static const char *const shared[] = {"/var/lib", "/var/log",  "/var/cache", "/var/spool",
                                         "/var/tmp", "/var/mail", "/usr/local", "/home"};
    for (size_t i = 0; i < SV_ARRAY_LEN(shared); i++)
        if (strcmp(path, shared[i]) == 0)
            return "it is a directory the host shares among its programs or users";
    if (is_or_under(sv_state_root(), path))
        return "it holds servos' state";
    /* Homes: /home/NAME (where the accounts of a directory service and
     * systemd-homed live too), or one /etc/passwd names. The file is read
     * as it is, not through NSS: the name service modules it would load
     * (and a network directory they may ask) cost a container start more
     * than the rest of this check. */
    if (strncmp(path, "/home/", 6) == 0 && strchr(path + 6, '/') == NULL)
        return "it is a home directory";
    cleanup_fclose FILE *f = fopen("/etc/passwd", "re");
    struct passwd *pw;
    while (f && (pw = fgetpwent(f)) != NULL)
        if (pw->pw_dir && strcmp(pw->pw_dir, path) == 0 && strcmp(path, "/nonexistent") != 0)
            return "it is a home directory";
    return NULL;
}

/* Where the kernel says an open descriptor is: what a path led to, not
 * the path (a component swapped for a link since it was resolved leads
 * elsewhere). false when it cannot tell. */
static bool opened_path(int fd, char out[PATH_MAX])
{
    char p[32];
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, out, PATH_MAX - 1);
    if (n <= 0 || out[0] != '/')
        return false;
    out[n] = '\0';
    return true;
}

/* What a refused idmapping says. */
static int idmap_refused(const char *dir, uid_t uid, int e, sv_error_t *err)
{
    /* ENOSYS before Linux 5.12; EINVAL where the file system has no
     * idmapped mounts (FS_ALLOW_IDMAP: ext4, xfs, btrfs, f2fs, tmpfs
     * since 6.3, not NFS or most FUSE). */
    return sv_error(err, e,
                    "cannot show %s (owned by host uid %u) to the container's user namespace: "
                    "idmapped mounts need Linux 5.12 or later and a file system that has "
                    "them; run it with --userns host, or pack it as a tarball (tar -C %s "
                    "-cf rootfs.tar .), which servos unpacks onto the containers' ids",
                    dir, (unsigned)uid, dir);
}

int sv_idmap_rootfs(const char *dir, const struct sv_idmap *map, bool *to_map, sv_error_t *err)
{
    *to_map = false;
    /* Opened once, judged by where it is, and cloned from that descriptor:
     * whoever can write a directory on the path cannot turn it into "/"
     * between the check and the mount. */
    cleanup_close int at = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    char real[PATH_MAX];
    if (at < 0 || !opened_path(at, real))
        return sv_error(err, errno, "cannot open the root file system %s", dir);
    /* Not recursive: overlayfs never looks into a lower layer's submounts
     * (a chroot's /proc left mounted in the directory), and each of them
     * would have to allow an idmapping too. */
    cleanup_close int fd =
        (int)syscall(SYS_open_tree, at, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return sv_error(err, errno, "cannot open the root file system %s", dir);
    /* Read-only: overlayfs never writes a lower layer, and a read-only
     * mount does not even update its access times. */
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    /* A tree of host ids (made as root: mmdebstrap, debootstrap, an
     * unpacked docker export) is shown to the container as its own: host
     * 0..size-1 as the range. One the range already owns is its as it is,
     * and so is everything under --userns host (no map). The host's own
     * directories ("/" as an image) stay as they are: read-only, and
     * container root is "others" there. */
    bool in_range = map && st.st_uid >= map->uid_base && st.st_uid - map->uid_base < map->size;
    if (map && map->size && !in_range && st.st_uid < map->size && host_own_path(real) == NULL) {
        *to_map = true; /* read-only and idmapped at once, by sv_idmap_rootfs_map */
        return sv_steal_fd(fd);
    }
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
        return sv_error(err, errno, "cannot make the root file system %s read-only", dir);
    return sv_steal_fd(fd);
}

int sv_idmap_rootfs_map(int fd, pid_t pid, const char *dir, sv_error_t *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
    cleanup_close int ns = open(path, O_RDONLY | O_CLOEXEC);
    if (ns < 0)
        return sv_error(err, errno, "cannot open the container's user namespace to map %s with",
                        dir);
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_IDMAP,
                              .userns_fd = (__u64)ns};
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
        int e = errno;
        struct stat st;
        return idmap_refused(dir, fstat(fd, &st) == 0 ? st.st_uid : 0, e, err);
    }
    return 0;
}

/* ---- volume ownership: :U and the unwritable-volume warning ------------- */

struct chown_walk {
    uid_t uid;
    gid_t gid;
    const struct sv_idmap *map;
    size_t linked, mounts;
};

/* Hand over what fd is (opened O_PATH | O_NOFOLLOW: a link is changed as
 * a link). A file with several hard links may also live outside the
 * volume (a host file linked in): it is left as it is unless the
 * containers own it already. */
static int chown_fd(int fd, const struct stat *st, struct chown_walk *w)
{
    bool theirs =
        w->map ? st->st_uid >= w->map->uid_base && st->st_uid - w->map->uid_base < w->map->size
               : st->st_uid == w->uid;
    if (!S_ISDIR(st->st_mode) && st->st_nlink > 1 && !theirs) {
        w->linked++;
        return 0;
    }
    /* A device node below stays the host's: owning it would open the
     * device to the container wherever its device policy lets it. */
    if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
        return 0;
    if (st->st_uid == w->uid && st->st_gid == w->gid)
        return 0;
    /* Set-id bits go: the kernel clears them on every chown of a file. */
    return fchownat(fd, "", w->uid, w->gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW);
}

/* Everything below the directory dfd, by descriptors only: each entry is
 * opened beneath dfd without following a link (RESOLVE_NO_SYMLINKS) and
 * changed through that descriptor, so one swapped for a link while we
 * work (a container may be writing here) is never followed; a mount
 * point below is not entered (RESOLVE_NO_XDEV) and stays as it is. */
static int chown_below(int dfd, const char *rel, struct chown_walk *w, int depth, sv_error_t *err)
{
    if (depth > 4096)
        return sv_error(err, ELOOP, "%s: the directory tree is too deep", rel);
    cleanup_close int dup_fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cleanup_closedir DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
    if (d == NULL)
        return sv_error(err, errno, "cannot read %s", rel);
    dup_fd = -1; /* the stream's now */
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        struct open_how how = {.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV |
                                          RESOLVE_NO_MAGICLINKS};
        cleanup_close int fd = (int)syscall(SYS_openat2, dfd, e->d_name, &how, sizeof(how));
        struct stat st;
        /* Read before the name below is made: malloc may change errno. */
        int failed = fd < 0 || fstat(fd, &st) < 0 ? errno : 0;
        if (fd < 0 && failed == EXDEV) { /* a mount point */
            w->mounts++;
            continue;
        }
        if (fd < 0 && failed == ENOENT) /* gone meanwhile */
            continue;
        cleanup_free char *sub_rel = sv_xasprintf("%s/%s", rel, e->d_name);
        if (failed)
            return sv_error(err, failed, "cannot open %s", sub_rel);
        if (S_ISDIR(st.st_mode)) {
            /* Reopened from the O_PATH descriptor: the same directory. */
            char p[32];
            snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
            cleanup_close int sub = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sub < 0)
                return sv_error(err, errno, "cannot open %s", sub_rel);
            if (chown_below(sub, sub_rel, w, depth + 1, err) < 0)
                return -1;
        }
        if (chown_fd(fd, &st, w) < 0)
            return sv_error(err, errno, "cannot change the owner of %s", sub_rel);
    }
    return 0;
}

int sv_idmap_volume_chown(const char *source, uid_t uid, gid_t gid, const struct sv_idmap *map,
                          sv_error_t *err)
{
    /* Judged by where the descriptor is, then changed through it: a link
     * swapped into the path after the check cannot redirect the walk. */
    cleanup_close int fd = open(source, O_PATH | O_CLOEXEC);
    char real[PATH_MAX];
    struct stat st;
    if (fd < 0 || !opened_path(fd, real) || fstat(fd, &st) < 0)
        return sv_error(err, errno, "volume %s", source);
    const char *why = S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)
                          ? "it is a device node (a host device's access is not the "
                            "container's to take: bind it as it is, with --userns host)"
                          : host_own_path(real);
    if (why)
        return sv_error(err, 0, "volume %s: :U would hand it to the container, and %s", source,
                        why);
    struct chown_walk w = {.uid = uid, .gid = gid, .map = map};
    if (S_ISDIR(st.st_mode)) {
        char p[32];
        snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
        cleanup_close int dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return sv_error(err, errno, "volume %s", source);
        if (chown_below(dfd, real, &w, 0, err) < 0)
            return sv_error_wrap(err, "volume %s: :U", source);
    }
    if (chown_fd(fd, &st, &w) < 0)
        return sv_error(err, errno, "volume %s: cannot change its owner", source);
    if (w.linked)
        fprintf(stderr,
                "servos: volume %s: left %zu file(s) with several hard links as they were (a "
                "hard link may be a file outside the volume)\n",
                source, w.linked);
    if (w.mounts)
        fprintf(stderr, "servos: volume %s: left %zu mount point(s) below it as they were\n",
                source, w.mounts);
    return 0;
}

bool sv_idmap_volume_writable(const struct stat *st, uid_t uid, gid_t gid,
                              const struct sv_idmap *map, bool dac_override)
{
    if (dac_override) {
        /* Root with the capability: any inode under --userns host; in a
         * user namespace, only one whose owner and group it maps. */
        if (map == NULL)
            return true;
        bool u = st->st_uid >= map->uid_base && st->st_uid - map->uid_base < map->size;
        bool g = st->st_gid >= map->gid_base && st->st_gid - map->gid_base < map->size;
        if (u && g)
            return true;
    }
    mode_t need = S_ISDIR(st->st_mode) ? 03 : 02; /* write, and search to make entries */
    unsigned shift = st->st_uid == uid ? 6 : st->st_gid == gid ? 3 : 0;
    return ((st->st_mode >> shift) & need) == need;
}
