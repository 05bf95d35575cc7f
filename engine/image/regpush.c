/* `servos image push`: plan (the image's blobs, where each may be mounted
 * from), then a few workers each take the next blob: HEAD, else a mount,
 * else an upload; then the manifest. The OCI distribution spec's push. */
#include "image/regpush.h"

#include "image/imgblob.h"
#include "image/imgref.h"
#include "image/imgstore.h"
#include "image/regblobs.h"
#include "image/regclient.h"
#include "image/regconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DOC       (4 << 20)
#define DEFAULT_CHUNK ((int64_t)64 << 20)
#define WORKERS       4 /* blobs uploading at once */
#define MOUNT_TRIES   3 /* source repositories asked, the most recent first */
#define CHUNK_RETRIES 3 /* a chunk that fails resumes where the registry says it got to */

enum blob_state { PENDING, PRESENT, MOUNTED, UPLOADED };

struct job {
    char digest[SV_DIGEST_LEN + 1];
    int64_t size;
    int64_t base, cur; /* bytes sent: base (chunks done) + cur (of this request) */
    int64_t chunk;     /* the configured size, or the registry's smallest when larger */
    enum blob_state state;
    char **sources; /* repositories of the registry that hold it (regblobs.h) */
    const char *from;
};

struct push {
    struct sv_regclient *s;
    struct job *jobs;
    size_t n;
    int64_t chunk, total;
    size_t next;          /* the next job a worker takes */
    int cancel, running;  /* set by the first failure; workers at work */
    sv_error_t err;       /* the first failure */
    pthread_mutex_t lock; /* err, and stderr */
};

/* ---- URLs -------------------------------------------------------------------- */

static char *blob_url(struct sv_regclient *s, const char *digest)
{
    return sv_xasprintf("%s://%s/v2/%s/blobs/%s", s->scheme, s->host, s->ref.repo, digest);
}

/* location + digest=..., for the PUT that ends an upload: the location is
 * the registry's and may carry a query of its own. */
static char *with_digest(const char *location, const char *digest)
{
    return sv_xasprintf("%s%cdigest=sha256%%3A%s", location, strchr(location, '?') ? '&' : '?',
                        digest + 7);
}

/* ---- progress ------------------------------------------------------------------ */

static int64_t sent_so_far(struct push *p)
{
    int64_t n = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct job *j = &p->jobs[i];
        n += j->state == PENDING ? __atomic_load_n(&j->base, __ATOMIC_RELAXED) +
                                       __atomic_load_n(&j->cur, __ATOMIC_RELAXED)
                                 : j->size;
    }
    return n;
}

/* The bar on a terminal (called with p->lock held). */
static void draw(struct push *p, bool final)
{
    if (p->s->quiet || !p->s->tty)
        return;
    int64_t now = sent_so_far(p), total = p->total > 0 ? p->total : 1;
    int width = 30, fill = (int)(now * width / total);
    fill = fill > width ? width : fill;
    cleanup_free char *name = sv_imgref_name(&p->s->ref);
    fprintf(stderr, "\r%-40.40s [%.*s%*s] %6.1f/%.1f MB%s", name, fill,
            "==============================", width - fill, "", now / 1e6, total / 1e6,
            final ? "\n" : "");
}

/* A blob is done: a line for it (above the bar on a terminal). */
static void report(struct push *p, const struct job *j)
{
    if (p->s->quiet)
        return;
    pthread_mutex_lock(&p->lock);
    if (p->s->tty)
        fputs("\r\033[K", stderr);
    if (j->state == PRESENT)
        fprintf(stderr, "servos: %.12s: already in the registry\n", j->digest + 7);
    else if (j->state == MOUNTED)
        fprintf(stderr, "servos: %.12s: mounted from %s\n", j->digest + 7, j->from);
    else
        fprintf(stderr, "servos: %.12s: pushed (%.1f MB)\n", j->digest + 7, j->size / 1e6);
    draw(p, false);
    pthread_mutex_unlock(&p->lock);
}

/* ---- one blob ------------------------------------------------------------------- */

static int blob_present(struct push *p, struct job *j, CURL *h, sv_error_t *err)
{
    cleanup_free char *url = blob_url(p->s, j->digest);
    cleanup_regclient_resp struct sv_regclient_resp r = {0};
    struct sv_regclient_req q = {.method = "HEAD", .url = url, .handle = h};
    if (sv_regclient_request(p->s, &q, &r, err) < 0)
        return -1;
    if (r.status == 200)
        j->state = PRESENT;
    else if (r.status != 404)
        return sv_regclient_http_error(p->s, j->digest, &r, err);
    return 0;
}

