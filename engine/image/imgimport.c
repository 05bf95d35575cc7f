/* `servos image import`: a plain root file system tarball (one layer), a
 * `docker save` archive, or an OCI image layout (a directory or a tarball
 * of one) becomes an image in the store. */
#include "image/imgimport.h"
#include "core/json.h"

#include "image/imgblob.h"
#include "image/imgref.h"
#include "image/imgstore.h"
#include "core/fs.h"
#include "core/safepath.h"
#include "core/store.h"
#include "image/unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copy a file into the store as a blob: its digest is checked against
 * expect when given, else computed into got. The file is rel beneath the
 * directory dirfd, resolved there as if it were "/" (an archive's or a
 * layout's links cannot lead to a host file, which would then sit in the
 * store for anyone to read), or the path rel itself with AT_FDCWD. */
static int blob_from_file(int dirfd, const char *rel, const char *expect,
                          char got[SV_DIGEST_LEN + 1], int64_t *size, sv_error_t *err)
{
    cleanup_close int in = dirfd == AT_FDCWD ? open(rel, O_RDONLY | O_CLOEXEC)
                                             : sv_path_openat_in(dirfd, rel, O_RDONLY, 0);
    struct stat st;
    if (in < 0 || fstat(in, &st) < 0)
        return sv_error(err, errno, "%s", rel);
    if (!S_ISREG(st.st_mode))
        return sv_error(err, 0, "%s: not a regular file", rel);
    if (size)
        *size = st.st_size;
    if (expect && sv_blob_exists(expect)) {
        if (got)
            strcpy(got, expect);
        return 0;
    }
    cleanup_free char *tmp = sv_blob_tmp_path();
    if (tmp == NULL)
        return sv_error(err, errno, "cannot create the image store");
    cleanup_close int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0)
        return sv_error(err, errno, "cannot copy %s into the store", rel);
    off_t left = st.st_size;
    while (left > 0) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)left, 0);
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            unlink(tmp);
            return sv_error(err, e, "cannot copy %s into the store", rel);
        }
        left -= n;
    }
    /* The digest of what was copied, not of a second read of the source. */
    char digest[SV_DIGEST_LEN + 1];
    if (expect == NULL) {
        if (sv_digest_file(tmp, digest, err) < 0) {
            unlink(tmp);
            return -1;
        }
        expect = digest;
    }
    if (got)
        strcpy(got, expect);
    if (sv_blob_exists(expect)) {
        unlink(tmp);
        return 0;
    }
    return sv_blob_commit(tmp, expect, err);
}

/* Name an image: as given when it names a registry, else under
 * "localhost/" as podman does. */
static char *local_name(const char *name, sv_error_t *err)
{
    struct sv_imgref r;
    if (sv_imgref_parse(name, &r, err) < 0)
        return NULL;
    char *full;
    if (strcmp(r.registry, "docker.io") == 0 && strncmp(name, "docker.io/", 10) != 0 &&
        strncmp(r.repo, "library/", 8) == 0 && strchr(name, '/') == NULL)
        full = sv_xasprintf("localhost/%s:%s", r.repo + 8, r.tag ? r.tag : "latest");
    else
        full = sv_imgref_name(&r);
    sv_imgref_clear(&r);
    return full;
}

static int record_image(const char *manifest_digest, const char *name, const char *fallback,
                        char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    cleanup_free char *full = NULL;
    const char *n = name ? name : fallback;
    if (n && (full = local_name(n, err)) == NULL)
        return -1;
    strcpy(digest, manifest_digest);
    return sv_image_record(full, manifest_digest, err);
}

static json_t *descriptor(const char *type, const char *digest, int64_t size)
{
    return json_pack("{s:s,s:s,s:I}", "mediaType", type, "digest", digest, "size",
                     (json_int_t)size);
}

