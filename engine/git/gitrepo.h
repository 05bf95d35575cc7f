/* The git cache: one bare repository per URL under <root>/git/<key>,
 * fetched and read with libgit2, and commits exported as plain trees.
 * gitsrc.c decides when to fetch; this file only does it. */
#ifndef SV_GITREPO_H
#define SV_GITREPO_H

#include "core/util.h"

struct sv_gitrepo;

/* Open (creating when missing) the cache of url_key (the URL without
 * credentials), locked against other servos processes until closed. */
int sv_gitrepo_open(const char *url_key, struct sv_gitrepo **out, sv_error_t *err);
void sv_gitrepo_close(struct sv_gitrepo *r);
static inline void sv_gitrepo_closep(struct sv_gitrepo **r)
{
    sv_gitrepo_close(*r);
}
/* Closed (and unlocked) at scope exit. */
#define cleanup_gitrepo __attribute__((cleanup(sv_gitrepo_closep)))
/* True once a fetch has ever succeeded. */
bool sv_gitrepo_fetched(const struct sv_gitrepo *r);

/* Fetch every branch and tag, and remember the remote's HEAD. url may
 * carry credentials; secret (or NULL) is scrubbed from any message. */
int sv_gitrepo_fetch(struct sv_gitrepo *r, const char *url, const char *display, const char *secret,
                     sv_error_t *err);

enum sv_gitrepo_ref_kind { SV_GITREPO_BRANCH, SV_GITREPO_TAG, SV_GITREPO_COMMIT };
/* The commit ref names in the cache (ref NULL: the remote's HEAD). Fails
 * with ENOENT when the cache does not know it. */
int sv_gitrepo_resolve(struct sv_gitrepo *r, const char *ref, char commit[41],
                       enum sv_gitrepo_ref_kind *kind, sv_error_t *err);
bool sv_gitrepo_has_commit(struct sv_gitrepo *r, const char *commit);

/* The directory holding commit's files, exported on first use. */
int sv_gitrepo_export(struct sv_gitrepo *r, const char *commit, char **dir, sv_error_t *err);

/* Remove exported trees no stack has recorded and none used for
 * idle_seconds (the repositories stay: they are the offline cache). */
void sv_gitrepo_prune(int idle_seconds);

#endif
