/* The supervisor: one detached process per stack that owns its replicas.
 * It reconciles the graph (create what is missing, recreate what changed,
 * remove what is gone, in dependency order), restarts replicas by policy
 * with back-off, runs health checks inside them, copies their output into
 * capped, rotated logs (logfile.h), and answers the CLI on a unix socket.
 * Replicas are its direct children, so their exit codes are exact; after a
 * crash, a new supervisor re-adopts the replicas that still run through
 * pidfds (their exit codes are then unknown). Single-threaded: one epoll
 * loop. */
#include "lua/load.h"
#include "core/bulkmem.h"
#include "log/logfile.h"
#include "proserve/pgateway.h"
#include "net/proxy.h"
#include "runtime/rootfs.h"
#include "stack/stack.h"
#include "net/stacknet.h"
#include "core/store.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum rstate { R_RUNNING, R_EXITED, R_BACKOFF };
enum health { H_NONE, H_STARTING, H_HEALTHY, H_UNHEALTHY };
static const char *const health_names[] = {"", "starting", "healthy", "unhealthy"};

struct replica {
    int image_stop_signal;        /* the image's StopSignal, 0: none */
    const struct sv_service *svc; /* in the graph it was last reconciled with */
    char *service;
    int n;
    char id[65];
    char hash[17];
    pid_t pid;
    int pidfd; /* adopted replicas only: not our children */
    enum rstate state;
    int exit_code; /* -1: unknown (adopted) */
    int restarts;
    int64_t started_ms, next_start_ms;
    enum health health;
    int health_fails;
    int64_t next_check_ms, check_deadline_ms;
    struct sv_log *log; /* its output, while we hold it */
    bool log_failing;   /* said so in our log already */
    pid_t check_pid;
    struct sv_cgroup cg;
    bool stopping;
    uint32_t addr; /* on the stack network; 0 when not on it or not running */
};

struct sup {
    char *stack;
    struct sv_graph *g;
    struct sv_store *st;
    struct replica **r;
    size_t n;
    int lfd, sfd, tfd, ep;
    int null_fd;
    bool exiting;
    struct sv_stacknet *net; /* opened when a service first needs it */
    struct sv_proxy *proxy;
    bool hosts_dirty;
    struct gateway { /* ProServe services whose handlers get containers */
        char *service;
        int fd;
    } * gw;
    size_t n_gw;
};

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    time_t t = time(NULL);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", localtime(&t));
    fprintf(stderr, "%s ", ts);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
}

/* ---- replicas ------------------------------------------------------------ */

static struct replica *find(struct sup *S, const char *service, int n)
{
    for (size_t i = 0; i < S->n; i++)
        if (S->r[i]->n == n && strcmp(S->r[i]->service, service) == 0)
            return S->r[i];
    return NULL;
}

static struct replica *add(struct sup *S, const char *service, int n)
{
    struct replica *r = sv_xcalloc(1, sizeof(*r));
    r->service = sv_xstrdup(service);
    r->n = n;
    r->pidfd = -1;
    r->state = R_EXITED;
    S->r = sv_xrealloc(S->r, (S->n + 1) * sizeof(*S->r));
    S->r[S->n++] = r;
    return r;
}

static void drop(struct sup *S, struct replica *r)
{
    for (size_t i = 0; i < S->n; i++)
        if (S->r[i] == r) {
            memmove(&S->r[i], &S->r[i + 1], (S->n - i - 1) * sizeof(*S->r));
            S->n--;
            break;
        }
    if (r->pidfd >= 0) {
        epoll_ctl(S->ep, EPOLL_CTL_DEL, r->pidfd, NULL);
        close(r->pidfd);
    }
    if (r->log) {
        epoll_ctl(S->ep, EPOLL_CTL_DEL, sv_log_fd(r->log), NULL);
        sv_log_close(r->log);
    }
    if (r->addr)
        S->hosts_dirty = true;
    sv_cgroup_clear(&r->cg);
    free(r->service);
    free(r);
}

static void report(sv_error_t *err)
{
    if (*err) {
        logf_("%s", (*err)->msg);
        sv_error_free(err);
    }
}

/* ---- logs ------------------------------------------------------------------ */

static void log_opts_of(const struct sv_service *s, struct sv_log_opts *o)
{
    sv_log_opts_init(o);
    if (s && s->log_max_size > 0)
        o->max_size = s->log_max_size;
    if (s && s->log_max_files > 0)
        o->max_files = s->log_max_files;
}

/* Hold the replica's log (its FIFO in our epoll), with its service's
 * options: kept across restarts, so one incarnation's output follows the
 * last's. */
static int hold_log(struct sup *S, struct replica *r, sv_error_t *err)
{
    struct sv_log_opts o;
    log_opts_of(r->svc, &o);
    if (r->log) {
        sv_log_set_opts(r->log, &o);
        return 0;
    }
    cleanup_free char *path = sv_replica_log(S->stack, r->service, r->n);
    if (sv_log_open(path, &o, true, &r->log, err) < 0)
        return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = sv_log_fd(r->log)};
    epoll_ctl(S->ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
    return 0;
}

/* Copy what the replica wrote to its files. Output that cannot be
 * written (a full disk) is dropped rather than left to block the replica;
 * our log says so once. */
static void pump_log(struct replica *r)
{
    sv_error_t e = NULL;
    if (r->log == NULL)
        return;
    if (sv_log_pump(r->log, &e) == 0) {
        r->log_failing = false;
        return;
    }
    if (!r->log_failing)
        logf_("%s-%d: output lost: %s", r->service, r->n, e->msg);
    r->log_failing = true;
    sv_error_free(&e);
}

/* ---- the stack network ----------------------------------------------------- */

static bool addr_used(void *ctx, uint32_t a)
{
    struct sup *S = ctx;
    for (size_t i = 0; i < S->n; i++)
        if (S->r[i]->addr == a)
            return true;
    return false;
}

static size_t backends(void *ctx, const char *service, uint32_t *out, size_t max)
{
    struct sup *S = ctx;
    size_t k = 0;
    for (size_t i = 0; i < S->n && k < max; i++)
        if (S->r[i]->state == R_RUNNING && S->r[i]->addr && strcmp(S->r[i]->service, service) == 0)
            out[k++] = S->r[i]->addr;
    return k;
}

