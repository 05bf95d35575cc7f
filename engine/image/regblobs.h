/* Which repositories of a registry are known to hold a blob: noted after
 * each pull and push, read by push to mount a blob from a repository of
 * the same registry instead of uploading it (an image built on a base
 * pulled from registry/lib/base, pushed to registry/team/app, uploads only
 * its own layers). Kept in <state root>/images/remote-blobs.json; a hint
 * only: a stale entry costs a mount the registry refuses, never a push. */
#ifndef SV_REGBLOBS_H
#define SV_REGBLOBS_H

#include "core/digest.h"
#include "core/util.h"

/* registry/repo holds these n blobs (best effort: a failure is silent). */
void sv_regblobs_note(const char *registry, const char *repo,
                      const char (*digests)[SV_DIGEST_LEN + 1], size_t n);
/* The repositories of registry known to hold digest, but repo, the most
 * recent first (NULL-terminated; NULL when none). */
char **sv_regblobs_sources(const char *registry, const char *digest, const char *repo);

#endif