/* Cancel an upload session the push will not use (best effort). */
static void drop_session(struct push *p, const char *location, CURL *h)
{
    cleanup_free char *url = sv_regclient_absolute(p->s, location);
    cleanup_regclient_resp struct sv_regclient_resp r = {0};
    struct sv_regclient_req q = {.method = "DELETE", .url = url, .handle = h};
    sv_regclient_request(p->s, &q, &r, NULL);
}

/* POST .../blobs/uploads/?mount=&from= for each known source: 201 is a
 * mount; 202 an upload session, used when no other source is left. A
 * refusal of any other kind (no pull access to the source) is no error:
 * the blob is uploaded instead. */
static int try_mounts(struct push *p, struct job *j, CURL *h, char **location)
{
    for (size_t i = 0; j->sources && j->sources[i] && i < MOUNT_TRIES; i++) {
        cleanup_free char *url =
            sv_xasprintf("%s://%s/v2/%s/blobs/uploads/?mount=sha256%%3A%s&from=%s", p->s->scheme,
                         p->s->host, p->s->ref.repo, j->digest + 7, j->sources[i]);
        cleanup_regclient_resp struct sv_regclient_resp r = {0};
        struct sv_regclient_req q = {.method = "POST", .url = url, .handle = h};
        if (sv_regclient_request(p->s, &q, &r, NULL) < 0)
            continue;
        if (r.status == 201) {
            j->state = MOUNTED;
            j->from = j->sources[i];
            return 0;
        }
        if (r.status != 202 || r.location == NULL)
            continue;
        if (j->sources[i + 1] && i + 1 < MOUNT_TRIES) {
            drop_session(p, r.location, h);
            continue;
        }
        *location = sv_regclient_absolute(p->s, r.location);
        return 0;
    }
    return 0;
}

/* An upload session: *location, or the blob mounted. */
static int start_upload(struct push *p, struct job *j, CURL *h, char **location, sv_error_t *err)
{
    if (try_mounts(p, j, h, location) < 0 || j->state == MOUNTED || *location)
        return 0;
    cleanup_free char *url =
        sv_xasprintf("%s://%s/v2/%s/blobs/uploads/", p->s->scheme, p->s->host, p->s->ref.repo);
    cleanup_regclient_resp struct sv_regclient_resp r = {0};
    struct sv_regclient_req q = {.method = "POST", .url = url, .handle = h};
    if (sv_regclient_request(p->s, &q, &r, err) < 0)
        return -1;
    if (r.status != 202 || r.location == NULL)
        return sv_regclient_http_error(p->s, "starting a blob upload", &r, err);
    /* A registry's smallest chunk wins over a smaller one configured. */
    if (r.chunk_min > j->chunk)
        j->chunk = r.chunk_min;
    *location = sv_regclient_absolute(p->s, r.location);
    return 0;
}

/* The closing PUT (with the whole blob as its body, or none). */
static int finish_upload(struct push *p, struct job *j, const char *location, int fd, bool whole,
                         CURL *h, sv_error_t *err)
{
    cleanup_free char *url = with_digest(location, j->digest);
    cleanup_regclient_resp struct sv_regclient_resp r = {0};
    struct sv_regclient_req q = {.method = "PUT",
                                 .url = url,
                                 .ctype = "application/octet-stream",
                                 .from_file = whole,
                                 .fd = fd,
                                 .size = whole ? j->size : 0,
                                 .sent = &j->cur,
                                 .cancel = &p->cancel,
                                 .handle = h};
    if (sv_regclient_request(p->s, &q, &r, err) < 0)
        return -1;
    if (r.status == 413)
        return sv_error(err, 0,
                        "%s: blob %s (%.1f MB) is too large for one request to this registry: "
                        "set \"push_chunk_size\" in %s (say \"8M\") to push it in chunks",
                        p->s->host, j->digest, j->size / 1e6, sv_regconfig_path());
    if (r.status != 201)
        return sv_regclient_http_error(p->s, j->digest, &r, err);
    j->state = UPLOADED;
    return 0;
}

/* Where an interrupted upload stands: GET its location, whose Range says
 * what the registry has ("0-N"). */
static int upload_offset(struct push *p, char **location, CURL *h, int64_t *pos, sv_error_t *err)
{
    cleanup_regclient_resp struct sv_regclient_resp r = {0};
    struct sv_regclient_req q = {.method = "GET", .url = *location, .handle = h};
    if (sv_regclient_request(p->s, &q, &r, err) < 0)
        return -1;
    if (r.status != 204 && r.status != 200)
        return sv_regclient_http_error(p->s, "the upload's state", &r, err);
    const char *dash = r.range ? strchr(r.range, '-') : NULL;
    *pos = dash ? strtoll(dash + 1, NULL, 10) + 1 : 0;
    if (r.location) {
        free(*location);
        *location = sv_regclient_absolute(p->s, r.location);
    }
    return 0;
}

