/* The few rtnetlink requests a stack network needs, through libmnl. A
 * netlink socket acts in the network namespace it was opened in, so the
 * supervisor opens one inside its stack's namespace and manages the bridge
 * and the veths there without ever touching the host's namespace. */
#ifndef SV_NETLINK_H
#define SV_NETLINK_H

#include "util.h"

#include <sys/types.h>

struct sv_nl;

/* A rtnetlink socket in the calling thread's current network namespace. */
int sv_nl_open(struct sv_nl **out, sv_error_t *err);
void sv_nl_close(struct sv_nl *nl);

/* Create bridge `name` (up) with address addr/prefix (host byte order);
 * *ifindex is its index. An existing bridge of that name is kept. */
int sv_nl_bridge(struct sv_nl *nl, const char *name, uint32_t addr, int prefix, int *ifindex,
                 sv_error_t *err);

/* A veth pair: `name` here, up and enslaved to bridge `master`; its peer,
 * down and called `peer_name`, in the network namespace of process pid. */
int sv_nl_veth(struct sv_nl *nl, const char *name, int master, const char *peer_name, pid_t pid,
               sv_error_t *err);

/* Forget the neighbour entry of addr on ifindex (a new replica may reuse an
 * address with a new MAC); no error when there is none. */
void sv_nl_forget_neighbour(struct sv_nl *nl, int ifindex, uint32_t addr);

#endif
