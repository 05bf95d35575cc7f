/* A stage's state as its steps change it: where it starts (scratch, an
 * image of the store or a registry, another stage), its layers, its image
 * config and history, its variables, and the cache key chain that names
 * the state so far. */
#include "build/build_int.h"

#include "core/store.h"
#include "image/imgblob.h"
#include "image/imgstore.h"
#include "image/registry.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DOC (4 << 20)

/* ---- variables ------------------------------------------------------------ */

struct bvar *sv_bvars_find(const struct bvars *vs, const char *name)
{
    for (size_t i = 0; i < vs->n; i++)
        if (strcmp(vs->v[i].name, name) == 0)
            return &vs->v[i];
    return NULL;
}

void sv_bvars_set(struct bvars *vs, const char *name, const char *value)
{
    struct bvar *v = sv_bvars_find(vs, name);
    if (v == NULL) {
        vs->v = sv_xrealloc(vs->v, (vs->n + 1) * sizeof(*vs->v));
        v = &vs->v[vs->n++];
        v->name = sv_xstrdup(name);
    } else {
        free(v->value);
    }
    v->value = value ? sv_xstrdup(value) : NULL;
}

void sv_bvars_clear(struct bvars *vs)
{
    for (size_t i = 0; i < vs->n; i++) {
        free(vs->v[i].name);
        free(vs->v[i].value);
    }
    free(vs->v);
    vs->v = NULL;
    vs->n = 0;
}

/* ---- the state -------------------------------------------------------------- */

void sv_bstate_clear(struct bstage *st)
{
    for (size_t i = 0; i < st->n_layers; i++)
        free(st->layers[i].media_type);
    free(st->layers);
    st->layers = NULL;
    st->n_layers = 0;
    json_decref(st->config);
    json_decref(st->history);
    st->config = st->history = NULL;
    sv_strv_free(st->shell);
    st->shell = NULL;
    sv_bvars_clear(&st->args);
    st->cmd_set = false;
    st->created = 0;
}

static char **default_shell(void)
{
    char **v = sv_xcalloc(3, sizeof(char *));
    v[0] = sv_xstrdup("/bin/sh");
    v[1] = sv_xstrdup("-c");
    return v;
}

/* Bumped when a step's result for the same key changes (how COPY
 * places files, what a layer holds): older entries then miss. */
#define CACHE_VERSION "servos-build-1"

static void set_key(struct bstage *st, const char *from)
{
    char d[SV_DIGEST_LEN + 1];
    cleanup_free char *text = sv_xasprintf("%s\n%s", CACHE_VERSION, from);
    if (sv_digest_mem(text, strlen(text), d, NULL) < 0)
        snprintf(d, sizeof(d), "sha256:%064x", 0); /* no libcrypto: chain() fails later */
    memcpy(st->key, d, sizeof(d));
}

void sv_bstate_scratch(struct bstage *st)
{
    sv_bstate_clear(st);
    st->config = json_object();
    st->history = json_array();
    st->shell = default_shell();
    set_key(st, "FROM scratch");
}

void sv_bstate_from_stage(struct bstage *st, const struct bstage *src)
{
    sv_bstate_clear(st);
    st->layers = sv_xcalloc(src->n_layers + 1, sizeof(*st->layers));
    for (size_t i = 0; i < src->n_layers; i++) {
        st->layers[i] = src->layers[i];
        st->layers[i].media_type = sv_xstrdup(src->layers[i].media_type);
    }
    st->n_layers = src->n_layers;
    st->config = json_deep_copy(src->config);
    st->history = json_deep_copy(src->history);
    char **sh = src->shell;
    size_t n = 0;
    while (sh[n])
        n++;
    st->shell = sv_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        st->shell[i] = sv_xstrdup(sh[i]);
    st->created = src->created;
    memcpy(st->key, src->key, sizeof(st->key));
}

void sv_bstate_add_layer(struct bstage *st, const struct blayer *l)
{
    st->layers = sv_xrealloc(st->layers, (st->n_layers + 1) * sizeof(*st->layers));
    struct blayer *n = &st->layers[st->n_layers++];
    *n = *l;
    n->media_type =
        sv_xstrdup(l->media_type ? l->media_type : "application/vnd.oci.image.layer.v1.tar+gzip");
    if (n->dir[0] == '\0' && n->digest[0])
        snprintf(n->dir, sizeof(n->dir), "%s", n->digest + 7);
}

char *sv_bstate_layer_path(const struct build *b, const struct blayer *l)
{
    return sv_xasprintf("%s/images/layers/%s-%u", sv_state_root(), l->dir,
                        (unsigned)b->map.uid_base);
}

char *sv_bstate_time(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return sv_xstrdup(buf);
}

