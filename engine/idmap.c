#include "idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* A user namespace whose only ids are inside:uid -> host:huid (and the
 * same for groups): made by a child that waits while we write its maps. */
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

int sv_idmap_open(const char *source, const struct sv_idmap *map)
{
    struct stat st;
    if (map->size == 0 || stat(source, &st) < 0 || st.st_uid == 0)
        return -1;
    cleanup_close int ns = userns_fd(st.st_uid, map->uid_base, st.st_gid, map->gid_base);
    if (ns < 0)
        return -1;
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, source,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    if (fd < 0)
        return -1;
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (__u64)ns};
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
        close(fd); /* the file system or kernel cannot: plain bind */
        return -1;
    }
    return fd;
}

int sv_idmap_attach(int fd, const char *target, bool read_only, sv_error_t *err)
{
    if (syscall(SYS_move_mount, fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return sv_error(err, errno, "attaching the idmapped volume at %s", target);
    if (read_only) {
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
        if (syscall(SYS_mount_setattr, AT_FDCWD, target, AT_RECURSIVE, &attr, sizeof(attr)) < 0)
            return sv_error(err, errno, "making the volume at %s read-only", target);
    }
    return 0;
}
