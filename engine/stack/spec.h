/* How a service of the graph becomes a container: the run spec of one of
 * its replicas (runtime/container.h), and the hash that tells a replica
 * made from an older spec. */
#ifndef SV_STACK_SPEC_H
#define SV_STACK_SPEC_H

#include "graph/graph.h"
#include "runtime/container.h"

/* The hash of a service's spec as 16 hex digits. */
void sv_spec_hash_hex(const struct sv_service *s, char out[17]);

/* The run spec of replica n of service s (strings borrowed from s and the
 * graph; free with sv_spec_free). Volumes are created here. */
int sv_spec_make(const struct sv_graph *g, const struct sv_service *s, int n,
                 struct sv_run_spec *spec, sv_error_t *err);
/* What sv_spec_make allocated; spec is zeroed, so twice is harmless. */
void sv_spec_free(struct sv_run_spec *spec);
#define cleanup_spec __attribute__((cleanup(sv_spec_free)))

#endif
