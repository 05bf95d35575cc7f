/* Storage in a pod: named volumes as PersistentVolumeClaims (a
 * StatefulSet's own per replica), tmpfs as memory-backed emptyDirs bounded
 * as servos bounds them, secrets and configs as Secrets and ConfigMaps
 * mounted file by file, and host paths only where asked (hostPath). */
#include "export/export_int.h"
#include "graph/units.h"

#include <string.h>

/* A Secret or ConfigMap holds at most 1 MiB (etcd's object limit). */
#define OBJECT_MAX ((size_t)1 << 20)

bool sv_kvol_has_named(const struct sv_service *s)
{
    for (size_t i = 0; i < s->n_mounts; i++)
        if (s->mounts[i].type == SV_MOUNT_VOLUME && s->mounts[i].source)
            return true;
    return false;
}

static struct sv_xn *lazy_seq(struct xp *p, struct sv_xn *parent, const char *key)
{
    struct sv_xn *n = sv_xn_get(parent, key);
    return n ? n : sv_xn_seq(p->d, parent, key);
}

/* Is there an item named name in seq (of maps with a name, or of
 * templates with metadata.name)? */
static bool has_named(struct sv_xn *seq, const char *name)
{
    for (struct sv_xn *it = seq ? seq->head : NULL; it; it = it->next) {
        struct sv_xn *n = sv_xn_get(it, "name");
        if (n == NULL)
            n = sv_xn_get(sv_xn_get(it, "metadata"), "name");
        if (n && strcmp(n->s, name) == 0)
            return true;
    }
    return false;
}

/* tmpfs: memory-backed, bounded by its size= or, as servos bounds an
 * unsized one, by the memory limit (else 1 GiB). Other options are a
 * warning each. */
static struct sv_xn *tmpfs_volume(struct xp *p, const struct sv_service *s,
                                  const struct sv_mount *m, struct sv_xn *vol)
{
    struct sv_xn *ed = sv_xn_map(p->d, vol, "emptyDir");
    sv_xn_str(p->d, ed, "medium", "Memory");
    int64_t size = s->memory > 0 ? s->memory : (int64_t)1 << 30;
    cleanup_free char *opts = m->options ? sv_xstrdup(m->options) : NULL;
    char *save = NULL;
    for (char *o = opts ? strtok_r(opts, ",", &save) : NULL; o; o = strtok_r(NULL, ",", &save)) {
        sv_error_t perr = NULL;
        if (strncmp(o, "size=", 5) == 0 && sv_parse_size(o + 5, &size, &perr) == 0)
            continue;
        sv_error_free(&perr);
        sv_export_warn(p, s, "tmpfs",
                       "%s: option \"%s\" has no Kubernetes counterpart; not exported", m->target,
                       o);
    }
    sv_xn_str(p->d, ed, "sizeLimit", sv_xname_bytes(p->d, size));
    return ed;
}

/* One mount: its pod volume (or claim template) and its volumeMount. */
static void mount_one(struct xp *p, const struct sv_service *s, size_t i, struct sv_xn *spec,
                      struct sv_xn *ctr, struct sv_xn *claims)
{
    const struct sv_mount *m = &s->mounts[i];
    const char *vname;
    if (m->type == SV_MOUNT_BIND && !p->o->allow_hostpath) {
        sv_export_warn(p, s, "volumes",
                       "%s:%s: a path of this host is not exported (--allow-hostpath makes it a "
                       "hostPath volume of whichever node runs the pod)",
                       m->source, m->target);
        return;
    }
    if (m->type == SV_MOUNT_VOLUME && m->source) {
        vname = sv_xname_join(p->d, "vol", sv_xname_dns(p->d, m->source, false));
        if (claims) {
            if (!has_named(claims, vname)) {
                struct sv_xn *t = sv_xn_map(p->d, claims, NULL);
                sv_xn_str(p->d, sv_xn_map(p->d, t, "metadata"), "name", vname);
                sv_kvol_claim_spec(p, m->source, sv_xn_map(p->d, t, "spec"));
            }
        } else if (!has_named(sv_xn_get(spec, "volumes"), vname)) {
            struct sv_xn *vol = sv_xn_map(p->d, lazy_seq(p, spec, "volumes"), NULL);
            sv_xn_str(p->d, vol, "name", vname);
            sv_xn_str(p->d, sv_xn_map(p->d, vol, "persistentVolumeClaim"), "claimName",
                      sv_xname_dns(p->d, m->source, false));
        }
    } else {
        static const char *const prefix[] = {"anon", "host", "tmpfs"};
        vname = sv_xdoc_printf(p->d, "%s-%zu", prefix[m->type], i);
        struct sv_xn *vol = sv_xn_map(p->d, lazy_seq(p, spec, "volumes"), NULL);
        sv_xn_str(p->d, vol, "name", vname);
        if (m->type == SV_MOUNT_TMPFS)
            tmpfs_volume(p, s, m, vol);
        else if (m->type == SV_MOUNT_BIND)
            sv_xn_str(p->d, sv_xn_map(p->d, vol, "hostPath"), "path", m->source);
        else
            sv_xn_map(p->d, vol, "emptyDir");
    }
    struct sv_xn *vm = sv_xn_map(p->d, lazy_seq(p, ctr, "volumeMounts"), NULL);
    sv_xn_str(p->d, vm, "name", vname);
    sv_xn_str(p->d, vm, "mountPath", m->target);
    if (m->read_only)
        sv_xn_bool(p->d, vm, "readOnly", true);
    if (m->chown)
        sv_export_warn(p, s, "volumes",
                       "%s: \":U\" (hand the source to the container's user) has no Kubernetes "
                       "counterpart; set the pod's fsGroup, or the volume's owner, instead",
                       m->target);
}