static int ensure_net(struct sup *S, sv_error_t *err)
{
    if (S->net)
        return 0;
    if (sv_stacknet_open(S->stack, &S->net, err) < 0)
        return sv_error_wrap(err, "stack network");
    S->proxy = sv_proxy_new(S->net, backends, S);
    if (S->proxy == NULL)
        return sv_error(err, errno, "epoll");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = sv_proxy_fd(S->proxy)};
    epoll_ctl(S->ep, EPOLL_CTL_ADD, ev.data.fd, &ev);
    /* Addresses continue after the highest in use (see sv_stacknet_alloc). */
    for (size_t i = 0; i < S->n; i++)
        if (S->r[i]->addr >= S->net->next)
            S->net->next = S->r[i]->addr + 1;
    return 0;
}

/* Every replica on the network by NAME-N, its service's name and its own
 * hostname: what each replica's /etc/hosts says. */
static int write_hosts(struct sup *S, sv_error_t *err)
{
    if (S->net == NULL)
        return 0;
    struct sv_host_entry *e = sv_xcalloc(S->n + 1, sizeof(*e));
    char **own = sv_xcalloc(S->n + 1, sizeof(*own));
    size_t k = 0;
    for (size_t i = 0; i < S->n; i++) {
        struct replica *r = S->r[i];
        if (r->addr == 0)
            continue;
        own[k] = sv_xasprintf("%s-%d", r->service, r->n);
        e[k].addr = r->addr;
        e[k].names[0] = own[k];
        e[k].names[1] = r->service;
        if (r->svc && r->svc->hostname && strcmp(r->svc->hostname, own[k]) != 0)
            e[k].names[2] = r->svc->hostname;
        k++;
    }
    int rc = sv_stacknet_write_hosts(S->net, e, k, err);
    for (size_t i = 0; i < k; i++)
        free(own[i]);
    free(own);
    free(e);
    S->hosts_dirty = false;
    return rc;
}

/* A replica left the network: its name goes (now, or at the next tick). */
static void leave_net(struct sup *S, struct replica *r)
{
    if (r->addr) {
        r->addr = 0;
        S->hosts_dirty = true;
    }
}

static bool graph_needs_net(const struct sv_graph *g)
{
    for (size_t i = 0; i < g->n_services; i++)
        if (strcmp(g->services[i].network, "stack") == 0)
            return true;
    return false;
}

/* Is name what service a is called by on the stack network: its name, a
 * replica's SERVICE-N, its hostname? */
static bool net_name_of(const struct sv_service *a, const char *name)
{
    size_t al = strlen(a->name);
    if (strcmp(name, a->name) == 0 || (a->hostname && strcmp(name, a->hostname) == 0))
        return true;
    if (strncmp(name, a->name, al) != 0 || name[al] != '-' || name[al + 1] < '1' ||
        name[al + 1] > '9' || strspn(name + al + 1, "0123456789") != strlen(name + al + 1))
        return false;
    long k = strtol(name + al + 1, NULL, 10);
    return k >= 1 && k <= a->replicas;
}

/* The same mistake as STACK-SERVICE-N container names, inside a stack:
 * service "web-1" and replica 1 of "web" would both be "web-1" in every
 * /etc/hosts, and a client would reach either. Refused, before anything
 * starts. */
static int check_net_names(const struct sv_graph *g, sv_error_t *err)
{
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *b = &g->services[i];
        if (strcmp(b->network, "stack") != 0)
            continue;
        for (size_t k = 0; k < g->n_services; k++) {
            const struct sv_service *a = &g->services[k];
            if (k == i || strcmp(a->network, "stack") != 0)
                continue;
            const char *clash = net_name_of(a, b->name)                      ? b->name
                                : b->hostname && net_name_of(a, b->hostname) ? b->hostname
                                                                             : NULL;
            if (clash)
                return sv_error(err, 0,
                                "services \"%s\" and \"%s\" would both be called \"%s\" on "
                                "the stack network: rename one (or its hostname)",
                                a->name, b->name, clash);
        }
    }
    return 0;
}

/* Publish the graph's ports; `servos ps` reads them from <stack>/ports. */
static int sync_ports(struct sup *S, const struct sv_graph *g, sv_error_t *err)
{
    if (S->net == NULL && !graph_needs_net(g))
        return 0;
    if (ensure_net(S, err) < 0 || sv_proxy_sync(S->proxy, g, err) < 0)
        return -1;
    cleanup_free char *dir = sv_stack_dir(S->stack);
    cleanup_free char *path = sv_xasprintf("%s/ports", dir);
    cleanup_free char *tmp = sv_xasprintf("%s/ports.tmp", dir);
    FILE *f = fopen(tmp, "we");
    if (f == NULL)
        return sv_error(err, errno, "cannot write %s", tmp);
    sv_proxy_describe(S->proxy, f);
    if (fclose(f) != 0 || rename(tmp, path) < 0)
        return sv_error(err, errno, "cannot write %s", path);
    return 0;
}

/* Starting is split in two (see sv_container_spawn): begin clones the
 * replica into its namespaces; finish waits for its exec. Replicas of one
 * wave begin together, so their setups overlap on the cores. */
struct pending {
    struct replica *r;
    struct sv_container *c;
};

/* The replica's container name, STACK-SERVICE-N, is one namespace with
 * every other container's: "na-b" + "c" and "na" + "b-c" meet, and so do a
 * replica and `servos run --name nx-web-1`. The name is ours only when the
 * container under it is this very replica (an earlier incarnation, which
 * goes); anything else is refused, never removed. */
static int claim_name(struct sup *S, struct replica *r, const char *name, sv_error_t *err)
{
    struct sv_ctr_row old;
    bool found = false;
    if (sv_store_find_name(S->st, name, &old, &found, err) < 0)
        return -1;
    if (!found)
        return 0;
    int rc = 0;
    if (old.stack == NULL)
        rc = sv_error(err, 0,
                      "replica %d would be container \"%s\", but a container of `servos run` "
                      "(%.12s) has that name: rename the service or the stack, or remove that "
                      "container",
                      r->n, name, old.id);
    else if (strcmp(old.stack, S->stack) != 0 || old.service == NULL ||
             strcmp(old.service, r->service) != 0 || old.replica != r->n)
        rc = sv_error(err, 0,
                      "replica %d would be container \"%s\", but that is replica %d of service "
                      "\"%s\" in stack \"%s\": rename the service or the stack",
                      r->n, name, old.replica, old.service ? old.service : "?", old.stack);
    else
        rc = sv_container_remove(S->st, old.id, err);
    sv_ctr_row_clear(&old);
    return rc;
}