static int64_t parse_time(const char *s)
{
    struct tm tm = {0};
    if (s == NULL || strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
        return 0;
    return (int64_t)timegm(&tm);
}

void sv_bstate_history(struct bstage *st, const char *created_by, bool empty)
{
    cleanup_free char *t = sv_bstate_time(st->created);
    json_t *h = json_pack("{s:s, s:s, s:s}", "created", t, "created_by", created_by, "comment",
                          "servos build");
    if (empty)
        json_object_set_new(h, "empty_layer", json_true());
    json_array_append_new(st->history, h);
}

int sv_bstate_chain(struct bstage *st, sv_error_t *err, ...)
{
    cleanup_sha256 struct sv_sha256 *h = NULL;
    if (sv_sha256_new(&h, err) < 0)
        return -1;
    sv_sha256_update(h, st->key, strlen(st->key));
    va_list ap;
    va_start(ap, err);
    for (const char *s; (s = va_arg(ap, const char *));) {
        sv_sha256_update(h, "\n", 1);
        sv_sha256_update(h, s, strlen(s));
    }
    va_end(ap);
    sv_sha256_final(sv_steal(h), st->key);
    return 0;
}

/* ---- FROM an image ---------------------------------------------------------- */

/* Docker's names for the layer types are the OCI ones in an OCI manifest. */
static const char *oci_media_type(const char *t)
{
    if (t == NULL || strcmp(t, "application/vnd.docker.image.rootfs.diff.tar.gzip") == 0)
        return "application/vnd.oci.image.layer.v1.tar+gzip";
    return t;
}

static int base_layers(struct bstage *st, json_t *manifest, json_t *diff_ids, sv_error_t *err)
{
    json_t *layers = json_object_get(manifest, "layers");
    size_t n = json_array_size(layers);
    bool have_ids = json_array_size(diff_ids) == n;
    for (size_t i = 0; i < n; i++) {
        json_t *l = json_array_get(layers, i);
        const char *d = json_string_value(json_object_get(l, "digest"));
        if (!sv_digest_valid(d))
            return sv_error(err, EINVAL, "the base image's layer %zu has no valid digest", i + 1);
        struct blayer bl = {.size = json_integer_value(json_object_get(l, "size")),
                            .media_type = (char *)oci_media_type(
                                json_string_value(json_object_get(l, "mediaType")))};
        strcpy(bl.digest, d);
        const char *id = have_ids ? json_string_value(json_array_get(diff_ids, i)) : NULL;
        if (sv_digest_valid(id))
            strcpy(bl.diff_id, id);
        else if (sv_bcache_diff_id(d, bl.diff_id, err) < 0)
            return -1;
        sv_bstate_add_layer(st, &bl);
    }
    return 0;
}

/* The base's history, one entry per layer at least: an image imported
 * from a root file system tarball has none. */
static void base_history(struct bstage *st, json_t *cfg)
{
    json_t *h = json_object_get(cfg, "history");
    st->history = json_is_array(h) ? json_deep_copy(h) : json_array();
    size_t with_layer = 0;
    for (size_t i = 0; i < json_array_size(st->history); i++)
        with_layer += !json_is_true(json_object_get(json_array_get(st->history, i), "empty_layer"));
    for (; with_layer < st->n_layers; with_layer++)
        sv_bstate_history(st, "(a layer of the base image)", false);
}

static int load_base(struct bstage *st, const char *digest, sv_error_t *err)
{
    cleanup_free char *doc = NULL, *cdoc = NULL;
    size_t len, clen;
    if (sv_blob_read(digest, MAX_DOC, &doc, &len, err) < 0)
        return -1;
    cleanup_json json_t *m = json_loadb(doc, len, 0, NULL);
    const char *cd = json_string_value(json_object_get(json_object_get(m, "config"), "digest"));
    if (!sv_digest_valid(cd) || sv_blob_read(cd, MAX_DOC, &cdoc, &clen, err) < 0)
        return sv_error(err, EINVAL, "image %s: no config", digest);
    cleanup_json json_t *cfg = json_loadb(cdoc, clen, 0, NULL);
    if (cfg == NULL)
        return sv_error(err, EINVAL, "image %s: its config is not JSON", digest);
    json_t *c = json_object_get(cfg, "config");
    st->config = json_is_object(c) ? json_deep_copy(c) : json_object();
    json_t *sh = json_object_get(st->config, "Shell");
    st->shell = NULL;
    if (json_is_array(sh) && json_array_size(sh) > 0) {
        st->shell = sv_xcalloc(json_array_size(sh) + 1, sizeof(char *));
        for (size_t i = 0; i < json_array_size(sh); i++)
            st->shell[i] = sv_xstrdup(json_string_value(json_array_get(sh, i)) ?: "");
    } else {
        st->shell = default_shell();
    }
    st->created = parse_time(json_string_value(json_object_get(cfg, "created")));
    if (base_layers(st, m, json_object_get(json_object_get(cfg, "rootfs"), "diff_ids"), err) < 0)
        return -1;
    base_history(st, cfg);
    return 0;
}

int sv_bstate_from_image(struct build *b, struct bstage *st, const char *ref, sv_error_t *err)
{
    sv_bstate_clear(st);
    char digest[SV_DIGEST_LEN + 1];
    int found = sv_image_lookup(ref, digest, err);
    if (found < 0)
        return -1;
    if (found == 1) {
        if (sv_registry_ensure(ref, b->out == NULL, err) < 0)
            return sv_error_wrap(err,
                                 "no image \"%s\" in the store (servos image ls lists them; "
                                 "servos image import ROOTFS.tar %s makes one)",
                                 ref, ref);
        if (sv_image_lookup(ref, digest, err) != 0)
            return sv_error(err, 0, "no image \"%s\" in the store", ref);
    }
    if (load_base(st, digest, err) < 0)
        return sv_error_wrap(err, "FROM %s", ref);
    cleanup_free char *k = sv_xasprintf("FROM %s", digest);
    set_key(st, k);
    return 0;
}

/* ---- variables of a stage ------------------------------------------------------- */

static const char *env_get(json_t *config, const char *name)
{
    json_t *env = json_object_get(config, "Env");
    size_t len = strlen(name);
    const char *found = NULL;
    for (size_t i = 0; i < json_array_size(env); i++) {
        const char *e = json_string_value(json_array_get(env, i));
        if (e && strncmp(e, name, len) == 0 && e[len] == '=')
            found = e + len + 1;
    }
    return found;
}

const char *sv_bstate_lookup(void *stage, const char *name)
{
    struct bstage *st = stage;
    const char *v = env_get(st->config, name);
    if (v)
        return v;
    struct bvar *a = sv_bvars_find(&st->args, name);
    return a ? a->value : NULL;
}

void sv_bstate_setenv(struct bstage *st, const char *k, const char *v)
{
    json_t *env = json_object_get(st->config, "Env");
    if (!json_is_array(env)) {
        env = json_array();
        json_object_set_new(st->config, "Env", env);
    }
    size_t len = strlen(k);
    cleanup_free char *kv = sv_xasprintf("%s=%s", k, v);
    for (size_t i = 0; i < json_array_size(env); i++) {
        const char *e = json_string_value(json_array_get(env, i));
        if (e && strncmp(e, k, len) == 0 && e[len] == '=') {
            json_array_set_new(env, i, json_string(kv));
            return;
        }
    }
    json_array_append_new(env, json_string(kv));
}

char **sv_bstate_run_env(const struct bstage *st)
{
    json_t *env = json_object_get(st->config, "Env");
    size_t n = json_array_size(env), k = 0;
    char **v = sv_xcalloc(n + st->args.n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        if (json_string_value(json_array_get(env, i)))
            v[k++] = sv_xstrdup(json_string_value(json_array_get(env, i)));
    for (size_t i = 0; i < st->args.n; i++)
        if (st->args.v[i].value && env_get(st->config, st->args.v[i].name) == NULL)
            v[k++] = sv_xasprintf("%s=%s", st->args.v[i].name, st->args.v[i].value);
    return v;
}

/* A layer's directory, unpacked from its blob when it is not yet. */
static int layer_ready(struct build *b, const struct bstage *st, const struct blayer *l,
                       sv_error_t *err)
{
    cleanup_free char *path = sv_bstate_layer_path(b, l);
    if (access(path, F_OK) == 0)
        return 0;
    if (l->digest[0] == '\0' || strcmp(l->dir, l->digest + 7) != 0)
        return sv_error(err, 0,
                        "a layer of the build cache is gone (servos image prune removes those "
                        "no image holds): build again with --no-cache");
    struct sv_image img = {.n_layers = 1};
    img.layers = sv_xcalloc(1, sizeof(*img.layers));
    strcpy(img.layers[0], l->digest);
    snprintf(img.digest, sizeof(img.digest), "(%s)", st->label);
    cleanup_free char *lower = NULL;
    int rc = sv_image_lowerdirs(&img, &b->map, &lower, err);
    sv_image_clear(&img);
    return rc;
}

int sv_bstate_layer_dirs(struct build *b, const struct bstage *st, char ***dirs, size_t *n,
                         sv_error_t *err)
{
    *n = st->n_layers;
    *dirs = sv_xcalloc(st->n_layers + 1, sizeof(char *));
    for (size_t i = 0; i < st->n_layers; i++)
        if (layer_ready(b, st, &st->layers[i], err) < 0)
            return -1;
    for (size_t i = 0; i < st->n_layers; i++) /* top first */
        (*dirs)[i] = sv_bstate_layer_path(b, &st->layers[st->n_layers - 1 - i]);
    return 0;
}
