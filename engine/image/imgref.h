/* Image references as Docker and podman spell them: "alpine",
 * "alpine:3.20", "registry.example:5000/team/app:1.4", "app@sha256:…".
 * A first component with a "." or ":" (or "localhost") names the registry;
 * otherwise it is Docker Hub, where one-word names live under "library/". */
#ifndef SV_IMGREF_H
#define SV_IMGREF_H

#include "core/digest.h"
#include "core/util.h"

struct sv_imgref {
    char *registry;                 /* "docker.io", "127.0.0.1:5000", "localhost" */
    char *repo;                     /* "library/alpine", "team/app" */
    char *tag;                      /* "latest" unless a digest was given */
    char digest[SV_DIGEST_LEN + 1]; /* "" unless given */
};

int sv_imgref_parse(const char *s, struct sv_imgref *r, sv_error_t *err);
void sv_imgref_clear(struct sv_imgref *r);
static inline void sv_imgref_clearp(struct sv_imgref *r)
{
    sv_imgref_clear(r);
}
/* Cleared at scope exit; initialise with {0}. */
#define cleanup_imgref __attribute__((cleanup(sv_imgref_clearp)))
/* "registry/repo:tag", or "registry/repo@digest" for a digest reference. */
char *sv_imgref_name(const struct sv_imgref *r);
/* The host to talk to: Docker Hub's API is not at docker.io. */
const char *sv_imgref_api_host(const struct sv_imgref *r);
/* Registries on loopback speak plain HTTP when they do not speak TLS. */
bool sv_imgref_loopback(const struct sv_imgref *r);

#endif
