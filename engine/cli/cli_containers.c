/* servos ls, stop, rm, logs, exec: the containers of `servos run`, by name
 * or id prefix (logs and exec also take a stack's SERVICE[-N]). Stopping
 * itself is runtime/stop.h's. */
#include "cli/cli.h"
#include "core/json.h"
#include "log/logfile.h"
#include "runtime/container.h"
#include "runtime/ctrjson.h"
#include "runtime/monitor.h"
#include "runtime/pty.h"
#include "runtime/stop.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int open_store(struct sv_store **st)
{
    sv_error_t err = NULL;
    if (sv_store_open(st, &err) < 0)
        return sv_error_report(&err);
    return 0;
}

/* ---- ls ------------------------------------------------------------------------- */

/* How long ago unix time t was, in its largest unit ("5m ago"). */
static void time_ago(int64_t t, char *buf, size_t size)
{
    int64_t d = (int64_t)time(NULL) - t;
    if (d < 0)
        d = 0;
    if (d < 60)
        snprintf(buf, size, "%llds ago", (long long)d);
    else if (d < 3600)
        snprintf(buf, size, "%lldm ago", (long long)(d / 60));
    else if (d < 86400)
        snprintf(buf, size, "%lldh ago", (long long)(d / 3600));
    else
        snprintf(buf, size, "%lldd ago", (long long)(d / 86400));
}

struct ls_args {
    bool quiet, json;
    const char **filters; /* label=KEY[=VALUE], less "label=" */
    size_t n_filters;
};

static int ls_opt(void *args, int c, const char *arg)
{
    struct ls_args *a = args;
    switch (c) {
    case 'q':
        a->quiet = true;
        return 0;
    case 'F':
        if (strcmp(arg, "json") != 0 && strcmp(arg, "table") != 0) {
            fprintf(stderr, "servos ls: --format: expected table or json, got \"%s\"\n", arg);
            return -2;
        }
        a->json = strcmp(arg, "json") == 0;
        return 0;
    case 'f':
        if (strncmp(arg, "label=", 6) != 0 || arg[6] == '\0' || arg[6] == '=') {
            fprintf(stderr,
                    "servos ls: --filter: expected label=KEY or label=KEY=VALUE, got \"%s\"\n",
                    arg);
            return -2;
        }
        a->filters = sv_xrealloc(a->filters, (a->n_filters + 1) * sizeof(*a->filters));
        a->filters[a->n_filters++] = arg + 6;
        return 0;
    }
    return -1;
}

/* Does the container have every label the filters ask for (KEY: any
 * value; KEY=VALUE: that value)? */
static bool ls_match(const struct ls_args *a, json_t *spec)
{
    json_t *labels = json_object_get(spec, "labels");
    for (size_t i = 0; i < a->n_filters; i++) {
        const char *f = a->filters[i], *eq = strchr(f, '=');
        cleanup_free char *key = eq ? sv_xstrndup(f, (size_t)(eq - f)) : sv_xstrdup(f);
        const char *have = json_string_value(json_object_get(labels, key));
        if (have == NULL || (eq && strcmp(have, eq + 1) != 0))
            return false;
    }
    return true;
}

static void ls_print_row(const struct sv_ctr_row *r, const char *status)
{
    char created[32], cmd[25];
    time_ago(r->created, created, sizeof(created));
    snprintf(cmd, sizeof(cmd), "%s", r->command);
    if (strlen(r->command) > 24)
        memcpy(cmd + 21, "...", 4);
    printf("%-12.12s  %-20s  %-16s  %-24s  %-24s  %s\n", r->id, r->name, r->image, cmd, status,
           created);
}

/* Every container the filters let through: its id (-q), its row, or
 * (--format json) an object in all. */
