#include "seccomp.h"

#include <errno.h>
#include <sched.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <stdlib.h>
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
};

static int build(scmp_filter_ctx *out, sv_error_t *err)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL)
        return sv_error(err, ENOMEM, "seccomp: cannot create a filter");
    int rc = 0;
    for (size_t i = 0; i < SV_ARRAY_LEN(denied) && rc == 0; i++) {
        int nr = seccomp_syscall_resolve_name(denied[i]);
        if (nr == __NR_SCMP_ERROR)
            continue; /* not a syscall on this architecture */
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
    }
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
    if (rc < 0) {
        seccomp_release(ctx);
        return sv_error(err, -rc, "seccomp: cannot build the default filter");
    }
    *out = ctx;
    return 0;
}

int sv_seccomp_load_default(sv_error_t *err)
{
    scmp_filter_ctx ctx;
    if (build(&ctx, err) < 0)
        return -1;
    int rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc < 0)
        return sv_error(err, -rc, "seccomp: cannot load the default filter");
    return 0;
}

/* The program is the same for every container: build it once per process
 * (a supervisor starts many), through a memfd, and keep the bytes. */
static char *cached_bpf;
static size_t cached_len;

static int build_cached(sv_error_t *err)
{
    if (cached_bpf)
        return 0;
    scmp_filter_ctx ctx;
    if (build(&ctx, err) < 0)
        return -1;
    cleanup_close int mfd = memfd_create("servos-seccomp", MFD_CLOEXEC);
    int rc = mfd < 0 ? -errno : seccomp_export_bpf(ctx, mfd);
    seccomp_release(ctx);
    if (rc < 0)
        return sv_error(err, -rc, "seccomp: cannot export the default filter");
    off_t len = lseek(mfd, 0, SEEK_END);
    char *buf = sv_xmalloc(len > 0 ? (size_t)len : 1);
    if (len <= 0 || pread(mfd, buf, (size_t)len, 0) != len) {
        free(buf);
        return sv_error(err, EIO, "seccomp: cannot read the exported filter");
    }
    cached_bpf = buf;
    cached_len = (size_t)len;
    return 0;
}

int sv_seccomp_export_default(int fd, sv_error_t *err)
{
    if (build_cached(err) < 0)
        return -1;
    size_t off = 0;
    while (off < cached_len) {
        ssize_t n = write(fd, cached_bpf + off, cached_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sv_error(err, errno, "seccomp: handing the filter to the container");
        off += (size_t)n;
    }
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
