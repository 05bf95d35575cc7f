/* Loading archives: read every entry into a temporary blob file (hashed as
 * it is written; no entry ever becomes a path of its own), plan the images
 * from the documents, check every blob, and only then move the blobs into
 * the store, store the manifests and record the names. */
#include "image/imgload.h"

#include "core/json.h"
#include "image/imgblob.h"
#include "image/imgref.h"
#include "image/imgsrc.h"
#include "image/imgstore.h"
#include "image/unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DOC   (4 << 20)
#define REF_NAME  "org.opencontainers.image.ref.name"
#define FULL_NAME "io.containerd.image.name" /* Docker 25's docker save */

/* ---- the plan ------------------------------------------------------------------ */

struct img_plan {
    char manifest[SV_DIGEST_LEN + 1];
    char *doc; /* a manifest made here (docker-archive); NULL: the archive's own */
    struct sv_imgsrc_entry **blobs;
    size_t n_blobs;
    char **names; /* NULL-terminated */
};

struct plan {
    struct sv_imgsrc src;
    struct img_plan *img;
    size_t n;
    bool one;       /* only one image (import) */
    const char *as; /* the name it is to have, or NULL */
    char **added;   /* blobs this load put in the store, removed if it fails */
    size_t n_added;
};

static void plan_clear(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->img[i].doc);
        free(p->img[i].blobs);
        sv_strv_free(p->img[i].names);
    }
    free(p->img);
    for (size_t i = 0; i < p->n_added; i++)
        free(p->added[i]);
    free(p->added);
    sv_imgsrc_close(&p->src);
}

static void add_blob(struct img_plan *ip, struct sv_imgsrc_entry *e)
{
    ip->blobs = sv_xrealloc(ip->blobs, (ip->n_blobs + 1) * sizeof(*ip->blobs));
    ip->blobs[ip->n_blobs++] = e;
}

static void add_name(char ***names, const char *name)
{
    size_t n = 0;
    while (*names && (*names)[n])
        n++;
    for (size_t i = 0; i < n; i++)
        if (strcmp((*names)[i], name) == 0)
            return;
    *names = sv_xrealloc(*names, (n + 2) * sizeof(char *));
    (*names)[n] = sv_xstrdup(name);
    (*names)[n + 1] = NULL;
}

/* A new image, or the one already planned with this manifest (an image
 * listed once per name). */
static struct img_plan *plan_image(struct plan *p, const char *manifest, bool *fresh)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->img[i].manifest, manifest) == 0) {
            *fresh = false;
            return &p->img[i];
        }
    p->img = sv_xrealloc(p->img, (p->n + 1) * sizeof(*p->img));
    struct img_plan *ip = &p->img[p->n++];
    memset(ip, 0, sizeof(*ip));
    strcpy(ip->manifest, manifest);
    *fresh = true;
    return ip;
}

/* Does the name a user asked for (as) match one an archive gives? */
static bool wanted(const char *as, const char *name)
{
    return as == NULL || (name && *name && strstr(as, name));
}

/* ---- OCI layouts ---------------------------------------------------------------- */

/* The layout's blob digest, checked against its content. */
static struct sv_imgsrc_entry *oci_blob(struct plan *p, const char *digest, sv_error_t *err)
{
    if (!sv_digest_valid(digest)) {
        sv_error(err, 0, "%s: OCI layout: \"%s\" is not a sha256 digest", p->src.path,
                 digest ? digest : "");
        return NULL;
    }
    cleanup_free char *rel = sv_xasprintf("blobs/sha256/%s", digest + 7);
    struct sv_imgsrc_entry *e = sv_imgsrc_get(&p->src, rel, err);
    if (e && strcmp(e->digest, digest) != 0) {
        sv_error(err, 0, "%s: blob %s: its content's digest is %s: the archive is corrupt",
                 p->src.path, digest, e->digest);
        return NULL;
    }
    return e;
}

static char *oci_doc(struct sv_imgsrc_entry *e, size_t *len, sv_error_t *err)
{
    char *doc = NULL;
    if (sv_read_file(e->tmp.path, MAX_DOC, &doc, len, err) < 0)
        return NULL;
    return doc;
}

