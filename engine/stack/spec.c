#include "stack/spec.h"
#include "stack/volumes.h"
#include "core/statedir.h"
#include "host/userns.h"
#include "image/imgstore.h"
#include "proserve/pgateway.h"
#include "board/bservice.h"
#include "proserve/tlsfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void sv_spec_hash_hex(const struct sv_service *s, char out[17])
{
    uint64_t h = sv_graph_json_hash(s);
    /* A built image keeps its name when a rebuild changes it: its digest
     * is part of the spec, so the replicas are made anew from it. */
    char digest[SV_DIGEST_LEN + 1];
    /* A board service's sources are its firmware: changed, it is built
     * and started anew. */
    if (s->board && s->build) {
        uint64_t k = sv_bservice_stamp(s);
        h = sv_fnv1a(&k, sizeof(k)) ^ (h * 1099511628211ull);
    } else if (s->build && sv_image_lookup(s->image, digest, NULL) == 0) {
        char buf[128];
        int n = snprintf(buf, sizeof(buf), "%016llx %s", (unsigned long long)h, digest);
        h = sv_fnv1a(buf, (size_t)n);
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static char **argv_join(const char *const *a, const char *const *b)
{
    size_t n = 0, k = 0;
    for (const char *const *p = a; p && *p; p++)
        n++;
    for (const char *const *p = b; p && *p; p++)
        n++;
    char **v = sv_xcalloc(n + 1, sizeof(*v));
    for (const char *const *p = a; p && *p; p++)
        v[k++] = (char *)*p;
    for (const char *const *p = b; p && *p; p++)
        v[k++] = (char *)*p;
    return v;
}

/* A board mode (micropython, arduino) whose runtime is missing here,
 * falling back to mode process (pgateway.h)? */
static bool board_fallback(const struct sv_service *s)
{
    const char *mode = sv_gateway_board_mode(s);
    return mode && strcmp(mode, "process") == 0;
}

/* The manifest with isolation.mode process, and the mode it was in
 * isolation.fallback_from: the service host runs what the supervisor
 * decided. */
static void print_fallen_back(const struct sv_service *s, FILE *f)
{
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m == NULL)
        return;
    sv_graph_json_print_value(s->proserve, m);
    fclose(m);
    cleanup_json json_t *doc = json_loadb(text, len, 0, NULL);
    free(text);
    json_t *iso = json_object_get(doc, "isolation");
    if (json_is_object(iso)) {
        json_object_set(iso, "fallback_from", json_object_get(iso, "mode"));
        json_object_set_new(iso, "mode", json_string("process"));
    }
    json_dumpf(doc, f, JSON_COMPACT);
}

/* The service's manifest as JSON at path (through a temporary file and a
 * rename). It holds the service's environment: readable by its
 * container's root (who runs the service host) and no one else. */
static int write_manifest(const struct sv_service *s, const char *path, sv_error_t *err)
{
    cleanup_free char *tmp = sv_xasprintf("%s.tmp", path);
    uid_t uid;
    gid_t gid;
    if (sv_userns_root_ids(s->userns, &uid, &gid, err) < 0)
        return -1;
    unlink(tmp);
    cleanup_fclose FILE *f = sv_fopen_mode(tmp, O_EXCL, 0400);
    if (f == NULL)
        return sv_error(err, errno, "cannot write %s", tmp);
    if (board_fallback(s))
        print_fallen_back(s, f);
    else
        sv_graph_json_print_value(s->proserve, f);
    if (fflush(f) != 0 || fchown(fileno(f), uid, gid) < 0 || fchmod(fileno(f), 0440) < 0)
        return sv_error(err, errno, "cannot write %s", tmp);
    /* Closed here, not at return: a write that failed shows in fclose. */
    if (fclose(sv_steal(f)) != 0 || rename(tmp, path) < 0)
        return sv_error(err, errno, "cannot write %s", path);
    return 0;
}

/* The manifest's base_dir, when it has one. */
static const char *manifest_base_dir(const struct sv_value *body)
{
    const char *base = NULL;
    for (size_t i = 0; body->kind == SV_OBJECT && i < body->u.list.n; i++)
        if (strcmp(body->u.list.keys[i], "base_dir") == 0 && body->u.list.items[i].kind == SV_STR)
            base = body->u.list.items[i].u.s;
    return base;
}

/* A ProServe service runs servos' own service host in its container:
 * the binary, its manifest and the manifest's directory are bound in
 * read-only. */
static int proserve_spec(const struct sv_graph *g, const struct sv_service *s,
                         struct sv_run_spec *spec, sv_error_t *err)
{
    cleanup_free char *dir = sv_statedir_binds(g->stack);
    cleanup_free char *manifest = sv_xasprintf("%s/proserve-%s.json", dir, s->name);
    if (write_manifest(s, manifest, err) < 0)
        return -1;
    char *self = realpath("/proc/self/exe", NULL);
    if (self == NULL)
        return sv_error(err, errno, "cannot find the servos binary");
    const char *base = manifest_base_dir(s->proserve);
    struct sv_bind add[] = {
        {.source = self, .target = "/.servos/servos", .read_only = true, .idmap_fd = -1},
        {.source = sv_xstrdup(manifest),
         .target = "/.servos/manifest.json",
         .read_only = true,
         .idmap_fd = -1},
        {.source = base ? sv_xstrdup(base) : NULL,
         .target = (char *)base,
         .read_only = true,
         .idmap_fd = -1},
    };
    size_t n_add = SV_ARRAY_LEN(add);
    spec->binds = sv_xrealloc(spec->binds, (spec->n_binds + n_add + 2) * sizeof(*spec->binds));
    /* A private /tmp (writable under read_only) goes first: binds below it,
     * a manifest directory under /tmp too, land on it, not under it. */
    memmove(spec->binds + 1, spec->binds, spec->n_binds * sizeof(*spec->binds));
    spec->binds[0] = (struct sv_bind){.tmpfs = true, .target = "/tmp", .idmap_fd = -1};
    spec->n_binds++;
    for (size_t i = 0; i < n_add; i++)
        if (add[i].source)
            spec->binds[spec->n_binds++] = add[i];
    /* Containers per handler: the supervisor's gateway socket's directory
     * (a directory, so a new supervisor's socket shows up in it). */
    if (sv_gateway_wanted(s)) {
        spec->binds = sv_xrealloc(spec->binds, (spec->n_binds + 1) * sizeof(*spec->binds));
        spec->binds[spec->n_binds++] = (struct sv_bind){
            .source = sv_gateway_dir(g->stack, s->name), .target = SV_GATEWAY_DIR, .idmap_fd = -1};
    }
    /* TLS: the manifest's certificate and key (or the stack's self-signed
     * ones), copies only the container's root can read. */
    char *tls_dir = NULL;
    if (sv_tlsfiles_prepare(g->stack, s, &tls_dir, err) < 0)
        return -1;
    if (tls_dir) {
        spec->binds = sv_xrealloc(spec->binds, (spec->n_binds + 1) * sizeof(*spec->binds));
        spec->binds[spec->n_binds++] = (struct sv_bind){
            .source = tls_dir, .target = SV_TLS_DIR, .read_only = true, .idmap_fd = -1};
    }
    if (spec->entrypoint == NULL && (spec->argv == NULL || spec->argv[0] == NULL)) {
        free(spec->argv);
        spec->entrypoint = argv_join(
            (const char *[]){"/.servos/servos", "proserve-host", "/.servos/manifest.json", NULL},
            NULL);
        spec->argv = sv_xcalloc(1, sizeof(char *));
    }
    return 0;
}

/* A board service (board/bservice.h): the toolchain image, a script that
 * builds the sources and execs the emulator (written beside the stack's
 * other binds, bound read-only), the sources read-only, the build cache. */
static int board_spec(const struct sv_graph *g, const struct sv_service *s,
                      struct sv_run_spec *spec, sv_error_t *err)
{
    struct sv_bservice b;
    if (sv_bservice_make(s, &b, err) < 0)
        return -1;
    cleanup_free char *dir = sv_statedir_binds(g->stack);
    char *path = sv_xasprintf("%s/board-%s.sh", dir, s->name);
    cleanup_free char *tmp = sv_xasprintf("%s.tmp", path);
    cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
    size_t len = strlen(b.script);
    int rc = 0;
    if (fd < 0 || write(fd, b.script, len) != (ssize_t)len || fchmod(fd, 0444) < 0 ||
        rename(tmp, path) < 0)
        rc = sv_error(err, errno, "cannot write %s", path);
    spec->binds = sv_xrealloc(spec->binds, (spec->n_binds + 3) * sizeof(*spec->binds));
    spec->binds[spec->n_binds++] = (struct sv_bind){
        .source = path, .target = "/.servos/board.sh", .read_only = true, .idmap_fd = -1};
    spec->binds[spec->n_binds++] = (struct sv_bind){
        .source = sv_steal(b.src), .target = NULL, .read_only = true, .idmap_fd = -1};
    /* The bind's target lives as long as the spec: the graph's arena. */
    spec->binds[spec->n_binds - 1].target =
        (char *)sv_graph_strdup((struct sv_graph *)g, b.src_target);
    if (b.cache)
        spec->binds[spec->n_binds++] =
            (struct sv_bind){.source = sv_steal(b.cache), .target = "/cache", .idmap_fd = -1};
    spec->image = b.image;
    free(spec->argv);
    spec->argv = argv_join((const char *[]){"/bin/sh", "/.servos/board.sh", NULL}, NULL);
    size_t n = 0, k = 0;
    while (spec->env && spec->env[n])
        n++;
    while (b.env && b.env[k])
        k++;
    spec->env = sv_xrealloc(spec->env, (n + k + 1) * sizeof(char *));
    for (size_t i = 0; i < k; i++)
        spec->env[n + i] = sv_steal(b.env[i]);
    spec->env[n + k] = NULL;
    /* The emulator as pid 1 would not take down's SIGTERM. */
    spec->init = true;
    sv_bservice_clear(&b);
    return rc;
}

/* One secret or config, whole or not at all, owned by uid:gid (host ids)
 * with its mode. Nothing of its content ever goes into a message. */
static int write_file_ref(const char *path, const struct sv_file_ref *f, uid_t uid, gid_t gid,
                          sv_error_t *err)
{
    cleanup_free char *tmp = sv_xasprintf("%s.tmp", path);
    unlink(tmp);
    cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, f->def->data, f->def->len) != (ssize_t)f->def->len ||
        fchown(fd, uid, gid) < 0 || fchmod(fd, (mode_t)f->mode) < 0)
        return sv_error(err, errno, "cannot write %s %s to %s", f->config ? "config" : "secret",
                        f->source, tmp);
    if (rename(tmp, path) < 0)
        return sv_error(err, errno, "cannot write %s", path);
    return 0;
}

