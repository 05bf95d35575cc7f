/* Environment repositories: `git+URL#REF:path` sources and imports.
 *
 * Repositories are fetched with libgit2 into a cache under the state root,
 * one bare repository per URL (<root>/git/<key>/repo), and every commit
 * servos uses is exported once into its own directory
 * (<root>/git/<key>/trees/<commit>), so evaluation reads plain files and a
 * running stack's files never change under it.
 *
 * Which commit a REF means depends on this process's policy: `up` takes
 * the newest (and falls back to the cache when offline), `pull` insists on
 * fetching, and a supervisor re-evaluating a running stack uses the
 * commits recorded when the stack was brought up (the pins). */
#ifndef SV_GITSRC_H
#define SV_GITSRC_H

#include "core/util.h"

struct sv_git_source {
    char *url;     /* as libgit2 takes it (credentials included) */
    char *ref;     /* branch, tag or commit; NULL: the remote's HEAD */
    char *path;    /* inside the repository; "" for its root */
    char *display; /* git+URL#REF:path without credentials, for messages */
    char *key;     /* URL without credentials, "#", REF: what pins are kept under */
    char *secret;  /* the URL's user:password, to scrub from messages; or NULL */
};

/* 1 with *src filled when arg names a git source: git+URL (https, http,
 * ssh, file), git://URL, PATH#REF for a local repository, or the path of a
 * bare repository. 0 when arg is a plain file or directory (a working tree
 * is read as it is on disk). -1 when it is a malformed git source. */
int sv_git_source_parse(const char *arg, struct sv_git_source *src, sv_error_t *err);
void sv_git_source_free(struct sv_git_source *src);

enum sv_git_policy {
    SV_GIT_LATEST, /* fetch branches; tags and commits from the cache; offline: the cache */
    SV_GIT_UPDATE, /* fetch every repository; a failed fetch is an error */
    SV_GIT_PINNED, /* the recorded commits, with no network when they are cached */
};
/* Set the policy; pins is what sv_git_pins() returned when the stack was
 * last brought up (NULL: none). */
void sv_git_set_policy(enum sv_git_policy policy, const char *pins);

struct sv_git_checkout {
    char commit[41];
    char *root;  /* the exported tree of that commit (a real path) */
    char *path;  /* root/<source path> */
    char *label; /* "git+URL#COMMIT:" (12 digits): what root/ reads as in messages */
};

/* Resolve src under the policy and export its commit. role ("source" or
 * "import") is recorded with the pin. */
int sv_git_checkout(const struct sv_git_source *src, const char *role, struct sv_git_checkout *co,
                    sv_error_t *err);
void sv_git_checkout_free(struct sv_git_checkout *co);

/* What this process resolved, "ROLE\tKEY\tCOMMIT\n" per repository and REF
 * in first-use order; NULL when nothing was. Caller frees. */
char *sv_git_pins(void);
/* The commit pins record for key (a source's key), written into commit. */
bool sv_git_pin_lookup(const char *pins, const char *key, char commit[41]);
/* The commit pins record for role "source" (the stack's own repository),
 * written into out; false when there is none. */
bool sv_git_pins_source(const char *pins, char *key_out, size_t key_size, char commit_out[41]);

#endif
