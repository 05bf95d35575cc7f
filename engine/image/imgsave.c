/* The archive `image save` writes: blobs/sha256/<hex> for every blob of
 * the images, then oci-layout, index.json, manifest.json, repositories.
 * The tar is written here (ustar headers are 512 bytes of fixed fields),
 * the blobs copied by the kernel (sendfile): no library to load, nothing
 * to hold in memory. */
#include "image/imgsave.h"

#include "core/json.h"
#include "image/imgblob.h"
#include "image/imgref.h"
#include "image/imgstore.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DOC   (4 << 20)
#define REF_NAME  "org.opencontainers.image.ref.name"
#define FULL_NAME "io.containerd.image.name"

/* ---- tar -------------------------------------------------------------------------- */

struct tar {
    int fd;
    const char *path; /* for errors */
};

static int tar_write(struct tar *t, const void *data, size_t len, sv_error_t *err)
{
    for (const char *p = data; len > 0;) {
        ssize_t n = write(t->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return sv_error(err, n < 0 ? errno : EIO, "cannot write %s", t->path);
        p += n, len -= (size_t)n;
    }
    return 0;
}

/* An octal field, or base-256 (GNU's, which every reader takes) for a
 * size an 11-digit octal field cannot hold (8 GiB and more). */
static void tar_number(char *field, size_t width, uint64_t v)
{
    if (v < (1ull << (3 * (width - 1)))) {
        snprintf(field, width, "%0*" PRIo64, (int)width - 1, v);
        return;
    }
    memset(field, 0, width);
    field[0] = (char)0x80;
    for (size_t i = width - 1; i > 0 && v; i--, v >>= 8)
        field[i] = (char)(v & 0xff);
}

static int tar_header(struct tar *t, const char *name, char type, uint64_t size, sv_error_t *err)
{
    char h[512] = {0};
    if (strlen(name) >= 100)
        return sv_error(err, ENAMETOOLONG, "%s: an entry name too long for tar: %s", t->path, name);
    memcpy(h, name, strlen(name));
    tar_number(h + 100, 8, type == '5' ? 0755 : 0644); /* mode */
    tar_number(h + 108, 8, 0);                         /* uid */
    tar_number(h + 116, 8, 0);                         /* gid */
    tar_number(h + 124, 12, size);
    tar_number(h + 136, 12, 0); /* mtime: the same bytes for the same images */
    h[156] = type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8); /* the checksum counts its own field as spaces */
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof(h); i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    return tar_write(t, h, sizeof(h), err);
}

static int tar_pad(struct tar *t, uint64_t size, sv_error_t *err)
{
    static const char zeros[512];
    size_t pad = (512 - size % 512) % 512;
    return pad ? tar_write(t, zeros, pad, err) : 0;
}

static int tar_doc(struct tar *t, const char *name, json_t *doc, sv_error_t *err)
{
    cleanup_free char *text = sv_json_dumps(doc, SV_JSON_COMPACT);
    size_t len = strlen(text);
    if (tar_header(t, name, '0', len, err) < 0 || tar_write(t, text, len, err) < 0)
        return -1;
    return tar_pad(t, len, err);
}