/* The service's secrets and configs, bound read-only at their targets:
 * written at each start to <binds>/files-SERVICE, a directory that only
 * the container's root (and host root) may enter, each file owned as asked
 * inside the container's user namespace. */
static int file_binds(const struct sv_graph *g, const struct sv_service *s,
                      struct sv_run_spec *spec, sv_error_t *err)
{
    if (s->n_files == 0)
        return 0;
    uid_t uid;
    gid_t gid;
    if (sv_userns_root_ids(s->userns, &uid, &gid, err) < 0)
        return -1;
    cleanup_free char *binds = sv_statedir_binds(g->stack);
    cleanup_free char *dir = sv_xasprintf("%s/files-%s", binds, s->name);
    if ((mkdir(dir, 0500) < 0 && errno != EEXIST) || chown(dir, uid, gid) < 0 ||
        chmod(dir, 0500) < 0)
        return sv_error(err, errno, "cannot make %s", dir);
    spec->binds = sv_xrealloc(spec->binds, (spec->n_binds + s->n_files + 1) * sizeof(*spec->binds));
    for (size_t i = 0; i < s->n_files; i++) {
        const struct sv_file_ref *f = &s->files[i];
        char *path = sv_xasprintf("%s/%zu-%s", dir, i, f->source);
        /* Owned by the source's bind from here on: freed with the spec. */
        spec->binds[spec->n_binds++] = (struct sv_bind){
            .source = path, .target = (char *)f->target, .read_only = true, .idmap_fd = -1};
        if (write_file_ref(path, f, uid + (uid_t)f->uid, gid + (gid_t)f->gid, err) < 0)
            return -1;
    }
    return 0;
}

