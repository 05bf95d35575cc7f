/* Stacks: a service graph made real. The folder's map, and every public
 * header of it for a file that wants the whole subsystem:
 *
 *   supervisor.h  the supervisor, one detached process per stack that owns
 *                 its replicas (its parts: supervisor_int.h)
 *   client.h      talking to it: the control socket, starting one, the lock
 *                 of commands that change a stack, `up`
 *   down.h        taking a stack down, with or without its supervisor
 *   follow.h      following its replicas' logs
 *   ps.h          what `servos ps` shows of it
 *   rows.h        its replicas as the store records them
 *   select.h      which stack a command is about
 *   spec.h        a service as a container's run spec
 *   volumes.h     its volumes on the host
 *   lastup.h      its last `up`, saved to be evaluated again
 *
 * Where a stack keeps its files is not here: core/statedir.h says it,
 * below every folder that needs it (proserve and net do too). */
#ifndef SV_STACK_H
#define SV_STACK_H

#include "stack/client.h"
#include "stack/down.h"
#include "stack/follow.h"
#include "stack/lastup.h"
#include "stack/ps.h"
#include "stack/rows.h"
#include "stack/select.h"
#include "stack/spec.h"
#include "stack/supervisor.h"
#include "stack/volumes.h"

#endif
