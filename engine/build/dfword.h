/* Words of a Containerfile as Docker's shell lexer reads them: quotes
 * ('...' literal, "..." with $ expansion), the escape character (\ or `,
 * see "# escape="), and variables ($NAME, ${NAME}, ${NAME:-default},
 * ${NAME:+alt}, ${NAME-default}, ${NAME+alt}, ${NAME:?message}). A value a
 * variable expands to is never split into words again, and an undefined
 * variable is empty, as in Docker. RUN, CMD and ENTRYPOINT are not
 * expanded here: their shell does it. */
#ifndef SV_DFWORD_H
#define SV_DFWORD_H

#include "core/util.h"

/* The value of variable name, or NULL when it is not set. */
typedef const char *sv_dfword_lookup_fn(void *ctx, const char *name);

/* text as one word: quotes removed, escapes and variables resolved,
 * whitespace kept (WORKDIR "/my dir", USER, the legacy "ENV K V V"). */
int sv_dfword_expand(const char *text, char escape, sv_dfword_lookup_fn *lookup, void *ctx,
                     char **out, sv_error_t *err);

/* text split at unquoted whitespace into words, each as above
 * (NULL-terminated; an empty text gives no words). */
int sv_dfword_split(const char *text, char escape, sv_dfword_lookup_fn *lookup, void *ctx,
                    char ***out, sv_error_t *err);

/* Is name a valid variable name (a letter or "_", then letters, digits
 * and "_")? */
bool sv_dfword_valid_name(const char *name, size_t len);

#endif
