/* Board work, planned (board.h): the board, the source's kind, and the
 * commands of its steps. */
#include "board/board.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- which board ----------------------------------------------------------------------- */

/* What the AVR image's arduino-build needs beyond the tables: the board's
 * ARDUINO_ define, its variant (pins), its clock, and extra defines
 * (boards.txt's build.extra_flags: the Leonardo's USB ids). */
static const struct avr_board {
    const char *id, *define, *variant, *f_cpu, *extra;
} avr_boards[] = {
    {"uno", "AVR_UNO", "standard", "16000000", ""},
    {"nano", "AVR_NANO", "eightanaloginputs", "16000000", ""},
    {"mega2560", "AVR_MEGA2560", "mega", "16000000", ""},
    {"leonardo", "AVR_LEONARDO", "leonardo", "16000000", "-DUSB_VID=0x2341 -DUSB_PID=0x8036"},
};

static const struct avr_board *avr_board(const char *id)
{
    for (size_t i = 0; i < SV_ARRAY_LEN(avr_boards); i++)
        if (strcmp(avr_boards[i].id, id) == 0)
            return &avr_boards[i];
    return NULL;
}

const struct sv_toolchain *sv_board_family(const struct sv_platform *pl, const struct sv_board *b)
{
    if (b->family)
        return sv_toolchain_find(b->family);
    /* A table without family: what its platform and arch say. */
    const char *arch = b->arch ? b->arch : pl->arch;
    if (strcmp(pl->name, "x86_64") == 0)
        return sv_toolchain_find("x86_64");
    if (strcmp(arch, "xtensa") == 0 || strcmp(pl->name, "esp32") == 0)
        return sv_toolchain_find("xtensa");
    if (strcmp(pl->name, "micropython") == 0)
        return sv_toolchain_find("micropython");
    if (strncmp(arch, "cortex-m", 8) == 0 || strcmp(pl->name, "cortex-m") == 0)
        return sv_toolchain_find("cortex-m");
    if (strcmp(arch, "avr") == 0)
        return sv_toolchain_find("avr");
    if (strcmp(arch, "aarch64") == 0 || (b->build && strstr(b->build, "aarch64")))
        return sv_toolchain_find("arm64");
    return sv_toolchain_find("armhf");
}

/* Its id, or one of its aliases (ProServe's arduino_uno, raspberry_pi). */
static bool named(const char *id, char **aliases, const char *name)
{
    if (strcmp(id, name) == 0)
        return true;
    for (char **a = aliases; a && *a; a++)
        if (strcmp(*a, name) == 0)
            return true;
    return false;
}

static const struct sv_board *find_board(const struct sv_platforms *t, const char *id,
                                         const struct sv_platform **pl)
{
    for (size_t i = 0; i < t->n; i++)
        for (size_t j = 0; j < t->v[i].n_boards; j++)
            if (named(t->v[i].boards[j].id, t->v[i].boards[j].aliases, id)) {
                *pl = &t->v[i];
                return &t->v[i].boards[j];
            }
    return NULL;
}

static const struct sv_platform *find_platform(const struct sv_platforms *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (named(t->v[i].name, t->v[i].aliases, name))
            return &t->v[i];
    return NULL;
}

/* "unknown board "x" (did you mean "y"?)": the closest id of the tables. */
static int unknown(const struct sv_platforms *t, const char *what, const char *name,
                   sv_error_t *err)
{
    const char **cands = sv_xcalloc(128, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; i < t->n && n < 127; i++) {
        if (strcmp(what, "platform") == 0)
            cands[n++] = t->v[i].name;
        for (size_t j = 0; strcmp(what, "board") == 0 && j < t->v[i].n_boards && n < 127; j++)
            cands[n++] = t->v[i].boards[j].id;
    }
    const char *s = sv_suggest(name, cands, n);
    sv_error(err, 0, "unknown %s \"%s\"%s%s%s (servos list-platforms lists them)", what, name,
             s ? " (did you mean \"" : "", s ? s : "", s ? "\"?)" : "");
    free(cands);
    return -1;
}

