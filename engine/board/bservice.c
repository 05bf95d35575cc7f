/* A stack's board service (bservice.h). */
#include "board/bservice.h"

#include "board/bjob.h"
#include "board/board.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool is_service(const struct sv_service *s)
{
    return s->board && s->build;
}

static const char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return b && b[1] ? b + 1 : path;
}

/* s in single quotes for sh, appended to *out. */
static void append_quoted(char **out, const char *s)
{
    size_t n = strlen(*out), k = 0;
    char *q = sv_xmalloc(4 * strlen(s) + 3);
    q[k++] = '\'';
    for (; *s; s++) {
        if (*s == '\'') {
            memcpy(q + k, "'\\''", 4);
            k += 4;
        } else {
            q[k++] = *s;
        }
    }
    q[k++] = '\'';
    *out = sv_xrealloc(*out, n + k + 2);
    memcpy(*out + n, q, k);
    (*out)[n + k] = ' ';
    (*out)[n + k + 1] = '\0';
    free(q);
}

static void append(char **out, const char *s)
{
    size_t n = strlen(*out), k = strlen(s);
    *out = sv_xrealloc(*out, n + k + 1);
    memcpy(*out + n, s, k + 1);
}

static void append_argv(char **out, char **argv)
{
    for (char **a = argv; a && *a; a++)
        append_quoted(out, *a);
}

/* Copy the sources in, build, exec the emulator (or flash the board and
 * monitor its port). */
static char *script(const char *name, const struct sv_board_plan *plan,
                    const struct sv_flash *flash)
{
    char *s = sv_xstrdup("# servos: a board service's firmware (engine/board/bservice.c)\n"
                         "set -e\nmkdir -p /work\ncd /work\nrm -rf ");
    cleanup_free char *in = sv_xasprintf("/src/%s", name);
    cleanup_free char *work = sv_xasprintf("/work/%s", name);
    append_quoted(&s, work);
    append(&s, "\ncp -R ");
    append_quoted(&s, in);
    append_quoted(&s, work);
    append(&s, "\n");
    if (plan->build) {
        append_argv(&s, plan->build);
        append(&s, "\n");
    }
    if (flash) {
        /* Flashed, the board runs it: what it prints is the service's
         * output, read from its port at its speed. */
        char baud[16];
        snprintf(baud, sizeof(baud), "%d", flash->baud);
        append_argv(&s, plan->run);
        append(&s, "\nstty -F ");
        append_quoted(&s, flash->inside);
        append(&s, baud);
        append(&s, " raw -echo\nexec cat ");
        append_quoted(&s, flash->inside);
        append(&s, "\n");
        return s;
    }
    append(&s, "exec ");
    append_argv(&s, plan->run);
    append(&s, "\n");
    return s;
}

int sv_bservice_make(const struct sv_service *s, struct sv_bservice *out, sv_error_t *err)
{
    memset(out, 0, sizeof(*out));
    cleanup_board_pick struct sv_board_pick p = {0};
    if (sv_board_pick(s->platform, s->board, &p, err) < 0)
        return sv_error_wrap(err, "%s: service \"%s\"", s->where, s->name);
    enum sv_board_src kind;
    if (sv_board_src_kind(s->build->context, &kind, err) < 0)
        return sv_error_wrap(err, "%s: service \"%s\": build", s->where, s->name);
    const char *name = base_name(s->build->context);
    cleanup_free char *src = sv_xasprintf("/work/%s", name);
    cleanup_board_plan struct sv_board_plan plan = {0};
    struct sv_board_plan_in in = {
        .src = src, .kind = kind, .port = s->flash ? s->flash->inside : NULL};
    if ((s->flash ? sv_board_plan_flash : sv_board_plan)(&p, &in, &plan, err) < 0)
        return sv_error_wrap(err, "%s: service \"%s\"", s->where, s->name);
    out->image = p.family->host ? "host" : sv_toolchain_image_name(p.family);
    if (out->image == NULL)
        return sv_error(err, 0, "%s: service \"%s\": board %s: no toolchain image", s->where,
                        s->name, p.board->id);
    if (!p.family->host && sv_bjob_cachedir(p.family->name, &out->cache, err) < 0)
        return -1;
    out->script = script(name, &plan, s->flash);
    const struct sv_emulate dflt = {.realtime = true};
    const struct sv_emulate *e = s->emulate ? s->emulate : &dflt;
    out->env = sv_xcalloc(3, sizeof(char *));
    size_t n = 0;
    if (e->realtime)
        out->env[n++] = sv_xstrdup("SERVOS_REALTIME=1");
    if (e->sim_time > 0)
        out->env[n++] = sv_xasprintf("SERVOS_TIME=%g", e->sim_time);
    out->src = sv_xstrdup(s->build->context);
    out->src_target = sv_xasprintf("/src/%s", name);
    return 0;
}

void sv_bservice_clear(struct sv_bservice *b)
{
    free(b->script);
    sv_strv_free(b->env);
    free(b->src);
    free(b->src_target);
    free(b->cache);
    memset(b, 0, sizeof(*b));
}

int sv_bservice_prepare(const struct sv_graph *g, FILE *progress, sv_error_t *err)
{
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        if (!is_service(s))
            continue;
        cleanup_board_pick struct sv_board_pick p = {0};
        if (sv_board_pick(s->platform, s->board, &p, err) < 0)
            return sv_error_wrap(err, "%s: service \"%s\"", s->where, s->name);
        struct stat st;
        if (stat(s->build->context, &st) < 0)
            return sv_error(err, errno, "%s: service \"%s\": build: %s", s->where, s->name,
                            s->build->context);
        if (progress && !p.family->host)
            fprintf(progress, "servos: service %s: board %s, toolchain %s\n", s->name, p.board->id,
                    p.family->name);
        struct sv_toolchain_opts o = {.progress = progress};
        cleanup_free char *image = NULL;
        if (sv_toolchain_ensure(p.family, &o, &image, err) < 0)
            return sv_error_wrap(err, "%s: service \"%s\"", s->where, s->name);
    }
    return 0;
}

uint64_t sv_bservice_stamp(const struct sv_service *s)
{
    return is_service(s) ? sv_board_src_stamp(s->build->context) : 0;
}
