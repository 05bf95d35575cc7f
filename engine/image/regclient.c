/* The registry conversation pull and push share: libcurl on first use, the
 * scheme, credentials and tokens, and one request function. */
#include "image/regclient.h"

#include "core/dynlib.h"
#include "image/regconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DOC (4 << 20) /* a manifest, token or error larger than this is not one */

struct sv_regclient_curl sv_regclient_curl;

int sv_regclient_load(sv_error_t *err)
{
    static void *lib;
    static const char *const names[] = {
        "curl_global_init",         "curl_easy_init",     "curl_easy_setopt",
        "curl_easy_perform",        "curl_easy_getinfo",  "curl_easy_cleanup",
        "curl_easy_reset",          "curl_easy_strerror", "curl_slist_append",
        "curl_slist_free_all",      "curl_multi_init",    "curl_multi_add_handle",
        "curl_multi_remove_handle", "curl_multi_perform", "curl_multi_poll",
        "curl_multi_info_read",     "curl_multi_cleanup",
    };
    _Static_assert(sizeof(sv_regclient_curl) == sizeof(names), "one name per libcurl function");
    bool first = lib == NULL;
    if (sv_dynlib_load(&lib, "libcurl.so.4", names, (void **)&sv_regclient_curl,
                       SV_ARRAY_LEN(names), "to pull and push images (apt install libcurl4)",
                       err) < 0)
        return -1;
    /* Not thread-safe itself: done here, before any thread of a push. */
    if (first)
        sv_regclient_curl.global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

#define curl sv_regclient_curl

/* An error whose status tells callers what it was (EIO: no answer,
 * EACCES, ENOENT) while its message says it already: no errno text. */
static int fail(sv_error_t *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(sv_error_t *err, int status, const char *fmt, ...)
{
    if (err == NULL || *err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    sv_error(err, 0, "%s", msg ? msg : fmt);
    (*err)->status = status;
    return -1;
}

/* ---- the session ------------------------------------------------------------ */

int sv_regclient_open(struct sv_regclient *s, const char *ref, bool push, bool quiet,
                      sv_error_t *err)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    if (sv_imgref_parse(ref, &s->ref, err) < 0)
        return -1;
    s->host = sv_imgref_api_host(&s->ref);
    s->cred = sv_regconfig_credentials(s->ref.registry);
    if (s->cred == NULL && strcmp(s->ref.registry, "docker.io") == 0)
        s->cred = sv_regconfig_credentials("https://index.docker.io/v1/");
    s->scopes = sv_xcalloc(2, sizeof(char *));
    s->scopes[0] = sv_xasprintf("repository:%s:%s", s->ref.repo, push ? "pull,push" : "pull");
    s->quiet = quiet;
    s->tty = isatty(STDERR_FILENO);
    return 0;
}

void sv_regclient_add_scope(struct sv_regclient *s, const char *repo)
{
    cleanup_free char *scope = sv_xasprintf("repository:%s:pull", repo);
    size_t n = 0;
    for (; s->scopes[n]; n++)
        if (strncmp(s->scopes[n], scope, strlen(scope)) == 0)
            return;
    s->scopes = sv_xrealloc(s->scopes, (n + 2) * sizeof(char *));
    s->scopes[n] = sv_steal(scope);
    s->scopes[n + 1] = NULL;
}

void sv_regclient_close(struct sv_regclient *s)
{
    sv_imgref_clear(&s->ref);
    free(s->cred);
    free(s->auth_header);
    sv_strv_free(s->scopes);
    pthread_mutex_destroy(&s->lock);
    memset(s, 0, sizeof(*s));
}

/* ---- responses -------------------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct sv_regclient_resp *r = ud;
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

static void set_header(char **slot, char *v)
{
    free(*slot);
    *slot = v;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct sv_regclient_resp *r = ud;
    size_t len = size * n;
    char *v;
    if (len > 5 && strncmp(p, "HTTP/", 5) == 0) { /* a new response (after a redirect) */
        set_header(&r->www_auth, NULL);
        set_header(&r->location, NULL);
    } else if ((v = header_value(p, len, "WWW-Authenticate"))) {
        set_header(&r->www_auth, v);
    } else if ((v = header_value(p, len, "Docker-Content-Digest"))) {
        set_header(&r->digest_hdr, v);
    } else if ((v = header_value(p, len, "Content-Type"))) {
        set_header(&r->ctype, v);
    } else if ((v = header_value(p, len, "Location"))) {
        set_header(&r->location, v);
    } else if ((v = header_value(p, len, "Range"))) {
        set_header(&r->range, v);
    } else if ((v = header_value(p, len, "OCI-Chunk-Min-Length"))) {
        r->chunk_min = strtoll(v, NULL, 10);
        free(v);
    }
    return len;
}

