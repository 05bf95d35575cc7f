/* The input front: a path (an Envirofile, a YAML file, or a directory of
 * them) becomes one service graph. Format detection lives here. */
#ifndef SV_LOAD_H
#define SV_LOAD_H

#include "graph/graph.h"

/* path NULL: the default file of the current directory (Envirofile.lua,
 * then servos.yaml, compose.yaml, docker-compose.yaml and their .yml).
 * stack_override: the -p NAME of the CLI, or NULL. */
int sv_load_graph(const char *path, const char *stack_override, struct sv_graph **out,
                  sv_error_t *err);

/* The stack the current directory's default file names, as sv_load_graph
 * would give it, from the name memo (lua/memo.h) while what the last
 * evaluation read is unchanged. */
int sv_load_stack_name(char **stack, sv_error_t *err);

/* Letters, digits, "_", "-" and ".", starting with a letter or digit, at
 * most 63: what a stack may be called (-p NAME, stack "NAME"). */
bool sv_load_valid_stack_name(const char *name);

#endif
