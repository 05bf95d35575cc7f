#include "net/stacknet.h"

#include "core/statedir.h"
#include "core/store.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <jansson.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static char *stack_file(const char *stack, const char *name)
{
    cleanup_free char *dir = sv_statedir_stack(stack);
    return sv_xasprintf("%s/%s", dir, name);
}

void sv_stacknet_ip4_format(uint32_t addr, char out[16])
{
    snprintf(out, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255, addr & 255);
}

/* path's new content whole or not at all: written beside it, then
 * renamed over it (mode: chmod'ed to it first; -1: as created, like
 * fopen's files). */
static int write_whole(const char *path, const char *text, int mode, sv_error_t *err)
{
    cleanup_free char *tmp = sv_xasprintf("%s.tmp", path);
    {
        cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        size_t n = strlen(text);
        if (fd < 0 || write(fd, text, n) != (ssize_t)n || (mode >= 0 && fchmod(fd, mode) < 0))
            return sv_error(err, errno, "cannot write %s", tmp);
    }
    if (rename(tmp, path) < 0)
        return sv_error(err, errno, "cannot write %s", path);
    return 0;
}

/* The second octet of the /16 another stack recorded, or -1. */
static int recorded_octet(const char *path)
{
    char buf[32] = "";
    cleanup_fclose FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    unsigned a, b;
    return fgets(buf, sizeof(buf), f) && sscanf(buf, "%u.%u.", &a, &b) == 2 && a == 10 && b < 256
               ? (int)b
               : -1;
}

/* Keep the stack's /16 once chosen; else the first one, starting at a hash
 * of its name, that no other stack on this host records. Stacks are
 * isolated either way: distinct subnets keep addresses unambiguous for the
 * people reading them. */
static int choose_subnet(const char *stack, uint32_t *subnet, sv_error_t *err)
{
    cleanup_free char *path = stack_file(stack, "network");
    int mine = recorded_octet(path);
    if (mine < 0) {
        bool taken[128] = {false};
        cleanup_free char *root = sv_xasprintf("%s/stacks", sv_state_root());
        cleanup_closedir DIR *d = opendir(root);
        struct dirent *e;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.' || strcmp(e->d_name, stack) == 0)
                continue;
            cleanup_free char *p = sv_xasprintf("%s/%s/network", root, e->d_name);
            int o = recorded_octet(p);
            if (o >= 128)
                taken[o - 128] = true;
        }
        uint32_t h = 2166136261u; /* FNV-1a */
        for (const char *c = stack; *c; c++)
            h = (h ^ (unsigned char)*c) * 16777619u;
        mine = 128 + (int)(h % 128);
        for (int k = 0; k < 128; k++)
            if (!taken[(h + k) % 128]) {
                mine = 128 + (int)((h + k) % 128);
                break;
            }
        char text[32];
        snprintf(text, sizeof(text), "10.%d.0.0/%d\n", mine, SV_STACKNET_PREFIX);
        if (write_whole(path, text, -1, err) < 0)
            return -1;
    }
    *subnet = (10u << 24) | ((uint32_t)mine << 16);
    return 0;
}

static const char hosts_head[] =
    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

/* Enter a new network namespace and pin it at path. */
static int create_netns(const char *path, sv_error_t *err)
{
    umount2(path, MNT_DETACH);
    cleanup_close int f = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (f < 0)
        return sv_error(err, errno, "cannot create %s", path);
    if (unshare(CLONE_NEWNET) < 0)
        return sv_error(err, errno, "cannot create the stack's network namespace");
    if (mount("/proc/self/ns/net", path, NULL, MS_BIND, NULL) < 0)
        return sv_error(err, errno, "cannot pin the stack's network namespace at %s", path);
    return 0;
}

/* Back to the host's namespace, from the stack's. */
static void stacknet_leave(const struct sv_stacknet *net)
{
    if (setns(net->host_fd, CLONE_NEWNET) < 0) {
        /* Staying in the stack's namespace would publish ports in the
         * wrong place: nothing sane is left to do. */
        perror("servos: cannot return to the host's network namespace");
        abort();
    }
}

/* Into the stack's namespace (made anew when missing, or stale after a
 * reboot), its bridge there, and back. */
