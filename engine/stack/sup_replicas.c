/* A replica's life in the supervisor: added, started (in two halves, so a
 * wave's setups overlap), exited and restarted by policy with back-off,
 * stopped, removed; and its output, held in our epoll and copied to its
 * capped log files. */
#include "stack/supervisor_int.h"
#include "stack/rows.h"
#include "stack/spec.h"
#include "core/statedir.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct replica *replica_find(struct supervisor *sup, const char *service, int n)
{
    for (size_t i = 0; i < sup->n_replicas; i++)
        if (sup->replicas[i]->n == n && strcmp(sup->replicas[i]->service, service) == 0)
            return sup->replicas[i];
    return NULL;
}

struct replica *replica_add(struct supervisor *sup, const char *service, int n)
{
    struct replica *r = sv_xcalloc(1, sizeof(*r));
    r->service = sv_xstrdup(service);
    r->n = n;
    r->pidfd = -1;
    r->state = REPLICA_EXITED;
    sup->replicas = sv_xrealloc(sup->replicas, (sup->n_replicas + 1) * sizeof(*sup->replicas));
    sup->replicas[sup->n_replicas++] = r;
    return r;
}

void replica_drop(struct supervisor *sup, struct replica *r)
{
    for (size_t i = 0; i < sup->n_replicas; i++)
        if (sup->replicas[i] == r) {
            memmove(&sup->replicas[i], &sup->replicas[i + 1],
                    (sup->n_replicas - i - 1) * sizeof(*sup->replicas));
            sup->n_replicas--;
            break;
        }
    if (r->pidfd >= 0) {
        sup_unwatch(sup, r->pidfd);
        close(r->pidfd);
    }
    if (r->log) {
        sup_unwatch(sup, sv_log_fd(r->log));
        sv_log_close(r->log);
    }
    if (r->addr)
        sup->hosts_dirty = true;
    network_forget(r);
    sv_cgroup_clear(&r->cg);
    free(r->service);
    free(r);
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

/* Kept across restarts, so one incarnation's output follows the last's. */
int replica_hold_log(struct supervisor *sup, struct replica *r, sv_error_t *err)
{
    struct sv_log_opts o;
    log_opts_of(r->svc, &o);
    if (r->log) {
        sv_log_set_opts(r->log, &o);
        return 0;
    }
    cleanup_free char *path = sv_statedir_replica_log(sup->stack, r->service, r->n);
    if (sv_log_open(path, &o, true, &r->log, err) < 0)
        return -1;
    sup_watch(sup, sv_log_fd(r->log));
    return 0;
}

/* Output that cannot be written (a full disk) is dropped rather than left
 * to block the replica; our log says so once. */
void replica_pump_log(struct replica *r)
{
    sv_error_t e = NULL;
    if (r->log == NULL)
        return;
    if (sv_log_pump(r->log, &e) == 0) {
        r->log_failing = false;
        return;
    }
    if (!r->log_failing)
        sup_log("%s-%d: output lost: %s", r->service, r->n, e->msg);
    r->log_failing = true;
    sv_error_free(&e);
}

void replica_stamp_logs(struct supervisor *sup)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wall = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    for (size_t i = 0; i < sup->n_replicas; i++)
        if (sup->replicas[i]->log)
            sv_log_stamp(sup->replicas[i]->log, wall);
}

/* ---- starting -------------------------------------------------------------- */

/* The replica's container name, STACK-SERVICE-N, is one namespace with
 * every other container's: "na-b" + "c" and "na" + "b-c" meet, and so do a
 * replica and `servos run --name nx-web-1`. The name is ours only when the
 * container under it is this very replica (an earlier incarnation, which
 * goes); anything else is refused, never removed. */
static int claim_name(struct supervisor *sup, struct replica *r, const char *name, sv_error_t *err)
{
    cleanup_row struct sv_ctr_row old = {0};
    bool found = false;
    if (sv_store_find_name(sup->st, name, &old, &found, err) < 0)
        return -1;
    if (!found)
        return 0;
    const char *fix = r->svc && r->svc->container_name ? "change its container_name"
                                                       : "rename the service or the stack";
    if (old.stack == NULL)
        return sv_error(err, 0,
                        "replica %d would be container \"%s\", but a container of `servos run` "
                        "(%.12s) has that name: %s, or remove that container",
                        r->n, name, old.id, fix);
    if (strcmp(old.stack, sup->stack) != 0 || old.service == NULL ||
        strcmp(old.service, r->service) != 0 || old.replica != r->n)
        return sv_error(err, 0,
                        "replica %d would be container \"%s\", but that is replica %d of service "
                        "\"%s\" in stack \"%s\": %s",
                        r->n, name, old.replica, old.service ? old.service : "?", old.stack, fix);
    return sv_container_remove(sup->st, old.id, err);
}