/* One PATCH of the chunk at pos; true when the registry took it. */
static bool send_chunk(struct push *p, struct job *j, char **location, int fd, int64_t pos,
                       int64_t n, CURL *h, sv_error_t *err)
{
    char range[64];
    snprintf(range, sizeof(range), "%" PRId64 "-%" PRId64, pos, pos + n - 1);
    cleanup_regclient_resp struct sv_regclient_resp r = {0};
    struct sv_regclient_req q = {.method = "PATCH",
                                 .url = *location,
                                 .ctype = "application/octet-stream",
                                 .content_range = range,
                                 .from_file = true,
                                 .fd = fd,
                                 .off = pos,
                                 .size = n,
                                 .sent = &j->cur,
                                 .cancel = &p->cancel,
                                 .handle = h};
    __atomic_store_n(&j->base, pos, __ATOMIC_RELAXED);
    __atomic_store_n(&j->cur, 0, __ATOMIC_RELAXED);
    if (sv_regclient_request(p->s, &q, &r, err) < 0)
        return false;
    if (r.status != 202) {
        sv_regclient_http_error(p->s, j->digest, &r, err);
        return false;
    }
    if (r.location) {
        free(*location);
        *location = sv_regclient_absolute(p->s, r.location);
    }
    return true;
}

/* PATCH after PATCH with Content-Range; a chunk that fails (the
 * connection, the registry) is retried from where the registry says it
 * got to. */
static int upload_chunks(struct push *p, struct job *j, char **location, int fd, CURL *h,
                         sv_error_t *err)
{
    int64_t pos = 0;
    int tries = 0;
    while (pos < j->size) {
        int64_t n = j->size - pos < j->chunk ? j->size - pos : j->chunk;
        sv_error_t e = NULL;
        if (send_chunk(p, j, location, fd, pos, n, h, &e)) {
            pos += n;
            tries = 0;
            continue;
        }
        bool again = ++tries <= CHUNK_RETRIES && !__atomic_load_n(&p->cancel, __ATOMIC_RELAXED) &&
                     e->status != EACCES && e->status != ENOENT;
        int64_t failed_at = pos;
        if (!again || upload_offset(p, location, h, &pos, NULL) < 0) {
            *err = e;
            return sv_error_wrap(err, "blob %s, %" PRId64 " bytes in", j->digest, pos);
        }
        if (!p->s->quiet) {
            pthread_mutex_lock(&p->lock);
            fprintf(stderr,
                    "%sservos: %.12s: the chunk at %" PRId64
                    " failed (%s); the registry has %" PRId64 " bytes: going on from there\n",
                    p->s->tty ? "\r\033[K" : "", j->digest + 7, failed_at, e->msg, pos);
            pthread_mutex_unlock(&p->lock);
        }
        sv_error_free(&e);
    }
    __atomic_store_n(&j->base, j->size, __ATOMIC_RELAXED);
    __atomic_store_n(&j->cur, 0, __ATOMIC_RELAXED);
    return finish_upload(p, j, *location, fd, false, h, err);
}

static int push_blob(struct push *p, struct job *j, CURL *h, sv_error_t *err)
{
    if (blob_present(p, j, h, err) < 0)
        return -1;
    if (j->state == PRESENT)
        return 0;
    cleanup_free char *location = NULL;
    if (start_upload(p, j, h, &location, err) < 0)
        return -1;
    if (j->state == MOUNTED)
        return 0;
    cleanup_free char *path = sv_blob_path(j->digest);
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sv_error(err, errno, "blob %s", j->digest);
    if (j->size <= j->chunk)
        return finish_upload(p, j, location, fd, true, h, err);
    return upload_chunks(p, j, &location, fd, h, err);
}

/* ---- the workers ------------------------------------------------------------------ */

