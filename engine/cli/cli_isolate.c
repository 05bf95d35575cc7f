/* `servos isolate` and `servos toolchain ls | build | rm`: the options,
 * then board/isolate.h and board/toolchain.h. */
#include "cli/cli.h"
#include "cli/cli_run_int.h"
#include "board/isolate.h"
#include "board/toolchain.h"
#include "build/build.h"
#include "core/store.h"
#include "graph/units.h"
#include "image/imgstore.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* A toolchain image being built when Ctrl-C comes: the build stops and
 * cleans up after itself (bjob's steps take their signals themselves). */
static void on_signal(int sig)
{
    (void)sig;
    sv_build_interrupt();
}

static void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < SV_ARRAY_LEN(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
}

/* ---- isolate ------------------------------------------------------------------------------ */

struct isolate_args {
    struct sv_isolate_opts o;
    char **env;
    size_t n_env;
    bool quiet;
};

static int duration_s(const char *arg, double *out)
{
    int64_t ms;
    sv_error_t err = NULL;
    if (strcmp(arg, "0") == 0) {
        *out = 0;
        return 0;
    }
    if (sv_parse_duration(arg, &ms, &err) < 0) {
        sv_error_free(&err);
        return -1;
    }
    *out = (double)ms / 1000;
    return 0;
}

static int isolate_opt(void *args, int c, const char *arg)
{
    struct isolate_args *a = args;
    sv_error_t err = NULL;
    char *end;
    switch (c) {
    case 'p':
        a->o.platform = arg;
        return 0;
    case 'B':
        a->o.board = arg;
        return 0;
    case 'e':
        if (sv_runopt_env_file(arg, &a->env, &a->n_env, &err) < 0) {
            fprintf(stderr, "servos isolate: %s\n", err->msg);
            sv_error_free(&err);
            return -2;
        }
        return 0;
    case 'T':
        return duration_s(arg, &a->o.timeout);
    case 'S':
        return duration_s(arg, &a->o.sim_time);
    case 'm':
        if (sv_parse_size(arg, &a->o.limits.memory, &err) < 0 || a->o.limits.memory < (1 << 20)) {
            sv_error_free(&err);
            return -1;
        }
        return 0;
    case 'c':
        a->o.limits.cpus = strtod(arg, &end);
        return *end == '\0' && a->o.limits.cpus > 0 ? 0 : -1;
    case 'P':
        a->o.limits.pids = strtoll(arg, &end, 10);
        return *end == '\0' && a->o.limits.pids > 0 ? 0 : -1;
    case 'i':
        a->o.interactive = true;
        return 0;
    case 'q':
        a->quiet = true;
        return 0;
    }
    return -1;
}

/* The last line: how the run ended, and the exit code it gives. */
static int verdict(const struct sv_isolate_result *r)
{
    const char *v = sv_isolate_verdict_name(r->verdict);
    switch (r->verdict) {
    case SV_VERDICT_OK:
        fprintf(stderr, "servos isolate: ok (%s, %.2f s)\n", r->what, r->seconds);
        return 0;
    case SV_VERDICT_FAILED:
        fprintf(stderr, "servos isolate: failed (exit %d; %s, %.2f s)\n", r->code, r->what,
                r->seconds);
        return r->code;
    case SV_VERDICT_TIMEOUT:
        fprintf(stderr, "servos isolate: timeout (killed after %.2f s; %s)\n", r->seconds, r->what);
        return 124;
    case SV_VERDICT_OOM:
        fprintf(stderr, "servos isolate: oom (the memory limit killed it; %s)\n", r->what);
        return 137;
    case SV_VERDICT_BUILD_FAILED:
        fprintf(stderr, "servos isolate: build failed (exit %d; %s)\n", r->code, r->what);
        return r->code ? r->code : 1;
    case SV_VERDICT_INTERRUPTED:
        fprintf(stderr, "servos isolate: %s\n", v);
        return 130;
    }
    return 1;
}

int sv_cmd_isolate(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("isolate");
    static const struct option opts[] = {
        {"platform", required_argument, NULL, 'p'}, {"board", required_argument, NULL, 'B'},
        {"env-file", required_argument, NULL, 'e'}, {"timeout", required_argument, NULL, 'T'},
        {"time", required_argument, NULL, 'S'},     {"memory", required_argument, NULL, 'm'},
        {"cpus", required_argument, NULL, 'c'},     {"pids", required_argument, NULL, 'P'},
        {"interactive", no_argument, NULL, 'i'},    {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    struct isolate_args a = {
        .o = {.timeout = 60, .limits = {.memory = -1, .cpus = -1, .pids = 256}},
    };
    int code,
        first = sv_cli_parse_opts(v, argc, argv, "+:p:e:m:c:iqh", opts, isolate_opt, &a, &code);
    cleanup_strv char **env = a.env;
    if (first < 0)
        return code;
    if (first == argc)
        return sv_cli_misuse(v, "which script? (a .py, .sh, .c, .ino or a program)");
    a.o.script = argv[first];
    a.o.args = argv + first + 1;
    a.o.env = env;
    a.o.progress = a.quiet ? NULL : stderr;
    catch_signals();
    sv_error_t err = NULL;
    struct sv_isolate_result r;
    if (sv_isolate_run(&a.o, &r, &err) < 0) {
        int rc = err->status == EINTR ? 130 : r.code ? r.code : 125;
        fprintf(stderr, "servos isolate: %s\n", err->msg);
        sv_error_free(&err);
        return rc;
    }
    return verdict(&r);
}

/* ---- toolchain ---------------------------------------------------------------------------- */

static int toolchain_misuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int toolchain_misuse(const char *fmt, ...)
{
    fprintf(stderr, "servos toolchain: ");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; usage: servos toolchain ls|build|rm ... (servos toolchain --help)\n");
    return 2;
}

static const struct sv_toolchain *family_arg(const char *name)
{
    const struct sv_toolchain *t = sv_toolchain_find(name);
    if (t == NULL) {
        const char *names[16];
        size_t n = 0;
        for (const struct sv_toolchain *k; n < 16 && (k = sv_toolchain_at(n)) != NULL; n++)
            names[n] = k->name;
        const char *s = sv_suggest(name, names, n);
        fprintf(stderr,
                "servos toolchain: no family \"%s\"%s%s%s (avr, cortex-m, arm64, armhf, "
                "micropython; servos toolchain ls)\n",
                name, s ? " (did you mean \"" : "", s ? s : "", s ? "\"?)" : "");
    }
    return t;
}

static int toolchain_ls(int argc, char **argv)
{
    bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !json)
        return toolchain_misuse("ls: unexpected \"%s\"", argv[1]);
    cleanup_json json_t *all = json_array();
    if (!json)
        printf("%-12s %-8s %10s  %s\n", "FAMILY", "STATE", "SIZE", "IMAGE");
    for (size_t i = 0; sv_toolchain_at(i); i++) {
        const struct sv_toolchain *t = sv_toolchain_at(i);
        struct sv_toolchain_state s;
        sv_error_t err = NULL;
        if (sv_toolchain_state(t, &s, &err) < 0)
            return sv_error_report(&err);
        cleanup_free char *image = sv_toolchain_image(t);
        const char *state = t->host          ? "host"
                            : t->unavailable ? "n/a"
                            : s.digest[0]    ? "built"
                            : s.older        ? "outdated"
                                             : "missing";
        const char *what = t->host          ? "the \"host\" image: this host's own tools"
                           : t->unavailable ? t->unavailable
                                            : image;
        if (json) {
            json_t *o = json_object();
            json_object_set_new(o, "family", json_string(t->name));
            json_object_set_new(o, "state", json_string(state));
            json_object_set_new(o, "image", image ? json_string(image) : json_null());
            json_object_set_new(o, "digest", s.digest[0] ? json_string(s.digest) : json_null());
            json_object_set_new(o, "size", json_integer(s.size));
            json_object_set_new(o, "summary", json_string(t->summary));
            if (t->unavailable)
                json_object_set_new(o, "unavailable", json_string(t->unavailable));
            json_array_append_new(all, o);
            continue;
        }
        char size[32] = "-";
        if (s.size > 0)
            snprintf(size, sizeof(size), "%.1f MB", (double)s.size / 1e6);
        printf("%-12s %-8s %10s  %s\n", t->name, state, size, what);
    }
    if (json) {
        char *text = json_dumps(all, JSON_INDENT(2));
        printf("%s\n", text);
        free(text);
    }
    return 0;
}

static int toolchain_build(int argc, char **argv)
{
    struct sv_toolchain_opts o = {.progress = stderr};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--base") == 0 && i + 1 < argc)
            o.base = argv[++i];
        else if (strncmp(argv[i], "--base=", 7) == 0)
            o.base = argv[i] + 7;
        else if (strcmp(argv[i], "--no-cache") == 0)
            o.rebuild = true;
        else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
            o.progress = NULL;
        else
            return toolchain_misuse("build: unknown option \"%s\"", argv[i]);
    }
    if (i == argc)
        return toolchain_misuse("build: which family? (avr, cortex-m, arm64, armhf, micropython)");
    catch_signals();
    for (; i < argc; i++) {
        const struct sv_toolchain *t = family_arg(argv[i]);
        if (t == NULL)
            return 2;
        if (t->host) {
            printf("%s: the host's own tools (the \"host\" image); nothing to build\n", t->name);
            continue;
        }
        sv_error_t err = NULL;
        cleanup_free char *image = NULL;
        if (sv_toolchain_ensure(t, &o, &image, &err) < 0)
            return sv_error_report(&err);
        printf("%s\n", image);
    }
    return 0;
}

/* The manifest digests containers in the store use. */
static char **digests_in_use(void)
{
    cleanup_store struct sv_store *st = NULL;
    struct sv_ctr_row *rows = NULL;
    size_t n = 0;
    sv_error_t err = NULL;
    if (sv_store_open(&st, &err) < 0 || sv_store_list(st, &rows, &n, &err) < 0)
        sv_error_free(&err);
    char **v = sv_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0, k = 0; i < n; i++) {
        cleanup_json json_t *j = json_loads(rows[i].spec_json ? rows[i].spec_json : "", 0, NULL);
        const char *d = json_string_value(json_object_get(j, "image_digest"));
        if (d)
            v[k++] = sv_xstrdup(d);
    }
    sv_ctr_rows_free(rows, n);
    return v;
}

