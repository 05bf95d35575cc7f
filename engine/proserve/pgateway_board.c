/* The board modes' runtime and its fallback (pgateway.h,
 * board/bproserve.h): whether a ProServe service of isolation.mode
 * micropython or arduino runs its handlers on the board's runtime, or as
 * mode process because that runtime is missing here. */
#include "proserve/pgateway_int.h"

#include "board/bproserve.h"

#include <string.h>

static const char *raw_mode(const struct sv_service *s)
{
    const struct sv_value *m = gw_spec_member(gw_spec_isolation(s), "mode");
    return m && m->kind == SV_STR ? m->u.s : NULL;
}

/* isolation.fallback_on_platform_failure: true unless false, as ProServe
 * falls back to a process when a platform's runtime fails. */
static bool may_fall_back(const struct sv_service *s)
{
    const struct sv_value *f = gw_spec_member(gw_spec_isolation(s), "fallback_on_platform_failure");
    return !(f && f->kind == SV_BOOL && !f->u.b);
}

const char *sv_gateway_board_mode(const struct sv_service *s)
{
    const char *mode = s->proserve ? raw_mode(s) : NULL;
    if (!sv_bproserve_is_board_mode(mode))
        return NULL;
    sv_error_t err = NULL;
    int ready = sv_bproserve_ready(mode, s->platform, s->board, &err);
    sv_error_free(&err);
    return ready != 0 && may_fall_back(s) ? "process" : mode;
}

int sv_gateway_board_prepare(const struct sv_service *s, FILE *progress, sv_error_t *err)
{
    const char *mode = s->proserve ? raw_mode(s) : NULL;
    if (!sv_bproserve_is_board_mode(mode))
        return 0;
    sv_error_t why = NULL;
    if (sv_bproserve_ensure(mode, s->platform, s->board, progress, &why) == 0)
        return 0;
    if (!may_fall_back(s)) {
        sv_error(err, why->status, "%s: service \"%s\": isolation.mode %s: %s", s->where, s->name,
                 mode, why->msg);
        sv_error_free(&why);
        return -1;
    }
    if (progress)
        fprintf(progress,
                "servos: service %s: isolation.mode %s cannot run here (%s); its handlers run "
                "as mode process instead (isolation.fallback_on_platform_failure)\n",
                s->name, mode, why->msg);
    sv_error_free(&why);
    return 0;
}
