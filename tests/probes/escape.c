/* Escape attempts from inside a servos container, as an attacker would make
 * them: each check tries to leave the sandbox (or to reach something the
 * sandbox hides) and prints one line
 *
 *     NAME held DETAIL    the attempt failed, or did nothing harmful
 *     NAME open DETAIL    the attempt got through: a hole
 *     NAME info DETAIL    a fact the test compares (capability sets, ...)
 *
 * Every check runs in a child of its own, so a check that is killed (a
 * seccomp filter answers a foreign ABI with SIGSYS), that changes its root
 * or its personality, leaves the others alone.
 *
 *     escape [-m HOST-PATH] [-p HOST-PID] CHECK...|all
 *     escape reach HOST PORT     connect to HOST (a name or an address)
 *
 * -m names a file that exists on the host only: a check that claims to have
 * left the container looks for it. -p names a host pid, which must not be
 * reachable from inside. Built by tests/95-security-sandbox.t with
 * `cc -O1 -o escape escape.c`: the "host" image runs it from the host's /usr
 * libraries. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/mount.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define X32_BIT 0x40000000L

static const char *marker = "/nonexistent-host-marker";
static pid_t host_pid = 0;
static const char *current;
static int out_fd = 1;

/* One verdict line for the running check. */
static void say(const char *verdict, const char *fmt, ...)
{
    char buf[2048];
    int n = snprintf(buf, sizeof(buf), "%s %s ", current, verdict);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    if (write(out_fd, buf, (size_t)n) < 0)
        _exit(3);
}

/* "EPERM" for a failed call, "ok" for one that worked. */
static const char *res(long rc)
{
    static char b[8][48];
    static int i;
    char *s = b[i++ % 8];
    if (rc >= 0)
        snprintf(s, 48, "ok(%ld)", rc);
    else
        snprintf(s, 48, "%s", strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
    return s;
}

/* Several attempts, each of which must fail: held when all did. */
struct attempt {
    const char *what;
    long rc;
    int err;
};

static int describe(const struct attempt *a, size_t n, char *detail, size_t size)
{
    size_t len = 0;
    int opened = 0;
    detail[0] = '\0';
    for (size_t i = 0; i < n && len < size; i++) {
        errno = a[i].err;
        len += (size_t)snprintf(detail + len, size - len, "%s%s=%s", i ? " " : "", a[i].what,
                                res(a[i].rc));
        opened |= a[i].rc >= 0;
    }
    return opened;
}

static void verdict(const struct attempt *a, size_t n)
{
    char detail[1500];
    int opened = describe(a, n, detail, sizeof(detail));
    say(opened ? "open" : "held", "%s", detail);
}

#define TRY(arr, n, label, call)                                                                   \
    do {                                                                                           \
        errno = 0;                                                                                 \
        long r_ = (long)(call);                                                                    \
        arr[n++] = (struct attempt){label, r_, errno};                                             \
    } while (0)

static int can_see_marker(void)
{
    struct stat st;
    return stat(marker, &st) == 0;
}

/* ---- the new mount API and mount(2) ---------------------------------------- */

static void check_fsopen(void)
{
    struct attempt a[4];
    size_t n = 0;
    long fs = syscall(SYS_fsopen, "tmpfs", 0);
    a[n++] = (struct attempt){"fsopen(tmpfs)", fs, errno};
    if (fs >= 0) { /* the whole way: a fresh tmpfs, attached over /etc */
        TRY(a, n, "fsconfig(create)", syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0));
        long m = syscall(SYS_fsmount, fs, 0, 0);
        a[n++] = (struct attempt){"fsmount", m, errno};
        if (m >= 0)
            TRY(a, n, "move_mount(/etc)",
                syscall(SYS_move_mount, m, "", AT_FDCWD, "/etc", MOVE_MOUNT_F_EMPTY_PATH));
    }
    verdict(a, n);
}

/* The calls that would follow fsopen, with nothing to work on: the filter
 * must refuse them itself (EPERM), not leave it to the kernel (EBADF). */
static void check_fsmount(void)
{
    struct attempt a[3];
    size_t n = 0;
    TRY(a, n, "fsconfig", syscall(SYS_fsconfig, -1, FSCONFIG_CMD_CREATE, 0, 0, 0));
    TRY(a, n, "fsmount", syscall(SYS_fsmount, -1, 0, 0));
    TRY(a, n, "fspick(/usr)", syscall(SYS_fspick, AT_FDCWD, "/usr", 0));
    int filtered = 1;
    for (size_t i = 0; i < n; i++)
        filtered &= a[i].rc < 0 && a[i].err == EPERM;
    char d[512];
    describe(a, n, d, sizeof(d));
    say(filtered ? "held" : "open", "%s%s", d, filtered ? "" : " (want EPERM from the filter)");
}

/* A detached copy of /proc without the masks over it, attached elsewhere. */
static void check_open_tree(void)
{
    struct attempt a[2];
    size_t n = 0;
    mkdir("/tmp/.p", 0700);
    long t = syscall(SYS_open_tree, AT_FDCWD, "/proc", OPEN_TREE_CLONE);
    a[n++] = (struct attempt){"open_tree(/proc,clone)", t, errno};
    if (t >= 0)
        TRY(a, n, "move_mount(/tmp/.p)",
            syscall(SYS_move_mount, t, "", AT_FDCWD, "/tmp/.p", MOVE_MOUNT_F_EMPTY_PATH));
    verdict(a, n);
}

/* Move a mask away: /proc/keys is /dev/null bound over the real file. */
static void check_move_mount(void)
{
    struct attempt a[2];
    size_t n = 0;
    int fd = open("/tmp/.k", O_CREAT | O_WRONLY, 0600);
    if (fd >= 0)
        close(fd);
    TRY(a, n, "move_mount(/proc/keys)",
        syscall(SYS_move_mount, AT_FDCWD, "/proc/keys", AT_FDCWD, "/tmp/.k", 0));
    mkdir("/tmp/.s", 0700);
    TRY(a, n, "move_mount(/proc/sys)",
        syscall(SYS_move_mount, AT_FDCWD, "/proc/sys", AT_FDCWD, "/tmp/.s", 0));
    verdict(a, n);
}

