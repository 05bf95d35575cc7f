/* The last `up` of a stack, saved so that a supervisor (a new one after a
 * crash, or `up` over the control socket) can evaluate it again as the
 * user's command did: <stack dir>/request holds the path, the project
 * name, the working directory and the environment; <stack dir>/git.pins
 * the git commits it resolved. */
#ifndef SV_STACK_LASTUP_H
#define SV_STACK_LASTUP_H

#include "git/gitsrc.h"
#include "graph/graph.h"

/* Exported git trees unused this long, and recorded by no stack, go at the
 * next pull or down (their repositories stay cached). */
#define SV_LASTUP_GIT_IDLE (10 * 60)

/* Save what `up` evaluated (path, project, cwd, environment) and the git
 * commits it resolved (sv_git_pins(); NULL: none). */
int sv_lastup_save(const char *stack, const char *path, const char *project, const char *pins,
                   sv_error_t *err);
/* Record new commits (a pull) for the saved request. */
int sv_lastup_save_pins(const char *stack, const char *pins, sv_error_t *err);
/* Evaluate the saved request again, its git sources under policy. */
int sv_lastup_load(const char *stack, enum sv_git_policy policy, struct sv_graph **g,
                   sv_error_t *err);
/* The stack's recorded git commits (sv_git_pins() format), or NULL. */
char *sv_lastup_pins(const char *stack);

#endif
