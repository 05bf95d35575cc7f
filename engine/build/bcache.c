/* The build cache: one small JSON file per step key under
 * <state root>/images/buildcache, written through a temporary file and a
 * rename (a crash leaves the old entry or the new, never half of one).
 * An entry is only as good as its blob: one whose layer left the store
 * (servos image prune) is a miss, and the step runs again. The same
 * directory remembers the diff_id of base layers whose image config does
 * not list them (a root file system imported as an image). */
#include "build/build_int.h"
#include "build/tarw.h"

#include "core/store.h"
#include "image/imgblob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *entry_path(const char *kind, const char *digest)
{
    return sv_xasprintf("%s/images/buildcache/%s-%s", sv_state_root(), kind, digest + 7);
}

static int write_json(const char *path, json_t *o, sv_error_t *err)
{
    cleanup_free char *dir = sv_dirname(path);
    if (sv_mkdir_p(dir, 0700, err) < 0)
        return -1;
    cleanup_free char *tmp = sv_xasprintf("%s.%d.tmp", path, (int)getpid());
    FILE *f = sv_fopen_mode(tmp, O_TRUNC, 0600);
    if (f)
        json_dumpf(o, f, JSON_COMPACT | JSON_SORT_KEYS);
    if (f == NULL || (ferror(f) | fclose(f)) || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return sv_error(err, e, "cannot write %s", path);
    }
    return 0;
}

static json_t *read_json(const char *path)
{
    return json_load_file(path, 0, NULL);
}

static bool dir_exists(const char *dir, const struct sv_idmap *map)
{
    cleanup_free char *p =
        sv_xasprintf("%s/images/layers/%s-%u", sv_state_root(), dir, (unsigned)map->uid_base);
    return access(p, F_OK) == 0;
}

int sv_bcache_get(const char *key, const struct sv_idmap *map, struct bcache_entry *e)
{
    memset(e, 0, sizeof(*e));
    cleanup_free char *path = entry_path("step", key);
    cleanup_json json_t *o = read_json(path);
    if (o == NULL)
        return 1;
    e->empty = json_is_true(json_object_get(o, "empty"));
    e->created = json_integer_value(json_object_get(o, "created"));
    if (e->empty)
        return 0;
    const char *d = json_string_value(json_object_get(o, "digest"));
    const char *id = json_string_value(json_object_get(o, "diff_id"));
    const char *dir = json_string_value(json_object_get(o, "dir"));
    bool has_dir =
        dir && strlen(dir) == 64 && strspn(dir, "0123456789abcdef") == 64 && dir_exists(dir, map);
    if (sv_digest_valid(d) && sv_digest_valid(id) && sv_blob_exists(d)) {
        strcpy(e->layer.digest, d);
        strcpy(e->layer.diff_id, id);
        e->layer.size = json_integer_value(json_object_get(o, "size"));
        e->layer.media_type = (char *)json_string_value(json_object_get(o, "media_type"));
        e->layer.media_type = e->layer.media_type && strstr(e->layer.media_type, "+gzip")
                                  ? "application/vnd.oci.image.layer.v1.tar+gzip"
                                  : "application/vnd.oci.image.layer.v1.tar";
        snprintf(e->layer.dir, sizeof(e->layer.dir), "%s", has_dir ? dir : d + 7);
        return 0;
    }
    if (!has_dir) /* its layer left the store */
        return 1;
    snprintf(e->layer.dir, sizeof(e->layer.dir), "%s", dir);
    return 0;
}

int sv_bcache_put(const char *key, const struct bcache_entry *e, sv_error_t *err)
{
    cleanup_free char *path = entry_path("step", key);
    cleanup_json json_t *o =
        json_pack("{s:b, s:I}", "empty", e->empty, "created", (json_int_t)e->created);
    if (!e->empty && e->layer.digest[0]) {
        json_object_set_new(o, "digest", json_string(e->layer.digest));
        json_object_set_new(o, "diff_id", json_string(e->layer.diff_id));
        json_object_set_new(o, "size", json_integer(e->layer.size));
        json_object_set_new(o, "media_type", json_string(e->layer.media_type));
    }
    if (!e->empty && e->layer.dir[0])
        json_object_set_new(o, "dir", json_string(e->layer.dir));
    return write_json(path, o, err);
}

int sv_bcache_diff_id(const char *blob, char diff_id[SV_DIGEST_LEN + 1], sv_error_t *err)
{
    cleanup_free char *path = entry_path("diffid", blob);
    cleanup_json json_t *o = read_json(path);
    const char *id = json_string_value(json_object_get(o, "diff_id"));
    if (sv_digest_valid(id)) {
        strcpy(diff_id, id);
        return 0;
    }
    if (!sv_blob_exists(blob))
        return sv_error(err, 0, "layer %s is missing from the store (pull the image again)", blob);
    if (sv_tarw_diff_id(blob, diff_id, err) < 0)
        return -1;
    cleanup_json json_t *n = json_pack("{s:s}", "diff_id", diff_id);
    sv_error_t ignored = NULL; /* a cache that cannot be written is only slower */
    write_json(path, n, &ignored);
    sv_error_free(&ignored);
    return 0;
}