/* A secret or config: one file of its Secret or ConfigMap at its target. */
static void file_one(struct xp *p, const struct sv_service *s, size_t i, struct sv_xn *spec,
                     struct sv_xn *ctr)
{
    const struct sv_file_ref *f = &s->files[i];
    const char *vname = sv_xdoc_printf(p->d, "%s-%zu", f->config ? "config" : "secret", i);
    struct sv_xn *vol = sv_xn_map(p->d, lazy_seq(p, spec, "volumes"), NULL);
    sv_xn_str(p->d, vol, "name", vname);
    struct sv_xn *src = sv_xn_map(p->d, vol, f->config ? "configMap" : "secret");
    sv_xn_str(p->d, src, f->config ? "name" : "secretName", sv_xname_dns(p->d, f->source, false));
    struct sv_xn *item = sv_xn_map(p->d, sv_xn_seq(p->d, src, "items"), NULL);
    sv_xn_str(p->d, item, "key", f->source);
    sv_xn_str(p->d, item, "path", f->source);
    sv_xn_int(p->d, item, "mode", f->mode);
    struct sv_xn *vm = sv_xn_map(p->d, lazy_seq(p, ctr, "volumeMounts"), NULL);
    sv_xn_str(p->d, vm, "name", vname);
    sv_xn_str(p->d, vm, "mountPath", f->target);
    sv_xn_str(p->d, vm, "subPath", f->source);
    sv_xn_bool(p->d, vm, "readOnly", true);
    if (f->uid != 0 || f->gid != 0)
        sv_export_warn(p, s, f->config ? "configs" : "secrets",
                       "%s: owner %lld:%lld: Kubernetes' files of a %s belong to root (or the "
                       "pod's fsGroup); not exported",
                       f->target, (long long)f->uid, (long long)f->gid,
                       f->config ? "ConfigMap" : "Secret");
}

int sv_kvol_pod(struct xp *p, const struct sv_service *s, struct sv_xn *spec, struct sv_xn *ctr,
                struct sv_xn *claims)
{
    for (size_t i = 0; i < s->n_mounts; i++)
        mount_one(p, s, i, spec, ctr, claims);
    for (size_t i = 0; i < s->n_files; i++)
        file_one(p, s, i, spec, ctr);
    return 0;
}

/* The size a service asks for its volumes (label servos.volume.size);
 * 0 when it does not, -1 on a bad one. */
static int64_t label_size(struct xp *p, const struct sv_service *s)
{
    const char *v = sv_export_label(s, "servos.volume.size");
    int64_t b = 0;
    sv_error_t perr = NULL;
    if (v && sv_parse_size(v, &b, &perr) < 0) {
        sv_export_fail(p, s, "labels", "servos.volume.size: %s", perr->msg);
        sv_error_free(&perr);
        return -1;
    }
    return b;
}

static int cmp_vstat(const void *a, const void *b)
{
    return strcmp(((const struct kvol_stat *)a)->name, ((const struct kvol_stat *)b)->name);
}

static struct kvol_stat *vstat(struct xp *p, const char *volume)
{
    struct kvol_stat key = {.name = volume};
    return bsearch(&key, p->vstats, p->n_vstats, sizeof(key), cmp_vstat);
}

/* Who mounts each named volume, in one pass over the services (a claim
 * for each of 1,000 StatefulSets would otherwise walk them all). Shared
 * by several pods (services, or a Deployment's replicas), each may land
 * on another node, so the claim must be ReadWriteMany. */
