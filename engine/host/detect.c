#include "host/detect.h"

#include <dirent.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

static bool read_line(const char *path, char *buf, size_t size)
{
    cleanup_fclose FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    bool ok = fgets(buf, (int)size, f) != NULL;
    if (ok)
        buf[strcspn(buf, "\n")] = '\0';
    return ok;
}

const char *sv_detect_cgroup_mode_name(enum sv_cgroup_mode m)
{
    static const char *const names[] = {"none", "v1", "v2", "hybrid"};
    return names[m];
}

enum sv_cgroup_mode sv_detect_cgroup_mode(void)
{
    struct statfs st;
    if (statfs("/sys/fs/cgroup", &st) < 0)
        return SV_CGROUP_NONE;
    if (st.f_type == CGROUP2_SUPER_MAGIC)
        return SV_CGROUP_V2;
    if (st.f_type != TMPFS_MAGIC)
        return SV_CGROUP_NONE;
    if (statfs("/sys/fs/cgroup/unified", &st) == 0 && st.f_type == CGROUP2_SUPER_MAGIC)
        return SV_CGROUP_HYBRID;
    return SV_CGROUP_V1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void cgroup_controllers(struct sv_host_info *h)
{
    char *out = h->cgroup_controllers;
    size_t size = sizeof(h->cgroup_controllers);
    out[0] = '\0';
    if (h->cgroup == SV_CGROUP_V2) {
        read_line("/sys/fs/cgroup/cgroup.controllers", out, size);
        return;
    }
    cleanup_closedir DIR *d = opendir("/sys/fs/cgroup");
    if (d == NULL)
        return;
    struct dirent *de;
    char names[64][sizeof(de->d_name)];
    size_t n = 0;
    while ((de = readdir(d)) != NULL && n < 64) {
        if (de->d_name[0] == '.' || de->d_type == DT_LNK || strcmp(de->d_name, "unified") == 0)
            continue;
        memcpy(names[n++], de->d_name, sizeof(de->d_name));
    }
    qsort(names, n, sizeof(names[0]), cmp_names);
    for (size_t i = 0; i < n; i++)
        if (strlen(out) + strlen(names[i]) + 2 < size)
            snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? " " : "", names[i]);
}

static bool has_ns(const char *name)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
    return access(path, F_OK) == 0;
}

static bool fs_supported(const char *fs)
{
    cleanup_fclose FILE *f = fopen("/proc/filesystems", "re");
    if (f == NULL)
        return false;
    char line[128];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        char *t = strrchr(line, '\t');
        t = t ? t + 1 : line;
        t[strcspn(t, "\n")] = '\0';
        found = strcmp(t, fs) == 0;
    }
    /* Not registered yet but loadable as a module on first mount. */
    if (!found && strcmp(fs, "overlay") == 0) {
        struct utsname u;
        char path[256];
        if (uname(&u) == 0) {
            snprintf(path, sizeof(path), "/lib/modules/%s/kernel/fs/overlayfs", u.release);
            found = access(path, F_OK) == 0 || access("/sys/module/overlay", F_OK) == 0;
        }
    }
    return found;
}

/* Where sysfs is: /sys, or a test's tree (see detect.h). */
static const char *sysfs_root(void)
{
    const char *r = getenv("SERVOS_SYSFS");
    return r && *r ? r : "/sys";
}

/* The tty devices below dir, depth first and at most depth levels down: a
 * directory named tty<something> that holds a dev file (ftdi_sio and
 * ch341 put it at IFACE/ttyUSB0/tty/ttyUSB0, cdc_acm at IFACE/tty/ttyACM0).
 * Only real directories are walked: sysfs's links (driver, subsystem,
 * port) lead back up. */
