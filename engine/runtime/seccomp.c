#include "runtime/seccomp.h"

#include <errno.h>
#include <sched.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

static const char *const denied[] = {
    /* modules and kexec */
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "kexec_load",
    "kexec_file_load",
    /* kernel programmability and introspection */
    "bpf",
    "perf_event_open",
    "lookup_dcookie",
    "kcmp",
    "userfaultfd",
    "syslog",
    /* keyrings are not namespaced */
    "add_key",
    "request_key",
    "keyctl",
    /* mounts, old and new API */
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "open_tree_attr", /* open_tree with mount attributes (Linux 6.15) */
    /* swap, reboot, accounting, quotas */
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "quotactl_fd",
    "nfsservctl",
    /* clocks */
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_settime64",
    "clock_adjtime",
    "clock_adjtime64",
    "adjtimex",
    /* file handles escape mount namespaces; raw I/O ports */
    "open_by_handle_at",
    "name_to_handle_at",
    "iopl",
    "ioperm",
    /* obsolete or dangerous */
    "uselib",
    "vm86",
    "vm86old",
    "get_kernel_syms",
    "query_module",
    "_sysctl",
    "vhangup",
    "setns",
    /* the mount tree of every namespace, by id (Linux 6.8) */
    "listmount",
    "statmount",
};

/* Calls this libseccomp may not know by name yet, by number: since 4.20
 * every architecture but alpha numbers new calls alike. */
static const struct {
    const char *name;
    int nr;
} by_number[] = {{"statmount", 457}, {"listmount", 458}, {"open_tree_attr", 467}};

/* io_uring runs its operations in kernel threads that no filter sees: an
 * IORING_OP_SOCKET opens the socket a socket() rule refuses. Docker's
 * default profile has denied it since 2023; so do we, unless asked. */
static const char *const io_uring_calls[] = {"io_uring_setup", "io_uring_enter",
                                             "io_uring_register"};

/* Terminal ioctls that type into, or drive, another process's terminal:
 * a container given the caller's tty could inject commands there. */
static const unsigned long denied_ioctls[] = {TIOCSTI, TIOCLINUX};

static int syscall_nr(const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);
    uint32_t arch = seccomp_arch_native();
    for (size_t i = 0; i < SV_ARRAY_LEN(by_number) && nr == __NR_SCMP_ERROR; i++)
        if (strcmp(by_number[i].name, name) == 0 &&
            (arch == SCMP_ARCH_X86_64 || arch == SCMP_ARCH_AARCH64))
            nr = by_number[i].nr;
    return nr;
}

static int deny(scmp_filter_ctx ctx, const char *name)
{
    int nr = syscall_nr(name);
    if (nr == __NR_SCMP_ERROR)
        return 0; /* not a syscall on this architecture */
    return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
}

static int filter_build(unsigned flags, scmp_filter_ctx *out, sv_error_t *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL)
        return sv_error(err, ENOMEM, "seccomp: cannot create a filter");
    int rc = 0;
    for (size_t i = 0; i < SV_ARRAY_LEN(denied) && rc == 0; i++)
        rc = deny(ctx, denied[i]);
    for (size_t i = 0; i < SV_ARRAY_LEN(io_uring_calls) && rc == 0; i++)
        if (!(flags & SV_SECCOMP_ALLOW_IO_URING))
            rc = deny(ctx, io_uring_calls[i]);
    /* The command is an unsigned int: compare the low 32 bits only, so
     * garbage in the upper half cannot slip past. */
    for (size_t i = 0; i < SV_ARRAY_LEN(denied_ioctls) && rc == 0; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, denied_ioctls[i]));
    /* New user namespaces from inside: unshare(CLONE_NEWUSER) and
     * clone(CLONE_NEWUSER) fail; clone3 hides its flags in memory that a
     * filter cannot read, so it reports ENOSYS and libc falls back to clone. */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    static const char *const syncs[] = {"fsync", "fdatasync", "syncfs", "sync", "sync_file_range"};
    for (size_t i = 0; i < SV_ARRAY_LEN(syncs) && rc == 0 && (flags & SV_SECCOMP_NO_SYNC); i++) {
        int nr = syscall_nr(syncs[i]);
        if (nr != __NR_SCMP_ERROR) /* errno 0: the call returns 0, done */
            rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(0), nr, 0);
    }
    if (rc < 0) {
        seccomp_release(ctx);
        return sv_error(err, -rc, "seccomp: cannot build the default filter");
    }
    *out = ctx;
    return 0;
}

/* The program is the same for every container with the same flags:
 * build it once per process (a supervisor starts many), through a memfd,
 * and keep the bytes. */
static struct {
    char *bpf;
    size_t len;
} filter_cache[SV_SECCOMP_FLAGS + 1];

static int filter_cached(unsigned flags, sv_error_t *err)
{
    flags &= SV_SECCOMP_FLAGS;
    if (filter_cache[flags].bpf)
        return 0;
    scmp_filter_ctx ctx = NULL;
    if (filter_build(flags, &ctx, err) < 0)
        return -1;
    cleanup_close int mfd = memfd_create("servos-seccomp", MFD_CLOEXEC);
    int rc = mfd < 0 ? -errno : seccomp_export_bpf(ctx, mfd);
    seccomp_release(ctx);
    if (rc < 0)
        return sv_error(err, -rc, "seccomp: cannot export the default filter");
    off_t len = lseek(mfd, 0, SEEK_END);
    cleanup_free char *buf = sv_xmalloc(len > 0 ? (size_t)len : 1);
    if (len <= 0 || pread(mfd, buf, (size_t)len, 0) != len)
        return sv_error(err, EIO, "seccomp: cannot read the exported filter");
    filter_cache[flags].bpf = sv_steal(buf);
    filter_cache[flags].len = (size_t)len;
    return 0;
}

int sv_seccomp_export_default(int fd, unsigned flags, sv_error_t *err)
{
    if (filter_cached(flags, err) < 0)
        return -1;
    const char *bpf = filter_cache[flags & SV_SECCOMP_FLAGS].bpf;
    size_t len = filter_cache[flags & SV_SECCOMP_FLAGS].len, off = 0;
    while (off < len) {
        ssize_t n = write(fd, bpf + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sv_error(err, errno, "seccomp: handing the filter to the container");
        off += (size_t)n;
    }
    return 0;
}

/* From the cache: a supervisor's child (a ProServe handler) starts many,
 * and the program is built already. */
int sv_seccomp_load_default(unsigned flags, sv_error_t *err)
{
    if (filter_cached(flags, err) < 0)
        return -1;
    flags &= SV_SECCOMP_FLAGS;
    struct sock_fprog prog = {
        .len = (unsigned short)(filter_cache[flags].len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)filter_cache[flags].bpf};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
        return sv_error(err, errno, "seccomp: cannot load the default filter");
    return 0;
}

int sv_seccomp_load_fd(int fd, sv_error_t *err)
{
    struct sock_filter prog[4096];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, (char *)prog + len, sizeof(prog) - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sv_error(err, errno, "seccomp: reading the filter");
        len += (size_t)n;
        if (len == sizeof(prog))
            return sv_error(err, E2BIG, "seccomp: the filter is too long");
    }
    if (len == 0 || len % sizeof(prog[0]) != 0)
        return sv_error(err, EINVAL, "seccomp: no filter came from servos");
    struct sock_fprog fprog = {.len = (unsigned short)(len / sizeof(prog[0])), .filter = prog};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) < 0)
        return sv_error(err, errno, "seccomp: cannot load the filter");
    return 0;
}
