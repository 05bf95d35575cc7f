/* The supervisor: one detached process per stack that owns its replicas
 * (supervisor_int.h describes it from inside). */
#ifndef SV_STACK_SUPERVISOR_H
#define SV_STACK_SUPERVISOR_H

#include "graph/graph.h"

/* Start one: detached (double fork), it re-adopts the stack's running
 * replicas, reconciles g (g NULL: the graph of the last `up`, evaluated
 * again from <stack dir>/request), then serves. Returns once the first
 * reconcile is done: 0, or its error (EBUSY: another supervisor of this
 * stack is starting; ECANCELED: g failed on a stack of which nothing ran,
 * so the supervisor undid what it had started, network and ports too, and
 * is exiting). */
int sv_supervisor_spawn(const char *stack, struct sv_graph *g, sv_error_t *err);

#endif
