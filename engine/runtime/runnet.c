#include "runtime/runnet.h"

#include "graph/graph.h"
#include "net/netlink.h"
#include "net/proxy.h"
#include "runtime/rootfs.h"
#include "core/statedir.h"
#include "net/stacknet.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY_PREFIX "_run-"
#define KEY_HEX    16

/* The name proxy.c knows the one service by; it shows in its errors. */
#define RUN_SERVICE "-p"

struct sv_runnet {
    char key[sizeof(KEY_PREFIX) + KEY_HEX];
    struct sv_stacknet *net;
    uint32_t addr;
    char **ports; /* as bound */
    pid_t keeper;
    int keeper_fd; /* our end of the keeper's pipe */
};

bool sv_runnet_key_valid(const char *key)
{
    size_t n = strlen(KEY_PREFIX);
    return strncmp(key, KEY_PREFIX, n) == 0 && strlen(key + n) == KEY_HEX &&
           strspn(key + n, "0123456789abcdef") == KEY_HEX;
}

int sv_runnet_destroy(const char *key, sv_error_t *err)
{
    if (!sv_runnet_key_valid(key)) /* never a path a stack's name could make */
        return sv_error(err, EINVAL, "\"%s\" is not a container's network", key);
    if (sv_stacknet_destroy(key, err) < 0 || sv_statedir_binds_remove(key, err) < 0)
        return -1;
    cleanup_free char *dir = sv_statedir_stack(key);
    return sv_rmtree(dir, err);
}

/* The container is the one replica: its address, whether it runs or not
 * (while it restarts, a connection is refused or waits for it). */
static size_t the_backend(void *ctx, const char *service, uint32_t *out, size_t max)
{
    struct sv_runnet *rn = ctx;
    (void)service;
    if (max == 0)
        return 0;
    out[0] = rn->addr;
    return 1;
}

static bool addr_never_used(void *ctx, uint32_t a)
{
    (void)ctx;
    (void)a;
    return false;
}

/* proxy.c speaks of services: 'service "-p": cannot publish port
 * 127.0.0.1:8080: Address already in use' reads better as "-p: ...". */
static int ports_error(sv_error_t *err)
{
    const char *prefix = "service \"" RUN_SERVICE "\": ";
    if (*err && strncmp((*err)->msg, prefix, strlen(prefix)) == 0)
        memmove((*err)->msg, (*err)->msg + strlen(prefix),
                strlen((*err)->msg + strlen(prefix)) + 1);
    return sv_error_wrap(err, "-p");
}

/* The ports as bound (a host port 0 becomes the one the kernel chose), in
 * the order given, from the relay's own description: one line
 * "SERVICE\tIP:PORT->PORT/tcp" per port, in an order of its own. */
static char *bound_ports(const struct sv_proxy *p, const struct sv_port_spec *ports, size_t n)
{
    cleanup_free char *text = NULL;
    size_t len = 0, k = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        sv_oom();
    sv_proxy_describe(p, f);
    fclose(f); /* now: text and len are set by the close */
    cleanup_free char **lines = sv_xcalloc(n + 1, sizeof(char *));
    for (char *line = text, *next; line && *line && k < n; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *tab = strchr(line, '\t');
        lines[k++] = tab ? tab + 1 : line;
    }
    char *out = sv_xcalloc(1, len + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        char ip[80], tail[16];
        snprintf(ip, sizeof(ip), strchr(ports[i].host_ip, ':') ? "[%s]:" : "%s:", ports[i].host_ip);
        snprintf(tail, sizeof(tail), "->%d/tcp", ports[i].container);
        for (size_t j = 0; j < k; j++) {
            const char *l = lines[j];
            if (l == NULL || strncmp(l, ip, strlen(ip)) != 0 ||
                (ports[i].host && atoi(l + strlen(ip)) != ports[i].host) ||
                strlen(l) < strlen(tail) || strcmp(l + strlen(l) - strlen(tail), tail) != 0)
                continue;
            o += sprintf(o, "%s\n", l);
            lines[j] = NULL;
            break;
        }
    }
    for (size_t j = 0; j < k; j++) /* none expected: whatever matched nothing */
        if (lines[j])
            o += sprintf(o, "%s\n", lines[j]);
    return out;
}

