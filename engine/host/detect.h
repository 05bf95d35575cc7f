/* What this host is and what isolation it offers: `servos detect`, and the
 * facts the runtime picks its back ends from (cgroup v1 / v2 / hybrid). */
#ifndef SV_DETECT_H
#define SV_DETECT_H

#include "host/platform.h"

enum sv_cgroup_mode { SV_CGROUP_NONE, SV_CGROUP_V1, SV_CGROUP_V2, SV_CGROUP_HYBRID };

/* The most boards one USB id may be (a CH340's 1a86:7523 is on nano,
 * esp32 and esp8266 boards), and serial ports one device may have. */
#define SV_USB_CANDIDATES 8
#define SV_USB_TTYS       4

struct sv_usb_device {
    char path[64]; /* its name in /sys/bus/usb/devices: "1-1.2" */
    unsigned vid, pid;
    char product[128];
    /* Every board whose table lists the id, in table order; board and
     * platform are the first (NULL when no table knows it), and n_boards
     * > 1 says the id alone cannot tell which. */
    const struct sv_board *board;
    const struct sv_platform *platform;
    const struct sv_board *boards[SV_USB_CANDIDATES];
    const struct sv_platform *platforms[SV_USB_CANDIDATES];
    size_t n_boards;
    /* Its serial ports as /dev paths ("/dev/ttyUSB0"), from the tty
     * devices sysfs shows below its interfaces. */
    char tty[SV_USB_TTYS][48];
    size_t n_tty;
    /* udev's stable name of each (/dev/serial/by-id/...), or "": what an
     * Envirofile's devices should name, as ttyUSB numbers change. */
    char by_id[SV_USB_TTYS][192];
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
/* platforms may be NULL (no board matching). USB devices are read from
 * /sys/bus/usb/devices, or from $SERVOS_SYSFS/bus/usb/devices when that is
 * set (a made-up tree, for tests: no board is plugged in where they run);
 * udev's links from /dev/serial/by-id, or $SERVOS_DEVFS/serial/by-id. */
void sv_detect_host(struct sv_host_info *h, const struct sv_platforms *platforms);

#endif
