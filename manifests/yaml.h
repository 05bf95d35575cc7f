/* The YAML front: one document → plain Lua values, remembering the line of
 * every key and item so later errors can name file:line. Supports anchors,
 * aliases and merge keys (<<); refuses recursive aliases, complex keys,
 * duplicate keys and several documents in one file. */
#ifndef SV_YAML_H
#define SV_YAML_H

#include "manifests/interpolate.h"

#include <lua.h>

/* The YAML "null" sentinel (a light userdata), so `key:` and `- ~` survive
 * in Lua tables. */
#define SV_YAML_NULL ((void *)0)

#define SV_YAML_MAX_DEPTH 256

/* Parse text (the contents of path) and push the document's value (nil for
 * an empty document). Every table made gets a line table, stored in the weak
 * table at lines_idx: lines[tbl] = { [0] = line of tbl, [true] = "map" or
 * "seq", [key] = line (negative for keys that came from a << merge) }.
 * Scalars that are values (not keys) are interpolated when ip is not NULL.
 * Raises a Lua error "path:line: message" on bad input; frees everything it
 * made either way. */
void sv_yaml_push(lua_State *L, const char *path, const char *text, size_t len, int lines_idx,
                  const struct sv_interp *ip);

#endif
