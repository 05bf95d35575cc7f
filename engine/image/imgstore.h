/* The image store, under <state root>/images:
 *   blobs/sha256/<hex>     content by digest (manifests, configs, layers),
 *                          each verified before it is stored
 *   layers/<hex>-<uid>     a layer blob unpacked once per id range, shared
 *                          by every container as an overlay lower layer
 *   index.json             names ("registry/repo:tag") -> manifest digest,
 *                          and every image's digest with its creation time
 * An image is its manifest digest: an OCI (or Docker schema 2) manifest
 * naming a config blob and layer blobs, bottom first. The blobs
 * themselves are imgblob.h's. */
#ifndef SV_IMGSTORE_H
#define SV_IMGSTORE_H

#include "core/digest.h"
#include "host/userns.h"
#include "core/util.h"

#include <stdint.h>

struct sv_image {
    char digest[SV_DIGEST_LEN + 1]; /* the manifest's */
    char config[SV_DIGEST_LEN + 1];
    char (*layers)[SV_DIGEST_LEN + 1];
    size_t n_layers;
    int64_t size; /* of the layer blobs */
};

/* What the image's config says to run, used where the service is silent. */
struct sv_image_config {
    char **entrypoint, **cmd, **env; /* NULL-terminated or NULL */
    char *workdir, *user, *stop_signal;
    char **exposed; /* "80/tcp", ... */
    /* HEALTHCHECK: test as an argv ("CMD-SHELL x" is /bin/sh -c x), NULL
     * when the image has none; health_none when it says NONE. */
    char **health_test;
    bool health_none;
    int64_t health_interval_ms, health_timeout_ms, health_start_ms;
    int health_retries;
};

/* Parse a manifest (the stored blob digest) into img. */
int sv_image_load(const char *digest, struct sv_image *img, sv_error_t *err);
/* Check a manifest document: its media type must be an image manifest. */
int sv_image_parse_manifest(const char *json, size_t len, struct sv_image *img, sv_error_t *err);
void sv_image_clear(struct sv_image *img);
static inline void sv_image_clearp(struct sv_image *img)
{
    sv_image_clear(img);
}
/* Cleared at scope exit; initialise with {0}. */
#define cleanup_image __attribute__((cleanup(sv_image_clearp)))
/* The OCI architecture name of this host ("amd64", "arm64", ...). */
const char *sv_image_arch(void);
/* From an image index (or Docker manifest list), this host's manifest. */
int sv_image_pick_platform(const char *doc, size_t len, char **manifest, sv_error_t *err);
int sv_image_config_load(const struct sv_image *img, struct sv_image_config *cfg, sv_error_t *err);
void sv_image_config_clear(struct sv_image_config *cfg);

/* Name (any form sv_imgref_parse reads, a full digest, or a 12+ hex prefix
 * of one) -> manifest digest. 0 found, 1 not in the store, -1 error. */
int sv_image_lookup(const char *name, char digest[SV_DIGEST_LEN + 1], sv_error_t *err);
/* Record an image (digest), and name it when name is not NULL. */
int sv_image_record(const char *name, const char *digest, sv_error_t *err);

struct sv_image_entry {
    char digest[SV_DIGEST_LEN + 1];
    int64_t created;
    char **names; /* NULL-terminated */
};
int sv_image_list(struct sv_image_entry **out, size_t *n, sv_error_t *err);
void sv_image_entries_free(struct sv_image_entry *e, size_t n);
/* Drop a name; when it was the image's last name (or name is a digest),
 * the image too. in_use: digests containers use, which refuse. */
int sv_image_remove(const char *name, const char *const *in_use, sv_error_t *err);
/* Remove blobs and unpacked layers no image (or container, in_use) needs,
 * and images without names that no container uses. Reports bytes freed. */
int sv_image_prune(const char *const *in_use, int64_t *freed, sv_error_t *err);

/* Unpack what is not unpacked yet; lower = the overlay lowerdir option
 * (top layer first). */
int sv_image_lowerdirs(const struct sv_image *img, const struct sv_idmap *map, char **lower,
                       sv_error_t *err);

#endif