/* Clear the read-only flag of /usr (the host's, bound read-only). */
static void check_mount_setattr(void)
{
    struct attempt a[2];
    size_t n = 0;
    struct mount_attr attr = {.attr_clr = MOUNT_ATTR_RDONLY};
    TRY(a, n, "mount_setattr(/usr,rw)",
        syscall(SYS_mount_setattr, AT_FDCWD, "/usr", 0, &attr, sizeof(attr)));
    TRY(a, n, "mount_setattr(/proc/sys,rw)",
        syscall(SYS_mount_setattr, AT_FDCWD, "/proc/sys", AT_RECURSIVE, &attr, sizeof(attr)));
    verdict(a, n);
}

static void check_mount(void)
{
    struct attempt a[6];
    size_t n = 0;
    mkdir("/tmp/.m", 0700);
    TRY(a, n, "mount(proc)", mount("proc", "/tmp/.m", "proc", 0, NULL));
    TRY(a, n, "mount(tmpfs)", mount("tmpfs", "/tmp/.m", "tmpfs", 0, NULL));
    TRY(a, n, "remount(/,rw)", mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
    TRY(a, n, "remount(/usr,rw)", mount(NULL, "/usr", NULL, MS_REMOUNT | MS_BIND, NULL));
    TRY(a, n, "bind(/proc/sys)", mount("/proc/sys", "/tmp/.m", NULL, MS_BIND, NULL));
    TRY(a, n, "mount(sysfs)", mount("sysfs", "/tmp/.m", "sysfs", 0, NULL));
    verdict(a, n);
}

/* Unmask: take the masks and read-only binds off /proc and /sys. */
static void check_umount(void)
{
    static const char *const paths[] = {"/proc/keys", "/proc/sys",     "/proc/timer_list",
                                        "/proc/acpi", "/sys/firmware", "/sys"};
    struct attempt a[6];
    size_t n = 0;
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        TRY(a, n, paths[i], umount2(paths[i], MNT_DETACH));
    verdict(a, n);
}

/* Whatever the calls said: /usr must still refuse writes. */
static void check_usr_readonly(void)
{
    int fd = open("/usr/.servos-probe", O_CREAT | O_WRONLY, 0600);
    if (fd >= 0) {
        unlink("/usr/.servos-probe");
        say("open", "created /usr/.servos-probe");
        return;
    }
    say("held", "create in /usr: %s", res(-1));
}

/* With --read-only: the container's own root refuses writes too. */
static void check_root_readonly(void)
{
    int fd = open("/etc/.servos-probe", O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
        unlink("/etc/.servos-probe");
        say("open", "created /etc/.servos-probe");
        return;
    }
    say("held", "create in /etc: %s", res(-1));
}

static void check_cgroupfs(void)
{
    struct attempt a[4];
    size_t n = 0;
    mkdir("/tmp/.cg", 0700);
    TRY(a, n, "mount(cgroup,memory)", mount("cgroup", "/tmp/.cg", "cgroup", 0, "memory"));
    TRY(a, n, "mount(cgroup,rdma)", mount("cgroup", "/tmp/.cg", "cgroup", 0, "rdma"));
    TRY(a, n, "mount(cgroup2)", mount("cgroup2", "/tmp/.cg", "cgroup2", 0, NULL));
    TRY(a, n, "fsopen(cgroup)", syscall(SYS_fsopen, "cgroup", 0));
    /* and no cgroup file system is reachable to write to */
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[1024];
    int seen = 0;
    while (f && fgets(line, sizeof(line), f))
        seen |= strstr(line, " - cgroup") != NULL;
    if (f)
        fclose(f);
    if (seen) {
        say("open", "a cgroup file system is mounted in the container");
        return;
    }
    verdict(a, n);
}

/* ---- namespaces -------------------------------------------------------------- */

static void check_unshare_user(void)
{
    struct attempt a[3];
    size_t n = 0;
    TRY(a, n, "unshare(NEWUSER)", unshare(CLONE_NEWUSER));
    TRY(a, n, "unshare(NEWUSER|NEWNS)", unshare(CLONE_NEWUSER | CLONE_NEWNS));
    TRY(a, n, "unshare(NEWUSER|NEWNET)", unshare(CLONE_NEWUSER | CLONE_NEWNET));
    verdict(a, n);
}

static void check_unshare_other(void)
{
    static const struct {
        const char *name;
        int flag;
    } ns[] = {{"NEWNS", CLONE_NEWNS},   {"NEWNET", CLONE_NEWNET},
              {"NEWPID", CLONE_NEWPID}, {"NEWUTS", CLONE_NEWUTS},
              {"NEWIPC", CLONE_NEWIPC}, {"NEWCGROUP", CLONE_NEWCGROUP},
              {"NEWTIME", 0x80},        {"NEWUSER|NEWNS", CLONE_NEWUSER | CLONE_NEWNS}};
    struct attempt a[8];
    size_t n = 0;
    for (size_t i = 0; i < 8; i++)
        TRY(a, n, ns[i].name, unshare(ns[i].flag));
    verdict(a, n);
}

static void check_clone_user(void)
{
    struct attempt a[2];
    size_t n = 0;
    static const long flags[] = {CLONE_NEWUSER | SIGCHLD, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD};
    static const char *const names[] = {"clone(NEWUSER)", "clone(NEWUSER|NEWNS)"};
    for (int i = 0; i < 2; i++) {
        long pid = syscall(SYS_clone, flags[i], 0, 0, 0, 0);
        if (pid == 0)
            _exit(0);
        a[n++] = (struct attempt){names[i], pid, errno};
        if (pid > 0)
            waitpid((pid_t)pid, NULL, 0);
    }
    verdict(a, n);
}

/* clone3 keeps its flags in memory a filter cannot read: the filter must
 * answer ENOSYS to every clone3, so that libc falls back to clone, whose
 * flags it can see. An EPERM would not be "safe": glibc gives up on it. */
static void check_clone3(void)
{
    struct clone_args user = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
    struct clone_args plain = {.exit_signal = SIGCHLD};
    long r1 = syscall(SYS_clone3, &user, sizeof(user));
    int e1 = errno;
    if (r1 == 0)
        _exit(0);
    long r2 = syscall(SYS_clone3, &plain, sizeof(plain));
    int e2 = errno;
    if (r2 == 0)
        _exit(0);
    errno = e1;
    const char *s1 = res(r1);
    errno = e2;
    const char *s2 = res(r2);
    if (r1 < 0 && e1 == ENOSYS && r2 < 0 && e2 == ENOSYS)
        say("held", "clone3(NEWUSER)=%s clone3()=%s", s1, s2);
    else
        say("open", "clone3(NEWUSER)=%s clone3()=%s (want ENOSYS for both)", s1, s2);
}

static void *thread_fn(void *arg)
{
    return arg;
}

/* With clone3 refused, libc's threads, fork and posix_spawn still work. */
static void check_libc_fallback(void)
{
    pthread_t t;
    int th = pthread_create(&t, NULL, thread_fn, NULL);
    if (th == 0)
        pthread_join(t, NULL);
    pid_t f = fork();
    if (f == 0)
        _exit(0);
    int st = -1;
    if (f > 0)
        waitpid(f, &st, 0);
    pid_t sp;
    char *argv[] = {"true", NULL};
    int ps = posix_spawnp(&sp, "true", NULL, NULL, argv, NULL);
    int st2 = -1;
    if (ps == 0)
        waitpid(sp, &st2, 0);
    int good = th == 0 && f > 0 && st == 0 && ps == 0 && st2 == 0;
    say(good ? "held" : "open", "pthread_create=%d fork=%d posix_spawn=%d", th, f > 0 ? 0 : -1, ps);
}

static void check_setns(void)
{
    static const char *const ns[] = {"mnt", "pid", "net", "user", "cgroup", "ipc", "uts"};
    struct attempt a[8];
    size_t n = 0;
    for (size_t i = 0; i < 7; i++) {
        char p[64];
        snprintf(p, sizeof(p), "/proc/1/ns/%s", ns[i]);
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        TRY(a, n, ns[i], fd < 0 ? -1 : setns(fd, 0));
        if (fd >= 0)
            close(fd);
    }
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/ns/mnt", (int)host_pid);
    TRY(a, n, "open(host pid's ns/mnt)", open(p, O_RDONLY | O_CLOEXEC));
    verdict(a, n);
}

static void check_pivot_root(void)
{
    struct attempt a[1];
    size_t n = 0;
    TRY(a, n, "pivot_root", syscall(SYS_pivot_root, "/tmp", "/tmp"));
    verdict(a, n);
}

/* chroot, then climb out of it: the old way out of a chroot. The way out
 * must end at the container's root, never the host's. */
static void check_chroot(void)
{
    int top = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    mkdir("/tmp/.jail", 0700);
    if (chroot("/tmp/.jail") < 0) {
        say("held", "chroot=%s", res(-1));
        return;
    }
    if (top < 0 || fchdir(top) < 0) /* a cwd outside the new root */
        say("held", "fchdir=%s", res(-1));
    for (int i = 0; i < 64; i++)
        if (chdir("..") < 0)
            break;
    int r = chroot(".");
    if (can_see_marker()) {
        say("open", "after chroot(.)=%s the host's %s is visible", res(r), marker);
        return;
    }
    char host[256] = "";
    FILE *f = fopen("/etc/hostname", "re");
    if (f && fgets(host, sizeof(host), f))
        host[strcspn(host, "\n")] = '\0';
    if (f)
        fclose(f);
    say("held",
        "chroot allowed (CAP_SYS_CHROOT); climbing out ends at the container's root "
        "(hostname %s)",
        host);
}

/* ---- foreign ABIs ------------------------------------------------------------- */

static long int80(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80"
                     : "=a"(ret)
                     : "a"(nr), "b"(a), "c"(b), "d"(c)
                     : "memory", "r8", "r9", "r10", "r11");
    if (ret < 0 && ret > -4096) { /* the kernel's -errno, as libc's syscall() reports it */
        errno = (int)-ret;
        return -1;
    }
    return ret;
}