static void find_ttys(const char *dir, int depth, struct sv_usb_device *u)
{
    cleanup_closedir DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL && u->n_tty < SV_USB_TTYS) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path))
            continue;
        char dev[PATH_MAX + 8];
        snprintf(dev, sizeof(dev), "%s/dev", path);
        bool named = strncmp(de->d_name, "tty", 3) == 0 && de->d_name[3] != '\0';
        if (named && access(dev, F_OK) == 0) {
            bool seen = false;
            for (size_t i = 0; i < u->n_tty; i++)
                seen |= strcmp(u->tty[i] + 5, de->d_name) == 0;
            if (!seen)
                snprintf(u->tty[u->n_tty++], sizeof(u->tty[0]), "/dev/%s", de->d_name);
        } else if (depth > 0) {
            find_ttys(path, depth - 1, u);
        }
    }
}

static int cmp_tty(const void *a, const void *b)
{
    return strverscmp(a, b); /* ttyUSB2 before ttyUSB10 */
}

/* A device's serial ports: below its interfaces ("1-1.2:1.0"), never
 * below the devices behind it (a hub's); in order. */
static void usb_ttys(const char *devdir, const char *name, struct sv_usb_device *u)
{
    cleanup_closedir DIR *d = opendir(devdir);
    struct dirent *de;
    size_t n = strlen(name);
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_type != DT_DIR || strncmp(de->d_name, name, n) != 0 || de->d_name[n] != ':')
            continue;
        char path[PATH_MAX];
        if (snprintf(path, sizeof(path), "%s/%s", devdir, de->d_name) < (int)sizeof(path))
            find_ttys(path, 3, u);
    }
    qsort(u->tty, u->n_tty, sizeof(u->tty[0]), cmp_tty);
}

/* udev's /dev/serial/by-id links to u's ports (each link's target's last
 * part is the port's name: "../../ttyACM0"). */
static void usb_by_id(struct sv_usb_device *u)
{
    const char *devfs = getenv("SERVOS_DEVFS");
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/serial/by-id", devfs && *devfs ? devfs : "/dev");
    cleanup_closedir DIR *d = u->n_tty ? opendir(dir) : NULL;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        char link[PATH_MAX], target[PATH_MAX];
        if (de->d_name[0] == '.' ||
            snprintf(link, sizeof(link), "%s/%s", dir, de->d_name) >= (int)sizeof(link))
            continue;
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        const char *name = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
        for (size_t i = 0; i < u->n_tty; i++)
            if (strcmp(u->tty[i] + 5, name) == 0 && !u->by_id[i][0])
                snprintf(u->by_id[i], sizeof(u->by_id[i]), "/dev/serial/by-id/%s", de->d_name);
    }
}

/* Every board the tables list the id for. */
static void usb_boards(struct sv_usb_device *u, const struct sv_platforms *platforms)
{
    for (size_t i = 0; platforms && i < platforms->n; i++)
        for (size_t j = 0; j < platforms->v[i].n_boards; j++) {
            const struct sv_board *b = &platforms->v[i].boards[j];
            for (size_t k = 0; k < b->n_usb && u->n_boards < SV_USB_CANDIDATES; k++)
                if (b->usb[k].vid == u->vid && b->usb[k].pid == u->pid) {
                    u->boards[u->n_boards] = b;
                    u->platforms[u->n_boards++] = &platforms->v[i];
                    break;
                }
        }
    u->board = u->n_boards ? u->boards[0] : NULL;
    u->platform = u->n_boards ? u->platforms[0] : NULL;
}

static int cmp_usb(const void *a, const void *b)
{
    return strcmp(((const struct sv_usb_device *)a)->path, ((const struct sv_usb_device *)b)->path);
}

