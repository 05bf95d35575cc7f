/* The device policy of a container's cgroup (see devices.h). */
#include "runtime/devices.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* crun's and Docker's list, but for mknod: they let a container make any
 * node (c *:* m, b *:* m), here only these. */
static const struct sv_device_rule default_rules[] = {
    {'c', 1, 3, SV_DEV_RWM, false},    /* null */
    {'c', 1, 5, SV_DEV_RWM, false},    /* zero */
    {'c', 1, 7, SV_DEV_RWM, false},    /* full */
    {'c', 1, 8, SV_DEV_RWM, false},    /* random */
    {'c', 1, 9, SV_DEV_RWM, false},    /* urandom */
    {'c', 5, 0, SV_DEV_RWM, false},    /* tty */
    {'c', 5, 2, SV_DEV_RWM, false},    /* ptmx */
    {'c', 136, -1, SV_DEV_RWM, false}, /* pts/N: Unix98 pseudo-terminals */
};

/* ---- v2: the BPF program ------------------------------------------------------- */

/* The most instructions a rule takes (see rule_insns), plus the prologue
 * and the final deny. */
#define RULE_MAX   8
#define PROLOGUE_N 6

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
    return (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

/* Registers: r1 the context (struct bpf_cgroup_dev_ctx), then r2 the
 * device's type, r3 the access asked for, r4 major, r5 minor. */
static size_t prologue(struct bpf_insn *p)
{
    size_t n = 0;
    p[n++] = insn(BPF_LDX | BPF_W | BPF_MEM, 2, 1, 0, 0); /* access_type */
    p[n++] = insn(BPF_ALU | BPF_AND | BPF_K, 2, 0, 0, 0xffff);
    p[n++] = insn(BPF_LDX | BPF_W | BPF_MEM, 3, 1, 0, 0);
    p[n++] = insn(BPF_ALU | BPF_RSH | BPF_K, 3, 0, 0, 16);
    p[n++] = insn(BPF_LDX | BPF_W | BPF_MEM, 4, 1, 4, 0); /* major */
    p[n++] = insn(BPF_LDX | BPF_W | BPF_MEM, 5, 1, 8, 0); /* minor */
    return n;
}

/* One rule: each test that fails jumps past the rest of the rule (to the
 * next one); when all pass, the access is allowed (r0 = 1). */
static size_t rule_insns(const struct sv_device_rule *r, struct bpf_insn *p)
{
    size_t n = 0;
    int16_t left[RULE_MAX]; /* where each jump is, to patch its offset */
    size_t jumps = 0;
    if (r->type != 'a') {
        left[jumps++] = (int16_t)n;
        p[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, 2, 0, 0,
                      r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
    }
    if ((r->access & SV_DEV_RWM) != SV_DEV_RWM) { /* nothing asked beyond what it allows */
        p[n++] = insn(BPF_ALU | BPF_MOV | BPF_X, 1, 3, 0, 0);
        p[n++] = insn(BPF_ALU | BPF_AND | BPF_K, 1, 0, 0, (int32_t)(~r->access & SV_DEV_RWM));
        left[jumps++] = (int16_t)n;
        p[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, 1, 0, 0, 0);
    }
    if (r->major >= 0) {
        left[jumps++] = (int16_t)n;
        p[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, 4, 0, 0, (int32_t)r->major);
    }
    if (r->minor >= 0) {
        left[jumps++] = (int16_t)n;
        p[n++] = insn(BPF_JMP | BPF_JNE | BPF_K, 5, 0, 0, (int32_t)r->minor);
    }
    p[n++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1);
    p[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
    for (size_t j = 0; j < jumps; j++) /* relative to the instruction after the jump */
        p[left[j]].off = (int16_t)(n - (size_t)left[j] - 1);
    return n;
}

/* Rule i of the default list followed by extra. */
static const struct sv_device_rule *rule_at(size_t i, const struct sv_device_rule *extra)
{
    size_t nd = SV_ARRAY_LEN(default_rules);
    return i < nd ? &default_rules[i] : &extra[i - nd];
}

static int rule_check(const struct sv_device_rule *r, sv_error_t *err)
{
    if ((r->type == 'a' || r->type == 'b' || r->type == 'c') && r->major < INT32_MAX &&
        r->minor < INT32_MAX && (r->access & ~(unsigned)SV_DEV_RWM) == 0 && r->access != 0)
        return 0;
    return sv_error(err, EINVAL, "devices: an invalid rule (%c %lld:%lld, access %u)", r->type,
                    (long long)r->major, (long long)r->minor, r->access);
}

static long sys_bpf(int cmd, union bpf_attr *a)
{
    return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

int sv_devices_attach(int cgfd, const struct sv_device_rule *extra, size_t n, sv_error_t *err)
{
    size_t total = SV_ARRAY_LEN(default_rules) + n;
    cleanup_free struct bpf_insn *prog =
        sv_xcalloc(PROLOGUE_N + total * RULE_MAX + 2, sizeof(*prog));
    size_t len = prologue(prog);
    for (size_t i = 0; i < total; i++) {
        if (rule_check(rule_at(i, extra), err) < 0)
            return -1;
        len += rule_insns(rule_at(i, extra), prog + len);
    }
    prog[len++] = insn(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0); /* nothing matched: refused */
    prog[len++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);

    union bpf_attr load = {0};
    load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    load.insns = (uintptr_t)prog;
    load.insn_cnt = (uint32_t)len;
    load.license = (uintptr_t) "GPL";
    cleanup_close int fd = (int)sys_bpf(BPF_PROG_LOAD, &load);
    if (fd < 0)
        return sv_error(err, errno, "devices: cannot load the device policy (a BPF program)");
    /* ALLOW_MULTI: a policy above ours (systemd's DevicePolicy=) keeps
     * running too, and a device must pass both. The group holds the
     * program from here; our descriptor can go. */
    union bpf_attr attach = {0};
    attach.target_fd = (uint32_t)cgfd;
    attach.attach_bpf_fd = (uint32_t)fd;
    attach.attach_type = BPF_CGROUP_DEVICE;
    attach.attach_flags = BPF_F_ALLOW_MULTI;
    if (sys_bpf(BPF_PROG_ATTACH, &attach) < 0)
        return sv_error(err, errno, "devices: cannot attach the device policy to the cgroup");
    return 0;
}

/* ---- v1: the devices controller ------------------------------------------------ */

static void rule_text(const struct sv_device_rule *r, char *buf, size_t size)
{
    char major[24] = "*", minor[24] = "*", access[4];
    size_t a = 0;
    if (r->major >= 0)
        snprintf(major, sizeof(major), "%lld", (long long)r->major);
    if (r->minor >= 0)
        snprintf(minor, sizeof(minor), "%lld", (long long)r->minor);
    if (r->access & SV_DEV_READ)
        access[a++] = 'r';
    if (r->access & SV_DEV_WRITE)
        access[a++] = 'w';
    if (r->access & SV_DEV_MKNOD)
        access[a++] = 'm';
    access[a] = '\0';
    snprintf(buf, size, "%c %s:%s %s", r->type, major, minor, access);
}

int sv_devices_write_v1(const char *dir, const struct sv_device_rule *extra, size_t n,
                        sv_error_t *err)
{
    cleanup_free char *deny = sv_xasprintf("%s/devices.deny", dir);
    if (sv_write_file(deny, "a", err) < 0)
        return sv_error_wrap(err, "devices");
    /* One rule per write; the file stays open for them all. */
    cleanup_free char *allow = sv_xasprintf("%s/devices.allow", dir);
    cleanup_close int fd = open(allow, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return sv_error(err, errno, "devices: cannot open %s", allow);
    size_t total = SV_ARRAY_LEN(default_rules) + n;
    for (size_t i = 0; i < total; i++) {
        char line[64];
        if (rule_check(rule_at(i, extra), err) < 0)
            return -1;
        rule_text(rule_at(i, extra), line, sizeof(line));
        if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
            return sv_error(err, errno, "devices: cannot write \"%s\" to %s", line, allow);
    }
    return 0;
}

/* ---- devices passed in ---------------------------------------------------------- */

static unsigned access_bits(const char *a)
{
    return (strchr(a, 'r') ? SV_DEV_READ : 0) | (strchr(a, 'w') ? SV_DEV_WRITE : 0) |
           (strchr(a, 'm') ? SV_DEV_MKNOD : 0);
}

int sv_devices_resolve(struct sv_device_spec *devs, size_t n, struct sv_device_rule *rules,
                       sv_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        /* The node itself, not a link to it (socat's link=, udev's
         * /dev/serial/by-id): the container binds a pseudo-terminal by
         * this path, and its root may not pass the link's directory. */
        char *real = realpath(devs[i].source, NULL);
        if (real) {
            free((char *)devs[i].source);
            devs[i].source = real;
        }
        const char *src = devs[i].source;
        struct stat st;
        if (stat(src, &st) < 0) {
            if (errno == ENOENT)
                return sv_error(err, 0,
                                "device %s: no such device node on this host (a board that is "
                                "not plugged in? servos detect lists the boards it sees)",
                                src);
            return sv_error(err, errno, "device %s", src);
        }
        if (S_ISDIR(st.st_mode))
            return sv_error(err, 0,
                            "device %s: is a directory; give each device node in it (one node "
                            "per device)",
                            src);
        if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
            return sv_error(err, 0, "device %s: not a device node (%s); a file goes in as a volume",
                            src, S_ISREG(st.st_mode) ? "a regular file" : "a pipe or a socket");
        struct statfs fs;
        bool pty = statfs(src, &fs) == 0 && fs.f_type == DEVPTS_SUPER_MAGIC;
        rules[i] = (struct sv_device_rule){.type = S_ISCHR(st.st_mode) ? 'c' : 'b',
                                           .major = major(st.st_rdev),
                                           .minor = minor(st.st_rdev),
                                           .access = access_bits(devs[i].access),
                                           .host_node = pty};
        unsigned rw = SV_DEV_READ | SV_DEV_WRITE;
        if (pty && (rules[i].access & rw) != rw)
            return sv_error(err, 0,
                            "device %s:%s: a pseudo-terminal goes in with rw or not at all (the "
                            "device policy cannot keep it %s-only: the container's own "
                            "terminals share its major number, 136)",
                            src, devs[i].access, rules[i].access & SV_DEV_READ ? "read" : "write");
    }
    return 0;
}

/* The mode that gives every user inside what access allows: r and w as
 * read and write bits for all (m is the policy's alone). */
static mode_t node_mode(unsigned access)
{
    return (access & SV_DEV_READ ? 0444 : 0) | (access & SV_DEV_WRITE ? 0222 : 0);
}

static int fs_config(int fsfd, const char *key, const char *value, sv_error_t *err)
{
    unsigned cmd = value ? FSCONFIG_SET_STRING : FSCONFIG_CMD_CREATE;
    if (syscall(SYS_fsconfig, fsfd, cmd, key, value, 0) < 0)
        return sv_error(err, errno, "devices: cannot make the tmpfs for the device nodes (%s)",
                        key ? key : "create");
    return 0;
}

int sv_devices_make_nodes(const struct sv_device_rule *rules, size_t n, sv_error_t *err)
{
    size_t made = 0;
    for (size_t i = 0; i < n; i++)
        made += !rules[i].host_node;
    if (made == 0)
        return -2;
    cleanup_close int fsfd = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return sv_error(err, errno, "devices: cannot make the tmpfs for the device nodes");
    char inodes[24];
    snprintf(inodes, sizeof(inodes), "%zu", n + 4);
    if (fs_config(fsfd, "mode", "0755", err) < 0 || fs_config(fsfd, "size", "4k", err) < 0 ||
        fs_config(fsfd, "nr_inodes", inodes, err) < 0 || fs_config(fsfd, NULL, NULL, err) < 0)
        return -1;
    /* No nodev: the point of this file system; nosuid and noexec. */
    cleanup_close int mnt =
        (int)syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
    if (mnt < 0)
        return sv_error(err, errno, "devices: cannot mount the tmpfs for the device nodes");
    for (size_t i = 0; i < n; i++) {
        char name[24];
        if (rules[i].host_node)
            continue;
        snprintf(name, sizeof(name), "%zu", i);
        mode_t type = rules[i].type == 'b' ? S_IFBLK : S_IFCHR;
        dev_t dev = makedev((unsigned)rules[i].major, (unsigned)rules[i].minor);
        /* fchmodat after: mknodat's mode passes through the umask. */
        if (mknodat(mnt, name, type, dev) < 0 ||
            fchmodat(mnt, name, node_mode(rules[i].access), 0) < 0)
            return sv_error(err, errno, "devices: cannot make the node %c %lld:%lld", rules[i].type,
                            (long long)rules[i].major, (long long)rules[i].minor);
    }
    return sv_steal_fd(mnt);
}
