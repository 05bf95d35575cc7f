/* Adoption: a supervisor that starts where an earlier one died (kill -9, a
 * crash, a reboot of servos) takes over the stack's replicas from the
 * store. Those that still run are watched through pidfds, as they are not
 * our children (their exit codes are then unknown); those that died while
 * nobody watched are recorded as exited, for reconcile to start again. */
#include "stack/supervisor_int.h"
#include "stack/rows.h"
#include "core/statedir.h"

#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static enum replica_health health_of(const char *recorded)
{
    return strcmp(recorded, "healthy") == 0     ? HEALTH_HEALTHY
           : strcmp(recorded, "unhealthy") == 0 ? HEALTH_UNHEALTHY
           : recorded[0]                        ? HEALTH_STARTING
                                                : HEALTH_NONE;
}

/* Watch a replica that still runs: its pidfd and its log in our epoll. */
static bool adopt_running(struct supervisor *sup, struct replica *r, const struct sv_ctr_row *row)
{
    r->pidfd = (int)syscall(SYS_pidfd_open, row->pid, 0);
    if (r->pidfd < 0)
        return false;
    r->pid = row->pid;
    r->state = REPLICA_RUNNING;
    r->addr = sv_stacknet_address_of(row->spec_json);
    network_adopt(r, row->spec_json);
    r->started_ms = sv_now_ms() - 1000 * (time(NULL) - row->started);
    sup_watch(sup, r->pidfd);
    /* What it wrote while nobody read waits in its FIFO. One started by an
     * older version writes to its file itself, which nothing can cap until
     * it is next started. */
    cleanup_free char *log = sv_statedir_replica_log(sup->stack, r->service, r->n);
    cleanup_free char *fifo = sv_xasprintf("%s.fifo", log);
    if (access(fifo, F_OK) < 0)
        sup_log("%s was started by an older servos: its log is not capped until it restarts "
                "(servos restart %s)",
                row->name, r->service);
    sv_error_t e = NULL;
    if (replica_hold_log(sup, r, &e) < 0)
        sup_report(&e);
    sup_log("adopted %s (pid %d)", row->name, (int)row->pid);
    return true;
}

static void adopt_row(struct supervisor *sup, const struct sv_ctr_row *row)
{
    struct replica *r = replica_add(sup, row->service, row->replica);
    memcpy(r->id, row->id, sizeof(r->id));
    snprintf(r->hash, sizeof(r->hash), "%s", row->hash);
    r->restarts = row->restarts;
    r->exit_code = row->exit_code;
    r->health = health_of(row->health);
    sv_error_t e = NULL;
    sv_cgroup_init(&r->cg, r->id, &e);
    sup_report(&e);
    if (sv_ctr_row_running(row) && adopt_running(sup, r, row))
        return;
    r->state = REPLICA_EXITED;
    if (row->status == SV_CTR_RUNNING) { /* died while nobody watched */
        sv_store_set_exited(sup->st, r->id, 255, false, &e);
        sup_report(&e);
        r->exit_code = -1;
    }
}

void adopt(struct supervisor *sup)
{
    cleanup_rows struct sv_rows rows = {0};
    sv_error_t e = NULL;
    if (sv_rows_list(sup->st, sup->stack, &rows, &e) < 0) {
        sup_report(&e);
        return;
    }
    for (size_t i = 0; i < rows.n; i++)
        if (rows.v[i].service && !replica_find(sup, rows.v[i].service, rows.v[i].replica))
            adopt_row(sup, &rows.v[i]);
    /* Replicas on the stack network: find it again, and their names. */
    bool on_net = false;
    for (size_t i = 0; i < sup->n_replicas; i++)
        on_net |= sup->replicas[i]->addr != 0;
    if (on_net && (network_ensure(sup, &e) < 0 || network_write_hosts(sup, &e) < 0))
        sup_report(&e);
}
