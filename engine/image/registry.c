#include "image/registry.h"
#include "core/events.h"

#include "image/imgblob.h"
#include "image/imgref.h"
#include "image/imgstore.h"
#include "image/regblobs.h"
#include "image/regclient.h"
#include "host/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A short name for libcurl's table in this file. */
#define curl sv_regclient_curl

static const char accept_manifests[] = "Accept: application/vnd.oci.image.index.v1+json, "
                                       "application/vnd.docker.distribution.manifest.list.v2+json, "
                                       "application/vnd.oci.image.manifest.v1+json, "
                                       "application/vnd.docker.distribution.manifest.v2+json";

/* Fetch a manifest (by tag or digest), verified when the digest is known. */
static int fetch_manifest(struct sv_regclient *s, const char *reference, const char *expect,
                          struct sv_regclient_resp *r, char digest[SV_DIGEST_LEN + 1],
                          sv_error_t *err)
{
    cleanup_free char *url =
        sv_xasprintf("%s://%s/v2/%s/manifests/%s", s->scheme, s->host, s->ref.repo, reference);
    struct sv_regclient_req q = {.method = "GET", .url = url, .accept = accept_manifests};
    if (sv_regclient_request(s, &q, r, err) < 0)
        return -1;
    if (r->status != 200)
        return sv_regclient_http_error(s, "manifest", r, err);
    if (sv_digest_mem(r->body ? r->body : "", r->len, digest, err) < 0)
        return -1;
    const char *want = expect ? expect : r->digest_hdr;
    if (want && sv_digest_valid(want) && strcmp(want, digest) != 0)
        return sv_error(err, EBADMSG, "manifest %s: the content's digest is %s", want, digest);
    return 0;
}

/* ---- blobs, in parallel ----------------------------------------------------- */

struct transfer {
    char digest[SV_DIGEST_LEN + 1];
    char *tmp;
    struct sv_regclient_resp r;
    CURL *c;
    struct curl_slist *h;
    curl_off_t now; /* bytes so far, for the progress bar */
};

/* The blobs of one pull, downloading at once. */
struct blob_fetch {
    struct sv_regclient *s;
    CURLM *multi;
    struct transfer *t;
    size_t n;
    int64_t expected; /* bytes, for the progress bar */
};

static void draw(const struct blob_fetch *f, bool final)
{
    if (f->s->quiet || !f->s->tty)
        return;
    int64_t now = 0;
    for (size_t i = 0; i < f->n; i++)
        now += f->t[i].now;
    int64_t total = f->expected > 0 ? f->expected : 1;
    int width = 30, fill = (int)(now * width / total);
    if (fill > width)
        fill = width;
    cleanup_free char *name = sv_imgref_name(&f->s->ref);
    fprintf(stderr, "\r%-40.40s [%.*s%*s] %6.1f/%.1f MB%s", name, fill,
            "==============================", width - fill, "", now / 1e6, total / 1e6,
            final ? "\n" : "");
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ult,
                       curl_off_t uln)
{
    (void)dltotal, (void)ult, (void)uln;
    struct transfer *t = ud;
    t->now = dlnow;
    return 0;
}

/* Every transfer's handles and files; temporary files not committed are
 * removed. */
static void blob_fetch_free(struct blob_fetch *f)
{
    for (size_t i = 0; i < f->n; i++) {
        struct transfer *t = &f->t[i];
        if (t->c) {
            curl.multi_remove_handle(f->multi, t->c);
            curl.easy_cleanup(t->c);
        }
        if (t->h)
            curl.slist_free_all(t->h);
        if (t->r.file)
            fclose(t->r.file);
        sv_sha256_free(t->r.hash);
        t->r.hash = NULL;
        t->r.file = NULL;
        if (t->tmp)
            unlink(t->tmp); /* committed ones were renamed away */
        free(t->tmp);
        sv_regclient_resp_clear(&t->r);
    }
    if (f->multi)
        curl.multi_cleanup(f->multi);
    free(f->t);
}
#define cleanup_blob_fetch __attribute__((cleanup(blob_fetch_free)))