static int start_begin(struct sup *S, struct replica *r, struct sv_container **out, sv_error_t *err)
{
    cleanup_free char *name = sv_replica_name(S->stack, r->service, r->n);
    if (claim_name(S, r, name, err) < 0)
        return -1;
    struct sv_run_spec spec;
    if (sv_stack_spec(S->g, r->svc, r->n, &spec, err) < 0)
        return -1;
    cleanup_free char *host = sv_xasprintf("%s-%d", r->service, r->n);
    spec.name = name;
    spec.hostname = r->svc->hostname ? r->svc->hostname : host;
    sv_service_hash_hex(r->svc, r->hash);
    spec.hash = r->hash;
    if (spec.network == SV_NET_STACK) {
        /* A new address each start: nobody's neighbour cache can hold a
         * dead replica's MAC for it. */
        leave_net(S, r);
        uint32_t a = ensure_net(S, err) < 0 ? 0 : sv_stacknet_alloc(S->net, addr_used, S);
        if (a == 0) {
            if (*err == NULL)
                sv_error(err, ENOSPC, "the stack network has no free address left");
            sv_stack_spec_free(&spec);
            return -1;
        }
        r->addr = a;
        spec.net = (struct sv_net_attach){S->net->nl, S->net->bridge, a, SV_STACKNET_PREFIX,
                                          S->net->hosts};
        if (write_hosts(S, err) < 0) {
            leave_net(S, r);
            sv_stack_spec_free(&spec);
            return -1;
        }
    }
    struct sv_container *c = NULL;
    int rc = sv_container_create(S->st, &spec, &c, err);
    sv_stack_spec_free(&spec);
    if (rc < 0)
        return -1;
    int output = hold_log(S, r, err) < 0 ? -1 : sv_log_writer(r->log, err);
    if (output < 0) {
        sv_container_remove(S->st, c->id, NULL);
        sv_container_free(c);
        return -1;
    }
    int fds[3] = {S->null_fd, output, output};
    rc = sv_container_spawn(c, fds, err);
    close(output);
    if (rc < 0) {
        sv_container_remove(S->st, c->id, NULL);
        sv_container_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

static int start_finish(struct sup *S, struct replica *r, struct sv_container *c, sv_error_t *err)
{
    int exec_status = 0;
    if (sv_container_spawned(S->st, c, &exec_status, err) < 0) {
        sv_container_remove(S->st, c->id, NULL);
        sv_container_free(c);
        return -1;
    }
    memcpy(r->id, c->id, sizeof(r->id));
    r->pid = c->pid;
    r->image_stop_signal = c->stop_signal;
    r->state = R_RUNNING;
    r->stopping = false;
    r->exit_code = 0;
    r->started_ms = sv_now_ms();
    r->cg = c->cg;
    memset(&c->cg, 0, sizeof(c->cg));
    sv_container_free(c);
    const struct sv_health *h = r->svc->health;
    r->health = h ? H_STARTING : H_NONE;
    r->health_fails = 0;
    r->next_check_ms = r->started_ms + (h ? (h->interval_ms < 100 ? 100 : h->interval_ms) : 0);
    if (h) {
        sv_error_t e = NULL;
        sv_store_set_health(S->st, r->id, "starting", &e);
        report(&e);
    }
    logf_("started %s-%s-%d (pid %d)", S->stack, r->service, r->n, (int)r->pid);
    return 0;
}

static int start_replica(struct sup *S, struct replica *r, sv_error_t *err)
{
    struct sv_container *c;
    if (start_begin(S, r, &c, err) < 0)
        return -1;
    return start_finish(S, r, c, err);
}

/* An init process ended: record it, then let the policy decide. */
static void replica_exited(struct sup *S, struct replica *r, int code)
{
    pump_log(r); /* its last words, before anyone asks */
    bool oom = sv_cgroup_oom_killed(&r->cg);
    sv_error_t e = NULL;
    sv_cgroup_destroy(&r->cg, &e);
    report(&e);
    r->state = R_EXITED;
    r->exit_code = code;
    r->pid = 0;
    leave_net(S, r);
    if (r->pidfd >= 0) {
        epoll_ctl(S->ep, EPOLL_CTL_DEL, r->pidfd, NULL);
        close(r->pidfd);
        r->pidfd = -1;
    }
    sv_store_set_exited(S->st, r->id, code < 0 ? 255 : code, oom, &e);
    report(&e);
    logf_("%s-%d exited (%d%s)", r->service, r->n, code, oom ? ", OOM killed" : "");
    if (r->stopping || S->exiting || r->svc == NULL)
        return;
    enum sv_restart_policy p = r->svc->restart;
    bool again = p == SV_RESTART_ALWAYS || p == SV_RESTART_UNLESS_STOPPED ||
                 (p == SV_RESTART_ON_FAILURE && code != 0 &&
                  (r->svc->restart_max <= 0 || r->restarts < r->svc->restart_max));
    if (!again)
        return;
    /* Back-off: 100 ms doubling to 10 s; a replica that ran 10 s starts over. */
    int64_t ran = sv_now_ms() - r->started_ms;
    int shift = ran > 10000 ? 0 : (r->restarts < 7 ? r->restarts : 7);
    int64_t delay = 100LL << shift;
    r->state = R_BACKOFF;
    r->next_start_ms = sv_now_ms() + (delay > 10000 ? 10000 : delay);
}

/* A start failed: try again after the back-off. */
static void retry_later(struct replica *r)
{
    int shift = r->restarts < 7 ? r->restarts : 7;
    int64_t delay = 100LL << shift;
    r->state = R_BACKOFF;
    r->next_start_ms = sv_now_ms() + (delay > 10000 ? 10000 : delay);
}

static void reap(struct sup *S)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        for (size_t i = 0; i < S->n; i++) {
            struct replica *r = S->r[i];
            if (r->check_pid == pid) {
                r->check_pid = 0;
                enum health before = r->health;
                if (code == 0) {
                    r->health = H_HEALTHY;
                    r->health_fails = 0;
                } else if (++r->health_fails >=
                               (r->svc->health->retries > 0 ? r->svc->health->retries : 3) &&
                           sv_now_ms() - r->started_ms >= r->svc->health->start_period_ms) {
                    r->health = H_UNHEALTHY;
                }
                if (r->health != before) {
                    sv_error_t e = NULL;
                    sv_store_set_health(S->st, r->id, health_names[r->health], &e);
                    report(&e);
                }
                break;
            }
            if (r->pid == pid && r->pidfd < 0) {
                replica_exited(S, r, code);
                break;
            }
        }
    }
}

