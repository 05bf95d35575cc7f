/* Stacks: a service graph made real. The supervisor (supervisor.c) owns a
 * stack's containers; this file has what both it and the CLI need: where a
 * stack keeps its files, how a service becomes a container spec, named
 * volumes, and talking to the supervisor over its unix socket. */
#ifndef SV_STACK_H
#define SV_STACK_H

#include "core/statedir.h"
#include "runtime/container.h"
#include "git/gitsrc.h"
#include "graph/graph.h"

/* The hash of a service's spec as 16 hex digits. */
void sv_service_hash_hex(const struct sv_service *s, char out[17]);

/* The run spec of replica n of service s (strings borrowed from s and the
 * graph; free with sv_stack_spec_free). Named volumes are created here. */
int sv_stack_spec(const struct sv_graph *g, const struct sv_service *s, int n,
                  struct sv_run_spec *spec, sv_error_t *err);
void sv_stack_spec_free(struct sv_run_spec *spec);
/* Remove every volume of stack (named and anonymous): its directory, and
 * the old-layout directories of g's volumes that are unambiguously its
 * (g may be NULL). */
int sv_stack_remove_volumes(const char *stack, const struct sv_graph *g, sv_error_t *err);

/* The supervisor's socket. Request: one line; reply: lines, the last one
 * "ok" or "error: MESSAGE". */
char *sv_stack_socket(const char *stack);
/* Connect; -1 (no error) when no supervisor listens. */
int sv_stack_connect(const char *stack);
/* Send a request and copy the reply's lines (minus the final one) to out
 * (may be NULL); returns 0 on "ok", -1 with err set otherwise. */
int sv_stack_request(int fd, const char *request, FILE *out, sv_error_t *err);

/* The supervisor. Starts detached (double fork), re-adopts the stack's
 * running replicas, reconciles g (g NULL: the graph of the last `up`,
 * evaluated again from <stack dir>/request), then serves. Returns once the
 * first reconcile is done: 0, or its error (EBUSY: another supervisor of
 * this stack is starting; ECANCELED: g failed on a stack of which nothing
 * ran, so the supervisor undid what it had started, network and ports
 * too, and is exiting). */
int sv_supervisor_spawn(const char *stack, struct sv_graph *g, sv_error_t *err);
/* Save what `up` evaluated (path, project, cwd, environment) and the git
 * commits it resolved (sv_git_pins(); NULL: none), so a supervisor can
 * evaluate it again. */
int sv_stack_save_request(const char *stack, const char *path, const char *project,
                          const char *pins, sv_error_t *err);
/* Record new commits (a pull) for the saved request. */
int sv_stack_save_pins(const char *stack, const char *pins, sv_error_t *err);
/* Evaluate the saved request again, its git sources under policy. */
int sv_stack_load_request(const char *stack, enum sv_git_policy policy, struct sv_graph **g,
                          sv_error_t *err);
/* The stack's recorded git commits (sv_git_pins() format), or NULL. */
char *sv_stack_pins(const char *stack);

#endif