/* Each attempt in a child of its own: a filter kills a foreign ABI. */
static const char *in_child(long (*fn)(long), long arg)
{
    static char b[8][64];
    static int i;
    char *s = b[i++ % 8];
    int p[2];
    if (pipe(p) < 0)
        return "pipe?";
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        long r = fn(arg);
        char m[48];
        int len = snprintf(m, sizeof(m), "%ld %d", r, errno);
        if (write(p[1], m, (size_t)len) < 0)
            _exit(1);
        _exit(0);
    }
    close(p[1]);
    char m[48] = "";
    ssize_t len = read(p[0], m, sizeof(m) - 1);
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) {
        snprintf(s, 64, "killed(%s)", sigabbrev_np(WTERMSIG(st)) ?: "?");
        return s;
    }
    long r = -1;
    int e = EIO;
    if (len > 0)
        sscanf(m, "%ld %d", &r, &e);
    if (r == -1)
        snprintf(s, 64, "%s", strerrorname_np(e) ?: "E?");
    else
        snprintf(s, 64, "ok(%ld)", r);
    return s;
}

static long x32_getpid(long a)
{
    (void)a;
    return syscall(X32_BIT | SYS_getpid);
}
static long x32_unshare(long a)
{
    (void)a;
    return syscall(X32_BIT | 272, CLONE_NEWUSER);
}
static long x32_keyctl(long a)
{
    (void)a;
    return syscall(X32_BIT | 250, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1);
}
static long x32_mount(long a)
{
    (void)a;
    return syscall(X32_BIT | 165, "tmpfs", "/tmp", "tmpfs", 0, NULL);
}
static long i386_getpid(long a)
{
    if (a)
        personality(PER_LINUX32);
    return int80(20, 0, 0, 0);
}
static long i386_unshare(long a)
{
    if (a)
        personality(PER_LINUX32);
    return int80(310, CLONE_NEWUSER, 0, 0);
}
static long i386_keyctl(long a)
{
    if (a)
        personality(PER_LINUX32);
    return int80(288, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 1);
}

static int ok_str(const char *s)
{
    return strncmp(s, "ok", 2) == 0;
}

