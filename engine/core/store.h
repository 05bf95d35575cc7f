/* The state store: which containers exist, what they were asked to run,
 * and how they ended. One sqlite3 database in WAL mode under the state root
 * (/var/lib/servos, or SERVOS_ROOT, or --root), shared by the single-
 * container CLI and the stack engine. The kernel stays the source of truth
 * for what runs: a row says "running" only together with a pid and that
 * pid's start time, which readers check against /proc. */
#ifndef SV_STORE_H
#define SV_STORE_H

#include "core/util.h"

#include <sys/types.h>

struct sv_store;

enum sv_ctr_status { SV_CTR_CREATED, SV_CTR_RUNNING, SV_CTR_EXITED };

struct sv_ctr_row {
    char id[65];
    char *name, *image, *command, *spec_json;
    int64_t created;  /* unix seconds */
    int64_t finished; /* unix seconds, 0 while running */
    enum sv_ctr_status status;
    pid_t pid;          /* container init, as the host sees it */
    uint64_t pid_start; /* its start time (clock ticks since boot) */
    pid_t monitor;      /* the process that waits for it */
    int exit_code;      /* valid when exited; 128+N for signal N */
    bool oom;           /* killed by the memory limit */
    /* Set for the replicas of a stack (NULL / 0 for `servos run`). */
    char *stack, *service;
    int replica;
    char *hash;      /* the service spec's hash when it was created */
    char *health;    /* "", "starting", "healthy", "unhealthy" */
    int restarts;    /* how often the supervisor restarted this replica */
    int64_t started; /* unix seconds of the last start */
};

/* The state root: --root, else $SERVOS_ROOT, else /var/lib/servos. */
const char *sv_state_root(void);
void sv_set_state_root(const char *root);

int sv_store_open(struct sv_store **out, sv_error_t *err);
/* A burst of writes (a stack's replicas coming up): defer the log's
 * checkpoints, each two fsyncs, to the end of it (sv_store_burst_end,
 * which runs one then), so the replicas do not wait for them one by one.
 * Best effort: the store stays consistent whatever happens between. */
void sv_store_burst_begin(struct sv_store *s);
void sv_store_burst_end(struct sv_store *s);
void sv_store_close(struct sv_store *s);
#define cleanup_store __attribute__((cleanup(sv_store_closep)))
void sv_store_closep(struct sv_store **s);

int sv_store_insert(struct sv_store *s, const struct sv_ctr_row *r, sv_error_t *err);
int sv_store_set_running(struct sv_store *s, const char *id, pid_t pid, uint64_t start,
                         pid_t monitor, sv_error_t *err);
int sv_store_set_exited(struct sv_store *s, const char *id, int exit_code, bool oom,
                        sv_error_t *err);
int sv_store_delete(struct sv_store *s, const char *id, sv_error_t *err);

/* Find by full id, unique id prefix, or name. 0 found, -1 error (none,
 * ambiguous). */
int sv_store_find(struct sv_store *s, const char *ref, struct sv_ctr_row *out, sv_error_t *err);
/* The container called exactly name (no id prefixes): *found says whether
 * there is one; out is filled when there is. */
int sv_store_find_name(struct sv_store *s, const char *name, struct sv_ctr_row *out, bool *found,
                       sv_error_t *err);
/* Is the name taken? */
int sv_store_name_taken(struct sv_store *s, const char *name, bool *taken, sv_error_t *err);
/* Every row, oldest first; free with sv_ctr_rows_free. stack NULL: all
 * containers; else the replicas of that stack. */
int sv_store_list(struct sv_store *s, struct sv_ctr_row **rows, size_t *n, sv_error_t *err);
int sv_store_list_stack(struct sv_store *s, const char *stack, struct sv_ctr_row **rows, size_t *n,
                        sv_error_t *err);
int sv_store_set_health(struct sv_store *s, const char *id, const char *health, sv_error_t *err);
int sv_store_set_restarts(struct sv_store *s, const char *id, int restarts, sv_error_t *err);

void sv_ctr_row_clear(struct sv_ctr_row *r);
/* Its init process runs: the row says so, and the pid is still the
 * process that started (sv_pid_alive). */
bool sv_ctr_row_running(const struct sv_ctr_row *r);
void sv_ctr_rows_free(struct sv_ctr_row *rows, size_t n);

/* Does pid still run the process that started at start? (pid reuse) */
bool sv_pid_alive(pid_t pid, uint64_t start);
/* Start time of pid from /proc/PID/stat, 0 if gone or a zombie. */
uint64_t sv_pid_start_time(pid_t pid);

/* A row cleared on the way out (a zeroed one, never found, clears too). */
#define cleanup_row __attribute__((cleanup(sv_ctr_row_clear)))

#endif
