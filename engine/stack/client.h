/* The client side of a stack's supervisor, for the commands that talk to
 * it: its control socket (a request is one line, the verb and arguments
 * separated by tabs; the reply is lines, the last one "ok" or
 * "error: MESSAGE"), whether one lives, starting one, and the lock that
 * serialises commands that change the stack. */
#ifndef SV_STACK_CLIENT_H
#define SV_STACK_CLIENT_H

#include "graph/graph.h"

#include <stdbool.h>
#include <stdio.h>

/* <stack dir>/sock, where the supervisor listens. */
char *sv_client_socket_path(const char *stack);
/* Connect; -1 (no error) when no supervisor listens. */
int sv_client_connect(const char *stack);
/* Send a request on fd and copy the reply's lines (minus the final one)
 * to out (may be NULL); returns 0 on "ok", -1 with err set otherwise
 * (ECONNRESET: the supervisor went away without an answer). */
int sv_client_send(int fd, const char *request, FILE *out, sv_error_t *err);
/* Send one request to the stack's supervisor, waiting up to 5 s for one
 * to listen; its reply's lines go to stdout. */
int sv_client_request(const char *stack, const char *request, sv_error_t *err);

/* Does a supervisor of stack run (starting, serving or going down)? It
 * holds <stack dir>/supervisor.lock as long as it lives. */
bool sv_client_supervisor_alive(const char *stack);
/* Wait up to ms for the stack's supervisor to be gone; true when it is. */
bool sv_client_wait_gone(const char *stack, int ms);
/* A supervisor for a stack that has replicas: start one (adopting them)
 * when the last one died. */
int sv_client_ensure_supervisor(const char *stack, sv_error_t *err);

/* Serialise the commands that change a stack (up, pull, down): the
 * second waits for the first, and says so on stderr. Returns the lock's
 * descriptor, to close when done; -1 when there is none to take (err is
 * set when the stack's directory cannot be made). */
int sv_client_lock(const char *stack, sv_error_t *err);

/* Pull g's missing images and have the stack's supervisor (started when
 * none runs) make the stack match g, as the saved request (lastup.h)
 * describes it. The caller holds the stack's lock. ECANCELED: see
 * sv_supervisor_spawn. */
int sv_client_up(const char *stack, struct sv_graph *g, sv_error_t *err);

#endif