static void ls_print(const struct ls_args *a, const struct sv_ctr_row *rows, size_t n, json_t *all)
{
    if (!a->quiet && !a->json)
        printf("%-12s  %-20s  %-16s  %-24s  %-24s  %s\n", "ID", "NAME", "IMAGE", "COMMAND",
               "STATUS", "CREATED");
    for (size_t k = 0; k < n; k++) {
        const struct sv_ctr_row *r = &rows[k];
        cleanup_json json_t *spec = sv_ctrjson_spec(r);
        if (!ls_match(a, spec))
            continue;
        char status[64];
        sv_ctrjson_status(r, status, sizeof(status));
        if (a->json)
            json_array_append_new(all, sv_ctrjson_row(r, spec, status));
        else if (a->quiet)
            printf("%.12s\n", r->id);
        else
            ls_print_row(r, status);
    }
}

int sv_cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {{"quiet", no_argument, NULL, 'q'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"filter", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int code = 0;
    struct ls_args a = {0};
    int i = sv_cli_parse_opts(sv_cli_find("ls"), argc, argv, "+:qf:h", opts, ls_opt, &a, &code);
    cleanup_free const char **filters = a.filters;
    if (i < 0)
        return code;
    if (i < argc)
        return sv_cli_misuse(sv_cli_find("ls"),
                             "takes no name (\"%s\"): it lists every container (--filter "
                             "label=KEY=VALUE selects); a stack's replicas are in servos ps -p "
                             "STACK",
                             argv[i]);
    cleanup_store struct sv_store *st = NULL;
    if (open_store(&st))
        return 1;
    sv_error_t err = NULL;
    struct sv_ctr_row *rows;
    size_t n;
    if (sv_store_list(st, &rows, &n, &err) < 0)
        return sv_error_report(&err);
    cleanup_json json_t *all = a.json ? json_array() : NULL;
    ls_print(&a, rows, n, all);
    if (a.json) {
        sv_json_print(all, stdout, SV_JSON_PRETTY);
    }
    sv_ctr_rows_free(rows, n);
    return 0;
}

/* ---- stop, rm ------------------------------------------------------------------- */

/* Apply fn to every container named from argv[first] on, printing each
 * name done; exit 1 if any failed. */
static int for_each_named(int argc, char **argv, int first, const char *verb,
                          int (*fn)(struct sv_store *, const struct sv_ctr_row *, const void *),
                          const void *args)
{
    if (first >= argc)
        return sv_cli_misuse(sv_cli_find(verb), "name at least one container");
    cleanup_store struct sv_store *st = NULL;
    if (open_store(&st))
        return 1;
    int rc = 0;
    for (int i = first; i < argc; i++) {
        cleanup_row struct sv_ctr_row r = {0};
        sv_error_t err = NULL;
        if (sv_store_find(st, argv[i], &r, &err) < 0) {
            if (err->status == ENOENT) {
                fprintf(stderr, "servos %s: no container \"%s\" (servos ls lists them)\n", verb,
                        argv[i]);
                sv_error_free(&err);
                rc = 1;
            } else {
                rc = sv_error_report(&err);
            }
            continue;
        }
        if (fn(st, &r, args) < 0)
            rc = 1;
        else
            printf("%s\n", argv[i]);
    }
    return rc;
}

struct stop_args {
    int timeout; /* seconds; < 0: each container's own */
};

static int stop_opt(void *args, int c, const char *arg)
{
    struct stop_args *a = args;
    if (c != 't')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < 0 || v > SV_STOP_TIMEOUT_MAX)
        return -1; /* "bad value for --time" (whole seconds, 0 to SV_STOP_TIMEOUT_MAX) */
    a->timeout = (int)v;
    return 0;
}

static int stop_named(struct sv_store *st, const struct sv_ctr_row *r, const void *args)
{
    const struct stop_args *a = args;
    return sv_stop_container(st, r, a->timeout);
}

