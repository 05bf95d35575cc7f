#include "runtime/container.h"

#include "image/imgstore.h"
#include "graph/units.h"

#include "runtime/idmap.h"
#include "runtime/init.h"
#include "net/netlink.h"
#include "runtime/pty.h"
#include "runtime/rootfs.h"
#include "runtime/runnet.h"
#include "core/safepath.h"
#include "runtime/seccomp.h"
#include "net/stacknet.h"
#include "graph/units.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char default_path[] =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

static char **strv_dup(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    char **out = sv_xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = sv_xstrdup(v[i]);
    return out;
}

static char *xstrdup_or_null(const char *s)
{
    return s ? sv_xstrdup(s) : NULL;
}

void sv_container_free(struct sv_container *c)
{
    if (c == NULL)
        return;
    if (c->report_fd > 0)
        close(c->report_fd);
    if (c->pty_sock >= 0)
        close(c->pty_sock);
    if (c->pty_master >= 0)
        close(c->pty_master);
    if (c->lower_fd >= 0)
        close(c->lower_fd);
    free(c->name);
    free(c->dir);
    free(c->lower);
    sv_cgroup_clear(&c->cg);
    struct sv_run_spec *s = &c->spec;
    free((char *)s->image);
    free((char *)s->hostname);
    free((char *)s->workdir);
    free((char *)s->user);
    free((char *)s->net.hosts);
    sv_strv_free(s->entrypoint);
    sv_strv_free(s->argv);
    sv_strv_free(s->env);
    sv_strv_free((char **)s->cap_add);
    sv_strv_free((char **)s->cap_drop);
    sv_strv_free(s->labels);
    sv_strv_free(s->ports);
    free((char *)s->restart);
    free((char *)s->run_network);
    for (size_t i = 0; i < s->n_binds; i++) {
        free(s->binds[i].source);
        free(s->binds[i].target);
        if (s->binds[i].idmap_fd >= 0)
            close(s->binds[i].idmap_fd);
    }
    free(s->binds);
    free(c);
}

static void new_id(char id[65])
{
    unsigned char raw[32];
    if (getrandom(raw, sizeof(raw), 0) != sizeof(raw)) {
        struct timespec ts; /* never expected; still unique enough per host */
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof(raw); i++)
            raw[i] = (unsigned char)((ts.tv_nsec >> (i % 8)) ^ (getpid() * (int)i));
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
}

