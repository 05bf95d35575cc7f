/* Turn what an evaluation declared (stdlib/servos.lua's `decl`) into a
 * validated service graph. Every key of every service is checked here, for
 * every input format, so errors read the same whatever the source. */
#ifndef SV_EXTRACT_H
#define SV_EXTRACT_H

#include "graph/graph.h"
#include "lua/sandbox.h"

/* default_stack: the name used when no `stack "..."` (or Compose `name:`)
 * was given, usually the directory's name. */
int sv_extract_graph(struct sv_lua *s, const char *default_stack, struct sv_graph **out,
                     sv_error_t *err);

#endif
