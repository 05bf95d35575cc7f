/* A stack's private network. Every stack gets a network namespace of its
 * own, pinned by a bind mount at <stack dir>/netns, holding a bridge with
 * the stack's gateway address; each replica's veth joins that bridge. None
 * of it appears in the host's namespace: the host reaches services only
 * through the ports the supervisor publishes (proxy.c). Names resolve
 * through one hosts file per stack, bound read-only at every replica's
 * /etc/hosts and rewritten in place as replicas come and go.
 *
 * The namespace outlives the supervisor (a crashed one is replaced and
 * finds it again); `down` destroys it. Each stack has its own /16 out of
 * 10.128.0.0/9, chosen once and kept in <stack dir>/network. */
#ifndef SV_STACKNET_H
#define SV_STACKNET_H

#include "net/netlink.h"
#include "core/util.h"

#include <net/if.h>

#define SV_STACKNET_PREFIX 16
#define SV_STACKNET_BRIDGE "br0"

struct sv_stacknet {
    char *stack;
    int netns_fd; /* the stack's network namespace */
    int host_fd;  /* ours, to come back to */
    struct sv_nl *nl;
    int bridge;                     /* its ifindex inside the namespace */
    uint32_t subnet, gateway, next; /* host byte order */
    char *hosts;                    /* the hosts file every replica sees */
};

/* Open the stack's network, creating it when missing (or stale). */
int sv_stacknet_open(const char *stack, struct sv_stacknet **out, sv_error_t *err);
/* Close our handles; the network stays for the replicas. */
void sv_stacknet_close(struct sv_stacknet *net);
/* Remove the stack's network (its namespace, bridge and files). Safe to
 * repeat, and works without an open handle (a `down` with no supervisor). */
int sv_stacknet_destroy(const char *stack, sv_error_t *err);

/* The name of the host's end of the stack's published-port link
 * (pubnat.h): "svp" and ten hex digits, as recorded for the stack, or one
 * no link has, chosen (and recorded) when the stack has none yet: for
 * whoever creates the link. */
int sv_stacknet_port_link(const char *stack, char out[IFNAMSIZ], sv_error_t *err);

/* A socket created inside the stack's namespace (non-blocking, CLOEXEC). */
int sv_stacknet_socket(struct sv_stacknet *net, int domain, int type);

/* The next free address (next-fit, so a just-freed address is not handed
 * out again at once); used(ctx, a) says whether a is taken. 0 when full. */
uint32_t sv_stacknet_alloc(struct sv_stacknet *net, bool (*used)(void *ctx, uint32_t a), void *ctx);

/* One line of the hosts file: an address and its names. */
struct sv_stacknet_host {
    uint32_t addr;
    const char *names[4]; /* NULL-terminated when shorter */
};
/* Rewrite the hosts file in place (replicas have it bound: the inode must
 * stay), so that a reader never sees a broken line. */
int sv_stacknet_write_hosts(struct sv_stacknet *net, const struct sv_stacknet_host *e, size_t count,
                            sv_error_t *err);

/* The address the host's end of the published-port link answers to inside
 * the stack (see pubnat.h): the subnet's last, never given to a replica. */
uint32_t sv_stacknet_transit(const struct sv_stacknet *net);
/* Set a sysctl (a path under /proc/sys) of the stack's namespace. */
int sv_stacknet_sysctl(struct sv_stacknet *net, const char *key, const char *value,
                       sv_error_t *err);

/* "10.130.0.5" */
void sv_stacknet_ip4_format(uint32_t addr, char out[16]);
/* The replica address recorded in a container's spec JSON, 0 when none. */
uint32_t sv_stacknet_address_of(const char *spec_json);

#endif
