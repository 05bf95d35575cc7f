/* `servos board build | flash | emulate | monitor`: the options, then
 * board/bverb.h (emulate is board/isolate.h's run). */
#include "cli/cli.h"
#include "board/bverb.h"
#include "build/build.h"
#include "graph/units.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct board_args {
    struct sv_isolate_opts o;
    const char *sub;
    unsigned baud;
    bool quiet, time_given;
};

static int board_misuse(const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int board_misuse(const char *sub, const char *fmt, ...)
{
    fprintf(stderr, "servos board %s: ", sub);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    const char *line = strstr(sv_cli_find("board")->usage, sub);
    fprintf(stderr, "; usage: servos board %.*s\n", line ? (int)strcspn(line, "\n") : 0,
            line ? line : "");
    return 2;
}

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

/* Where the port is inside the flash step's container: its own name when
 * it is one of /dev's (/dev/ttyUSB0), else /dev/ttyBOARD (a by-id link,
 * a pseudo-terminal: the container's /dev/pts is its own). */
static const char *port_inside(const char *port)
{
    const char *rest = strncmp(port, "/dev/", 5) == 0 ? port + 5 : NULL;
    return rest && *rest && !strchr(rest, '/') ? port : "/dev/ttyBOARD";
}

static int board_opt(void *args, int c, const char *arg)
{
    struct board_args *a = args;
    char *end;
    switch (c) {
    case 'p':
        a->o.platform = arg;
        return 0;
    case 'B':
        a->o.board = arg;
        return 0;
    case 'D':
        a->o.device = arg;
        a->o.port = port_inside(arg);
        return 0;
    case 'b':
        a->baud = (unsigned)strtoul(arg, &end, 10);
        return *end == '\0' && a->baud > 0 ? 0 : -1;
    case 'S':
        a->time_given = true;
        return duration_s(arg, &a->o.sim_time);
    case 'R':
        a->o.realtime = true;
        return 0;
    case 'T':
        return duration_s(arg, &a->o.timeout);
    case 'i':
        a->o.interactive = true;
        return 0;
    case 'q':
        a->quiet = true;
        return 0;
    }
    return -1;
}

static void on_signal(int sig)
{
    (void)sig;
    sv_build_interrupt();
}

static int report(sv_error_t *err)
{
    int rc = (*err)->status == EINTR ? 130 : 1;
    fprintf(stderr, "servos board: %s\n", (*err)->msg);
    sv_error_free(err);
    return rc;
}

static int board_build(struct board_args *a)
{
    sv_error_t err = NULL;
    cleanup_strv char **written = NULL;
    if (sv_bverb_build(&a->o, &written, &err) < 0)
        return report(&err);
    for (char **w = written; *w; w++)
        printf("%s\n", *w);
    return 0;
}

static int board_run(struct board_args *a)
{
    sv_error_t err = NULL;
    struct sv_isolate_result r;
    bool flash = strcmp(a->sub, "flash") == 0;
    if ((flash ? sv_bverb_flash(&a->o, &r, &err) : sv_isolate_run(&a->o, &r, &err)) < 0)
        return report(&err);
    const char *v = sv_isolate_verdict_name(r.verdict);
    if (r.verdict == SV_VERDICT_OK)
        fprintf(stderr, "servos board %s: ok (%s, %.2f s)\n", a->sub, r.what, r.seconds);
    else
        fprintf(stderr, "servos board %s: %s (exit %d; %s)\n", a->sub, v, r.code, r.what);
    return r.verdict == SV_VERDICT_OK            ? 0
           : r.verdict == SV_VERDICT_TIMEOUT     ? 124
           : r.verdict == SV_VERDICT_OOM         ? 137
           : r.verdict == SV_VERDICT_INTERRUPTED ? 130
           : r.code                              ? r.code
                                                 : 1;
}

int sv_cmd_board(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("board");
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(v->usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (argv[1][0] == '-') {
        fprintf(stderr,
                "servos board: unknown option \"%s\"; usage: servos board "
                "build|flash|emulate|monitor ... (servos board --help)\n",
                argv[1]);
        return 2;
    }
    static const char *const subs[] = {"build", "flash", "emulate", "monitor"};
    struct board_args a = {
        .sub = argv[1],
        .baud = 115200,
        .o = {.timeout = 60, .limits = {.memory = -1, .cpus = -1, .pids = 256}},
    };
    bool known = false;
    for (size_t i = 0; i < SV_ARRAY_LEN(subs); i++)
        known |= strcmp(a.sub, subs[i]) == 0;
    if (!known) {
        const char *s = sv_suggest(a.sub, subs, SV_ARRAY_LEN(subs));
        fprintf(stderr,
                "servos board: unknown sub-command \"%s\"%s%s%s (build, flash, emulate, "
                "monitor)\n",
                a.sub, s ? " (did you mean \"" : "", s ? s : "", s ? "\"?)" : "");
        return 2;
    }
    static const struct option opts[] = {
        {"platform", required_argument, NULL, 'p'},
        {"board", required_argument, NULL, 'B'},
        {"port", required_argument, NULL, 'D'},
        {"baud", required_argument, NULL, 'b'},
        {"time", required_argument, NULL, 'S'},
        {"realtime", no_argument, NULL, 'R'},
        {"timeout", required_argument, NULL, 'T'},
        {"interactive", no_argument, NULL, 'i'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int code,
        first = sv_cli_parse_opts(v, argc - 1, argv + 1, "+:p:iqh", opts, board_opt, &a, &code);
    if (first < 0)
        return code;
    first++;
    bool monitor = strcmp(a.sub, "monitor") == 0;
    if (monitor) {
        if (a.o.device == NULL)
            return board_misuse("monitor", "which port? (--port /dev/ttyACM0)");
        if (first < argc)
            return board_misuse("monitor", "unexpected \"%s\"", argv[first]);
        sv_error_t err = NULL;
        double timeout = a.o.timeout == 60 ? 0 : a.o.timeout;
        return sv_bverb_monitor(a.o.device, a.baud, timeout, &err) < 0 ? report(&err) : 0;
    }
    if (first == argc)
        return board_misuse(a.sub, "which sources? (a sketch directory, a .ino, a .c%s)",
                            strcmp(a.sub, "build") == 0 ? "" : ", a firmware");
    if (argc - first > 1 && strcmp(a.sub, "emulate") != 0)
        return board_misuse(a.sub, "one source, not also \"%s\"", argv[first + 1]);
    if (strcmp(a.sub, "flash") == 0 && a.o.port == NULL)
        return board_misuse("flash", "which port? (--port /dev/ttyACM0)");
    a.o.script = argv[first];
    a.o.args = argv + first + 1;
    a.o.flash = strcmp(a.sub, "flash") == 0;
    if (strcmp(a.sub, "emulate") == 0 && !a.time_given)
        a.o.sim_time = 10;
    a.o.progress = a.quiet ? NULL : stderr;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < SV_ARRAY_LEN(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
    if (strcmp(a.sub, "build") == 0) {
        a.o.build_only = true;
        return board_build(&a);
    }
    return board_run(&a);
}
