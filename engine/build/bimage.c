/* The result: the target stage's state as an OCI image in the store. Its
 * config (architecture, os, the config object, rootfs.diff_ids, history)
 * and manifest are blobs like any pulled image's; the names come last, so
 * a build that fails before never names a half-written image. Times come
 * from the steps (a cached step keeps the time it first ran), so a build
 * with nothing changed writes the very same config and manifest. */
#include "build/build_int.h"
#include "build/tarw.h"

#include "image/imgblob.h"
#include "image/imgload.h"
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
        sv_error(err, 0, "a build's name takes a tag, not a digest");
        return NULL;
    }
    /* As podman names what it builds, and load and import name theirs: a
     * name without a registry is a local one. */
    return sv_imgload_local_name(name, err);
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

/* A layer kept as a directory only (a RUN of a stage no image took when
 * it ran) gets its blob now, from the directory; its cache entry learns
 * of it. */
static int write_blob(struct build *b, struct blayer *l, sv_error_t *err)
{
    cleanup_free char *path = sv_bstate_layer_path(b, l);
    struct sv_tarw_out out;
    bool empty;
    if (sv_differ_commit(path, &b->map, true, &out, &empty, err) < 0)
        return sv_error_wrap(err, "writing the layer in %s", path);
    memcpy(l->digest, out.digest, sizeof(l->digest));
    memcpy(l->diff_id, out.diff_id, sizeof(l->diff_id));
    l->size = out.size;
    free(l->media_type);
    l->media_type = sv_xstrdup(out.media_type);
    char key[SV_DIGEST_LEN + 1];
    snprintf(key, sizeof(key), "sha256:%s", l->dir);
    struct bcache_entry e;
    int64_t created = sv_bcache_get(key, &b->map, &e) == 0 ? e.created : 0;
    e = (struct bcache_entry){.layer = *l, .created = created};
    return sv_bcache_put(key, &e, err);
}

int sv_bimage_commit(struct build *b, struct bstage *st, char digest[SV_DIGEST_LEN + 1],
                     sv_error_t *err)
{
    for (size_t i = 0; i < st->n_layers; i++)
        if (st->layers[i].digest[0] == '\0' && write_blob(b, &st->layers[i], err) < 0)
            return -1;
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
