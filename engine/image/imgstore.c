/* The image store's documents and names: manifests and configs (and the
 * index a multi-platform image starts from), the index of names, pruning,
 * and the unpacked layers an overlay mounts. Blobs are imgblob.c's. */
#include "image/imgstore.h"
#include "core/json.h"

#include "image/imgblob.h"
#include "image/imgref.h"
#include "core/events.h"
#include "core/fs.h"
#include "core/store.h"
#include "image/unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define MAX_DOC (4 << 20) /* a manifest or config larger than this is not one */

static char *images_dir(void)
{
    return sv_xasprintf("%s/images", sv_state_root());
}

/* ---- manifests and configs ------------------------------------------------ */

static bool is_manifest_type(const char *t)
{
    return t == NULL || strcmp(t, "application/vnd.oci.image.manifest.v1+json") == 0 ||
           strcmp(t, "application/vnd.docker.distribution.manifest.v2+json") == 0;
}

/* Layer i of a manifest into img (its digest and size). */
static int read_layer(json_t *l, size_t i, struct sv_image *img, sv_error_t *err)
{
    const char *d = json_string_value(json_object_get(l, "digest"));
    const char *t = json_string_value(json_object_get(l, "mediaType"));
    if (!sv_digest_valid(d))
        return sv_error(err, EINVAL, "manifest: layer %zu has no valid digest", i + 1);
    if (t && strstr(t, "nondistributable"))
        return sv_error(err, ENOTSUP, "manifest: layer %s is a foreign layer (%s)", d, t);
    strcpy(img->layers[i], d);
    img->size += json_integer_value(json_object_get(l, "size"));
    return 0;
}

int sv_image_parse_manifest(const char *json, size_t len, struct sv_image *img, sv_error_t *err)
{
    json_error_t je;
    cleanup_json json_t *root = json_loadb(json, len, 0, &je);
    if (root == NULL)
        return sv_error(err, EINVAL, "manifest: %s", je.text);
    json_t *cfg = json_object_get(root, "config");
    json_t *layers = json_object_get(root, "layers");
    const char *cd = json_string_value(json_object_get(cfg, "digest"));
    if (!is_manifest_type(json_string_value(json_object_get(root, "mediaType"))) ||
        !json_is_array(layers) || !sv_digest_valid(cd)) {
        sv_image_clear(img);
        return sv_error(err, EINVAL, "not an image manifest (needs config and layers)");
    }
    strcpy(img->config, cd);
    img->n_layers = json_array_size(layers);
    img->layers = sv_xcalloc(img->n_layers + 1, sizeof(*img->layers));
    img->size = 0;
    for (size_t i = 0; i < img->n_layers; i++) {
        if (read_layer(json_array_get(layers, i), i, img, err) < 0) {
            sv_image_clear(img);
            return -1;
        }
    }
    return 0;
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

/* Docker's Healthcheck: Test ["CMD", argv...] | ["CMD-SHELL", line] |
 * ["NONE"], durations in nanoseconds. */
static void health_from_json(const json_t *h, struct sv_image_config *cfg)
{
    const json_t *test = json_object_get(h, "Test");
    const char *kind = json_string_value(json_array_get(test, 0));
    if (kind == NULL)
        return;
    if (strcmp(kind, "NONE") == 0) {
        cfg->health_none = true;
        return;
    }
    size_t n = json_array_size(test);
    if (strcmp(kind, "CMD-SHELL") == 0 && n == 2 && json_is_string(json_array_get(test, 1))) {
        cfg->health_test = sv_xcalloc(4, sizeof(char *));
        cfg->health_test[0] = sv_xstrdup("/bin/sh");
        cfg->health_test[1] = sv_xstrdup("-c");
        cfg->health_test[2] = sv_xstrdup(json_string_value(json_array_get(test, 1)));
    } else if (strcmp(kind, "CMD") == 0 && n >= 2) {
        cfg->health_test = sv_xcalloc(n, sizeof(char *));
        for (size_t i = 1; i < n; i++) {
            const char *a = json_string_value(json_array_get(test, i));
            cfg->health_test[i - 1] = sv_xstrdup(a ? a : "");
        }
    } else {
        return;
    }
    cfg->health_interval_ms = json_integer_value(json_object_get(h, "Interval")) / 1000000;
    cfg->health_timeout_ms = json_integer_value(json_object_get(h, "Timeout")) / 1000000;
    cfg->health_start_ms = json_integer_value(json_object_get(h, "StartPeriod")) / 1000000;
    cfg->health_retries = (int)json_integer_value(json_object_get(h, "Retries"));
}

int sv_image_config_load(const struct sv_image *img, struct sv_image_config *cfg, sv_error_t *err)
{
    memset(cfg, 0, sizeof(*cfg));
    cleanup_free char *doc = NULL;
    size_t len;
    if (sv_blob_read(img->config, MAX_DOC, &doc, &len, err) < 0)
        return -1;
    json_error_t je;
    cleanup_json json_t *root = json_loadb(doc, len, 0, &je);
    if (root == NULL)
        return sv_error(err, EINVAL, "image config %s: %s", img->config, je.text);
    json_t *c = json_object_get(root, "config");
    cfg->entrypoint = strv_from_json(json_object_get(c, "Entrypoint"));
    cfg->cmd = strv_from_json(json_object_get(c, "Cmd"));
    cfg->env = strv_from_json(json_object_get(c, "Env"));
    cfg->workdir = str_or_null(json_object_get(c, "WorkingDir"));
    cfg->user = str_or_null(json_object_get(c, "User"));
    cfg->stop_signal = str_or_null(json_object_get(c, "StopSignal"));
    health_from_json(json_object_get(c, "Healthcheck"), cfg);
    json_t *ports = json_object_get(c, "ExposedPorts");
    if (json_is_object(ports)) {
        cfg->exposed = sv_xcalloc(json_object_size(ports) + 1, sizeof(char *));
        size_t k = 0;
        const char *key;
        json_t *v;
        json_object_foreach(ports, key, v) cfg->exposed[k++] = sv_xstrdup(key);
    }
    return 0;
}

void sv_image_config_clear(struct sv_image_config *cfg)
{
    sv_strv_free(cfg->entrypoint);
    sv_strv_free(cfg->cmd);
    sv_strv_free(cfg->env);
    sv_strv_free(cfg->exposed);
    sv_strv_free(cfg->health_test);
    free(cfg->workdir);
    free(cfg->user);
    free(cfg->stop_signal);
    memset(cfg, 0, sizeof(*cfg));
}

/* The OCI architecture name of this host ("amd64", "arm64", ...). */
const char *sv_image_arch(void)
{
    struct utsname u;
    if (uname(&u) < 0)
        return "amd64";
    if (strcmp(u.machine, "x86_64") == 0)
        return "amd64";
    if (strcmp(u.machine, "aarch64") == 0)
        return "arm64";
    if (strncmp(u.machine, "armv7", 5) == 0 || strncmp(u.machine, "armv6", 5) == 0)
        return "arm";
    if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0)
        return "386";
    return "amd64";
}

