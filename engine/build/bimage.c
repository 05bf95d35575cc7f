/* The result: the target stage's state as an OCI image in the store. Its
 * config (architecture, os, the config object, rootfs.diff_ids, history)
 * and manifest are blobs like any pulled image's; the names come last, so
 * a build that fails before never names a half-written image. Times come
 * from the steps (a cached step keeps the time it first ran), so a build
 * with nothing changed writes the very same config and manifest. */
#include "build/build_int.h"

#include "image/imgblob.h"
#include "image/imgref.h"
#include "image/imgstore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *sv_build_image_name(const char *name, sv_error_t *err)
{
    cleanup_imgref struct sv_imgref r = {0};
    if (sv_imgref_parse(name, &r, err) < 0)
        return NULL;
    if (r.digest[0]) {
        sv_error(err, EINVAL, "%s: a build's name takes a tag, not a digest", name);
        return NULL;
    }
    /* As podman names what it builds: a name without a registry is a
     * local one (the same rule as image import's). */
    if (strcmp(r.registry, "docker.io") == 0 && strncmp(name, "docker.io/", 10) != 0 &&
        strncmp(r.repo, "library/", 8) == 0 && strchr(name, '/') == NULL)
        return sv_xasprintf("localhost/%s:%s", r.repo + 8, r.tag ? r.tag : "latest");
    return sv_imgref_name(&r);
}

static json_t *descriptor(const char *type, const char *digest, int64_t size)
{
    return json_pack("{s:s, s:s, s:I}", "mediaType", type, "digest", digest, "size",
                     (json_int_t)size);
}

static json_t *image_config(const struct bstage *st)
{
    json_t *ids = json_array();
    for (size_t i = 0; i < st->n_layers; i++)
        json_array_append_new(ids, json_string(st->layers[i].diff_id));
    cleanup_free char *created = sv_bstate_time(st->created);
    return json_pack("{s:s, s:s, s:s, s:O, s:{s:s, s:o}, s:O}", "created", created, "architecture",
                     sv_image_arch(), "os", "linux", "config", st->config, "rootfs", "type",
                     "layers", "diff_ids", ids, "history", st->history);
}

int sv_bimage_commit(struct build *b, const struct bstage *st, char digest[SV_DIGEST_LEN + 1],
                     sv_error_t *err)
{
    cleanup_json json_t *cfg = image_config(st);
    cleanup_free char *cdoc = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
    char cdigest[SV_DIGEST_LEN + 1];
    if (sv_blob_put(cdoc, strlen(cdoc), cdigest, err) < 0)
        return -1;
    json_t *layers = json_array();
    for (size_t i = 0; i < st->n_layers; i++)
        json_array_append_new(
            layers, descriptor(st->layers[i].media_type, st->layers[i].digest, st->layers[i].size));
    cleanup_json json_t *m = json_pack(
        "{s:i, s:s, s:o, s:o}", "schemaVersion", 2, "mediaType",
        "application/vnd.oci.image.manifest.v1+json", "config",
        descriptor("application/vnd.oci.image.config.v1+json", cdigest, (int64_t)strlen(cdoc)),
        "layers", layers);
    cleanup_free char *mdoc = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    if (sv_blob_put(mdoc, strlen(mdoc), digest, err) < 0)
        return -1;
    char **tags = b->o->tags;
    if (tags == NULL || tags[0] == NULL)
        return sv_image_record(NULL, digest, err);
    for (char **t = tags; *t; t++) {
        cleanup_free char *name = sv_build_image_name(*t, err);
        if (name == NULL || sv_image_record(name, digest, err) < 0)
            return -1;
    }
    return 0;
}