/* The service's sysctls as "NAME=VALUE". */
static char **sysctl_strv(const struct sv_service *s)
{
    if (s->n_sysctls == 0)
        return NULL;
    char **v = sv_xcalloc(s->n_sysctls + 1, sizeof(*v));
    for (size_t i = 0; i < s->n_sysctls; i++)
        v[i] = sv_xasprintf("%s=%s", s->sysctls[i].key, s->sysctls[i].value);
    return v;
}

/* The service's mounts as binds: tmpfs, volumes (made now), host paths. */
static int mount_binds(const struct sv_graph *g, const struct sv_service *s, int n,
                       struct sv_run_spec *spec, sv_error_t *err)
{
    spec->binds = sv_xcalloc(s->n_mounts + 1, sizeof(*spec->binds));
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct sv_mount *m = &s->mounts[i];
        struct sv_bind *b = &spec->binds[spec->n_binds++];
        b->target = (char *)m->target;
        b->read_only = m->read_only;
        b->chown = m->chown;
        b->idmap_fd = -1;
        if (m->type == SV_MOUNT_TMPFS) {
            b->tmpfs = true;
            b->source = m->options ? sv_xstrdup(m->options) : NULL;
        } else if (m->type == SV_MOUNT_VOLUME) {
            b->source = sv_volumes_prepare(g, s, n, i, err);
            if (b->source == NULL)
                return -1;
        } else {
            b->source = sv_xstrdup(m->source);
        }
    }
    return 0;
}

