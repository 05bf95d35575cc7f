#include "idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
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

/* A user namespace whose only ids are inside:uid -> host:huid and
 * inside:gid -> host:hgid: made by a child that waits while we write its
 * maps. As a mount's idmapping, on-disk uid shows as host huid (the
 * containers' root) and what that root writes lands as uid. */
static int userns_fd(uid_t uid, uid_t huid, gid_t gid, gid_t hgid)
{
    int hold[2];
    if (pipe2(hold, O_CLOEXEC) < 0)
        return -1;
    struct clone_args args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0) {
        char c;
        close(hold[1]);
        while (read(hold[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(hold[0]);
    int fd = -1;
    if (pid > 0) {
        char path[64], map[64];
        bool ok = true;
        const char *files[] = {"uid_map", "gid_map"};
        unsigned inside[] = {(unsigned)uid, (unsigned)gid},
                 host[] = {(unsigned)huid, (unsigned)hgid};
        for (int i = 0; i < 2 && ok; i++) {
            snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
            int n = snprintf(map, sizeof(map), "%u %u 1\n", inside[i], host[i]);
            int mfd = open(path, O_WRONLY | O_CLOEXEC);
            ok = mfd >= 0 && write(mfd, map, (size_t)n) == n;
            if (mfd >= 0)
                close(mfd);
        }
        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
        if (ok)
            fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    close(hold[1]); /* lets the child exit */
    if (pid > 0)
        waitpid(pid, NULL, 0);
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
                "mapped into a container: what belongs to that group is read-only there\n",
                source, (unsigned)st.st_gid);
    cleanup_close int ns = userns_fd(st.st_uid, map->uid_base, gid, map->gid_base);
    if (ns < 0)
        return -1;
    int fd = (int)syscall(SYS_open_tree, src, "",
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    if (fd < 0)
        return -1;
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (__u64)ns};
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
        close(fd); /* the file system or kernel cannot: plain bind */
        return -1;
    }
    return fd;
}
