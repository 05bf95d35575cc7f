/* The steps isolate and the board verbs share (isolate.c): plan, make
 * ready (toolchain image, work directory with the sources, cache), build,
 * run. Internal to engine/board/. */
#ifndef SV_STEPS_H
#define SV_STEPS_H

#include "board/board.h"
#include "board/isolate.h"

struct sv_steps {
    struct sv_board_pick pick;
    struct sv_board_plan plan;
    char *work;  /* the work directory (host path), removed at the end */
    char *cache; /* the family's cache directory, or NULL */
    char *image; /* the toolchain image */
    char *base;  /* the source's base name, as it is in /work */
    char *src;   /* the source as the user named it (no trailing /) */
};

int sv_steps_prepare(const struct sv_isolate_opts *o, struct sv_steps *s, sv_error_t *err);
/* The build step, its output to o->progress; r's verdict BUILD_FAILED
 * (or INTERRUPTED) when it failed. */
int sv_steps_build(const struct sv_isolate_opts *o, struct sv_steps *s, struct sv_isolate_result *r,
                   sv_error_t *err);
/* The run step (or flash), stdio the caller's. */
int sv_steps_run(const struct sv_isolate_opts *o, struct sv_steps *s, struct sv_isolate_result *r,
                 sv_error_t *err);
void sv_steps_clear(struct sv_steps *s);
#define cleanup_steps __attribute__((cleanup(sv_steps_clear)))

#endif
