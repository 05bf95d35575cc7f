/* The supervisor's end of the handler gateway (pgateway.h is its face), in
 * parts: pgateway.c listens, reads each connection's request and reports
 * how its run ended; what the graph says about a service's runs is in
 * pgateway_spec.c; a run is started one of two ways, as a process in the
 * service's namespaces (pgateway_proc.c) or as a servos container of its
 * own (pgateway_ctr.c), and watched to its end by pgateway_watch.c. */
#ifndef SV_PGATEWAY_INT_H
#define SV_PGATEWAY_INT_H

#include "proserve/pgateway.h"
#include "runtime/cgroup.h"

#include <sys/types.h>
#include <unistd.h>

/* ---- pgateway_spec.c: the service's isolation block, as the graph has it ---- */

/* The limits of one run. */
struct gw_limits {
    int64_t memory; /* bytes, -1: none */
    int64_t pids;
    double deadline; /* seconds the run may take, whatever the service host says */
    bool no_network, private_fs;
};

/* The manifest's isolation block, and a member of an object (NULL when
 * absent). */
const struct sv_value *gw_spec_isolation(const struct sv_service *s);
const struct sv_value *gw_spec_member(const struct sv_value *o, const char *key);
/* isolation.mode ("none" when absent; "process" for a board mode fallen
 * back: sv_gateway_board_mode). */
const char *gw_spec_mode(const struct sv_service *s);
/* Does it run handlers on a board's runtime (micropython, arduino)? */
bool gw_spec_board_mode(const struct sv_service *s);
/* Does the mode ask for a servos container per run (container, docker,
 * sandbox)? */
bool gw_spec_container_mode(const struct sv_service *s);
void gw_spec_limits(const struct sv_service *s, struct gw_limits *l);
/* Does the manifest have WebSockets (whose handlers run while their
 * connection lasts)? */
bool gw_spec_has_websockets(const struct sv_service *s);
/* isolation.image, or NULL. */
const char *gw_spec_image(const struct sv_service *s);
/* The manifest's base_dir, or NULL. */
const char *gw_spec_base_dir(const struct sv_service *s);
/* isolation.cpu_limit (or resources.cpu, resources.cpus) as servos run's
 * --cpus takes it, into buf; false when there is none. */
bool gw_spec_cpus(const struct sv_service *s, char *buf, size_t size);

/* ---- one connection's run ------------------------------------------------------------ */

struct gw_run {
    int conn;                            /* the service host's connection */
    pid_t peer;                          /* the service host, as we see it */
    const char *stack;                   /* the stack's name */
    const struct sv_service *s;          /* the service, from the stack's graph */
    const struct sv_gateway_request *rq; /* what it asked for */
    int stdio[3];                        /* the handler's ends, -1 once handed over */
    bool kill_now;                       /* a kill came with the request */
    bool oom;                            /* out: the memory limit ended the run */
};

/* The stdio the service host passed, closed (each set to -1): once the
 * handler holds them, only its end may be their EOF. */
static inline void gw_close_stdio(int fds[3])
{
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]), fds[i] = -1;
}

/* pgateway_proc.c: a process in the service container's namespaces, in a
 * cgroup and under a uid of its own. Returns its wait status, or -1. */
int gw_proc_run(struct gw_run *run, sv_error_t *err);
/* pgateway_ctr.c: `servos run --rm` of the handler. Returns its wait
 * status, or -1. */
int gw_ctr_run(struct gw_run *run, sv_error_t *err);

/* pgateway_watch.c: wait for pid while watching the connection (a "kill"
 * or a hang-up ends the run), the deadline and, when cg is given (it has a
 * memory limit), its memory: an OOM kill ends the run whole (v1 kills one
 * process, the rest would run on). stop(stop_arg) ends the run. Returns its
 * wait status; sets run->oom. */
int gw_watch(struct gw_run *run, pid_t pid, const struct sv_cgroup *cg, double deadline,
             void (*stop)(void *), void *stop_arg);

#endif
