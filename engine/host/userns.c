#include "host/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* First "name:start:count" line for any of names, with count >= 65536. */
static bool sub_range(const char *file, const char *const *names, unsigned long *start)
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
        for (const char *const *p = names; *p; p++)
            if (strcmp(who, *p) == 0) {
                *start = s;
                return true;
            }
    }
    return false;
}

int sv_userns_range(struct sv_idmap *m, sv_error_t *err)
{
    const char *names[4] = {"servos", NULL, NULL, NULL};
    char uidstr[16];
    struct passwd *pw = getpwuid(getuid());
    snprintf(uidstr, sizeof(uidstr), "%u", (unsigned)getuid());
    names[1] = pw ? pw->pw_name : uidstr;
    names[2] = uidstr;
    unsigned long u, g;
    m->size = SV_USERNS_SIZE;
    if (sub_range("/etc/subuid", names, &u) && sub_range("/etc/subgid", names, &g)) {
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