static bool valid_name(const char *n)
{
    if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9')))
        return false;
    size_t len = 0;
    for (const char *p = n; *p; p++, len++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            return false;
    return len <= 128;
}

/* The highest id a container can switch to: its user namespace maps
 * SV_USERNS_SIZE ids from 0; without one, every id but (uid_t)-1, which
 * setresuid reads as "leave unchanged" (so root would stay root). */
static unsigned long max_id(bool userns_host)
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
static int check_user(const char *user, bool userns_host, sv_error_t *err)
{
    if (user == NULL || *user == '\0') /* an image's "User": "" is root */
        return 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", user);
    char *colon = strchr(buf, ':');
    if (colon)
        *colon++ = '\0';
    unsigned long id, max = max_id(userns_host);
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
static int resolve_user(const char *user, unsigned long max, FILE *f, uid_t *uid, gid_t *gid,
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

static const char host_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";

int sv_hostname_check(const char *h, bool rfc1123, sv_error_t *err)
{
    size_t len = strlen(h);
    /* What every container's name must be: a newline or a space would add
     * lines or fields to /etc/hosts; the kernel keeps 64 bytes with the
     * NUL. A stack's replica is named after its service, whose name
     * allows "_" and "." anywhere. */
    bool ok = len > 0 && len <= 63 && strspn(h, host_chars) == len && h[0] != '-' && h[0] != '.';
    /* RFC 1123, for a name the user gives: labels of letters, digits and
     * "-" (and "_", as service names have it), none empty or starting or
     * ending with "-". */
    for (const char *label = h; ok && rfc1123 && label <= h + len;) {
        size_t n = strcspn(label, ".");
        ok = n > 0 && label[0] != '-' && label[n - 1] != '-';
        label += n + 1;
    }
    if (!ok)
        return sv_error(err, 0,
                        "invalid hostname \"%s\": dot-separated labels of letters, digits, \"-\" "
                        "and \"_\", not starting or ending with \"-\", at most 63 characters",
                        h);
    return 0;
}

/* A tmpfs's options as Docker and podman take them: the mount flags
 * rootfs.c turns into flags (ro, rw, exec, noexec, nosuid, nodev) and
 * tmpfs's own KEY=VALUE options; anything else would reach mount(2) and
 * fail there with a bare EINVAL. suid and dev are refused: every tmpfs is
 * nosuid,nodev, as the container's layer is. */
static int check_tmpfs_options(const struct sv_bind *b, sv_error_t *err)
{
    static const char *const flags[] = {"ro", "rw", "exec", "noexec", "nosuid", "nodev"};
    static const char *const keys[] = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks"};
    if (b->source == NULL)
        return 0;
    cleanup_free char *copy = sv_xstrdup(b->source);
    for (char *p = copy, *o; (o = strsep(&p, ",")) != NULL;) {
        bool ok = *o == '\0'; /* "size=1m," */
        char *eq = strchr(o, '=');
        for (size_t i = 0; i < SV_ARRAY_LEN(flags) && !eq && !ok; i++)
            ok = strcmp(o, flags[i]) == 0;
        for (size_t i = 0; i < SV_ARRAY_LEN(keys) && eq && !ok; i++)
            ok = (size_t)(eq - o) == strlen(keys[i]) && strncmp(o, keys[i], strlen(keys[i])) == 0 &&
                 eq[1] != '\0';
        if (!ok && (strcmp(o, "suid") == 0 || strcmp(o, "dev") == 0))
            return sv_error(err, 0,
                            "tmpfs %s: \"%s\" is not allowed (a tmpfs is always nosuid,nodev)",
                            b->target, o);
        if (!ok)
            return sv_error(err, 0,
                            "tmpfs %s: unknown option \"%s\" (expected size=, mode=, uid=, gid=, "
                            "nr_inodes=, ro, rw, exec, noexec, nosuid or nodev)",
                            b->target, o);
    }
    return 0;
}

static int check_spec(const struct sv_run_spec *s, sv_error_t *err)
{
    if (s->name && !valid_name(s->name))
        return sv_error(err, 0,
                        "invalid name \"%s\": use letters, digits, \"_\", \".\" and \"-\", "
                        "starting with a letter or digit",
                        s->name);
    if (s->workdir && s->workdir[0] != '/')
        return sv_error(err, 0, "the working directory must be absolute, got \"%s\"", s->workdir);
    if (s->limits.cpus == 0)
        return sv_error(err, 0, "--cpus must be more than 0");
    if (s->limits.memory >= 0 && s->limits.memory < (6 << 20))
        return sv_error(err, 0, "--memory must be at least 6 MB");
    if (s->limits.pids == 0)
        return sv_error(err, 0, "--pids must be at least 1");
    for (size_t i = 0; i < s->n_binds; i++) {
        const struct sv_bind *b = &s->binds[i];
        const char *what = b->tmpfs ? "tmpfs" : "volume target";
        if (b->target == NULL || b->target[0] != '/')
            return sv_error(err, 0, "%s %s: the path must be absolute", what,
                            b->target ? b->target : "");
        /* Judged as the kernel will resolve it: "//", "/." and "/x/.."
         * are all "/" (copy_spec keeps the cleaned form). */
        cleanup_free char *clean = sv_path_clean(b->target);
        const char *why = sv_path_refused_target(clean);
        if (why)
            return sv_error(err, 0, "%s %s is not allowed: %s", what, b->target, why);
        struct stat st;
        if (b->tmpfs) {
            if (check_tmpfs_options(b, err) < 0)
                return -1;
            continue;
        }
        if (b->source == NULL || b->source[0] != '/')
            return sv_error(err, 0, "volume %s:%s: the source must be an absolute path",
                            b->source ? b->source : "", b->target);
        if (stat(b->source, &st) < 0)
            return sv_error(err, errno, "volume source %s", b->source);
    }
    for (char **e = s->env; e && *e; e++)
        if (strchr(*e, '=') == NULL || **e == '=')
            return sv_error(err, 0, "environment entry \"%s\" is not NAME=VALUE", *e);
    for (char **l = s->labels; l && *l; l++)
        if (strchr(*l, '=') == NULL || **l == '=')
            return sv_error(err, 0, "label \"%s\" is not KEY=VALUE", *l);
    if (s->stop_timeout_set && (s->stop_timeout < 0 || s->stop_timeout > SV_STOP_TIMEOUT_MAX))
        return sv_error(err, 0, "the stop timeout must be 0 to %d seconds", SV_STOP_TIMEOUT_MAX);
    if (s->stop_signal < 0 || s->stop_signal >= NSIG)
        return sv_error(err, 0, "%d is not a signal", s->stop_signal);
    return 0;
}

static char *command_line(char *const *argv)
{
    size_t len = 1;
    for (char *const *a = argv; *a; a++)
        len += strlen(*a) + 1;
    char *s = sv_xmalloc(len), *p = s;
    for (char *const *a = argv; *a; a++)
        p += sprintf(p, "%s%s", a == argv ? "" : " ", *a);
    *p = '\0';
    return s;
}

/* Own copies: the spec outlives the caller's argv parsing. */
static void copy_spec(struct sv_container *c, const struct sv_run_spec *spec)
{
    struct sv_run_spec *s = &c->spec;
    *s = *spec;
    s->name = c->name;
    s->image = sv_xstrdup(spec->image);
    s->hostname = spec->hostname ? sv_xstrdup(spec->hostname) : sv_xstrndup(c->id, 12);
    s->workdir = xstrdup_or_null(spec->workdir);
    s->user = xstrdup_or_null(spec->user);
    s->net.hosts = xstrdup_or_null(spec->net.hosts);
    s->entrypoint = spec->entrypoint ? strv_dup(spec->entrypoint) : NULL;
    s->argv = strv_dup(spec->argv);
    s->env = strv_dup(spec->env);
    s->cap_add = (const char **)strv_dup((char *const *)spec->cap_add);
    s->cap_drop = (const char **)strv_dup((char *const *)spec->cap_drop);
    s->labels = strv_dup(spec->labels);
    s->ports = strv_dup(spec->ports);
    s->restart = xstrdup_or_null(spec->restart);
    s->run_network = xstrdup_or_null(spec->run_network);
    s->binds = sv_xcalloc(spec->n_binds + 1, sizeof(*s->binds));
    for (size_t i = 0; i < spec->n_binds; i++) {
        s->binds[i].source = spec->binds[i].source ? sv_xstrdup(spec->binds[i].source) : NULL;
        s->binds[i].tmpfs = spec->binds[i].tmpfs;
        s->binds[i].target = sv_path_clean(spec->binds[i].target);
        s->binds[i].read_only = spec->binds[i].read_only;
        s->binds[i].chown = spec->binds[i].chown;
        s->binds[i].idmap_fd = -1;
    }
}

static int record(struct sv_store *st, struct sv_container *c, sv_error_t *err)
{
    cleanup_free char *cmd = command_line(c->spec.argv);
    cleanup_free char *json = sv_run_spec_to_json(c);
    struct sv_ctr_row row = {.name = c->name,
                             .image = (char *)c->spec.image,
                             .command = cmd,
                             .spec_json = json,
                             .created = time(NULL),
                             .stack = (char *)c->spec.stack,
                             .service = (char *)c->spec.service,
                             .replica = c->spec.replica,
                             .hash = (char *)c->spec.hash};
    memcpy(row.id, c->id, sizeof(row.id));
    if (sv_store_insert(st, &row, err) < 0) {
        if ((*err)->status == EEXIST) { /* lost a race for the name */
            sv_error_free(err);
            return sv_error(err, EEXIST, "the name \"%s\" is in use", c->name);
        }
        return -1;
    }
    return 0;
}

static size_t strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

/* What the service leaves unset comes from the image's config, as Docker
 * does it: the command is entrypoint + cmd, where a service's own
 * entrypoint drops the image's cmd; the service's environment overrides the
 * image's variable by variable. */
static int apply_image_config(struct sv_container *c, const struct sv_image_config *cfg,
                              sv_error_t *err)
{
    struct sv_run_spec *s = &c->spec;
    char *const *ep = s->entrypoint ? s->entrypoint : cfg->entrypoint;
    char *const *cmd = strv_len(s->argv) ? s->argv : s->entrypoint ? NULL : cfg->cmd;
    size_t ne = strv_len(ep), nc = strv_len(cmd);
    if (ne + nc == 0)
        return sv_error(err, 0, "no command to run (%s)",
                        c->image_digest[0] ? "the image has no Entrypoint or Cmd"
                                           : "give one after the image");
    char **argv = sv_xcalloc(ne + nc + 1, sizeof(char *));
    for (size_t i = 0; i < ne; i++)
        argv[i] = sv_xstrdup(ep[i]);
    for (size_t i = 0; i < nc; i++)
        argv[ne + i] = sv_xstrdup(cmd[i]);
    sv_strv_free(s->argv);
    s->argv = argv;
    if (cfg->env) {
        size_t n = strv_len(cfg->env), m = strv_len(s->env), k = 0;
        char **env = sv_xcalloc(n + m + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            size_t klen = strcspn(cfg->env[i], "=");
            bool overridden = false;
            for (size_t j = 0; j < m && !overridden; j++)
                overridden = strncmp(s->env[j], cfg->env[i], klen) == 0 && s->env[j][klen] == '=';
            if (!overridden)
                env[k++] = sv_xstrdup(cfg->env[i]);
        }
        for (size_t j = 0; j < m; j++)
            env[k++] = sv_xstrdup(s->env[j]);
        sv_strv_free(s->env);
        s->env = env;
    }
    if (s->workdir == NULL && cfg->workdir)
        s->workdir = sv_xstrdup(cfg->workdir);
    if (s->user == NULL && cfg->user)
        s->user = sv_xstrdup(cfg->user);
    if (cfg->stop_signal && sv_parse_signal(cfg->stop_signal, &c->stop_signal, NULL) < 0)
        c->stop_signal = 0;
    if (s->workdir && s->workdir[0] != '/')
        return sv_error(err, 0, "the working directory must be absolute, got \"%s\"", s->workdir);
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
        int fd = sv_path_openat_in(root, "/etc/passwd", O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
        if (fd < 0 && errno == ENOENT)
            continue;
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) { /* a whiteout, or odd */
            if (fd >= 0)
                close(fd);
            return NULL;
        }
        FILE *f = fdopen(fd, "re");
        if (f == NULL)
            close(fd);
        return f;
    }
    return NULL;
}

/* The container's user as host ids, when it can be known before it runs:
 * for :U and for the warning about volumes it cannot write. */
static void find_host_user(struct sv_container *c)
{
    cleanup_fclose FILE *passwd = image_passwd(c);
    uid_t uid;
    gid_t gid;
    sv_error_t e = NULL;
    c->user_known =
        resolve_user(c->spec.user, max_id(c->spec.userns_host), passwd, &uid, &gid, &e) == 0;
    sv_error_free(&e);
    c->host_uid = c->spec.userns_host ? uid : c->map.uid_base + uid;
    c->host_gid = c->spec.userns_host ? gid : c->map.gid_base + gid;
}

/* :U volumes go to the container's user before anything runs. */
static int chown_volumes(struct sv_container *c, sv_error_t *err)
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
        if (sv_volume_chown(b->source, c->host_uid, c->host_gid,
                            c->spec.userns_host ? NULL : &c->map, err) < 0)
            return -1;
    }
    return 0;
}