int sv_board_pick(const char *platform, const char *board, struct sv_board_pick *p, sv_error_t *err)
{
    memset(p, 0, sizeof(*p));
    if (sv_platforms_load(&p->tables, err) < 0)
        return -1;
    const struct sv_platform *pl = NULL;
    if (board) {
        p->board = find_board(p->tables, board, &p->platform);
        if (p->board == NULL)
            return unknown(p->tables, "board", board, err);
    }
    if (platform) {
        pl = find_platform(p->tables, platform);
        if (pl == NULL)
            return unknown(p->tables, "platform", platform, err);
        if (p->board && pl != p->platform)
            return sv_error(err, 0, "board %s is of platform %s, not %s", p->board->id,
                            p->platform->name, pl->name);
    }
    if (p->board == NULL) {
        p->platform = pl ? pl : find_platform(p->tables, "x86_64");
        if (p->platform == NULL || p->platform->n_boards == 0)
            return sv_error(err, 0, "no board of platform %s in the tables",
                            platform ? platform : "x86_64");
        p->board = &p->platform->boards[0];
        for (size_t j = 0; j < p->platform->n_boards; j++)
            if (p->platform->boards[j].emulate) {
                p->board = &p->platform->boards[j];
                break;
            }
    }
    p->family = sv_board_family(p->platform, p->board);
    if (p->family == NULL)
        return sv_error(err, 0, "board %s: no toolchain family builds for it", p->board->id);
    return 0;
}

void sv_board_pick_clear(struct sv_board_pick *p)
{
    sv_platforms_free(p->tables);
    memset(p, 0, sizeof(*p));
}

/* ---- what a source is ------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static bool dir_has_sketch(const char *dir)
{
    cleanup_closedir DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (ends_with(e->d_name, ".ino"))
            return true;
    return false;
}

int sv_board_elf_machine(const char *path)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    Elf32_Ehdr h;
    if (fd < 0 || read(fd, &h, sizeof(h)) != (ssize_t)sizeof(h) ||
        memcmp(h.e_ident, ELFMAG, SELFMAG) != 0)
        return -1;
    return h.e_machine;
}

int sv_board_src_kind(const char *path, enum sv_board_src *kind, sv_error_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return sv_error(err, errno, "%s", path);
    if (S_ISDIR(st.st_mode)) {
        if (!dir_has_sketch(path))
            return sv_error(err, 0,
                            "%s: a directory is an Arduino sketch when it holds a .ino file; "
                            "this one holds none",
                            path);
        *kind = SV_SRC_SKETCH;
        return 0;
    }
    if (!S_ISREG(st.st_mode))
        return sv_error(err, 0, "%s is not a file", path);
    static const struct {
        const char *suffix;
        enum sv_board_src kind;
    } suffixes[] = {{".py", SV_SRC_PYTHON},  {".sh", SV_SRC_SHELL}, {".c", SV_SRC_C},
                    {".cpp", SV_SRC_C},      {".cc", SV_SRC_C},     {".S", SV_SRC_C},
                    {".ino", SV_SRC_SKETCH}, {".hex", SV_SRC_HEX}};
    for (size_t i = 0; i < SV_ARRAY_LEN(suffixes); i++)
        if (ends_with(path, suffixes[i].suffix)) {
            *kind = suffixes[i].kind;
            return 0;
        }
    *kind = sv_board_elf_machine(path) >= 0 ? SV_SRC_ELF : SV_SRC_OTHER;
    return 0;
}

static uint64_t stamp(const char *path, int depth, uint64_t h)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return h;
    char buf[96];
    int n = snprintf(buf, sizeof(buf), "%lld %lld %ld", (long long)st.st_size,
                     (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    h = (h * 1099511628211ull) ^ sv_fnv1a(buf, (size_t)n) ^ sv_fnv1a(path, strlen(path));
    if (!S_ISDIR(st.st_mode) || depth > 4)
        return h;
    cleanup_closedir DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        cleanup_free char *p = sv_xasprintf("%s/%s", path, e->d_name);
        h ^= stamp(p, depth + 1, 0); /* the order readdir gives does not matter */
    }
    return h;
}

uint64_t sv_board_src_stamp(const char *path)
{
    return stamp(path, 0, 14695981039346656037ull);
}

/* ---- the steps' commands ---------------------------------------------------------------- */

/* s in single quotes for sh. */
static void quote(char **out, size_t *len, size_t *cap, const char *s)
{
    size_t need = *len + 4 * strlen(s) + 3;
    if (need >= *cap) {
        *cap = need * 2;
        *out = sv_xrealloc(*out, *cap);
    }
    char *p = *out + *len;
    *p++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') {
            memcpy(p, "'\\''", 4);
            p += 4;
        } else {
            *p++ = *s;
        }
    }
    *p++ = '\'';
    *p = '\0';
    *len = (size_t)(p - *out);
}

/* The template with {src}, {out} and {port} filled in, quoted. A
 * firmware given as it is (not built) stands for {out} and {out}.SUFFIX
 * alike: the template names what a build would have made. */
