/* The supervisor's parts (supervisor.h is its face). One detached process
 * per stack owns its replicas: it reconciles the graph (create what is
 * missing, recreate what changed, remove what is gone, in dependency
 * order), restarts replicas by policy with back-off, runs health checks
 * inside them, copies their output into capped, rotated logs (logfile.h),
 * and answers the CLI on a unix socket. Replicas are its direct children,
 * so their exit codes are exact; after a crash, a new supervisor re-adopts
 * the replicas that still run through pidfds (their exit codes are then
 * unknown). Single-threaded: one epoll loop, so none of this locks.
 *
 *   supervisor.c     start-up, the event loop, and what every part uses
 *   sup_replicas.c   a replica's life: start, exit, back-off, stop, its log
 *   sup_health.c     health checks run inside replicas
 *   sup_network.c    the stack network: addresses, /etc/hosts, ports
 *   sup_reconcile.c  the graph made real in dependency waves, and down
 *   sup_adopt.c      replicas of an earlier supervisor taken over
 *   sup_control.c    the control socket and its requests
 */
#ifndef SV_STACK_SUPERVISOR_INT_H
#define SV_STACK_SUPERVISOR_INT_H

#include "graph/graph.h"
#include "log/logfile.h"
#include "net/proxy.h"
#include "net/stacknet.h"
#include "runtime/cgroup.h"
#include "runtime/container.h"
#include "core/store.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum replica_state { REPLICA_RUNNING, REPLICA_EXITED, REPLICA_BACKOFF };
enum replica_health { HEALTH_NONE, HEALTH_STARTING, HEALTH_HEALTHY, HEALTH_UNHEALTHY };

struct replica {
    int image_stop_signal;        /* the image's StopSignal, 0: none */
    const struct sv_service *svc; /* in the graph it was last reconciled with */
    char *service;
    int n;
    char id[65];
    char hash[17];
    pid_t pid;
    int pidfd; /* adopted replicas only: not our children */
    enum replica_state state;
    int exit_code; /* -1: unknown (adopted) */
    int restarts;
    int64_t started_ms, next_start_ms;
    enum replica_health health;
    int health_fails;
    int64_t next_check_ms, check_deadline_ms;
    struct sv_log *log; /* its output, while we hold it */
    bool log_failing;   /* said so in our log already */
    pid_t check_pid;
    struct sv_cgroup cg;
    bool stopping;
    uint32_t addr; /* on the stack network; 0 when not on it or not running */
    /* A stack with networks of its own: the network of addr (eth0), NULL
     * for the default one, and the replica's other networks (eth1...). */
    char *net0;
    struct replica_link *more;
    size_t n_more;
    char *hosts_file; /* its /etc/hosts when not the stack's shared one */
};

struct replica_link {
    char *net;
    uint32_t addr;
};

/* A ProServe service whose handlers get containers: its gateway socket. */
struct gateway {
    char *service;
    int fd;
};

struct supervisor {
    char *stack;
    struct sv_graph *g;
    struct sv_store *st;
    struct replica **replicas;
    size_t n_replicas;
    int listen_fd; /* the control socket; -1 once down has begun */
    int signal_fd, timer_fd, epoll_fd;
    int null_fd; /* the replicas' stdin */
    bool exiting;
    struct sv_stacknet *net; /* opened when a service first needs it */
    struct sv_proxy *proxy;
    bool hosts_dirty;
    struct gateway *gateways;
    size_t n_gateways;
};

/* supervisor.c: our log (stderr is the stack's supervisor.log). */
void sup_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Log *err, if set, and free it: for errors nobody waits for. */
void sup_report(sv_error_t *err);
/* Handle events for up to ms milliseconds (0: what is ready); requests on
 * the control socket wait for the main loop. */
void sup_pump(struct supervisor *sup, int ms);
/* fd in our epoll set for EPOLLIN (or out of it). */
void sup_watch(struct supervisor *sup, int fd);
void sup_unwatch(struct supervisor *sup, int fd);

/* sup_replicas.c */
struct replica *replica_find(struct supervisor *sup, const char *service, int n);
struct replica *replica_add(struct supervisor *sup, const char *service, int n);
/* Forget r (its pidfd, log and cgroup handle go; the container stays). */
void replica_drop(struct supervisor *sup, struct replica *r);
/* Starting is split in two (see sv_container_spawn): begin clones the
 * replica into its namespaces; finish waits for its exec. Replicas of one
 * wave begin together, so their setups overlap on the cores. */