/* A read-write volume the container's user cannot write fails only
 * later, inside, as a bare "Permission denied": say it at start, once,
 * with what to do. Judged on the volume as the container sees it
 * (through its idmapped mount when it has one). */
static void warn_unwritable(const struct sv_container *c)
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
        if (sv_volume_writable(&seen, c->host_uid, c->host_gid,
                               c->spec.userns_host ? NULL : &c->map, dac))
            continue;
        fprintf(stderr,
                "servos: warning: volume %s (owner %u:%u, mode %04o) is not writable by the "
                "container's user (host uid %u): add :U to hand it to the container "
                "(-v %s:%s:U), or chown it to %u:%u\n",
                b->source, (unsigned)host.st_uid, (unsigned)host.st_gid,
                (unsigned)(host.st_mode & 07777), (unsigned)c->host_uid, b->source, b->target,
                (unsigned)c->host_uid, (unsigned)c->host_gid);
    }
}

static int create_steps(struct sv_store *st, struct sv_container *c, const struct sv_run_spec *spec,
                        sv_error_t *err)
{
    new_id(c->id);
    c->name = spec->name ? sv_xstrdup(spec->name) : sv_xasprintf("servos-%.12s", c->id);
    bool taken;
    if (sv_store_name_taken(st, c->name, &taken, err) < 0)
        return -1;
    if (taken)
        return sv_error(err, EEXIST, "the name \"%s\" is in use (servos rm %s frees it)", c->name,
                        c->name);
    if (sv_caps_compute(spec->userns_host, spec->cap_add, spec->cap_drop, &c->caps, err) < 0)
        return -1;
    copy_spec(c, spec);
    if (!c->spec.userns_host && sv_userns_range(&c->map, err) < 0)
        return -1;
    struct sv_image_config cfg = {0};
    int rc = sv_image_resolve(c->spec.image, &c->map, &c->lower, &c->image_kind, &cfg,
                              c->image_digest, err);
    if (rc == 0)
        rc = apply_image_config(c, &cfg, err);
    /* The user may come from the image's config: checked after it. */
    if (rc == 0)
        rc = check_user(c->spec.user, c->spec.userns_host, err);
    sv_image_config_clear(&cfg);
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < c->spec.n_binds; i++)
        if (!c->spec.binds[i].tmpfs) {
            find_host_user(c);
            break;
        }
    if (chown_volumes(c, err) < 0)
        return -1;
    cleanup_free char *containers = sv_xasprintf("%s/containers", sv_state_root());
    if (mkdir(containers, 0711) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cannot create %s", containers);
    /* The container's root (an unprivileged uid) must traverse these. */
    chmod(sv_state_root(), 0711);
    c->dir = sv_xasprintf("%s/%s", containers, c->id); /* made by sv_container_log_path */
    if (record(st, c, err) < 0)
        return -1;
    if (sv_cgroup_init(&c->cg, c->id, err) < 0 ||
        sv_cgroup_create(&c->cg, &c->spec.limits, err) < 0) {
        sv_container_remove(st, c->id, NULL);
        return -1;
    }
    return 0;
}

