/* What the published-port fast path (bpf/pubnat.bpf.c) and its loader
 * (pubnat.c) share: the layout of the maps. Addresses and ports are in
 * network byte order, as in the packets. */
#ifndef SV_PUBNAT_MAPS_H
#define SV_PUBNAT_MAPS_H

#include <linux/types.h>

#define PUBNAT_MAX_PORTS    256
#define PUBNAT_MAX_REPLICAS 64    /* a power of two */
#define PUBNAT_MAX_FLOWS    16384 /* connections alive at once, per stack */

/* The one entry of map conf. */
struct pubnat_conf {
    __u32 ifindex; /* the host link: where packets to replicas leave */
    __u32 transit; /* the address replicas answer to */
    __u8 macs[12]; /* destination (the stack's end), then source (ours) */
};

/* services[published port]: where its connections go. */
struct pubnat_service {
    __u32 n;
    __u16 port; /* the replicas' port */
    __u16 pad;
    __u32 addr[PUBNAT_MAX_REPLICAS];
};

/* flows[client address, client port, published port] = replica;
 * answers[replica address, replica port, client port] = client, published port. */
struct pubnat_flow {
    __u32 addr;
    __u16 port;
    __u16 peer_port;
};
struct pubnat_peer {
    __u32 addr;
    __u16 port;
    __u16 pad;
};

#endif