static int stacknet_enter_bridge(struct sv_stacknet *net, sv_error_t *err)
{
    cleanup_free char *path = stack_file(net->stack, "netns");
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
        sv_closep(&fd);
        fd = -1;
        rc = create_netns(path, err);
        if (rc == 0 && (fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
            rc = sv_error(err, errno, "cannot open the stack's network namespace");
    }
    if (rc == 0) {
        net->netns_fd = fd, fd = -1; /* the handle's */
        /* The relay's connections to replicas start here and so their
         * TIME_WAITs stay here: let new connections reuse those ports
         * (safe with TCP timestamps), or a busy published port runs out
         * of them. */
        sv_error_t ignored = NULL;
        if (sv_write_file("/proc/sys/net/ipv4/tcp_tw_reuse", "1", &ignored) < 0)
            sv_error_free(&ignored);
        /* Inside the stack's namespace now: the netlink socket stays bound
         * to it. */
        rc = sv_nl_open(&net->nl, err);
        if (rc == 0)
            rc = sv_nl_bridge(net->nl, SV_STACKNET_BRIDGE, net->gateway, SV_STACKNET_PREFIX,
                              &net->bridge, err);
    }
    stacknet_leave(net);
    return rc;
}

static void stacknet_closep(struct sv_stacknet **net)
{
    sv_stacknet_close(*net);
}

int sv_stacknet_open(const char *stack, struct sv_stacknet **out, sv_error_t *err)
{
    __attribute__((cleanup(stacknet_closep))) struct sv_stacknet *net = sv_xcalloc(1, sizeof(*net));
    net->stack = sv_xstrdup(stack);
    net->netns_fd = -1;
    net->host_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (net->host_fd < 0)
        return sv_error(err, errno, "cannot open our network namespace");
    if (choose_subnet(stack, &net->subnet, err) < 0)
        return -1;
    net->gateway = net->subnet + 1;
    cleanup_free char *binds = sv_statedir_binds(stack); /* replicas bind it */
    net->hosts = sv_xasprintf("%s/hosts", binds);
    if (access(net->hosts, F_OK) < 0 && write_whole(net->hosts, hosts_head, 0644, err) < 0)
        return -1;
    if (stacknet_enter_bridge(net, err) < 0)
        return -1;
    *out = sv_steal(net);
    return 0;
}

void sv_stacknet_close(struct sv_stacknet *net)
{
    if (net == NULL)
        return;
    sv_stacklan_free(net);
    sv_nl_close(net->nl);
    if (net->netns_fd >= 0)
        close(net->netns_fd);
    if (net->host_fd >= 0)
        close(net->host_fd);
    free(net->hosts);
    free(net->stack);
    free(net);
}

/* The name is chosen once per stack, at random among the names no link
 * has, and recorded in the stack's directory. Older versions derived it
 * from a 40-bit hash of the stack's directory, which a chosen stack name
 * can make meet another stack's link name; and a stack deletes a host
 * link of its name that has no peer in its namespace, and at down. A
 * link an older version made is not taken over: its peer goes when the
 * stack's side is made anew (pubnat.c), and with the namespace. */
static bool port_link_read(const char *stack, char out[IFNAMSIZ])
{
    cleanup_free char *record = stack_file(stack, "portlink");
    char buf[32] = "";
    cleanup_fclose FILE *f = fopen(record, "re");
    bool ok = f && fgets(buf, sizeof(buf), f) != NULL;
    buf[strcspn(buf, "\n")] = '\0';
    ok = ok && strlen(buf) == 13 && strncmp(buf, "svp", 3) == 0;
    snprintf(out, IFNAMSIZ, "%s", ok ? buf : "");
    return ok;
}

int sv_stacknet_port_link(const char *stack, char out[IFNAMSIZ], sv_error_t *err)
{
    if (port_link_read(stack, out))
        return 0;
    cleanup_free char *record = stack_file(stack, "portlink");
    for (int tries = 0; tries < 16; tries++) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof(r), 0) != sizeof(r))
            return sv_error(err, errno, "getrandom");
        snprintf(out, IFNAMSIZ, "svp%010llx", (unsigned long long)(r & 0xffffffffffull));
        if (if_nametoindex(out) != 0)
            continue;
        char text[IFNAMSIZ + 1];
        snprintf(text, sizeof(text), "%s\n", out);
        return write_whole(record, text, -1, err);
    }
    return sv_error(err, EEXIST, "no free name for the stack's port link");
}

int sv_stacknet_destroy(const char *stack, sv_error_t *err)
{
    cleanup_free char *path = stack_file(stack, "netns");
    /* The namespace's end takes the host's with it, but only when the
     * kernel gets round to the namespace: remove it now, so that nothing
     * of the stack is left when `down` returns. */
    char link[IFNAMSIZ];
    int index = port_link_read(stack, link) ? (int)if_nametoindex(link) : 0;
    struct sv_nl *nl = NULL;
    sv_error_t ignored = NULL;
    if (index && sv_nl_open(&nl, &ignored) == 0) {
        sv_nl_del_link(nl, index);
        sv_nl_close(nl);
    }
    sv_error_free(&ignored);
    /* Mounted more than once only by accident; take every layer off. */
    for (int i = 0; i < 16 && umount2(path, MNT_DETACH) == 0; i++)
        ;
    if (unlink(path) < 0 && errno != ENOENT)
        return sv_error(err, errno, "cannot remove %s", path);
    sv_stacklan_forget(stack);
    static const char *const files[] = {"network", "ports", "portlink"};
    for (size_t i = 0; i < SV_ARRAY_LEN(files); i++) {
        cleanup_free char *p = stack_file(stack, files[i]);
        unlink(p);
    }
    cleanup_free char *binds = sv_statedir_binds(stack);
    cleanup_free char *hosts = sv_xasprintf("%s/hosts", binds);
    unlink(hosts);
    return 0;
}