void sv_regclient_resp_clear(struct sv_regclient_resp *r)
{
    free(r->body);
    free(r->www_auth);
    free(r->digest_hdr);
    free(r->ctype);
    free(r->location);
    free(r->range);
    memset(r, 0, sizeof(*r));
}

/* ---- requests --------------------------------------------------------------- */

/* The options every request has, on a new or a reset handle. */
static void setup(CURL *c, struct sv_regclient *s, const char *url, struct sv_regclient_resp *r,
                  struct curl_slist **hdrs, const char *accept)
{
    curl.easy_setopt(c, CURLOPT_URL, url);
    curl.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl.easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
    curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* a stalled transfer fails */
    curl.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(c, CURLOPT_USERAGENT, "servos");
    curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl.easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl.easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl.easy_setopt(c, CURLOPT_HEADERDATA, r);
    /* Proxies are for the internet; a registry on loopback is reached
     * directly whatever the environment says. */
    if (sv_imgref_loopback(&s->ref))
        curl.easy_setopt(c, CURLOPT_NOPROXY, "*");
    *hdrs = NULL;
    if (accept)
        *hdrs = curl.slist_append(*hdrs, accept);
    pthread_mutex_lock(&s->lock);
    if (s->auth_header)
        *hdrs = curl.slist_append(*hdrs, s->auth_header);
    if (s->basic) {
        curl.easy_setopt(c, CURLOPT_USERPWD, s->cred);
        curl.easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    }
    pthread_mutex_unlock(&s->lock);
    if (*hdrs)
        curl.easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
}

CURL *sv_regclient_easy(struct sv_regclient *s, const char *url, struct sv_regclient_resp *r,
                        struct curl_slist **hdrs, const char *accept)
{
    CURL *c = curl.easy_init();
    if (c)
        setup(c, s, url, r, hdrs, accept);
    return c;
}

/* libcurl's handles, released at scope exit (through the table: libcurl
 * is loaded, not linked). */
static void easy_cleanupp(CURL **c)
{
    if (*c)
        curl.easy_cleanup(*c);
}
static void slist_freep(struct curl_slist **l)
{
    if (*l)
        curl.slist_free_all(*l);
}
#define cleanup_easy  __attribute__((cleanup(easy_cleanupp)))
#define cleanup_slist __attribute__((cleanup(slist_freep)))

/* A request body, read by libcurl (again from the start after a redirect). */
struct body {
    const struct sv_regclient_req *q;
    int64_t pos;
};

static int64_t body_size(const struct sv_regclient_req *q)
{
    return q->from_file ? q->size : q->len;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    struct body *b = ud;
    int64_t left = body_size(b->q) - b->pos;
    size_t want = left < (int64_t)(size * n) ? (size_t)left : size * n;
    if (want == 0)
        return 0;
    if (b->q->from_file) {
        ssize_t k = pread(b->q->fd, buf, want, b->q->off + b->pos);
        if (k <= 0)
            return CURL_READFUNC_ABORT;
        want = (size_t)k;
    } else {
        memcpy(buf, (const char *)b->q->data + b->pos, want);
    }
    b->pos += (int64_t)want;
    return want;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    struct body *b = ud;
    if (origin != SEEK_SET || offset < 0 || offset > body_size(b->q))
        return CURL_SEEKFUNC_CANTSEEK;
    b->pos = offset;
    return CURL_SEEKFUNC_OK;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const struct sv_regclient_req *q = ud;
    if (q->sent)
        __atomic_store_n(q->sent, (int64_t)un, __ATOMIC_RELAXED);
    return q->cancel && __atomic_load_n(q->cancel, __ATOMIC_RELAXED);
}

/* The method, and the body when there is one. */
static void set_method(CURL *c, const struct sv_regclient_req *q, struct body *b,
                       struct curl_slist **h)
{
    bool has_body = q->from_file || q->data;
    if (strcmp(q->method, "HEAD") == 0) {
        curl.easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(q->method, "POST") == 0) {
        curl.easy_setopt(c, CURLOPT_POST, 1L);
        curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_size(q));
        if (!has_body)
            curl.easy_setopt(c, CURLOPT_POSTFIELDS, "");
    } else if (strcmp(q->method, "PUT") == 0 || strcmp(q->method, "PATCH") == 0) {
        curl.easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl.easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)body_size(q));
        if (strcmp(q->method, "PATCH") == 0)
            curl.easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PATCH");
    } else if (strcmp(q->method, "GET") != 0) {
        curl.easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
    }
    if (has_body) {
        curl.easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl.easy_setopt(c, CURLOPT_READDATA, b);
        curl.easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl.easy_setopt(c, CURLOPT_SEEKDATA, b);
        curl.easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 512L << 10);
        /* The token is known before a body is sent: waiting for "100
         * Continue" only costs a round trip, or a second with a server
         * that never sends one. */
        *h = curl.slist_append(*h, "Expect:");
    }
}

