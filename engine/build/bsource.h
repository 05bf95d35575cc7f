/* The sources of a COPY or ADD (bsource.c): from the build context, or
 * from the tree of another stage or of an image (layerfs.h). */
#ifndef SV_BSOURCE_H
#define SV_BSOURCE_H

#include "core/digest.h"
#include "core/util.h"

#include <sys/stat.h>

struct build;
struct sv_layerfs;

struct bsrc_entry {
    char *rel;      /* its path below the source ("" for the source itself) */
    struct stat st; /* as found (a tree's owners still the containers' host ids) */
    char *link;     /* a link's target */
    char *path;     /* a context file: its path in the context; a tree's: its host path */
};

struct bsrc {
    char *name;  /* the source's last name: a file's name at the destination */
    char *shown; /* as the instruction wrote it */
    bool is_dir;
    struct bsrc_entry *e; /* the source itself first, then what a directory holds */
    size_t n;
};

struct bsources {
    struct bsrc *v;
    size_t n;
    bool glob;                      /* a pattern gave some: the destination is a directory */
    char digest[SV_DIGEST_LEN + 1]; /* of the context's (sv_bsource_digest) */
};

void sv_bsource_clear(struct bsources *bs);
/* srcs (n, as the instruction gives them) found in the build context. */
int sv_bsource_context(struct build *b, char *const *srcs, size_t n, struct bsources *bs,
                       sv_error_t *err);
/* Names, modes, link targets and content of what the context gave. */
int sv_bsource_digest(struct build *b, struct bsources *bs, sv_error_t *err);
/* Keep what sv_bsource_digest learnt of the context's files (their
 * digests, by inode stamp) for the next build. */
void sv_bsource_cache_save(struct build *b);
/* srcs found in a tree (absolute paths there; globs too). */
int sv_bsource_tree(const struct sv_layerfs *fs, char *const *srcs, size_t n, struct bsources *bs,
                    sv_error_t *err);

#endif