/* x32 numbers (the syscall's number | 0x40000000) on the x86_64 entry. */
static void check_x32(void)
{
    const char *g = in_child(x32_getpid, 0), *u = in_child(x32_unshare, 0);
    const char *k = in_child(x32_keyctl, 0), *m = in_child(x32_mount, 0);
    int open_ = ok_str(u) || ok_str(k) || ok_str(m);
    say(open_ ? "open" : "held", "getpid=%s unshare(NEWUSER)=%s keyctl=%s mount=%s", g, u, k, m);
}

/* i386 numbers through int 0x80, with and without an i386 personality. */
static void check_i386(void)
{
    char d[512];
    int open_ = 0, len = 0;
    for (long pers = 0; pers < 2; pers++) {
        const char *g = in_child(i386_getpid, pers), *u = in_child(i386_unshare, pers);
        const char *k = in_child(i386_keyctl, pers);
        open_ |= ok_str(u) || ok_str(k);
        len +=
            snprintf(d + len, sizeof(d) - (size_t)len, "%sgetpid=%s unshare(NEWUSER)=%s keyctl=%s",
                     pers ? " PER_LINUX32: " : "", g, u, k);
    }
    say(open_ ? "open" : "held", "%s", d);
}

/* Docker's profile lets personality() take only PER_LINUX, PER_LINUX32,
 * UNAME26 and the query; ADDR_NO_RANDOMIZE and READ_IMPLIES_EXEC switch
 * off protections of what the process runs next. */
static void check_personality(void)
{
    long q = personality(0xffffffff);
    long r1 = personality(ADDR_NO_RANDOMIZE);
    const char *s1 = res(r1);
    long r2 = personality(READ_IMPLIES_EXEC);
    const char *s2 = res(r2);
    long now = personality(0xffffffff);
    int open_ = (now & (ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC)) != 0;
    say(open_ ? "open" : "held", "query=%#lx ADDR_NO_RANDOMIZE=%s READ_IMPLIES_EXEC=%s now=%#lx", q,
        s1, s2, now);
}

/* ---- kernel interfaces the filter closes --------------------------------------- */