static int toolchain_rm(int argc, char **argv)
{
    if (argc < 2)
        return toolchain_misuse("rm: which family? (servos toolchain ls)");
    cleanup_strv char **used = digests_in_use();
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const struct sv_toolchain *t = family_arg(argv[i]);
        if (t == NULL)
            return 2;
        sv_error_t err = NULL;
        int removed;
        if (sv_toolchain_remove(t, (const char *const *)used, &removed, &err) < 0) {
            rc = sv_error_report(&err);
            continue;
        }
        printf("%s: %d image%s removed\n", t->name, removed, removed == 1 ? "" : "s");
    }
    return rc;
}

int sv_cmd_toolchain(int argc, char **argv)
{
    if (sv_cli_wants_help(argc, argv)) {
        fputs(sv_cli_find("toolchain")->usage, stdout);
        return 0;
    }
    if (argc < 2)
        return toolchain_misuse("which? ls, build or rm");
    if (argv[1][0] == '-')
        return toolchain_misuse("unknown option \"%s\"", argv[1]);
    if (strcmp(argv[1], "ls") == 0)
        return toolchain_ls(argc - 1, argv + 1);
    if (strcmp(argv[1], "build") == 0)
        return toolchain_build(argc - 1, argv + 1);
    if (strcmp(argv[1], "rm") == 0)
        return toolchain_rm(argc - 1, argv + 1);
    return toolchain_misuse("unknown sub-command \"%s\"", argv[1]);
}
