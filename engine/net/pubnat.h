/* The kernel's fast path for ports published on 127.0.0.1.
 *
 * A userspace relay (proxy.c) costs each request two extra TCP connections'
 * worth of work and two wake-ups; on a small host it carries about half of
 * what a direct connection does. So for connections to 127.0.0.1, a tc
 * program on the host's loopback rewrites the packets of a published port
 * to go to a replica and sends them into the stack's namespace over a veth
 * pair, and its twin on the host end of that pair rewrites the answers
 * back: one TCP connection end to end, no process in the middle.
 *
 * The host end of the pair has no address and no route (IPv6 off), and
 * drops everything that is not an answer to such a connection, so the
 * stack's network still never shows in the host's addresses or routes.
 * The programs are attached as tcx links held by the supervisor: they go
 * when it goes, whatever way it dies. Where this cannot work (no libbpf,
 * a kernel before 6.6, strict reverse-path filtering) the relay carries
 * every connection, as it does connections to other addresses. */
#ifndef SV_PUBNAT_H
#define SV_PUBNAT_H

#include "net/stacknet.h"

struct sv_pubnat;

/* Set up the fast path for stack network net. On failure, NULL and *why
 * says what is missing. */
struct sv_pubnat *sv_pubnat_open(struct sv_stacknet *net, char **why);
void sv_pubnat_close(struct sv_pubnat *p);

/* Connections to 127.0.0.1:port go to container_port on these replicas
 * (none: the relay takes them, and refuses). */
void sv_pubnat_set(struct sv_pubnat *p, int port, int container_port, const uint32_t *addrs,
                   size_t n);
void sv_pubnat_unset(struct sv_pubnat *p, int port);

#endif
