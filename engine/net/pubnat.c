#include "net/pubnat.h"

#include "core/dynlib.h"
#include "net/pubnat_maps.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* tcx attach points (Linux 6.6); the build host's headers may be older. */
#define SV_BPF_TCX_INGRESS 46
#define SV_BPF_TCX_EGRESS  47

#define STACK_END "svhost" /* the pair's end inside the stack's namespace */

extern const char sv_pubnat_obj[], sv_pubnat_obj_end[];

struct sv_pubnat {
    void *obj; /* struct bpf_object */
    int conf, services;
    int links[2];
};

/* ---- libbpf, loaded when a stack publishes a port ------------------------------ */

static struct {
    void *(*set_print)(void *);
    void *(*open_mem)(const void *, size_t, const void *);
    int (*load)(void *);
    void (*close)(void *);
    void *(*find_map)(const void *, const char *);
    int (*map_fd)(const void *);
    void *(*find_prog)(const void *, const char *);
    int (*prog_fd)(const void *);
} libbpf;

static int load_libbpf(sv_error_t *err)
{
    static void *lib;
    static const char *const names[] = {"libbpf_set_print",
                                        "bpf_object__open_mem",
                                        "bpf_object__load",
                                        "bpf_object__close",
                                        "bpf_object__find_map_by_name",
                                        "bpf_map__fd",
                                        "bpf_object__find_program_by_name",
                                        "bpf_program__fd"};
    _Static_assert(sizeof(libbpf) == sizeof(names), "one name per function");
    if (sv_dynlib_load(&lib, "libbpf.so.1", names, (void **)&libbpf, SV_ARRAY_LEN(names),
                       "for the fast path of published ports (apt install libbpf1)", err) < 0)
        return -1;
    libbpf.set_print(NULL); /* its complaints become our one error */
    return 0;
}

static long sys_bpf(int cmd, union bpf_attr *a)
{
    return syscall(__NR_bpf, cmd, a, sizeof(*a));
}

static int map_put(int map, const void *key, const void *value)
{
    union bpf_attr a = {.map_fd = (uint32_t)map,
                        .key = (uintptr_t)key,
                        .value = (uintptr_t)value,
                        .flags = BPF_ANY};
    return (int)sys_bpf(BPF_MAP_UPDATE_ELEM, &a);
}

static int map_del(int map, const void *key)
{
    union bpf_attr a = {.map_fd = (uint32_t)map, .key = (uintptr_t)key};
    return (int)sys_bpf(BPF_MAP_DELETE_ELEM, &a);
}

static int tcx_attach(int prog, int ifindex, int where, sv_error_t *err)
{
    union bpf_attr a = {0};
    a.link_create.prog_fd = (uint32_t)prog;
    a.link_create.target_ifindex = (uint32_t)ifindex;
    a.link_create.attach_type = (uint32_t)where;
    int fd = (int)sys_bpf(BPF_LINK_CREATE, &a);
    if (fd < 0)
        return sv_error(err, errno, "cannot attach a tcx program (Linux 6.6 or later needed)");
    return fd;
}

/* ---- the host link --------------------------------------------------------------- */

/* Index and MAC of a link, asked through sock (whose namespace is the one
 * that counts): 0 when there is no such link. */
static int link_info(int sock, const char *name, uint8_t mac[6])
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(sock, SIOCGIFINDEX, &ifr) < 0)
        return 0;
    int index = ifr.ifr_ifindex;
    if (ioctl(sock, SIOCGIFHWADDR, &ifr) < 0)
        return 0;
    memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return index;
}

static int link_up(int sock, const char *name, sv_error_t *err)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0 ||
        (ifr.ifr_flags |= IFF_UP, ioctl(sock, SIOCSIFFLAGS, &ifr) < 0))
        return sv_error(err, errno, "cannot bring %s up", name);
    return 0;
}

/* net.<family>.conf.<link>.<knob> = value, in the host's namespace. */
static int host_sysctl(const char *family, const char *link, const char *knob, const char *value,
                       sv_error_t *err)
{
    cleanup_free char *path = sv_xasprintf("/proc/sys/net/%s/conf/%s/%s", family, link, knob);
    return sv_write_file(path, value, err);
}

/* The veth pair between the host and the stack (kept from an earlier
 * supervisor when both ends are there), and what the stack's side needs
 * to route answers into it. conf gets the host end and both MACs. */
