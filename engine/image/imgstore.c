#include "image/imgstore.h"

#include "image/imgref.h"
#include "core/fs.h"
#include "core/store.h"
#include "image/unpack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DOC (4 << 20) /* a manifest or config larger than this is not one */

static char *images_dir(void)
{
    return sv_xasprintf("%s/images", sv_state_root());
}

/* ---- blobs ---------------------------------------------------------------- */

char *sv_blob_path(const char *digest)
{
    return sv_xasprintf("%s/images/blobs/sha256/%s", sv_state_root(), digest + 7);
}

bool sv_blob_exists(const char *digest)
{
    cleanup_free char *p = sv_blob_path(digest);
    return access(p, F_OK) == 0;
}

char *sv_blob_tmp_path(void)
{
    static unsigned seq;
    cleanup_free char *dir = sv_xasprintf("%s/images/blobs/tmp", sv_state_root());
    if (sv_mkdir_p(dir, 0711, NULL) < 0)
        return NULL;
    return sv_xasprintf("%s/%d-%u-%ld", dir, (int)getpid(), seq++, (long)time(NULL));
}

int sv_blob_commit(const char *tmp, const char *digest, sv_error_t *err)
{
    char got[SV_DIGEST_LEN + 1];
    if (!sv_digest_valid(digest)) {
        unlink(tmp);
        return sv_error(err, EINVAL, "\"%s\" is not a sha256 digest", digest);
    }
    if (sv_digest_file(tmp, got, err) < 0) {
        unlink(tmp);
        return -1;
    }
    if (strcmp(got, digest) != 0) {
        unlink(tmp);
        return sv_error(err, EBADMSG, "blob %s: the content's digest is %s: corrupt, not stored",
                        digest, got);
    }
    cleanup_free char *dir = sv_xasprintf("%s/images/blobs/sha256", sv_state_root());
    cleanup_free char *dst = sv_blob_path(digest);
    if (sv_mkdir_p(dir, 0711, err) < 0 || rename(tmp, dst) < 0) {
        int e = errno;
        unlink(tmp);
        return sv_error(err, e, "cannot store blob %s", digest);
    }
    return 0;
}

int sv_blob_put(const void *data, size_t len, char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    if (sv_digest_mem(data, len, digest, err) < 0)
        return -1;
    if (sv_blob_exists(digest))
        return 0;
    cleanup_free char *tmp = sv_blob_tmp_path();
    if (tmp == NULL)
        return sv_error(err, errno, "cannot create the image store in %s", sv_state_root());
    cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
        int e = errno;
        unlink(tmp);
        return sv_error(err, e, "cannot write %s", tmp);
    }
    return sv_blob_commit(tmp, digest, err);
}

int sv_blob_read(const char *digest, size_t max, char **data, size_t *len, sv_error_t *err)
{
    if (!sv_digest_valid(digest))
        return sv_error(err, EINVAL, "\"%s\" is not a sha256 digest", digest);
    cleanup_free char *p = sv_blob_path(digest);
    if (sv_read_file(p, max, data, len, err) < 0)
        return -1;
    char got[SV_DIGEST_LEN + 1];
    if (sv_digest_mem(*data, *len, got, err) < 0 || strcmp(got, digest) != 0) {
        free(*data);
        *data = NULL;
        return sv_error(err, EBADMSG, "blob %s in the store is corrupt (servos image prune)",
                        digest);
    }
    return 0;
}

/* ---- manifests and configs ------------------------------------------------ */

static bool is_manifest_type(const char *t)
{
    return t == NULL || strcmp(t, "application/vnd.oci.image.manifest.v1+json") == 0 ||
           strcmp(t, "application/vnd.docker.distribution.manifest.v2+json") == 0;
}

