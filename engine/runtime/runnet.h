/* servos run -p: a container's own network, made as a one-service stack's
 * is (stacknet.h) and published by the same relay and kernel fast path
 * (proxy.h, pubnat.h), none of which changes for it.
 *
 * Why not relay into the container's own namespace, to its loopback, as
 * some rootless port forwarders do? Every client, a remote one too under
 * -p 0.0.0.0:..., would reach the program from 127.0.0.1, which many
 * programs trust (admin consoles, databases in "protected mode"), and a
 * port the program bound to 127.0.0.1 on purpose, to keep it private,
 * would be published all the same. On a network of its own the container
 * has an address (eth0, 10.N.0.2/16), is reached there as a stack's
 * replica is, sees the relay's address as its peer, and its loopback
 * stays its own. It reaches nothing but that network's gateway: no route
 * leads out of it, as none leads out of a stack's.
 *
 * The network is a pseudo-stack named "_run-" and 16 hex digits, which no
 * stack can be called (a stack's name starts with a letter or a digit): its
 * /16 is chosen among the stacks', its namespace is pinned under
 * stacks/_run-.../, and it goes when the container ends for good (or at
 * `servos rm`, when the process that held it died first).
 *
 * The ports are held by a process of their own, the keeper, forked from
 * the process that starts the container (the CLI when attached, the
 * monitor with -d): it binds them, says which it got, and relays until
 * that process closes its end of a pipe or dies. */
#ifndef SV_RUNNET_H
#define SV_RUNNET_H

#include "runtime/container.h"
#include "graph/units.h"

struct sv_runnet;

/* Make the network and fork the keeper, which binds every port
 * (127.0.0.1 unless one names an address; TCP only): a port in use is an
 * error before anything starts. The keeper holds nothing of the caller's
 * but its pipe. */
int sv_runnet_open(const struct sv_port_spec *ports, size_t n, struct sv_runnet **out,
                   sv_error_t *err);
/* Put spec on the network (an address on its bridge) and record it there:
 * the network's name and the ports as bound ("IP:PORT->PORT/tcp"). The
 * strings stay the network's. */
void sv_runnet_attach(struct sv_runnet *rn, struct sv_run_spec *spec);
/* Before a container of id starts again: its last run's link, should the
 * kernel not have removed it yet with that run's namespace, goes. */
void sv_runnet_prepare(struct sv_runnet *rn, const char *id);
/* Stop relaying, close the ports, remove the network. NULL is fine. */
void sv_runnet_close(struct sv_runnet *rn);

/* Is key the name of such a network (as recorded in a container's spec)? */
bool sv_runnet_key_valid(const char *key);
/* Remove the network called key: safe to repeat. */
int sv_runnet_destroy(const char *key, sv_error_t *err);

#endif