/* Run the health check inside the replica: a child of ours that joins the
 * container (as `servos exec` does) and exits with the check's status. */
static void health_check(struct sup *S, struct replica *r)
{
    const struct sv_health *h = r->svc->health;
    struct sv_ctr_row row;
    sv_error_t e = NULL;
    if (sv_store_find(S->st, r->id, &row, &e) < 0) {
        report(&e);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(S->null_fd, 0);
        dup2(S->null_fd, 1);
        dup2(S->null_fd, 2);
        int code = 1;
        if (sv_container_exec(&row, (char **)h->test, &code, &e) < 0)
            code = code ? code : 1;
        _exit(code);
    }
    sv_ctr_row_clear(&row);
    if (pid > 0) {
        r->check_pid = pid;
        r->check_deadline_ms = sv_now_ms() + (h->timeout_ms > 0 ? h->timeout_ms : 30000);
    }
    r->next_check_ms = sv_now_ms() + (h->interval_ms > 0 ? h->interval_ms : 30000);
}

/* Arrival times, every 100 ms, for `servos logs -t`. */
static void stamp_logs(struct sup *S)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    for (size_t i = 0; i < S->n; i++)
        if (S->r[i]->log)
            sv_log_stamp(S->r[i]->log, wall);
}

static void tick(struct sup *S)
{
    int64_t now = sv_now_ms();
    stamp_logs(S);
    if (S->hosts_dirty) {
        sv_error_t e = NULL;
        write_hosts(S, &e);
        report(&e);
    }
    for (size_t i = 0; i < S->n; i++) {
        struct replica *r = S->r[i];
        if (r->check_pid > 0 && now > r->check_deadline_ms)
            kill(r->check_pid, SIGKILL); /* a timed-out check counts as failed */
        if (r->state == R_RUNNING && r->svc && r->svc->health && r->check_pid == 0 &&
            now >= r->next_check_ms)
            health_check(S, r);
        if (r->state == R_BACKOFF && now >= r->next_start_ms && !S->exiting) {
            sv_error_t e = NULL;
            r->restarts++;
            if (start_replica(S, r, &e) < 0) {
                logf_("%s-%d cannot start (retrying): %s", r->service, r->n, e->msg);
                sv_error_free(&e);
                retry_later(r);
            } else {
                sv_store_set_restarts(S->st, r->id, r->restarts, &e);
                report(&e);
            }
        }
    }
}

static void handle_event(struct sup *S, int fd)
{
    if (fd == S->sfd) {
        struct signalfd_siginfo si;
        while (read(S->sfd, &si, sizeof(si)) == sizeof(si)) {
            if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                S->exiting = true;
        }
        reap(S);
    } else if (S->proxy && fd == sv_proxy_fd(S->proxy)) {
        sv_proxy_pump(S->proxy);
    } else if (fd == S->tfd) {
        uint64_t x;
        if (read(S->tfd, &x, sizeof(x)) < 0) {
            /* spurious */
        }
        tick(S);
    } else if (fd != S->lfd) {
        for (size_t k = 0; k < S->n_gw; k++)
            if (S->gw[k].fd == fd) {
                const struct sv_service *s = sv_graph_find(S->g, S->gw[k].service);
                if (s)
                    sv_gateway_accept(fd, S->stack, s);
                return;
            }
        for (size_t k = 0; k < S->n; k++) {
            struct replica *r = S->r[k];
            if (r->log && sv_log_fd(r->log) == fd) {
                pump_log(r);
                break;
            }
            if (r->pidfd == fd) { /* an adopted replica ended */
                replica_exited(S, r, -1);
                break;
            }
        }
    }
}

/* Handle events for up to ms milliseconds (0: what is ready); requests on
 * the control socket wait for the main loop. */
static void pump(struct sup *S, int ms)
{
    struct epoll_event ev[16];
    int n = epoll_wait(S->ep, ev, 16, ms);
    for (int i = 0; i < n; i++)
        handle_event(S, ev[i].data.fd);
    if (S->proxy)
        sv_proxy_refresh(S->proxy);
}

/* ---- stopping ------------------------------------------------------------ */

static void stop_replica(struct sup *S, struct replica *r, int64_t grace_ms)
{
    if (r->state != R_RUNNING || r->pid <= 0) {
        r->state = R_EXITED;
        return;
    }
    r->stopping = true;
    int sig = r->svc && r->svc->stop_signal ? r->svc->stop_signal
              : r->image_stop_signal        ? r->image_stop_signal
                                            : SIGTERM;
    kill(r->pid, sig);
    int64_t end = sv_now_ms() + grace_ms;
    while (r->state == R_RUNNING && sv_now_ms() < end)
        pump(S, 20);
    if (r->state == R_RUNNING) {
        kill(r->pid, SIGKILL);
        end = sv_now_ms() + 5000;
        while (r->state == R_RUNNING && sv_now_ms() < end)
            pump(S, 20);
    }
}

static int64_t grace_of(const struct replica *r, int64_t override_ms)
{
    if (override_ms >= 0)
        return override_ms;
    return r->svc && r->svc->stop_grace_ms >= 0 ? r->svc->stop_grace_ms : 10000;
}

/* Stop and remove a replica. When its container cannot be removed (a
 * full disk, say), err says why and its row stays for a later down. */
static int remove_replica(struct sup *S, struct replica *r, int64_t grace_override, sv_error_t *err)
{
    stop_replica(S, r, grace_of(r, grace_override));
    sv_error_t e = NULL;
    int rc = 0;
    if (r->id[0] && sv_container_remove(S->st, r->id, &e) < 0) {
        rc = sv_error(err, 0, "%s-%d: %s", r->service, r->n, e->msg);
        report(&e);
    }
    cleanup_free char *log = sv_replica_log(S->stack, r->service, r->n);
    sv_log_remove(log);
    if (rc == 0)
        logf_("removed %s-%d", r->service, r->n);
    drop(S, r);
    return rc;
}