int sv_image_parse_manifest(const char *json, size_t len, struct sv_image *img, sv_error_t *err)
{
    json_error_t je;
    json_t *root = json_loadb(json, len, 0, &je);
    if (root == NULL)
        return sv_error(err, EINVAL, "manifest: %s", je.text);
    int rc = 0;
    json_t *cfg = json_object_get(root, "config");
    json_t *layers = json_object_get(root, "layers");
    const char *cd = json_string_value(json_object_get(cfg, "digest"));
    if (!is_manifest_type(json_string_value(json_object_get(root, "mediaType"))) ||
        !json_is_array(layers) || !sv_digest_valid(cd)) {
        rc = sv_error(err, EINVAL, "not an image manifest (needs config and layers)");
        goto out;
    }
    strcpy(img->config, cd);
    img->n_layers = json_array_size(layers);
    img->layers = sv_xcalloc(img->n_layers + 1, sizeof(*img->layers));
    img->size = 0;
    for (size_t i = 0; i < img->n_layers; i++) {
        json_t *l = json_array_get(layers, i);
        const char *d = json_string_value(json_object_get(l, "digest"));
        const char *t = json_string_value(json_object_get(l, "mediaType"));
        if (!sv_digest_valid(d)) {
            rc = sv_error(err, EINVAL, "manifest: layer %zu has no valid digest", i + 1);
            goto out;
        }
        if (t && strstr(t, "nondistributable")) {
            rc = sv_error(err, ENOTSUP, "manifest: layer %s is a foreign layer (%s)", d, t);
            goto out;
        }
        strcpy(img->layers[i], d);
        img->size += json_integer_value(json_object_get(l, "size"));
    }
out:
    json_decref(root);
    if (rc < 0)
        sv_image_clear(img);
    return rc;
}

int sv_image_load(const char *digest, struct sv_image *img, sv_error_t *err)
{
    memset(img, 0, sizeof(*img));
    cleanup_free char *doc = NULL;
    size_t len;
    if (sv_blob_read(digest, MAX_DOC, &doc, &len, err) < 0)
        return -1;
    strcpy(img->digest, digest);
    if (sv_image_parse_manifest(doc, len, img, err) < 0)
        return sv_error_wrap(err, "image %s", digest);
    strcpy(img->digest, digest);
    return 0;
}

void sv_image_clear(struct sv_image *img)
{
    free(img->layers);
    img->layers = NULL;
    img->n_layers = 0;
}

static char **strv_from_json(json_t *a)
{
    if (!json_is_array(a))
        return NULL;
    size_t n = json_array_size(a), k = 0;
    char **v = sv_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s)
            v[k++] = sv_xstrdup(s);
    }
    return v;
}

static char *str_or_null(json_t *s)
{
    const char *v = json_string_value(s);
    return v && *v ? sv_xstrdup(v) : NULL;
}

int sv_image_config_load(const struct sv_image *img, struct sv_image_config *cfg, sv_error_t *err)
{
    memset(cfg, 0, sizeof(*cfg));
    cleanup_free char *doc = NULL;
    size_t len;
    if (sv_blob_read(img->config, MAX_DOC, &doc, &len, err) < 0)
        return -1;
    json_error_t je;
    json_t *root = json_loadb(doc, len, 0, &je);
    if (root == NULL)
        return sv_error(err, EINVAL, "image config %s: %s", img->config, je.text);
    json_t *c = json_object_get(root, "config");
    cfg->entrypoint = strv_from_json(json_object_get(c, "Entrypoint"));
    cfg->cmd = strv_from_json(json_object_get(c, "Cmd"));
    cfg->env = strv_from_json(json_object_get(c, "Env"));
    cfg->workdir = str_or_null(json_object_get(c, "WorkingDir"));
    cfg->user = str_or_null(json_object_get(c, "User"));
    cfg->stop_signal = str_or_null(json_object_get(c, "StopSignal"));
    json_t *ports = json_object_get(c, "ExposedPorts");
    if (json_is_object(ports)) {
        cfg->exposed = sv_xcalloc(json_object_size(ports) + 1, sizeof(char *));
        size_t k = 0;
        const char *key;
        json_t *v;
        json_object_foreach(ports, key, v) cfg->exposed[k++] = sv_xstrdup(key);
    }
    json_decref(root);
    return 0;
}

void sv_image_config_clear(struct sv_image_config *cfg)
{
    sv_strv_free(cfg->entrypoint);
    sv_strv_free(cfg->cmd);
    sv_strv_free(cfg->env);
    sv_strv_free(cfg->exposed);
    free(cfg->workdir);
    free(cfg->user);
    free(cfg->stop_signal);
    memset(cfg, 0, sizeof(*cfg));
}

/* ---- the index ------------------------------------------------------------ */

/* The index is read and rewritten whole under an exclusive lock, and
 * replaced by rename: a crash leaves the old or the new one. */
struct index {
    int lock;
    json_t *root, *refs, *images;
};

