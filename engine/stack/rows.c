#include "stack/rows.h"

#include <signal.h>

int sv_rows_list(struct sv_store *st, const char *stack, struct sv_rows *rows, sv_error_t *err)
{
    *rows = (struct sv_rows){NULL, 0};
    if (st)
        return sv_store_list_stack(st, stack, &rows->v, &rows->n, err);
    cleanup_store struct sv_store *own = NULL;
    if (sv_store_open(&own, err) < 0)
        return -1;
    return sv_store_list_stack(own, stack, &rows->v, &rows->n, err);
}

const char *sv_rows_state(const struct sv_ctr_row *row)
{
    if (sv_ctr_row_running(row))
        return "running";
    if (row->status == SV_CTR_CREATED)
        return "created";
    return "exited";
}

void sv_rows_signal(const struct sv_rows *rows, int sig)
{
    for (size_t i = 0; i < rows->n; i++)
        if (sv_pid_alive(rows->v[i].pid, rows->v[i].pid_start))
            kill(rows->v[i].pid, sig);
}
