/* A ProServe service on Kubernetes: servos' own service host (`servos
 * proserve-host`) in the servos image, as in a stack, with the manifest
 * servos evaluated and the files it names (handler scripts, static
 * directories) in a ConfigMap of the service's, mounted read-only where
 * the manifest's base_dir says they are. */
#include "export/export_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Where the pod finds the manifest and its files. */
#define PS_MANIFEST_DIR "/etc/servos/proserve"
#define PS_BASE         "/srv/proserve"
/* A ConfigMap holds at most 1 MiB; so much for all the files. */
#define PS_FILES_MAX ((size_t)900 << 10)

static const struct sv_value *member(const struct sv_value *o, const char *key)
{
    for (size_t i = 0; o && o->kind == SV_OBJECT && i < o->u.list.n; i++)
        if (strcmp(o->u.list.keys[i], key) == 0)
            return &o->u.list.items[i];
    return NULL;
}

static const char *member_str(const struct sv_value *o, const char *key)
{
    const struct sv_value *v = member(o, key);
    return v && v->kind == SV_STR ? v->u.s : NULL;
}

/* The files gathered so far for the ConfigMap. */
struct ps_files {
    struct sv_xn *data, *items; /* the ConfigMap's data; the volume's items */
    size_t n, bytes;
    const char *base; /* the manifest's base_dir on this host */
};

static int add_file(struct xp *p, const struct sv_service *s, struct ps_files *pf, const char *rel)
{
    for (struct sv_xn *it = pf->items->head; it; it = it->next)
        if (strcmp(sv_xn_get(it, "path")->s, rel) == 0)
            return 0;
    cleanup_free char *full = sv_xasprintf("%s/%s", pf->base, rel);
    struct stat st;
    cleanup_free char *text = NULL;
    size_t len = 0;
    sv_error_t rerr = NULL;
    if (stat(full, &st) < 0 || sv_read_file(full, PS_FILES_MAX, &text, &len, &rerr) < 0) {
        sv_error_free(&rerr);
        return sv_export_fail(p, s, "proserve", "%s: %s", full, strerror(errno ? errno : EIO));
    }
    pf->bytes += len;
    if (pf->bytes > PS_FILES_MAX)
        return sv_export_fail(p, s, "proserve",
                              "the files the manifest names pass %zu KiB, more than a ConfigMap "
                              "holds; put them in the servos image instead",
                              PS_FILES_MAX >> 10);
    const char *key = sv_xdoc_printf(p->d, "file-%zu", pf->n++);
    sv_xn_str(p->d, pf->data, key, sv_xdoc_strdup(p->d, text));
    struct sv_xn *item = sv_xn_map(p->d, pf->items, NULL);
    sv_xn_str(p->d, item, "key", key);
    sv_xn_str(p->d, item, "path", sv_xdoc_strdup(p->d, rel));
    sv_xn_int(p->d, item, "mode", (st.st_mode & 0111) ? 0555 : 0444);
    return 0;
}