static int index_open(struct index *ix, bool write, sv_error_t *err)
{
    memset(ix, 0, sizeof(*ix));
    ix->lock = -1;
    cleanup_free char *dir = images_dir();
    if (sv_mkdir_p(dir, 0711, err) < 0)
        return -1;
    cleanup_free char *lock = sv_xasprintf("%s/index.lock", dir);
    ix->lock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (ix->lock < 0 || flock(ix->lock, write ? LOCK_EX : LOCK_SH) < 0)
        return sv_error(err, errno, "cannot lock %s", lock);
    cleanup_free char *path = sv_xasprintf("%s/index.json", dir);
    json_error_t je;
    ix->root = json_load_file(path, 0, &je);
    if (ix->root == NULL) {
        if (access(path, F_OK) == 0)
            return sv_error(err, EINVAL, "%s: %s", path, je.text);
        ix->root = json_object();
    }
    if (!json_is_object(json_object_get(ix->root, "refs")))
        json_object_set_new(ix->root, "refs", json_object());
    if (!json_is_object(json_object_get(ix->root, "images")))
        json_object_set_new(ix->root, "images", json_object());
    ix->refs = json_object_get(ix->root, "refs");
    ix->images = json_object_get(ix->root, "images");
    return 0;
}

static int index_save(struct index *ix, sv_error_t *err)
{
    cleanup_free char *dir = images_dir();
    cleanup_free char *path = sv_xasprintf("%s/index.json", dir);
    cleanup_free char *tmp = sv_xasprintf("%s/index.json.%d", dir, (int)getpid());
    if (json_dump_file(ix->root, tmp, JSON_INDENT(1) | JSON_SORT_KEYS) < 0 ||
        rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return sv_error(err, e, "cannot write %s", path);
    }
    return 0;
}

static void index_close(struct index *ix)
{
    json_decref(ix->root);
    if (ix->lock >= 0)
        close(ix->lock);
}

/* A digest or a prefix of one (12+ hex digits), as `image ls` shows. */
static bool id_like(const char *name)
{
    const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
    return strlen(hex) >= 12 && strspn(hex, "0123456789abcdef") == strlen(hex);
}

/* Where a bare name ("app", "app:2") may also be stored: imports name it
 * under localhost/, as podman does. NULL for any other name. */
static char *local_key(const char *name, const struct sv_imgref *r)
{
    if (strchr(name, '/') || r->tag == NULL || strncmp(r->repo, "library/", 8) != 0)
        return NULL;
    return sv_xasprintf("localhost/%s:%s", r->repo + 8, r->tag);
}

static int lookup_in(struct index *ix, const char *name, char digest[SV_DIGEST_LEN + 1],
                     sv_error_t *err)
{
    if (sv_digest_valid(name)) {
        if (json_object_get(ix->images, name) == NULL)
            return 1;
        strcpy(digest, name);
        return 0;
    }
    const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
    if (id_like(name)) {
        const char *key, *found = NULL;
        json_t *v;
        json_object_foreach(ix->images, key, v)
        {
            if (strncmp(key + 7, hex, strlen(hex)) == 0) {
                if (found)
                    return sv_error(err, EINVAL, "\"%s\" matches several images", name);
                found = key;
            }
        }
        if (found) {
            strcpy(digest, found);
            return 0;
        }
    }
    struct sv_imgref r;
    if (sv_imgref_parse(name, &r, err) < 0)
        return -1;
    int rc = 1;
    if (r.digest[0]) { /* name@digest: the digest decides */
        if (json_object_get(ix->images, r.digest)) {
            strcpy(digest, r.digest);
            rc = 0;
        }
    } else {
        /* As given, then as a local name ("app" imported as localhost/app). */
        cleanup_free char *full = sv_imgref_name(&r);
        cleanup_free char *local = local_key(name, &r);
        const char *d = json_string_value(json_object_get(ix->refs, full));
        if (d == NULL && local)
            d = json_string_value(json_object_get(ix->refs, local));
        if (d && sv_digest_valid(d)) {
            strcpy(digest, d);
            rc = 0;
        }
    }
    sv_imgref_clear(&r);
    return rc;
}

int sv_image_lookup(const char *name, char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    struct index ix;
    int rc = index_open(&ix, false, err);
    if (rc == 0)
        rc = lookup_in(&ix, name, digest, err);
    index_close(&ix);
    return rc;
}