static void check_keyring(void)
{
    struct attempt a[5];
    size_t n = 0;
    TRY(a, n, "keyctl(get session)",
        syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    TRY(a, n, "keyctl(get user)",
        syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0));
    TRY(a, n, "keyctl(join)", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "servos-probe"));
    TRY(a, n, "add_key",
        syscall(SYS_add_key, "user", "servos-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    TRY(a, n, "request_key", syscall(SYS_request_key, "user", "servos-probe", NULL, 0));
    verdict(a, n);
}

static void check_bpf(void)
{
    struct attempt a[2];
    size_t n = 0;
    union bpf_attr m = {
        .map_type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 1};
    TRY(a, n, "bpf(MAP_CREATE)", syscall(SYS_bpf, BPF_MAP_CREATE, &m, sizeof(m)));
    struct bpf_insn prog[] = {{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0},
                              {.code = BPF_JMP | BPF_EXIT}};
    union bpf_attr p = {.prog_type = BPF_PROG_TYPE_SOCKET_FILTER,
                        .insn_cnt = 2,
                        .insns = (uint64_t)(uintptr_t)prog,
                        .license = (uint64_t)(uintptr_t) "GPL"};
    TRY(a, n, "bpf(PROG_LOAD)", syscall(SYS_bpf, BPF_PROG_LOAD, &p, sizeof(p)));
    verdict(a, n);
}

static void check_perf(void)
{
    struct attempt a[2];
    size_t n = 0;
    struct perf_event_attr pe = {.type = PERF_TYPE_SOFTWARE,
                                 .size = sizeof(pe),
                                 .config = PERF_COUNT_SW_CPU_CLOCK,
                                 .disabled = 1,
                                 .exclude_kernel = 1,
                                 .exclude_hv = 1};
    TRY(a, n, "perf_event_open(self)", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
    TRY(a, n, "perf_event_open(cpu0)", syscall(SYS_perf_event_open, &pe, -1, 0, -1, 0));
    verdict(a, n);
}

static void check_userfaultfd(void)
{
    struct attempt a[3];
    size_t n = 0;
    TRY(a, n, "userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
    TRY(a, n, "userfaultfd(user-only)",
        syscall(SYS_userfaultfd, O_CLOEXEC | 1 /* USER_MODE_ONLY */));
    TRY(a, n, "open(/dev/userfaultfd)", open("/dev/userfaultfd", O_RDWR | O_CLOEXEC));
    verdict(a, n);
}

/* Shocker: a file handle forged for inode 2 (a file system's root), opened
 * against any file of the host's file system the container can name (its
 * /usr is the host's). With CAP_DAC_READ_SEARCH this was Docker 0.x's
 * escape to the host's root directory. */
static void check_shocker(void)
{
    struct attempt a[3];
    size_t n = 0;
    struct {
        struct file_handle fh;
        unsigned char bytes[8];
    } h = {.fh = {.handle_bytes = 8, .handle_type = 1}};
    uint32_t ino = 2, gen = 0;
    memcpy(h.fh.f_handle, &ino, 4);
    memcpy(h.fh.f_handle + 4, &gen, 4);
    int usr = open("/usr", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    long fd = syscall(SYS_open_by_handle_at, usr, &h.fh, O_RDONLY | O_DIRECTORY);
    a[n++] = (struct attempt){"open_by_handle_at(ino 2)", fd, errno};
    if (fd >= 0) {
        DIR *d = fdopendir((int)fd);
        char names[512] = "";
        struct dirent *e;
        size_t len = 0;
        while (d && (e = readdir(d)) && len < 400)
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s,", e->d_name);
        say("open", "open_by_handle_at reached the host's root: %s", names);
        return;
    }
    struct {
        struct file_handle fh;
        unsigned char bytes[128];
    } out = {.fh = {.handle_bytes = 128}};
    int mnt;
    TRY(a, n, "name_to_handle_at(/usr)",
        syscall(SYS_name_to_handle_at, AT_FDCWD, "/usr", &out.fh, &mnt, 0));
    verdict(a, n);
}

static void check_kexec_modules(void)
{
    struct attempt a[5];
    size_t n = 0;
    TRY(a, n, "kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    TRY(a, n, "kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 4));
    TRY(a, n, "init_module", syscall(SYS_init_module, "", 0, ""));
    TRY(a, n, "finit_module", syscall(SYS_finit_module, -1, "", 0));
    TRY(a, n, "delete_module", syscall(SYS_delete_module, "servos_probe", O_NONBLOCK));
    verdict(a, n);
}

/* A bad magic number: a kernel that let the call through answers EINVAL,
 * so even a hole here reboots nothing. */
static void check_reboot(void)
{
    struct attempt a[1];
    size_t n = 0;
    TRY(a, n, "reboot", syscall(SYS_reboot, 0x12345678, 0x9abcdef0, 0 /* CAD_OFF */, 0));
    if (a[0].rc < 0 && a[0].err == EINVAL)
        a[0].rc = 0; /* the call reached the kernel's own checks */
    verdict(a, n);
}

static void check_swap(void)
{
    struct attempt a[2];
    size_t n = 0;
    TRY(a, n, "swapon", swapon("/tmp/.servos-probe-swap", 0));
    TRY(a, n, "swapoff", swapoff("/tmp/.servos-probe-swap"));
    verdict(a, n);
}

/* Set the clock to what it already says: a hole would still be harmless. */
static void check_clock(void)
{
    struct attempt a[3];
    size_t n = 0;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    TRY(a, n, "clock_settime", clock_settime(CLOCK_REALTIME, &ts));
    struct timeval tv;
    gettimeofday(&tv, NULL);
    TRY(a, n, "settimeofday", settimeofday(&tv, NULL));
    struct timex tx2 = {.modes = ADJ_TICK, .tick = 0}; /* out of range: EINVAL past the filter */
    long r = adjtimex(&tx2);
    a[n++] = (struct attempt){"adjtimex(set)", r < 0 && errno == EINVAL ? 0 : r, errno};
    verdict(a, n);
}

/* ---- devices -------------------------------------------------------------------- */

struct dev {
    const char *name;
    mode_t type;
    unsigned maj, min;
    int flags;
};

/* Make a node for a host device, in every writable place, and open it:
 * mknod may be allowed (CAP_MKNOD is in Docker's set), the open must not.
 * Writes "NAME=RESULT" to out; 1 when the device opened. */
static int try_device(const struct dev *d, char *out, size_t size)
{
    /* /v: a read-write volume, when the test gives one */
    static const char *const dirs[] = {"/dev", "/root", "/tmp", "/run", "/dev/shm", "/v"};
    char result[96] = "";
    for (size_t k = 0; k < sizeof(dirs) / sizeof(dirs[0]); k++) {
        char node[128];
        snprintf(node, sizeof(node), "%s/.servos-probe-%s", dirs[k], d->name);
        unlink(node);
        if (mknod(node, d->type | 0600, makedev(d->maj, d->min)) < 0) {
            if (!result[0]) /* the first refusal says why */
                snprintf(result, sizeof(result), "%s", res(-1));
            continue;
        }
        int fd = open(node, d->flags | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        int e = errno;
        unlink(node);
        if (fd >= 0) {
            close(fd);
            snprintf(out, size, "%s=opened(in %s)", d->name, dirs[k]);
            return 1;
        }
        errno = e;
        snprintf(result, sizeof(result), "mknod ok, open %s", res(-1));
    }
    snprintf(out, size, "%s=%s", d->name, result);
    return 0;
}

static void try_devices(const struct dev *d, size_t count)
{
    char detail[1500] = "";
    size_t len = 0;
    int opened = 0;
    for (size_t i = 0; i < count; i++) {
        char one[160];
        opened |= try_device(&d[i], one, sizeof(one));
        if (len + strlen(one) + 2 < sizeof(detail))
            len += (size_t)snprintf(detail + len, sizeof(detail) - len, "%s%s", i ? " " : "", one);
    }
    say(opened ? "open" : "held", "%s", detail);
}

/* The block device under the container's /usr is the host's root disk. */
static void check_blockdev(void)
{
    struct stat st;
    if (stat("/usr", &st) < 0) {
        say("held", "no /usr");
        return;
    }
    struct dev d[] = {{"rootdisk", S_IFBLK, major(st.st_dev), minor(st.st_dev), O_RDONLY},
                      {"loop0", S_IFBLK, 7, 0, O_RDONLY}};
    try_devices(d, 2);
}

/* Character devices that reach the host's kernel, consoles and hardware. */
static void check_chardev(void)
{
    unsigned uffd_min = 0;
    FILE *f = fopen("/sys/class/misc/userfaultfd/dev", "re");
    unsigned mj;
    if (f == NULL || fscanf(f, "%u:%u", &mj, &uffd_min) != 2)
        uffd_min = 0;
    if (f)
        fclose(f);
    struct dev d[] = {
        {"mem", S_IFCHR, 1, 1, O_RDONLY},   {"port", S_IFCHR, 1, 4, O_RDONLY},
        {"kmsg", S_IFCHR, 1, 11, O_WRONLY}, {"console", S_IFCHR, 5, 1, O_WRONLY},
        {"tty1", S_IFCHR, 4, 1, O_WRONLY},  {"vcs", S_IFCHR, 7, 0, O_RDONLY},
        {"kvm", S_IFCHR, 10, 232, O_RDWR},  {"loop-control", S_IFCHR, 10, 237, O_RDWR},
        {"fuse", S_IFCHR, 10, 229, O_RDWR}, {"userfaultfd", S_IFCHR, 10, uffd_min, O_RDWR},
    };
    try_devices(d, uffd_min ? 10 : 9);
}

/* ---- /proc and /sys -------------------------------------------------------------- */

static void check_proc_sys_write(void)
{
    static const char *const files[] = {
        "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname",
        "/proc/sys/vm/drop_caches",      "/proc/sys/kernel/modprobe",
        "/proc/sysrq-trigger",           "/proc/sys/net/ipv4/ip_forward",
    };
    struct attempt a[6];
    size_t n = 0;
    for (size_t i = 0; i < 6; i++) {
        errno = 0;
        int fd = open(files[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT)
            fd = -1; /* not in this kernel: nothing to write to */
        a[n++] = (struct attempt){files[i], fd, errno};
        if (fd >= 0)
            close(fd);
    }
    verdict(a, n);
}

static void check_sys_write(void)
{
    static const char *const files[] = {"/sys/kernel/uevent_helper", "/sys/class/net/lo/mtu",
                                        "/sys/kernel/mm/transparent_hugepage/enabled",
                                        "/sys/power/state"};
    struct attempt a[5];
    size_t n = 0;
    for (size_t i = 0; i < 4; i++) {
        errno = 0;
        int fd = open(files[i], O_WRONLY | O_CLOEXEC);
        a[n++] = (struct attempt){files[i], fd, errno};
        if (fd >= 0)
            close(fd);
    }
    TRY(a, n, "mkdir(/sys/fs/cgroup/x)", mkdir("/sys/fs/cgroup/.servos-probe", 0700));
    verdict(a, n);
}

/* Masked files read as nothing; masked directories are empty. */
static void check_masked(void)
{
    static const char *const files[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list",
                                        "/proc/sched_debug", "/proc/sysrq-trigger"};
    static const char *const dirs[] = {"/proc/acpi", "/proc/scsi", "/sys/firmware"};
    char detail[1024];
    size_t len = 0;
    int leaked = 0;
    for (size_t i = 0; i < 5; i++) {
        int fd = open(files[i], O_RDONLY | O_CLOEXEC);
        char buf[256];
        ssize_t r = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
        if (fd >= 0)
            close(fd);
        if (fd < 0)
            len +=
                (size_t)snprintf(detail + len, sizeof(detail) - len, "%s=%s ", files[i], res(-1));
        else
            len +=
                (size_t)snprintf(detail + len, sizeof(detail) - len, "%s=%zd bytes ", files[i], r);
        leaked |= r > 0;
    }
    for (size_t i = 0; i < 3; i++) {
        DIR *d = opendir(dirs[i]);
        int entries = 0;
        struct dirent *e;
        while (d && (e = readdir(d)))
            entries += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
        if (d)
            closedir(d);
        len += (size_t)snprintf(detail + len, sizeof(detail) - len, "%s=%d entries ", dirs[i],
                                entries);
        leaked |= entries > 0;
    }
    say(leaked ? "open" : "held", "%s", detail);
}

/* ---- processes outside ----------------------------------------------------------- */

static void check_host_pid(void)
{
    struct attempt a[5];
    size_t n = 0;
    if (host_pid <= 0) {
        say("held", "no host pid given");
        return;
    }
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/status", (int)host_pid);
    TRY(a, n, "open(/proc/PID)", open(p, O_RDONLY | O_CLOEXEC));
    TRY(a, n, "kill(PID,0)", kill(host_pid, 0));
    TRY(a, n, "ptrace(SEIZE)", ptrace(PTRACE_SEIZE, host_pid, 0, 0));
    TRY(a, n, "pidfd_open", syscall(SYS_pidfd_open, host_pid, 0));
    char buf[8];
    struct iovec l = {buf, sizeof(buf)}, r = {(void *)0x400000, sizeof(buf)};
    TRY(a, n, "process_vm_readv", syscall(SYS_process_vm_readv, host_pid, &l, 1, &r, 1, 0));
    verdict(a, n);
}

/* ---- capabilities and the filter ------------------------------------------------- */

static void check_status(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256], d[512] = "";
    size_t len = 0;
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "Cap", 3) && strncmp(line, "NoNewPrivs", 10) &&
            strncmp(line, "Seccomp:", 8))
            continue;
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, ':');
        if (tab == NULL)
            continue;
        *tab = '\0';
        char *v = tab + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        len += (size_t)snprintf(d + len, sizeof(d) - len, "%s=%s ", line, v);
    }
    if (f)
        fclose(f);
    say("info", "%s", d);
}

