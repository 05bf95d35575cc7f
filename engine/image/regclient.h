/* One conversation with an OCI distribution registry, shared by pull
 * (registry.c) and push (regpush.c): libcurl loaded on first use, the
 * scheme (https; plain HTTP only for loopback and "insecure_registries"),
 * credentials (regconfig.h), the basic or bearer-token challenge, and
 * requests whose bodies come from memory or from a file. */
#ifndef SV_REGCLIENT_H
#define SV_REGCLIENT_H

#include "core/digest.h"
#include "image/imgref.h"
#include "core/util.h"

#include <curl/curl.h>
#include <pthread.h>

/* The libcurl calls servos makes, resolved by sv_regclient_load. */
struct sv_regclient_curl {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
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
};
extern struct sv_regclient_curl sv_regclient_curl;

/* Load libcurl (once) and initialise it: before any other call here, and
 * before a thread uses it. */
int sv_regclient_load(sv_error_t *err);

/* One registry, one repository. Requests may run from several threads at
 * once: the token is read and renewed under lock. */
struct sv_regclient {
    struct sv_imgref ref;
    const char *host;   /* the API's host[:port] */
    const char *scheme; /* "https" or "http", once pinged */
    char *cred;         /* user:password, or NULL */
    char *auth_header;  /* "Authorization: Bearer ..." once known, or NULL */
    char **scopes;      /* what a token is asked for: "repository:team/app:pull", ... */
    bool basic;         /* the registry asked for basic auth */
    bool quiet, tty;
    pthread_mutex_t lock;
};

/* Parse ref, find its credentials, and ask tokens for pull (and push)
 * access to its repository. */
int sv_regclient_open(struct sv_regclient *s, const char *ref, bool push, bool quiet,
                      sv_error_t *err);
/* Also ask for pull access to repo (a cross-repository mount's source). */
void sv_regclient_add_scope(struct sv_regclient *s, const char *repo);
void sv_regclient_close(struct sv_regclient *s);
/* Closed at scope exit; initialise with {0}. */
#define cleanup_regclient __attribute__((cleanup(sv_regclient_close)))

/* GET /v2/: picks the scheme and answers any challenge. */
int sv_regclient_ping(struct sv_regclient *s, sv_error_t *err);

/* What came back. */
struct sv_regclient_resp {
    long status;
    char *body;
    size_t len, cap;
    char *www_auth, *digest_hdr, *ctype, *location, *range;
    int64_t chunk_min; /* OCI-Chunk-Min-Length, 0 when absent */
    FILE *file;        /* blobs: written here instead of body */
    struct sv_sha256 *hash;
    size_t max;
    bool too_big;
};
void sv_regclient_resp_clear(struct sv_regclient_resp *r);
/* Cleared at scope exit; initialise with {0}. */
#define cleanup_regclient_resp __attribute__((cleanup(sv_regclient_resp_clear)))

/* A handle for url with the session's headers (accept: a whole header
 * line, or NULL), writing into r; *hdrs to free once it is done. */
CURL *sv_regclient_easy(struct sv_regclient *s, const char *url, struct sv_regclient_resp *r,
                        struct curl_slist **hdrs, const char *accept);

/* A request; the body (if any) from memory or from fd. */
struct sv_regclient_req {
    const char *method; /* "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE" */
    const char *url;
    const char *accept, *ctype, *content_range; /* header values, or NULL */
    const void *data;                           /* a body in memory, len bytes, or */
    int64_t len;
    bool from_file; /* size bytes of fd from off */
    int fd;
    int64_t off, size;
    int64_t *sent;     /* bytes sent so far (progress), or NULL */
    const int *cancel; /* the request stops when *cancel is set */
    CURL *handle;      /* reused (with its open connections), or NULL: a new one */
};
/* Perform q into r (cleared first); a 401 is answered (a token renewed)
 * and the request made once more. Fails only when no answer came. */
int sv_regclient_request(struct sv_regclient *s, const struct sv_regclient_req *q,
                         struct sv_regclient_resp *r, sv_error_t *err);

/* url, or url resolved against the registry when it is a path (a
 * Location header may be either). */
char *sv_regclient_absolute(struct sv_regclient *s, const char *url);

/* The error a status means, for what ("manifest", a digest): 401/403
 * access, 404 not found, else the status and the registry's message. */
int sv_regclient_http_error(struct sv_regclient *s, const char *what,
                            const struct sv_regclient_resp *r, sv_error_t *err);

#endif