/* The name(s) of an index entry: containerd's full name, else the ref
 * name when it is a whole reference; a bare tag ("latest") names it
 * through manifest.json's RepoTags when the archive has them, else as
 * imported:TAG. */
static void oci_names(struct plan *p, json_t *desc, const char *config, char ***names)
{
    json_t *ann = json_object_get(desc, "annotations");
    const char *full = json_string_value(json_object_get(ann, FULL_NAME));
    const char *rn = json_string_value(json_object_get(ann, REF_NAME));
    if (full && *full) {
        add_name(names, full);
        return;
    }
    if (rn == NULL || *rn == '\0')
        return;
    if (strchr(rn, ':') || strchr(rn, '/')) {
        add_name(names, rn);
        return;
    }
    cleanup_json json_t *dm = sv_imgsrc_has(&p->src, "manifest.json")
                                  ? sv_imgsrc_doc(&p->src, "manifest.json", NULL)
                                  : NULL;
    for (size_t i = 0; i < json_array_size(dm); i++) {
        json_t *item = json_array_get(dm, i);
        const char *cfg = json_string_value(json_object_get(item, "Config"));
        struct sv_imgsrc_entry *c = cfg ? sv_imgsrc_get(&p->src, cfg, NULL) : NULL;
        json_t *tags = json_object_get(item, "RepoTags");
        if (c && strcmp(c->digest, config) == 0 && json_array_size(tags)) {
            for (size_t k = 0; k < json_array_size(tags); k++)
                if (json_string_value(json_array_get(tags, k)))
                    add_name(names, json_string_value(json_array_get(tags, k)));
            return;
        }
    }
    cleanup_free char *n = sv_xasprintf("localhost/imported:%s", rn);
    add_name(names, n);
}

/* One entry of index.json: its manifest (this host's, from an index), the
 * config and the layers, each checked. */
static int oci_image(struct plan *p, json_t *desc, sv_error_t *err)
{
    const char *digest = json_string_value(json_object_get(desc, "digest"));
    struct sv_imgsrc_entry *m = oci_blob(p, digest, err);
    size_t len;
    cleanup_free char *doc = m ? oci_doc(m, &len, err) : NULL;
    if (doc == NULL)
        return -1;
    cleanup_json json_t *j = json_loadb(doc, len, 0, NULL);
    if (json_is_array(json_object_get(j, "manifests"))) {
        cleanup_free char *chosen = NULL;
        if (sv_image_pick_platform(doc, len, &chosen, err) < 0)
            return -1;
        free(doc);
        doc = NULL;
        if ((m = oci_blob(p, chosen, err)) == NULL || (doc = oci_doc(m, &len, err)) == NULL)
            return -1;
    }
    cleanup_image struct sv_image img = {0};
    if (sv_image_parse_manifest(doc, len, &img, err) < 0)
        return sv_error_wrap(err, "%s: %s", p->src.path, m->digest);
    bool fresh;
    struct img_plan *ip = plan_image(p, m->digest, &fresh);
    oci_names(p, desc, img.config, &ip->names);
    if (!fresh)
        return 0;
    add_blob(ip, m);
    struct sv_imgsrc_entry *e = oci_blob(p, img.config, err);
    if (e == NULL)
        return -1;
    add_blob(ip, e);
    for (size_t i = 0; i < img.n_layers; i++) {
        if ((e = oci_blob(p, img.layers[i], err)) == NULL)
            return -1;
        add_blob(ip, e);
    }
    return 0;
}

/* The image(s) index.json lists: all, or the one as names (else the first). */
static int plan_oci(struct plan *p, sv_error_t *err)
{
    cleanup_json json_t *index = sv_imgsrc_doc(&p->src, "index.json", err);
    json_t *ms = json_object_get(index, "manifests");
    if (index == NULL)
        return -1;
    if (json_array_size(ms) == 0)
        return sv_error(err, 0, "%s: OCI layout: index.json lists no image", p->src.path);
    if (!p->one) {
        for (size_t i = 0; i < json_array_size(ms); i++)
            if (oci_image(p, json_array_get(ms, i), err) < 0)
                return -1;
        return 0;
    }
    json_t *pick = NULL;
    for (size_t i = 0; i < json_array_size(ms) && !pick; i++) {
        json_t *ann = json_object_get(json_array_get(ms, i), "annotations");
        if (wanted(p->as, json_string_value(json_object_get(ann, REF_NAME))) ||
            wanted(p->as, json_string_value(json_object_get(ann, FULL_NAME))))
            pick = json_array_get(ms, i);
    }
    return oci_image(p, pick ? pick : json_array_get(ms, 0), err);
}