/* CAP_NET_RAW is in the documented default set: a raw socket works, in the
 * container's own network namespace only. */
static void check_raw_socket(void)
{
    int s = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    const char *r = res(s);
    struct if_nameindex *ifs = if_nameindex();
    char names[256] = "";
    size_t len = 0;
    for (struct if_nameindex *i = ifs; i && i->if_index; i++)
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s,", i->if_name);
    if (ifs)
        if_freenameindex(ifs);
    say("info", "raw=%s interfaces=%s", r, names);
}

/* ---- io_uring ---------------------------------------------------------------------- */

/* io_uring runs its operations in the kernel, past the seccomp filter:
 * here an IORING_OP_SOCKET and an IORING_OP_CONNECT to a listener of our
 * own, in the container's network namespace. */
static void check_io_uring(void)
{
    struct io_uring_params p = {0};
    int fd = (int)syscall(SYS_io_uring_setup, 4, &p);
    if (fd < 0) {
        say("held", "io_uring_setup=%s", res(-1));
        return;
    }
    size_t sq_sz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_sz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    if (p.features & IORING_FEAT_SINGLE_MMAP)
        sq_sz = cq_sz = sq_sz > cq_sz ? sq_sz : cq_sz;
    char *sq = mmap(NULL, sq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                    IORING_OFF_SQ_RING);
    char *cq = (p.features & IORING_FEAT_SINGLE_MMAP)
                   ? sq
                   : mmap(NULL, cq_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                          IORING_OFF_CQ_RING);
    struct io_uring_sqe *sqes =
        mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
    if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED) {
        say("open", "io_uring_setup=ok(%d); mmap of its rings failed", fd);
        return;
    }
    unsigned *sq_tail = (unsigned *)(sq + p.sq_off.tail),
             *sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
    unsigned *sq_array = (unsigned *)(sq + p.sq_off.array);
    unsigned *cq_head = (unsigned *)(cq + p.cq_off.head),
             *cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
    struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);

    /* one operation at a time: submit, wait, read its result */