int sv_image_pick_platform(const char *doc, size_t len, char **manifest, sv_error_t *err)
{
    json_error_t je;
    cleanup_json json_t *root = json_loadb(doc, len, 0, &je);
    if (root == NULL)
        return sv_error(err, EINVAL, "image index: %s", je.text);
    json_t *ms = json_object_get(root, "manifests");
    const char *arch = sv_image_arch();
    const char *found = NULL;
    for (size_t i = 0; i < json_array_size(ms) && !found; i++) {
        json_t *e = json_array_get(ms, i);
        json_t *p = json_object_get(e, "platform");
        const char *os = json_string_value(json_object_get(p, "os"));
        const char *a = json_string_value(json_object_get(p, "architecture"));
        if (os && a && strcmp(os, "linux") == 0 && strcmp(a, arch) == 0)
            found = json_string_value(json_object_get(e, "digest"));
    }
    if (found == NULL || !sv_digest_valid(found))
        return sv_error(err, ENOENT, "the image has no variant for linux/%s", arch);
    *manifest = sv_xstrdup(found);
    return 0;
}

/* ---- the index ------------------------------------------------------------ */

/* The index is read and rewritten whole under an exclusive lock, and
 * replaced by rename: a crash leaves the old or the new one. */
struct index {
    int lock;
    json_t *root, *refs, *images;
};

static void index_close(struct index *ix)
{
    json_decref(ix->root);
    ix->root = NULL;
    if (ix->lock >= 0)
        close(ix->lock);
    ix->lock = -1;
}
/* Closed (and unlocked) at scope exit; initialise with INDEX_CLOSED. */
#define cleanup_index __attribute__((cleanup(index_close)))
#define INDEX_CLOSED                                                                               \
    {                                                                                              \
        .lock = -1                                                                                 \
    }