/* Dependants first: reverse of the start order. */
static int dep_depth(const struct sv_graph *g, const struct sv_service *s, int guard)
{
    int d = 0;
    for (size_t i = 0; s && i < s->n_deps && guard < 64; i++) {
        int k = 1 + dep_depth(g, sv_graph_find(g, s->deps[i].service), guard + 1);
        d = k > d ? k : d;
    }
    return d;
}

/* Remove every replica; the first failure is the error, the others are
 * in our log, and every replica is tried. */
static int down_all(struct sup *S, int64_t grace_override, sv_error_t *err)
{
    int rc = 0;
    while (S->n > 0) {
        size_t pick = 0;
        int best = -1;
        for (size_t i = 0; i < S->n; i++) {
            int d = S->g ? dep_depth(S->g, S->r[i]->svc, 0) : 0;
            if (d > best) {
                best = d;
                pick = i;
            }
        }
        if (remove_replica(S, S->r[pick], grace_override, err) < 0)
            rc = -1;
    }
    return rc;
}

/* ---- reconcile ----------------------------------------------------------- */

static bool dep_ready(struct sup *S, const struct sv_dep *d, bool *failed)
{
    const struct sv_service *t = sv_graph_find(S->g, d->service);
    int want = t ? t->replicas : 0;
    int ok = 0;
    for (size_t i = 0; i < S->n; i++) {
        struct replica *r = S->r[i];
        if (strcmp(r->service, d->service) != 0)
            continue;
        switch (d->condition) {
        case SV_DEP_STARTED:
            ok += r->state == R_RUNNING;
            break;
        case SV_DEP_HEALTHY:
            ok += r->state == R_RUNNING && (r->health == H_HEALTHY || !t->health);
            *failed |= r->health == H_UNHEALTHY;
            break;
        case SV_DEP_COMPLETED:
            ok += r->state == R_EXITED && r->exit_code == 0;
            *failed |= r->state == R_EXITED && r->exit_code != 0;
            break;
        }
    }
    return ok >= want;
}

static int64_t dep_bound_ms(struct sup *S, const struct sv_dep *d)
{
    const struct sv_service *t = sv_graph_find(S->g, d->service);
    if (d->condition == SV_DEP_COMPLETED)
        return 600000;
    if (d->condition == SV_DEP_HEALTHY && t && t->health) {
        const struct sv_health *h = t->health;
        int64_t iv = h->interval_ms > 0 ? h->interval_ms : 30000;
        int64_t to = h->timeout_ms > 0 ? h->timeout_ms : 30000;
        int64_t b = h->start_period_ms + (iv + to) * ((h->retries > 0 ? h->retries : 3) + 1);
        return b < 10000 ? 10000 : b;
    }
    return 30000;
}

/* Create, recreate (one replica at a time) or keep each replica of s.
 * New replicas are only begun: the wave finishes them together. */
static int converge_service(struct sup *S, const struct sv_service *s, struct pending **pend,
                            size_t *npend, sv_error_t *err)
{
    char hash[17];
    sv_service_hash_hex(s, hash);
    /* A service that already runs grows one replica at a time (scale, or a
     * higher replicas =); a new one starts all its replicas together. */
    bool rolling = false;
    for (size_t i = 0; i < S->n && !rolling; i++)
        rolling = strcmp(S->r[i]->service, s->name) == 0;
    for (int n = 1; n <= s->replicas; n++) {
        struct replica *r = find(S, s->name, n);
        if (r && strcmp(r->hash, hash) == 0) {
            r->svc = s;
            if (r->state == R_EXITED && r->exit_code != 0 && s->restart != SV_RESTART_NO &&
                r->id[0] == '\0')
                r->state = R_BACKOFF;
            /* Up means "make it run": a replica that failed or died while
             * nobody watched starts again; one that completed (exit 0) stays. */
            if (r->state != R_EXITED || r->exit_code == 0)
                continue;
            logf_("%s-%d is not running: starting it again", s->name, n);
        } else if (r) {
            logf_("%s-%d changed: recreating", s->name, n);
        }
        if (r && remove_replica(S, r, -1, err) < 0)
            return sv_error_wrap(err, "service \"%s\"", s->name);
        r = add(S, s->name, n);
        r->svc = s;
        if (rolling) {
            if (start_replica(S, r, err) < 0) {
                drop(S, r);
                return sv_error_wrap(err, "service \"%s\"", s->name);
            }
            continue;
        }
        struct sv_container *c;
        if (start_begin(S, r, &c, err) < 0) {
            drop(S, r);
            return sv_error_wrap(err, "service \"%s\"", s->name);
        }
        *pend = sv_xrealloc(*pend, (*npend + 1) * sizeof(**pend));
        (*pend)[(*npend)++] = (struct pending){r, c};
    }
    return 0;
}

/* Wait for every begun replica; the first failure is the wave's error. */
static int finish_wave(struct sup *S, struct pending *pend, size_t npend, sv_error_t *err)
{
    int rc = 0;
    for (size_t i = 0; i < npend; i++) {
        struct replica *r = pend[i].r;
        sv_error_t e = NULL;
        if (start_finish(S, r, pend[i].c, &e) < 0) {
            if (rc == 0) {
                rc = -1;
                *err = e;
                sv_error_wrap(err, "service \"%s\"", r->service);
            } else {
                report(&e);
            }
            drop(S, r);
        }
    }
    return rc;
}

/* A gateway socket for each ProServe service that runs handlers in
 * containers (pgateway.h); none for the others. */
static int sync_gateways(struct sup *S, const struct sv_graph *g, sv_error_t *err)
{
    for (size_t i = 0; i < S->n_gw;) {
        const struct sv_service *s = sv_graph_find(g, S->gw[i].service);
        if (s && sv_gateway_wanted(s)) {
            i++;
            continue;
        }
        epoll_ctl(S->ep, EPOLL_CTL_DEL, S->gw[i].fd, NULL);
        close(S->gw[i].fd);
        cleanup_free char *dir = sv_gateway_dir(S->stack, S->gw[i].service);
        sv_rmtree(dir, NULL);
        free(S->gw[i].service);
        S->gw[i] = S->gw[--S->n_gw];
    }
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        bool have = false;
        for (size_t k = 0; k < S->n_gw && !have; k++)
            have = strcmp(S->gw[k].service, s->name) == 0;
        if (have || !sv_gateway_wanted(s))
            continue;
        int fd = sv_gateway_listen(S->stack, s, err);
        if (fd < 0)
            return -1;
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(S->ep, EPOLL_CTL_ADD, fd, &ev);
        S->gw = sv_xrealloc(S->gw, (S->n_gw + 1) * sizeof(*S->gw));
        S->gw[S->n_gw++] = (struct gateway){sv_xstrdup(s->name), fd};
    }
    return 0;
}

