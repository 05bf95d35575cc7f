/* What this host is and what isolation it offers: `servos detect`, and the
 * facts the runtime picks its back ends from (cgroup v1 / v2 / hybrid). */
#ifndef SV_DETECT_H
#define SV_DETECT_H

#include "host/platform.h"

enum sv_cgroup_mode { SV_CGROUP_NONE, SV_CGROUP_V1, SV_CGROUP_V2, SV_CGROUP_HYBRID };

struct sv_usb_device {
    char path[64];
    unsigned vid, pid;
    char product[128];
    const struct sv_board *board; /* NULL when no table knows it */
    const struct sv_platform *platform;
};

struct sv_host_info {
    char platform[32], arch[32], os[128], kernel[128], model[128];
    enum sv_cgroup_mode cgroup;
    char cgroup_controllers[512];
    bool ns_user, ns_pid, ns_mnt, ns_uts, ns_ipc, ns_net, ns_cgroup, ns_time;
    long max_user_namespaces; /* -1 when unknown */
    bool seccomp, seccomp_filter, overlayfs;
    struct sv_usb_device usb[64];
    size_t n_usb;
};

const char *sv_detect_cgroup_mode_name(enum sv_cgroup_mode m);
enum sv_cgroup_mode sv_detect_cgroup_mode(void);
/* platforms may be NULL (no board matching). */
void sv_detect_host(struct sv_host_info *h, const struct sv_platforms *platforms);

#endif
