/* A stack's replicas as the store records them, for the commands that run
 * beside its supervisor (ps, logs, down without one) and for the
 * supervisor itself: the list with a cleanup attribute, and what a row
 * says about its process. */
#ifndef SV_STACK_ROWS_H
#define SV_STACK_ROWS_H

#include "core/store.h"

#include <stdbool.h>

struct sv_rows {
    struct sv_ctr_row *v;
    size_t n;
};

static inline void sv_rows_freep(struct sv_rows *rows)
{
    sv_ctr_rows_free(rows->v, rows->n);
    rows->v = NULL;
    rows->n = 0;
}
#define cleanup_rows __attribute__((cleanup(sv_rows_freep)))

/* The replicas of stack, in service and replica order, from st (NULL: the
 * store opened just for that). */
int sv_rows_list(struct sv_store *st, const char *stack, struct sv_rows *rows, sv_error_t *err);
/* "running" (its pid still the process that started), "created" or
 * "exited". */
const char *sv_rows_state(const struct sv_ctr_row *row);
/* sig to every replica whose process still runs. */
void sv_rows_signal(const struct sv_rows *rows, int sig);

#endif