static int host_link(struct sv_stacknet *net, struct pubnat_conf *conf, sv_error_t *err)
{
    char host[IFNAMSIZ];
    if (sv_stacknet_port_link(net->stack, host, err) < 0)
        return -1;
    cleanup_close int hsock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cleanup_close int ssock = sv_stacknet_socket(net, AF_INET, SOCK_DGRAM);
    if (hsock < 0 || ssock < 0)
        return sv_error(err, errno, "socket");
    uint8_t hmac[6], smac[6];
    int hidx = link_info(hsock, host, hmac), sidx = link_info(ssock, STACK_END, smac);
    if (hidx == 0 || sidx == 0) {
        /* Half a pair: start over. A host end without its peer here
         * belongs to an earlier namespace of this stack that ended
         * without a `down` (which removes it). */
        if (sidx)
            sv_nl_del_link(net->nl, sidx);
        struct sv_nl *hnl = NULL;
        if (hidx && sv_nl_open(&hnl, err) == 0) {
            sv_nl_del_link(hnl, hidx);
            sv_nl_close(hnl);
        }
        sv_error_free(err);
        if (sv_nl_veth_to(net->nl, STACK_END, host, net->host_fd, err) < 0)
            return -1;
        hidx = link_info(hsock, host, hmac);
        sidx = link_info(ssock, STACK_END, smac);
        if (hidx == 0 || sidx == 0)
            return sv_error(err, ENODEV, "the link %s vanished", host);
    }
    /* The host end: no IPv6 (no link-local address), and answers to
     * 127.0.0.1 accepted on it; nothing else reaches the host through it. */
    bool v6 = access("/proc/sys/net/ipv6", F_OK) == 0; /* else IPv6 is off */
    if ((v6 && host_sysctl("ipv6", host, "disable_ipv6", "1", err) < 0) ||
        host_sysctl("ipv4", host, "route_localnet", "1", err) < 0 ||
        host_sysctl("ipv4", host, "accept_local", "1", err) < 0 ||
        host_sysctl("ipv4", host, "rp_filter", "0", err) < 0 || link_up(hsock, host, err) < 0)
        return -1;
    /* The stack's side: forward between the bridge and the link, answer
     * replicas' ARP for the transit address at once, and route it here. */
    uint32_t transit = sv_stacknet_transit(net);
    if (sv_stacknet_sysctl(net, "net/ipv4/ip_forward", "1", err) < 0 ||
        sv_stacknet_sysctl(net, "net/ipv4/conf/" SV_STACKNET_BRIDGE "/proxy_arp", "1", err) < 0 ||
        sv_stacknet_sysctl(net, "net/ipv4/neigh/" SV_STACKNET_BRIDGE "/proxy_delay", "0", err) <
            0 ||
        (v6 && sv_stacknet_sysctl(net, "net/ipv6/conf/" STACK_END "/disable_ipv6", "1", err) < 0) ||
        sv_nl_route_host(net->nl, transit, sidx, err) < 0 ||
        sv_nl_neighbour(net->nl, sidx, transit, hmac, err) < 0)
        return -1;
    conf->ifindex = (uint32_t)hidx;
    conf->transit = htonl(transit);
    memcpy(conf->macs, smac, 6);
    memcpy(conf->macs + 6, hmac, 6);
    return 0;
}

/* ---- setting up ---------------------------------------------------------------- */

static int strict_rp_filter(void)
{
    cleanup_free char *v = NULL;
    size_t len;
    sv_error_t ignored = NULL;
    if (sv_read_file("/proc/sys/net/ipv4/conf/all/rp_filter", 16, &v, &len, &ignored) < 0) {
        sv_error_free(&ignored);
        return 0;
    }
    return atoi(v) == 1;
}

static int open_fast_path(struct sv_pubnat *p, struct sv_stacknet *net, sv_error_t *err)
{
    if (strict_rp_filter())
        return sv_error(err, ENOTSUP,
                        "strict reverse-path filtering (net.ipv4.conf.all.rp_filter = 1)");
    if (load_libbpf(err) < 0)
        return -1;
    p->obj = libbpf.open_mem(sv_pubnat_obj, (size_t)(sv_pubnat_obj_end - sv_pubnat_obj), NULL);
    if (p->obj == NULL)
        return sv_error(err, errno, "cannot read the fast path's BPF object");
    if (libbpf.load(p->obj) < 0)
        return sv_error(err, errno, "the kernel refuses the fast path's BPF programs");
    void *out = libbpf.find_prog(p->obj, "pubnat_out"), *in = libbpf.find_prog(p->obj, "pubnat_in");
    void *conf = libbpf.find_map(p->obj, "conf"), *services = libbpf.find_map(p->obj, "services");
    if (!out || !in || !conf || !services)
        return sv_error(err, ENOENT, "the fast path's BPF object lacks a part");
    p->conf = libbpf.map_fd(conf);
    p->services = libbpf.map_fd(services);
    struct pubnat_conf c = {0};
    uint32_t zero = 0;
    if (host_link(net, &c, err) < 0)
        return sv_error_wrap(err, "the host link");
    if (map_put(p->conf, &zero, &c) < 0)
        return sv_error(err, errno, "cannot configure the fast path");
    p->links[0] = tcx_attach(libbpf.prog_fd(in), (int)c.ifindex, SV_BPF_TCX_INGRESS, err);
    if (p->links[0] < 0)
        return -1;
    p->links[1] =
        tcx_attach(libbpf.prog_fd(out), (int)if_nametoindex("lo"), SV_BPF_TCX_EGRESS, err);
    return p->links[1] < 0 ? -1 : 0;
}

struct sv_pubnat *sv_pubnat_open(struct sv_stacknet *net, char **why)
{
    struct sv_pubnat *p = sv_xcalloc(1, sizeof(*p));
    p->links[0] = p->links[1] = -1;
    sv_error_t err = NULL;
    if (open_fast_path(p, net, &err) == 0)
        return p;
    *why = sv_xstrdup(err->msg);
    sv_error_free(&err);
    sv_pubnat_close(p);
    return NULL;
}

void sv_pubnat_close(struct sv_pubnat *p)
{
    if (p == NULL)
        return;
    for (int i = 0; i < 2; i++)
        if (p->links[i] >= 0)
            close(p->links[i]); /* detaches: the host's loopback is as before */
    if (p->obj)
        libbpf.close(p->obj);
    free(p);
}

void sv_pubnat_set(struct sv_pubnat *p, int port, int container_port, const uint32_t *addrs,
                   size_t n)
{
    struct pubnat_service s = {.port = htons((uint16_t)container_port)};
    for (size_t i = 0; i < n && i < PUBNAT_MAX_REPLICAS; i++)
        s.addr[s.n++] = htonl(addrs[i]);
    uint32_t key = htons((uint16_t)port);
    map_put(p->services, &key, &s);
}

void sv_pubnat_unset(struct sv_pubnat *p, int port)
{
    uint32_t key = htons((uint16_t)port);
    map_del(p->services, &key);
}