int sv_cmd_stop(int argc, char **argv)
{
    static const struct option opts[] = {{"time", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int code = 0;
    struct stop_args a = {.timeout = -1};
    int i = sv_cli_parse_opts(sv_cli_find("stop"), argc, argv, "+:t:h", opts, stop_opt, &a, &code);
    if (i < 0)
        return code;
    return for_each_named(argc, argv, i, "stop", stop_named, &a);
}

struct rm_args {
    bool force;
};

static int rm_opt(void *args, int c, const char *arg)
{
    struct rm_args *a = args;
    if (c != 'f')
        return -1;
    a->force = true;
    return 0;
}

static int rm_named(struct sv_store *st, const struct sv_ctr_row *r, const void *args)
{
    const struct rm_args *a = args;
    if (sv_ctr_row_running(r) || sv_monitor_restarting(r)) {
        if (!a->force) {
            fprintf(stderr, "servos: container %s is %s; stop it first or use servos rm -f\n",
                    r->name, sv_ctr_row_running(r) ? "running" : "restarting");
            return -1;
        }
        sv_stop_container(st, r, 0);
    }
    sv_error_t err = NULL;
    if (sv_container_remove(st, r->id, &err) < 0) {
        sv_error_report(&err);
        return -1;
    }
    return 0;
}

int sv_cmd_rm(int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int code = 0;
    struct rm_args a = {0};
    int i = sv_cli_parse_opts(sv_cli_find("rm"), argc, argv, "+:fh", opts, rm_opt, &a, &code);
    if (i < 0)
        return code;
    return for_each_named(argc, argv, i, "rm", rm_named, &a);
}

/* ---- logs ----------------------------------------------------------------------- */

struct logs_args {
    bool follow, timestamps;
    long tail; /* lines; < 0: all */
    const char *project;
};

static int logs_opt(void *args, int c, const char *arg)
{
    struct logs_args *a = args;
    char *end;
    switch (c) {
    case 'f':
        a->follow = true;
        return 0;
    case 'n':
        a->tail = strtol(arg, &end, 10);
        return *end || a->tail < 0 ? -1 : 0;
    case 'p':
        a->project = arg;
        return 0;
    case 't':
        a->timestamps = true;
        return 0;
    }
    return -1;
}

static int copy_available(struct sv_log_reader *rd)
{
    char buf[65536];
    ssize_t n;
    bool rotated;
    while ((n = sv_log_reader_peek(rd, buf, sizeof(buf), &rotated)) > 0) {
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
            return -1;
        sv_log_reader_skip(rd, (size_t)n);
    }
    fflush(stdout);
    return 0;
}

/* The log of a container started with `servos run -d`: its rotated files
 * (log.N ... log.1), oldest first, then log. */
static int container_logs(const struct sv_ctr_row *r, const struct logs_args *a)
{
    cleanup_free char *path = sv_xasprintf("%s/containers/%s/log", sv_state_root(), r->id);
    cleanup_free char *fifo = sv_xasprintf("%s.fifo", path);
    if (access(path, F_OK) < 0 && access(fifo, F_OK) < 0) {
        fprintf(stderr,
                "servos: %s has no log: it ran attached, so its output went to the "
                "terminal\n",
                r->name);
        return 1;
    }
    struct sv_log_reader rd;
    sv_log_reader_init(&rd, path);
    if (a->tail >= 0)
        sv_log_reader_seek(&rd, a->tail);
    copy_available(&rd);
    while (a->follow && sv_ctr_row_running(r)) {
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
        copy_available(&rd);
    }
    copy_available(&rd);
    sv_log_reader_free(&rd);
    return 0;
}

int sv_cmd_logs(int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},     {"tail", required_argument, NULL, 'n'},
        {"timestamps", no_argument, NULL, 't'}, {"project-name", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    int code = 0;
    struct logs_args a = {.tail = -1};
    int i =
        sv_cli_parse_opts(sv_cli_find("logs"), argc, argv, "+:fn:tp:h", opts, logs_opt, &a, &code);
    if (i < 0)
        return code;
    if (argc - i > 1)
        return sv_cli_misuse(sv_cli_find("logs"), "name one container or service, not %d",
                             argc - i);
    /* A container of `servos run`, by name or id; else a stack's service. */
    if (argc - i == 1 && a.project == NULL) {
        cleanup_store struct sv_store *st = NULL;
        if (open_store(&st))
            return 1;
        cleanup_row struct sv_ctr_row r = {0};
        sv_error_t err = NULL;
        if (sv_store_find(st, argv[i], &r, &err) == 0 && r.stack == NULL)
            return container_logs(&r, &a);
        sv_error_free(&err);
    }
    return sv_cli_stack_logs(a.project, argc - i == 1 ? argv[i] : NULL, a.follow, a.tail,
                             a.timestamps);
}

/* ---- exec ----------------------------------------------------------------------- */

struct exec_args {
    const char *project;
    struct sv_exec_io io;
};

static int exec_opt(void *args, int c, const char *arg)
{
    struct exec_args *a = args;
    switch (c) {
    case 'p':
        a->project = arg;
        return 0;
    case 'i':
        a->io.interactive = true;
        return 0;
    case 't':
        a->io.tty = true;
        return 0;
    }
    return -1;
}

/* The container ref names: a container (without -p), else SERVICE or
 * SERVICE-N of the stack here (or -p's). 0, or -1 after saying why not. */
static int exec_target(const char *project, const char *ref, struct sv_ctr_row *r)
{
    cleanup_store struct sv_store *st = NULL;
    if (open_store(&st))
        return -1;
    sv_error_t err = NULL;
    if (project == NULL && sv_store_find(st, ref, r, &err) == 0)
        return 0;
    sv_ctr_row_clear(r);
    cleanup_free char *replica = sv_cli_stack_replica_ref(project, ref);
    sv_error_t by_service = NULL;
    if (replica && sv_store_find(st, replica, r, &by_service) == 0) {
        sv_error_free(&err);
        return 0;
    }
    sv_error_free(&by_service);
    if (err && err->status != ENOENT)
        sv_error_report(&err);
    else
        sv_cli_stack_say_missing("exec", project, ref);
    sv_error_free(&err);
    return -1;
}

int sv_cmd_exec(int argc, char **argv)
{
    static const struct option opts[] = {{"project-name", required_argument, NULL, 'p'},
                                         {"interactive", no_argument, NULL, 'i'},
                                         {"tty", no_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int code = 0;
    struct exec_args a = {0};
    int i =
        sv_cli_parse_opts(sv_cli_find("exec"), argc, argv, "+:p:hit", opts, exec_opt, &a, &code);
    if (i < 0)
        return code;
    if (argc - i == 0)
        return sv_cli_misuse(sv_cli_find("exec"), "name a container or service, and a command");
    if (argc - i == 1)
        return sv_cli_misuse(sv_cli_find("exec"), "which command, in \"%s\"?", argv[i]);
    if (a.io.tty && a.io.interactive && !isatty(STDIN_FILENO)) {
        fprintf(stderr, "servos exec: the input device is not a TTY (-t needs one with -i)\n");
        return 125;
    }
    if (!a.io.tty)
        sv_main_stdio_writeonly();
    struct winsize ws;
    if (a.io.tty && sv_pty_user_size(&ws)) {
        a.io.rows = ws.ws_row;
        a.io.cols = ws.ws_col;
    }
    cleanup_row struct sv_ctr_row r = {0};
    if (exec_target(a.project, argv[i], &r) < 0)
        return 125;
    int exit_code = 0;
    sv_error_t err = NULL;
    fflush(NULL);
    if (sv_exec_run_io(&r, argv + i + 1, &a.io, &exit_code, &err) < 0) {
        sv_error_report(&err);
        return exit_code ? exit_code : 125;
    }
    return exit_code;
}
