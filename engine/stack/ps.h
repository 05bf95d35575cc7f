/* What `servos ps` shows of a stack: each replica's state, health, pid,
 * uptime, restarts, exit, address and published ports, and the git
 * commit the stack runs, gathered once for the table and for JSON. */
#ifndef SV_STACK_PS_H
#define SV_STACK_PS_H

#include "stack/rows.h"

#include <jansson.h>
#include <stdbool.h>

struct sv_ps_replica {
    const struct sv_ctr_row *row;
    const char *state; /* see sv_rows_state */
    bool running;
    bool exited; /* with an exit code */
    long long uptime_s;
    char address[16]; /* on the stack network; "" when not on it */
    char **ports;     /* "IP:PORT->PORT/tcp" each, NULL-terminated */
};

struct sv_ps {
    struct sv_rows rows;
    struct sv_ps_replica *v; /* one per row */
    bool from_git;
    char source[1024], commit[41];
};

int sv_ps_collect(const char *stack, struct sv_ps *ps, sv_error_t *err);

/* What a long-lived reader (servos serve) knows already, asked instead of
 * /proc and the recorded spec: whether a row's process still runs (as
 * sv_ctr_row_running says it) and its address on the stack network (0:
 * none). */
struct sv_ps_known {
    bool (*running)(void *ud, const struct sv_ctr_row *r);
    uint32_t (*address)(void *ud, const struct sv_ctr_row *r);
    void *ud;
};
/* The same from an open store (NULL: one opened for it), with what the
 * caller knows (NULL: nothing). */
int sv_ps_collect_in(struct sv_store *st, const struct sv_ps_known *known, const char *stack,
                     struct sv_ps *ps, sv_error_t *err);
/* An array of one object per replica, every string escaped. */
json_t *sv_ps_json(const struct sv_ps *ps);
void sv_ps_free(struct sv_ps *ps);
#define cleanup_ps __attribute__((cleanup(sv_ps_free)))

#endif