/* A blob of the store, copied by the kernel (to a file or a pipe). */
static int tar_blob(struct tar *t, const char *digest, sv_error_t *err)
{
    cleanup_free char *path = sv_blob_path(digest);
    cleanup_free char *name = sv_xasprintf("blobs/sha256/%s", digest + 7);
    cleanup_close int in = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (in < 0 || fstat(in, &st) < 0)
        return sv_error(err, errno, "blob %s (pull or build the image again)", digest);
    if (tar_header(t, name, '0', (uint64_t)st.st_size, err) < 0)
        return -1;
    off_t off = 0;
    while (off < st.st_size) {
        ssize_t n = sendfile(t->fd, in, &off, (size_t)(st.st_size - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return sv_error(err, n < 0 ? errno : EIO, "cannot write %s", t->path);
    }
    return tar_pad(t, (uint64_t)st.st_size, err);
}

/* ---- the images ------------------------------------------------------------------ */

struct saved {
    struct sv_image img;
    char **names; /* as the store names them; NULL-terminated */
    char *type;   /* the manifest's media type */
    int64_t size; /* the manifest's */
};

/* The store's name ref means: "bb" is localhost/bb:latest when that is
 * the image's name. NULL for a digest or an id: docker save writes no
 * name for those either. */
static char *stored_name(const char *ref, const char *digest)
{
    const char *hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
    if (strlen(hex) >= 12 && strspn(hex, "0123456789abcdef") == strlen(hex))
        return NULL;
    cleanup_imgref struct sv_imgref r = {0};
    if (sv_imgref_parse(ref, &r, NULL) < 0 || r.tag == NULL)
        return NULL;
    cleanup_free char *full = sv_imgref_name(&r);
    cleanup_free char *local = strncmp(r.repo, "library/", 8) == 0 && !strchr(ref, '/')
                                   ? sv_xasprintf("localhost/%s:%s", r.repo + 8, r.tag)
                                   : NULL;
    struct sv_image_entry *e = NULL;
    size_t n = 0;
    char *found = NULL;
    if (sv_image_list(&e, &n, NULL) < 0)
        return NULL;
    for (size_t i = 0; i < n && !found; i++)
        for (char **p = e[i].names; strcmp(e[i].digest, digest) == 0 && *p && !found; p++)
            if (strcmp(*p, full) == 0 || (local && strcmp(*p, local) == 0))
                found = sv_xstrdup(*p);
    sv_image_entries_free(e, n);
    return found;
}

static int add_image(struct saved **v, size_t *n, const char *ref, sv_error_t *err)
{
    char digest[SV_DIGEST_LEN + 1];
    int rc = sv_image_lookup(ref, digest, err);
    if (rc == 1)
        return sv_error(err, 0, "no image \"%s\" in the store (servos image ls lists them)", ref);
    if (rc < 0)
        return -1;
    cleanup_free char *name = stored_name(ref, digest);
    struct saved *s = NULL;
    for (size_t i = 0; i < *n && !s; i++)
        if (strcmp((*v)[i].img.digest, digest) == 0)
            s = &(*v)[i];
    if (s == NULL) {
        *v = sv_xrealloc(*v, (*n + 1) * sizeof(**v));
        s = &(*v)[(*n)++];
        memset(s, 0, sizeof(*s));
        s->names = sv_xcalloc(1, sizeof(char *));
        cleanup_free char *doc = NULL;
        size_t len;
        if (sv_image_load(digest, &s->img, err) < 0 ||
            sv_blob_read(digest, MAX_DOC, &doc, &len, err) < 0)
            return -1;
        cleanup_json json_t *j = json_loadb(doc, len, 0, NULL);
        const char *t = json_string_value(json_object_get(j, "mediaType"));
        s->type = sv_xstrdup(t ? t : "application/vnd.oci.image.manifest.v1+json");
        s->size = (int64_t)len;
    }
    size_t k = 0;
    while (s->names[k])
        k++;
    if (name) {
        s->names = sv_xrealloc(s->names, (k + 2) * sizeof(char *));
        s->names[k] = sv_steal(name);
        s->names[k + 1] = NULL;
    }
    return 0;
}

static void saved_free(struct saved *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sv_image_clear(&v[i].img);
        sv_strv_free(v[i].names);
        free(v[i].type);
    }
    free(v);
}

/* "docker.io/library/alpine:3.20" as Docker writes it: "alpine:3.20". */
static const char *familiar(const char *name)
{
    if (strncmp(name, "docker.io/library/", 18) == 0)
        return name + 18;
    return strncmp(name, "docker.io/", 10) == 0 ? name + 10 : name;
}

static json_t *index_json(struct saved *v, size_t n)
{
    json_t *ms = json_array();
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k == 0 || v[i].names[k]; k++) {
            json_t *d = json_pack("{s:s,s:s,s:I}", "mediaType", v[i].type, "digest",
                                  v[i].img.digest, "size", (json_int_t)v[i].size);
            const char *name = v[i].names[k];
            if (name) {
                cleanup_imgref struct sv_imgref r = {0};
                sv_imgref_parse(name, &r, NULL);
                json_object_set_new(
                    d, "annotations",
                    json_pack("{s:s,s:s}", FULL_NAME, name, REF_NAME, r.tag ? r.tag : "latest"));
            }
            json_array_append_new(ms, d);
        }
    return json_pack("{s:i,s:s,s:o}", "schemaVersion", 2, "mediaType",
                     "application/vnd.oci.image.index.v1+json", "manifests", ms);
}

/* repositories (the format before manifest.json): name -> tag -> the top
 * layer's id. */
