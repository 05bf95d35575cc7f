/* What a container uses now, from its cgroups: CPU time, memory, tasks.
 * Read for `servos serve` (/metrics, the dashboard's charts). On a hybrid
 * host a container has v1 groups only for the limits it has: what its v1
 * groups cannot tell comes from its unified group, which holds every
 * process (CPU time from cpu.stat, tasks from cgroup.threads), and memory
 * then is its processes' resident pages (shared ones counted in each). */
#ifndef SV_CGSTATS_H
#define SV_CGSTATS_H

#include "core/util.h"

struct sv_cgstats {
    double cpu_s;   /* user + system, since the container started; < 0: unknown */
    int64_t memory; /* bytes; < 0: unknown */
    int64_t tasks;  /* processes and threads; < 0: unknown */
};

void sv_cgstats_read(const char *id, struct sv_cgstats *out);

#endif
