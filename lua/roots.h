/* Repositories an evaluation reads from (git sources and imports). */
#ifndef SV_ROOTS_H
#define SV_ROOTS_H

#include "lua/sandbox.h"

/* Files under root (a real path: a repository's exported tree) may
 * include, import and read only files under root. Messages name them as
 * label + path inside (see sv_roots_relabel). */
void sv_roots_add(struct sv_lua *s, const char *root, const char *label);
/* True when path (symlinks followed) is inside one of the roots. */
bool sv_roots_inside(struct sv_lua *s, const char *path);
/* Rewrite "<root>/" in err's message to the root's label, so an error in a
 * repository's file reads git+URL#COMMIT:path:line, not a cache path. */
void sv_roots_relabel(struct sv_lua *s, sv_error_t *err);
/* host.confine(path) -> boolean: may the running code read path? */
int sv_roots_confine(lua_State *L);

#endif
