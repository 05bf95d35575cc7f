/* Published ports: the supervisor listens on the host (127.0.0.1 unless a
 * port asks for another address) and relays each connection to one of the
 * service's replicas on the stack network, spreading connections round
 * robin and skipping replicas that refuse. A userspace relay needs no
 * iptables and no route from the host into the stack's namespace: the
 * connection to the replica is made by a socket created inside it.
 * Non-blocking, edge-triggered, on an epoll of its own that the
 * supervisor's loop watches as one descriptor. TCP only. Connections to
 * 127.0.0.1 skip the relay where the kernel can carry them (pubnat.h). */
#ifndef SV_PROXY_H
#define SV_PROXY_H

#include "graph/graph.h"
#include "net/stacknet.h"

struct sv_proxy;

/* The addresses of service's running replicas on the stack network (up to
 * max); how many. */
typedef size_t (*sv_proxy_backends_fn)(void *ctx, const char *service, uint32_t *out, size_t max);

struct sv_proxy *sv_proxy_new(struct sv_stacknet *net, sv_proxy_backends_fn fn, void *ctx);
void sv_proxy_free(struct sv_proxy *p);
/* Watch this for EPOLLIN and call sv_proxy_pump when it fires. */
int sv_proxy_fd(const struct sv_proxy *p);
void sv_proxy_pump(struct sv_proxy *p);

/* Publish every port g declares for its stack-network services, keep the
 * ones already published, close the ones no longer declared. */
int sv_proxy_sync(struct sv_proxy *p, const struct sv_graph *g, sv_error_t *err);
/* Tell the kernel's fast path (pubnat.h) which replicas serve each port
 * now; cheap when nothing changed, so call it after every batch of events. */
void sv_proxy_refresh(struct sv_proxy *p);
/* One line per published port: "SERVICE\tIP:PORT->PORT/tcp". */
void sv_proxy_describe(const struct sv_proxy *p, FILE *out);

#endif
