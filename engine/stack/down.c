#include "stack/down.h"
#include "stack/client.h"
#include "stack/lastup.h"
#include "stack/rows.h"
#include "stack/volumes.h"
#include "core/events.h"
#include "core/fs.h"
#include "core/statedir.h"
#include "git/gitrepo.h"
#include "log/logfile.h"
#include "net/stacknet.h"
#include "runtime/container.h"

#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static void sleep_20ms(void)
{
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
}

/* Without a supervisor: stop and remove the replicas ourselves. */
static int down_directly(const char *stack, int64_t grace_ms, sv_error_t *err)
{
    cleanup_store struct sv_store *st = NULL;
    cleanup_rows struct sv_rows rows = {0};
    if (sv_store_open(&st, err) < 0 || sv_rows_list(st, stack, &rows, err) < 0)
        return -1;
    sv_rows_signal(&rows, SIGTERM);
    int64_t waited = 0;
    for (size_t i = 0; i < rows.n; i++) {
        const struct sv_ctr_row *row = &rows.v[i];
        while (sv_pid_alive(row->pid, row->pid_start) && waited < grace_ms) {
            sleep_20ms();
            waited += 20;
        }
        if (sv_pid_alive(row->pid, row->pid_start))
            kill(row->pid, SIGKILL);
    }
    int rc = 0;
    for (size_t i = 0; i < rows.n; i++) {
        const struct sv_ctr_row *row = &rows.v[i];
        for (int t = 0; t < 250 && sv_pid_alive(row->pid, row->pid_start); t++)
            sleep_20ms();
        if (sv_container_remove(st, row->id, err) < 0)
            rc = -1;
        cleanup_free char *log = sv_statedir_replica_log(stack, row->service, row->replica);
        sv_log_remove(log);
    }
    if (rc == 0)
        rc = sv_stacknet_destroy(stack, err);
    return rc;
}

/* A supervisor that lives but does not listen is starting (it will), or
 * going down already (an earlier down, interrupted): let it finish, then
 * remove what is left. -1: none listens. */
static int connect_or_wait(const char *stack)
{
    int fd;
    for (int t = 0;
         (fd = sv_client_connect(stack)) < 0 && sv_client_supervisor_alive(stack) && t < 12000;
         t++) {
        if (t == 20)
            fprintf(stderr, "servos: stack %s: waiting for its previous supervisor to finish\n",
                    stack);
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    return fd;
}

int sv_down_stack(const char *stack, long grace_s, bool volumes, sv_error_t *err)
{
    char req[64];
    snprintf(req, sizeof(req), "down\t%ld\t%s", grace_s < 0 ? -1 : grace_s * 1000,
             volumes ? "volumes" : "keep");
    int rc;
    int fd = connect_or_wait(stack);
    if (fd >= 0) {
        rc = sv_client_send(fd, req, stdout, err);
        close(fd); /* now: what follows waits for the supervisor to exit */
    } else {
        rc = down_directly(stack, grace_s < 0 ? 10000 : grace_s * 1000, err);
        if (rc == 0 && volumes)
            rc = sv_volumes_remove(stack, NULL, err);
    }
    /* The supervisor leaves once the stack is down: its directory goes
     * after it. */
    if (rc == 0 && !sv_client_wait_gone(stack, 10000))
        rc = sv_error(err, 0, "stack %s is down, but its supervisor has not exited yet", stack);
    if (rc == 0) { /* nothing of the stack is left but its named volumes */
        sv_down_forget(stack);
        sv_events_add(NULL, "stack.down", stack, volumes ? "volumes removed" : NULL, NULL);
        sv_gitrepo_prune(SV_LASTUP_GIT_IDLE);
    }
    return rc;
}

void sv_down_forget(const char *stack)
{
    cleanup_free char *dir = sv_statedir_stack(stack);
    sv_rmtree(dir, NULL);
    sv_statedir_binds_remove(stack, NULL);
}