int sv_container_create(struct sv_store *st, const struct sv_run_spec *spec,
                        struct sv_container **out, sv_error_t *err)
{
    if (check_spec(spec, err) < 0)
        return -1;
    if (spec->hostname && sv_hostname_check(spec->hostname, false, err) < 0)
        return -1;
    if (spec->layer_size < 0 || (spec->layer_size > 0 && spec->layer_size < (1 << 20)))
        return sv_error(err, 0, "--layer-size must be at least 1 MB");
    struct sv_container *c = sv_xcalloc(1, sizeof(*c));
    c->report_fd = c->pty_sock = c->pty_master = -1;
    c->lower_fd = -1;
    if (create_steps(st, c, spec, err) < 0) {
        sv_container_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

int sv_container_log_path(const struct sv_container *c, char **path, sv_error_t *err)
{
    if (mkdir(c->dir, 0700) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cannot create %s", c->dir);
    *path = sv_xasprintf("%s/log", c->dir);
    return 0;
}

/* ---- the child ------------------------------------------------------------ */

/* Report err (or errno of the failed exec) to the parent and exit. */
__attribute__((noreturn)) static void child_fail(int errfd, int status, sv_error_t *err)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%d %s", status, *err ? (*err)->msg : "unknown error");
    if (write(errfd, buf, n > (int)sizeof(buf) ? sizeof(buf) : (size_t)n) < 0) {
        /* nothing left to tell anyone */
    }
    _exit(status);
}

/* The command gets stdio and nothing else of its caller's: a descriptor
 * left open (a directory, a socket, a lock) is a way out of the container,
 * e.g. openat(fd, "..") walks up to the host's root. Close-on-exec rather
 * than close: the setup still uses its pipes until the exec. */
static int cloexec_from(int lowfd, sv_error_t *err)
{
    if (syscall(SYS_close_range, lowfd, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    long max = sysconf(_SC_OPEN_MAX); /* before Linux 5.11: one at a time */
    if (max < 0)
        return sv_error(err, errno, "cannot close the caller's descriptors");
    for (int fd = lowfd; fd < max; fd++)
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 && errno != EBADF)
            return sv_error(err, errno, "cannot close descriptor %d", fd);
    return 0;
}

/* Dispositions set to "ignore" and the blocked mask survive execve: the
 * command would start with servos' own (SIGPIPE ignored by the CLI, SIGINT
 * and SIGHUP by a detached monitor, SIGTERM and SIGINT blocked by a
 * stack's supervisor, which reads them from a signalfd), deaf to the
 * signals meant to stop it. */
static void default_signals(void)
{
    sv_signals_default();
}

static int loopback_up(sv_error_t *err)
{
    cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sv_error(err, errno, "socket");
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return sv_error(err, errno, "reading the flags of lo");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        return sv_error(err, errno, "bringing lo up");
    return 0;
}

static void sockaddr_ip4(struct sockaddr *sa, uint32_t addr)
{
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    memset(in, 0, sizeof(*in));
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(addr);
}

/* Our end of the stack network: its address (the subnet's route comes
 * with it), then up. ioctls: the interface is in our namespace. */
static int eth0_address(uint32_t addr, int prefix, sv_error_t *err)
{
    cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sv_error(err, errno, "socket");
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "eth0");
    sockaddr_ip4(&ifr.ifr_addr, addr);
    if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
        return sv_error(err, errno, "cannot give eth0 its address");
    sockaddr_ip4(&ifr.ifr_netmask, prefix ? ~0u << (32 - prefix) : 0);
    if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
        return sv_error(err, errno, "cannot set eth0's netmask");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return sv_error(err, errno, "reading the flags of eth0");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        return sv_error(err, errno, "bringing eth0 up");
    return 0;
}

/* Drop to the container's user, capabilities, no_new_privs and seccomp:
 * the same for the init process and for exec. */
static int drop_privileges(const struct sv_run_spec *s, sv_capset_t caps, int bpf_fd,
                           sv_error_t *err)
{
    uid_t uid;
    gid_t gid;
    cleanup_fclose FILE *passwd = fopen("/etc/passwd", "re");
    if (resolve_user(s->user, max_id(s->userns_host), passwd, &uid, &gid, err) < 0)
        return -1;
    if (sv_caps_apply_bounding(caps, err) < 0)
        return -1;
    if (setgroups(0, NULL) < 0 && errno != EPERM)
        return sv_error(err, errno, "setgroups");
    if (setresgid(gid, gid, gid) < 0)
        return sv_error(err, errno, "setgid %u", (unsigned)gid);
    if (setresuid(uid, uid, uid) < 0)
        return sv_error(err, errno, "setuid %u", (unsigned)uid);
    /* root keeps the set; another user has none, as with Docker. */
    if (uid == 0 && sv_caps_apply(caps, err) < 0)
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return sv_error(err, errno, "no_new_privs");
    if (!s->no_seccomp && (bpf_fd >= 0 ? sv_seccomp_load_fd(bpf_fd, err)
                                       : sv_seccomp_load_default(
                                             s->io_uring ? SV_SECCOMP_ALLOW_IO_URING : 0, err)) < 0)
        return -1;
    return 0;
}

static char **build_env(const struct sv_run_spec *s)
{
    size_t n = 0;
    while (s->env && s->env[n])
        n++;
    char **env = sv_xcalloc(n + 4, sizeof(*env));
    size_t k = 0;
    bool has_path = false, has_home = false;
    for (size_t i = 0; i < n; i++) {
        has_path |= strncmp(s->env[i], "PATH=", 5) == 0;
        has_home |= strncmp(s->env[i], "HOME=", 5) == 0;
    }
    if (!has_path)
        env[k++] = sv_xstrdup(default_path);
    env[k++] = sv_xasprintf("HOSTNAME=%s", s->hostname);
    if (!has_home)
        env[k++] = sv_xstrdup("HOME=/root");
    for (size_t i = 0; i < n; i++)
        env[k++] = s->env[i];
    env[k] = NULL;
    return env;
}

extern char **environ;

__attribute__((noreturn)) static void exec_command(const struct sv_run_spec *s, int errfd)
{
    environ = build_env(s); /* execvp searches PATH from environ */
    execvp(s->argv[0], s->argv);
    int e = errno;
    sv_error_t err = NULL;
    if (e == ENOENT)
        sv_error(&err, 0, "%s: command not found", s->argv[0]);
    else
        sv_error(&err, e, "%s: cannot execute", s->argv[0]);
    child_fail(errfd, e == ENOENT ? 127 : 126, &err);
}

static void set_rlimits(void)
{
    /* A high open-file limit as container runtimes give, within the hard
     * limit (root here may lack CAP_SYS_RESOURCE). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < 1048576 ? rl.rlim_max : 1048576;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The command's stdio beyond what the caller gave: a terminal, or a stdin
 * kept open. */
struct child_stdio {
    int master, slave; /* spec.tty */
    int hold;          /* stdin_open: the write end of stdin, for init to keep */
};

static int child_stdio_prepare(const struct sv_run_spec *s, struct child_stdio *io, sv_error_t *err)
{
    *io = (struct child_stdio){-1, -1, -1};
    if (s->tty) {
        /* Made as the container's user, after the switch: the terminal is
         * theirs, as one they made themselves would be. */
        return sv_pty_open(&io->master, &io->slave, s->tty_rows, s->tty_cols, err);
    }
    if (s->stdin_open) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return sv_error(err, errno, "pipe");
        if (dup2(p[0], 0) < 0)
            return sv_error(err, errno, "dup2");
        close(p[0]);
        io->hold = p[1];
    }
    return 0;
}

/* pid 1 as servos' init (see init.h): the command is forked, and takes the
 * terminal with a session of its own. */
__attribute__((noreturn)) static void child_init(const struct sv_run_spec *s,
                                                 struct child_stdio *io, int errfd)
{
    sv_error_t err = NULL;
    int keep[] = {errfd, io->master, io->slave, io->hold};
    sv_init_shed(keep, SV_ARRAY_LEN(keep));
    sigset_t set;
    sv_init_block_signals(&set);
    pid_t pid = fork();
    if (pid < 0) {
        sv_error(&err, errno, "fork");
        child_fail(errfd, 125, &err);
    }
    if (pid == 0) {
        if (io->master >= 0)
            close(io->master);
        if (io->hold >= 0)
            close(io->hold);
        if (io->slave >= 0 && (setsid() < 0 || sv_pty_take(io->slave, &err) < 0)) {
            if (err == NULL)
                sv_error(&err, errno, "setsid");
            child_fail(errfd, 125, &err);
        }
        if (io->slave > 2)
            close(io->slave);
        default_signals();
        exec_command(s, errfd);
    }
    close(errfd);
    if (io->slave >= 0)
        close(io->slave);
    _exit(sv_init_run(pid, &set, io->master, STDOUT_FILENO));
}

__attribute__((noreturn)) static void child_main(struct sv_container *c, const int fds[3], int gofd,
                                                 int errfd, int bpffd, int ptysock)
{
    sv_error_t err = NULL;
    const struct sv_run_spec *s = &c->spec;
    default_signals();
    /* Two bytes from the parent: 'g' once our id maps are written, 'c'
     * once we are in the container's cgroup (written while we build our
     * root, on the other core). */
    char go;
    if (read(gofd, &go, 1) != 1)
        _exit(1); /* the parent gave up */
    for (int i = 0; i < 3; i++)
        if (fds[i] != i && dup2(fds[i], i) < 0) {
            sv_error(&err, errno, "dup2");
            child_fail(errfd, 125, &err);
        }
    /* Whatever else the caller had open (a supervisor's sockets, a CLI's
     * locks, a directory) must not reach the container. */
    if (cloexec_from(3, &err) < 0)
        child_fail(errfd, 125, &err);
    /* A session of its own: the caller's terminal is never the container's
     * controlling tty (TIOCSTI into the caller's shell needs that). */
    if (setsid() < 0) {
        sv_error(&err, errno, "setsid");
        child_fail(errfd, 125, &err);
    }
    if (!s->userns_host && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
        sv_error(&err, errno, "becoming root in the user namespace");
        child_fail(errfd, 125, &err);
    }
    if (sethostname(s->hostname, strlen(s->hostname)) < 0) {
        sv_error(&err, errno, "sethostname");
        child_fail(errfd, 125, &err);
    }
    if (sv_rootfs_setup(c, &err) < 0)
        child_fail(errfd, 125, &err);
    if (s->network != SV_NET_HOST && loopback_up(&err) < 0)
        child_fail(errfd, 125, &err);
    set_rlimits();
    if (chdir(s->workdir ? s->workdir : "/") < 0) {
        sv_error(&err, errno, "working directory %s", s->workdir);
        child_fail(errfd, 125, &err);
    }
    if (read(gofd, &go, 1) != 1)
        _exit(1);
    close(gofd);
    /* The parent made our eth0 before sending 'c'. */
    if (s->network == SV_NET_STACK && eth0_address(s->net.addr, s->net.prefix, &err) < 0)
        child_fail(errfd, 125, &err);
    /* In the cgroup now, so it becomes the namespace's root. */
    if (unshare(CLONE_NEWCGROUP) < 0 && errno != EINVAL) {
        sv_error(&err, errno, "cgroup namespace");
        child_fail(errfd, 125, &err);
    }
    if (drop_privileges(s, c->caps, bpffd, &err) < 0)
        child_fail(errfd, 125, &err);
    struct child_stdio io;
    if (child_stdio_prepare(s, &io, &err) < 0)
        child_fail(errfd, 125, &err);
    if (ptysock >= 0) { /* servos run -t: the caller relays the terminal */
        if (sv_pty_send_fd(ptysock, io.master, &err) < 0)
            child_fail(errfd, 125, &err);
        close(io.master);
        close(ptysock);
        io.master = -1;
    }
    /* Someone must hold what no caller holds: a terminal's master, a
     * stdin's write end. */
    if (s->init || io.master >= 0 || io.hold >= 0)
        child_init(s, &io, errfd);
    /* We lead a session of our own already (above). */
    if (io.slave >= 0 && sv_pty_take(io.slave, &err) < 0)
        child_fail(errfd, 125, &err);
    exec_command(s, errfd);
}

static pid_t clone3_fork(uint64_t flags)
{
    struct clone_args args = {.flags = flags, .exit_signal = SIGCHLD};
    return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* Read the child's report: "" when exec succeeded, else "STATUS message". */
static int read_child_report(int errfd, int *exec_status, sv_error_t *err)
{
    char buf[1100];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 && (n = read(errfd, buf + len, sizeof(buf) - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        len += (size_t)n;
    }
    if (len == 0)
        return 0;
    buf[len] = '\0';
    char *msg = strchr(buf, ' ');
    *exec_status = atoi(buf);
    return sv_error(err, 0, "%s", msg ? msg + 1 : buf);
}

int sv_container_spawn(struct sv_container *c, const int fds[3], sv_error_t *err)
{
    c->report_fd = -1;
    int go[2], report[2];
    if (pipe2(go, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    /* The seccomp program comes down its own pipe (see below). */
    int bpf[2] = {-1, -1};
    if (pipe2(report, O_CLOEXEC) < 0) {
        int e = errno;
        close(go[0]), close(go[1]);
        return sv_error(err, e, "pipe");
    }
    if (!c->spec.no_seccomp && pipe2(bpf, O_CLOEXEC) < 0) {
        int e = errno;
        close(go[0]), close(go[1]), close(report[0]), close(report[1]);
        return sv_error(err, e, "pipe");
    }
    /* The terminal's master comes back over a socket (see tty_attach). */
    int pty[2] = {-1, -1};
    if (c->spec.tty && c->tty_attach &&
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pty) < 0) {
        int e = errno;
        close(go[0]), close(go[1]), close(report[0]), close(report[1]);
        if (bpf[0] >= 0)
            close(bpf[0]), close(bpf[1]);
        return sv_error(err, e, "socketpair");
    }
    /* A root file system directory, opened by us (see sv_idmap_rootfs),
     * and idmapped copies of user-owned volumes: made here so the child
     * only has to attach them (see idmap.h). */
    if (c->image_kind == SV_IMAGE_DIR && c->lower_fd < 0) {
        c->lower_fd =
            sv_idmap_rootfs(c->lower, c->spec.userns_host ? NULL : &c->map, &c->lower_shifted, err);
        if (c->lower_fd < 0) {
            close(go[0]), close(go[1]), close(report[0]), close(report[1]);
            if (bpf[0] >= 0)
                close(bpf[0]), close(bpf[1]);
            return -1;
        }
    }
    for (size_t i = 0; i < c->spec.n_binds; i++)
        if (!c->spec.userns_host && !c->spec.binds[i].tmpfs && c->spec.binds[i].idmap_fd < 0)
            c->spec.binds[i].idmap_fd = sv_idmap_open(c->spec.binds[i].source, &c->map);
    c->host_netns = c->spec.network == SV_NET_HOST && !c->spec.net_joined;
    uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    if (!c->spec.userns_host)
        flags |= CLONE_NEWUSER;
    if (c->spec.network != SV_NET_HOST)
        flags |= CLONE_NEWNET;
    pid_t pid = clone3_fork(flags);
    if (pid < 0) {
        int e = errno;
        close(go[0]), close(go[1]), close(report[0]), close(report[1]);
        if (bpf[0] >= 0)
            close(bpf[0]), close(bpf[1]);
        if (pty[0] >= 0)
            close(pty[0]), close(pty[1]);
        return sv_error(err, e, "cannot create the container's namespaces");
    }
    if (pid == 0) {
        close(go[1]);
        close(report[0]);
        if (bpf[1] >= 0)
            close(bpf[1]);
        if (pty[0] >= 0)
            close(pty[0]);
        child_main(c, fds, go[0], report[1], bpf[0], pty[1]);
    }
    close(go[0]);
    close(report[1]);
    if (bpf[0] >= 0)
        close(bpf[0]);
    if (pty[1] >= 0)
        close(pty[1]);
    c->pty_sock = pty[0];
    if (c->lower_fd >= 0) /* the child's copy is the one it mounts */
        close(c->lower_fd), c->lower_fd = -1;
    c->pid = pid;
    int rc = 0;
    if (!c->spec.userns_host)
        rc = sv_userns_write_maps(pid, &c->map, err);
    if (rc == 0 && write(go[1], "g", 1) != 1)
        rc = sv_error(err, errno, "cannot start the container");
    if (rc == 0)
        rc = sv_cgroup_enter(&c->cg, pid, err);
    /* Its veth, while it builds its root on the other core. */
    if (rc == 0 && c->spec.network == SV_NET_STACK) {
        char name[IFNAMSIZ];
        snprintf(name, sizeof(name), "sv%.12s", c->id);
        sv_nl_forget_neighbour(c->spec.net.nl, c->spec.net.bridge, c->spec.net.addr);
        rc = sv_nl_veth(c->spec.net.nl, name, c->spec.net.bridge, "eth0", pid, err);
    }
    /* A broken pipe: the child gave up while building its root, and its
     * report (read below) says why. */
    if (rc == 0 && write(go[1], "c", 1) != 1)
        rc = sv_error(err, errno, "cannot start the container");
    close(go[1]);
    /* Build the seccomp filter while the child sets up its root. */
    if (bpf[1] >= 0) {
        if (rc == 0 && sv_seccomp_export_default(
                           bpf[1], c->spec.io_uring ? SV_SECCOMP_ALLOW_IO_URING : 0, err) < 0)
            rc = -1;
        close(bpf[1]);
    }
    if (rc < 0) {
        /* Did it end by itself? Then that, not our pipe, is the story. A
         * broken pipe means it has (only its exit or its exec, which
         * needs our 'c' first, closes its ends): wait for it to be gone. */
        int wstatus = 0;
        bool piped = *err && (*err)->status == EPIPE;
        bool died = waitpid(pid, &wstatus, piped ? 0 : WNOHANG) == pid;
        if (!died) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        c->pid = 0;
        /* The child may have failed first (a mount, an unknown user) and
         * closed its ends, which is what broke our pipe: its reason, left
         * in the report pipe before it died, is the one to give. */
        int status = 0;
        sv_error_t child = NULL;
        if (read_child_report(report[0], &status, &child) < 0) {
            sv_error_free(err);
            *err = child;
        } else if (died) {
            /* Gone without a word (a signal, the OOM killer): "Broken
             * pipe" would say nothing a user can act on. */
            sv_error_free(err);
            if (WIFSIGNALED(wstatus))
                sv_error(err, 0,
                         "the container's process was killed by signal %d (%s) while it built "
                         "its root file system%s",
                         WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)),
                         sv_cgroup_oom_killed(&c->cg) ? ": out of memory" : "");
            else
                sv_error(err, 0,
                         "the container's process exited with status %d while it built its "
                         "root file system, without saying why",
                         WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
        }
        close(report[0]);
        return -1;
    }
    c->report_fd = report[0];
    return 0;
}

int sv_container_spawned(struct sv_store *st, struct sv_container *c, int *exec_status,
                         sv_error_t *err)
{
    *exec_status = 0;
    int rc = read_child_report(c->report_fd, exec_status, err);
    close(c->report_fd);
    c->report_fd = -1;
    if (rc < 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
        return -1;
    }
    if (c->pty_sock >= 0) { /* sent before the exec we were told of */
        rc = sv_pty_recv_fd(c->pty_sock, &c->pty_master, err);
        close(c->pty_sock);
        c->pty_sock = -1;
        if (rc == 0 && c->pty_master < 0)
            rc = sv_error(err, EPROTO, "the container's terminal did not come");
        if (rc < 0) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, NULL, 0);
            c->pid = 0;
            return -1;
        }
    }
    c->pid_start = sv_pid_start_time(c->pid);
    warn_unwritable(c); /* once it runs: a start that fails has its own error to give */
    return sv_store_set_running(st, c->id, c->pid, c->pid_start, getpid(), err);
}

int sv_container_start(struct sv_store *st, struct sv_container *c, const int fds[3],
                       int *exec_status, sv_error_t *err)
{
    *exec_status = 0;
    if (sv_container_spawn(c, fds, err) < 0)
        return -1;
    return sv_container_spawned(st, c, exec_status, err);
}

int sv_container_wait(struct sv_container *c, int *exit_code, bool *oom)
{
    int status;
    while (waitpid(c->pid, &status, 0) < 0)
        if (errno != EINTR) {
            *exit_code = 255;
            *oom = false;
            return -1;
        }
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    *oom = sv_cgroup_oom_killed(&c->cg);
    return 0;
}

/* The -p network a container recorded, if any (runnet.h). */
static char *recorded_run_network(struct sv_store *st, const char *id)
{
    struct sv_ctr_row row;
    sv_error_t e = NULL;
    if (st == NULL || sv_store_find(st, id, &row, &e) < 0) {
        sv_error_free(&e);
        return NULL;
    }
    json_t *o = row.spec_json ? json_loads(row.spec_json, 0, NULL) : NULL;
    const char *key = json_string_value(json_object_get(o, "run_network"));
    char *out = key && sv_runnet_key_valid(key) ? sv_xstrdup(key) : NULL;
    json_decref(o);
    sv_ctr_row_clear(&row);
    return out;
}

int sv_container_remove(struct sv_store *st, const char *id, sv_error_t *err)
{
    struct sv_cgroup cg;
    int rc = 0;
    /* Its monitor removes the network when the container ends; this is
     * for a monitor that died first. */
    cleanup_free char *net = recorded_run_network(st, id);
    if (net && sv_runnet_destroy(net, err) < 0)
        rc = -1;
    if (rc == 0 && sv_cgroup_init(&cg, id, err) == 0) {
        rc = sv_cgroup_destroy(&cg, err);
        sv_cgroup_clear(&cg);
    }
    cleanup_free char *dir = sv_xasprintf("%s/containers/%s", sv_state_root(), id);
    /* Mounts and the writable layer lived in the container's mount
     * namespace and died with it; on the host only the log may be left. */
    if (rc == 0 && sv_rmtree(dir, err) < 0)
        rc = -1;
    if (rc == 0 && st && sv_store_delete(st, id, err) < 0)
        rc = -1;
    return rc;
}

int sv_container_reset(struct sv_container *c, sv_error_t *err)
{
    for (size_t i = 0; i < c->spec.n_binds; i++)
        if (c->spec.binds[i].idmap_fd >= 0) {
            close(c->spec.binds[i].idmap_fd);
            c->spec.binds[i].idmap_fd = -1;
        }
    if (sv_cgroup_destroy(&c->cg, err) < 0)
        return -1;
    return sv_cgroup_create(&c->cg, &c->spec.limits, err);
}

void sv_container_stop_how(const struct sv_ctr_row *row, struct sv_stop_how *how)
{
    how->signal = SIGTERM;
    how->timeout = SV_STOP_TIMEOUT_DEFAULT;
    how->restarts = false;
    json_t *o = row->spec_json ? json_loads(row->spec_json, 0, NULL) : NULL;
    json_int_t sig = json_integer_value(json_object_get(o, "stop_signal"));
    json_t *t = json_object_get(o, "stop_timeout");
    if (sig > 0 && sig < NSIG)
        how->signal = (int)sig;
    if (json_is_integer(t) && json_integer_value(t) >= 0 &&
        json_integer_value(t) <= SV_STOP_TIMEOUT_MAX)
        how->timeout = (int)json_integer_value(t);
    how->restarts = json_string_value(json_object_get(o, "restart")) != NULL;
    json_decref(o);
}

char *sv_container_stop_mark(const char *id)
{
    return sv_xasprintf("%s/containers/%s/stopped", sv_state_root(), id);
}

static char *monitor_lock_path(const char *id)
{
    return sv_xasprintf("%s/containers/%s/monitor.lock", sv_state_root(), id);
}

int sv_container_monitor_lock(const struct sv_container *c, sv_error_t *err)
{
    if (mkdir(c->dir, 0700) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cannot create %s", c->dir);
    cleanup_free char *path = monitor_lock_path(c->id);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || flock(fd, LOCK_EX) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return sv_error(err, e, "cannot lock %s", path);
    }
    return fd;
}

bool sv_container_monitored(const char *id)
{
    cleanup_free char *path = monitor_lock_path(id);
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0)
        return errno == EWOULDBLOCK;
    return false; /* closing drops our lock */
}

/* ---- the spec as JSON ------------------------------------------------------ */

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

char *sv_run_spec_to_json(const struct sv_container *c)
{
    const struct sv_run_spec *s = &c->spec;
    json_t *binds = json_array();
    for (size_t i = 0; i < s->n_binds; i++)
        json_array_append_new(binds,
                              json_pack("{s:s?, s:s, s:b}", "source", s->binds[i].source, "target",
                                        s->binds[i].target, "read_only", s->binds[i].read_only));
    json_t *o = json_pack(
        "{s:o, s:o, s:s*, s:s*, s:s, s:I, s:b, s:b, s:b, s:s, s:I, s:f, s:I, s:o, s:I, s:I}",
        "argv", strv_json(s->argv), "env", strv_json(s->env), "workdir", s->workdir, "user",
        s->user, "hostname", s->hostname, "caps", (json_int_t)c->caps, "userns_host",
        s->userns_host, "no_seccomp", s->no_seccomp, "read_only", s->read_only, "network",
        s->network == SV_NET_HOST    ? "host"
        : s->network == SV_NET_STACK ? "stack"
                                     : "none",
        "memory", (json_int_t)s->limits.memory, "cpus", s->limits.cpus, "pids",
        (json_int_t)s->limits.pids, "binds", binds, "uid_base", (json_int_t)c->map.uid_base,
        "gid_base", (json_int_t)c->map.gid_base);
    if (c->image_digest[0])
        json_object_set_new(o, "image_digest", json_string(c->image_digest));
    if (s->io_uring)
        json_object_set_new(o, "io_uring", json_true());
    json_object_set_new(o, "tty", json_boolean(s->tty));
    json_object_set_new(o, "init", json_boolean(s->init));
    if (s->network == SV_NET_STACK) {
        char ip[16];
        sv_ip4_format(s->net.addr, ip);
        json_object_set_new(o, "address", json_string(ip));
    }
    /* How `servos stop` stops it, and what `servos ls` shows. */
    int sig = s->stop_signal ? s->stop_signal : c->stop_signal ? c->stop_signal : SIGTERM;
    json_object_set_new(o, "stop_signal", json_integer(sig));
    json_object_set_new(
        o, "stop_timeout",
        json_integer(s->stop_timeout_set ? s->stop_timeout : SV_STOP_TIMEOUT_DEFAULT));
    json_t *labels = json_object();
    for (char **l = s->labels; l && *l; l++) {
        cleanup_free char *key = sv_xstrndup(*l, strcspn(*l, "="));
        json_object_set_new(labels, key, json_string(*l + strlen(key) + 1));
    }
    json_object_set_new(o, "labels", labels);
    if (s->restart && strcmp(s->restart, "no") != 0)
        json_object_set_new(o, "restart", json_string(s->restart));
    if (s->run_network)
        json_object_set_new(o, "run_network", json_string(s->run_network));
    if (s->ports && s->ports[0])
        json_object_set_new(o, "ports", strv_json(s->ports));
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (text == NULL)
        sv_oom();
    char *out = sv_xstrdup(text);
    free(text);
    return out;
}

/* ---- exec ------------------------------------------------------------------ */

static char **json_strv(json_t *a)
{
    size_t n = json_array_size(a);
    char **v = sv_xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = sv_xstrdup(json_string_value(json_array_get(a, i)) ?: "");
    return v;
}

/* What servos exec is sent (a Ctrl-C, a kill) goes on to its command: the
 * command has a session of its own and gets none from the terminal. */
static volatile pid_t exec_target;
static const int exec_signals[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH};

static void exec_forward(int sig)
{
    if (exec_target > 0)
        kill(exec_target, sig);
}

static void exec_forward_signals(struct sigaction old[SV_ARRAY_LEN(exec_signals)])
{
    struct sigaction sa = {.sa_handler = exec_forward, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < SV_ARRAY_LEN(exec_signals); i++)
        sigaction(exec_signals[i], &sa, old ? &old[i] : NULL);
}

/* Die with the process that started us (a killed servos exec, a health
 * check the supervisor timed out) rather than live on in the container.
 * parent: who that is, or 0 when it lives outside our pid namespace. */
static void exec_die_with(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* gone already: we were handed to an init */
        _exit(125);
}

/* The command, forked inside the container's namespaces. sock: where a
 * terminal's master goes (spec.tty), else -1. */
__attribute__((noreturn)) static void exec_command_child(const struct sv_run_spec *s,
                                                         sv_capset_t caps, int report, int sock)
{
    sv_error_t e = NULL;
    /* Never the caller's terminal as controlling tty: with it, TIOCSTI
     * pushes keystrokes into the caller's shell, which runs them on the
     * host. A terminal it gets (-t) is one of the container's own. */
    if (setsid() < 0) {
        sv_error(&e, errno, "setsid");
        child_fail(report, 125, &e);
    }
    default_signals();
    if (cloexec_from(3, &e) < 0)
        child_fail(report, 125, &e);
    if (chdir(s->workdir ? s->workdir : "/") < 0) {
        sv_error(&e, errno, "working directory %s", s->workdir);
        child_fail(report, 125, &e);
    }
    if (drop_privileges(s, caps, -1, &e) < 0)
        child_fail(report, 125, &e);
    exec_die_with(0); /* after the switch of user, which clears it */
    if (s->tty) {
        /* As the container's user, in its devpts: what the command could
         * have made itself, nothing more. */
        int master, slave;
        if (sv_pty_open(&master, &slave, s->tty_rows, s->tty_cols, &e) < 0 ||
            sv_pty_send_fd(sock, master, &e) < 0 || sv_pty_take(slave, &e) < 0)
            child_fail(report, 125, &e);
        close(master);
        close(sock);
    }
    exec_command(s, report);
}

/* Between servos exec and its command: joins the container (the cgroup,
 * then every namespace at once through the init's pidfd), forks the
 * command there (a pid namespace applies to children) and passes signals
 * on to it. Holds nothing of the caller's but its pipe to it, its socket
 * for a terminal (sock), and the stdio io asks for (null: /dev/null). */
__attribute__((noreturn)) static void exec_join(const struct sv_run_spec *s, sv_capset_t caps,
                                                const struct sv_cgroup *cg, int pidfd, int report,
                                                pid_t caller, int sock, int null)
{
    sv_error_t e = NULL;
    /* Closed to the container until the command's execve (which makes it
     * dumpable again): under --userns host, container root has our uid and,
     * once we drop to its set, our capabilities, and could otherwise write
     * our memory through /proc/PID/mem before the filter is loaded
     * (runc's CVE-2016-9962). Inherited by the fork below. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    exec_die_with(caller);
    /* Out of the terminal's process group: a Ctrl-C reaches the command
     * once, through the caller. */
    setpgid(0, 0);
    int keep[] = {pidfd, report, sock, null};
    sv_close_fds_except(keep, SV_ARRAY_LEN(keep));
    /* With a terminal of its own the command gets none of the caller's
     * stdio; without -i, no stdin. */
    for (int fd = 0; null >= 0 && fd < (s->tty ? 3 : 1); fd++)
        if (dup2(null, fd) < 0) {
            sv_error(&e, errno, "dup2");
            child_fail(report, 125, &e);
        }
    if (null >= 0)
        close(null);
    if (sv_cgroup_enter(cg, getpid(), &e) < 0)
        child_fail(report, 125, &e);
    int nsflags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID |
                  CLONE_NEWCGROUP | (s->userns_host ? 0 : CLONE_NEWUSER);
    if (setns(pidfd, nsflags) < 0) {
        sv_error(&e, errno, "cannot enter the container's namespaces");
        child_fail(report, 125, &e);
    }
    close(pidfd);
    exec_die_with(caller); /* again: entering a user namespace may clear it */
    /* Signals wait (blocked) until the command's pid is known; SIGCHLD as
     * waitpid needs it, whatever the caller had. */
    signal(SIGCHLD, SIG_DFL);
    exec_target = 0;
    exec_forward_signals(NULL);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &all, NULL);
    pid_t inner = fork();
    if (inner < 0) {
        sv_error(&e, errno, "fork");
        child_fail(report, 125, &e);
    }
    if (inner == 0)
        exec_command_child(s, caps, report, sock);
    close(report);
    if (sock >= 0) /* so that a command that failed before sending is seen */
        close(sock);
    exec_target = inner;
    sigprocmask(SIG_SETMASK, &none, NULL);
    int status;
    while (waitpid(inner, &status, 0) < 0)
        if (errno != EINTR)
            _exit(125);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* The command's terminal, relayed to ours until the command (through the
 * process between us, pid) is done. */