static char *fill(const char *tmpl, const char *src, const char *out, const char *port,
                  const char *firmware)
{
    size_t cap = strlen(tmpl) + 64, len = 0;
    char *s = sv_xmalloc(cap);
    s[0] = '\0';
    for (const char *p = tmpl; *p;) {
        const char *v = strncmp(p, "{src}", 5) == 0    ? src
                        : strncmp(p, "{out}", 5) == 0  ? (firmware ? firmware : out)
                        : strncmp(p, "{port}", 6) == 0 ? port
                                                       : NULL;
        if (v) {
            quote(&s, &len, &cap, v);
            p += strncmp(p, "{port}", 6) == 0 ? 6 : 5;
            if (v == firmware && *p == '.')
                p += strspn(p + 1, "abcdefghijklmnopqrstuvwxyz") + 1;
            continue;
        }
        if (len + 2 >= cap)
            s = sv_xrealloc(s, cap *= 2);
        s[len++] = *p++;
        s[len] = '\0';
    }
    return s;
}

/* sh -c TEXT, the program's arguments after it ("$@"). */
static char **shell_argv(char *text, char **args)
{
    size_t n = 0;
    while (args && args[n])
        n++;
    char **v = sv_xcalloc(n + 5, sizeof(char *));
    v[0] = sv_xstrdup("/bin/sh");
    v[1] = sv_xstrdup("-c");
    v[2] = n ? sv_xasprintf("%s \"$@\"", text) : sv_xstrdup(text);
    v[3] = sv_xstrdup("sh");
    for (size_t i = 0; i < n; i++)
        v[4 + i] = sv_xstrdup(args[i]);
    free(text);
    return v;
}