static int index_open(struct index *ix, bool write, sv_error_t *err)
{
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
    FILE *f = fopen(tmp, "we");
    if (f)
        sv_json_print(ix->root, f, SV_JSON_PRETTY | SV_JSON_SORTED);
    if (f == NULL || ferror(f) | fclose(f) || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return sv_error(err, e, "cannot write %s", path);
    }
    return 0;
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

/* A 12+ digit prefix of one image's digest: 0 found, 1 none, -1 several. */
static int lookup_prefix(struct index *ix, const char *name, char digest[SV_DIGEST_LEN + 1],
                         sv_error_t *err)
{
    const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
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
    if (found == NULL)
        return 1;
    strcpy(digest, found);
    return 0;
}

/* A reference: name@digest by its digest, else by name as given, then as a
 * local name ("app" imported as localhost/app). */
static int lookup_ref(struct index *ix, const char *name, char digest[SV_DIGEST_LEN + 1],
                      sv_error_t *err)
{
    cleanup_imgref struct sv_imgref r = {0};
    if (sv_imgref_parse(name, &r, err) < 0)
        return -1;
    if (r.digest[0]) {
        if (json_object_get(ix->images, r.digest) == NULL)
            return 1;
        strcpy(digest, r.digest);
        return 0;
    }
    cleanup_free char *full = sv_imgref_name(&r);
    cleanup_free char *local = local_key(name, &r);
    const char *d = json_string_value(json_object_get(ix->refs, full));
    if (d == NULL && local)
        d = json_string_value(json_object_get(ix->refs, local));
    if (d == NULL || !sv_digest_valid(d))
        return 1;
    strcpy(digest, d);
    return 0;
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
    if (id_like(name)) {
        int rc = lookup_prefix(ix, name, digest, err);
        if (rc <= 0)
            return rc;
    }
    return lookup_ref(ix, name, digest, err);
}

int sv_image_lookup(const char *name, char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    cleanup_index struct index ix = INDEX_CLOSED;
    if (index_open(&ix, false, err) < 0)
        return -1;
    return lookup_in(&ix, name, digest, err);
}

int sv_image_record(const char *name, const char *digest, sv_error_t *err)
{
    cleanup_index struct index ix = INDEX_CLOSED;
    if (index_open(&ix, true, err) < 0)
        return -1;
    if (json_object_get(ix.images, digest) == NULL)
        json_object_set_new(ix.images, digest,
                            json_pack("{s:I}", "created", (json_int_t)time(NULL)));
    if (name)
        json_object_set_new(ix.refs, name, json_string(digest));
    return index_save(&ix, err);
}

int sv_image_list(struct sv_image_entry **out, size_t *n, sv_error_t *err)
{
    cleanup_index struct index ix = INDEX_CLOSED;
    if (index_open(&ix, false, err) < 0)
        return -1;
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

/* name is one of several names of its image: drop that name only.
 * Returns 1 when name is not such a name. */
static int drop_one_name(struct index *ix, const char *name, const char *digest, sv_error_t *err)
{
    bool by_name = !sv_digest_valid(name) && !id_like(name);
    cleanup_imgref struct sv_imgref r = {0};
    if (!by_name || names_of(ix, digest) <= 1 || sv_imgref_parse(name, &r, NULL) < 0)
        return 1;
    cleanup_free char *full = sv_imgref_name(&r);
    cleanup_free char *local = local_key(name, &r);
    const char *drop = json_object_get(ix->refs, full)             ? full
                       : local && json_object_get(ix->refs, local) ? local
                                                                   : NULL;
    if (drop == NULL)
        return 1;
    json_object_del(ix->refs, drop);
    return index_save(ix, err);
}

static int remove_image(const char *name, const char *const *in_use, sv_error_t *err)
{
    cleanup_index struct index ix = INDEX_CLOSED;
    char digest[SV_DIGEST_LEN + 1];
    int rc = index_open(&ix, true, err);
    if (rc == 0)
        rc = lookup_in(&ix, name, digest, err);
    if (rc == 1)
        return sv_error(err, ENOENT, "no image \"%s\" in the store", name);
    if (rc < 0)
        return -1;
    /* Which name was meant: drop that one; the image goes with its last. */
    rc = drop_one_name(&ix, name, digest, err);
    if (rc <= 0)
        return rc;
    if (listed(in_use, digest))
        return sv_error(err, EBUSY, "image \"%s\" (%.19s) is used by a container: remove it first",
                        name, digest);
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(ix.refs, tmp, k, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), digest) == 0)
            json_object_del(ix.refs, k);
    }
    json_object_del(ix.images, digest);
    return index_save(&ix, err);
}

int sv_image_remove(const char *name, const char *const *in_use, sv_error_t *err)
{
    int rc = remove_image(name, in_use, err);
    if (rc == 0) /* once the index is saved and unlocked */
        sv_events_add(NULL, "image.remove", NULL, name, NULL);
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
    cleanup_closedir DIR *d = opendir(path);
    if (d == NULL)
        return n;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        cleanup_free char *p = sv_xasprintf("%s/%s", path, e->d_name);
        n += tree_size(p);
    }
    return n;
}

