/* Layer blobs for servos build (see tarw.h): libarchive writes the tar
 * into on_write, which hashes it (the diff_id) and deflates it with zlib
 * into the blob file, hashed again (the digest). */
#include "build/tarw.h"

#include "core/dynlib.h"
#include "image/imgblob.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* The calls made, resolved at run time. */
static struct {
    struct archive *(*write_new)(void);
    int (*write_set_format_pax_restricted)(struct archive *);
    int (*write_open)(struct archive *, void *, archive_open_callback *, archive_write_callback *,
                      archive_close_callback *);
    int (*write_header)(struct archive *, struct archive_entry *);
    la_ssize_t (*write_data)(struct archive *, const void *, size_t);
    int (*write_close)(struct archive *);
    int (*write_free)(struct archive *);
    const char *(*error_string)(struct archive *);
    struct archive_entry *(*entry_new)(void);
    void (*entry_free)(struct archive_entry *);
    void (*entry_set_pathname)(struct archive_entry *, const char *);
    void (*entry_set_size)(struct archive_entry *, la_int64_t);
    void (*entry_set_mode)(struct archive_entry *, __LA_MODE_T);
    void (*entry_set_uid)(struct archive_entry *, la_int64_t);
    void (*entry_set_gid)(struct archive_entry *, la_int64_t);
    void (*entry_set_mtime)(struct archive_entry *, time_t, long);
    void (*entry_set_symlink)(struct archive_entry *, const char *);
    void (*entry_set_hardlink)(struct archive_entry *, const char *);
    void (*entry_xattr_add_entry)(struct archive_entry *, const char *, const void *, size_t);
    struct archive *(*read_new)(void);
    int (*read_support_filter_all)(struct archive *);
    int (*read_support_format_tar)(struct archive *);
    int (*read_support_format_raw)(struct archive *);
    int (*read_open_filename)(struct archive *, const char *, size_t);
    int (*read_next_header)(struct archive *, struct archive_entry **);
    int (*read_data_block)(struct archive *, const void **, size_t *, la_int64_t *);
    int (*read_free)(struct archive *);
    const char *(*entry_pathname)(struct archive_entry *);
    const char *(*entry_hardlink)(struct archive_entry *);
    void (*entry_set_uname)(struct archive_entry *, const char *);
    void (*entry_set_gname)(struct archive_entry *, const char *);
} la;

static struct {
    int (*deflate_init2)(z_streamp, int, int, int, int, int, const char *, int);
    int (*deflate)(z_streamp, int);
    int (*deflate_end)(z_streamp);
} z;

static int load_libs(sv_error_t *err)
{
    static void *lib, *zlib;
    static const char *const names[] = {
        "archive_write_new",
        "archive_write_set_format_pax_restricted",
        "archive_write_open",
        "archive_write_header",
        "archive_write_data",
        "archive_write_close",
        "archive_write_free",
        "archive_error_string",
        "archive_entry_new",
        "archive_entry_free",
        "archive_entry_set_pathname",
        "archive_entry_set_size",
        "archive_entry_set_mode",
        "archive_entry_set_uid",
        "archive_entry_set_gid",
        "archive_entry_set_mtime",
        "archive_entry_set_symlink",
        "archive_entry_set_hardlink",
        "archive_entry_xattr_add_entry",
        "archive_read_new",
        "archive_read_support_filter_all",
        "archive_read_support_format_tar",
        "archive_read_support_format_raw",
        "archive_read_open_filename",
        "archive_read_next_header",
        "archive_read_data_block",
        "archive_read_free",
        "archive_entry_pathname",
        "archive_entry_hardlink",
        "archive_entry_set_uname",
        "archive_entry_set_gname",
    };
    static const char *const znames[] = {"deflateInit2_", "deflate", "deflateEnd"};
    _Static_assert(sizeof(la) == sizeof(names) / sizeof(names[0]) * sizeof(void *),
                   "one name per libarchive function");
    _Static_assert(sizeof(z) == sizeof(znames) / sizeof(znames[0]) * sizeof(void *),
                   "one name per zlib function");
    if (sv_dynlib_load(&lib, "libarchive.so.13", names, (void **)&la, SV_ARRAY_LEN(names),
                       "to write an image layer (apt install libarchive13)", err) < 0)
        return -1;
    return sv_dynlib_load(&zlib, "libz.so.1", znames, (void **)&z, SV_ARRAY_LEN(znames),
                          "to compress an image layer (apt install zlib1g)", err);
}