static void scan_usb(struct sv_host_info *h, const struct sv_platforms *platforms)
{
    char base[PATH_MAX];
    snprintf(base, sizeof(base), "%s/bus/usb/devices", sysfs_root());
    cleanup_closedir DIR *d = opendir(base);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && h->n_usb < SV_ARRAY_LEN(h->usb)) {
        if (de->d_name[0] == '.' || strchr(de->d_name, ':'))
            continue;
        char dir[PATH_MAX], path[PATH_MAX + 16], buf[64];
        unsigned vid, pid;
        if (snprintf(dir, sizeof(dir), "%s/%s", base, de->d_name) >= (int)sizeof(dir))
            continue;
        snprintf(path, sizeof(path), "%s/idVendor", dir);
        if (!read_line(path, buf, sizeof(buf)) || sscanf(buf, "%x", &vid) != 1)
            continue;
        snprintf(path, sizeof(path), "%s/idProduct", dir);
        if (!read_line(path, buf, sizeof(buf)) || sscanf(buf, "%x", &pid) != 1)
            continue;
        if (vid == 0x1d6b) /* Linux Foundation root hubs */
            continue;
        struct sv_usb_device *u = &h->usb[h->n_usb++];
        memset(u, 0, sizeof(*u));
        snprintf(u->path, sizeof(u->path), "%s", de->d_name);
        u->vid = vid;
        u->pid = pid;
        snprintf(path, sizeof(path), "%s/product", dir);
        read_line(path, u->product, sizeof(u->product));
        usb_boards(u, platforms);
        usb_ttys(dir, de->d_name, u);
        usb_by_id(u);
    }
    qsort(h->usb, h->n_usb, sizeof(h->usb[0]), cmp_usb); /* readdir's order is no order */
}

/* os-release's PRETTY_NAME ("Debian GNU/Linux 12 (bookworm)"). */
static void read_os_name(struct sv_host_info *h)
{
    cleanup_fclose FILE *f = fopen("/etc/os-release", "re");
    if (f == NULL)
        return;
    char line[256];
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "PRETTY_NAME=", 12) == 0) {
            char *v = line + 12;
            v[strcspn(v, "\n")] = '\0';
            if (*v == '"') {
                v++;
                v[strcspn(v, "\"")] = '\0';
            }
            snprintf(h->os, sizeof(h->os), "%s", v);
        }
}

void sv_detect_host(struct sv_host_info *h, const struct sv_platforms *platforms)
{
    memset(h, 0, sizeof(*h));
    struct utsname u;
    if (uname(&u) == 0) {
        snprintf(h->arch, sizeof(h->arch), "%s", u.machine);
        snprintf(h->kernel, sizeof(h->kernel), "%s %s", u.sysname, u.release);
    }
    read_line("/proc/device-tree/model", h->model, sizeof(h->model));
    bool rpi = strstr(h->model, "Raspberry Pi") != NULL;
    if (strcmp(h->arch, "x86_64") == 0)
        strcpy(h->platform, "x86_64");
    else if (strcmp(h->arch, "aarch64") == 0)
        strcpy(h->platform, rpi ? "rpi-arm" : "arm64");
    else if (strncmp(h->arch, "arm", 3) == 0)
        strcpy(h->platform, rpi ? "rpi-arm" : "arm");
    else
        snprintf(h->platform, sizeof(h->platform), "%s", h->arch);

    read_os_name(h);
    h->cgroup = sv_detect_cgroup_mode();
    cgroup_controllers(h);
    h->ns_user = has_ns("user");
    h->ns_pid = has_ns("pid");
    h->ns_mnt = has_ns("mnt");
    h->ns_uts = has_ns("uts");
    h->ns_ipc = has_ns("ipc");
    h->ns_net = has_ns("net");
    h->ns_cgroup = has_ns("cgroup");
    h->ns_time = has_ns("time");
    char buf[64];
    h->max_user_namespaces = -1;
    if (read_line("/proc/sys/user/max_user_namespaces", buf, sizeof(buf)))
        h->max_user_namespaces = atol(buf);
    h->seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
    h->seccomp_filter = access("/proc/sys/kernel/seccomp/actions_avail", F_OK) == 0;
    h->overlayfs = fs_supported("overlay");
    scan_usb(h, platforms);
}
