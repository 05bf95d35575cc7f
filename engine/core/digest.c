#include "core/digest.h"

#include "core/dynlib.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    void *(*ctx_new)(void);
    void (*ctx_free)(void *);
    const void *(*sha256)(void);
    int (*init)(void *, const void *, void *);
    int (*update)(void *, const void *, size_t);
    int (*final)(void *, unsigned char *, unsigned int *);
} evp;

static int load_crypto(sv_error_t *err)
{
    static void *lib;
    static const char *const names[] = {"EVP_MD_CTX_new",   "EVP_MD_CTX_free",
                                        "EVP_sha256",       "EVP_DigestInit_ex",
                                        "EVP_DigestUpdate", "EVP_DigestFinal_ex"};
    _Static_assert(sizeof(evp) == sizeof(names), "one name per libcrypto function");
    return sv_dynlib_load(&lib, "libcrypto.so.3", names, (void **)&evp, SV_ARRAY_LEN(names),
                          "to verify image digests (apt install libssl3)", err);
}

struct sv_sha256 {
    void *ctx;
};

int sv_sha256_new(struct sv_sha256 **h, sv_error_t *err)
{
    if (load_crypto(err) < 0)
        return -1;
    void *ctx = evp.ctx_new();
    if (ctx == NULL || evp.init(ctx, evp.sha256(), NULL) != 1) {
        evp.ctx_free(ctx);
        return sv_error(err, 0, "libcrypto: cannot start a SHA-256 digest");
    }
    *h = sv_xmalloc(sizeof(**h));
    (*h)->ctx = ctx;
    return 0;
}

void sv_sha256_update(struct sv_sha256 *h, const void *data, size_t len)
{
    evp.update(h->ctx, data, len);
}

void sv_sha256_final(struct sv_sha256 *h, char out[SV_DIGEST_LEN + 1])
{
    unsigned char md[32];
    unsigned int n = 0;
    evp.final(h->ctx, md, &n);
    char *p = out + sprintf(out, "sha256:");
    for (int i = 0; i < 32; i++)
        p += sprintf(p, "%02x", md[i]);
    sv_sha256_free(h);
}

void sv_sha256_free(struct sv_sha256 *h)
{
    if (h == NULL)
        return;
    evp.ctx_free(h->ctx);
    free(h);
}

void sv_sha256_freep(struct sv_sha256 **h)
{
    sv_sha256_free(*h);
}

int sv_digest_mem(const void *data, size_t len, char out[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    struct sv_sha256 *h;
    if (sv_sha256_new(&h, err) < 0)
        return -1;
    sv_sha256_update(h, data, len);
    sv_sha256_final(h, out);
    return 0;
}

int sv_digest_file(const char *path, char out[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sv_error(err, errno, "cannot open %s", path);
    cleanup_sha256 struct sv_sha256 *h = NULL;
    if (sv_sha256_new(&h, err) < 0)
        return -1;
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    static char buf[1 << 18];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        sv_sha256_update(h, buf, (size_t)n);
    if (n < 0)
        return sv_error(err, errno, "cannot read %s", path);
    sv_sha256_final(sv_steal(h), out);
    return 0;
}

bool sv_digest_valid(const char *s)
{
    if (s == NULL || strncmp(s, "sha256:", 7) != 0 || strlen(s) != SV_DIGEST_LEN)
        return false;
    for (const char *p = s + 7; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* HMAC comes from the same library, loaded apart: most commands never
 * need it. */
static struct {
    const void *(*sha1)(void);
    unsigned char *(*hmac)(const void *md, const void *key, int klen, const unsigned char *data,
                           size_t dlen, unsigned char *out, unsigned int *outlen);
} evp_hmac;

int sv_hmac_sha1(const void *key, size_t klen, const void *data, size_t dlen, unsigned char out[20],
                 sv_error_t *err)
{
    static void *lib;
    static const char *const names[] = {"EVP_sha1", "HMAC"};
    _Static_assert(sizeof(evp_hmac) == sizeof(names), "one name per libcrypto function");
    if (sv_dynlib_load(&lib, "libcrypto.so.3", names, (void **)&evp_hmac, SV_ARRAY_LEN(names),
                       "to read hashed known_hosts entries (apt install libssl3)", err) < 0)
        return -1;
    unsigned int n = 0;
    if (evp_hmac.hmac(evp_hmac.sha1(), key, (int)klen, data, dlen, out, &n) == NULL || n != 20)
        return sv_error(err, 0, "libcrypto: HMAC-SHA1 failed");
    return 0;
}

static struct {
    unsigned char *(*sha1)(const unsigned char *data, size_t len, unsigned char *out);
} plain_sha1;

int sv_sha1(const void *data, size_t len, unsigned char out[20], sv_error_t *err)
{
    static void *lib;
    static const char *const names[] = {"SHA1"};
    _Static_assert(sizeof(plain_sha1) == sizeof(names), "one name per libcrypto function");
    if (sv_dynlib_load(&lib, "libcrypto.so.3", names, (void **)&plain_sha1, SV_ARRAY_LEN(names),
                       "for WebSocket handshakes (apt install libssl3)", err) < 0)
        return -1;
    plain_sha1.sha1(data, len, out);
    return 0;
}