/* A directory's files, depth first, bounded by PS_FILES_MAX. */
static int add_dir(struct xp *p, const struct sv_service *s, struct ps_files *pf, const char *rel,
                   int depth)
{
    cleanup_free char *full = sv_xasprintf("%s/%s", pf->base, rel);
    cleanup_closedir DIR *d = opendir(full);
    if (d == NULL)
        return sv_export_fail(p, s, "proserve", "%s: %s", full, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        cleanup_free char *sub = sv_xasprintf("%s/%s", rel, de->d_name);
        cleanup_free char *path = sv_xasprintf("%s/%s", pf->base, sub);
        struct stat st;
        if (lstat(path, &st) < 0 || S_ISLNK(st.st_mode))
            continue;
        int rc = S_ISDIR(st.st_mode) && depth < 8 ? add_dir(p, s, pf, sub, depth + 1)
                 : S_ISREG(st.st_mode)            ? add_file(p, s, pf, sub)
                                                  : 0;
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* A path the manifest names: relative ones are the base_dir's, and go
 * with it; an absolute one is this host's, which a pod has not. */
static int add_path(struct xp *p, const struct sv_service *s, struct ps_files *pf, const char *what,
                    const char *path, bool dir)
{
    if (path == NULL)
        return 0;
    if (path[0] == '/') {
        sv_export_warn(p, s, "proserve", "%s %s: a path of this host; not exported", what, path);
        return 0;
    }
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    if (strstr(path, "..")) {
        sv_export_warn(p, s, "proserve", "%s %s: outside the manifest's directory; not exported",
                       what, path);
        return 0;
    }
    return dir ? add_dir(p, s, pf, path, 0) : add_file(p, s, pf, path);
}

/* Every file the manifest names: handler scripts, task scripts, static
 * directories. */
static int gather(struct xp *p, const struct sv_service *s, struct ps_files *pf)
{
    const struct sv_value *body = s->proserve;
    const struct sv_value *eps = member(body, "endpoints");
    for (size_t i = 0; eps && eps->kind == SV_ARRAY && i < eps->u.list.n; i++) {
        const struct sv_value *ep = &eps->u.list.items[i];
        const char *script =
            member_str(ep, "script") ? member_str(ep, "script") : member_str(ep, "handler");
        if (add_path(p, s, pf, "endpoint script", script, false) < 0)
            return -1;
    }
    const struct sv_value *tasks = member(body, "background_tasks");
    for (size_t i = 0; tasks && tasks->kind == SV_ARRAY && i < tasks->u.list.n; i++)
        if (add_path(p, s, pf, "task script", member_str(&tasks->u.list.items[i], "script"),
                     false) < 0)
            return -1;
    const struct sv_value *sd = member(body, "static_dirs");
    for (size_t i = 0; sd && sd->kind == SV_OBJECT && i < sd->u.list.n; i++)
        if (sd->u.list.items[i].kind == SV_STR &&
            add_path(p, s, pf, "static directory", sd->u.list.items[i].u.s, true) < 0)
            return -1;
    const struct sv_value *st = member(body, "static");
    return add_path(p, s, pf, "static directory", member_str(st, "path"), true);
}

/* The manifest as the pod's service host reads it: base_dir moved to
 * where the ConfigMap's files are. */
static const char *manifest_json(struct xp *p, const struct sv_service *s)
{
    const struct sv_value *body = s->proserve;
    struct sv_value copy = *body;
    size_t n = body->u.list.n;
    copy.u.list.items = sv_xdoc_alloc(p->d, (n ? n : 1) * sizeof(struct sv_value));
    memcpy(copy.u.list.items, body->u.list.items, n * sizeof(struct sv_value));
    for (size_t i = 0; i < n; i++)
        if (strcmp(copy.u.list.keys[i], "base_dir") == 0)
            copy.u.list.items[i] = (struct sv_value){.kind = SV_STR, .u.s = PS_BASE};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        sv_oom();
    sv_graph_json_print_value(&copy, f);
    fputc('\n', f);
    fclose(f);
    const char *out = sv_xdoc_strdup(p->d, text);
    free(text);
    return out;
}

/* In a stack, the supervisor starts each handler (pgateway.h) in a
 * cgroup, as a uid and, isolated, in a network namespace of its own, or
 * as a container of its own; in a pod the service host starts them as its
 * own children (--direct-handlers), within the pod's limits. */
static void warn_isolation(struct xp *p, const struct sv_service *s)
{
    const struct sv_value *iso = member(s->proserve, "isolation");
    const char *mode = member_str(iso, "mode");
    if (mode && (strcmp(mode, "container") == 0 || strcmp(mode, "docker") == 0 ||
                 strcmp(mode, "sandbox") == 0))
        sv_export_warn(p, s, "proserve",
                       "isolation.mode %s: each handler run is a process of the pod, not a "
                       "container of its own",
                       mode);
    if (mode && (strcmp(mode, "micropython") == 0 || strcmp(mode, "arduino") == 0 ||
                 strcmp(mode, "kubernetes") == 0))
        sv_export_warn(p, s, "proserve",
                       "isolation.mode %s: the service host starts no handler in this mode", mode);
    const struct sv_value *mem = member(iso, "memory_limit");
    const struct sv_value *net = member(iso, "network_isolation");
    if ((mem && mem->kind != SV_NULL) || (net && net->kind == SV_BOOL && net->u.b))
        sv_export_warn(p, s, "proserve",
                       "isolation: memory_limit and network_isolation hold for each handler "
                       "under a stack's supervisor; in a pod, its limits hold for all of them");
}

int sv_kps_container(struct xp *p, const struct sv_service *s, struct sv_xn **items)
{
    const char *image = sv_export_servos_image(p);
    if (image == NULL)
        return sv_export_fail(p, s, "proserve",
                              "a ProServe service runs servos' service host: give --servos-image "
                              "REF (an image with servos on its PATH), or --image-registry HOST "
                              "for HOST/servos:%s",
                              p->o->version);
    const char *name = p->names[s - p->g->services];
    struct sv_xn *root =
        sv_export_object(p, "v1", "ConfigMap", sv_xname_join(p->d, name, "proserve"));
    /* before the workload that mounts it (made just before this): a pod
     * that finds its ConfigMap missing waits until it is there */
    struct sv_export_obj *objs = p->x->objs, last = objs[p->x->n_objs - 1];
    objs[p->x->n_objs - 1] = objs[p->x->n_objs - 2];
    objs[p->x->n_objs - 2] = last;
    struct sv_xn *data = sv_xn_map(p->d, root, "data");
    sv_xn_str(p->d, data, "manifest.json", manifest_json(p, s));
    struct ps_files pf = {.data = data,
                          .items = sv_xn_seq(p->d, NULL, NULL),
                          .base = member_str(s->proserve, "base_dir")};
    if (pf.base && gather(p, s, &pf) < 0)
        return -1;
    warn_isolation(p, s);
    *items = pf.items;
    return 0;
}

void sv_kps_process(struct xp *p, const struct sv_service *s, struct sv_xn *ctr)
{
    sv_xn_str(p->d, ctr, "image", sv_export_servos_image(p));
    sv_xn_strv(p->d, ctr, "command",
               (const char *[]){"servos", "proserve-host", "--direct-handlers",
                                PS_MANIFEST_DIR "/manifest.json", NULL});
}

void sv_kps_probe(struct xp *p, const struct sv_service *s, struct sv_xn *ctr)
{
    const struct sv_value *health = member(s->proserve, "enable_health");
    const struct sv_value *port = member(s->proserve, "port");
    if (s->health || (health && health->kind == SV_BOOL && !health->u.b) || port == NULL ||
        port->kind != SV_INT)
        return;
    struct sv_xn *pr = sv_xn_map(p->d, ctr, "readinessProbe");
    struct sv_xn *hg = sv_xn_map(p->d, pr, "httpGet");
    sv_xn_str(p->d, hg, "path", "/health");
    sv_xn_int(p->d, hg, "port", port->u.i);
}

void sv_kps_mounts(struct xp *p, const struct sv_service *s, struct sv_xn *spec, struct sv_xn *ctr,
                   struct sv_xn *items)
{
    const char *cm = sv_xname_join(p->d, p->names[s - p->g->services], "proserve");
    struct sv_xn *vols = sv_xn_seq(p->d, spec, "volumes");
    struct sv_xn *mounts = sv_xn_seq(p->d, ctr, "volumeMounts");
    struct sv_xn *v = sv_xn_map(p->d, vols, NULL);
    sv_xn_str(p->d, v, "name", "proserve-manifest");
    struct sv_xn *src = sv_xn_map(p->d, v, "configMap");
    sv_xn_str(p->d, src, "name", cm);
    struct sv_xn *item = sv_xn_map(p->d, sv_xn_seq(p->d, src, "items"), NULL);
    sv_xn_str(p->d, item, "key", "manifest.json");
    sv_xn_str(p->d, item, "path", "manifest.json");
    struct sv_xn *m = sv_xn_map(p->d, mounts, NULL);
    sv_xn_str(p->d, m, "name", "proserve-manifest");
    sv_xn_str(p->d, m, "mountPath", PS_MANIFEST_DIR);
    sv_xn_bool(p->d, m, "readOnly", true);
    /* the files, where base_dir says (an empty one when it names none) */
    v = sv_xn_map(p->d, vols, NULL);
    sv_xn_str(p->d, v, "name", "proserve-files");
    if (items->n) {
        src = sv_xn_map(p->d, v, "configMap");
        sv_xn_str(p->d, src, "name", cm);
        sv_xn_append(src, "items", items);
    } else {
        sv_xn_map(p->d, v, "emptyDir");
    }
    m = sv_xn_map(p->d, mounts, NULL);
    sv_xn_str(p->d, m, "name", "proserve-files");
    sv_xn_str(p->d, m, "mountPath", PS_BASE);
    sv_xn_bool(p->d, m, "readOnly", true);
}