static int reconcile(struct sup *S, struct sv_graph *g, sv_error_t *err)
{
    S->g = g;
    /* Gone: services no longer declared, replicas above the count. Every
     * replica is seen (the caller frees the old graph), failures or not. */
    int gone_rc = 0;
    for (size_t i = 0; i < S->n;) {
        struct replica *r = S->r[i];
        const struct sv_service *s = sv_graph_find(g, r->service);
        if (s == NULL || r->n > s->replicas) {
            if (remove_replica(S, r, -1, err) < 0)
                gone_rc = -1;
            continue;
        }
        r->svc = s;
        if (r->log)
            hold_log(S, r, NULL); /* its service's log options now */
        i++;
    }
    if (gone_rc < 0 || check_net_names(g, err) < 0 || sync_ports(S, g, err) < 0 ||
        sync_gateways(S, g, err) < 0)
        return -1;
    /* Start in waves: every service whose dependencies are met. */
    size_t left = g->n_services;
    bool *done = sv_xcalloc(g->n_services + 1, sizeof(bool));
    int rc = 0;
    int64_t wave_start = sv_now_ms();
    while (left > 0 && rc == 0) {
        bool progress = false;
        struct pending *pend = NULL;
        size_t npend = 0;
        for (size_t i = 0; i < g->n_services && rc == 0; i++) {
            const struct sv_service *s = &g->services[i];
            if (done[i])
                continue;
            bool ready = true;
            for (size_t k = 0; k < s->n_deps && ready; k++) {
                bool failed = false;
                ready = dep_ready(S, &s->deps[k], &failed);
                if (!ready && (failed || sv_now_ms() - wave_start > dep_bound_ms(S, &s->deps[k])))
                    rc = sv_error(err, 0, "service \"%s\": dependency \"%s\" did not become %s%s",
                                  s->name, s->deps[k].service,
                                  sv_dep_condition_name(s->deps[k].condition),
                                  failed ? "" : " in time");
            }
            if (rc == 0 && ready) {
                rc = converge_service(S, s, &pend, &npend, err);
                done[i] = true;
                left--;
                progress = true;
            }
        }
        sv_error_t werr = NULL;
        if (finish_wave(S, pend, npend, &werr) < 0 && rc == 0) {
            *err = werr;
            rc = -1;
        } else {
            sv_error_free(&werr);
        }
        free(pend);
        if (!progress && rc == 0)
            pump(S, 50);
        else
            wave_start = progress ? sv_now_ms() : wave_start;
    }
    free(done);
    if (S->hosts_dirty) {
        sv_error_t e = NULL;
        write_hosts(S, &e);
        report(&e);
    }
    if (S->proxy) /* before `up` returns: its ports take the fast path at once */
        sv_proxy_refresh(S->proxy);
    return rc;
}

/* ---- adoption -------------------------------------------------------------- */

static void adopt(struct sup *S)
{
    struct sv_ctr_row *rows;
    size_t n;
    sv_error_t e = NULL;
    if (sv_store_list_stack(S->st, S->stack, &rows, &n, &e) < 0) {
        report(&e);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct sv_ctr_row *row = &rows[i];
        if (row->service == NULL || find(S, row->service, row->replica))
            continue;
        struct replica *r = add(S, row->service, row->replica);
        memcpy(r->id, row->id, sizeof(r->id));
        snprintf(r->hash, sizeof(r->hash), "%s", row->hash);
        r->restarts = row->restarts;
        r->exit_code = row->exit_code;
        r->health = strcmp(row->health, "healthy") == 0     ? H_HEALTHY
                    : strcmp(row->health, "unhealthy") == 0 ? H_UNHEALTHY
                    : row->health[0]                        ? H_STARTING
                                                            : H_NONE;
        sv_cgroup_init(&r->cg, r->id, &e);
        report(&e);
        if (row->status == SV_CTR_RUNNING && sv_pid_alive(row->pid, row->pid_start)) {
            r->pidfd = (int)syscall(SYS_pidfd_open, row->pid, 0);
            if (r->pidfd >= 0) {
                r->pid = row->pid;
                r->state = R_RUNNING;
                r->addr = sv_stacknet_address_of(row->spec_json);
                r->started_ms = sv_now_ms() - 1000 * (time(NULL) - row->started);
                struct epoll_event ev = {.events = EPOLLIN, .data.fd = r->pidfd};
                epoll_ctl(S->ep, EPOLL_CTL_ADD, r->pidfd, &ev);
                /* What it wrote while nobody read waits in its FIFO. One
                 * started by an older version writes to its file itself,
                 * which nothing can cap until it is next started. */
                cleanup_free char *log = sv_replica_log(S->stack, r->service, r->n);
                cleanup_free char *fifo = sv_xasprintf("%s.fifo", log);
                if (access(fifo, F_OK) < 0)
                    logf_("%s was started by an older servos: its log is not capped until it "
                          "restarts (servos restart %s)",
                          row->name, r->service);
                if (hold_log(S, r, &e) < 0)
                    report(&e);
                logf_("adopted %s (pid %d)", row->name, (int)row->pid);
                continue;
            }
        }
        r->state = R_EXITED;
        if (row->status == SV_CTR_RUNNING) { /* died while nobody watched */
            sv_store_set_exited(S->st, r->id, 255, false, &e);
            report(&e);
            r->exit_code = -1;
        }
    }
    sv_ctr_rows_free(rows, n);
    /* Replicas on the stack network: find it again, and their names. */
    bool on_net = false;
    for (size_t i = 0; i < S->n; i++)
        on_net |= S->r[i]->addr != 0;
    if (on_net && (ensure_net(S, &e) < 0 || write_hosts(S, &e) < 0))
        report(&e);
}

/* Take the stack network down with the stack: the listeners, the
 * namespace with its bridge (the veths went with the replicas). */
static int net_down(struct sup *S, sv_error_t *err)
{
    if (S->proxy) {
        epoll_ctl(S->ep, EPOLL_CTL_DEL, sv_proxy_fd(S->proxy), NULL);
        sv_proxy_free(S->proxy);
        S->proxy = NULL;
    }
    sv_stacknet_close(S->net);
    S->net = NULL;
    return sv_stacknet_destroy(S->stack, err);
}

