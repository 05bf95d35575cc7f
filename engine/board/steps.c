/* The steps isolate and the board verbs share (steps.h). */
#include "board/steps.h"

#include "core/fs.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A build may take its time (the Arduino core compiles once per board),
 * but not forever. */
#define BUILD_TIMEOUT 600

/* No -p or --board: the board the source itself says (a sketch is for
 * an Arduino, an aarch64 program for ARM64 Linux), else this host. */
static const char *default_board(const char *script, enum sv_board_src kind)
{
    if (kind == SV_SRC_SKETCH || kind == SV_SRC_HEX)
        return "uno";
    if (kind != SV_SRC_ELF)
        return NULL;
    switch (sv_board_elf_machine(script)) {
    case EM_AVR:
        return "uno";
    case EM_AARCH64:
        return "generic-arm64";
    case EM_ARM: {
        /* Bare metal loads at 0 (or STM32's flash at 0x08000000); Linux
         * programs higher. */
        cleanup_close int fd = open(script, O_RDONLY | O_CLOEXEC);
        Elf32_Ehdr h;
        if (fd >= 0 && read(fd, &h, sizeof(h)) == (ssize_t)sizeof(h) && h.e_entry < 0x10000000 &&
            (h.e_entry < 0x10000 || h.e_entry >= 0x08000000))
            return "lm3s6965";
        return "raspberry_pi_zero_w";
    }
    default:
        return NULL;
    }
}

static void strv_add(char ***v, size_t *n, char *s)
{
    *v = sv_xrealloc(*v, (*n + 2) * sizeof(char *));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

/* The program's environment: -e's, and what the emulators read. */
static char **run_env(const struct sv_isolate_opts *o)
{
    char **v = NULL;
    size_t n = 0;
    strv_add(&v, &n, sv_xstrdup("HOME=/work"));
    for (char **e = o->env; e && *e; e++)
        strv_add(&v, &n, sv_xstrdup(*e));
    if (o->sim_time > 0)
        strv_add(&v, &n, sv_xasprintf("SERVOS_TIME=%g", o->sim_time));
    if (o->realtime)
        strv_add(&v, &n, sv_xstrdup("SERVOS_REALTIME=1"));
    return v;
}

void sv_steps_clear(struct sv_steps *s)
{
    if (s->work)
        sv_rmtree(s->work, NULL);
    free(s->work);
    free(s->cache);
    free(s->image);
    free(s->base);
    free(s->src);
    sv_board_plan_clear(&s->plan);
    sv_board_pick_clear(&s->pick);
}

int sv_steps_prepare(const struct sv_isolate_opts *o, struct sv_steps *s, sv_error_t *err)
{
    enum sv_board_src kind;
    if (sv_board_src_kind(o->script, &kind, err) < 0)
        return -1;
    const char *board = o->board;
    if (board == NULL && o->platform == NULL)
        board = default_board(o->script, kind);
    if (sv_board_pick(o->platform, board, &s->pick, err) < 0)
        return -1;
    cleanup_free char *copy = sv_xstrdup(o->script);
    size_t len = strlen(copy);
    while (len > 1 && copy[len - 1] == '/')
        copy[--len] = '\0';
    const char *base = strrchr(copy, '/') ? strrchr(copy, '/') + 1 : copy;
    cleanup_free char *src = sv_xasprintf("/work/%s", base);
    s->base = sv_xstrdup(base);
    s->src = sv_xstrdup(copy);
    struct sv_board_plan_in in = {
        .src = src, .kind = kind, .args = o->args, .port = o->port, .build_only = o->build_only};
    if ((o->flash ? sv_board_plan_flash : sv_board_plan)(&s->pick, &in, &s->plan, err) < 0)
        return -1;
    struct sv_toolchain_opts topts = {.progress = o->progress};
    if (sv_toolchain_ensure(s->pick.family, &topts, &s->image, err) < 0)
        return -1;
    if (sv_bjob_workdir("isolate", &s->work, err) < 0)
        return -1;
    cleanup_free char *dst = sv_xasprintf("%s/%s", s->work, base);
    if (sv_bjob_copy_in(copy, dst, err) < 0)
        return -1;
    return s->pick.family->host ? 0 : sv_bjob_cachedir(s->pick.family->name, &s->cache, err);
}

int sv_steps_build(const struct sv_isolate_opts *o, struct sv_steps *s, struct sv_isolate_result *r,
                   sv_error_t *err)
{
    cleanup_close int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    int out = o->progress ? fileno(o->progress) : null;
    struct sv_bjob j = {
        .image = s->image,
        .argv = s->plan.build,
        .work = s->work,
        .cache = s->cache,
        .limits = {.memory = -1, .cpus = -1, .pids = 4096},
        .timeout = BUILD_TIMEOUT,
        .stdio = {null, out, out},
    };
    struct sv_bjob_result br;
    if (sv_bjob_run(&j, &br, err) < 0)
        return -1;
    r->code = br.code;
    if (br.interrupted)
        r->verdict = SV_VERDICT_INTERRUPTED;
    else if (br.code != 0 || br.timed_out || br.oom)
        r->verdict = SV_VERDICT_BUILD_FAILED;
    return 0;
}

int sv_steps_run(const struct sv_isolate_opts *o, struct sv_steps *s, struct sv_isolate_result *r,
                 sv_error_t *err)
{
    cleanup_close int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    cleanup_strv char **env = run_env(o);
    struct sv_bjob j = {
        .image = s->image,
        .argv = s->plan.run,
        .env = env,
        .work = s->work,
        .cache = s->cache,
        .device = o->device,
        .device_in = o->port,
        .limits = o->limits,
        .timeout = o->timeout,
        .stdio = {o->interactive ? 0 : null, 1, 2},
    };
    struct sv_bjob_result br;
    if (sv_bjob_run(&j, &br, err) < 0) {
        r->code = br.code;
        return -1;
    }
    r->code = br.code;
    r->seconds = br.seconds;
    r->verdict = br.interrupted ? SV_VERDICT_INTERRUPTED
                 : br.timed_out ? SV_VERDICT_TIMEOUT
                 : br.oom       ? SV_VERDICT_OOM
                 : br.code      ? SV_VERDICT_FAILED
                                : SV_VERDICT_OK;
    return 0;
}