struct sv_tarw {
    struct archive *a;
    struct sv_sha256 *diff, *dig;
    z_stream zs;
    bool z_open;
    int fd;
    char *tmp;
    int64_t size;
    size_t entries;
    bool gzip;
    unsigned char out[1 << 17];
    int error; /* errno of a failed write, reported at the end */
};

/* Flush what zlib produced into the file (and the blob's digest). */
static int drain(struct sv_tarw *w)
{
    size_t n = sizeof(w->out) - w->zs.avail_out;
    if (n == 0)
        return 0;
    sv_sha256_update(w->dig, w->out, n);
    for (size_t off = 0; off < n;) {
        ssize_t k = write(w->fd, w->out + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->error = k < 0 ? errno : EIO;
            return -1;
        }
        off += (size_t)k;
    }
    w->size += (int64_t)n;
    w->zs.next_out = w->out;
    w->zs.avail_out = sizeof(w->out);
    return 0;
}

static int compress_some(struct sv_tarw *w, const void *buf, size_t n, int flush)
{
    w->zs.next_in = (unsigned char *)buf;
    w->zs.avail_in = (unsigned)n;
    for (;;) {
        int r = z.deflate(&w->zs, flush);
        if (r == Z_STREAM_ERROR) {
            w->error = EIO;
            return -1;
        }
        if (w->zs.avail_out == 0 || (flush == Z_FINISH && r == Z_STREAM_END)) {
            if (drain(w) < 0)
                return -1;
        }
        if (flush == Z_FINISH ? r == Z_STREAM_END : w->zs.avail_in == 0)
            return 0;
    }
}

/* Uncompressed, the stream is the blob: straight to the file. */
static int write_plain(struct sv_tarw *w, const void *buf, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t k = write(w->fd, (const char *)buf + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->error = k < 0 ? errno : EIO;
            return -1;
        }
        off += (size_t)k;
    }
    w->size += (int64_t)n;
    return 0;
}

static la_ssize_t on_write(struct archive *a, void *data, const void *buf, size_t n)
{
    struct sv_tarw *w = data;
    sv_sha256_update(w->diff, buf, n);
    if (w->gzip ? compress_some(w, buf, n, Z_NO_FLUSH) < 0 : write_plain(w, buf, n) < 0)
        return -1;
    return (la_ssize_t)n;
}

void sv_tarw_free(struct sv_tarw *w)
{
    if (w == NULL)
        return;
    if (w->a)
        la.write_free(w->a);
    if (w->z_open)
        z.deflate_end(&w->zs);
    sv_sha256_free(w->diff);
    sv_sha256_free(w->dig);
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp)
        unlink(w->tmp);
    free(w->tmp);
    free(w);
}

int sv_tarw_new(struct sv_tarw **out, bool gzip, sv_error_t *err)
{
    if (load_libs(err) < 0)
        return -1;
    struct sv_tarw *w = sv_xcalloc(1, sizeof(*w));
    w->fd = -1;
    w->gzip = gzip;
    w->tmp = sv_blob_tmp_path();
    if (w->tmp == NULL ||
        (w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) < 0) {
        sv_error(err, errno, "cannot create a layer in the image store");
        sv_tarw_free(w);
        return -1;
    }
    /* Level 1: a build's layers are written on every miss and read
     * locally; the few percent more that level 6 saves cost several
     * times the time. */
    if (z.deflate_init2(&w->zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                        ZLIB_VERSION, (int)sizeof(z_stream)) != Z_OK) {
        sv_error(err, 0, "zlib: cannot start a gzip stream");
        sv_tarw_free(w);
        return -1;
    }
    w->z_open = true;
    w->zs.next_out = w->out;
    w->zs.avail_out = sizeof(w->out);
    if (sv_sha256_new(&w->diff, err) < 0 || (gzip && sv_sha256_new(&w->dig, err) < 0)) {
        sv_tarw_free(w);
        return -1;
    }
    w->a = la.write_new();
    if (w->a == NULL || la.write_set_format_pax_restricted(w->a) != ARCHIVE_OK ||
        la.write_open(w->a, w, NULL, on_write, NULL) != ARCHIVE_OK) {
        sv_error(err, 0, "libarchive: cannot start a tar stream");
        sv_tarw_free(w);
        return -1;
    }
    *out = w;
    return 0;
}