/* The hex digests of every blob the index's images reach, as keys. */
static json_t *reachable_blobs(struct index *ix)
{
    json_t *keep = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(ix->images, k, v)
    {
        cleanup_image struct sv_image img = {0};
        json_object_set_new(keep, k + 7, json_true());
        if (sv_image_load(k, &img, NULL) < 0)
            continue;
        json_object_set_new(keep, img.config + 7, json_true());
        for (size_t i = 0; i < img.n_layers; i++)
            json_object_set_new(keep, img.layers[i] + 7, json_true());
    }
    return keep;
}

/* Remove what the images/<sub> directory holds beyond keep (NULL: the
 * temporary downloads, kept while younger than a day, as one may still be
 * running). */
static int64_t prune_dir(const char *sub, json_t *keep)
{
    int64_t freed = 0;
    cleanup_free char *dir = sv_xasprintf("%s/images/%s", sv_state_root(), sub);
    cleanup_closedir DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char hex[65] = "";
        snprintf(hex, sizeof(hex), "%.64s", e->d_name);
        if (keep && json_object_get(keep, hex))
            continue;
        cleanup_free char *p = sv_xasprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (keep == NULL && stat(p, &st) == 0 && time(NULL) - st.st_mtime < 86400)
            continue;
        freed += tree_size(p);
        sv_rmtree(p, NULL);
    }
    return freed;
}

int sv_image_prune(const char *const *in_use, int64_t *freed, sv_error_t *err)
{
    *freed = 0;
    cleanup_index struct index ix = INDEX_CLOSED;
    if (index_open(&ix, true, err) < 0)
        return -1;
    const char *k;
    json_t *v;
    void *tmp;
    /* Images without a name that no container uses go. */
    json_object_foreach_safe(ix.images, tmp, k, v)
    {
        if (names_of(&ix, k) == 0 && !listed(in_use, k))
            json_object_del(ix.images, k);
    }
    if (index_save(&ix, err) < 0)
        return -1;
    /* Every blob the remaining images reach is kept. */
    cleanup_json json_t *keep = reachable_blobs(&ix);
    *freed += prune_dir("blobs/sha256", keep);
    *freed += prune_dir("layers", keep);
    *freed += prune_dir("blobs/tmp", NULL);
    return 0;
}

/* ---- layers --------------------------------------------------------------- */

/* Layer i unpacked for map's id range at path, unless it is already. */
static int unpack_layer_once(const struct sv_image *img, size_t i, const struct sv_idmap *map,
                             const char *path, sv_error_t *err)
{
    if (access(path, F_OK) == 0)
        return 0;
    cleanup_free char *blob = sv_blob_path(img->layers[i]);
    char got[SV_DIGEST_LEN + 1];
    /* Digests are checked as blobs are stored, and again before a layer
     * is trusted for the first time. */
    if (sv_digest_file(blob, got, err) < 0)
        return sv_error_wrap(err, "image %s: layer %s is missing (pull it again)", img->digest,
                             img->layers[i]);
    if (strcmp(got, img->layers[i]) != 0)
        return sv_error(err, EBADMSG,
                        "layer %s in the store is corrupt (servos image prune, then pull again)",
                        img->layers[i]);
    return sv_unpack_layer(blob, path, map, err);
}

int sv_image_lowerdirs(const struct sv_image *img, const struct sv_idmap *map, char **lower,
                       sv_error_t *err)
{
    cleanup_free char *dir = sv_xasprintf("%s/images/layers", sv_state_root());
    if (sv_mkdir_p(dir, 0711, err) < 0)
        return -1;
    if (img->n_layers == 0)
        return sv_error(err, EINVAL, "image %s has no layers", img->digest);
    size_t cap = 1;
    cleanup_strv char **paths = sv_xcalloc(img->n_layers + 1, sizeof(char *));
    for (size_t i = 0; i < img->n_layers; i++) {
        paths[i] = sv_xasprintf("%s/%s-%u", dir, img->layers[i] + 7, (unsigned)map->uid_base);
        cap += strlen(paths[i]) + 1;
        if (unpack_layer_once(img, i, map, paths[i], err) < 0)
            return -1;
    }
    cleanup_free char *s = sv_xmalloc(cap);
    char *p = s;
    *p = '\0';
    for (size_t i = img->n_layers; i-- > 0;)
        p += sprintf(p, "%s%s", p == s ? "" : ":", paths[i]);
    if (strlen(s) > 3500)
        return sv_error(err, E2BIG, "image %s has too many layers (%zu) for one overlay mount",
                        img->digest, img->n_layers);
    *lower = sv_steal(s);
    return 0;
}