static char **argv_of(const char *const *a, char **args)
{
    size_t n = 0, k = 0;
    while (a[n])
        n++;
    while (args && args[k])
        k++;
    char **v = sv_xcalloc(n + k + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        v[i] = sv_xstrdup(a[i]);
    for (size_t i = 0; i < k; i++)
        v[n + i] = sv_xstrdup(args[i]);
    return v;
}

/* "no build template": the tables' reason. */
static int cannot(const struct sv_board_pick *p, const char *step, sv_error_t *err)
{
    if (p->family->unavailable)
        return sv_error(err, 0, "board %s: %s is not available on this system: %s", p->board->id,
                        step, p->family->unavailable);
    const char *why = sv_platforms_missing(p->board, step);
    return sv_error(err, 0, "board %s cannot %s: %s", p->board->id, step,
                    why ? why : "the board tables have no template for it");
}

static int plan_sketch(const struct sv_board_pick *p, const struct sv_board_plan_in *in,
                       struct sv_board_plan *plan, sv_error_t *err)
{
    const struct avr_board *a = avr_board(p->board->id);
    if (strcmp(p->family->name, "avr") != 0 || a == NULL || p->board->mcu == NULL)
        return sv_error(err, 0,
                        "an Arduino sketch builds for the AVR boards (uno, nano, mega2560, "
                        "leonardo) here; %s is a %s board: give it C sources",
                        p->board->id, p->family->name);
    const char *av[] = {"arduino-build", "-b",    a->define,  "-m", p->board->mcu, "-f",
                        a->f_cpu,        "-v",    a->variant, "-o", plan->out,     "-c",
                        "/cache",        in->src, NULL};
    plan->build = argv_of(av, NULL);
    if (a->extra[0]) { /* -x goes before the sketch */
        size_t n = 0;
        while (plan->build[n])
            n++;
        plan->build = sv_xrealloc(plan->build, (n + 3) * sizeof(char *));
        plan->build[n + 1] = plan->build[n - 1];
        plan->build[n - 1] = sv_xstrdup("-x");
        plan->build[n] = sv_xstrdup(a->extra);
        plan->build[n + 2] = NULL;
    }
    return 0;
}

/* The emulator or program, from the board's emulate template. */
static int plan_run(const struct sv_board_pick *p, const struct sv_board_plan_in *in,
                    struct sv_board_plan *plan, sv_error_t *err)
{
    if (p->family->host) {
        if (in->kind == SV_SRC_PYTHON) {
            plan->run = argv_of((const char *[]){"python3", in->src, NULL}, in->args);
            return 0;
        }
        if (in->kind == SV_SRC_SHELL) {
            plan->run = argv_of((const char *[]){"/bin/sh", in->src, NULL}, in->args);
            return 0;
        }
        if (in->kind == SV_SRC_OTHER || in->kind == SV_SRC_ELF) {
            plan->run = argv_of((const char *[]){in->src, NULL}, in->args);
            return 0;
        }
    }
    const char *tmpl = p->board->emulate;
    if (tmpl == NULL)
        return cannot(p, "emulate", err);
    if (in->kind == SV_SRC_HEX && strcmp(p->family->name, "avr") == 0) {
        const struct avr_board *a = avr_board(p->board->id);
        const char *av[] = {"avr-run",
                            "-m",
                            p->board->mcu ? p->board->mcu : "atmega328p",
                            "-f",
                            a ? a->f_cpu : "16000000",
                            in->src,
                            NULL};
        plan->run = argv_of(av, NULL);
        return 0;
    }
    if (in->kind == SV_SRC_HEX)
        return sv_error(err, 0, "a .hex firmware runs on the AVR boards; %s is a %s board",
                        p->board->id, p->family->name);
    const char *firmware = in->kind == SV_SRC_ELF ? in->src : NULL;
    plan->run =
        shell_argv(fill(tmpl, in->src, plan->out, in->port ? in->port : "", firmware), in->args);
    return 0;
}

/* Where the source's name and the build's output go: /work/NAME. */
static void plan_names(const struct sv_board_plan_in *in, struct sv_board_plan *plan)
{
    const char *base = strrchr(in->src, '/') ? strrchr(in->src, '/') + 1 : in->src;
    plan->name = sv_xstrdup(base);
    char *dot = strrchr(plan->name, '.');
    if (dot && dot != plan->name)
        *dot = '\0';
    plan->out = in->out ? sv_xstrdup(in->out) : sv_xasprintf("/work/%s", plan->name);
}

/* What the build makes, worth copying out: firmware ({out}.elf, .hex,
 * .bin) or a program ({out} itself). */
static void plan_outs(const char *tmpl, struct sv_board_plan *plan)
{
    static const char *const firmware[] = {".elf", ".hex", ".bin", NULL};
    static const char *const program[] = {"", NULL, NULL, NULL};
    memcpy(plan->outs, tmpl && !strstr(tmpl, "{out}.") ? program : firmware, sizeof(firmware));
}

int sv_board_plan(const struct sv_board_pick *p, const struct sv_board_plan_in *in,
                  struct sv_board_plan *plan, sv_error_t *err)
{
    memset(plan, 0, sizeof(*plan));
    if (p->family->unavailable)
        return cannot(p, "building and emulating", err);
    if (!p->family->host && in->kind == SV_SRC_SHELL)
        return sv_error(err, 0, "a shell script runs on this host's platform (x86_64), not on %s",
                        p->board->id);
    if (in->kind == SV_SRC_PYTHON && !p->family->host &&
        strcmp(p->family->name, "micropython") != 0)
        return sv_error(err, 0,
                        "a Python script runs on this host (x86_64) or a MicroPython board "
                        "(-p micropython), not on %s",
                        p->board->id);
    plan->image = p->family->host ? "host" : NULL;
    plan_names(in, plan);
    if (in->kind == SV_SRC_SKETCH) {
        if (plan_sketch(p, in, plan, err) < 0)
            return -1;
        plan_outs(NULL, plan);
    }
    if (in->kind == SV_SRC_C) {
        if (p->board->build == NULL)
            return cannot(p, "build", err);
        plan->build = shell_argv(fill(p->board->build, in->src, plan->out, "", NULL), NULL);
        plan_outs(p->board->build, plan);
    }
    return in->build_only ? 0 : plan_run(p, in, plan, err);
}

int sv_board_plan_flash(const struct sv_board_pick *p, const struct sv_board_plan_in *in,
                        struct sv_board_plan *plan, sv_error_t *err)
{
    struct sv_board_plan_in build = *in;
    build.build_only = true;
    if (sv_board_plan(p, &build, plan, err) < 0)
        return -1;
    if (p->board->flash == NULL)
        return cannot(p, "flash", err);
    const char *firmware = in->kind == SV_SRC_ELF || in->kind == SV_SRC_HEX ? in->src : NULL;
    plan->run = shell_argv(fill(p->board->flash, in->src, plan->out, in->port, firmware), NULL);
    return 0;
}

void sv_board_plan_clear(struct sv_board_plan *plan)
{
    sv_strv_free(plan->build);
    sv_strv_free(plan->run);
    free(plan->out);
    free(plan->name);
    memset(plan, 0, sizeof(*plan));
}
