/* ProServe's board modes (bproserve.h). */
#include "board/bproserve.h"

#include "board/bjob.h"
#include "board/board.h"
#include "image/imgstore.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool sv_bproserve_is_board_mode(const char *mode)
{
    return mode && (strcmp(mode, "micropython") == 0 || strcmp(mode, "arduino") == 0);
}

/* The mode's board: isolation.board, else isolation.platform (ProServe
 * names a board there: rp2040, esp32; or a platform: arduino), else the
 * mode's usual one. It must be of the mode's family. */
static int pick(const char *mode, const char *platform, const char *board, struct sv_board_pick *p,
                sv_error_t *err)
{
    bool mpy = strcmp(mode, "micropython") == 0;
    int rc;
    if (board || !platform) {
        rc = sv_board_pick(NULL, board ? board : mpy ? "rp2040" : "uno", p, err);
    } else {
        sv_error_t first = NULL;
        rc = sv_board_pick(NULL, platform, p, &first);
        if (rc < 0) {
            sv_board_pick_clear(p);
            rc = sv_board_pick(platform, NULL, p, err);
        }
        sv_error_free(&first);
    }
    if (rc < 0)
        return -1;
    const char *want = mpy ? "micropython" : "avr";
    if (p->family->unavailable)
        return sv_error(err, 0, "isolation.mode %s on %s: not available on this system: %s", mode,
                        p->board->id, p->family->unavailable);
    if (strcmp(p->family->name, want) != 0)
        return sv_error(
            err, 0, "isolation.mode %s runs on a %s board; %s is a %s board (%s's toolchain)", mode,
            mpy ? "MicroPython" : "AVR Arduino", p->board->id, p->family->name, p->family->name);
    return 0;
}

int sv_bproserve_target(const char *mode, const char *platform, const char *board,
                        const char **image, char **cache, sv_error_t *err)
{
    *cache = NULL;
    cleanup_board_pick struct sv_board_pick p = {0};
    if (pick(mode, platform, board, &p, err) < 0)
        return -1;
    *image = sv_toolchain_image_name(p.family);
    return sv_bjob_cachedir(p.family->name, cache, err);
}

int sv_bproserve_ensure(const char *mode, const char *platform, const char *board, FILE *progress,
                        sv_error_t *err)
{
    cleanup_board_pick struct sv_board_pick p = {0};
    if (pick(mode, platform, board, &p, err) < 0)
        return -1;
    struct sv_toolchain_opts o = {.progress = progress};
    cleanup_free char *image = NULL;
    return sv_toolchain_ensure(p.family, &o, &image, err);
}

int sv_bproserve_ready(const char *mode, const char *platform, const char *board, sv_error_t *err)
{
    cleanup_board_pick struct sv_board_pick p = {0};
    if (pick(mode, platform, board, &p, err) < 0)
        return -1;
    char digest[SV_DIGEST_LEN + 1];
    return sv_image_lookup(sv_toolchain_image_name(p.family), digest, err);
}

/* s in single quotes for sh, appended to *out. */
static void append_quoted(char **out, const char *s)
{
    size_t n = strlen(*out);
    *out = sv_xrealloc(*out, n + 4 * strlen(s) + 4);
    char *w = *out + n;
    *w++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') {
            memcpy(w, "'\\''", 4);
            w += 4;
        } else {
            *w++ = *s;
        }
    }
    *w++ = '\'';
    *w++ = ' ';
    *w = '\0';
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

/* Build once into the cache by the sources' stamp (a build in progress
 * writes a name of its own and renames: two requests may race), then run
 * in simavr with the request on the serial port. */
static int arduino_script(const struct sv_board_pick *p, const char *target, bool request,
                          double sim_time, char **out, sv_error_t *err)
{
    enum sv_board_src kind;
    if (sv_board_src_kind(target, &kind, err) < 0)
        return -1;
    if (kind != SV_SRC_SKETCH && kind != SV_SRC_C)
        return sv_error(err, 0,
                        "isolation.mode arduino runs sketches (a .ino, a sketch's directory) "
                        "or C files; %s is neither",
                        target);
    static unsigned counter;
    cleanup_free char *fw =
        sv_xasprintf("/cache/proserve/%016llx", (unsigned long long)sv_board_src_stamp(target));
    cleanup_free char *tmp = sv_xasprintf("%s-%d-%u", fw, (int)getpid(),
                                          __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    cleanup_free char *elf = sv_xasprintf("%s.elf", fw);
    cleanup_free char *tmp_elf = sv_xasprintf("%s.elf", tmp);
    cleanup_board_plan struct sv_board_plan build = {0};
    struct sv_board_plan_in in = {.src = target, .kind = kind, .out = tmp};
    if (sv_board_plan(p, &in, &build, err) < 0)
        return -1;
    cleanup_board_plan struct sv_board_plan run = {0};
    struct sv_board_plan_in fin = {.src = elf, .kind = SV_SRC_ELF};
    if (sv_board_plan(p, &fin, &run, err) < 0)
        return -1;
    char *s = sv_xstrdup("set -e\nif ! [ -s ");
    append_quoted(&s, elf);
    append(&s, "]; then\n  mkdir -p /cache/proserve\n  ");
    append_argv(&s, build.build);
    append(&s, ">&2\n  mv ");
    append_quoted(&s, tmp_elf);
    append_quoted(&s, elf);
    append(&s, "\n  rm -f ");
    cleanup_free char *tmp_hex = sv_xasprintf("%s.hex", tmp);
    cleanup_free char *tmp_bin = sv_xasprintf("%s.bin", tmp);
    append_quoted(&s, tmp_hex);
    append_quoted(&s, tmp_bin);
    append(&s, "\nfi\n");
    char env[96];
    snprintf(env, sizeof(env), "export SERVOS_PINS=%d SERVOS_TIME=%g\n", request ? 0 : 1,
             sim_time > 0 ? sim_time : 5);
    append(&s, env);
    if (request) /* the request as one line: a sketch reads up to its newline */
        append(&s, "export SERVOS_STDIN=1\n{ cat; printf '\\n'; } | ");
    else
        append(&s, "exec ");
    append_argv(&s, run.run);
    append(&s, "\n");
    *out = s;
    return 0;
}

int sv_bproserve_argv(const char *mode, const char *platform, const char *board, const char *target,
                      bool request, double sim_time, char ***argv, sv_error_t *err)
{
    *argv = NULL;
    cleanup_board_pick struct sv_board_pick p = {0};
    if (pick(mode, platform, board, &p, err) < 0)
        return -1;
    char **v = sv_xcalloc(4, sizeof(char *));
    if (strcmp(mode, "micropython") == 0) {
        size_t n = strlen(target);
        if (n < 3 || strcmp(target + n - 3, ".py") != 0) {
            free(v);
            return sv_error(err, 0,
                            "isolation.mode micropython runs MicroPython scripts (.py); %s is "
                            "none",
                            target);
        }
        v[0] = sv_xstrdup("micropython");
        v[1] = sv_xstrdup(request ? "--request" : target);
        v[2] = request ? sv_xstrdup(target) : NULL;
        *argv = v;
        return 0;
    }
    char *script = NULL;
    if (arduino_script(&p, target, request, sim_time, &script, err) < 0) {
        free(v);
        return -1;
    }
    v[0] = sv_xstrdup("/bin/sh");
    v[1] = sv_xstrdup("-c");
    v[2] = script;
    *argv = v;
    return 0;
}