int sv_image_record(const char *name, const char *digest, sv_error_t *err)
{
    struct index ix;
    int rc = index_open(&ix, true, err);
    if (rc == 0) {
        if (json_object_get(ix.images, digest) == NULL)
            json_object_set_new(ix.images, digest,
                                json_pack("{s:I}", "created", (json_int_t)time(NULL)));
        if (name)
            json_object_set_new(ix.refs, name, json_string(digest));
        rc = index_save(&ix, err);
    }
    index_close(&ix);
    return rc;
}

int sv_image_list(struct sv_image_entry **out, size_t *n, sv_error_t *err)
{
    struct index ix;
    if (index_open(&ix, false, err) < 0) {
        index_close(&ix);
        return -1;
    }
    size_t cap = json_object_size(ix.images);
    struct sv_image_entry *e = sv_xcalloc(cap + 1, sizeof(*e));
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(ix.images, key, v)
    {
        if (!sv_digest_valid(key))
            continue;
        strcpy(e[k].digest, key);
        e[k].created = json_integer_value(json_object_get(v, "created"));
        e[k].names = sv_xcalloc(json_object_size(ix.refs) + 1, sizeof(char *));
        size_t m = 0;
        const char *rk;
        json_t *rv;
        json_object_foreach(ix.refs, rk, rv)
        {
            if (json_is_string(rv) && strcmp(json_string_value(rv), key) == 0)
                e[k].names[m++] = sv_xstrdup(rk);
        }
        k++;
    }
    index_close(&ix);
    *out = e;
    *n = k;
    return 0;
}

void sv_image_entries_free(struct sv_image_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sv_strv_free(e[i].names);
    free(e);
}

static bool listed(const char *const *v, const char *s)
{
    for (; v && *v; v++)
        if (strcmp(*v, s) == 0)
            return true;
    return false;
}

static size_t names_of(struct index *ix, const char *digest)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(ix->refs, k, v) n +=
        json_is_string(v) && !strcmp(json_string_value(v), digest);
    return n;
}

int sv_image_remove(const char *name, const char *const *in_use, sv_error_t *err)
{
    struct index ix;
    char digest[SV_DIGEST_LEN + 1];
    int rc = index_open(&ix, true, err);
    if (rc == 0)
        rc = lookup_in(&ix, name, digest, err);
    if (rc == 1)
        rc = sv_error(err, ENOENT, "no image \"%s\" in the store", name);
    if (rc < 0)
        goto out;
    /* Which name was meant: drop that one; the image goes with its last. */
    const char *k;
    json_t *v;
    void *tmp;
    size_t names = names_of(&ix, digest);
    bool by_name = !sv_digest_valid(name) && !id_like(name);
    struct sv_imgref r;
    if (by_name && names > 1 && sv_imgref_parse(name, &r, NULL) == 0) {
        cleanup_free char *full = sv_imgref_name(&r);
        cleanup_free char *local = local_key(name, &r);
        sv_imgref_clear(&r);
        const char *drop = json_object_get(ix.refs, full)             ? full
                           : local && json_object_get(ix.refs, local) ? local
                                                                      : NULL;
        if (drop) {
            json_object_del(ix.refs, drop);
            rc = index_save(&ix, err);
            goto out;
        }
    }
    if (listed(in_use, digest)) {
        rc = sv_error(err, EBUSY, "image \"%s\" (%.19s) is used by a container: remove it first",
                      name, digest);
        goto out;
    }
    json_object_foreach_safe(ix.refs, tmp, k, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), digest) == 0)
            json_object_del(ix.refs, k);
    }
    json_object_del(ix.images, digest);
    rc = index_save(&ix, err);
out:
    index_close(&ix);
    return rc;
}

static int64_t tree_size(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return 0;
    int64_t n = S_ISREG(st.st_mode) ? st.st_size : 0;
    if (!S_ISDIR(st.st_mode))
        return n;
    DIR *d = opendir(path);
    if (d == NULL)
        return n;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        cleanup_free char *p = sv_xasprintf("%s/%s", path, e->d_name);
        n += tree_size(p);
    }
    closedir(d);
    return n;
}

