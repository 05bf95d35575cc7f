/* A stack's private network. Every stack gets a network namespace of its
 * own, pinned by a bind mount at <stack dir>/netns, holding a bridge with
 * the stack's gateway address; each replica's veth joins that bridge. None
 * of it appears in the host's namespace: the host reaches services only
 * through the ports the supervisor publishes (proxy.c). Names resolve
 * through one hosts file per stack, bound read-only at every replica's
 * /etc/hosts and rewritten in place as replicas come and go (a service on
 * other networks, or with extra hosts, gets a file of its own).
 *
 * The namespace outlives the supervisor (a crashed one is replaced and
 * finds it again); `down` destroys it. Each stack has its own /16 out of
 * 10.128.0.0/9, chosen once and kept in <stack dir>/network. A stack's
 * further networks (Compose's) are more bridges in the same namespace,
 * kept apart by routing rules (stacklan.c). */
#ifndef SV_STACKNET_H
#define SV_STACKNET_H

#include "net/netlink.h"
#include "core/util.h"

#include <net/if.h>

#define SV_STACKNET_PREFIX 16
#define SV_STACKNET_BRIDGE "br0"

/* A network of the stack's besides the default one (Compose's networks):
 * bridge brN in the stack's namespace, on 172.(15+N).0.0/16 (stacklan.c).
 * N is chosen once per name and kept in <stack dir>/networks, so that a
 * replica's addresses mean the same to a supervisor started later. */
#define SV_STACKNET_LANS 16
struct sv_stacknet_lan {
    char *name;
    int number; /* N of brN, 1 to SV_STACKNET_LANS */
    char bridge_name[IFNAMSIZ];
    int bridge; /* ifindex */
    uint32_t subnet, gateway, next;
};

struct sv_stacknet {
    char *stack;
    int netns_fd; /* the stack's network namespace */
    int host_fd;  /* ours, to come back to */
    struct sv_nl *nl;
    int bridge;                     /* its ifindex inside the namespace */
    uint32_t subnet, gateway, next; /* host byte order */
    char *hosts;                    /* the hosts file every replica sees */
    struct sv_stacknet_lan *lans;   /* the other networks made so far */
    size_t n_lans;
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
    const char *names[4];       /* NULL-terminated when shorter */
    const char *const *aliases; /* more names, NULL-terminated; or NULL */
};
/* Rewrite the hosts file in place (replicas have it bound: the inode must
 * stay), so that a reader never sees a broken line. */
int sv_stacknet_write_hosts(struct sv_stacknet *net, const struct sv_stacknet_host *e, size_t count,
                            sv_error_t *err);
/* The same for the hosts file at path (made when missing), with extra
 * lines ("IP\tNAME\n", or NULL) after the entries: a service's own file,
 * when it sees other networks than the default one or has extra hosts. */
int sv_stacknet_write_hosts_at(const char *path, const struct sv_stacknet_host *e, size_t count,
                               const char *extra, sv_error_t *err);

/* stacklan.c: the network called name (made when missing: its bridge, and
 * the rules that keep the stack's bridges apart) into *out. */
int sv_stacklan_get(struct sv_stacknet *net, const char *name, struct sv_stacknet_lan **out,
                    sv_error_t *err);
/* The next free address of lan, as sv_stacknet_alloc; 0 when full. */
uint32_t sv_stacklan_alloc(struct sv_stacknet_lan *lan, bool (*used)(void *ctx, uint32_t a),
                           void *ctx);
/* Forget the stack's network numbers (with its namespace, at down). */
void sv_stacklan_forget(const char *stack);
void sv_stacklan_free(struct sv_stacknet *net);

/* The address the host's end of the published-port link answers to inside
 * the stack (see pubnat.h): the subnet's last, never given to a replica. */
uint32_t sv_stacknet_transit(const struct sv_stacknet *net);
/* A bridge in the stack's namespace (sv_nl_bridge, from there). */
int sv_stacknet_bridge(struct sv_stacknet *net, const char *name, uint32_t addr, int prefix,
                       int *ifindex, sv_error_t *err);
/* Set a sysctl (a path under /proc/sys) of the stack's namespace. */
int sv_stacknet_sysctl(struct sv_stacknet *net, const char *key, const char *value,
                       sv_error_t *err);

/* "10.130.0.5" */
void sv_stacknet_ip4_format(uint32_t addr, char out[16]);
/* The replica address recorded in a container's spec JSON, 0 when none. */
uint32_t sv_stacknet_address_of(const char *spec_json);
/* The networks and addresses recorded there ("links", eth0's first), as
 * newly allocated names; how many (0: the default network alone). */
size_t sv_stacknet_links_of(const char *spec_json, char **names, uint32_t *addrs, size_t max);

#endif