static void add_repository(json_t *repos, const char *name, const struct sv_image *img)
{
    cleanup_imgref struct sv_imgref r = {0};
    if (sv_imgref_parse(name, &r, NULL) < 0 || r.tag == NULL || img->n_layers == 0)
        return;
    const char *f = familiar(name);
    cleanup_free char *repo = sv_xstrndup(f, strlen(f) - strlen(r.tag) - 1);
    json_t *tags = json_object_get(repos, repo);
    if (tags == NULL)
        json_object_set_new(repos, repo, tags = json_object());
    json_object_set_new(tags, r.tag, json_string(img->layers[img->n_layers - 1] + 7));
}

static json_t *manifest_json(struct saved *v, size_t n, json_t *repos)
{
    json_t *all = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *layers = json_array();
        for (size_t k = 0; k < v[i].img.n_layers; k++) {
            cleanup_free char *l = sv_xasprintf("blobs/sha256/%s", v[i].img.layers[k] + 7);
            json_array_append_new(layers, json_string(l));
        }
        json_t *tags = v[i].names[0] ? json_array() : json_null();
        for (char **p = v[i].names; *p; p++) {
            json_array_append_new(tags, json_string(familiar(*p)));
            add_repository(repos, *p, &v[i].img);
        }
        cleanup_free char *cfg = sv_xasprintf("blobs/sha256/%s", v[i].img.config + 7);
        json_array_append_new(
            all, json_pack("{s:s,s:o,s:o}", "Config", cfg, "RepoTags", tags, "Layers", layers));
    }
    return all;
}

/* Every blob once: manifests, configs, layers. */
static int write_blobs(struct tar *t, struct saved *v, size_t n, sv_error_t *err)
{
    cleanup_json json_t *done = json_object();
    if (tar_header(t, "blobs/", '5', 0, err) < 0 || tar_header(t, "blobs/sha256/", '5', 0, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < v[i].img.n_layers + 2; k++) {
            const char *d = k == 0   ? v[i].img.digest
                            : k == 1 ? v[i].img.config
                                     : v[i].img.layers[k - 2];
            if (json_object_get(done, d))
                continue;
            json_object_set_new(done, d, json_true());
            if (tar_blob(t, d, err) < 0)
                return -1;
        }
    return 0;
}

static int write_archive(struct tar *t, struct saved *v, size_t n, sv_error_t *err)
{
    cleanup_json json_t *layout = json_pack("{s:s}", "imageLayoutVersion", "1.0.0");
    cleanup_json json_t *index = index_json(v, n);
    cleanup_json json_t *repos = json_object();
    cleanup_json json_t *manifest = manifest_json(v, n, repos);
    static const char end[1024];
    if (write_blobs(t, v, n, err) < 0 || tar_doc(t, "oci-layout", layout, err) < 0 ||
        tar_doc(t, "index.json", index, err) < 0 ||
        tar_doc(t, "manifest.json", manifest, err) < 0 ||
        tar_doc(t, "repositories", repos, err) < 0)
        return -1;
    return tar_write(t, end, sizeof(end), err); /* two zero blocks end a tar */
}

int sv_imgsave(const char *const *refs, size_t n, const char *path, sv_error_t *err)
{
    struct saved *v = NULL;
    size_t nv = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = add_image(&v, &nv, refs[i], err);
    bool to_stdout = path == NULL || strcmp(path, "-") == 0;
    cleanup_free char *tmp = to_stdout ? NULL : sv_xasprintf("%s.tmp.%d", path, (int)getpid());
    struct tar t = {.fd = STDOUT_FILENO, .path = to_stdout ? "standard output" : path};
    if (rc == 0 && !to_stdout) {
        t.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (t.fd < 0)
            rc = sv_error(err, errno, "cannot create %s", tmp);
    }
    if (rc == 0)
        rc = write_archive(&t, v, nv, err);
    if (!to_stdout && t.fd >= 0) {
        /* Complete on disk before it takes the name: a crash leaves the
         * old file or the new one, never half of one. */
        if (rc == 0 && fsync(t.fd) < 0)
            rc = sv_error(err, errno, "cannot write %s", path);
        if (close(t.fd) < 0 && rc == 0)
            rc = sv_error(err, errno, "cannot write %s", path);
        if (rc == 0 && rename(tmp, path) < 0)
            rc = sv_error(err, errno, "cannot write %s", path);
        if (rc < 0)
            unlink(tmp);
    }
    saved_free(v, nv);
    return rc;
}