#define RING_OP(fill)                                                                              \
    ({                                                                                             \
        unsigned t_ = *sq_tail, i_ = t_ & *sq_mask;                                                \
        struct io_uring_sqe *e_ = &sqes[i_];                                                       \
        memset(e_, 0, sizeof(*e_));                                                                \
        fill;                                                                                      \
        sq_array[i_] = i_;                                                                         \
        __atomic_store_n(sq_tail, t_ + 1, __ATOMIC_RELEASE);                                       \
        long r_ = syscall(SYS_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0);          \
        int res_ = -EIO;                                                                           \
        if (r_ >= 0) {                                                                             \
            unsigned h_ = __atomic_load_n(cq_head, __ATOMIC_ACQUIRE);                              \
            res_ = cqes[h_ & *cq_mask].res;                                                        \
            __atomic_store_n(cq_head, h_ + 1, __ATOMIC_RELEASE);                                   \
        }                                                                                          \
        res_;                                                                                      \
    })

    int lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    if (lst < 0 || bind(lst, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lst, 1) < 0 ||
        getsockname(lst, (struct sockaddr *)&sa, &sl) < 0) {
        say("open", "io_uring_setup=ok(%d); no listener for the rest: %s", fd, res(-1));
        return;
    }
    int s = RING_OP((e_->opcode = IORING_OP_SOCKET, e_->fd = AF_INET, e_->off = SOCK_STREAM));
    if (s < 0) {
        say("open", "io_uring_setup=ok; IORING_OP_SOCKET=%s", strerrorname_np(-s) ?: "E?");
        return;
    }
    int c = RING_OP((e_->opcode = IORING_OP_CONNECT, e_->fd = s, e_->addr = (uintptr_t)&sa,
                     e_->off = sizeof(sa)));
    int acc = accept4(lst, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    say("open",
        "io_uring_setup=ok IORING_OP_SOCKET=ok(fd %d) IORING_OP_CONNECT(127.0.0.1:%d)=%s accept=%s",
        s, ntohs(sa.sin_port), c < 0 ? (strerrorname_np(-c) ?: "E?") : "ok", res(acc));
#undef RING_OP
}

/* ---- the terminal of the user who ran the container -------------------------------- */

/* A careless user runs a container from their shell: the container's stdin
 * is that shell's terminal. TIOCSTI would type into it once the container
 * exits; TIOCSCTTY would take it over as the container's own terminal; an
 * open /dev/tty says the container already has it as its own. */
static void check_tty(void)
{
    if (!isatty(0)) {
        say("held", "stdin is not a terminal");
        return;
    }
    struct attempt a[4];
    size_t n = 0;
    /* /dev/tty opens only for a process that has a controlling terminal */
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    a[n++] = (struct attempt){"open(/dev/tty)", tty, errno};
    TRY(a, n, "TIOCSCTTY", ioctl(0, TIOCSCTTY, 0));
    TRY(a, n, "TIOCSCTTY(steal)", ioctl(0, TIOCSCTTY, 1));
    /* a comment line: were it typed into a shell, it would do nothing */
    static const char line[] = "#servos-tiocsti\n";
    long r = 0;
    for (const char *c = line; *c && r == 0; c++)
        r = ioctl(0, TIOCSTI, c);
    a[n++] = (struct attempt){"TIOCSTI", r, errno};
    verdict(a, n);
}

/* A terminal of the container's own (a new pty, made its controlling
 * terminal): the kernel lets TIOCSTI through there. The filter refuses
 * TIOCSTI and TIOCLINUX itself, so that no terminal, however the
 * container came by it, takes typed input or console commands. */
static void check_tiocsti_wall(void)
{
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
        say("held", "no pty of its own: %s", res(-1));
        return;
    }
    const char *name = ptsname(m);
    if (setsid() < 0 && errno != EPERM) {
        say("held", "setsid: %s", res(-1));
        return;
    }
    int sl = name ? open(name, O_RDWR | O_CLOEXEC) : -1;
    if (sl < 0 || ioctl(sl, TIOCSCTTY, 0) < 0) {
        say("held", "cannot make its own pty its terminal: %s", res(-1));
        return;
    }
    struct attempt a[2];
    size_t n = 0;
    char c = '#';
    TRY(a, n, "TIOCSTI(own pty)", ioctl(sl, TIOCSTI, &c));
    char sub = 6; /* TIOCL_GETSHIFTSTATE: harmless; a pty answers EINVAL */
    TRY(a, n, "TIOCLINUX(own pty)", ioctl(sl, TIOCLINUX, &sub));
    int filtered = a[0].rc < 0 && a[0].err == EPERM && a[1].rc < 0 && a[1].err == EPERM;
    char d[256];
    describe(a, n, d, sizeof(d));
    say(filtered ? "held" : "open", "%s%s", d, filtered ? "" : " (want EPERM from the filter)");
}

/* listmount and statmount (Linux 6.8) walk mount namespaces by id. */
static void check_listmount(void)
{
    struct {
        uint32_t size, spare;
        uint64_t mnt_id, param, mnt_ns_id;
    } req = {.size = 24, .mnt_id = 0xffffffffffffffffULL /* LSMT_ROOT */};
    uint64_t ids[64];
    struct attempt a[2];
    size_t n = 0;
    TRY(a, n, "listmount", syscall(458, &req, ids, 64, 0));
    char buf[4096];
    req.mnt_id = a[0].rc > 0 ? ids[0] : 1;
    req.param = 0x1 /* STATMOUNT_SB_BASIC */;
    TRY(a, n, "statmount", syscall(457, &req, buf, sizeof(buf), 0));
    verdict(a, n); /* ENOSYS on an older kernel: nothing to refuse there either */
}

/* The device nodes bound from the host into /dev (another file system
 * than /dev's own): their modes and owners are the host's. Set them to
 * what they are already (a change, were it allowed, that changes nothing). */
static void check_devnode_chmod(void)
{
    static const char *const nodes[] = {"/dev/null",   "/dev/zero",    "/dev/full",
                                        "/dev/random", "/dev/urandom", "/dev/tty"};
    struct attempt a[12];
    size_t n = 0;
    struct stat dev;
    if (stat("/dev", &dev) < 0)
        dev.st_dev = 0;
    for (size_t i = 0; i < 6; i++) {
        struct stat st;
        /* a node of the container's own /dev is the container's to change */
        if (stat(nodes[i], &st) < 0 || st.st_dev == dev.st_dev)
            continue;
        TRY(a, n, nodes[i], chmod(nodes[i], st.st_mode & 07777));
        TRY(a, n, "chown", chown(nodes[i], st.st_uid, st.st_gid));
    }
    if (n == 0) {
        say("held", "no node of the host's is bound into /dev");
        return;
    }
    verdict(a, n);
}

