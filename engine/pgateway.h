/* ProServe's container isolation (isolation.mode container, docker,
 * sandbox): each handler runs in a servos container of its own. The
 * service host lives inside a container and cannot make containers, so the
 * stack's supervisor listens on a socket per such service (bound into the
 * service's container at SV_GATEWAY_PATH) and, per connection, runs
 * `servos run --rm` with the handler's stdin, stdout and stderr that the
 * host passes over the socket. What the handler may not choose is taken
 * from the stack's graph: the image, limits, network, mounts and user. */
#ifndef SV_PGATEWAY_H
#define SV_PGATEWAY_H

#include "graph.h"

#define SV_GATEWAY_DIR  "/.servos/gateway"
#define SV_GATEWAY_PATH SV_GATEWAY_DIR "/sock"

/* Does s run its handlers in containers? */
bool sv_gateway_wanted(const struct sv_service *s);
/* The image its handlers' containers use (isolation.image), or NULL. */
const char *sv_gateway_image(const struct sv_service *s);
/* <stack dir>/gateway-<service>: the directory bound at SV_GATEWAY_DIR. */
char *sv_gateway_dir(const char *stack, const char *service);

/* Supervisor side: listen for s (a fresh socket in its directory, owned by
 * the container's root); returns the listening descriptor or -1. */
int sv_gateway_listen(const char *stack, const struct sv_service *s, sv_error_t *err);
/* Accept one connection on lfd and serve it in a child process (reaped by
 * the caller's SIGCHLD handling). */
void sv_gateway_accept(int lfd, const char *stack, const struct sv_service *s);

/* Service side: run argv in a container through the gateway with the
 * given stdio (the handler's ends) and env. Returns the connection, which
 * reports "exit CODE\n" when the handler ends; closing it early kills the
 * handler. */
int sv_gateway_start(char *const argv[], char *const env[], const int stdio[3], sv_error_t *err);

#endif
