/* Variable interpolation in YAML values, as Compose and ProServe do it:
 * $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
 * ${VAR?error}, ${VAR:+alt}, ${VAR+alt}, and $$ for a literal $. */
#ifndef SV_INTERPOLATE_H
#define SV_INTERPOLATE_H

#include "core/util.h"

struct sv_interp {
    /* The variable's value, or NULL when unset. */
    const char *(*lookup)(void *ud, const char *name);
    /* Told about each variable that was unset and had no default. */
    void (*missing)(void *ud, const char *name);
    void *ud;
    /* An unset $VAR (no braces) stays as written, as ProServe's
     * os.path.expandvars leaves it (a shell command's own variables);
     * Compose makes it empty. */
    bool keep_bare_unset;
};

/* *out is NULL when s holds no '$' (nothing to do), else a new string.
 * On error returns -1 and sets *errmsg (allocated). *out holds the text
 * being built while lookup and missing run, so a caller whose callbacks
 * may longjmp (Lua errors) keeps *out where it can free it. */
int sv_interpolate(const char *s, const struct sv_interp *ip, char **out, char **errmsg);

#endif
