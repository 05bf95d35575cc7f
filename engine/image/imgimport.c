/* `servos image import`: a plain root file system tarball becomes a
 * one-layer image; a `docker save` archive or an OCI image layout (a
 * directory or a tarball of one) is loaded as `image load` does
 * (imgload.h), one image of it. */
#include "image/imgimport.h"
#include "core/json.h"

#include "image/imgblob.h"
#include "image/imgload.h"
#include "image/imgstore.h"
#include "image/unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static json_t *descriptor(const char *type, const char *digest, int64_t size)
{
    return json_pack("{s:s,s:s,s:I}", "mediaType", type, "digest", digest, "size",
                     (json_int_t)size);
}

/* Store a document, setting digest and size. */
static int put_doc(json_t *doc, char digest[SV_DIGEST_LEN + 1], int64_t *size, sv_error_t *err)
{
    cleanup_free char *text = sv_json_dumps(doc, SV_JSON_COMPACT);
    *size = (int64_t)strlen(text);
    return sv_blob_put(text, strlen(text), digest, err);
}

/* The tarball into a temporary blob: as it is when OCI has a media type
 * for its compression (none, gzip, zstd), else uncompressed. Sets its
 * digest, its diff_id (the uncompressed tar's digest) and its media type. */
static int stage_layer(const char *path, struct sv_blob_tmp *t, char digest[SV_DIGEST_LEN + 1],
                       char diff[SV_DIGEST_LEN + 1], const char **type, sv_error_t *err)
{
    enum sv_unpack_compression comp;
    if (sv_unpack_diff_id(path, diff, &comp, -1, err) < 0)
        return sv_error_wrap(err, "cannot import");
    *type = comp == SV_UNPACK_GZIP   ? "application/vnd.oci.image.layer.v1.tar+gzip"
            : comp == SV_UNPACK_ZSTD ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                     : "application/vnd.oci.image.layer.v1.tar";
    if (comp == SV_UNPACK_OTHER) {
        /* Its own hash sees nothing written this way: the digest is diff. */
        if (sv_blob_tmp_open(t, err) < 0 || sv_unpack_diff_id(path, diff, &comp, t->fd, err) < 0 ||
            sv_blob_tmp_close(t, digest, err) < 0)
            return -1;
        strcpy(digest, diff);
        return 0;
    }
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sv_error(err, errno, "cannot import %s", path);
    return sv_blob_tmp_from_fd(t, fd, digest, err);
}

/* A name from the file's: "Rootfs.tar.gz" -> "rootfs". */
static char *name_from_file(const char *path)
{
    char *base = sv_xstrdup(strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    base[strcspn(base, ".")] = '\0';
    for (char *p = base; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (*base == '\0') {
        free(base);
        base = sv_xstrdup("imported");
    }
    return base;
}

/* One layer, and a config whose diff_ids name it (what other tools check
 * a layer against, and umoci needs to unpack it). */
static int import_rootfs_tarball(const char *path, const char *name, char digest[SV_DIGEST_LEN + 1],
                                 sv_error_t *err)
{
    char layer[SV_DIGEST_LEN + 1], diff[SV_DIGEST_LEN + 1], config[SV_DIGEST_LEN + 1];
    const char *type = NULL;
    __attribute__((cleanup(sv_blob_tmp_discard))) struct sv_blob_tmp t = {.fd = -1};
    if (stage_layer(path, &t, layer, diff, &type, err) < 0)
        return -1;
    int64_t size = t.size, config_size, manifest_size;
    if (!sv_blob_exists(layer) && sv_blob_adopt(t.path, layer, err) < 0)
        return -1;
    cleanup_json json_t *cfg =
        json_pack("{s:s,s:s,s:{s:s,s:[s]},s:{}}", "architecture", sv_image_arch(), "os", "linux",
                  "rootfs", "type", "layers", "diff_ids", diff, "config");
    if (put_doc(cfg, config, &config_size, err) < 0)
        return -1;
    cleanup_json json_t *m =
        json_pack("{s:i,s:s,s:o,s:[o]}", "schemaVersion", 2, "mediaType",
                  "application/vnd.oci.image.manifest.v1+json", "config",
                  descriptor("application/vnd.oci.image.config.v1+json", config, config_size),
                  "layers", descriptor(type, layer, size));
    if (put_doc(m, digest, &manifest_size, err) < 0)
        return -1;
    cleanup_free char *base = name ? NULL : name_from_file(path);
    cleanup_free char *full = sv_imgload_local_name(name ? name : base, err);
    return full ? sv_image_record(full, digest, err) : -1;
}

/* An archive or a layout: loaded, one image of it, named name if given. */
static int import_archive(const char *path, const char *name, char digest[SV_DIGEST_LEN + 1],
                          sv_error_t *err)
{
    struct sv_imgload_image *imgs = NULL;
    size_t n = 0;
    int rc = sv_imgload(path, true, name, &imgs, &n, err);
    if (rc == 0 && n > 0)
        strcpy(digest, imgs[0].digest);
    sv_imgload_free(imgs, n);
    return rc;
}

int sv_import_image(const char *path, const char *name, char digest[SV_DIGEST_LEN + 1],
                    sv_error_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return sv_error(err, errno, "cannot import %s", path);
    if (S_ISDIR(st.st_mode)) {
        cleanup_close int dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0)
            return sv_error(err, errno, "cannot import %s", path);
        if (faccessat(dir, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) == 0 ||
            faccessat(dir, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            return import_archive(path, name, digest, err);
        return sv_error(err, EINVAL,
                        "%s: not an OCI image layout (no oci-layout file); to import a root "
                        "file system directory, tar it first",
                        path);
    }
    if (!S_ISREG(st.st_mode))
        return sv_error(err, EINVAL, "%s: not a file or a directory", path);
    bool oci = false, dsave = false;
    if (sv_unpack_has_entry(path, "oci-layout", &oci, err) < 0)
        return sv_error_wrap(err, "cannot import");
    if (!oci && sv_unpack_has_entry(path, "manifest.json", &dsave, err) < 0)
        return -1;
    if (oci || dsave)
        return import_archive(path, name, digest, err);
    return import_rootfs_tarball(path, name, digest, err);
}
