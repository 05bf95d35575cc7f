/* The few rtnetlink requests a stack network needs, through libmnl. A
 * netlink socket acts in the network namespace it was opened in, so the
 * supervisor opens one inside its stack's namespace and manages the bridge
 * and the veths there without ever touching the host's namespace. */
#ifndef SV_NETLINK_H
#define SV_NETLINK_H

#include "core/util.h"

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

/* A veth pair: `name` here and up, its peer (down) `peer_name` in the
 * network namespace netns_fd. */
int sv_nl_veth_to(struct sv_nl *nl, const char *name, const char *peer_name, int netns_fd,
                  sv_error_t *err);
/* Delete a link (and a veth's peer with it): 0 or -errno. */
int sv_nl_del_link(struct sv_nl *nl, int ifindex);
/* A route to addr/32 straight out of ifindex (replacing one there is). */
int sv_nl_route_host(struct sv_nl *nl, uint32_t addr, int ifindex, sv_error_t *err);
/* A permanent neighbour entry: addr is at mac on ifindex. */
int sv_nl_neighbour(struct sv_nl *nl, int ifindex, uint32_t addr, const uint8_t mac[6],
                    sv_error_t *err);

/* A routing rule at priority for packets that came in on link iif (by
 * name): to dst/dst_len (0: anywhere), look up the main table, or with
 * prohibit, refuse to route them. One already there is kept. */
int sv_nl_rule(struct sv_nl *nl, const char *iif, uint32_t dst, int dst_len, bool prohibit,
               uint32_t priority, sv_error_t *err);

/* Forget the neighbour entry of addr on ifindex (a new replica may reuse an
 * address with a new MAC); no error when there is none. */
void sv_nl_forget_neighbour(struct sv_nl *nl, int ifindex, uint32_t addr);

#endif
