/* How a ProServe handler is started: through the stack's supervisor. The
 * service host lives inside a container with Docker's capabilities, so it
 * can neither make cgroups nor network namespaces, and what it started
 * could outlive it (a setsid child, a fork bomb). So the supervisor
 * listens on a socket per ProServe service (bound into the service's
 * container at SV_GATEWAY_PATH, reachable by its root only) and, per
 * connection, starts one handler run with the stdin, stdout and stderr
 * that the service host passes over the socket:
 *
 *  - isolation.mode container, docker, sandbox: a servos container of its
 *    own (`servos run --rm`), on the service's network (the stack's) or,
 *    with network_isolation, none; at most 64 at once per service, as
 *    they are outside its cgroup;
 *  - otherwise (process, none): a process in the service container's
 *    namespaces, in a cgroup of its own under the service's
 *    (servos/<id>/h<N>: memory_limit, a pids limit, killed as a whole),
 *    as a uid of its own (40000 + N: no handler can ptrace or signal
 *    another), with a private /tmp, no capabilities, no_new_privs, the
 *    default seccomp filter, and with network_isolation a network
 *    namespace of its own holding only loopback.
 *
 * What the request may choose is the command, its environment (NAME=VALUE
 * entries only) and its working directory; everything else (image, limits,
 * network, user, mounts) comes from the stack's graph. When the run ends,
 * whatever it left behind is killed before the supervisor reports "exit
 * CODE" (with " oom" when the memory limit killed it).
 *
 * The service host's end (phandler.c) sends the request as one line,
 * with the three descriptors, and reads the report; writing "kill\n"
 * (or hanging up) ends the run at once. */
#ifndef SV_PGATEWAY_H
#define SV_PGATEWAY_H

#include "graph/graph.h"

#include <stdio.h>

#define SV_GATEWAY_DIR  "/.servos/gateway"
#define SV_GATEWAY_PATH SV_GATEWAY_DIR "/sock"

/* A handler's uid is SV_GATEWAY_UID_BASE + its slot (in the service's
 * user namespace); at most SV_GATEWAY_SLOTS runs at once per container. */
#define SV_GATEWAY_UID_BASE 40000
#define SV_GATEWAY_SLOTS    4096
/* Processes one handler run may have at once (isolation.resources.pids). */
#define SV_GATEWAY_PIDS 256

/* Does s run handlers on this host (every ProServe service but the
 * cluster mode)? */
bool sv_gateway_wanted(const struct sv_service *s);
/* The image its handlers' containers use (isolation.image), or NULL. */
const char *sv_gateway_image(const struct sv_service *s);
/* pgateway_board.c: the board modes (isolation.mode micropython, arduino;
 * board/bproserve.h). The mode s's handlers run in: its own, or
 * "process" when the board's toolchain image is missing and
 * isolation.fallback_on_platform_failure (true unless false) says to fall
 * back; NULL for a service of no board mode. */
const char *sv_gateway_board_mode(const struct sv_service *s);
/* At up: the toolchain image s's board mode needs, built when missing;
 * when it cannot be, a fallback is said on progress and is no error. */
int sv_gateway_board_prepare(const struct sv_service *s, FILE *progress, sv_error_t *err);

/* <stack dir>/gateway-<service>: the directory bound at SV_GATEWAY_DIR. */
char *sv_gateway_dir(const char *stack, const char *service);

/* Supervisor side: listen for s (a fresh socket in its directory, owned by
 * the container's root); returns the listening descriptor or -1. */
int sv_gateway_listen(const char *stack, const struct sv_service *s, sv_error_t *err);
/* Accept one connection on lfd and serve it in a child process (reaped by
 * the caller's SIGCHLD handling). */
void sv_gateway_accept(int lfd, const char *stack, const struct sv_service *s);

/* A request as the supervisor takes it from the service host's header
 * line: JSON {"argv": [...], "env": ["NAME=VALUE", ...], "cwd": "/...", "keep": true}. */
struct sv_gateway_request {
    char **argv; /* at least one entry */
    char **env;  /* each NAME=VALUE, NAME not empty */
    char *cwd;   /* absolute, or NULL */
    bool keep;   /* "keep": true: a WebSocket connection's handler, with no deadline */
};
/* Parse and check one header (untrusted: it comes from a container). */
int sv_gateway_parse(const char *text, size_t len, struct sv_gateway_request *rq, sv_error_t *err);
void sv_gateway_request_clear(struct sv_gateway_request *rq);

#endif
