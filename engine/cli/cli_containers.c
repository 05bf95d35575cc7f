/* servos ls, stop, rm, logs, exec: containers by name or id prefix. */
#include "cli/cli.h"
#include "runtime/container.h"
#include "log/logfile.h"
#include "runtime/pty.h"

#include <errno.h>
#include <fcntl.h>
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

/* Parse only -h/--help and the given options (shortopts starts with
 * "+:"); on(c, optarg) < 0 refuses a value. Returns optind, or -1 after
 * saying what is wrong (*code holds the exit code). */
static int simple_opts(const char *verb, int argc, char **argv, const char *shortopts,
                       const struct option *longopts, int (*on)(int c, const char *arg), int *code)
{
    const struct sv_verb *v = sv_cli_find(verb);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == 'h') {
            *code = sv_cli_usage(v, false);
            return -1;
        }
        if (c == '?' || c == ':' || on == NULL) {
            *code = sv_cli_bad_option(v, c, argv);
            return -1;
        }
        int rc = on(c, optarg);
        if (rc == -2) { /* on() said what is wrong, in one line */
            *code = 2;
            return -1;
        }
        if (rc < 0) {
            const char *name = "";
            for (const struct option *o = longopts; o->name; o++)
                if (o->val == c)
                    name = o->name;
            *code = sv_cli_misuse(v, "bad value \"%s\" for --%s", optarg ? optarg : "", name);
            return -1;
        }
    }
    return optind;
}

static bool row_running(const struct sv_ctr_row *r)
{
    return r->status == SV_CTR_RUNNING && sv_pid_alive(r->pid, r->pid_start);
}

/* Exited, but its monitor is alive to start it again (its back-off). */
static bool restarting(const struct sv_ctr_row *r)
{
    struct sv_stop_how how;
    sv_container_stop_how(r, &how);
    cleanup_free char *mark = sv_container_stop_mark(r->id);
    return how.restarts && !row_running(r) && access(mark, F_OK) < 0 &&
           sv_container_monitored(r->id);
}

static void status_text(const struct sv_ctr_row *r, char *buf, size_t size)
{
    if (row_running(r))
        snprintf(buf, size, "running");
    else if (r->status == SV_CTR_EXITED && restarting(r))
        snprintf(buf, size, "restarting (exited %d)", r->exit_code);
    else if (r->status == SV_CTR_EXITED)
        snprintf(buf, size, "exited (%d%s)", r->exit_code, r->oom ? ", OOM killed" : "");
    else if (r->status == SV_CTR_RUNNING)
        snprintf(buf, size, "exited (unknown)"); /* its monitor died with it */
    else
        snprintf(buf, size, "created");
}

static void ago(int64_t t, char *buf, size_t size)
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

static bool quiet, ls_json;
static char **ls_filters;
static size_t n_ls_filters;
static int ls_opt(int c, const char *arg)
{
    switch (c) {
    case 'q':
        quiet = true;
        return 0;
    case 'F':
        if (strcmp(arg, "json") != 0 && strcmp(arg, "table") != 0) {
            fprintf(stderr, "servos ls: --format: expected table or json, got \"%s\"\n", arg);
            return -2;
        }
        ls_json = strcmp(arg, "json") == 0;
        return 0;
    case 'f':
        if (strncmp(arg, "label=", 6) != 0 || arg[6] == '\0' || arg[6] == '=') {
            fprintf(stderr,
                    "servos ls: --filter: expected label=KEY or label=KEY=VALUE, got \"%s\"\n",
                    arg);
            return -2;
        }
        ls_filters = sv_xrealloc(ls_filters, (n_ls_filters + 1) * sizeof(*ls_filters));
        ls_filters[n_ls_filters++] = (char *)arg + 6;
        return 0;
    }
    return -1;
}

/* The recorded spec, or an empty object. */
static json_t *row_spec(const struct sv_ctr_row *r)
{
    json_t *o = r->spec_json ? json_loads(r->spec_json, 0, NULL) : NULL;
    return o ? o : json_object();
}

/* Does the container have every label the filters ask for (KEY: any
 * value; KEY=VALUE: that value)? */
static bool ls_match(json_t *spec)
{
    json_t *labels = json_object_get(spec, "labels");
    for (size_t i = 0; i < n_ls_filters; i++) {
        const char *f = ls_filters[i], *eq = strchr(f, '=');
        cleanup_free char *key = eq ? sv_xstrndup(f, (size_t)(eq - f)) : sv_xstrdup(f);
        const char *have = json_string_value(json_object_get(labels, key));
        if (have == NULL || (eq && strcmp(have, eq + 1) != 0))
            return false;
    }
    return true;
}

