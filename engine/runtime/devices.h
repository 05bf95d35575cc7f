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
 * lists. The group's sub-groups inherit it in both.
 *
 * A device passed in (--device, a service's devices) is a host node the
 * policy allows with the access asked for, and a node of its own in the
 * container. In a user namespace the kernel makes no device node, and a
 * bind of the host's own would keep the host's owner and mode, which the
 * container's root (an unprivileged host uid) may not open. So servos,
 * host root, makes the nodes itself before the container starts, in a
 * small tmpfs of their own (a file system mounted from the host's user
 * namespace, so its nodes open): each owned by host root, which no id in
 * the container maps to, and with the mode the access asks for (r: 0444,
 * rw: 0666), so what the container may do with it holds for every user
 * inside and no one there can change it. The container binds each at its
 * target (mounts.c).
 *
 * A pseudo-terminal (/dev/pts/N, what socat or a simulator offers as a
 * serial port) opens only through its own devpts node (a copy gives EIO):
 * that one is bound as it is, read-only (no chmod through it), and opens
 * as its host owner and mode allow (sv_user_warn_unwritable says when
 * they keep the container out). The policy cannot keep one read-only
 * either: a container's own terminals share its major number (136), which
 * the default policy allows; so one is passed with rw or not at all. */
#ifndef SV_DEVICES_H
#define SV_DEVICES_H

#include "core/util.h"
#include "graph/units.h"

/* Access bits, as the kernel's BPF_DEVCG_ACC_* */
enum { SV_DEV_MKNOD = 1, SV_DEV_READ = 2, SV_DEV_WRITE = 4, SV_DEV_RWM = 7 };

struct sv_device_rule {
    char type;       /* 'c' (character), 'b' (block), 'a' (either) */
    int64_t major;   /* -1: any */
    int64_t minor;   /* -1: any */
    unsigned access; /* SV_DEV_* */
    bool host_node;  /* a device passed in that is bound as the host's own node (above) */
};

/* v2: load the policy (the default rules, then n extra) and attach it to
 * the group whose directory is open as cgfd. */
int sv_devices_attach(int cgfd, const struct sv_device_rule *extra, size_t n, sv_error_t *err);
/* v1: the same policy in the devices controller's group dir. */
int sv_devices_write_v1(const char *dir, const struct sv_device_rule *extra, size_t n,
                        sv_error_t *err);

/* The rules for n devices passed in: each source must be a character or
 * block device node (a link to one is followed, and the source becomes
 * the node's own path); rules[i] allows it with its access. rules holds n. */
int sv_devices_resolve(struct sv_device_spec *devs, size_t n, struct sv_device_rule *rules,
                       sv_error_t *err);
/* A detached tmpfs (a mount descriptor, for move_mount) holding a node for
 * each rule but the host_node ones, named after its index ("0", "1", ...),
 * or -1 with err set; -2 when every rule is a host_node (no tmpfs). */
int sv_devices_make_nodes(const struct sv_device_rule *rules, size_t n, sv_error_t *err);

#endif
