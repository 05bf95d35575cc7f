/* Which device nodes a container may open and make: its cgroup's device
 * policy. A container gets crun's default: nothing but the standard nodes
 * (null, zero, full, random, urandom, tty, ptmx and its own pseudo-
 * terminals), which it may also make; any other node it is given (a
 * volume of /dev/sda, one made with CAP_MKNOD) opens with EPERM, and no
 * other node can be made. Rules passed as extra allow more (--device).
 *
 * On v2 the policy is a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the
 * container's group (built here instruction by instruction: it is a list
 * of comparisons); on v1 it is the devices controller's deny and allow
 * lists. The group's sub-groups inherit it in both. */
#ifndef SV_DEVICES_H
#define SV_DEVICES_H

#include "core/util.h"

/* Access bits, as the kernel's BPF_DEVCG_ACC_* */
enum { SV_DEV_MKNOD = 1, SV_DEV_READ = 2, SV_DEV_WRITE = 4, SV_DEV_RWM = 7 };

struct sv_device_rule {
    char type;       /* 'c' (character), 'b' (block), 'a' (either) */
    int64_t major;   /* -1: any */
    int64_t minor;   /* -1: any */
    unsigned access; /* SV_DEV_* */
};

/* v2: load the policy (the default rules, then n extra) and attach it to
 * the group whose directory is open as cgfd. */
int sv_devices_attach(int cgfd, const struct sv_device_rule *extra, size_t n, sv_error_t *err);
/* v1: the same policy in the devices controller's group dir. */
int sv_devices_write_v1(const char *dir, const struct sv_device_rule *extra, size_t n,
                        sv_error_t *err);

#endif