static void *worker(void *ud)
{
    struct push *p = ud;
    CURL *h = sv_regclient_curl.easy_init(); /* its connections kept from blob to blob */
    for (;;) {
        size_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
        if (i >= p->n || __atomic_load_n(&p->cancel, __ATOMIC_RELAXED))
            break;
        sv_error_t e = NULL;
        if (h == NULL || push_blob(p, &p->jobs[i], h, &e) < 0) {
            if (e == NULL)
                sv_error(&e, ENOMEM, "libcurl");
            pthread_mutex_lock(&p->lock);
            if (p->err == NULL && !__atomic_load_n(&p->cancel, __ATOMIC_RELAXED))
                p->err = sv_steal(e);
            __atomic_store_n(&p->cancel, 1, __ATOMIC_RELAXED);
            pthread_mutex_unlock(&p->lock);
            sv_error_free(&e);
            break;
        }
        report(p, &p->jobs[i]);
    }
    if (h)
        sv_regclient_curl.easy_cleanup(h);
    __atomic_fetch_sub(&p->running, 1, __ATOMIC_RELAXED);
    return NULL;
}

static int push_blobs(struct push *p, sv_error_t *err)
{
    pthread_t t[WORKERS];
    size_t k = 0, want = p->n < WORKERS ? p->n : WORKERS;
    pthread_mutex_init(&p->lock, NULL);
    for (; k < want; k++) {
        __atomic_fetch_add(&p->running, 1, __ATOMIC_RELAXED);
        if (pthread_create(&t[k], NULL, worker, p) != 0) {
            __atomic_fetch_sub(&p->running, 1, __ATOMIC_RELAXED);
            break;
        }
    }
    if (k == 0)
        worker(p); /* no thread to be had: this one does the work */
    while (__atomic_load_n(&p->running, __ATOMIC_RELAXED) > 0) {
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
        pthread_mutex_lock(&p->lock);
        draw(p, false);
        pthread_mutex_unlock(&p->lock);
    }
    for (size_t i = 0; i < k; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&p->lock);
    if (p->err) {
        *err = sv_steal(p->err);
        return -1;
    }
    draw(p, true);
    return 0;
}

/* ---- the plan ---------------------------------------------------------------------- */

/* Other tools check each layer against the config's diff_ids (umoci will
 * not unpack without them): an image whose config has too few, as older
 * servos imports made, is refused rather than pushed broken. */
static int check_diff_ids(const struct sv_image *img, sv_error_t *err)
{
    cleanup_free char *doc = NULL;
    size_t len;
    if (sv_blob_read(img->config, MAX_DOC, &doc, &len, err) < 0)
        return -1;
    cleanup_json json_t *j = json_loadb(doc, len, 0, NULL);
    size_t n = json_array_size(json_object_get(json_object_get(j, "rootfs"), "diff_ids"));
    if (n != img->n_layers)
        return sv_error(err, 0,
                        "image %.19s: its config names %zu diff_ids for %zu layers, which other "
                        "tools refuse (an import of an older servos?): import it again",
                        img->digest, n, img->n_layers);
    return 0;
}

/* The image's blobs, each once, with their sizes and mount sources. */
static int plan_jobs(struct push *p, const struct sv_image *img, sv_error_t *err)
{
    p->jobs = sv_xcalloc(img->n_layers + 2, sizeof(struct job));
    for (size_t i = 0; i <= img->n_layers; i++) {
        const char *d = i == 0 ? img->config : img->layers[i - 1];
        bool dup = false;
        for (size_t k = 0; k < p->n; k++)
            dup = dup || strcmp(p->jobs[k].digest, d) == 0;
        if (dup)
            continue;
        struct job *j = &p->jobs[p->n++];
        strcpy(j->digest, d);
        j->chunk = p->chunk;
        cleanup_free char *path = sv_blob_path(d);
        struct stat st;
        if (stat(path, &st) < 0)
            return sv_error(err, errno,
                            "image %.19s: blob %s is not in the store (pull or build the image "
                            "again)",
                            img->digest, d);
        j->size = st.st_size;
        p->total += st.st_size;
        j->sources = sv_regblobs_sources(p->s->ref.registry, d, p->s->ref.repo);
        for (char **r = j->sources; r && *r; r++)
            sv_regclient_add_scope(p->s, *r);
    }
    return 0;
}

static void jobs_free(struct push *p)
{
    for (size_t i = 0; p->jobs && i < p->n; i++)
        sv_strv_free(p->jobs[i].sources);
    free(p->jobs);
}

/* The manifest's media type: its own, else what its config says it is. */
static const char *manifest_type(const char *doc, size_t len, char *buf, size_t cap)
{
    cleanup_json json_t *j = json_loadb(doc, len, 0, NULL);
    const char *t = json_string_value(json_object_get(j, "mediaType"));
    const char *ct = json_string_value(json_object_get(json_object_get(j, "config"), "mediaType"));
    if (t == NULL)
        t = ct && strstr(ct, "docker") ? "application/vnd.docker.distribution.manifest.v2+json"
                                       : "application/vnd.oci.image.manifest.v1+json";
    snprintf(buf, cap, "%s", t);
    return buf;
}

