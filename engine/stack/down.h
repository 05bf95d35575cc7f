/* Taking a stack down from the command line: through its supervisor when
 * one listens, else directly (the replicas stopped and removed here), and
 * then what is left of the stack on the host but its named volumes. */
#ifndef SV_STACK_DOWN_H
#define SV_STACK_DOWN_H

#include "core/util.h"

#include <stdbool.h>

/* Stop and remove every replica (grace_s before SIGKILL; < 0: each
 * service's own), the network, the stack's state and, with volumes, its
 * volumes. A supervisor still going down from an earlier, interrupted
 * down is waited for. The caller holds the stack's lock (client.h). */
int sv_down_stack(const char *stack, long grace_s, bool volumes, sv_error_t *err);
/* A stack's named state goes once nothing of it is left: no supervisor,
 * no replica's row. Its named volumes stay. */
void sv_down_forget(const char *stack);

#endif