int sv_spec_make(const struct sv_graph *g, const struct sv_service *s, int n,
                 struct sv_run_spec *spec, sv_error_t *err)
{
    memset(spec, 0, sizeof(*spec));
    spec->stack = g->stack;
    spec->service = s->name;
    spec->replica = n;
    spec->image = s->image;
    /* Unset ones come from the image's config when the replica is made. */
    spec->entrypoint = s->entrypoint ? argv_join(s->entrypoint, NULL) : NULL;
    spec->argv = argv_join(s->command, NULL);
    spec->env = sv_xcalloc(s->n_env + 1, sizeof(char *));
    for (size_t i = 0; i < s->n_env; i++)
        spec->env[i] = sv_xasprintf("%s=%s", s->env[i].key, s->env[i].value);
    spec->workdir = s->working_dir;
    spec->user = s->user;
    spec->limits = (struct sv_limits){s->memory, s->cpus, s->pids};
    spec->cap_add = s->cap_add;
    spec->cap_drop = s->cap_drop;
    spec->read_only = s->read_only;
    /* No one attaches to a replica: its init keeps the terminal's master
     * (copied to the log) or the stdin pipe (see container.h). */
    spec->tty = s->tty;
    spec->stdin_open = s->stdin_open;
    spec->init = s->init;
    spec->userns_host = strcmp(s->userns, "host") == 0;
    /* The supervisor fills in spec->net (address, bridge) for "stack". */
    spec->network = strcmp(s->network, "host") == 0   ? SV_NET_HOST
                    : strcmp(s->network, "none") == 0 ? SV_NET_NONE
                                                      : SV_NET_STACK;
    spec->sysctls = sysctl_strv(s);
    spec->devices = s->devices; /* borrowed: the container copies them */
    spec->n_devices = s->n_devices;
    /* extra_hosts as /etc/hosts lines, where servos writes that file. */
    if (s->n_extra_hosts) {
        spec->extra_hosts = sv_xcalloc(s->n_extra_hosts + 1, sizeof(char *));
        for (size_t i = 0; i < s->n_extra_hosts; i++)
            spec->extra_hosts[i] =
                sv_xasprintf("%s\t%s", s->extra_hosts[i].value, s->extra_hosts[i].key);
    }
    if (mount_binds(g, s, n, spec, err) < 0 || file_binds(g, s, spec, err) < 0 ||
        (s->proserve && proserve_spec(g, s, spec, err) < 0) ||
        (s->board && s->build && board_spec(g, s, spec, err) < 0)) {
        sv_spec_free(spec);
        return -1;
    }
    return 0;
}

void sv_spec_free(struct sv_run_spec *spec)
{
    for (size_t i = 0; spec->env && spec->env[i]; i++)
        free(spec->env[i]);
    free(spec->env);
    free(spec->argv);
    free(spec->entrypoint);
    for (size_t i = 0; i < spec->n_binds; i++)
        free(spec->binds[i].source);
    free(spec->binds);
    sv_strv_free(spec->sysctls);
    sv_strv_free(spec->extra_hosts);
    memset(spec, 0, sizeof(*spec));
}