/* Start downloading blob i into a temporary file. */
static int add_transfer(struct blob_fetch *f, size_t i, const char *digest, sv_error_t *err)
{
    struct sv_regclient *s = f->s;
    struct transfer *t = &f->t[i];
    strcpy(t->digest, digest);
    t->tmp = sv_blob_tmp_path();
    if (t->tmp == NULL || (t->r.file = fopen(t->tmp, "wxe")) == NULL)
        return sv_error(err, errno, "cannot create a temporary blob file");
    if (sv_sha256_new(&t->r.hash, err) < 0)
        return -1;
    cleanup_free char *url =
        sv_xasprintf("%s://%s/v2/%s/blobs/%s", s->scheme, s->host, s->ref.repo, digest);
    t->c = sv_regclient_easy(s, url, &t->r, &t->h, NULL);
    curl.easy_setopt(t->c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl.easy_setopt(t->c, CURLOPT_XFERINFODATA, t);
    curl.easy_setopt(t->c, CURLOPT_NOPROGRESS, 0L);
    curl.easy_setopt(t->c, CURLOPT_PRIVATE, t);
    curl.multi_add_handle(f->multi, t->c);
    return 0;
}

/* A transfer is done: its file closed and its digest checked, then into
 * the store. Returns rc, or the error this transfer ended in. */
static int finish_transfer(struct blob_fetch *f, CURLMsg *msg, int rc, sv_error_t *err)
{
    struct transfer *x = NULL;
    curl.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    curl.easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &x->r.status);
    CURLcode res = msg->data.result;
    /* Closed now, not at the end: the file is complete only then. */
    fclose(x->r.file);
    x->r.file = NULL;
    char got[SV_DIGEST_LEN + 1];
    sv_sha256_final(x->r.hash, got);
    x->r.hash = NULL;
    if (rc < 0)
        return rc;
    if (res != CURLE_OK)
        return sv_error(err, EIO, "blob %s: %s", x->digest, curl.easy_strerror(res));
    if (x->r.status != 200)
        return sv_regclient_http_error(f->s, x->digest, &x->r, err);
    if (strcmp(got, x->digest) != 0)
        return sv_error(err, EBADMSG,
                        "blob %s: the downloaded content's digest is %s: corrupt, not stored",
                        x->digest, got);
    if (sv_blob_commit(x->tmp, x->digest, err) < 0)
        return -1;
    if (!f->s->quiet && !f->s->tty)
        fprintf(stderr, "servos: pulled %s (%.1f MB)\n", x->digest, x->now / 1e6);
    return 0;
}

static int fetch_blobs(struct sv_regclient *s, char (*digests)[SV_DIGEST_LEN + 1], size_t n,
                       int64_t expected, sv_error_t *err)
{
    cleanup_blob_fetch struct blob_fetch f = {.s = s,
                                              .multi = curl.multi_init(),
                                              .t = sv_xcalloc(n + 1, sizeof(struct transfer)),
                                              .n = n,
                                              .expected = expected};
    for (size_t i = 0; i < n; i++)
        if (add_transfer(&f, i, digests[i], err) < 0)
            return -1;
    int rc = 0, running = 1;
    int64_t last_draw = 0;
    while (running > 0 && rc == 0) {
        curl.multi_perform(f.multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl.multi_info_read(f.multi, &left)))
            if (msg->msg == CURLMSG_DONE)
                rc = finish_transfer(&f, msg, rc, err);
        if (running > 0 && rc == 0) {
            curl.multi_poll(f.multi, NULL, 0, 200, NULL);
            int64_t t_ms = sv_now_ms();
            if (t_ms - last_draw >= 100) {
                draw(&f, false);
                last_draw = t_ms;
            }
        }
    }
    if (rc == 0)
        draw(&f, true);
    return rc;
}

/* ---- pull ------------------------------------------------------------------- */

static bool is_index(const struct sv_regclient_resp *r)
{
    const char *t = r->ctype ? r->ctype : "";
    if (strstr(t, "index") || strstr(t, "manifest.list"))
        return true;
    cleanup_json json_t *j = json_loadb(r->body ? r->body : "", r->len, 0, NULL);
    return json_is_array(json_object_get(j, "manifests"));
}

/* Unpack the layers for the containers' id range as part of the pull, as
 * Docker and podman do, so the first start does not pay for it. */