/* The keeper publishes the ports and then relays until its parent closes
 * the life pipe or dies. Everything else of its parent's it closes first:
 * an epoll instance and sockets shared across a fork keep each other's
 * registrations alive (a probe closed here but open there would fire for
 * ever), and a descriptor the CLI waits on (the monitor's report pipe)
 * must not outlive the monitor's own use of it. The terminal's signals
 * are the container's business (the CLI forwards them), not the keeper's:
 * a Ctrl-C must not close the ports of a container that goes on. */
__attribute__((noreturn)) static void keeper_run(const char *key, const struct sv_port_spec *ports,
                                                 size_t n, int life, int report, pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(0);
    static const int quiet[] = {SIGINT, SIGQUIT, SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE};
    for (size_t i = 0; i < SV_ARRAY_LEN(quiet); i++)
        signal(quiet[i], SIG_IGN);
    static const int dfl[] = {SIGTERM, SIGUSR1, SIGUSR2, SIGCHLD, SIGWINCH, SIGALRM};
    for (size_t i = 0; i < SV_ARRAY_LEN(dfl); i++)
        signal(dfl[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* life at 3, report at 4, nothing else above stdio; stderr until
     * the ports are published (the relay says there why the kernel's fast
     * path is not used, if it is not), then nothing of the caller's. */
    int null = open("/dev/null", O_RDWR);
    life = fcntl(life, F_DUPFD_CLOEXEC, 10);
    report = fcntl(report, F_DUPFD_CLOEXEC, 10);
    if (null < 0 || life < 0 || report < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
        dup2(life, 3) < 0 || dup2(report, 4) < 0 || syscall(SYS_close_range, 5, ~0U, 0) < 0)
        _exit(1);
    life = 3, report = 4;
    sv_error_t err = NULL;
    struct sv_stacknet *net = NULL;
    struct sv_graph *g = sv_graph_new();
    struct sv_service *s = sv_xcalloc(1, sizeof(*s)); /* sv_graph_free frees it */
    /* One service on the stack network, with the ports, is all the relay
     * needs to publish them. */
    g->stack = key;
    g->services = s;
    g->n_services = 1;
    s->name = RUN_SERVICE;
    s->where = "servos run";
    s->network = "stack";
    s->ports = (struct sv_port_spec *)ports;
    s->n_ports = n;
    struct sv_runnet rn = {0};
    struct sv_proxy *proxy = NULL;
    if (sv_stacknet_open(key, &net, &err) == 0) {
        rn.addr = sv_stacknet_alloc(net, addr_never_used, NULL);
        proxy = sv_proxy_new(net, the_backend, &rn);
        if (proxy == NULL)
            sv_error(&err, errno, "epoll");
    }
    if (proxy && sv_proxy_sync(proxy, g, &err) < 0)
        ports_error(&err);
    sv_graph_free(g);
    if (err) {
        dprintf(report, "-%s", err->msg);
        _exit(1);
    }
    cleanup_free char *bound = bound_ports(proxy, ports, n);
    dprintf(report, "+%s", bound);
    close(report); /* its EOF ends the parent's read */
    dup2(0, 2);
    for (;;) {
        struct pollfd p[2] = {{sv_proxy_fd(proxy), POLLIN, 0}, {life, POLLIN, 0}};
        /* The fast path's probes of the container are retried on a tick. */
        int k = poll(p, 2, 100);
        if (k < 0 && errno != EINTR)
            _exit(1);
        if (p[1].revents)
            _exit(0); /* the tcx links, the listeners: all go with us */
        if (p[0].revents)
            sv_proxy_pump(proxy);
        sv_proxy_refresh(proxy);
    }
}

/* Fork the keeper and read what it published, or why it could not. */
static int start_keeper(struct sv_runnet *rn, const struct sv_port_spec *ports, size_t n,
                        sv_error_t *err)
{
    int pair[2];
    if (pipe2(pair, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    cleanup_close int life_rd = pair[0], life_wr = pair[1];
    if (pipe2(pair, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    cleanup_close int report_rd = pair[0], report_wr = pair[1];
    /* No handler of the caller's may run in the keeper before it has set
     * its own (the CLI's forward signals to the container). */
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        keeper_run(rn->key, ports, n, life_rd, report_wr, parent);
    int e = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return sv_error(err, e, "cannot fork the process that holds the ports");
    /* The keeper's ends: the report's EOF says it published or died. */
    close(life_rd), life_rd = -1;
    close(report_wr), report_wr = -1;
    rn->keeper = pid;
    rn->keeper_fd = sv_steal_fd(life_wr);
    char buf[8192];
    sv_read_pipe(report_rd, buf, sizeof(buf));
    if (buf[0] != '+')
        return sv_error(err, 0, "%s", buf[0] == '-' ? buf + 1 : "-p: the ports' process died");
    size_t k = 0;
    rn->ports = sv_xcalloc(n + 1, sizeof(char *));
    for (char *line = buf + 1, *next; *line && k < n; line = next) {
        next = strchr(line, '\n');
        if (next == NULL)
            break;
        *next++ = '\0';
        rn->ports[k++] = sv_xstrdup(line);
    }
    return 0;
}

int sv_runnet_open(const struct sv_port_spec *ports, size_t n, struct sv_runnet **out,
                   sv_error_t *err)
{
    struct sv_runnet *rn = sv_xcalloc(1, sizeof(*rn));
    rn->keeper_fd = -1;
    unsigned char raw[KEY_HEX / 2];
    if (getrandom(raw, sizeof(raw), 0) != sizeof(raw)) {
        free(rn);
        return sv_error(err, errno, "getrandom");
    }
    int k = snprintf(rn->key, sizeof(rn->key), KEY_PREFIX);
    for (size_t i = 0; i < sizeof(raw); i++)
        k += snprintf(rn->key + k, sizeof(rn->key) - (size_t)k, "%02x", raw[i]);
    /* The network is made here (the container's link is made by whoever
     * starts it, through our netlink socket in the network); the relay
     * and the fast path only in the keeper. */
    if (sv_statedir_stack_make(rn->key, err) < 0 || sv_stacknet_open(rn->key, &rn->net, err) < 0 ||
        start_keeper(rn, ports, n, err) < 0) {
        sv_runnet_close(rn);
        return -1;
    }
    rn->addr = sv_stacknet_alloc(rn->net, addr_never_used, NULL);
    *out = rn;
    return 0;
}

void sv_runnet_attach(struct sv_runnet *rn, struct sv_run_spec *spec)
{
    spec->network = SV_NET_STACK;
    /* No hosts file of the network's: the container's own (its name on
     * 127.0.0.1, as without -p) is all a container alone needs. */
    spec->net = (struct sv_net_attach){.nl = rn->net->nl,
                                       .bridge = rn->net->bridge,
                                       .addr = rn->addr,
                                       .prefix = SV_STACKNET_PREFIX};
    spec->run_network = rn->key;
    spec->ports = rn->ports;
}

void sv_runnet_prepare(struct sv_runnet *rn, const char *id)
{
    char name[IFNAMSIZ]; /* as container.c names the network end of a container */
    snprintf(name, sizeof(name), "sv%.12s", id);
    cleanup_close int fd = sv_stacknet_socket(rn->net, AF_INET, SOCK_DGRAM);
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (fd >= 0 && ioctl(fd, SIOCGIFINDEX, &ifr) == 0)
        sv_nl_del_link(rn->net->nl, ifr.ifr_ifindex);
}

void sv_runnet_close(struct sv_runnet *rn)
{
    if (rn == NULL)
        return;
    if (rn->keeper > 0) {
        close(rn->keeper_fd);
        while (waitpid(rn->keeper, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    sv_stacknet_close(rn->net);
    sv_strv_free(rn->ports);
    sv_error_t err = NULL;
    if (rn->key[0] && sv_runnet_destroy(rn->key, &err) < 0)
        sv_error_report(&err);
    free(rn);
}
