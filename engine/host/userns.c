#include "host/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Who a subuid/subgid line may name for us: "servos", our uid's number,
 * or our user name. The name is looked up only when a line names someone
 * else: getpwuid goes through NSS, which loads its modules (libnss_systemd
 * and what it links: 0.3 MB and a fraction of a millisecond) into every
 * `servos run` on a host whose files name nobody. */
struct sub_owner {
    char uid[16];
    char name[128];
    bool looked_up;
};

static bool names_us(struct sub_owner *o, const char *who)
{
    if (strcmp(who, "servos") == 0 || strcmp(who, o->uid) == 0)
        return true;
    if (!o->looked_up) {
        struct passwd *pw = getpwuid(getuid());
        snprintf(o->name, sizeof(o->name), "%s", pw ? pw->pw_name : "");
        o->looked_up = true;
    }
    return o->name[0] && strcmp(who, o->name) == 0;
}

/* First "name:start:count" line naming us, with count >= 65536. */
static bool sub_range(const char *file, struct sub_owner *o, unsigned long *start)
{
    cleanup_fclose FILE *f = fopen(file, "re");
    if (f == NULL)
        return false;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        char who[128];
        unsigned long s, n;
        if (sscanf(line, "%127[^:]:%lu:%lu", who, &s, &n) != 3 || n < SV_USERNS_SIZE)
            continue;
        if (names_us(o, who)) {
            *start = s;
            return true;
        }
    }
    return false;
}

int sv_userns_range(struct sv_idmap *m, sv_error_t *err)
{
    struct sub_owner o = {.looked_up = false};
    snprintf(o.uid, sizeof(o.uid), "%u", (unsigned)getuid());
    unsigned long u, g;
    m->size = SV_USERNS_SIZE;
    if (sub_range("/etc/subuid", &o, &u) && sub_range("/etc/subgid", &o, &g)) {
        m->uid_base = (uid_t)u;
        m->gid_base = (gid_t)g;
    } else {
        m->uid_base = SV_USERNS_RESERVED_BASE;
        m->gid_base = SV_USERNS_RESERVED_BASE;
    }
    (void)err;
    return 0;
}

static int write_proc(pid_t pid, const char *file, const char *text, sv_error_t *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return sv_error(err, errno, "cannot open %s", path);
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    if (w != (ssize_t)n) /* a short write sets no errno: the kernel took part of a map */
        return sv_error(err, w < 0 ? errno : EIO, "cannot write %s", path);
    return 0;
}

int sv_userns_write_maps(pid_t pid, const struct sv_idmap *m, sv_error_t *err)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "0 %u %u\n", (unsigned)m->uid_base, m->size);
    if (write_proc(pid, "uid_map", buf, err) < 0)
        return -1;
    snprintf(buf, sizeof(buf), "0 %u %u\n", (unsigned)m->gid_base, m->size);
    return write_proc(pid, "gid_map", buf, err);
}

int sv_userns_root_ids(const char *userns, uid_t *uid, gid_t *gid, sv_error_t *err)
{
    *uid = 0;
    *gid = 0;
    if (userns && strcmp(userns, "host") == 0)
        return 0;
    struct sv_idmap map;
    if (sv_userns_range(&map, err) < 0)
        return -1;
    *uid = map.uid_base;
    *gid = map.gid_base;
    return 0;
}
