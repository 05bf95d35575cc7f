/* The fast path of published ports, in the kernel (see engine/net/pubnat.h).
 *
 * out: on the host's loopback egress. A TCP packet to 127.0.0.1:PORT, where
 *      PORT is published, is rewritten to come from the stack's transit
 *      address and to go to a replica, and sent out of the host link into
 *      the stack's namespace, which forwards it over the bridge. The replica
 *      is chosen at the SYN (by a hash of the client's address and port, so
 *      a retransmitted SYN chooses the same one) and kept for the flow.
 * in:  on the host link's ingress. A replica's answer to the transit
 *      address is rewritten back to come from 127.0.0.1:PORT and to go to
 *      the client, and delivered to the host. Anything else is dropped: the
 *      link lets nothing of the stack into the host but answers.
 * A packet this program does not know passes on untouched, so connections
 * that the userspace relay carries keep working. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <stddef.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "net/pubnat_maps.h"

#define TCX_NEXT  (-1)
#define IP_OFF    ETH_HLEN
#define TCP_OFF   (ETH_HLEN + sizeof(struct iphdr))
#define IP_CSUM   (IP_OFF + offsetof(struct iphdr, check))
#define TCP_CSUM  (TCP_OFF + offsetof(struct tcphdr, check))
#define IP_SADDR  (IP_OFF + offsetof(struct iphdr, saddr))
#define IP_DADDR  (IP_OFF + offsetof(struct iphdr, daddr))
#define TCP_SPORT (TCP_OFF + offsetof(struct tcphdr, source))
#define TCP_DPORT (TCP_OFF + offsetof(struct tcphdr, dest))

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct pubnat_conf);
} conf SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, PUBNAT_MAX_PORTS);
    __type(key, __u32); /* the published port, network order */
    __type(value, struct pubnat_service);
} services SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, PUBNAT_MAX_FLOWS);
    __type(key, struct pubnat_flow);
    __type(value, struct pubnat_peer);
} flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, PUBNAT_MAX_FLOWS);
    __type(key, struct pubnat_flow);
    __type(value, struct pubnat_peer);
} answers SEC(".maps");

/* Parse an option-less IPv4 TCP packet behind an Ethernet header. */
static __always_inline struct tcphdr *tcp_of(struct __sk_buff *skb, struct iphdr **ipp)
{
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = data + IP_OFF;
    struct tcphdr *th = data + TCP_OFF;
    if ((void *)(th + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) ||
        ip->protocol != IPPROTO_TCP || ip->ihl != 5)
        return NULL;
    *ipp = ip;
    return th;
}

/* Murmur3's finaliser: every input bit moves every output bit, so ports
 * that differ in one high bit still spread. */
static __always_inline __u32 mix(__u32 h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* Replace both addresses and one port, keeping both checksums right. */
static __always_inline void rewrite(struct __sk_buff *skb, __u32 osrc, __u32 nsrc, __u32 odst,
                                    __u32 ndst, __u32 port_off, __u16 oport, __u16 nport)
{
    bpf_l4_csum_replace(skb, TCP_CSUM, osrc, nsrc, BPF_F_PSEUDO_HDR | 4);
    bpf_l4_csum_replace(skb, TCP_CSUM, odst, ndst, BPF_F_PSEUDO_HDR | 4);
    bpf_l4_csum_replace(skb, TCP_CSUM, oport, nport, 2);
    bpf_l3_csum_replace(skb, IP_CSUM, osrc, nsrc, 4);
    bpf_l3_csum_replace(skb, IP_CSUM, odst, ndst, 4);
    bpf_skb_store_bytes(skb, IP_SADDR, &nsrc, 4, 0);
    bpf_skb_store_bytes(skb, IP_DADDR, &ndst, 4, 0);
    bpf_skb_store_bytes(skb, port_off, &nport, 2, 0);
}

SEC("tc")
int pubnat_out(struct __sk_buff *skb)
{
    struct iphdr *ip;
    struct tcphdr *th = tcp_of(skb, &ip);
    if (th == NULL || ip->daddr != bpf_htonl(INADDR_LOOPBACK))
        return TCX_NEXT;
    __u32 port = th->dest, zero = 0;
    struct pubnat_service *svc = bpf_map_lookup_elem(&services, &port);
    struct pubnat_conf *c = bpf_map_lookup_elem(&conf, &zero);
    if (svc == NULL || c == NULL || c->ifindex == 0)
        return TCX_NEXT;
    __u32 saddr = ip->saddr, daddr = ip->daddr;
    __u16 sport = th->source, dport = th->dest;
    struct pubnat_flow key = {.addr = saddr, .port = sport, .peer_port = dport};
    struct pubnat_peer to;
    if (th->syn && !th->ack) {
        __u32 n = svc->n;
        if (n == 0 || n > PUBNAT_MAX_REPLICAS) { /* the relay answers (and refuses) */
            bpf_map_delete_elem(&flows, &key);
            return TCX_NEXT;
        }
        __u32 i = mix(saddr ^ ((__u32)sport << 16)) % n;
        /* i < n <= the maximum, but the verifier cannot tell a modulo's
         * range, and clang drops a check it can prove: mask it opaquely. */
        asm volatile("" : "+r"(i));
        i &= PUBNAT_MAX_REPLICAS - 1;
        to = (struct pubnat_peer){.addr = svc->addr[i], .port = svc->port};
        struct pubnat_flow back = {.addr = to.addr, .port = to.port, .peer_port = sport};
        struct pubnat_peer client = {.addr = saddr, .port = dport};
        bpf_map_update_elem(&flows, &key, &to, BPF_ANY);
        bpf_map_update_elem(&answers, &back, &client, BPF_ANY);
    } else {
        struct pubnat_peer *p = bpf_map_lookup_elem(&flows, &key);
        if (p == NULL)
            return TCX_NEXT;
        to = *p;
    }
    rewrite(skb, saddr, c->transit, daddr, to.addr, TCP_DPORT, dport, to.port);
    bpf_skb_store_bytes(skb, 0, c->macs, sizeof(c->macs), 0);
    return bpf_redirect(c->ifindex, 0);
}

SEC("tc")
int pubnat_in(struct __sk_buff *skb)
{
    struct iphdr *ip;
    struct tcphdr *th = tcp_of(skb, &ip);
    __u32 zero = 0;
    struct pubnat_conf *c = bpf_map_lookup_elem(&conf, &zero);
    if (th == NULL || c == NULL || ip->daddr != c->transit)
        return TC_ACT_SHOT;
    __u32 saddr = ip->saddr, daddr = ip->daddr;
    __u16 sport = th->source;
    struct pubnat_flow key = {.addr = saddr, .port = sport, .peer_port = th->dest};
    struct pubnat_peer *client = bpf_map_lookup_elem(&answers, &key);
    if (client == NULL)
        return TC_ACT_SHOT;
    rewrite(skb, saddr, bpf_htonl(INADDR_LOOPBACK), daddr, client->addr, TCP_SPORT, sport,
            client->port);
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
