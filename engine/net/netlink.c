#include "net/netlink.h"

#include "net/mnl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <linux/fib_rules.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sv_nl {
    struct mnl_socket *sock;
    unsigned int portid, seq;
};

int sv_nl_open(struct sv_nl **out, sv_error_t *err)
{
    if (sv_mnl_load(err) < 0) /* every other call takes an open sv_nl */
        return -1;
    struct mnl_socket *sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (sock == NULL)
        return sv_error(err, errno, "cannot open a netlink socket");
    if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        mnl_socket_close(sock);
        return sv_error(err, e, "cannot bind a netlink socket");
    }
    struct sv_nl *nl = sv_xcalloc(1, sizeof(*nl));
    nl->sock = sock;
    nl->portid = mnl_socket_get_portid(sock);
    nl->seq = (unsigned int)time(NULL);
    *out = nl;
    return 0;
}

void sv_nl_close(struct sv_nl *nl)
{
    if (nl == NULL)
        return;
    mnl_socket_close(nl->sock);
    free(nl);
}

static struct nlmsghdr *msg_start(struct sv_nl *nl, char *buf, int type, int flags)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (uint16_t)type;
    nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | NLM_F_ACK | flags);
    nlh->nlmsg_seq = ++nl->seq;
    return nlh;
}

/* Send and wait for the kernel's answer (rtnetlink acts while we send, so
 * the answer is already queued): 0, or -errno. */
static int transact(struct sv_nl *nl, struct nlmsghdr *nlh)
{
    if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
        return -errno;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl->sock, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        int rc = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, nl->portid, NULL, NULL);
        if (rc <= MNL_CB_STOP)
            return rc < 0 ? -errno : 0;
    }
}

static struct ifinfomsg *put_ifinfo(struct nlmsghdr *nlh, bool up)
{
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    if (up) {
        ifi->ifi_flags = IFF_UP;
        ifi->ifi_change = IFF_UP;
    }
    return ifi;
}

static int link_index(const char *name)
{
    return (int)if_nametoindex(name);
}

