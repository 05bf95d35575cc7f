/* Health checks: the service's test run inside a replica as `servos exec`
 * would, every interval; its exit status decides healthy or, after enough
 * failures past the start period, unhealthy. The store records the state
 * for `servos ps` and for a supervisor that adopts the replica. */
#include "stack/supervisor_int.h"
#include "stack/rows.h"

#include <signal.h>
#include <unistd.h>

static const char *const health_names[] = {"", "starting", "healthy", "unhealthy"};

/* A child of ours that joins the container and exits with the check's
 * status; the SIGCHLD loop hands that to health_result. */
static void health_check(struct supervisor *sup, struct replica *r)
{
    const struct sv_health *h = r->svc->health;
    cleanup_row struct sv_ctr_row row = {0};
    sv_error_t e = NULL;
    if (sv_store_find(sup->st, r->id, &row, &e) < 0) {
        sup_report(&e);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        dup2(sup->null_fd, 0);
        dup2(sup->null_fd, 1);
        dup2(sup->null_fd, 2);
        int code = 1;
        if (sv_exec_run(&row, (char **)h->test, &code, &e) < 0)
            code = code ? code : 1;
        _exit(code);
    }
    if (pid > 0) {
        r->check_pid = pid;
        r->check_deadline_ms = sv_now_ms() + (h->timeout_ms > 0 ? h->timeout_ms : 30000);
    }
    r->next_check_ms = sv_now_ms() + (h->interval_ms > 0 ? h->interval_ms : 30000);
}

void health_tick(struct supervisor *sup, struct replica *r, int64_t now)
{
    if (r->check_pid > 0 && now > r->check_deadline_ms)
        kill(r->check_pid, SIGKILL); /* a timed-out check counts as failed */
    if (r->state == REPLICA_RUNNING && r->svc && r->svc->health && r->check_pid == 0 &&
        now >= r->next_check_ms)
        health_check(sup, r);
}

void health_result(struct supervisor *sup, struct replica *r, int code)
{
    r->check_pid = 0;
    enum replica_health before = r->health;
    if (code == 0) {
        r->health = HEALTH_HEALTHY;
        r->health_fails = 0;
    } else if (++r->health_fails >= (r->svc->health->retries > 0 ? r->svc->health->retries : 3) &&
               sv_now_ms() - r->started_ms >= r->svc->health->start_period_ms) {
        r->health = HEALTH_UNHEALTHY;
    }
    if (r->health != before) {
        sv_error_t e = NULL;
        sv_store_set_health(sup->st, r->id, health_names[r->health], &e);
        sup_report(&e);
    }
}
