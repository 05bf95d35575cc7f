/* Content by digest: <state root>/images/blobs/sha256/<hex>, each file
 * checked against its digest before it enters the store and again when
 * it is read. */
#include "image/imgblob.h"

#include "core/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

int sv_blob_tmp_open(struct sv_blob_tmp *t, sv_error_t *err)
{
    memset(t, 0, sizeof(*t));
    t->fd = -1;
    t->path = sv_blob_tmp_path();
    if (t->path == NULL)
        return sv_error(err, errno, "cannot create the image store in %s", sv_state_root());
    t->fd = open(t->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (t->fd < 0)
        return sv_error(err, errno, "cannot create %s", t->path);
    return sv_sha256_new(&t->hash, err);
}

int sv_blob_tmp_write(struct sv_blob_tmp *t, const void *data, size_t len, sv_error_t *err)
{
    sv_sha256_update(t->hash, data, len);
    for (const char *p = data; len > 0;) {
        ssize_t n = write(t->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return sv_error(err, n < 0 ? errno : EIO, "cannot write %s", t->path);
        p += n, len -= (size_t)n, t->size += n;
    }
    return 0;
}

int sv_blob_tmp_close(struct sv_blob_tmp *t, char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    int fd = t->fd;
    t->fd = -1;
    if (close(fd) < 0)
        return sv_error(err, errno, "cannot write %s", t->path);
    sv_sha256_final(t->hash, digest);
    t->hash = NULL;
    return 0;
}

void sv_blob_tmp_discard(struct sv_blob_tmp *t)
{
    if (t->fd >= 0)
        close(t->fd);
    if (t->path)
        unlink(t->path);
    sv_sha256_free(t->hash);
    free(t->path);
    memset(t, 0, sizeof(*t));
    t->fd = -1;
}

int sv_blob_tmp_from_fd(struct sv_blob_tmp *t, int fd, char digest[SV_DIGEST_LEN + 1],
                        sv_error_t *err)
{
    if (sv_blob_tmp_open(t, err) < 0)
        return -1;
    size_t cap = 1 << 17;
    cleanup_free char *buf = sv_xmalloc(cap);
    for (;;) {
        ssize_t n = read(fd, buf, cap);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sv_error(err, errno, "cannot read");
        if (n == 0)
            break;
        if (sv_blob_tmp_write(t, buf, (size_t)n, err) < 0)
            return -1;
    }
    return sv_blob_tmp_close(t, digest, err);
}

int sv_blob_adopt(const char *tmp, const char *digest, sv_error_t *err)
{
    if (!sv_digest_valid(digest))
        return sv_error(err, EINVAL, "\"%s\" is not a sha256 digest", digest);
    cleanup_free char *dir = sv_xasprintf("%s/images/blobs/sha256", sv_state_root());
    cleanup_free char *dst = sv_blob_path(digest);
    if (sv_mkdir_p(dir, 0711, err) < 0 || rename(tmp, dst) < 0)
        return sv_error(err, errno, "cannot store blob %s", digest);
    return 0;
}