int sv_nl_bridge(struct sv_nl *nl, const char *name, uint32_t addr, int prefix, int *ifindex,
                 sv_error_t *err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    *ifindex = link_index(name);
    if (*ifindex == 0) {
        struct nlmsghdr *nlh = msg_start(nl, buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        put_ifinfo(nlh, true);
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
        mnl_attr_nest_end(nlh, info);
        int rc = transact(nl, nlh);
        if (rc < 0)
            return sv_error(err, -rc, "cannot create bridge %s", name);
        *ifindex = link_index(name);
        if (*ifindex == 0)
            return sv_error(err, errno, "bridge %s vanished", name);
    }
    /* A bridge takes the lowest MAC of its ports unless given one, and
     * replicas cache it (for the addresses it answers ARP for by proxy):
     * a fixed one cannot go stale as replicas come and go. */
    uint8_t mac[6] = {
        0x02, 0x73, 0x76, (uint8_t)(addr >> 24), (uint8_t)(addr >> 16), (uint8_t)(addr >> 8)};
    struct nlmsghdr *nlh = msg_start(nl, buf, RTM_NEWLINK, 0);
    put_ifinfo(nlh, false)->ifi_index = *ifindex;
    mnl_attr_put(nlh, IFLA_ADDRESS, sizeof(mac), mac);
    int rc = transact(nl, nlh);
    if (rc < 0)
        return sv_error(err, -rc, "cannot give bridge %s its MAC address", name);
    nlh = msg_start(nl, buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_index = (unsigned)*ifindex;
    uint32_t a = htonl(addr);
    mnl_attr_put_u32(nlh, IFA_LOCAL, a);
    mnl_attr_put_u32(nlh, IFA_ADDRESS, a);
    rc = transact(nl, nlh);
    if (rc < 0)
        return sv_error(err, -rc, "cannot give bridge %s its address", name);
    return 0;
}

/* A veth pair: name here (up; enslaved to master unless 0), its peer (down)
 * in the namespace that ns_attr (IFLA_NET_NS_PID or _FD) names. */
static int veth_create(struct sv_nl *nl, const char *name, int master, const char *peer_name,
                       uint16_t ns_attr, uint32_t ns, sv_error_t *err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = msg_start(nl, buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    put_ifinfo(nlh, true);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    if (master)
        mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    struct nlattr *peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    /* The peer's attributes follow an ifinfomsg of its own. */
    struct ifinfomsg *pi = mnl_nlmsg_get_payload_tail(nlh);
    memset(pi, 0, sizeof(*pi));
    pi->ifi_family = AF_UNSPEC; /* down: its owner brings it up (the kernel
                                    refuses to here: ENOTCONN) */
    nlh->nlmsg_len += MNL_ALIGN(sizeof(*pi));
    mnl_attr_put_strz(nlh, IFLA_IFNAME, peer_name);
    mnl_attr_put_u32(nlh, ns_attr, ns);
    mnl_attr_nest_end(nlh, peer);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, info);
    int rc = transact(nl, nlh);
    if (rc < 0)
        return sv_error(err, -rc, "cannot create network interface %s", name);
    return 0;
}

int sv_nl_veth(struct sv_nl *nl, const char *name, int master, const char *peer_name, pid_t pid,
               sv_error_t *err)
{
    if (veth_create(nl, name, master, peer_name, IFLA_NET_NS_PID, (uint32_t)pid, err) < 0)
        return sv_error_wrap(err, "the container's network interface");
    return 0;
}

int sv_nl_veth_to(struct sv_nl *nl, const char *name, const char *peer_name, int netns_fd,
                  sv_error_t *err)
{
    return veth_create(nl, name, 0, peer_name, IFLA_NET_NS_FD, (uint32_t)netns_fd, err);
}

int sv_nl_del_link(struct sv_nl *nl, int ifindex)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = msg_start(nl, buf, RTM_DELLINK, 0);
    struct ifinfomsg *ifi = put_ifinfo(nlh, false);
    ifi->ifi_index = ifindex;
    return transact(nl, nlh);
}

int sv_nl_route_host(struct sv_nl *nl, uint32_t addr, int ifindex, sv_error_t *err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = msg_start(nl, buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
    struct rtmsg *rt = mnl_nlmsg_put_extra_header(nlh, sizeof(*rt));
    rt->rtm_family = AF_INET;
    rt->rtm_dst_len = 32;
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_STATIC;
    rt->rtm_scope = RT_SCOPE_LINK;
    rt->rtm_type = RTN_UNICAST;
    mnl_attr_put_u32(nlh, RTA_DST, htonl(addr));
    mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
    int rc = transact(nl, nlh);
    if (rc < 0)
        return sv_error(err, -rc, "cannot add a route");
    return 0;
}

int sv_nl_neighbour(struct sv_nl *nl, int ifindex, uint32_t addr, const uint8_t mac[6],
                    sv_error_t *err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = msg_start(nl, buf, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
    struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
    nd->ndm_family = AF_INET;
    nd->ndm_ifindex = ifindex;
    nd->ndm_state = NUD_PERMANENT;
    mnl_attr_put_u32(nlh, NDA_DST, htonl(addr));
    mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
    int rc = transact(nl, nlh);
    if (rc < 0)
        return sv_error(err, -rc, "cannot add a neighbour entry");
    return 0;
}

void sv_nl_forget_neighbour(struct sv_nl *nl, int ifindex, uint32_t addr)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = msg_start(nl, buf, RTM_DELNEIGH, 0);
    struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
    nd->ndm_family = AF_INET;
    nd->ndm_ifindex = ifindex;
    mnl_attr_put_u32(nlh, NDA_DST, htonl(addr));
    transact(nl, nlh); /* ENOENT is the usual answer */
}

int sv_nl_rule(struct sv_nl *nl, const char *iif, uint32_t dst, int dst_len, bool prohibit,
               uint32_t priority, sv_error_t *err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = msg_start(nl, buf, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL);
    struct fib_rule_hdr *fr = mnl_nlmsg_put_extra_header(nlh, sizeof(*fr));
    fr->family = AF_INET;
    fr->dst_len = (uint8_t)dst_len;
    fr->action = prohibit ? FR_ACT_PROHIBIT : FR_ACT_TO_TBL;
    fr->table = prohibit ? RT_TABLE_UNSPEC : RT_TABLE_MAIN;
    mnl_attr_put_strz(nlh, FRA_IIFNAME, iif);
    mnl_attr_put_u32(nlh, FRA_PRIORITY, priority);
    if (dst_len)
        mnl_attr_put_u32(nlh, FRA_DST, htonl(dst));
    int rc = transact(nl, nlh);
    if (rc < 0 && rc != -EEXIST)
        return sv_error(err, -rc, "cannot add a routing rule for %s", iif);
    return 0;
}
