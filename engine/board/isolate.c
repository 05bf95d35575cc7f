/* servos isolate (isolate.h): the steps of steps.h, then the verdict. */
#include "board/isolate.h"

#include "board/steps.h"

#include <stdio.h>
#include <string.h>

const char *sv_isolate_verdict_name(enum sv_isolate_verdict v)
{
    static const char *const names[] = {"ok",  "failed",       "timeout",
                                        "oom", "build failed", "interrupted"};
    return names[v];
}

int sv_isolate_run(const struct sv_isolate_opts *o, struct sv_isolate_result *r, sv_error_t *err)
{
    memset(r, 0, sizeof(*r));
    cleanup_steps struct sv_steps s = {0};
    if (sv_steps_prepare(o, &s, err) < 0)
        return -1;
    snprintf(r->what, sizeof(r->what), "%s, %s", s.pick.board->id, s.pick.family->name);
    if (s.plan.build && sv_steps_build(o, &s, r, err) < 0)
        return -1;
    if (r->verdict != SV_VERDICT_OK)
        return 0;
    return sv_steps_run(o, &s, r, err);
}