/* One request, its answer in r; *used: the token it carried. */
static int perform(struct sv_regclient *s, const struct sv_regclient_req *q,
                   struct sv_regclient_resp *r, char **used, sv_error_t *err)
{
    sv_regclient_resp_clear(r);
    r->max = MAX_DOC;
    cleanup_slist struct curl_slist *h = NULL;
    cleanup_easy CURL *own = q->handle ? NULL : curl.easy_init();
    CURL *c = q->handle ? q->handle : own;
    if (c == NULL)
        return sv_error(err, ENOMEM, "libcurl");
    if (q->handle)
        curl.easy_reset(c); /* the options go, the connections stay */
    setup(c, s, q->url, r, &h, q->accept);
    pthread_mutex_lock(&s->lock);
    *used = s->auth_header ? sv_xstrdup(s->auth_header) : NULL;
    pthread_mutex_unlock(&s->lock);
    struct body b = {.q = q};
    set_method(c, q, &b, &h);
    if (q->ctype) {
        cleanup_free char *line = sv_xasprintf("Content-Type: %s", q->ctype);
        h = curl.slist_append(h, line);
    }
    if (q->content_range) {
        cleanup_free char *line = sv_xasprintf("Content-Range: %s", q->content_range);
        h = curl.slist_append(h, line);
    }
    if (h)
        curl.easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (q->sent || q->cancel) {
        curl.easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl.easy_setopt(c, CURLOPT_XFERINFODATA, q);
        curl.easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    }
    CURLcode rc = curl.easy_perform(c);
    curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    /* The URL without its query (an upload's is a long opaque state). */
    int shown = (int)strcspn(q->url, "?");
    if (rc == CURLE_ABORTED_BY_CALLBACK)
        return fail(err, ECANCELED, "%.*s: cancelled", shown, q->url);
    if (rc != CURLE_OK)
        return fail(err, EIO, "%.*s: %s", shown, q->url,
                    r->too_big ? "the answer is too large" : curl.easy_strerror(rc));
    return 0;
}

static int authenticate(struct sv_regclient *s, const char *challenge, sv_error_t *err);

int sv_regclient_request(struct sv_regclient *s, const struct sv_regclient_req *q,
                         struct sv_regclient_resp *r, sv_error_t *err)
{
    for (int attempt = 0;; attempt++) {
        cleanup_free char *used = NULL;
        if (perform(s, q, r, &used, err) < 0)
            return -1;
        if (r->status != 401 || r->www_auth == NULL || attempt > 0)
            return 0;
        /* A token expired (or none was asked for yet): renew it, unless
         * another thread just did. */
        pthread_mutex_lock(&s->lock);
        int rc = 0;
        const char *now = s->auth_header;
        if ((used == NULL) == (now == NULL) && (used == NULL || strcmp(used, now) == 0))
            rc = authenticate(s, r->www_auth, err);
        pthread_mutex_unlock(&s->lock);
        if (rc < 0)
            return -1;
    }
}

char *sv_regclient_absolute(struct sv_regclient *s, const char *url)
{
    if (strstr(url, "://"))
        return sv_xstrdup(url);
    return sv_xasprintf("%s://%s%s%s", s->scheme, s->host, url[0] == '/' ? "" : "/", url);
}

/* ---- authentication ----------------------------------------------------------- */

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

/* realm?scope=...&scope=...&service=...: every scope the session needs,
 * so one token serves the whole pull or push. */
static char *token_url(struct sv_regclient *s, const char *realm, const char *challenge)
{
    cleanup_free char *service = challenge_param(challenge, "service");
    size_t cap = strlen(realm) + 32 + (service ? strlen(service) * 3 : 0);
    for (char **p = s->scopes; *p; p++)
        cap += strlen(*p) * 3 + 8;
    char *url = sv_xmalloc(cap), *o = url;
    o += sprintf(o, "%s", realm);
    char sep = strchr(realm, '?') ? '&' : '?';
    for (char **p = s->scopes; *p; p++, sep = '&') {
        cleanup_free char *e = url_escape(*p);
        o += sprintf(o, "%cscope=%s", sep, e);
    }
    if (service) {
        cleanup_free char *e = url_escape(service);
        sprintf(o, "%cservice=%s", sep, e);
    }
    return url;
}

