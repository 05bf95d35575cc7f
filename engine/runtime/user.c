/* The container's user: "uid[:gid]" or a name from the image's
 * /etc/passwd, checked before anything runs, resolved again inside (where
 * the container's own file counts), and known as host ids before it runs
 * where the image tells, for :U (its volumes handed to that user) and for
 * the warning about volumes it cannot write. */
#include "runtime/container_int.h"

#include "core/safepath.h"
#include "runtime/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The highest id a container can switch to: its user namespace maps
 * SV_USERNS_SIZE ids from 0; without one, every id but (uid_t)-1, which
 * setresuid reads as "leave unchanged" (so root would stay root). */
unsigned long sv_user_max_id(bool userns_host)
{
    return userns_host ? 4294967294UL : SV_USERNS_SIZE - 1;
}

/* A decimal id: 1 and *id when s is all digits and at most max, 0 when s is
 * not a number (a name), -1 when it is a number out of range. strtoul alone
 * takes "-1" and " 7" and wraps 4294967296 to 0. */
static int parse_id(const char *s, unsigned long max, unsigned long *id)
{
    if (*s == '\0' || strspn(s, "0123456789") != strlen(s))
        return 0;
    errno = 0;
    unsigned long long v = strtoull(s, NULL, 10);
    if (errno == ERANGE || v > max)
        return -1;
    *id = (unsigned long)v;
    return 1;
}

/* The numeric parts of "uid[:gid]", checked before anything runs (names are
 * looked up in the container's /etc/passwd when it starts). */
int sv_user_check(const char *user, bool userns_host, sv_error_t *err)
{
    if (user == NULL || *user == '\0') /* an image's "User": "" is root */
        return 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", user);
    char *colon = strchr(buf, ':');
    if (colon)
        *colon++ = '\0';
    unsigned long id, max = sv_user_max_id(userns_host);
    int u = parse_id(buf, max, &id), g = colon && *colon ? parse_id(colon, max, &id) : 1;
    if (*buf == '\0')
        return sv_error(err, 0, "user \"%s\": expected UID, NAME, UID:GID or NAME:GID", user);
    if (u < 0 || g < 0)
        return sv_error(err, 0, "user \"%s\": ids go from 0 to %lu in this container%s", user, max,
                        userns_host ? "" : " (its user namespace maps no others)");
    if (g == 0)
        return sv_error(err, 0, "group \"%s\": give a number", colon);
    return 0;
}

/* "uid[:gid]" or a user name from the container's /etc/passwd (f: that
 * file, or NULL when there is none), each id within what the container
 * maps (max). */
int sv_user_resolve(const char *user, unsigned long max, FILE *f, uid_t *uid, gid_t *gid,
                    sv_error_t *err)
{
    *uid = 0;
    *gid = 0;
    if (user == NULL || *user == '\0')
        return 0;
    char name[256];
    snprintf(name, sizeof(name), "%s", user);
    char *colon = strchr(name, ':');
    if (colon)
        *colon++ = '\0';
    unsigned long v = 0, pw_uid, pw_gid;
    int numeric = parse_id(name, max, &v);
    if (numeric < 0)
        return sv_error(err, ERANGE, "user \"%s\": ids go from 0 to %lu in this container", name,
                        max);
    bool found = numeric;
    if (numeric) {
        *uid = (uid_t)v;
        *gid = (gid_t)v;
    }
    char line[1024];
    while (f && fgets(line, sizeof(line), f)) {
        /* name:password:uid:gid:... where any field may be empty
         * ("nobody::65534:65534"), so not strtok, which merges colons. */
        char *fields[4], *p = line;
        line[strcspn(line, "\n")] = '\0';
        int n = 0;
        while (n < 4 && p)
            fields[n++] = strsep(&p, ":");
        if (n < 4)
            continue;
        /* The image's own file: its ids are checked like the caller's. */
        bool ids_ok =
            parse_id(fields[2], max, &pw_uid) == 1 && parse_id(fields[3], max, &pw_gid) == 1;
        if (numeric ? ids_ok && pw_uid == v : strcmp(fields[0], name) == 0) {
            if (!ids_ok)
                return sv_error(err, ERANGE,
                                "user \"%s\" has ids %s:%s in the container's /etc/passwd; ids go "
                                "from 0 to %lu in this container",
                                name, fields[2], fields[3], max);
            *uid = (uid_t)pw_uid;
            *gid = (gid_t)pw_gid;
            found = true;
            break;
        }
    }
    if (!found)
        return sv_error(err, ENOENT, "user \"%s\" is not in the container's /etc/passwd", name);
    if (colon && *colon) {
        int g = parse_id(colon, max, &v);
        if (g == 0)
            return sv_error(err, EINVAL, "group \"%s\": give a number", colon);
        if (g < 0)
            return sv_error(err, ERANGE, "group \"%s\": ids go from 0 to %lu in this container",
                            colon, max);
        *gid = (gid_t)v;
    }
    return 0;
}

/* The image's /etc/passwd as the container will see it: from the top
 * layer that has one (c->lower is a directory or an overlay lowerdir
 * list, top first), opened beneath that layer so its links stay in it.
 * NULL when there is none. */