int sv_stacknet_socket(struct sv_stacknet *net, int domain, int type)
{
    if (setns(net->netns_fd, CLONE_NEWNET) < 0)
        return -1;
    int fd = socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int e = errno;
    stacknet_leave(net);
    errno = e;
    return fd;
}

uint32_t sv_stacknet_transit(const struct sv_stacknet *net)
{
    return net->subnet + (1u << (32 - SV_STACKNET_PREFIX)) - 2;
}

int sv_stacknet_bridge(struct sv_stacknet *net, const char *name, uint32_t addr, int prefix,
                       int *ifindex, sv_error_t *err)
{
    /* Link names are looked up in the namespace of whoever asks. */
    if (setns(net->netns_fd, CLONE_NEWNET) < 0)
        return sv_error(err, errno, "cannot enter the stack's network namespace");
    int rc = sv_nl_bridge(net->nl, name, addr, prefix, ifindex, err);
    stacknet_leave(net);
    return rc;
}

int sv_stacknet_sysctl(struct sv_stacknet *net, const char *key, const char *value, sv_error_t *err)
{
    /* /proc/sys/net shows the namespace of whoever opens the file. */
    cleanup_free char *path = sv_xasprintf("/proc/sys/%s", key);
    if (setns(net->netns_fd, CLONE_NEWNET) < 0)
        return sv_error(err, errno, "cannot enter the stack's network namespace");
    int rc = sv_write_file(path, value, err);
    stacknet_leave(net);
    return rc;
}

uint32_t sv_stacknet_alloc(struct sv_stacknet *net, bool (*used)(void *ctx, uint32_t a), void *ctx)
{
    uint32_t first = net->gateway + 1, last = sv_stacknet_transit(net) - 1;
    uint32_t span = last - first + 1;
    if (net->next < first || net->next > last)
        net->next = first;
    for (uint32_t k = 0; k < span; k++) {
        uint32_t a = first + (net->next - first + k) % span;
        if (!used(ctx, a)) {
            net->next = a == last ? first : a + 1;
            return a;
        }
    }
    return 0;
}

int sv_stacknet_write_hosts(struct sv_stacknet *net, const struct sv_stacknet_host *e, size_t count,
                            sv_error_t *err)
{
    return sv_stacknet_write_hosts_at(net->hosts, e, count, NULL, err);
}

int sv_stacknet_write_hosts_at(const char *path, const struct sv_stacknet_host *e, size_t count,
                               const char *extra, sv_error_t *err)
{
    cleanup_free char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (m == NULL)
        sv_oom();
    fputs(hosts_head, m);
    for (size_t i = 0; i < count; i++) {
        char ip[16];
        sv_stacknet_ip4_format(e[i].addr, ip);
        fputs(ip, m);
        for (size_t k = 0; k < SV_ARRAY_LEN(e[i].names) && e[i].names[k]; k++)
            fprintf(m, "%c%s", k ? ' ' : '\t', e[i].names[k]);
        for (size_t k = 0; e[i].aliases && e[i].aliases[k]; k++)
            fprintf(m, " %s", e[i].aliases[k]);
        fputc('\n', m);
    }
    if (extra)
        fputs(extra, m);
    fclose(m); /* now: buf and len are set by the close */
    /* Every replica reads it as "other" (whatever our umask). */
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || ((st.st_mode & 0777) != 0644 && fchmod(fd, 0644) < 0))
        return sv_error(err, errno, "cannot update %s", path);
    /* Shrinking: write the new text padded with a comment to the old size
     * first, then cut; a reader in between sees a whole file either way. */
    size_t want = len;
    if ((size_t)st.st_size > len) {
        size_t pad = (size_t)st.st_size - len;
        buf = sv_xrealloc(buf, len + pad + 1);
        buf[len] = '#';
        memset(buf + len + 1, ' ', pad - 1);
        buf[len + pad - 1] = '\n';
        len += pad;
    }
    if (pwrite(fd, buf, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)want) < 0)
        return sv_error(err, errno, "cannot update %s", path);
    return 0;
}

uint32_t sv_stacknet_address_of(const char *spec_json)
{
    cleanup_json json_t *o = spec_json ? json_loads(spec_json, 0, NULL) : NULL;
    const char *s = json_string_value(json_object_get(o, "address"));
    struct in_addr a = {0};
    return s && inet_pton(AF_INET, s, &a) == 1 ? ntohl(a.s_addr) : 0;
}

size_t sv_stacknet_links_of(const char *spec_json, char **names, uint32_t *addrs, size_t max)
{
    cleanup_json json_t *o = spec_json ? json_loads(spec_json, 0, NULL) : NULL;
    json_t *links = json_object_get(o, "links");
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(links) && n < max; i++) {
        json_t *l = json_array_get(links, i);
        const char *net = json_string_value(json_object_get(l, "network"));
        const char *s = json_string_value(json_object_get(l, "address"));
        struct in_addr a = {0};
        if (net == NULL || s == NULL || inet_pton(AF_INET, s, &a) != 1)
            continue;
        names[n] = sv_xstrdup(net);
        addrs[n++] = ntohl(a.s_addr);
    }
    return n;
}
