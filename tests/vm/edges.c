/* The kernel features servos uses that have a version edge, asked of the
 * running kernel one by one: one line each, "NAME: yes" or "NAME: no
 * (errno)", then what servos does there. tests/vm/guest.sh builds and
 * runs it in the guest (build/vm/edges.txt); the table in
 * tests/vm/README.md is its reading. Run as root on a cgroup v2 host
 * (CLONE_INTO_CGROUP, cgroup.kill and memory.events.local need a group
 * of their own: edges-probe, made and removed here; elsewhere they say
 * "Wrong medium type"). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#define GROUP               "/sys/fs/cgroup/edges-probe"
#define CGROUP2_SUPER_MAGIC 0x63677270

static void say(const char *name, int ok, int err, const char *servos)
{
    if (ok)
        printf("%-28s yes  %s\n", name, servos);
    else
        printf("%-28s no (%s)  %s\n", name, strerror(err), servos);
}

/* clone3 with args; the child exits at once. Returns 0 or errno. */
static int try_clone3(struct clone_args *a)
{
    pid_t pid = (pid_t)syscall(SYS_clone3, a, sizeof(*a));
    if (pid < 0)
        return errno;
    if (pid == 0)
        _exit(0);
    waitpid(pid, NULL, 0);
    return 0;
}

/* A user namespace mapping 0 to 100000 (65536 ids), as a descriptor. */
static int userns_fd(void)
{
    int up[2], hold[2];
    if (pipe(up) < 0 || pipe(hold) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char c = unshare(CLONE_NEWUSER) == 0 ? 'u' : 'x';
        close(hold[1]);
        (void)!write(up[1], &c, 1);
        (void)!read(hold[0], &c, 1); /* alive until the parent has the namespace */
        _exit(0);
    }
    close(up[1]);
    close(hold[0]);
    char c = 'x', path[64];
    int ok = read(up[0], &c, 1) == 1 && c == 'u';
    for (int i = 0; ok && i < 2; i++) {
        snprintf(path, sizeof(path), "/proc/%d/%s", pid, i ? "gid_map" : "uid_map");
        int fd = open(path, O_WRONLY);
        ok = fd >= 0 && write(fd, "0 100000 65536", 14) == 14;
        if (fd >= 0)
            close(fd);
    }
    snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
    int ns = ok ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    close(hold[1]);
    close(up[0]);
    waitpid(pid, NULL, 0);
    return ns;
}

/* An idmapped clone of the tree at dir: 0 or errno. */
static int try_idmap(const char *dir, int ns)
{
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (fd < 0)
        return errno;
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (__u64)ns};
    int rc = (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr));
    int e = errno;
    close(fd);
    return rc < 0 ? e : 0;
}

static long sys_bpf(int cmd, union bpf_attr *a)
{
    return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

/* r0 = 0; exit: as a program of type, loaded; -1 with errno. */
static int tiny_prog(int type)
{
    struct bpf_insn insns[] = {
        {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
        {.code = BPF_JMP | BPF_EXIT},
    };
    union bpf_attr a = {0};
    a.prog_type = (uint32_t)type;
    a.insns = (uintptr_t)insns;
    a.insn_cnt = 2;
    a.license = (uintptr_t) "GPL";
    return (int)sys_bpf(BPF_PROG_LOAD, &a);
}

int main(void)
{
    struct clone_args a = {.exit_signal = SIGCHLD};
    int e = try_clone3(&a);
    say("clone3 (5.3)", e == 0, e, "needed: every container starts with it");

    struct statfs sf;
    int v2 = statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
    int have_group = v2 && (mkdir(GROUP, 0755) == 0 || errno == EEXIST);
    int cg = have_group ? open(GROUP, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    a = (struct clone_args){
        .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (__u64)cg};
    e = !v2 ? EMEDIUMTYPE : cg < 0 ? errno : try_clone3(&a);
    say("CLONE_INTO_CGROUP (5.7)", e == 0, e,
        "else a plain clone3 and a move into the group (runtime/container.c)");
    say("cgroup.kill (5.14)", have_group && access(GROUP "/cgroup.kill", F_OK) == 0,
        v2 ? ENOENT : EMEDIUMTYPE,
        "else the processes are killed one by one, said once (runtime/cgroup_v2.c)");
    say("memory.events.local (5.2)", have_group && access(GROUP "/memory.events.local", F_OK) == 0,
        v2 ? ENOENT : EMEDIUMTYPE,
        "else memory.events (a sub-group's OOM kill counts as its container's)");
    int dev = tiny_prog(BPF_PROG_TYPE_CGROUP_DEVICE);
    e = errno;
    say("BPF cgroup device (4.15)", dev >= 0, e,
        "else no device policy on v2, said once (runtime/cgroup_v2.c)");
    if (cg >= 0)
        close(cg);
    if (have_group)
        rmdir(GROUP);

    int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    e = errno;
    say("pidfd_open (5.3)", pfd >= 0, e, "needed: exec, monitors, supervisors' adoption");
    int sv[2], peer = -1;
    socklen_t sl = sizeof(peer);
    e = socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
                getsockopt(sv[0], SOL_SOCKET, SO_PEERPIDFD, &peer, &sl) < 0
            ? errno
            : 0;
    say("SO_PEERPIDFD (6.5)", e == 0, e,
        "else pidfd_open of the peer's pid (proserve/pgateway_proc.c), silently");
    e = syscall(SYS_close_range, 1000, 1001, CLOSE_RANGE_CLOEXEC) < 0 ? errno : 0;
    say("close_range CLOEXEC (5.11)", e == 0, e, "else each descriptor (runtime/child.c)");
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
    int o2 = (int)syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof(how));
    e = errno;
    say("openat2 (5.6)", o2 >= 0, e, "needed: paths inside a root file system (core/safepath.c)");

    int ns = userns_fd();
    e = ns < 0 ? errno : try_idmap("/", ns);
    say("idmapped mount, / (5.12)", e == 0, e,
        "else volumes are plain binds, image directories refused with the reason");
    char tmp[] = "/tmp/edges-tmpfs.XXXXXX";
    if (mkdtemp(tmp) && mount("tmpfs", tmp, "tmpfs", 0, "size=1m") == 0) {
        e = ns < 0 ? EINVAL : try_idmap(tmp, ns);
        umount(tmp);
    } else
        e = errno;
    rmdir(tmp);
    say("idmapped mount, tmpfs (6.3)", e == 0, e,
        "else a volume there is a plain bind, said (runtime/idmap.c)");

    e = syscall(467, AT_FDCWD, "/", OPEN_TREE_CLONE, NULL, 0) < 0 ? errno : 0;
    say("open_tree_attr (6.15)", e != ENOSYS, e, "not used; seccomp refuses it by number (EPERM)");
    e = syscall(457, NULL, NULL, 0, 0) < 0 ? errno : 0;
    say("statmount (6.8)", e != ENOSYS, e, "not used; seccomp refuses it by number (EPERM)");

    int cls = tiny_prog(BPF_PROG_TYPE_SCHED_CLS);
    e = errno;
    if (cls >= 0) {
        union bpf_attr l = {0};
        l.link_create.prog_fd = (uint32_t)cls;
        l.link_create.target_ifindex = 1; /* lo */
        l.link_create.attach_type = 46;   /* BPF_TCX_INGRESS */
        int link = (int)sys_bpf(BPF_LINK_CREATE, &l);
        e = link < 0 ? errno : 0;
        if (link >= 0)
            close(link);
    }
    say("tcx links (6.6)", cls >= 0 && e == 0, e,
        "else published ports go through the relay, with the reason in supervisor.log");
    return 0;
}