/* ---- docker-archives ---------------------------------------------------------- */

/* A layer's compression, by its first bytes. */
static enum sv_unpack_compression sniff(const char *path)
{
    unsigned char m[6] = {0};
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, m, sizeof(m)) : 0;
    if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b)
        return SV_UNPACK_GZIP;
    if (n >= 4 && memcmp(m, "\x28\xb5\x2f\xfd", 4) == 0)
        return SV_UNPACK_ZSTD;
    if ((n >= 6 && memcmp(m,
                          "\xfd"
                          "7zXZ",
                          5) == 0) ||
        (n >= 3 && memcmp(m, "BZh", 3) == 0))
        return SV_UNPACK_OTHER;
    return SV_UNPACK_PLAIN;
}

static const char *layer_type(enum sv_unpack_compression c)
{
    return c == SV_UNPACK_GZIP   ? "application/vnd.oci.image.layer.v1.tar+gzip"
           : c == SV_UNPACK_ZSTD ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                 : "application/vnd.oci.image.layer.v1.tar";
}

/* A layer's diff_id (the digest of the tar inside any compression). A
 * compression OCI names no media type for (xz, bzip2) is undone: the
 * entry holds the plain tar from then on. */
static int docker_layer(struct sv_imgsrc_entry *e, enum sv_unpack_compression *comp,
                        char diff[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    *comp = sniff(e->tmp.path);
    if (*comp == SV_UNPACK_PLAIN) {
        strcpy(diff, e->digest);
        return 0;
    }
    if (*comp != SV_UNPACK_OTHER)
        return sv_unpack_diff_id(e->tmp.path, diff, comp, -1, err);
    struct sv_blob_tmp plain;
    char unused[SV_DIGEST_LEN + 1];
    int rc = sv_blob_tmp_open(&plain, err);
    if (rc == 0)
        rc = sv_unpack_diff_id(e->tmp.path, diff, comp, plain.fd, err);
    if (rc == 0) /* its own hash saw nothing: the content's digest is diff */
        rc = sv_blob_tmp_close(&plain, unused, err);
    if (rc < 0) {
        sv_blob_tmp_discard(&plain);
        return -1;
    }
    sv_blob_tmp_discard(&e->tmp);
    e->tmp = plain;
    strcpy(e->digest, diff);
    *comp = SV_UNPACK_PLAIN;
    return 0;
}

static json_t *descriptor(const char *type, struct sv_imgsrc_entry *e)
{
    struct stat st;
    int64_t size = stat(e->tmp.path, &st) == 0 ? st.st_size : 0;
    return json_pack("{s:s,s:s,s:I}", "mediaType", type, "digest", e->digest, "size",
                     (json_int_t)size);
}

/* The layers, each checked against the config's diff_ids, as descriptors. */
static int docker_layers(struct plan *p, json_t *files, json_t *diffs, struct sv_imgsrc_entry **es,
                         json_t *descs, sv_error_t *err)
{
    for (size_t i = 0; i < json_array_size(files); i++) {
        const char *f = json_string_value(json_array_get(files, i));
        const char *want = json_string_value(json_array_get(diffs, i));
        struct sv_imgsrc_entry *e = f ? sv_imgsrc_get(&p->src, f, err) : NULL;
        enum sv_unpack_compression comp;
        char diff[SV_DIGEST_LEN + 1];
        if (e == NULL || docker_layer(e, &comp, diff, err) < 0)
            return -1;
        if (want == NULL || strcmp(want, diff) != 0)
            return sv_error(err, 0,
                            "%s: layer %s is not the one the image config names (%s): the archive "
                            "is corrupt",
                            p->src.path, f, want ? want : "none");
        json_array_append_new(descs, descriptor(layer_type(comp), e));
        es[i] = e;
    }
    return 0;
}

/* One item of manifest.json: its config, its layers, and an OCI manifest
 * made for them. */
static int docker_image(struct plan *p, json_t *item, sv_error_t *err)
{
    const char *cfg = json_string_value(json_object_get(item, "Config"));
    json_t *files = json_object_get(item, "Layers");
    if (cfg == NULL || !json_is_array(files))
        return sv_error(err, 0, "%s: manifest.json has no Config and Layers", p->src.path);
    struct sv_imgsrc_entry *c = sv_imgsrc_get(&p->src, cfg, err);
    cleanup_json json_t *config = c ? sv_imgsrc_doc(&p->src, cfg, err) : NULL;
    if (config == NULL)
        return -1;
    json_t *diffs = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
    if (json_array_size(diffs) != json_array_size(files))
        return sv_error(err, 0,
                        "%s: %zu layers, but the image config names %zu: the archive is "
                        "corrupt",
                        p->src.path, json_array_size(files), json_array_size(diffs));
    cleanup_free struct sv_imgsrc_entry **es = sv_xcalloc(json_array_size(files) + 1, sizeof(*es));
    cleanup_json json_t *descs = json_array();
    if (docker_layers(p, files, diffs, es, descs, err) < 0)
        return -1;
    cleanup_json json_t *m =
        json_pack("{s:i,s:s,s:o,s:O}", "schemaVersion", 2, "mediaType",
                  "application/vnd.oci.image.manifest.v1+json", "config",
                  descriptor("application/vnd.oci.image.config.v1+json", c), "layers", descs);
    cleanup_free char *doc = sv_json_dumps(m, SV_JSON_COMPACT);
    char digest[SV_DIGEST_LEN + 1];
    if (sv_digest_mem(doc, strlen(doc), digest, err) < 0)
        return -1;
    bool fresh;
    struct img_plan *ip = plan_image(p, digest, &fresh);
    json_t *tags = json_object_get(item, "RepoTags");
    for (size_t i = 0; i < json_array_size(tags); i++)
        if (json_string_value(json_array_get(tags, i)))
            add_name(&ip->names, json_string_value(json_array_get(tags, i)));
    if (!fresh)
        return 0;
    ip->doc = sv_steal(doc);
    add_blob(ip, c);
    for (size_t i = 0; i < json_array_size(files); i++)
        add_blob(ip, es[i]);
    return 0;
}

/* Does one of item's RepoTags match as? */
static bool docker_wanted(const char *as, json_t *item)
{
    json_t *tags = json_object_get(item, "RepoTags");
    for (size_t i = 0; i < json_array_size(tags); i++)
        if (wanted(as, json_string_value(json_array_get(tags, i))))
            return true;
    return false;
}

static int plan_docker(struct plan *p, sv_error_t *err)
{
    cleanup_json json_t *m = sv_imgsrc_doc(&p->src, "manifest.json", err);
    if (m == NULL)
        return -1;
    if (json_array_size(m) == 0)
        return sv_error(err, 0, "%s: manifest.json lists no image", p->src.path);
    if (!p->one) {
        for (size_t i = 0; i < json_array_size(m); i++)
            if (docker_image(p, json_array_get(m, i), err) < 0)
                return -1;
        return 0;
    }
    for (size_t i = 0; i < json_array_size(m); i++)
        if (docker_wanted(p->as, json_array_get(m, i)))
            return docker_image(p, json_array_get(m, i), err);
    if (json_array_size(m) > 1)
        fprintf(stderr, "servos: %s holds %zu images; importing the first\n", p->src.path,
                json_array_size(m));
    return docker_image(p, json_array_get(m, 0), err);
}

/* ---- into the store ---------------------------------------------------------- */

char *sv_imgload_local_name(const char *name, sv_error_t *err)
{
    cleanup_imgref struct sv_imgref r = {0};
    if (sv_imgref_parse(name, &r, err) < 0)
        return NULL;
    if (strcmp(r.registry, "docker.io") == 0 && strncmp(name, "docker.io/", 10) != 0 &&
        strncmp(r.repo, "library/", 8) == 0 && strchr(name, '/') == NULL)
        return sv_xasprintf("localhost/%s:%s", r.repo + 8, r.tag ? r.tag : "latest");
    return sv_imgref_name(&r);
}

/* Each name as the store keeps it, checked before anything is stored. */
static int name_images(struct plan *p, sv_error_t *err)
{
    for (size_t i = 0; i < p->n; i++) {
        char **v = p->img[i].names;
        if (p->as || (p->one && (v == NULL || v[0] == NULL))) {
            sv_strv_free(v);
            v = p->img[i].names = sv_xcalloc(2, sizeof(char *));
            if ((v[0] = sv_imgload_local_name(p->as ? p->as : "imported", err)) == NULL)
                return -1;
            continue;
        }
        for (size_t k = 0; v && v[k]; k++) {
            cleanup_imgref struct sv_imgref r = {0};
            if (sv_imgref_parse(v[k], &r, err) < 0)
                return sv_error_wrap(err, "%s", p->src.path);
            free(v[k]);
            v[k] = sv_imgref_name(&r);
        }
    }
    return 0;
}

static void note_added(struct plan *p, const char *digest)
{
    p->added = sv_xrealloc(p->added, (p->n_added + 1) * sizeof(char *));
    p->added[p->n_added++] = sv_xstrdup(digest);
}

/* Every blob into the store (those it has already stay as they are). */
static int commit(struct plan *p, sv_error_t *err)
{
    for (size_t i = 0; i < p->n; i++) {
        struct img_plan *ip = &p->img[i];
        for (size_t k = 0; k < ip->n_blobs; k++) {
            struct sv_imgsrc_entry *e = ip->blobs[k];
            if (e->adopted || sv_blob_exists(e->digest)) {
                e->adopted = true;
                continue;
            }
            if (sv_blob_adopt(e->tmp.path, e->digest, err) < 0)
                return -1;
            note_added(p, e->digest);
            e->adopted = true;
            free(e->tmp.path); /* renamed away: nothing to discard */
            e->tmp.path = NULL;
        }
        char d[SV_DIGEST_LEN + 1];
        if (ip->doc && !sv_blob_exists(ip->manifest)) {
            if (sv_blob_put(ip->doc, strlen(ip->doc), d, err) < 0)
                return -1;
            note_added(p, d);
        }
    }
    return 0;
}

static void rollback(struct plan *p)
{
    for (size_t i = 0; i < p->n_added; i++) {
        cleanup_free char *path = sv_blob_path(p->added[i]);
        unlink(path);
    }
}

static int record(struct plan *p, struct sv_imgload_image **out, size_t *n, sv_error_t *err)
{
    *out = sv_xcalloc(p->n + 1, sizeof(**out));
    *n = p->n;
    for (size_t i = 0; i < p->n; i++) {
        struct img_plan *ip = &p->img[i];
        strcpy((*out)[i].digest, ip->manifest);
        (*out)[i].names = sv_xcalloc(1, sizeof(char *));
        for (size_t k = 0; ip->names && ip->names[k]; k++) {
            if (sv_image_record(ip->names[k], ip->manifest, err) < 0)
                return -1;
            add_name(&(*out)[i].names, ip->names[k]);
        }
        if ((ip->names == NULL || ip->names[0] == NULL) &&
            sv_image_record(NULL, ip->manifest, err) < 0)
            return -1;
    }
    return 0;
}

void sv_imgload_free(struct sv_imgload_image *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        sv_strv_free(v[i].names);
    free(v);
}

int sv_imgload(const char *path, bool one, const char *as, struct sv_imgload_image **out, size_t *n,
               sv_error_t *err)
{
    *out = NULL;
    *n = 0;
    __attribute__((cleanup(plan_clear))) struct plan p = {
        .src = {.path = path, .dir = -1}, .one = one, .as = as};
    if (sv_imgsrc_open(&p.src, path, err) < 0)
        return -1;
    int rc;
    if (sv_imgsrc_has(&p.src, "oci-layout") && sv_imgsrc_has(&p.src, "index.json"))
        rc = plan_oci(&p, err);
    else if (sv_imgsrc_has(&p.src, "manifest.json"))
        rc = plan_docker(&p, err);
    else
        rc = sv_error(err, 0,
                      "%s: not an image archive (no manifest.json, no OCI index.json); a root "
                      "file system tarball is for servos image import",
                      p.src.path);
    if (rc < 0 || name_images(&p, err) < 0)
        return -1;
    if (commit(&p, err) < 0) {
        rollback(&p);
        return -1;
    }
    return record(&p, out, n, err);
}
