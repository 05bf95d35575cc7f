/* Which stack a command is about: the one named by -p, else the one the
 * current directory's Envirofile (or manifest) declares; and, for a name
 * that names none here, an error that lists those that exist. */
#ifndef SV_STACK_SELECT_H
#define SV_STACK_SELECT_H

#include "core/util.h"

#include <stdbool.h>

/* project (NULL: the current directory's stack) into *stack, to free. */
int sv_select_stack(const char *project, char **stack, sv_error_t *err);
/* The same for verbs about a stack that exists: a -p NAME that names none
 * is a mistake to point out, not an empty answer. */
int sv_select_known_stack(const char *project, char **stack, sv_error_t *err);
/* Does stack exist here: its state directory, or a replica's row? */
bool sv_select_exists(const char *stack);
/* Set err to "no stack "shp"; did you mean "shop"? (stacks here: a,
 * shop)"; returns -1. */
int sv_select_no_such(const char *stack, sv_error_t *err);

#endif