static int put_manifest(struct sv_regclient *s, const char *digest, sv_error_t *err)
{
    cleanup_free char *doc = NULL;
    size_t len;
    if (sv_blob_read(digest, MAX_DOC, &doc, &len, err) < 0)
        return -1;
    char type[128];
    cleanup_free char *url =
        sv_xasprintf("%s://%s/v2/%s/manifests/%s", s->scheme, s->host, s->ref.repo, s->ref.tag);
    cleanup_regclient_resp struct sv_regclient_resp r = {0};
    struct sv_regclient_req q = {.method = "PUT",
                                 .url = url,
                                 .ctype = manifest_type(doc, len, type, sizeof(type)),
                                 .data = doc,
                                 .len = (int64_t)len};
    if (sv_regclient_request(s, &q, &r, err) < 0)
        return -1;
    if (r.status != 201)
        return sv_regclient_http_error(s, "manifest", &r, err);
    if (r.digest_hdr && sv_digest_valid(r.digest_hdr) && strcmp(r.digest_hdr, digest) != 0)
        return sv_error(err, 0, "%s stored the manifest as %s, not %s", s->host, r.digest_hdr,
                        digest);
    return 0;
}

/* An image id or digest ("sha256:...", 12+ hex digits), as `image ls`
 * shows them: no name to push to. */
static bool is_id(const char *s)
{
    const char *hex = strncmp(s, "sha256:", 7) == 0 ? s + 7 : s;
    return strlen(hex) >= 12 && strspn(hex, "0123456789abcdef") == strlen(hex);
}

/* Where to: dest, else src when it names a registry. Local names
 * (localhost/...) and Docker Hub by default are never a guess. */
static int pick_dest(const char *src, const char *dest, const char **to, sv_error_t *err)
{
    cleanup_imgref struct sv_imgref r = {0};
    const char *t = dest ? dest : src;
    if (dest == NULL && is_id(src))
        return sv_error(err, 0,
                        "where to? %s names the image by its digest: servos image push %s "
                        "REGISTRY/REPO[:TAG]",
                        src, src);
    if (sv_imgref_parse(t, &r, err) < 0)
        return -1;
    size_t k = strlen(r.registry);
    bool named = strncmp(t, r.registry, k) == 0 && t[k] == '/';
    if (strcmp(r.registry, "localhost") == 0 || (dest == NULL && !named))
        return sv_error(
            err, 0,
            "where to? \"%s\" %s: servos image push %s REGISTRY/REPO[:TAG] "
            "(docker.io/USER/REPO for Docker Hub; a registry on this host is "
            "127.0.0.1:PORT or localhost:PORT)",
            t, strcmp(r.registry, "localhost") == 0 ? "is a local name" : "names no registry", src);
    if (r.digest[0])
        return sv_error(err, 0, "%s: push to a tag, not a digest (the digest is the image's)", t);
    *to = t;
    return 0;
}

int sv_regpush_image(const char *src, const char *dest, bool quiet, char digest[SV_DIGEST_LEN + 1],
                     sv_error_t *err)
{
    const char *to = NULL;
    int found = sv_image_lookup(src, digest, err);
    if (found == 1)
        return sv_error(err, 0, "no image \"%s\" in the store (servos image ls lists them)", src);
    if (found < 0 || pick_dest(src, dest, &to, err) < 0)
        return -1;
    cleanup_image struct sv_image img = {0};
    cleanup_regclient struct sv_regclient s = {0};
    if (sv_image_load(digest, &img, err) < 0 || sv_regclient_load(err) < 0 ||
        sv_regclient_open(&s, to, true, quiet, err) < 0)
        return -1;
    __attribute__((cleanup(jobs_free))) struct push p = {.s = &s};
    if (check_diff_ids(&img, err) < 0 ||
        sv_regconfig_chunk_size(DEFAULT_CHUNK, &p.chunk, err) < 0 || plan_jobs(&p, &img, err) < 0 ||
        sv_regclient_ping(&s, err) < 0 || push_blobs(&p, err) < 0 ||
        put_manifest(&s, digest, err) < 0)
        return sv_error_wrap(err, "pushing %s", to);
    char(*blobs)[SV_DIGEST_LEN + 1] = sv_xcalloc(p.n, sizeof(*blobs));
    for (size_t i = 0; i < p.n; i++)
        strcpy(blobs[i], p.jobs[i].digest);
    sv_regblobs_note(s.ref.registry, s.ref.repo, (const char(*)[SV_DIGEST_LEN + 1]) blobs, p.n);
    free(blobs);
    return 0;
}