/* Down has begun: a client connecting from now on finds no supervisor
 * (and `up` waits for this one to finish) instead of a socket that takes
 * its request and then closes. */
static void stop_listening(struct sup *S)
{
    if (S->lfd < 0)
        return;
    epoll_ctl(S->ep, EPOLL_CTL_DEL, S->lfd, NULL);
    close(S->lfd);
    S->lfd = -1;
    cleanup_free char *path = sv_stack_socket(S->stack);
    unlink(path);
}

/* Rows of the stack that no replica of ours stands for (one whose removal
 * failed before, say): down removes them too, or says why not. */
static int remove_leftovers(struct sup *S, sv_error_t *err)
{
    struct sv_ctr_row *rows;
    size_t n;
    if (sv_store_list_stack(S->st, S->stack, &rows, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (sv_pid_alive(rows[i].pid, rows[i].pid_start))
            kill(rows[i].pid, SIGKILL);
        for (int t = 0; t < 250 && sv_pid_alive(rows[i].pid, rows[i].pid_start); t++)
            pump(S, 20);
        sv_error_t e = NULL;
        if (sv_container_remove(S->st, rows[i].id, &e) < 0) {
            rc = sv_error(err, 0, "%s: %s", rows[i].name, e->msg);
            report(&e);
        }
    }
    sv_ctr_rows_free(rows, n);
    return rc;
}

/* Stop and remove every replica, the leftovers and the network, and stop
 * listening: what `down` does before volumes, and what a first `up` that
 * failed undoes. The supervisor exits afterwards. */
static int take_down(struct sup *S, int64_t grace_override, sv_error_t *err)
{
    S->exiting = true;
    stop_listening(S);
    int rc = down_all(S, grace_override, err);
    if (remove_leftovers(S, err) < 0)
        rc = -1;
    if (net_down(S, err) < 0)
        rc = -1;
    return rc;
}

static bool any_running(const struct sup *S)
{
    for (size_t i = 0; i < S->n; i++)
        if (S->r[i]->state == R_RUNNING)
            return true;
    return false;
}

/* ---- requests -------------------------------------------------------------- */

static void reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(int fd, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    if (write(fd, buf, (size_t)n) < 0) {
        /* the CLI went away; nothing to tell */
    }
}

static void reply_err(int fd, sv_error_t *err)
{
    reply(fd, "error: %s", *err ? (*err)->msg : "failed");
    report(err);
}

static void handle(struct sup *S, int fd, char *line)
{
    char *argv[8] = {0};
    int argc = 0;
    for (char *save = NULL, *p = strtok_r(line, "\t", &save); p && argc < 8;
         p = strtok_r(NULL, "\t", &save))
        argv[argc++] = p;
    sv_error_t err = NULL;
    if (argc == 0) {
        reply(fd, "error: empty request");
    } else if (strcmp(argv[0], "ping") == 0) {
        reply(fd, "ok");
    } else if (strcmp(argv[0], "up") == 0) {
        struct sv_graph *g = NULL, *before = S->g;
        int rc = sv_stack_load_request(S->stack, SV_GIT_PINNED, &g, &err) < 0
                     ? -1
                     : reconcile(S, g, &err);
        /* reconcile re-points every replica into the new graph first thing,
         * so the previous one is no longer referenced. */
        if (g && before != g)
            sv_graph_free(before);
        if (rc < 0)
            reply_err(fd, &err);
        else
            reply(fd, "ok");
    } else if (strcmp(argv[0], "down") == 0) {
        int64_t grace = argc > 1 ? strtoll(argv[1], NULL, 10) : -1;
        int rc = take_down(S, grace, &err);
        /* Volumes only once nothing of the stack is left to use them. */
        if (rc == 0 && argc > 2 && strcmp(argv[2], "volumes") == 0 &&
            sv_stack_remove_volumes(S->stack, S->g, &err) < 0)
            rc = -1;
        if (rc < 0)
            reply_err(fd, &err);
        else
            reply(fd, "ok");
    } else if (strcmp(argv[0], "scale") == 0 && argc == 3 && S->g) {
        struct sv_service *s = (struct sv_service *)sv_graph_find(S->g, argv[1]);
        if (s == NULL) {
            reply(fd, "error: no service \"%s\" in stack %s", argv[1], S->stack);
            return;
        }
        int before = s->replicas;
        s->replicas = atoi(argv[2]);
        if (check_net_names(S->g, &err) < 0) {
            s->replicas = before; /* refused: nothing changed */
            reply_err(fd, &err);
        } else if (reconcile(S, S->g, &err) < 0)
            reply_err(fd, &err);
        else
            reply(fd, "ok");
    } else if (strcmp(argv[0], "restart") == 0 && argc == 2) {
        bool any = false;
        for (int n = 1;; n++) {
            struct replica *r = find(S, argv[1], n);
            if (r == NULL)
                break;
            any = true;
            stop_replica(S, r, grace_of(r, -1));
            r->restarts++;
            sv_error_t e = NULL;
            if (start_replica(S, r, &e) < 0) {
                /* Stopped, and it cannot start now (a full disk, say): it
                 * is not left down, but retried with the back-off, as a
                 * replica that crashed would be. */
                retry_later(r);
                sv_error(&err, 0,
                         "%s-%d was stopped but cannot start again (the supervisor keeps "
                         "trying): %s",
                         r->service, r->n, e->msg);
                report(&e);
            }
        }
        if (!any)
            reply(fd, "error: no replicas of \"%s\" in stack %s", argv[1], S->stack);
        else if (err)
            reply_err(fd, &err);
        else
            reply(fd, "ok");
    } else {
        reply(fd, "error: unknown request \"%s\"", argv[0]);
    }
}

static void serve_one(struct sup *S)
{
    int fd = accept4(S->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    char line[4096];
    size_t len = 0;
    ssize_t n;
    struct timeval tv = {5, 0}; /* a client that never finishes its line */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (len < sizeof(line) - 1 && (n = read(fd, line + len, sizeof(line) - 1 - len)) > 0) {
        len += (size_t)n;
        if (memchr(line, '\n', len))
            break;
    }
    line[len] = '\0';
    line[strcspn(line, "\n")] = '\0';
    handle(S, fd, line);
    close(fd);
}

/* ---- start-up -------------------------------------------------------------- */

static int setup(struct sup *S, sv_error_t *err)
{
    cleanup_free char *path = sv_stack_socket(S->stack);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return sv_error(err, ENAMETOOLONG, "socket path %s is too long", path);
    strcpy(addr.sun_path, path);
    unlink(path);
    S->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (S->lfd < 0 || bind(S->lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(S->lfd, 16) < 0)
        return sv_error(err, errno, "cannot listen on %s", path);
    chmod(path, 0600);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    S->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    S->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct itimerspec its = {{0, 100 * 1000000}, {0, 100 * 1000000}};
    timerfd_settime(S->tfd, 0, &its, NULL);
    S->ep = epoll_create1(EPOLL_CLOEXEC);
    int fds[] = {S->lfd, S->sfd, S->tfd};
    for (size_t i = 0; i < SV_ARRAY_LEN(fds); i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        epoll_ctl(S->ep, EPOLL_CTL_ADD, fds[i], &ev);
    }
    S->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    return sv_store_open(&S->st, err);
}

static void serve(struct sup *S)
{
    while (!S->exiting) {
        struct epoll_event ev[16];
        int n = epoll_wait(S->ep, ev, 16, -1);
        for (int i = 0; i < n && !S->exiting; i++) {
            if (ev[i].data.fd == S->lfd) {
                /* A request may replace replicas and their descriptors: the
                 * rest of this batch is stale. Level-triggered, it comes back. */
                serve_one(S);
                break;
            } else
                handle_event(S, ev[i].data.fd);
        }
        if (S->proxy)
            sv_proxy_refresh(S->proxy);
    }
    stop_listening(S);
}

int sv_supervisor_spawn(const char *stack, struct sv_graph *g, sv_error_t *err)
{
    if (sv_stack_dir_make(stack, err) < 0)
        return -1;
    cleanup_free char *dir = sv_stack_dir(stack);
    cleanup_free char *lockpath = sv_xasprintf("%s/supervisor.lock", dir);
    int report_pipe[2];
    if (pipe2(report_pipe, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return sv_error(err, errno, "fork");
    if (pid == 0) {
        close(report_pipe[0]);
        setsid();
        if (fork() != 0)
            _exit(0); /* the supervisor is reparented: nobody waits for it */
        /* Keep nothing of the CLI's open files (its stack lock above all). */
        if (report_pipe[1] != 3 && dup3(report_pipe[1], 3, O_CLOEXEC) < 0)
            _exit(1);
        report_pipe[1] = 3;
        syscall(SYS_close_range, 4, ~0U, 0);
        int lock = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0) {
            dprintf(report_pipe[1], "busy");
            _exit(0);
        }
        cleanup_free char *logpath = sv_xasprintf("%s/supervisor.log", dir);
        struct stat lst; /* our own log: one old file kept, as for replicas */
        if (stat(logpath, &lst) == 0 && lst.st_size > SV_LOG_MAX_SIZE) {
            cleanup_free char *old = sv_xasprintf("%s.1", logpath);
            rename(logpath, old);
        }
        int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        dup2(null, 0);
        if (log >= 0) {
            dup2(log, 1);
            dup2(log, 2);
        }
        if (chdir("/") < 0) {
            /* keep the cwd */
        }
        sv_bulkmem_lean = true; /* long-lived: RSS over page-fault speed */
        struct sup S = {.stack = sv_xstrdup(stack), .lfd = -1};
        sv_error_t e = NULL;
        if (setup(&S, &e) < 0) {
            dprintf(report_pipe[1], "error: %s", e->msg);
            _exit(1);
        }
        logf_("supervisor of stack %s (pid %d)", stack, (int)getpid());
        sv_stack_binds_migrate(stack);
        adopt(&S);
        /* An `up` of a stack of which nothing runs is all or nothing: when
         * it fails, what it started goes again, with the network and its
         * ports, and so do we. A half-started stack nobody asked for would
         * hold its ports (the next `up` of another checkout fails with
         * "Address already in use") and restart nothing. A stack that ran
         * before keeps running (see the CLI, which says what runs). */
        bool fresh = g != NULL && !any_running(&S);
        /* Without a graph (a command found the supervisor gone), the last
         * `up` request is evaluated again; failing that, adopt only. */
        if (g == NULL && sv_stack_load_request(stack, SV_GIT_PINNED, &g, &e) < 0) {
            logf_("cannot evaluate the last up request: %s", e->msg);
            sv_error_free(&e);
        }
        if (g && reconcile(&S, g, &e) < 0 && fresh) {
            logf_("up failed: %s; undoing it", e->msg);
            sv_error_t undo = NULL;
            if (take_down(&S, -1, &undo) < 0) {
                dprintf(report_pipe[1], "error: %s (and undoing the up failed: %s)", e->msg,
                        undo->msg);
                report(&undo);
            } else {
                dprintf(report_pipe[1], "undone: %s", e->msg);
                logf_("stack %s is down again", stack);
            }
            report(&e);
            close(report_pipe[1]);
            sv_store_close(S.st);
            _exit(0);
        } else if (e) {
            dprintf(report_pipe[1], "error: %s", e->msg);
            report(&e);
        } else {
            dprintf(report_pipe[1], "ok");
        }
        close(report_pipe[1]);
        serve(&S);
        if (S.exiting && S.n > 0) /* SIGTERM: leave the replicas running */
            logf_("exiting; %zu replicas keep running", S.n);
        sv_store_close(S.st);
        _exit(0);
    }
    close(report_pipe[1]);
    waitpid(pid, NULL, 0);
    char buf[4096];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 &&
           (n = read(report_pipe[0], buf + len, sizeof(buf) - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += (size_t)n;
    }
    close(report_pipe[0]);
    buf[len] = '\0';
    if (strcmp(buf, "ok") == 0)
        return 0;
    if (strcmp(buf, "busy") == 0)
        return sv_error(err, EBUSY, "busy");
    if (strncmp(buf, "undone: ", 8) == 0) {
        sv_error(err, 0, "%s", buf + 8); /* the message is the supervisor's */
        (*err)->status = ECANCELED;
        return -1;
    }
    return sv_error(err, 0, "%s",
                    strncmp(buf, "error: ", 7) == 0 ? buf + 7
                    : len                           ? buf
                                                    : "the supervisor died while starting");
}