int replica_start_begin(struct supervisor *sup, struct replica *r, struct sv_container **out,
                        sv_error_t *err);
int replica_start_finish(struct supervisor *sup, struct replica *r, struct sv_container *c,
                         sv_error_t *err);
int replica_start(struct supervisor *sup, struct replica *r, sv_error_t *err);
/* An init process ended (code -1: unknown): record it, then let the
 * restart policy decide. */
void replica_exited(struct supervisor *sup, struct replica *r, int code);
/* A start failed: try again after the back-off. */
void replica_retry_later(struct replica *r);
/* A replica in back-off whose time has come starts again. */
void replica_tick(struct supervisor *sup, struct replica *r, int64_t now);
/* The grace before SIGKILL: override_ms unless < 0, else the service's. */
int64_t replica_grace(const struct replica *r, int64_t override_ms);
void replica_stop(struct supervisor *sup, struct replica *r, int64_t grace_ms);
/* Stop rs[0..n) together, each within its own grace (or grace_override
 * when >= 0), without removing them. */
void replicas_stop(struct supervisor *sup, struct replica *const *rs, size_t n,
                   int64_t grace_override);
/* Stop, remove and drop a replica. When its container cannot be removed
 * (a full disk, say), err says why and its row stays for a later down. */
int replica_remove(struct supervisor *sup, struct replica *r, int64_t grace_override,
                   sv_error_t *err);
/* Hold the replica's log (its FIFO in our epoll) with its service's
 * options, or take the service's new options. */
int replica_hold_log(struct supervisor *sup, struct replica *r, sv_error_t *err);
/* Copy what the replica wrote to its log files. */
void replica_pump_log(struct replica *r);
/* Arrival times, every tick, for `servos logs -t`. */
void replica_stamp_logs(struct supervisor *sup);

/* sup_health.c */
/* Start the replica's check when it is due; kill one that timed out. */
void health_tick(struct supervisor *sup, struct replica *r, int64_t now);
/* The check of r ended with code: healthy, or one more failure. */
void health_result(struct supervisor *sup, struct replica *r, int code);

/* sup_network.c */
int network_ensure(struct supervisor *sup, sv_error_t *err);
/* r on the stack network at a new address: att says how to attach it. */
int network_join(struct supervisor *sup, struct replica *r, struct sv_net_attach *att,
                 sv_error_t *err);
/* A replica left the network: its name goes (now, or at the next tick). */
void network_leave(struct supervisor *sup, struct replica *r);
/* An adopted replica's networks, from its recorded spec. */
void network_adopt(struct replica *r, const char *spec_json);
/* What network_join and network_adopt gave r (at drop). */
void network_forget(struct replica *r);
/* Every replica's names, into the hosts file the replicas share. */
int network_write_hosts(struct supervisor *sup, sv_error_t *err);
/* network_write_hosts when a replica came or went; errors only logged. */
void network_refresh_hosts(struct supervisor *sup);
/* Refuse a graph in which two services answer to one name. */
/* Publish the graph's ports; `servos ps` reads them from <stack>/ports. */
int network_sync_ports(struct supervisor *sup, const struct sv_graph *g, sv_error_t *err);
/* Take the stack network down with the stack. */
int network_down(struct supervisor *sup, sv_error_t *err);

/* sup_reconcile.c */
int reconcile(struct supervisor *sup, struct sv_graph *g, sv_error_t *err);
/* Stop and remove every replica, the leftovers and the network, and stop
 * listening: what `down` does before volumes, and what a first `up` that
 * failed undoes. The supervisor exits afterwards. */
int reconcile_take_down(struct supervisor *sup, int64_t grace_override, sv_error_t *err);
bool reconcile_any_running(const struct supervisor *sup);

/* sup_adopt.c */
/* Take over the stack's replicas that an earlier supervisor started. */
void adopt(struct supervisor *sup);

/* sup_control.c */
int control_listen(struct supervisor *sup, sv_error_t *err);
/* Answer one client on the control socket. */
void control_accept(struct supervisor *sup);
void control_stop_listening(struct supervisor *sup);

#endif
