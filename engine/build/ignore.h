/* .containerignore / .dockerignore, as Docker reads them: one pattern a
 * line relative to the context (a leading "/" changes nothing), "#"
 * comments, "!" to take back an exclusion, Go's glob syntax (*, ?, [a-z],
 * \ to escape) with "**" for any number of directories. A pattern that
 * matches a directory excludes everything below it; the last pattern that
 * matches a path decides. */
#ifndef SV_IGNORE_H
#define SV_IGNORE_H

#include "core/util.h"

struct sv_ignore {
    char **pats; /* cleaned, without "!" */
    bool *negate;
    size_t n;
    bool any_negate;
};

/* Read the file at path into ig (a missing file gives no patterns). */
int sv_ignore_load(const char *path, struct sv_ignore *ig, sv_error_t *err);
/* The same from text (for tests and for files read elsewhere). */
void sv_ignore_parse(const char *text, struct sv_ignore *ig);
void sv_ignore_clear(struct sv_ignore *ig);

/* Is rel ("dir/file", relative to the context, no leading "./") excluded? */
bool sv_ignore_excluded(const struct sv_ignore *ig, const char *rel);

/* Does glob (Go's syntax, one path segment) match name? */
bool sv_ignore_glob(const char *glob, const char *name);

#endif