/* Store the manifest for config + layers. */
static int put_manifest(const char *config, int64_t config_size, json_t *layers,
                        char digest[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    cleanup_json json_t *m =
        json_pack("{s:i,s:s,s:o,s:o}", "schemaVersion", 2, "mediaType",
                  "application/vnd.oci.image.manifest.v1+json", "config",
                  descriptor("application/vnd.oci.image.config.v1+json", config, config_size),
                  "layers", json_incref(layers));
    cleanup_free char *doc = sv_json_dumps(m, SV_JSON_COMPACT);
    return sv_blob_put(doc, strlen(doc), digest, err);
}

static int import_rootfs_tarball(const char *path, const char *name, char digest[SV_DIGEST_LEN + 1],
                                 sv_error_t *err)
{
    char layer[SV_DIGEST_LEN + 1], config[SV_DIGEST_LEN + 1], manifest[SV_DIGEST_LEN + 1];
    int64_t size;
    if (blob_from_file(AT_FDCWD, path, NULL, layer, &size, err) < 0)
        return -1;
    cleanup_json json_t *cfg =
        json_pack("{s:s,s:s,s:{s:s,s:[]},s:{}}", "architecture", sv_image_arch(), "os", "linux",
                  "rootfs", "type", "layers", "diff_ids", "config");
    cleanup_free char *doc = sv_json_dumps(cfg, SV_JSON_COMPACT);
    if (sv_blob_put(doc, strlen(doc), config, err) < 0)
        return -1;
    cleanup_json json_t *layers =
        json_pack("[o]", descriptor("application/vnd.oci.image.layer.v1.tar", layer, size));
    if (put_manifest(config, (int64_t)strlen(doc), layers, manifest, err) < 0)
        return -1;
    cleanup_free char *base = sv_xstrdup(strrchr(path, '/') ? strrchr(path, '/') + 1 : path);
    base[strcspn(base, ".")] = '\0';
    for (char *p = base; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return record_image(manifest, name, *base ? base : "imported", digest, err);
}

/* dir/file as JSON (file resolved beneath dir), or an error naming what
 * the file belongs to. */
static json_t *load_doc(int dir, const char *file, const char *what, sv_error_t *err)
{
    cleanup_close int fd = sv_path_openat_in(dir, file, O_RDONLY, 0);
    if (fd < 0) {
        sv_error(err, errno, "%s: %s", what, file);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadfd(fd, 0, &je);
    if (root == NULL)
        sv_error(err, EINVAL, "%s: %s: %s", what, file, je.text);
    return root;
}

/* The archive's layer files into the store, as manifest descriptors. */
static int docker_save_layers(int dir, json_t *lfiles, json_t *layers, sv_error_t *err)
{
    for (size_t i = 0; i < json_array_size(lfiles); i++) {
        const char *lf = json_string_value(json_array_get(lfiles, i));
        if (lf == NULL)
            return sv_error(err, EINVAL, "docker-save archive: bad layer path");
        char ld[SV_DIGEST_LEN + 1];
        int64_t size;
        if (blob_from_file(dir, lf, NULL, ld, &size, err) < 0)
            return -1;
        json_array_append_new(layers,
                              descriptor("application/vnd.oci.image.layer.v1.tar", ld, size));
    }
    return 0;
}

static int import_docker_save(int dir, const char *name, char digest[SV_DIGEST_LEN + 1],
                              sv_error_t *err)
{
    cleanup_json json_t *root = load_doc(dir, "manifest.json", "docker-save archive", err);
    if (root == NULL)
        return -1;
    json_t *m = json_array_get(root, 0);
    const char *cfgfile = json_string_value(json_object_get(m, "Config"));
    json_t *lfiles = json_object_get(m, "Layers");
    if (cfgfile == NULL || !json_is_array(lfiles))
        return sv_error(err, EINVAL, "docker-save archive: manifest.json has no Config and Layers");
    if (json_array_size(root) > 1)
        fprintf(stderr, "servos: the archive holds %zu images; importing the first\n",
                json_array_size(root));
    char config[SV_DIGEST_LEN + 1], manifest[SV_DIGEST_LEN + 1];
    int64_t config_size;
    cleanup_json json_t *layers = json_array();
    if (blob_from_file(dir, cfgfile, NULL, config, &config_size, err) < 0 ||
        docker_save_layers(dir, lfiles, layers, err) < 0 ||
        put_manifest(config, config_size, layers, manifest, err) < 0)
        return -1;
    const char *tag = json_string_value(json_array_get(json_object_get(m, "RepoTags"), 0));
    return record_image(manifest, name, tag, digest, err);
}

/* In an OCI layout, blobs/sha256/<hex> must hold the named content. */
static int layout_blob(int dir, const char *d, sv_error_t *err)
{
    if (!sv_digest_valid(d))
        return sv_error(err, EINVAL, "OCI layout: \"%s\" is not a sha256 digest", d ? d : "");
    cleanup_free char *p = sv_xasprintf("blobs/sha256/%s", d + 7);
    return blob_from_file(dir, p, d, NULL, NULL, err);
}

/* The entry of the layout's index.json named by NAME's tag, else the
 * first: its manifest digest, media type and ref name (as the store names
 * it: "imported:TAG" for a bare tag). */
static int pick_layout_entry(int dir, const char *name, char **mdigest, bool *is_index,
                             char **ref_name, sv_error_t *err)
{
    cleanup_json json_t *index = load_doc(dir, "index.json", "OCI layout", err);
    if (index == NULL)
        return -1;
    json_t *ms = json_object_get(index, "manifests");
    json_t *pick = NULL;
    for (size_t i = 0; i < json_array_size(ms) && pick == NULL; i++) {
        json_t *e = json_array_get(ms, i);
        const char *rn = json_string_value(json_object_get(json_object_get(e, "annotations"),
                                                           "org.opencontainers.image.ref.name"));
        if (name == NULL || (rn && strstr(name, rn)))
            pick = e;
    }
    if (pick == NULL)
        pick = json_array_get(ms, 0);
    const char *md = json_string_value(json_object_get(pick, "digest"));
    const char *type = json_string_value(json_object_get(pick, "mediaType"));
    const char *rn = json_string_value(
        json_object_get(json_object_get(pick, "annotations"), "org.opencontainers.image.ref.name"));
    if (md == NULL)
        return sv_error(err, EINVAL, "OCI layout: index.json lists no manifest");
    *mdigest = sv_xstrdup(md);
    *is_index = type && strstr(type, "index");
    *ref_name = rn == NULL                           ? NULL
                : strchr(rn, ':') || strchr(rn, '/') ? sv_xstrdup(rn)
                                                     : sv_xasprintf("imported:%s", rn);
    return 0;
}

/* An image index in the layout: the manifest of this host's platform. */
static int layout_platform(int dir, char **mdigest, sv_error_t *err)
{
    if (layout_blob(dir, *mdigest, err) < 0)
        return -1;
    cleanup_free char *doc = NULL;
    size_t len;
    if (sv_blob_read(*mdigest, 4 << 20, &doc, &len, err) < 0)
        return -1;
    cleanup_free char *chosen = NULL;
    if (sv_image_pick_platform(doc, len, &chosen, err) < 0)
        return -1;
    free(*mdigest);
    *mdigest = sv_steal(chosen);
    return 0;
}

static int import_oci_layout(int dir, const char *name, char digest[SV_DIGEST_LEN + 1],
                             sv_error_t *err)
{
    cleanup_free char *mdigest = NULL;
    cleanup_free char *ref_name = NULL;
    bool is_index = false;
    if (pick_layout_entry(dir, name, &mdigest, &is_index, &ref_name, err) < 0)
        return -1;
    if (is_index && layout_platform(dir, &mdigest, err) < 0)
        return -1;
    if (layout_blob(dir, mdigest, err) < 0)
        return -1;
    cleanup_image struct sv_image img = {0};
    if (sv_image_load(mdigest, &img, err) < 0)
        return -1;
    if (layout_blob(dir, img.config, err) < 0)
        return -1;
    for (size_t i = 0; i < img.n_layers; i++)
        if (layout_blob(dir, img.layers[i], err) < 0)
            return -1;
    return record_image(mdigest, name, ref_name ? ref_name : "imported", digest, err);
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
        if (faccessat(dir, "oci-layout", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            return import_oci_layout(dir, name, digest, err);
        if (faccessat(dir, "manifest.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
            return import_docker_save(dir, name, digest, err);
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
    if (!oci && !dsave)
        return import_rootfs_tarball(path, name, digest, err);
    /* Unpacked as it is (owners unchanged) into a scratch directory. */
    cleanup_free char *dir = sv_xasprintf("%s/images", sv_state_root());
    cleanup_free char *tmp = sv_xasprintf("%s/import.%d", dir, (int)getpid());
    struct sv_idmap none = {0};
    if (sv_mkdir_p(dir, 0711, err) < 0 || sv_unpack_tarball(path, tmp, &none, err) < 0)
        return -1;
    int rc = -1;
    cleanup_close int tdir = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (tdir < 0)
        sv_error(err, errno, "cannot open %s", tmp);
    else
        rc = oci ? import_oci_layout(tdir, name, digest, err)
                 : import_docker_save(tdir, name, digest, err);
    sv_rmtree(tmp, NULL);
    return rc;
}