static FILE *image_passwd(const struct sv_container *c)
{
    cleanup_free char *layers = sv_xstrdup(c->lower);
    char *save = NULL;
    for (char *l = strtok_r(layers, ":", &save); l; l = strtok_r(NULL, ":", &save)) {
        cleanup_close int root = open(l, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
            return NULL;
        /* Non-blocking: a FIFO there must not hang us. */
        cleanup_close int fd =
            sv_path_openat_in(root, "/etc/passwd", O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
        if (fd < 0 && errno == ENOENT)
            continue;
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) /* a whiteout, or odd */
            return NULL;
        FILE *f = fdopen(fd, "re");
        if (f)
            fd = -1; /* the stream's now */
        return f;
    }
    return NULL;
}

/* The container's user as host ids, when it can be known before it runs:
 * for :U and for the warning about volumes it cannot write. */
void sv_user_find_host(struct sv_container *c)
{
    cleanup_fclose FILE *passwd = image_passwd(c);
    uid_t uid;
    gid_t gid;
    sv_error_t e = NULL;
    c->user_known = sv_user_resolve(c->spec.user, sv_user_max_id(c->spec.userns_host), passwd, &uid,
                                    &gid, &e) == 0;
    sv_error_free(&e);
    c->host_uid = c->spec.userns_host ? uid : c->map.uid_base + uid;
    c->host_gid = c->spec.userns_host ? gid : c->map.gid_base + gid;
}

/* :U volumes go to the container's user before anything runs. */
int sv_user_chown_volumes(struct sv_container *c, sv_error_t *err)
{
    for (size_t i = 0; i < c->spec.n_binds; i++) {
        const struct sv_bind *b = &c->spec.binds[i];
        if (b->tmpfs || !b->chown)
            continue;
        if (!c->user_known)
            return sv_error(err, 0,
                            "volume %s:%s:U: the container's user \"%s\" is not in the image's "
                            "/etc/passwd, so there is no one to hand it to",
                            b->source, b->target, c->spec.user);
        if (sv_idmap_volume_chown(b->source, c->host_uid, c->host_gid,
                                  c->spec.userns_host ? NULL : &c->map, err) < 0)
            return -1;
    }
    return 0;
}

/* A pseudo-terminal passed in is the host's own node (devices.h): its
 * owner and mode decide, which may keep the container's user out. */
static void warn_host_nodes(const struct sv_container *c, bool dac)
{
    for (size_t i = 0; i < c->spec.n_devices; i++) {
        struct stat st;
        const char *src = c->spec.devices[i].source;
        if (!c->dev_rules[i].host_node || stat(src, &st) < 0 ||
            sv_idmap_volume_writable(&st, c->host_uid, c->host_gid,
                                     c->spec.userns_host ? NULL : &c->map, dac))
            continue;
        fprintf(stderr,
                "servos: warning: device %s is a pseudo-terminal, which opens only through the "
                "host's own node: its owner %u:%u and mode %04o keep the container's user "
                "(host uid %u) out; chmod o+rw %s, or run with --userns host\n",
                src, (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)(st.st_mode & 07777),
                (unsigned)c->host_uid, src);
    }
}

/* A read-write volume the container's user cannot write fails only
 * later, inside, as a bare "Permission denied": say it at start, once,
 * with what to do. Judged on the volume as the container sees it
 * (through its idmapped mount when it has one). */
void sv_user_warn_unwritable(const struct sv_container *c)
{
    if (!c->user_known)
        return;
    bool root = c->host_uid == (c->spec.userns_host ? 0 : c->map.uid_base);
    bool dac = root && (c->caps & (1ULL << CAP_DAC_OVERRIDE));
    for (size_t i = 0; i < c->spec.n_binds; i++) {
        const struct sv_bind *b = &c->spec.binds[i];
        struct stat seen, host;
        if (b->tmpfs || b->read_only || stat(b->source, &host) < 0)
            continue;
        if (b->idmap_fd >= 0 ? fstat(b->idmap_fd, &seen) < 0 : (seen = host, false))
            continue;
        if (sv_idmap_volume_writable(&seen, c->host_uid, c->host_gid,
                                     c->spec.userns_host ? NULL : &c->map, dac))
            continue;
        if (S_ISCHR(host.st_mode) || S_ISBLK(host.st_mode)) { /* :U refuses those */
            fprintf(stderr,
                    "servos: warning: volume %s is a device node the container's user (host "
                    "uid %u) may not open (owner %u:%u, mode %04o); pass it with --device "
                    "instead (a stack's devices), which makes a node it opens\n",
                    b->source, (unsigned)c->host_uid, (unsigned)host.st_uid, (unsigned)host.st_gid,
                    (unsigned)(host.st_mode & 07777));
            continue;
        }
        fprintf(stderr,
                "servos: warning: volume %s (owner %u:%u, mode %04o) is not writable by the "
                "container's user (host uid %u): add :U to hand it to the container "
                "(-v %s:%s:U), or chown it to %u:%u\n",
                b->source, (unsigned)host.st_uid, (unsigned)host.st_gid,
                (unsigned)(host.st_mode & 07777), (unsigned)c->host_uid, b->source, b->target,
                (unsigned)c->host_uid, (unsigned)c->host_gid);
    }
    warn_host_nodes(c, dac);
}
