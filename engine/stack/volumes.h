/* A stack's volumes on the host: named ones, kept across down and up
 * unless down -v, and anonymous ones, one per replica and mount. */
#ifndef SV_STACK_VOLUMES_H
#define SV_STACK_VOLUMES_H

#include "graph/graph.h"

/* The directory for volume mount i of replica n of service s (a named
 * volume's, or the replica's anonymous one), made now when missing and
 * handed to the service's container root; newly allocated, NULL on
 * error. */
char *sv_volumes_prepare(const struct sv_graph *g, const struct sv_service *s, int n, size_t i,
                         sv_error_t *err);
/* Remove every volume of stack (named and anonymous): its directory, and
 * the old-layout directories of g's volumes that are unambiguously its
 * (g may be NULL). */
int sv_volumes_remove(const char *stack, const struct sv_graph *g, sv_error_t *err);

#endif