int replica_start_begin(struct supervisor *sup, struct replica *r, struct sv_container **out,
                        sv_error_t *err)
{
    /* container_name: the replica's name and hostname (one replica). */
    const char *given = r->svc->container_name;
    cleanup_free char *name =
        given ? sv_xstrdup(given) : sv_statedir_replica_name(sup->stack, r->service, r->n);
    if (claim_name(sup, r, name, err) < 0)
        return -1;
    cleanup_spec struct sv_run_spec spec = {0};
    if (sv_spec_make(sup->g, r->svc, r->n, &spec, err) < 0)
        return -1;
    cleanup_free char *host = sv_xasprintf("%s-%d", r->service, r->n);
    spec.name = name;
    spec.hostname = r->svc->hostname ? r->svc->hostname : given ? given : host;
    sv_spec_hash_hex(r->svc, r->hash);
    spec.hash = r->hash;
    if (spec.network == SV_NET_STACK && network_join(sup, r, &spec.net, err) < 0)
        return -1;
    struct sv_container *c = NULL;
    if (sv_container_create(sup->st, &spec, &c, err) < 0)
        return -1;
    /* Our copy of the log's write end goes when we return: the replica
     * holds its own from the spawn on. */
    cleanup_close int output = replica_hold_log(sup, r, err) < 0 ? -1 : sv_log_writer(r->log, err);
    int fds[3] = {sup->null_fd, output, output};
    if (output < 0 || sv_container_spawn(c, fds, err) < 0) {
        sv_container_remove(sup->st, c->id, NULL);
        sv_container_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

int replica_start_finish(struct supervisor *sup, struct replica *r, struct sv_container *c,
                         sv_error_t *err)
{
    int exec_status = 0;
    if (sv_container_spawned(sup->st, c, &exec_status, err) < 0) {
        sv_container_remove(sup->st, c->id, NULL);
        sv_container_free(c);
        return -1;
    }
    memcpy(r->id, c->id, sizeof(r->id));
    r->pid = c->pid;
    r->image_stop_signal = c->stop_signal;
    r->state = REPLICA_RUNNING;
    r->stopping = false;
    r->exit_code = 0;
    r->started_ms = sv_now_ms();
    r->cg = c->cg;
    memset(&c->cg, 0, sizeof(c->cg));
    sv_container_free(c);
    const struct sv_health *h = r->svc->health;
    r->health = h ? HEALTH_STARTING : HEALTH_NONE;
    r->health_fails = 0;
    r->next_check_ms = r->started_ms + (h ? (h->interval_ms < 100 ? 100 : h->interval_ms) : 0);
    if (h) {
        sv_error_t e = NULL;
        sv_store_set_health(sup->st, r->id, "starting", &e);
        sup_report(&e);
    }
    sup_log("started %s-%s-%d (pid %d)", sup->stack, r->service, r->n, (int)r->pid);
    return 0;
}

int replica_start(struct supervisor *sup, struct replica *r, sv_error_t *err)
{
    struct sv_container *c;
    if (replica_start_begin(sup, r, &c, err) < 0)
        return -1;
    return replica_start_finish(sup, r, c, err);
}

/* ---- exits and back-off ------------------------------------------------------ */

/* 100 ms doubling to 10 s. */
static int64_t backoff_ms(int restarts)
{
    int64_t delay = 100LL << (restarts < 7 ? restarts : 7);
    return delay > 10000 ? 10000 : delay;
}

void replica_exited(struct supervisor *sup, struct replica *r, int code)
{
    replica_pump_log(r); /* its last words, before anyone asks */
    bool oom = sv_cgroup_oom_killed(&r->cg);
    sv_error_t e = NULL;
    sv_cgroup_destroy(&r->cg, &e);
    sup_report(&e);
    r->state = REPLICA_EXITED;
    r->exit_code = code;
    r->pid = 0;
    network_leave(sup, r);
    if (r->pidfd >= 0) {
        sup_unwatch(sup, r->pidfd);
        close(r->pidfd);
        r->pidfd = -1;
    }
    sv_store_set_exited(sup->st, r->id, code < 0 ? 255 : code, oom, &e);
    sup_report(&e);
    sup_log("%s-%d exited (%d%s)", r->service, r->n, code, oom ? ", OOM killed" : "");
    if (r->stopping || sup->exiting || r->svc == NULL)
        return;
    enum sv_restart_policy p = r->svc->restart;
    bool again = p == SV_RESTART_ALWAYS || p == SV_RESTART_UNLESS_STOPPED ||
                 (p == SV_RESTART_ON_FAILURE && code != 0 &&
                  (r->svc->restart_max <= 0 || r->restarts < r->svc->restart_max));
    if (!again)
        return;
    /* A replica that ran 10 s starts over at the shortest back-off. */
    int64_t ran = sv_now_ms() - r->started_ms;
    r->state = REPLICA_BACKOFF;
    r->next_start_ms = sv_now_ms() + backoff_ms(ran > 10000 ? 0 : r->restarts);
}

void replica_retry_later(struct replica *r)
{
    r->state = REPLICA_BACKOFF;
    r->next_start_ms = sv_now_ms() + backoff_ms(r->restarts);
}

void replica_tick(struct supervisor *sup, struct replica *r, int64_t now)
{
    if (r->state != REPLICA_BACKOFF || now < r->next_start_ms || sup->exiting)
        return;
    sv_error_t e = NULL;
    r->restarts++;
    if (replica_start(sup, r, &e) < 0) {
        sup_log("%s-%d cannot start (retrying): %s", r->service, r->n, e->msg);
        sv_error_free(&e);
        replica_retry_later(r);
    } else {
        sv_store_set_restarts(sup->st, r->id, r->restarts, &e);
        sup_report(&e);
    }
}

/* ---- stopping ---------------------------------------------------------------- */

static int stop_signal_of(const struct replica *r)
{
    return r->svc && r->svc->stop_signal ? r->svc->stop_signal
           : r->image_stop_signal        ? r->image_stop_signal
                                         : SIGTERM;
}

static bool any_running(struct replica *const *rs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rs[i]->state == REPLICA_RUNNING)
            return true;
    return false;
}

/* Stop n replicas at once: each gets its stop signal now and SIGKILL when
 * its own grace period ends, so stopping ten takes the longest grace, not
 * the sum of them (one after the other, ten replicas that ignore SIGTERM
 * took ten grace periods). Exits are seen by the pump as they come. */
void replicas_stop(struct supervisor *sup, struct replica *const *rs, size_t n,
                   int64_t grace_override)
{
    cleanup_free int64_t *kill_at = sv_xcalloc(n ? n : 1, sizeof(*kill_at));
    int64_t start = sv_now_ms();
    for (size_t i = 0; i < n; i++) {
        struct replica *r = rs[i];
        if (r->state != REPLICA_RUNNING || r->pid <= 0) {
            r->state = REPLICA_EXITED;
            continue;
        }
        r->stopping = true;
        kill(r->pid, stop_signal_of(r));
        kill_at[i] = start + replica_grace(r, grace_override);
    }
    int64_t give_up = 0; /* after the last SIGKILL: 5 s for the kernel to end them */
    while (any_running(rs, n)) {
        int64_t now = sv_now_ms(), next = INT64_MAX;
        for (size_t i = 0; i < n; i++) {
            if (rs[i]->state != REPLICA_RUNNING || kill_at[i] == 0)
                continue;
            if (now >= kill_at[i]) {
                kill(rs[i]->pid, SIGKILL);
                kill_at[i] = 0;
                give_up = now + 5000;
            } else if (kill_at[i] < next) {
                next = kill_at[i];
            }
        }
        if (give_up && now >= give_up)
            break;
        int64_t wait = next == INT64_MAX ? 20 : next - now;
        sup_pump(sup, (int)(wait < 1 ? 1 : wait > 20 ? 20 : wait));
    }
}

void replica_stop(struct supervisor *sup, struct replica *r, int64_t grace_ms)
{
    replicas_stop(sup, &r, 1, grace_ms);
}

int64_t replica_grace(const struct replica *r, int64_t override_ms)
{
    if (override_ms >= 0)
        return override_ms;
    return r->svc && r->svc->stop_grace_ms >= 0 ? r->svc->stop_grace_ms : 10000;
}

int replica_remove(struct supervisor *sup, struct replica *r, int64_t grace_override,
                   sv_error_t *err)
{
    replica_stop(sup, r, replica_grace(r, grace_override));
    sv_error_t e = NULL;
    int rc = 0;
    if (r->id[0] && sv_container_remove(sup->st, r->id, &e) < 0) {
        rc = sv_error(err, 0, "%s-%d: %s", r->service, r->n, e->msg);
        sup_report(&e);
    }
    cleanup_free char *log = sv_statedir_replica_log(sup->stack, r->service, r->n);
    sv_log_remove(log);
    if (rc == 0)
        sup_log("removed %s-%d", r->service, r->n);
    replica_drop(sup, r);
    return rc;
}
