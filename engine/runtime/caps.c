#include "runtime/caps.h"

#include <errno.h>
#include <strings.h>
#include <sys/capability.h>
#include <sys/prctl.h>

/* Docker's default set (moby/oci/caps/defaults.go). */
static const cap_value_t default_caps[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,           CAP_FOWNER,
    CAP_MKNOD,   CAP_NET_RAW,      CAP_SETGID,           CAP_SETUID,
    CAP_SETFCAP, CAP_SETPCAP,      CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT,
    CAP_KILL,    CAP_AUDIT_WRITE,
};

static int last_cap(void)
{
    static int last = -1;
    if (last < 0) {
        last = CAP_LAST_CAP;
        while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0)
            last++; /* the running kernel may know more than our headers */
    }
    return last;
}

/* Docker's 14; without MKNOD for --userns host (see below). */
static sv_capset_t caps_default(bool userns_host)
{
    sv_capset_t m = 0;
    for (size_t i = 0; i < SV_ARRAY_LEN(default_caps); i++)
        m |= 1ULL << default_caps[i];
    /* Docker pairs MKNOD with a devices cgroup. servos has its policy too
     * (devices.h), but a host where it cannot be applied (no BPF, no v1
     * devices controller) would leave container root, outside a user
     * namespace, free to make the node of a host disk in a volume and open
     * it there; in a user namespace the kernel refuses nodes anyway. */
    if (userns_host)
        m &= ~(1ULL << CAP_MKNOD);
    return m;
}

/* A capability name ("NET_ADMIN", "CAP_NET_ADMIN", "all", any case). */
static int caps_parse(const char *name, sv_capset_t *mask, sv_error_t *err)
{
    if (strcasecmp(name, "all") == 0) {
        int last = last_cap();
        *mask = last >= 63 ? ~0ULL : (1ULL << (last + 1)) - 1;
        return 0;
    }
    const char *n = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
    char full[64];
    snprintf(full, sizeof(full), "cap_%s", n);
    for (char *p = full; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    cap_value_t v;
    if (cap_from_name(full, &v) < 0 || v > last_cap())
        return sv_error(err, EINVAL, "unknown capability \"%s\" (like NET_ADMIN or SYS_PTRACE)",
                        name);
    *mask = 1ULL << v;
    return 0;
}

int sv_caps_compute(bool userns_host, const char *const *add, const char *const *drop,
                    sv_capset_t *out, sv_error_t *err)
{
    sv_capset_t set = caps_default(userns_host), m;
    for (; add && *add; add++) {
        if (caps_parse(*add, &m, err) < 0)
            return -1;
        set |= m;
    }
    for (; drop && *drop; drop++) {
        if (caps_parse(*drop, &m, err) < 0)
            return -1;
        set &= ~m;
    }
    *out = set;
    return 0;
}

int sv_caps_apply_bounding(sv_capset_t set, sv_error_t *err)
{
    int last = last_cap();
    for (int c = 0; c <= last; c++)
        if (!(set & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return sv_error(err, errno, "cannot drop capability %d from the bounding set", c);
    return 0;
}

int sv_caps_apply(sv_capset_t set, sv_error_t *err)
{
    cap_t caps = cap_init();
    if (caps == NULL)
        return sv_error(err, errno, "cap_init");
    int last = last_cap();
    for (int c = 0; c <= last; c++) {
        if (!(set & (1ULL << c)))
            continue;
        cap_value_t v = c;
        /* Not inheritable: a file with inheritable file capabilities
         * would otherwise get them at exec, even after a switch to
         * another user (Docker stopped setting them in 20.10.14). */
        cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET);
        cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
    }
    int rc = cap_set_proc(caps);
    int saved = errno;
    cap_free(caps);
    if (rc < 0)
        return sv_error(err, saved, "cannot set the container's capabilities");
    return 0;
}