static json_t *ls_row_json(const struct sv_ctr_row *r, json_t *spec, const char *status)
{
    bool running = row_running(r);
    json_t *labels = json_object_get(spec, "labels"), *ports = json_object_get(spec, "ports");
    labels = labels ? json_incref(labels) : json_object();
    ports = ports ? json_incref(ports) : json_array();
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:o, s:o}", "id", r->id, "name",
                          r->name, "image", r->image, "command", r->command, "state",
                          running                                  ? "running"
                          : strncmp(status, "restarting", 10) == 0 ? "restarting"
                          : r->status == SV_CTR_CREATED            ? "created"
                                                                   : "exited",
                          "status", status, "created", (json_int_t)r->created, "restarts",
                          r->restarts, "labels", labels, "ports", ports);
    json_object_set_new(o, "pid", running ? json_integer(r->pid) : json_null());
    json_object_set_new(o, "exit_code",
                        !running && r->status == SV_CTR_EXITED ? json_integer(r->exit_code)
                                                               : json_null());
    json_object_set_new(o, "oom", json_boolean(r->oom));
    const char *restart = json_string_value(json_object_get(spec, "restart"));
    json_object_set_new(o, "restart", json_string(restart ? restart : "no"));
    if (r->stack) {
        json_object_set_new(o, "stack", json_string(r->stack));
        json_object_set_new(o, "service", json_string(r->service ? r->service : ""));
        json_object_set_new(o, "replica", json_integer(r->replica));
    }
    return o;
}