static int exec_relay(int sock, pid_t pid, bool input, sv_error_t *err)
{
    int master;
    if (sv_pty_recv_fd(sock, &master, err) < 0)
        return -1;
    if (master < 0)
        return 0; /* it failed before: its report says why */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int rc = sv_pty_relay(master, input, pidfd, err);
    close(master); /* hangs up what a command left running holds */
    if (pidfd >= 0)
        close(pidfd);
    return rc;
}

int sv_container_exec(const struct sv_ctr_row *row, char **argv, int *exit_code, sv_error_t *err)
{
    struct sv_exec_io io = {.interactive = true};
    return sv_container_exec_io(row, argv, &io, exit_code, err);
}

int sv_container_exec_io(const struct sv_ctr_row *row, char **argv, const struct sv_exec_io *io,
                         int *exit_code, sv_error_t *err)
{
    if (!sv_pid_alive(row->pid, row->pid_start))
        return sv_error(err, ESRCH, "container %s is not running", row->name);
    json_error_t jerr;
    json_t *o = json_loads(row->spec_json, 0, &jerr);
    if (o == NULL)
        return sv_error(err, EINVAL, "container %s: its recorded spec is unreadable: %s", row->name,
                        jerr.text);
    struct sv_run_spec s = {0};
    json_int_t caps = 0;
    int userns_host = 0, no_seccomp = 0;
    const char *workdir = NULL, *user = NULL, *hostname = NULL;
    json_t *env = NULL;
    if (json_unpack_ex(o, &jerr, 0, "{s?s, s?s, s:s, s:I, s:b, s:b, s:o}", "workdir", &workdir,
                       "user", &user, "hostname", &hostname, "caps", &caps, "userns_host",
                       &userns_host, "no_seccomp", &no_seccomp, "env", &env) < 0) {
        json_decref(o);
        return sv_error(err, EINVAL, "container %s: its recorded spec is incomplete: %s", row->name,
                        jerr.text);
    }
    s.workdir = workdir;
    s.user = user;
    s.hostname = hostname ? hostname : "";
    s.env = json_strv(env);
    s.argv = argv;
    s.userns_host = userns_host;
    s.no_seccomp = no_seccomp;
    s.io_uring = json_is_true(json_object_get(o, "io_uring"));
    s.tty = io->tty;
    s.tty_rows = io->rows;
    s.tty_cols = io->cols;

    int rc = -1, report[2] = {-1, -1}, sock[2] = {-1, -1}, null = -1;
    struct sv_cgroup cg = {0};
    bool cg_ok = false;
    int pidfd = (int)syscall(SYS_pidfd_open, row->pid, 0);
    if (pidfd < 0) {
        sv_error(err, errno, "container %s: cannot open its init process", row->name);
        goto out;
    }
    if (sv_cgroup_init(&cg, row->id, err) < 0)
        goto out;
    cg_ok = true;
    if (pipe2(report, O_CLOEXEC) < 0) {
        sv_error(err, errno, "pipe");
        goto out;
    }
    if (io->tty && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) < 0) {
        sv_error(err, errno, "socketpair");
        goto out;
    }
    if ((io->tty || !io->interactive) && (null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
        sv_error(err, errno, "/dev/null");
        goto out;
    }
    pid_t caller = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(report[0]);
        if (sock[0] >= 0)
            close(sock[0]);
        exec_join(&s, (sv_capset_t)caps, &cg, pidfd, report[1], caller, sock[1], null);
    }
    if (pid < 0) {
        sv_error(err, errno, "fork");
        goto out;
    }
    close(report[1]);
    report[1] = -1;
    if (sock[1] >= 0)
        close(sock[1]);
    sock[1] = -1;
    setpgid(pid, pid); /* as the child does: whichever runs first */
    struct sigaction old[SV_ARRAY_LEN(exec_signals)];
    exec_target = pid;
    exec_forward_signals(old);
    int exec_status = 0, status;
    sv_error_t relay_err = NULL;
    /* The master is sent just before the command's exec, whose report
     * follows. */
    int relayed = io->tty ? exec_relay(sock[0], pid, io->interactive, &relay_err) : 0;
    int r = read_child_report(report[0], &exec_status, err);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    exec_target = 0;
    for (size_t i = 0; i < SV_ARRAY_LEN(exec_signals); i++)
        sigaction(exec_signals[i], &old[i], NULL);
    if (r < 0) {
        sv_error_free(&relay_err);
        *exit_code = exec_status ? exec_status : 1;
        goto out;
    }
    if (relayed < 0)
        sv_error_report(&relay_err);
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    rc = 0;
out:
    for (int i = 0; i < 2; i++) {
        if (report[i] >= 0)
            close(report[i]);
        if (sock[i] >= 0)
            close(sock[i]);
    }
    if (null >= 0)
        close(null);
    if (pidfd >= 0)
        close(pidfd);
    if (cg_ok)
        sv_cgroup_clear(&cg);
    sv_strv_free(s.env);
    json_decref(o);
    return rc;
}