/* ---- one stack from another ------------------------------------------------------- */

static int reach(const char *host, const char *port)
{
    current = host;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0) {
        say("held", "resolve: %s", gai_strerror(g));
        return 0;
    }
    char addr[64];
    inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, addr, sizeof(addr));
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int r = connect(s, ai->ai_addr, ai->ai_addrlen);
    int e = errno;
    if (r < 0 && e == EINPROGRESS) {
        struct pollfd pfd = {s, POLLOUT, 0};
        r = poll(&pfd, 1, 1500);
        socklen_t el = sizeof(e);
        if (r == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) == 0 && e == 0)
            r = 0;
        else
            r = -1, e = r == 0 ? ETIMEDOUT : e;
    }
    freeaddrinfo(ai);
    /* and an ICMP echo, as CAP_NET_RAW allows */
    int icmp = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    const char *echo = "no raw socket";
    if (icmp >= 0) {
        struct sockaddr_in dst = {.sin_family = AF_INET};
        inet_pton(AF_INET, addr, &dst.sin_addr);
        struct icmphdr h = {.type = ICMP_ECHO, .un.echo.id = htons(0x5e5), .un.echo.sequence = 1};
        uint32_t sum = 0;
        for (size_t i = 0; i < sizeof(h) / 2; i++)
            sum += ((uint16_t *)&h)[i];
        h.checksum = (uint16_t) ~((sum & 0xffff) + (sum >> 16));
        echo = "no reply";
        if (sendto(icmp, &h, sizeof(h), 0, (struct sockaddr *)&dst, sizeof(dst)) < 0)
            echo = res(-1);
        struct pollfd pfd = {icmp, POLLIN, 0};
        char buf[128];
        while (poll(&pfd, 1, 700) == 1) {
            struct sockaddr_in from;
            socklen_t fl = sizeof(from);
            ssize_t got = recvfrom(icmp, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
            if (got >= 28 && from.sin_addr.s_addr == dst.sin_addr.s_addr &&
                ((struct icmphdr *)(buf + 20))->type == ICMP_ECHOREPLY) {
                echo = "reply";
                break;
            }
        }
    }
    errno = e;
    /* a refused connection came back from the other side: reachable too */
    int open_ = r == 0 || e == ECONNREFUSED || strcmp(echo, "reply") == 0;
    say(open_ ? "open" : "held", "%s:%s connect=%s icmp=%s", addr, port, r == 0 ? "ok" : res(-1),
        echo);
    return 0;
}

/* ---- driver ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    void (*fn)(void);
} checks[] = {
    /* First what leaves the container's mounts alone; then the attempts on
     * its mount namespace (shared by all checks: a hole there would change
     * what later checks see), each followed by a look at whether /usr and
     * the masks held; pivot_root, which would move everyone's root, last. */
    {"status", check_status},
    {"raw_socket", check_raw_socket},
    {"unshare_user", check_unshare_user},
    {"unshare_other", check_unshare_other},
    {"clone_user", check_clone_user},
    {"clone3", check_clone3},
    {"libc_fallback", check_libc_fallback},
    {"setns", check_setns},
    {"x32", check_x32},
    {"i386", check_i386},
    {"personality", check_personality},
    {"keyring", check_keyring},
    {"bpf", check_bpf},
    {"perf", check_perf},
    {"userfaultfd", check_userfaultfd},
    {"shocker", check_shocker},
    {"kexec_modules", check_kexec_modules},
    {"reboot", check_reboot},
    {"swap", check_swap},
    {"clock", check_clock},
    {"blockdev", check_blockdev},
    {"chardev", check_chardev},
    {"devnode_chmod", check_devnode_chmod},
    {"proc_sys_write", check_proc_sys_write},
    {"sys_write", check_sys_write},
    {"host_pid", check_host_pid},
    {"chroot", check_chroot},
    {"root_readonly", check_root_readonly},
    {"io_uring", check_io_uring},
    {"tty", check_tty},
    {"tiocsti_wall", check_tiocsti_wall},
    {"listmount", check_listmount},
    {"cgroupfs", check_cgroupfs},
    {"fsmount", check_fsmount},
    {"mount_setattr", check_mount_setattr},
    {"open_tree", check_open_tree},
    {"move_mount", check_move_mount},
    {"fsopen", check_fsopen},
    {"mount", check_mount},
    {"umount", check_umount},
    {"usr_readonly", check_usr_readonly},
    {"masked", check_masked},
    {"pivot_root", check_pivot_root},
};

static void run_check(size_t i)
{
    int p[2];
    if (pipe(p) < 0) {
        perror("pipe");
        exit(2);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        out_fd = p[1];
        current = checks[i].name;
        checks[i].fn();
        _exit(0);
    }
    close(p[1]);
    char buf[4096];
    size_t len = 0;
    ssize_t r;
    while ((r = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)r;
    close(p[0]);
    int st;
    waitpid(pid, &st, 0);
    if (len > 0)
        fwrite(buf, 1, len, stdout);
    else if (WIFSIGNALED(st)) /* killed before it could tell: nothing got through */
        printf("%s held killed by %s\n", checks[i].name, sigabbrev_np(WTERMSIG(st)) ?: "?");
    else
        printf("%s open no verdict (exit %d)\n", checks[i].name, WEXITSTATUS(st));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "+m:p:")) != -1) {
        if (opt == 'm')
            marker = optarg;
        else if (opt == 'p')
            host_pid = (pid_t)atoi(optarg);
        else
            return 2;
    }
    if (optind < argc && strcmp(argv[optind], "reach") == 0) {
        if (argc - optind != 3)
            return 2;
        return reach(argv[optind + 1], argv[optind + 2]);
    }
    int all = optind < argc && strcmp(argv[optind], "all") == 0;
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        int want = all;
        for (int k = optind; k < argc && !want; k++)
            want = strcmp(argv[k], checks[i].name) == 0;
        if (want)
            run_check(i);
    }
    return 0;
}