int sv_cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {{"quiet", no_argument, NULL, 'q'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"filter", required_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int code = 0;
    quiet = false;
    ls_json = false;
    ls_filters = NULL;
    n_ls_filters = 0;
    int i = simple_opts("ls", argc, argv, "+:qf:h", opts, ls_opt, &code);
    cleanup_free char **filters = ls_filters;
    if (i < 0)
        return code;
    if (i < argc)
        return sv_cli_misuse(sv_cli_find("ls"),
                             "takes no name (\"%s\"): it lists every container (--filter "
                             "label=KEY=VALUE selects); a stack's replicas are in servos ps -p "
                             "STACK",
                             argv[i]);
    struct sv_store *st = NULL;
    if (open_store(&st))
        return 1;
    sv_error_t err = NULL;
    struct sv_ctr_row *rows;
    size_t n;
    if (sv_store_list(st, &rows, &n, &err) < 0) {
        sv_store_close(st);
        return sv_error_report(&err);
    }
    json_t *all = ls_json ? json_array() : NULL;
    if (!quiet && !ls_json)
        printf("%-12s  %-20s  %-16s  %-24s  %-24s  %s\n", "ID", "NAME", "IMAGE", "COMMAND",
               "STATUS", "CREATED");
    for (size_t k = 0; k < n; k++) {
        const struct sv_ctr_row *r = &rows[k];
        json_t *spec = row_spec(r);
        if (!ls_match(spec)) {
            json_decref(spec);
            continue;
        }
        char status[64], created[32], cmd[25];
        status_text(r, status, sizeof(status));
        if (ls_json) {
            json_array_append_new(all, ls_row_json(r, spec, status));
        } else if (quiet) {
            printf("%.12s\n", r->id);
        } else {
            ago(r->created, created, sizeof(created));
            snprintf(cmd, sizeof(cmd), "%s", r->command);
            if (strlen(r->command) > 24)
                memcpy(cmd + 21, "...", 4);
            printf("%-12.12s  %-20s  %-16s  %-24s  %-24s  %s\n", r->id, r->name, r->image, cmd,
                   status, created);
        }
        json_decref(spec);
    }
    if (ls_json) {
        json_dumpf(all, stdout, JSON_INDENT(2));
        putchar('\n');
        json_decref(all);
    }
    sv_ctr_rows_free(rows, n);
    sv_store_close(st);
    return 0;
}

/* Wait up to ms for the init process to be gone (reaped or a zombie). */
static bool wait_gone(const struct sv_ctr_row *r, int ms)
{
    for (int t = 0; t < ms; t += 10) {
        if (!sv_pid_alive(r->pid, r->pid_start))
            return true;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    return !sv_pid_alive(r->pid, r->pid_start);
}

/* After the init process is gone: give its monitor a moment to record the
 * exit; when there is no monitor any more, record it ourselves. */
static void settle(struct sv_store *st, const struct sv_ctr_row *r, int sig)
{
    for (int t = 0; t < 3000; t += 10) {
        struct sv_ctr_row now;
        sv_error_t err = NULL;
        if (sv_store_find(st, r->id, &now, &err) < 0) {
            sv_error_free(&err);
            return; /* removed (run --rm) */
        }
        bool done = now.status != SV_CTR_RUNNING;
        bool monitor = now.monitor > 0 && kill(now.monitor, 0) == 0;
        sv_ctr_row_clear(&now);
        if (done)
            return;
        if (!monitor) {
            sv_store_set_exited(st, r->id, 128 + sig, false, &err);
            sv_error_free(&err);
            return;
        }
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* A container with a restart policy: once its monitor is gone, nothing
 * starts it again. A start that raced the mark is killed (the monitor
 * kills it too, once it sees the mark). */
static void wait_monitor(struct sv_store *st, const struct sv_ctr_row *r, int ms)
{
    for (int t = 0; t < ms && sv_container_monitored(r->id); t += 10) {
        struct sv_ctr_row now;
        sv_error_t err = NULL;
        if (sv_store_find(st, r->id, &now, &err) < 0) {
            sv_error_free(&err);
            return;
        }
        if (row_running(&now))
            kill(now.pid, SIGKILL);
        sv_ctr_row_clear(&now);
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Stop it with its stop signal (--stop-signal, else the image's, else
 * SIGTERM), then SIGKILL after timeout_s seconds (< 0: its own
 * --stop-timeout, else 10). One that a monitor restarts is marked first,
 * so the monitor starts it no more. */
static int stop_one(struct sv_store *st, const struct sv_ctr_row *r, int timeout_s)
{
    struct sv_stop_how how;
    sv_container_stop_how(r, &how);
    if (timeout_s < 0)
        timeout_s = how.timeout;
    if (how.restarts) {
        cleanup_free char *mark = sv_container_stop_mark(r->id);
        int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno != ENOENT)
            fprintf(stderr, "servos: cannot mark %s stopped (%s): %s\n", r->name, mark,
                    strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    int sig = SIGKILL;
    if (row_running(r)) {
        kill(r->pid, how.signal);
        sig = how.signal;
        if (!wait_gone(r, timeout_s * 1000)) {
            kill(r->pid, SIGKILL); /* pid 1 dies, and the kernel kills its namespace */
            sig = SIGKILL;
            wait_gone(r, 5000);
        }
    }
    settle(st, r, sig);
    if (how.restarts)
        wait_monitor(st, r, 15000);
    return 0;
}

static int stop_timeout;
static int stop_opt(int c, const char *arg)
{
    if (c != 't')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < 0 || v > SV_STOP_TIMEOUT_MAX)
        return -1; /* "bad value for --time" (whole seconds, 0 to SV_STOP_TIMEOUT_MAX) */
    stop_timeout = (int)v;
    return 0;
}

/* Apply fn to every named container; exit 1 if any failed. */
static int each(int argc, char **argv, int first, const char *verb,
                int (*fn)(struct sv_store *, const struct sv_ctr_row *))
{
    if (first >= argc)
        return sv_cli_misuse(sv_cli_find(verb), "name at least one container");
    struct sv_store *st = NULL;
    if (open_store(&st))
        return 1;
    int rc = 0;
    for (int i = first; i < argc; i++) {
        struct sv_ctr_row r;
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
        if (fn(st, &r) < 0)
            rc = 1;
        else
            printf("%s\n", argv[i]);
        sv_ctr_row_clear(&r);
    }
    sv_store_close(st);
    return rc;
}

static int stop_fn(struct sv_store *st, const struct sv_ctr_row *r)
{
    return stop_one(st, r, stop_timeout);
}

int sv_cmd_stop(int argc, char **argv)
{
    static const struct option opts[] = {{"time", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int code = 0;
    stop_timeout = -1; /* each container's own */
    int i = simple_opts("stop", argc, argv, "+:t:h", opts, stop_opt, &code);
    if (i < 0)
        return code;
    return each(argc, argv, i, "stop", stop_fn);
}

static bool force;
static int rm_opt(int c, const char *arg)
{
    (void)arg;
    if (c != 'f')
        return -1;
    force = true;
    return 0;
}

static int rm_fn(struct sv_store *st, const struct sv_ctr_row *r)
{
    if (row_running(r) || restarting(r)) {
        if (!force) {
            fprintf(stderr, "servos: container %s is %s; stop it first or use servos rm -f\n",
                    r->name, row_running(r) ? "running" : "restarting");
            return -1;
        }
        stop_one(st, r, 0);
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
    force = false;
    int i = simple_opts("rm", argc, argv, "+:fh", opts, rm_opt, &code);
    if (i < 0)
        return code;
    return each(argc, argv, i, "rm", rm_fn);
}

static bool follow, timestamps;
static long tail_lines;
static const char *project;
static int logs_opt(int c, const char *arg)
{
    char *end;
    switch (c) {
    case 'f':
        follow = true;
        return 0;
    case 'n':
        tail_lines = strtol(arg, &end, 10);
        return *end || tail_lines < 0 ? -1 : 0;
    case 'p':
        project = arg;
        return 0;
    case 't':
        timestamps = true;
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
static int container_logs(struct sv_store *st, struct sv_ctr_row *r)
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
    (void)st;
    struct sv_log_reader rd;
    sv_log_reader_init(&rd, path);
    if (tail_lines >= 0)
        sv_log_reader_seek(&rd, tail_lines);
    copy_available(&rd);
    while (follow && row_running(r)) {
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
    follow = false;
    timestamps = false;
    tail_lines = -1;
    project = NULL;
    int i = simple_opts("logs", argc, argv, "+:fn:tp:h", opts, logs_opt, &code);
    if (i < 0)
        return code;
    if (argc - i > 1)
        return sv_cli_misuse(sv_cli_find("logs"), "name one container or service, not %d",
                             argc - i);
    /* A container of `servos run`, by name or id; else a stack's service. */
    if (argc - i == 1 && project == NULL) {
        struct sv_store *st = NULL;
        if (open_store(&st))
            return 1;
        struct sv_ctr_row r;
        sv_error_t err = NULL;
        if (sv_store_find(st, argv[i], &r, &err) == 0 && r.stack == NULL) {
            int rc = container_logs(st, &r);
            sv_ctr_row_clear(&r);
            sv_store_close(st);
            return rc;
        }
        if (err == NULL)
            sv_ctr_row_clear(&r);
        sv_error_free(&err);
        sv_store_close(st);
    }
    return sv_stack_logs(project, argc - i == 1 ? argv[i] : NULL, follow, tail_lines, timestamps);
}

static struct sv_exec_io exec_io;
static int exec_opt(int c, const char *arg)
{
    switch (c) {
    case 'p':
        project = arg;
        return 0;
    case 'i':
        exec_io.interactive = true;
        return 0;
    case 't':
        exec_io.tty = true;
        return 0;
    }
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
    project = NULL;
    exec_io = (struct sv_exec_io){0};
    int i = simple_opts("exec", argc, argv, "+:p:hit", opts, exec_opt, &code);
    if (i < 0)
        return code;
    if (argc - i == 0)
        return sv_cli_misuse(sv_cli_find("exec"), "name a container or service, and a command");
    if (argc - i == 1)
        return sv_cli_misuse(sv_cli_find("exec"), "which command, in \"%s\"?", argv[i]);
    if (exec_io.tty && exec_io.interactive && !isatty(STDIN_FILENO)) {
        fprintf(stderr, "servos exec: the input device is not a TTY (-t needs one with -i)\n");
        return 125;
    }
    if (!exec_io.tty)
        sv_main_stdio_writeonly();
    struct winsize ws;
    if (exec_io.tty && sv_pty_user_size(&ws)) {
        exec_io.rows = ws.ws_row;
        exec_io.cols = ws.ws_col;
    }
    struct sv_store *st = NULL;
    if (open_store(&st))
        return 125;
    struct sv_ctr_row r;
    sv_error_t err = NULL;
    int found = project ? -1 : sv_store_find(st, argv[i], &r, &err);
    if (found < 0) {
        /* SERVICE or SERVICE-N of the stack here (or -p NAME). */
        cleanup_free char *ref = sv_stack_replica_ref(project, argv[i]);
        sv_error_t e2 = NULL;
        if (ref && sv_store_find(st, ref, &r, &e2) == 0) {
            sv_error_free(&err);
            found = 0;
        }
        sv_error_free(&e2);
    }
    sv_store_close(st);
    if (found < 0) {
        if (err && err->status != ENOENT)
            sv_error_report(&err);
        else
            sv_stack_say_missing("exec", project, argv[i]);
        sv_error_free(&err);
        return 125;
    }
    int exit_code = 0;
    fflush(NULL);
    if (sv_container_exec_io(&r, argv + i + 1, &exec_io, &exit_code, &err) < 0) {
        sv_error_report(&err);
        sv_ctr_row_clear(&r);
        return exit_code ? exit_code : 125;
    }
    sv_ctr_row_clear(&r);
    return exit_code;
}
