/* Where a stack keeps its files under the state root. Stacks, their
 * networks, the ProServe gateway and `servos run -p` (a one-service
 * pseudo-stack) all need these paths, so they live below all of them. */
#ifndef SV_STATEDIR_H
#define SV_STATEDIR_H

#include "core/util.h"

/* <root>/stacks/<stack>: the stack's own state (its saved request with the
 * caller's environment, git pins, logs, the supervisor's socket, locks),
 * root's alone (0700). The path only: reading verbs (ps, logs) must not
 * create state; sv_statedir_stack_make creates it (and tightens an old one). */
char *sv_statedir_stack(const char *stack);
int sv_statedir_stack_make(const char *stack, sv_error_t *err);
/* <root>/binds/<stack>: what the stack's replicas are given from the host
 * (the stack network's hosts file, ProServe manifests and gateway
 * sockets). Container uids must be able to reach these, so they live
 * apart from the private state, with nothing else. Made (0711) when
 * missing. */
char *sv_statedir_binds(const char *stack);
int sv_statedir_binds_remove(const char *stack, sv_error_t *err);
/* Move such files that an older version kept in the stack's own
 * directory to the binds directory (running replicas keep them: a bind
 * follows the file). */
void sv_statedir_binds_migrate(const char *stack);
/* A replica's container name: <stack>-<service>-<n>. */
char *sv_statedir_replica_name(const char *stack, const char *service, int n);
/* Its log file: <stack dir>/logs/<service>-<n>.log (see log/logfile.h). */
char *sv_statedir_replica_log(const char *stack, const char *service, int n);
/* <root>/volumes/stacks/<stack>: the stack's volumes (see stack/volumes.c on the
 * old layout), and <name> in it. */
char *sv_statedir_volumes(const char *stack);
char *sv_statedir_volume(const char *stack, const char *name);

#endif