static int unpack_now(const char *digest, sv_error_t *err)
{
    struct sv_idmap map;
    cleanup_image struct sv_image img = {0};
    if (sv_userns_range(&map, err) < 0 || sv_image_load(digest, &img, err) < 0)
        return -1;
    cleanup_free char *lower = NULL;
    return sv_image_lowerdirs(&img, &map, &lower, err);
}

/* The image manifest ref names, for this host's platform when it names an
 * index; digest set to the manifest's. */
static int fetch_image_manifest(struct sv_regclient *s, struct sv_regclient_resp *r,
                                char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    const char *reference = s->ref.digest[0] ? s->ref.digest : s->ref.tag;
    if (fetch_manifest(s, reference, s->ref.digest[0] ? s->ref.digest : NULL, r, digest, err) < 0)
        return -1;
    if (!is_index(r))
        return 0;
    cleanup_free char *chosen = NULL;
    if (sv_image_pick_platform(r->body, r->len, &chosen, err) < 0)
        return -1;
    return fetch_manifest(s, chosen, chosen, r, digest, err);
}

/* What the store lacks of img: its config and its layers, each once. */
static size_t missing_blobs(const struct sv_image *img, char (*need)[SV_DIGEST_LEN + 1])
{
    size_t n = 0;
    if (!sv_blob_exists(img->config))
        strcpy(need[n++], img->config);
    for (size_t i = 0; i < img->n_layers; i++) {
        bool dup = false;
        for (size_t k = 0; k < n; k++)
            dup = dup || strcmp(need[k], img->layers[i]) == 0;
        if (!dup && !sv_blob_exists(img->layers[i]))
            strcpy(need[n++], img->layers[i]);
    }
    return n;
}

static int pull(struct sv_regclient *s, char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    if (sv_regclient_ping(s, err) < 0)
        return -1;
    cleanup_regclient_resp struct sv_regclient_resp r = {0};
    if (fetch_image_manifest(s, &r, digest, err) < 0)
        return -1;
    cleanup_image struct sv_image img = {0};
    if (sv_image_parse_manifest(r.body ? r.body : "", r.len, &img, err) < 0)
        return sv_error_wrap(err, "%s", s->ref.digest[0] ? s->ref.digest : s->ref.tag);
    cleanup_free char(*need)[SV_DIGEST_LEN + 1] = sv_xcalloc(img.n_layers + 1, sizeof(*need));
    size_t n = missing_blobs(&img, need);
    if (n && fetch_blobs(s, need, n, img.size, err) < 0)
        return -1;
    char stored[SV_DIGEST_LEN + 1];
    if (sv_blob_put(r.body, r.len, stored, err) < 0)
        return -1;
    cleanup_free char *name = sv_imgref_name(&s->ref);
    if (sv_image_record(name, digest, err) < 0)
        return -1;
    /* Where these blobs live, for a push to this registry to mount them. */
    strcpy(need[0], img.config);
    for (size_t i = 0; i < img.n_layers; i++)
        strcpy(need[i + 1], img.layers[i]);
    sv_regblobs_note(s->ref.registry, s->ref.repo, (const char(*)[SV_DIGEST_LEN + 1]) need,
                     img.n_layers + 1);
    return unpack_now(digest, err);
}

int sv_registry_pull(const char *ref, bool quiet, char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    cleanup_regclient struct sv_regclient s = {0};
    if (sv_regclient_load(err) < 0 || sv_regclient_open(&s, ref, false, quiet, err) < 0)
        return -1;
    if (pull(&s, digest, err) < 0)
        return sv_error_wrap(err, "pulling %s", ref);
    cleanup_free char *what = sv_xasprintf("%s %s", ref, digest);
    sv_events_add(NULL, "image.pull", NULL, what, NULL);
    return 0;
}

int sv_registry_ensure(const char *image, bool quiet, sv_error_t *err)
{
    if (strcmp(image, "host") == 0 || image[0] == '/' || image[0] == '.' ||
        access(image, F_OK) == 0)
        return 0;
    char digest[SV_DIGEST_LEN + 1];
    int found = sv_image_lookup(image, digest, err);
    if (found <= 0)
        return found;
    return sv_registry_pull(image, quiet, digest, err);
}