static int vstats_prepare(struct xp *p)
{
    const struct sv_graph *g = p->g;
    p->vstats = sv_xdoc_alloc(p->d, (g->n_volumes + 1) * sizeof(*p->vstats));
    for (size_t v = 0; v < g->n_volumes; v++)
        p->vstats[v] = (struct kvol_stat){.name = g->volumes[v].name, .only_sts = true, .last = -1};
    p->n_vstats = g->n_volumes;
    qsort(p->vstats, p->n_vstats, sizeof(*p->vstats), cmp_vstat);
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        int64_t size = -2; /* the label, read at the first volume */
        for (size_t k = 0; k < s->n_mounts; k++) {
            struct kvol_stat *st;
            if (s->mounts[k].type != SV_MOUNT_VOLUME || s->mounts[k].source == NULL ||
                (st = vstat(p, s->mounts[k].source)) == NULL || st->last == (long)i)
                continue;
            if (size == -2 && (size = label_size(p, s)) < 0)
                return -1;
            st->last = (long)i;
            st->used = true;
            st->only_sts &= p->sts[i];
            st->users += p->sts[i] ? 1 : (size_t)(s->replicas > 1 ? 2 : 1);
            st->size = size > st->size ? size : st->size;
        }
    }
    return 0;
}

int sv_kvol_claim_spec(struct xp *p, const char *volume, struct sv_xn *spec)
{
    const struct kvol_stat *st = vstat(p, volume);
    int64_t size = st ? st->size : 0;
    if (size == 0) {
        sv_error_t perr = NULL;
        if (sv_parse_size(p->o->volume_size, &size, &perr) < 0) {
            sv_error(p->err, 0, "--volume-size: %s", perr->msg);
            sv_error_free(&perr);
            return -1;
        }
    }
    sv_xn_strv(p->d, spec, "accessModes",
               (const char *[]){st && st->users > 1 ? "ReadWriteMany" : "ReadWriteOnce", NULL});
    struct sv_xn *req = sv_xn_map(p->d, sv_xn_map(p->d, spec, "resources"), "requests");
    sv_xn_str(p->d, req, "storage", sv_xname_bytes(p->d, size));
    return 0;
}

static bool utf8_text(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (k == 0 || c == 0 || i + k > n)
            return false;
        for (size_t j = 1; j < k; j++)
            if (((unsigned char)s[i + j] >> 6) != 2)
                return false;
        i += k;
    }
    return true;
}

/* A secret as a Secret (its data base64), a config as a ConfigMap (as
 * text, or binaryData when it is none), each under its own name. */
static int file_object(struct xp *p, const struct sv_filedef *f)
{
    if (f->len > OBJECT_MAX)
        return sv_error(p->err, 0, "%s: %s \"%s\": %zu bytes; a Kubernetes %s holds at most 1 MiB",
                        f->where, f->config ? "config" : "secret", f->name, f->len,
                        f->config ? "ConfigMap" : "Secret");
    const char *name = sv_xname_dns(p->d, f->name, false);
    struct sv_xn *root = sv_export_object(p, "v1", f->config ? "ConfigMap" : "Secret", name);
    bool text = f->config && utf8_text(f->data, f->len);
    if (!f->config) {
        p->x->objs[p->x->n_objs - 1].secret = true;
        sv_xn_str(p->d, root, "type", "Opaque");
    }
    struct sv_xn *data = sv_xn_map(p->d, root, text || !f->config ? "data" : "binaryData");
    if (text) {
        sv_xn_str(p->d, data, f->name, f->data);
    } else {
        cleanup_free char *b64 = sv_base64_encode(f->data, f->len);
        sv_xn_str(p->d, data, f->name, sv_xdoc_strdup(p->d, b64));
    }
    return 0;
}

int sv_kvol_objects(struct xp *p)
{
    const struct sv_graph *g = p->g;
    if (vstats_prepare(p) < 0)
        return -1;
    for (size_t i = 0; i < g->n_files; i++)
        if (file_object(p, &g->files[i]) < 0)
            return -1;
    for (size_t v = 0; v < g->n_volumes; v++) {
        /* A volume only StatefulSets mount is theirs: a claim per replica. */
        const struct kvol_stat *st = vstat(p, g->volumes[v].name);
        if (st && st->used && st->only_sts)
            continue;
        const char *name = sv_xname_dns(p->d, g->volumes[v].name, false);
        struct sv_xn *root = sv_export_object(p, "v1", "PersistentVolumeClaim", name);
        if (sv_kvol_claim_spec(p, g->volumes[v].name, sv_xn_map(p->d, root, "spec")) < 0)
            return -1;
    }
    return 0;
}