static int write_data(struct sv_tarw *w, const char *name, int fd, int64_t size, sv_error_t *err)
{
    static char buf[1 << 16];
    int64_t left = size;
    while (left > 0) {
        ssize_t n = read(fd, buf, left < (int64_t)sizeof(buf) ? (size_t)left : sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sv_error(err, errno, "cannot read %s", name);
        if (n == 0) { /* it shrank while read: the header promised size bytes */
            n = left < (int64_t)sizeof(buf) ? (ssize_t)left : (ssize_t)sizeof(buf);
            memset(buf, 0, (size_t)n);
        }
        if (la.write_data(w->a, buf, (size_t)n) < 0)
            return sv_error(err, w->error, "layer %s: %s", name, la.error_string(w->a));
        left -= n;
    }
    return 0;
}

int sv_tarw_entry(struct sv_tarw *w, const char *name, const struct stat *st, const char *link,
                  bool hard, int fd, const struct sv_tarw_xattr *x, size_t nx, sv_error_t *err)
{
    struct archive_entry *e = la.entry_new();
    la.entry_set_pathname(e, name);
    la.entry_set_mode(e, st->st_mode);
    la.entry_set_uid(e, st->st_uid);
    la.entry_set_gid(e, st->st_gid);
    la.entry_set_mtime(e, st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
    bool data = S_ISREG(st->st_mode) && !hard;
    la.entry_set_size(e, data ? st->st_size : 0);
    if (link && hard)
        la.entry_set_hardlink(e, link);
    else if (link)
        la.entry_set_symlink(e, link);
    for (size_t i = 0; i < nx; i++)
        la.entry_xattr_add_entry(e, x[i].name, x[i].value, x[i].size);
    int rc = la.write_header(w->a, e) < ARCHIVE_WARN
                 ? sv_error(err, w->error, "layer %s: %s", name, la.error_string(w->a))
                 : 0;
    la.entry_free(e);
    if (rc == 0 && data && st->st_size > 0)
        rc = write_data(w, name, fd, st->st_size, err);
    w->entries++;
    return rc;
}

int sv_tarw_whiteout(struct sv_tarw *w, const char *dir, const char *name, sv_error_t *err)
{
    cleanup_free char *path =
        sv_xasprintf("%s%s.wh.%s", dir, *dir ? "/" : "", name ? name : ".wh..opq");
    struct stat st = {.st_mode = S_IFREG | 0644};
    return sv_tarw_entry(w, path, &st, NULL, false, -1, NULL, 0, err);
}

int sv_tarw_finish(struct sv_tarw *w, struct sv_tarw_out *out, sv_error_t *err)
{
    int rc = 0;
    if (la.write_close(w->a) != ARCHIVE_OK)
        rc = sv_error(err, w->error, "layer: %s", la.error_string(w->a));
    if (rc == 0 && w->gzip && compress_some(w, "", 0, Z_FINISH) < 0)
        rc = sv_error(err, w->error, "cannot write the layer");
    if (rc == 0 && fsync(w->fd) < 0)
        rc = sv_error(err, errno, "cannot write the layer");
    if (rc < 0) {
        sv_tarw_free(w);
        return -1;
    }
    sv_sha256_final(w->diff, out->diff_id);
    if (w->gzip)
        sv_sha256_final(w->dig, out->digest);
    else
        memcpy(out->digest, out->diff_id, sizeof(out->digest));
    w->diff = w->dig = NULL;
    out->media_type = w->gzip ? "application/vnd.oci.image.layer.v1.tar+gzip"
                              : "application/vnd.oci.image.layer.v1.tar";
    out->size = w->size;
    out->entries = w->entries;
    close(w->fd);
    w->fd = -1;
    if (sv_blob_exists(out->digest))
        rc = 0; /* the same bytes are there (the temporary file goes below) */
    else if (sv_blob_commit(w->tmp, out->digest, err) < 0)
        rc = -1;
    else
        free(sv_steal(w->tmp));
    sv_tarw_free(w);
    return rc;
}

/* Does name step up with a ".." component (out of where it is put)? */
static bool dotdot(const char *name)
{
    for (const char *p = name; p && *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL)
        if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
            return true;
    return false;
}

static void read_freep(struct archive **a)
{
    if (*a)
        la.read_free(*a);
}

int sv_tarw_add_archive(struct sv_tarw *w, const char *path, const char *shown, const char *prefix,
                        int64_t uid, int64_t gid, sv_error_t *err)
{
    __attribute__((cleanup(read_freep))) struct archive *a = la.read_new();
    la.read_support_filter_all(a);
    la.read_support_format_tar(a);
    struct archive_entry *e;
    if (la.read_open_filename(a, path, 1 << 16) != ARCHIVE_OK ||
        la.read_next_header(a, &e) != ARCHIVE_OK)
        return 1; /* not a tar archive: ADD copies the file as it is */
    int r;
    do {
        const char *name = la.entry_pathname(e);
        while (name[0] == '/' || (name[0] == '.' && name[1] == '/'))
            name += name[0] == '/' ? 1 : 2;
        if (*name == '\0' || strcmp(name, ".") == 0)
            continue;
        const char *hl0 = la.entry_hardlink(e);
        if (dotdot(name) || (hl0 && dotdot(hl0)))
            return sv_error(err, 0, "%s: the archive's entry %s leaves the destination", shown,
                            dotdot(name) ? name : hl0);
        cleanup_free char *full = sv_xasprintf("%s%s%s", prefix, *prefix ? "/" : "", name);
        la.entry_set_pathname(e, full);
        const char *hl = la.entry_hardlink(e);
        cleanup_free char *hfull =
            hl ? sv_xasprintf("%s%s%s", prefix, *prefix ? "/" : "", hl) : NULL;
        if (hfull)
            la.entry_set_hardlink(e, hfull);
        if (uid >= 0) {
            la.entry_set_uid(e, uid);
            la.entry_set_gid(e, gid);
        }
        la.entry_set_uname(e, NULL);
        la.entry_set_gname(e, NULL);
        if (la.write_header(w->a, e) < ARCHIVE_WARN)
            return sv_error(err, w->error, "layer %s: %s", full, la.error_string(w->a));
        const void *buf;
        size_t size;
        la_int64_t off;
        while ((r = la.read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
            if (la.write_data(w->a, buf, size) < 0)
                return sv_error(err, w->error, "layer %s: %s", full, la.error_string(w->a));
        if (r != ARCHIVE_EOF)
            return sv_error(err, 0, "%s: %s", shown, la.error_string(a));
        w->entries++;
    } while ((r = la.read_next_header(a, &e)) == ARCHIVE_OK);
    if (r != ARCHIVE_EOF)
        return sv_error(err, 0, "%s: %s", shown, la.error_string(a));
    return 0;
}

int sv_tarw_diff_id(const char *blob_digest, char diff_id[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    if (load_libs(err) < 0)
        return -1;
    cleanup_free char *path = sv_blob_path(blob_digest);
    __attribute__((cleanup(read_freep))) struct archive *a = la.read_new();
    la.read_support_filter_all(a);
    la.read_support_format_raw(a);
    struct archive_entry *e;
    if (la.read_open_filename(a, path, 1 << 16) != ARCHIVE_OK ||
        la.read_next_header(a, &e) != ARCHIVE_OK)
        return sv_error(err, 0, "layer %s: %s", blob_digest, la.error_string(a));
    cleanup_sha256 struct sv_sha256 *h = NULL;
    if (sv_sha256_new(&h, err) < 0)
        return -1;
    const void *buf;
    size_t size;
    la_int64_t off;
    int r;
    while ((r = la.read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
        sv_sha256_update(h, buf, size);
    if (r != ARCHIVE_EOF)
        return sv_error(err, 0, "layer %s: %s", blob_digest, la.error_string(a));
    sv_sha256_final(sv_steal(h), diff_id);
    return 0;
}
