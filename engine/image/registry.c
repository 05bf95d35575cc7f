#include "image/registry.h"

#include "core/dynlib.h"
#include "image/imgblob.h"
#include "image/imgref.h"
#include "image/imgstore.h"
#include "image/regconfig.h"
#include "host/userns.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DOC (4 << 20)

static const char accept_manifests[] = "Accept: application/vnd.oci.image.index.v1+json, "
                                       "application/vnd.docker.distribution.manifest.list.v2+json, "
                                       "application/vnd.oci.image.manifest.v1+json, "
                                       "application/vnd.docker.distribution.manifest.v2+json";

/* ---- libcurl, loaded on first use ----------------------------------------- */

static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
} libcurl;

static int load_curl(sv_error_t *err)
{
    static void *lib;
    static const char *const names[] = {
        "curl_global_init",   "curl_easy_init",        "curl_easy_setopt",
        "curl_easy_perform",  "curl_easy_getinfo",     "curl_easy_cleanup",
        "curl_easy_strerror", "curl_slist_append",     "curl_slist_free_all",
        "curl_multi_init",    "curl_multi_add_handle", "curl_multi_remove_handle",
        "curl_multi_perform", "curl_multi_poll",       "curl_multi_info_read",
        "curl_multi_cleanup",
    };
    _Static_assert(sizeof(libcurl) == sizeof(names), "one name per libcurl function");
    bool first = lib == NULL;
    if (sv_dynlib_load(&lib, "libcurl.so.4", names, (void **)&libcurl, SV_ARRAY_LEN(names),
                       "to pull images (apt install libcurl4)", err) < 0)
        return -1;
    if (first)
        libcurl.global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

/* libcurl's handles, released at scope exit (through the table: libcurl
 * is loaded, not linked). */
static void easy_cleanupp(CURL **c)
{
    if (*c)
        libcurl.easy_cleanup(*c);
}
static void slist_freep(struct curl_slist **l)
{
    if (*l)
        libcurl.slist_free_all(*l);
}
#define cleanup_easy  __attribute__((cleanup(easy_cleanupp)))
#define cleanup_slist __attribute__((cleanup(slist_freep)))

/* ---- one registry session --------------------------------------------------- */

struct session {
    struct sv_imgref ref;
    const char *host;
    const char *scheme; /* "https" or "http" */
    char *cred;         /* user:password, or NULL */
    char *auth_header;  /* "Authorization: Bearer ..." once known, or NULL */
    bool basic;         /* the registry asked for basic auth */
    bool quiet, tty;
};

struct response {
    long status;
    char *body;
    size_t len, cap;
    char *www_auth, *digest_hdr, *ctype;
    FILE *file; /* blobs: written here instead of body */
    struct sv_sha256 *hash;
    size_t max;
    bool too_big;
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct response *r = ud;
    size_t len = size * n;
    if (r->file) {
        sv_sha256_update(r->hash, p, len);
        return fwrite(p, 1, len, r->file) == len ? len : 0;
    }
    if (r->len + len > r->max) {
        r->too_big = true;
        return 0;
    }
    if (r->len + len + 1 > r->cap) {
        r->cap = (r->len + len + 1) * 2;
        r->body = sv_xrealloc(r->body, r->cap);
    }
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static char *header_value(const char *line, size_t len, const char *name)
{
    size_t k = strlen(name);
    if (len <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return NULL;
    const char *v = line + k + 1;
    while (*v == ' ')
        v++;
    size_t vl = len - (size_t)(v - line);
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    return sv_xstrndup(v, vl);
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct response *r = ud;
    size_t len = size * n;
    char *v;
    if (len > 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (after a redirect) */
        free(r->www_auth), r->www_auth = NULL;
    } else if ((v = header_value(p, len, "WWW-Authenticate"))) {
        free(r->www_auth), r->www_auth = v;
    } else if ((v = header_value(p, len, "Docker-Content-Digest"))) {
        free(r->digest_hdr), r->digest_hdr = v;
    } else if ((v = header_value(p, len, "Content-Type"))) {
        free(r->ctype), r->ctype = v;
    }
    return len;
}

static void response_clear(struct response *r)
{
    free(r->body);
    free(r->www_auth);
    free(r->digest_hdr);
    free(r->ctype);
    memset(r, 0, sizeof(*r));
}
/* Cleared at scope exit; initialise with {0}. */
#define cleanup_response __attribute__((cleanup(response_clear)))

static CURL *easy(struct session *s, const char *url, struct response *r, struct curl_slist **hdrs,
                  const char *accept)
{
    CURL *c = libcurl.easy_init();
    if (c == NULL)
        return NULL;
    libcurl.easy_setopt(c, CURLOPT_URL, url);
    libcurl.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    libcurl.easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    libcurl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    libcurl.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled transfer fails */
    libcurl.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    libcurl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    libcurl.easy_setopt(c, CURLOPT_USERAGENT, "servos");
    libcurl.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    libcurl.easy_setopt(c, CURLOPT_WRITEDATA, r);
    libcurl.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    libcurl.easy_setopt(c, CURLOPT_HEADERDATA, r);
    /* Proxies are for the internet; a registry on loopback is reached
     * directly whatever the environment says. */
    if (sv_imgref_loopback(&s->ref))
        libcurl.easy_setopt(c, CURLOPT_NOPROXY, "*");
    *hdrs = NULL;
    if (accept)
        *hdrs = libcurl.slist_append(*hdrs, accept);
    if (s->auth_header)
        *hdrs = libcurl.slist_append(*hdrs, s->auth_header);
    if (s->basic) {
        libcurl.easy_setopt(c, CURLOPT_USERPWD, s->cred);
        libcurl.easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    }
    if (*hdrs)
        libcurl.easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    return c;
}

/* A GET into memory (r is cleared first); r->status set. */
static int http_get(struct session *s, const char *url, const char *accept, struct response *r,
                    sv_error_t *err)
{
    response_clear(r);
    r->max = MAX_DOC;
    cleanup_slist struct curl_slist *h = NULL;
    cleanup_easy CURL *c = easy(s, url, r, &h, accept);
    if (c == NULL)
        return sv_error(err, ENOMEM, "libcurl");
    CURLcode rc = libcurl.easy_perform(c);
    libcurl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    if (rc != CURLE_OK)
        return sv_error(err, EIO, "%s: %s", url,
                        r->too_big ? "the answer is too large" : libcurl.easy_strerror(rc));
    return 0;
}

/* key="value" out of a WWW-Authenticate challenge. */
static char *challenge_param(const char *ch, const char *key)
{
    size_t k = strlen(key);
    for (const char *p = ch; (p = strcasestr(p, key)); p += k) {
        if ((p != ch && p[-1] != ' ' && p[-1] != ',') || p[k] != '=')
            continue;
        const char *v = p + k + 1;
        if (*v == '"') {
            const char *e = strchr(v + 1, '"');
            return e ? sv_xstrndup(v + 1, (size_t)(e - v - 1)) : NULL;
        }
        return sv_xstrndup(v, strcspn(v, ","));
    }
    return NULL;
}

static char *url_escape(const char *s)
{
    char *out = sv_xmalloc(strlen(s) * 3 + 1), *o = out;
    for (; *s; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            strchr("-_.~", *s))
            *o++ = *s;
        else
            o += sprintf(o, "%%%02X", (unsigned char)*s);
    }
    *o = '\0';
    return out;
}

/* A bearer token from realm for pulling the session's repository (with the
 * credentials when there are some): s->auth_header from then on. */
static int fetch_token(struct session *s, const char *realm, const char *challenge, sv_error_t *err)
{
    cleanup_free char *service = challenge_param(challenge, "service");
    cleanup_free char *scope = sv_xasprintf("repository:%s:pull", s->ref.repo);
    cleanup_free char *escope = url_escape(scope);
    cleanup_free char *eservice = service ? url_escape(service) : NULL;
    cleanup_free char *url =
        sv_xasprintf("%s%sscope=%s%s%s", realm, strchr(realm, '?') ? "&" : "?", escope,
                     eservice ? "&service=" : "", eservice ? eservice : "");
    cleanup_response struct response r = {.max = MAX_DOC};
    cleanup_slist struct curl_slist *h = NULL;
    char *saved = s->auth_header;
    s->auth_header = NULL; /* the token request goes without the old token */
    cleanup_easy CURL *c = easy(s, url, &r, &h, NULL);
    s->auth_header = saved;
    if (c == NULL)
        return sv_error(err, ENOMEM, "libcurl");
    if (s->cred) {
        libcurl.easy_setopt(c, CURLOPT_USERPWD, s->cred);
        libcurl.easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    }
    CURLcode rc = libcurl.easy_perform(c);
    libcurl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    if (rc != CURLE_OK)
        return sv_error(err, EIO, "token from %s: %s", realm, libcurl.easy_strerror(rc));
    if (r.status == 401 || r.status == 403)
        return sv_error(err, EACCES, "%s refused the credentials%s", realm,
                        s->cred ? "" : " (none configured)");
    cleanup_json json_t *j = json_loadb(r.body ? r.body : "", r.len, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (tok == NULL)
        tok = json_string_value(json_object_get(j, "access_token"));
    if (r.status != 200 || tok == NULL)
        return sv_error(err, EPROTO, "token from %s: HTTP %ld, no token", realm, r.status);
    free(s->auth_header);
    s->auth_header = sv_xasprintf("Authorization: Bearer %s", tok);
    return 0;
}

/* Answer the registry's challenge: basic credentials, or a bearer token
 * from its realm (with the credentials when there are some). */
static int authenticate(struct session *s, const char *challenge, sv_error_t *err)
{
    if (strncasecmp(challenge, "Basic", 5) == 0) {
        if (s->cred == NULL)
            return sv_error(err, EACCES,
                            "%s requires credentials: none for it in %s, $REGISTRY_AUTH_FILE or "
                            "~/.docker/config.json",
                            s->host, sv_regconfig_path());
        s->basic = true; /* libcurl sends user:password with every request */
        return 0;
    }
    if (strncasecmp(challenge, "Bearer", 6) != 0)
        return sv_error(err, ENOTSUP, "%s: unsupported authentication \"%s\"", s->host, challenge);
    cleanup_free char *realm = challenge_param(challenge, "realm");
    if (realm == NULL)
        return sv_error(err, EPROTO, "%s: a bearer challenge without a realm", s->host);
    return fetch_token(s, realm, challenge, err);
}

/* GET /v2/: picks the scheme and answers any challenge. */
static int ping(struct session *s, sv_error_t *err)
{
    cleanup_response struct response r = {0};
    bool plain_ok = sv_imgref_loopback(&s->ref) || sv_regconfig_insecure(s->ref.registry);
    s->scheme = "https";
    cleanup_free char *url = sv_xasprintf("https://%s/v2/", s->host);
    sv_error_t e = NULL;
    if (http_get(s, url, NULL, &r, &e) < 0) {
        if (!plain_ok) {
            *err = e;
            return sv_error_wrap(err, "registry %s", s->host);
        }
        sv_error_free(&e);
        s->scheme = "http";
        free(url);
        url = sv_xasprintf("http://%s/v2/", s->host);
        if (http_get(s, url, NULL, &r, err) < 0)
            return sv_error_wrap(err, "registry %s", s->host);
    }
    if (r.status == 401 && r.www_auth)
        return authenticate(s, r.www_auth, err);
    if (r.status != 200 && r.status != 401)
        return sv_error(err, EPROTO, "%s is not a registry (GET /v2/: HTTP %ld)", s->host,
                        r.status);
    return 0;
}

static int http_error(struct session *s, const char *what, const struct response *r,
                      sv_error_t *err)
{
    cleanup_free char *name = sv_imgref_name(&s->ref);
    if (r->status == 401 || r->status == 403)
        return sv_error(err, EACCES, "%s: %s: access denied (HTTP %ld)%s", name, what, r->status,
                        s->cred ? "" : "; no credentials configured for this registry");
    if (r->status == 404)
        return sv_error(err, ENOENT, "%s: %s not found", name, what);
    return sv_error(err, EPROTO, "%s: %s: HTTP %ld", name, what, r->status);
}

/* Fetch a manifest (by tag or digest), verified when the digest is known. */
static int fetch_manifest(struct session *s, const char *reference, const char *expect,
                          struct response *r, char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    cleanup_free char *url =
        sv_xasprintf("%s://%s/v2/%s/manifests/%s", s->scheme, s->host, s->ref.repo, reference);
    if (http_get(s, url, accept_manifests, r, err) < 0)
        return -1;
    if (r->status != 200)
        return http_error(s, "manifest", r, err);
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
    struct response r;
    CURL *c;
    struct curl_slist *h;
    curl_off_t now; /* bytes so far, for the progress bar */
};

/* The blobs of one pull, downloading at once. */
struct blob_fetch {
    struct session *s;
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
            libcurl.multi_remove_handle(f->multi, t->c);
            libcurl.easy_cleanup(t->c);
        }
        if (t->h)
            libcurl.slist_free_all(t->h);
        if (t->r.file)
            fclose(t->r.file);
        sv_sha256_free(t->r.hash);
        t->r.hash = NULL;
        t->r.file = NULL;
        if (t->tmp)
            unlink(t->tmp); /* committed ones were renamed away */
        free(t->tmp);
        response_clear(&t->r);
    }
    if (f->multi)
        libcurl.multi_cleanup(f->multi);
    free(f->t);
}
#define cleanup_blob_fetch __attribute__((cleanup(blob_fetch_free)))

/* Start downloading blob i into a temporary file. */
static int add_transfer(struct blob_fetch *f, size_t i, const char *digest, sv_error_t *err)
{
    struct session *s = f->s;
    struct transfer *t = &f->t[i];
    strcpy(t->digest, digest);
    t->tmp = sv_blob_tmp_path();
    if (t->tmp == NULL || (t->r.file = fopen(t->tmp, "wxe")) == NULL)
        return sv_error(err, errno, "cannot create a temporary blob file");
    if (sv_sha256_new(&t->r.hash, err) < 0)
        return -1;
    cleanup_free char *url =
        sv_xasprintf("%s://%s/v2/%s/blobs/%s", s->scheme, s->host, s->ref.repo, digest);
    t->c = easy(s, url, &t->r, &t->h, NULL);
    libcurl.easy_setopt(t->c, CURLOPT_XFERINFOFUNCTION, on_progress);
    libcurl.easy_setopt(t->c, CURLOPT_XFERINFODATA, t);
    libcurl.easy_setopt(t->c, CURLOPT_NOPROGRESS, 0L);
    libcurl.easy_setopt(t->c, CURLOPT_PRIVATE, t);
    libcurl.multi_add_handle(f->multi, t->c);
    return 0;
}

/* A transfer is done: its file closed and its digest checked, then into
 * the store. Returns rc, or the error this transfer ended in. */
static int finish_transfer(struct blob_fetch *f, CURLMsg *msg, int rc, sv_error_t *err)
{
    struct transfer *x = NULL;
    libcurl.easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    libcurl.easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &x->r.status);
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
        return sv_error(err, EIO, "blob %s: %s", x->digest, libcurl.easy_strerror(res));
    if (x->r.status != 200)
        return http_error(f->s, x->digest, &x->r, err);
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

static int fetch_blobs(struct session *s, char (*digests)[SV_DIGEST_LEN + 1], size_t n,
                       int64_t expected, sv_error_t *err)
{
    cleanup_blob_fetch struct blob_fetch f = {.s = s,
                                              .multi = libcurl.multi_init(),
                                              .t = sv_xcalloc(n + 1, sizeof(struct transfer)),
                                              .n = n,
                                              .expected = expected};
    for (size_t i = 0; i < n; i++)
        if (add_transfer(&f, i, digests[i], err) < 0)
            return -1;
    int rc = 0, running = 1;
    int64_t last_draw = 0;
    while (running > 0 && rc == 0) {
        libcurl.multi_perform(f.multi, &running);
        CURLMsg *msg;
        int left;
        while ((msg = libcurl.multi_info_read(f.multi, &left)))
            if (msg->msg == CURLMSG_DONE)
                rc = finish_transfer(&f, msg, rc, err);
        if (running > 0 && rc == 0) {
            libcurl.multi_poll(f.multi, NULL, 0, 200, NULL);
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

static bool is_index(const struct response *r)
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
static int fetch_image_manifest(struct session *s, struct response *r,
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

static int pull(struct session *s, char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    if (ping(s, err) < 0)
        return -1;
    cleanup_response struct response r = {0};
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
    return unpack_now(digest, err);
}

static void session_clear(struct session *s)
{
    sv_imgref_clear(&s->ref);
    free(s->cred);
    free(s->auth_header);
}
/* Cleared at scope exit; initialise with {0}. */
#define cleanup_session __attribute__((cleanup(session_clear)))

int sv_registry_pull(const char *ref, bool quiet, char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    if (load_curl(err) < 0)
        return -1;
    cleanup_session struct session s = {0};
    if (sv_imgref_parse(ref, &s.ref, err) < 0)
        return -1;
    s.host = sv_imgref_api_host(&s.ref);
    s.cred = sv_regconfig_credentials(s.ref.registry);
    if (s.cred == NULL && strcmp(s.ref.registry, "docker.io") == 0)
        s.cred = sv_regconfig_credentials("https://index.docker.io/v1/");
    s.quiet = quiet;
    s.tty = isatty(STDERR_FILENO);
    if (pull(&s, digest, err) < 0)
        return sv_error_wrap(err, "pulling %s", ref);
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
