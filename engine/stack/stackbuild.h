/* The images a stack builds (a service's build:), made at up before the
 * graph goes to the supervisor, which only ever finds them by name. */
#ifndef SV_STACKBUILD_H
#define SV_STACKBUILD_H

#include "graph/graph.h"

/* Build every service's image that has build: with the build cache, so
 * only what changed since the last up runs (nothing: no step runs and the
 * image stays the same one); force: every step runs (up --build).
 * Progress goes to stderr. */
int sv_stackbuild_run(const struct sv_graph *g, bool force, sv_error_t *err);

#endif