int sv_image_prune(const char *const *in_use, int64_t *freed, sv_error_t *err)
{
    struct index ix;
    *freed = 0;
    int rc = index_open(&ix, true, err);
    if (rc < 0) {
        index_close(&ix);
        return -1;
    }
    const char *k;
    json_t *v;
    void *tmp;
    /* Images without a name that no container uses go. */
    json_object_foreach_safe(ix.images, tmp, k, v)
    {
        if (names_of(&ix, k) == 0 && !listed(in_use, k))
            json_object_del(ix.images, k);
    }
    if (index_save(&ix, err) < 0) {
        index_close(&ix);
        return -1;
    }
    /* Every blob the remaining images reach is kept. */
    json_t *keep = json_object();
    json_object_foreach(ix.images, k, v)
    {
        struct sv_image img;
        json_object_set_new(keep, k + 7, json_true());
        if (sv_image_load(k, &img, NULL) < 0)
            continue;
        json_object_set_new(keep, img.config + 7, json_true());
        for (size_t i = 0; i < img.n_layers; i++)
            json_object_set_new(keep, img.layers[i] + 7, json_true());
        sv_image_clear(&img);
    }
    static const char *const sub[] = {"blobs/sha256", "layers", "blobs/tmp"};
    for (size_t s = 0; s < SV_ARRAY_LEN(sub); s++) {
        cleanup_free char *dir = sv_xasprintf("%s/images/%s", sv_state_root(), sub[s]);
        DIR *d = opendir(dir);
        if (d == NULL)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char hex[65] = "";
            snprintf(hex, sizeof(hex), "%.64s", e->d_name);
            if (s < 2 && json_object_get(keep, hex))
                continue;
            if (s == 2) { /* a download still running is younger than a day */
                struct stat st;
                cleanup_free char *p = sv_xasprintf("%s/%s", dir, e->d_name);
                if (stat(p, &st) == 0 && time(NULL) - st.st_mtime < 86400)
                    continue;
            }
            cleanup_free char *p = sv_xasprintf("%s/%s", dir, e->d_name);
            *freed += tree_size(p);
            sv_rmtree(p, NULL);
        }
        closedir(d);
    }
    json_decref(keep);
    index_close(&ix);
    return 0;
}

/* ---- layers --------------------------------------------------------------- */

int sv_image_lowerdirs(const struct sv_image *img, const struct sv_idmap *map, char **lower,
                       sv_error_t *err)
{
    cleanup_free char *dir = sv_xasprintf("%s/images/layers", sv_state_root());
    if (sv_mkdir_p(dir, 0711, err) < 0)
        return -1;
    if (img->n_layers == 0)
        return sv_error(err, EINVAL, "image %s has no layers", img->digest);
    size_t cap = 1;
    char **paths = sv_xcalloc(img->n_layers, sizeof(char *));
    int rc = 0;
    for (size_t i = 0; i < img->n_layers && rc == 0; i++) {
        paths[i] = sv_xasprintf("%s/%s-%u", dir, img->layers[i] + 7, (unsigned)map->uid_base);
        cap += strlen(paths[i]) + 1;
        if (access(paths[i], F_OK) == 0)
            continue;
        cleanup_free char *blob = sv_blob_path(img->layers[i]);
        char got[SV_DIGEST_LEN + 1];
        /* Digests are checked as blobs are stored, and again before a
         * layer is trusted for the first time. */
        if (sv_digest_file(blob, got, err) < 0)
            rc = sv_error_wrap(err, "image %s: layer %s is missing (pull it again)", img->digest,
                               img->layers[i]);
        else if (strcmp(got, img->layers[i]) != 0)
            rc = sv_error(err, EBADMSG,
                          "layer %s in the store is corrupt (servos image prune, "
                          "then pull again)",
                          img->layers[i]);
        else
            rc = sv_unpack_layer(blob, paths[i], map, err);
    }
    if (rc == 0) {
        char *s = sv_xmalloc(cap), *p = s;
        *p = '\0';
        for (size_t i = img->n_layers; i-- > 0;)
            p += sprintf(p, "%s%s", p == s ? "" : ":", paths[i]);
        if (strlen(s) > 3500)
            rc = sv_error(err, E2BIG, "image %s has too many layers (%zu) for one overlay mount",
                          img->digest, img->n_layers);
        if (rc == 0)
            *lower = s;
        else
            free(s);
    }
    for (size_t i = 0; i < img->n_layers; i++)
        free(paths[i]);
    free(paths);
    return rc;
}