/* A bearer token from realm (with the credentials when there are some):
 * s->auth_header from then on. Called with s->lock held. */
static int fetch_token(struct sv_regclient *s, const char *realm, const char *challenge,
                       sv_error_t *err)
{
    cleanup_free char *url = token_url(s, realm, challenge);
    cleanup_regclient_resp struct sv_regclient_resp r = {.max = MAX_DOC};
    CURL *c = curl.easy_init();
    if (c == NULL)
        return sv_error(err, ENOMEM, "libcurl");
    curl.easy_setopt(c, CURLOPT_URL, url);
    curl.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(c, CURLOPT_USERAGENT, "servos");
    curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl.easy_setopt(c, CURLOPT_WRITEDATA, &r);
    if (sv_imgref_loopback(&s->ref))
        curl.easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (s->cred) {
        curl.easy_setopt(c, CURLOPT_USERPWD, s->cred);
        curl.easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    }
    CURLcode rc = curl.easy_perform(c);
    curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl.easy_cleanup(c);
    if (rc != CURLE_OK)
        return fail(err, EIO, "token from %s: %s", realm, curl.easy_strerror(rc));
    if (r.status == 401 || r.status == 403)
        return fail(err, EACCES, "%s refused the credentials%s", realm,
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
 * from its realm (with the credentials when there are some). Called with
 * s->lock held. */
static int authenticate(struct sv_regclient *s, const char *challenge, sv_error_t *err)
{
    if (strncasecmp(challenge, "Basic", 5) == 0) {
        if (s->cred == NULL)
            return fail(err, EACCES,
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

static int get_v2(struct sv_regclient *s, const char *scheme, struct sv_regclient_resp *r,
                  sv_error_t *err)
{
    cleanup_free char *url = sv_xasprintf("%s://%s/v2/", scheme, s->host);
    cleanup_free char *used = NULL;
    struct sv_regclient_req q = {.method = "GET", .url = url};
    return perform(s, &q, r, &used, err);
}

int sv_regclient_ping(struct sv_regclient *s, sv_error_t *err)
{
    cleanup_regclient_resp struct sv_regclient_resp r = {0};
    bool plain_ok = sv_imgref_loopback(&s->ref) || sv_regconfig_insecure(s->ref.registry);
    s->scheme = "https";
    sv_error_t e = NULL;
    if (get_v2(s, "https", &r, &e) < 0) {
        if (!plain_ok) {
            *err = e;
            return sv_error_wrap(err, "registry %s", s->host);
        }
        sv_error_free(&e);
        s->scheme = "http";
        if (get_v2(s, "http", &r, err) < 0)
            return sv_error_wrap(err, "registry %s", s->host);
    }
    if (r.status == 401 && r.www_auth) {
        pthread_mutex_lock(&s->lock);
        int rc = authenticate(s, r.www_auth, err);
        pthread_mutex_unlock(&s->lock);
        return rc;
    }
    if (r.status != 200 && r.status != 401)
        return sv_error(err, EPROTO, "%s is not a registry (GET /v2/: HTTP %ld)", s->host,
                        r.status);
    return 0;
}

/* " (CODE: message)" from the registry's error document, or "". */
static char *registry_says(const struct sv_regclient_resp *r)
{
    cleanup_json json_t *j = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    json_t *e = json_array_get(json_object_get(j, "errors"), 0);
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (code == NULL && msg == NULL)
        return sv_xstrdup("");
    return sv_xasprintf(" (%s%s%s)", code ? code : "", code && msg ? ": " : "", msg ? msg : "");
}

int sv_regclient_http_error(struct sv_regclient *s, const char *what,
                            const struct sv_regclient_resp *r, sv_error_t *err)
{
    cleanup_free char *name = sv_imgref_name(&s->ref);
    cleanup_free char *says = registry_says(r);
    if (r->status == 401 || r->status == 403)
        return fail(err, EACCES, "%s: %s: access denied (HTTP %ld)%s%s", name, what, r->status,
                    says, s->cred ? "" : "; no credentials configured for this registry");
    if (r->status == 404)
        return fail(err, ENOENT, "%s: %s not found%s", name, what, says);
    return fail(err, EPROTO, "%s: %s: HTTP %ld%s", name, what, r->status, says);
}
