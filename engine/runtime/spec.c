/* The run spec: what sv_container_create refuses before anything is made,
 * the container's own copies of what the caller gave, what the image's
 * config fills in, and the spec as JSON, recorded with the container for
 * exec, stop and ls. */
#include "runtime/container_int.h"
#include "core/json.h"

#include "core/safepath.h"
#include "graph/units.h"
#include "image/imgstore.h"
#include "net/stacknet.h"
#include "runtime/seccomp.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

static size_t strv_len(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

static char **strv_dup(char *const *v)
{
    size_t n = strv_len(v);
    char **out = sv_xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = sv_xstrdup(v[i]);
    return out;
}

static char *xstrdup_or_null(const char *s)
{
    return s ? sv_xstrdup(s) : NULL;
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

static const char host_chars[] =
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.";

int sv_spec_hostname_check(const char *h, bool rfc1123, sv_error_t *err)
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
 * mounts.c turns into flags (ro, rw, exec, noexec, nosuid, nodev) and
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

int sv_spec_check(const struct sv_run_spec *s, sv_error_t *err)
{
    if (s->name && !valid_name(s->name))
        return sv_error(err, 0,
                        "invalid name \"%s\": use letters, digits, \"_\", \".\" and \"-\", "
                        "starting with a letter or digit",
                        s->name);
    if (s->workdir && s->workdir[0] != '/')
        return sv_error(err, 0, "the working directory must be absolute, got \"%s\"", s->workdir);
    if ((s->build_upper && s->build_upper[0] != '/') || (!s->build_lower != !s->build_upper))
        return sv_error(err, 0,
                        "a build step needs both its layers and an absolute upper directory");
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
         * are all "/" (sv_spec_copy keeps the cleaned form). */
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
        /* The device policy lets every pseudo-terminal through (a
         * container's own share the host's major number): the host's
         * reach a container only as devices, which say so (devices.h). */
        struct statfs fs;
        if (statfs(b->source, &fs) == 0 && fs.f_type == DEVPTS_SUPER_MAGIC)
            return sv_error(err, 0,
                            "volume %s: the host's pseudo-terminals are not bound as volumes; "
                            "pass one with --device (a stack's devices)",
                            b->source);
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
    if (s->hostname && sv_spec_hostname_check(s->hostname, false, err) < 0)
        return -1;
    if (s->layer_size < 0 || (s->layer_size > 0 && s->layer_size < (1 << 20)))
        return sv_error(err, 0, "--layer-size must be at least 1 MB");
    for (size_t i = 0; i < s->n_devices; i++) {
        const struct sv_device_spec *d = &s->devices[i];
        for (size_t j = 0; j < i && d->target; j++)
            if (s->devices[j].target && strcmp(s->devices[j].target, d->target) == 0)
                return sv_error(err, 0, "devices %s and %s both go to %s", s->devices[j].source,
                                d->source, d->target);
        /* The parser's rules, for a caller that filled the spec itself. */
        cleanup_free char *clean =
            d->target && d->target[0] == '/' ? sv_path_clean(d->target) : NULL;
        const char *why = clean ? sv_path_refused_target(clean) : "the path must be absolute";
        if (d->source == NULL || d->source[0] != '/' || why)
            return sv_error(err, 0, "device %s:%s: %s", d->source ? d->source : "",
                            d->target ? d->target : "", why ? why : "the source must be absolute");
    }
    return 0;
}

unsigned sv_spec_seccomp_flags(const struct sv_run_spec *s)
{
    return (s->io_uring ? SV_SECCOMP_ALLOW_IO_URING : 0) | (s->no_sync ? SV_SECCOMP_NO_SYNC : 0);
}

char *sv_spec_command_line(char *const *argv)
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
void sv_spec_copy(struct sv_container *c, const struct sv_run_spec *spec)
{
    struct sv_run_spec *s = &c->spec;
    *s = *spec;
    s->name = c->name;
    s->image = sv_xstrdup(spec->image);
    s->hostname = spec->hostname ? sv_xstrdup(spec->hostname) : sv_xstrndup(c->id, 12);
    s->workdir = xstrdup_or_null(spec->workdir);
    s->user = xstrdup_or_null(spec->user);
    s->net.hosts = xstrdup_or_null(spec->net.hosts);
    s->net.name = xstrdup_or_null(spec->net.name);
    for (size_t i = 0; i < spec->net.n_more; i++)
        s->net.more[i].name = xstrdup_or_null(spec->net.more[i].name);
    s->sysctls = spec->sysctls ? strv_dup(spec->sysctls) : NULL;
    s->extra_hosts = spec->extra_hosts ? strv_dup(spec->extra_hosts) : NULL;
    s->entrypoint = spec->entrypoint ? strv_dup(spec->entrypoint) : NULL;
    s->argv = strv_dup(spec->argv);
    s->env = strv_dup(spec->env);
    s->cap_add = (const char **)strv_dup((char *const *)spec->cap_add);
    s->cap_drop = (const char **)strv_dup((char *const *)spec->cap_drop);
    s->labels = strv_dup(spec->labels);
    s->ports = strv_dup(spec->ports);
    s->restart = xstrdup_or_null(spec->restart);
    s->run_network = xstrdup_or_null(spec->run_network);
    s->build_lower = xstrdup_or_null(spec->build_lower);
    s->build_upper = xstrdup_or_null(spec->build_upper);
    struct sv_device_spec *devs = sv_xcalloc(spec->n_devices + 1, sizeof(*devs));
    for (size_t i = 0; i < spec->n_devices; i++) {
        devs[i] = spec->devices[i];
        devs[i].source = sv_xstrdup(spec->devices[i].source);
        devs[i].target = sv_path_clean(spec->devices[i].target);
    }
    s->devices = devs;
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

/* What the service leaves unset comes from the image's config, as Docker
 * does it: the command is entrypoint + cmd, where a service's own
 * entrypoint drops the image's cmd; the service's environment overrides the
 * image's variable by variable. */
int sv_spec_apply_image(struct sv_container *c, const struct sv_image_config *cfg, sv_error_t *err)
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

/* ---- the spec as JSON ------------------------------------------------------ */

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

/* A replica's networks and its address on each, eth0's first (what a
 * supervisor started later needs to know them by; see sv_spec_links). */
static json_t *links_json(const struct sv_net_attach *net)
{
    json_t *a = json_array();
    char ip[16];
    sv_stacknet_ip4_format(net->addr, ip);
    json_array_append_new(a, json_pack("{s:s, s:s}", "network", net->name, "address", ip));
    for (size_t i = 0; i < net->n_more; i++) {
        sv_stacknet_ip4_format(net->more[i].addr, ip);
        json_array_append_new(a,
                              json_pack("{s:s, s:s}", "network", net->more[i].name, "address", ip));
    }
    return a;
}

char *sv_spec_to_json(const struct sv_container *c)
{
    const struct sv_run_spec *s = &c->spec;
    json_t *binds = json_array();
    for (size_t i = 0; i < s->n_binds; i++)
        json_array_append_new(binds,
                              json_pack("{s:s?, s:s, s:b}", "source", s->binds[i].source, "target",
                                        s->binds[i].target, "read_only", s->binds[i].read_only));
    cleanup_json json_t *o = json_pack(
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
        sv_stacknet_ip4_format(s->net.addr, ip);
        json_object_set_new(o, "address", json_string(ip));
        if (s->net.name)
            json_object_set_new(o, "links", links_json(&s->net));
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
    if (s->n_devices) {
        json_t *devs = json_array();
        for (size_t i = 0; i < s->n_devices; i++)
            json_array_append_new(devs, json_pack("{s:s, s:s, s:s}", "source", s->devices[i].source,
                                                  "target", s->devices[i].target, "permissions",
                                                  s->devices[i].access));
        json_object_set_new(o, "devices", devs);
    }
    return sv_json_dumps(o, SV_JSON_COMPACT | SV_JSON_SORTED);
}
