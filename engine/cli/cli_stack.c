/* servos up, apply, pull, down, ps, scale, restart: stacks. The CLI
 * evaluates the file (so errors print here, with file:line), then hands
 * the work to the stack's supervisor (stack/client.h), starting one when
 * none runs; this file parses and prints. */
#include "cli/cli.h"
#include "core/json.h"
#include "core/statedir.h"
#include "git/gitrepo.h"
#include "lua/load.h"
#include "stack/client.h"
#include "stack/down.h"
#include "stack/follow.h"
#include "stack/lastup.h"
#include "stack/ps.h"
#include "stack/rows.h"
#include "stack/select.h"
#include "stack/stackbuild.h"
#include "stack/spec.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Verbs that take only -p NAME (and --help). */
static const struct option project_opts[] = {
    {"project-name", required_argument, NULL, 'p'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};
static int project_opt(void *project, int c, const char *arg)
{
    *(const char **)project = arg;
    return 0;
}

/* The stack's lock (stack/client.h); a stack directory that cannot be
 * made is said, and the command goes on without the lock. */
static int lock_stack(const char *stack)
{
    sv_error_t err = NULL;
    int fd = sv_client_lock(stack, &err);
    if (err)
        sv_error_report(&err);
    return fd;
}

static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig)
{
    (void)sig;
    interrupted++;
}

/* ---- up / apply ---------------------------------------------------------- */

/* "web, db (1 of 2)": the services of g with a running replica in rows,
 * or (running false) those without one. */
static char *services_running(const struct sv_graph *g, const struct sv_rows *rows, bool running)
{
    char *out = sv_xstrdup("");
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        int k = 0;
        for (size_t j = 0; j < rows->n; j++)
            k += strcmp(rows->v[j].service, s->name) == 0 && sv_ctr_row_running(&rows->v[j]);
        if ((k > 0) != running)
            continue;
        char count[32] = "";
        if (running && k < s->replicas)
            snprintf(count, sizeof(count), " (%d of %d)", k, s->replicas);
        char *next = sv_xasprintf("%s%s%s%s", out, *out ? ", " : "", s->name, count);
        free(out);
        out = next;
    }
    return out;
}

/* After a failed up or pull: say what is left of the stack, from what
 * runs (never a half only `ps` would reveal): the stack runs on, or
 * nothing of it is left. undone: its supervisor took back what the up
 * had started (sv_supervisor_spawn's ECANCELED) and is exiting. */
static void say_what_is_left(const char *stack, const struct sv_graph *g, bool undone)
{
    if (undone)
        sv_client_wait_gone(stack, 10000);
    cleanup_rows struct sv_rows rows = {0};
    sv_error_t err = NULL;
    if (sv_rows_list(NULL, stack, &rows, &err) < 0) {
        sv_error_free(&err);
        return;
    }
    if (sv_client_supervisor_alive(stack)) {
        cleanup_free char *up = services_running(g, &rows, true);
        cleanup_free char *down = services_running(g, &rows, false);
        if (*up)
            fprintf(stderr,
                    "servos: stack %s is still up; running: %s%s%s (servos ps -p %s shows it, "
                    "servos down -p %s stops it)\n",
                    stack, up, *down ? "; not running: " : "", down, stack, stack);
        else
            fprintf(stderr,
                    "servos: stack %s is still up, but none of its replicas runs (servos "
                    "down -p %s removes it)\n",
                    stack, stack);
    } else if (rows.n > 0) {
        fprintf(stderr,
                "servos: stack %s is not running, but %zu container%s of it %s left "
                "(servos down -p %s removes them)\n",
                stack, rows.n, rows.n == 1 ? "" : "s", rows.n == 1 ? "is" : "are", stack);
    } else {
        sv_down_forget(stack);
        if (undone)
            fprintf(stderr,
                    "servos: stack %s was not brought up: what had started of it was "
                    "stopped and removed\n",
                    stack);
    }
}

/* Attached: stream every replica's output until Ctrl-C, then down (a
 * second Ctrl-C kills every replica at once). */
static int attach(const char *stack)
{
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    {
        cleanup_follow struct sv_follow *f = sv_follow_open(stack, NULL, isatty(1), false);
        while (!interrupted) {
            sv_follow_print(f);
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    fprintf(stderr, "servos: stopping stack %s (Ctrl-C again to kill)\n", stack);
    sv_error_t err = NULL;
    pid_t child = fork();
    if (child == 0) {
        signal(SIGINT, SIG_DFL);
        _exit(sv_client_request(stack, "down", &err) < 0 ? sv_error_report(&err) : 0);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR)
            break;
        if (interrupted >= 2) { /* second Ctrl-C: kill every replica now */
            cleanup_rows struct sv_rows rows = {0};
            if (sv_rows_list(NULL, stack, &rows, &err) == 0)
                sv_rows_signal(&rows, SIGKILL);
            sv_error_free(&err);
            interrupted = 1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* Evaluate, save the request, have the supervisor converge; on failure,
 * say what is left. The graph and the stack's lock are held only for
 * this, not while an attached up follows the logs. */
static int up_converge(const char *file, const char *project, bool build, char **stack)
{
    sv_error_t err = NULL;
    cleanup_graph struct sv_graph *g = NULL;
    if (sv_load_graph(file, project, &g, &err) < 0)
        return sv_error_report(&err);
    /* A file is remembered by its real path; a git source as given (the
     * saved working directory resolves a relative repository path). */
    char real[4096];
    if (file && g->commit == NULL && realpath(file, real) == NULL) {
        sv_error(&err, errno, "cannot find the real path of %s", file);
        return sv_error_report(&err);
    }
    *stack = sv_xstrdup(g->stack);
    cleanup_free char *pins = sv_git_pins();
    cleanup_close int lock = lock_stack(g->stack);
    /* Images first: a build that fails leaves the stack as it was. */
    if (sv_stackbuild_run(g, build, &err) < 0)
        return sv_error_report(&err);
    int rc = sv_lastup_save(g->stack, file ? (g->commit ? file : real) : NULL, project, pins, &err);
    if (rc == 0)
        rc = sv_client_up(g->stack, g, &err);
    if (rc < 0) {
        bool undone = err && err->status == ECANCELED;
        sv_error_report(&err);
        say_what_is_left(g->stack, g, undone);
        return 1;
    }
    return 0;
}

struct up_args {
    bool detach, build;
    const char *project;
};

static int up_opt(void *args, int c, const char *arg)
{
    struct up_args *a = args;
    if (c == 'd')
        a->detach = true;
    else if (c == 'B')
        a->build = true;
    else
        a->project = arg;
    return 0;
}

static int do_up(int argc, char **argv, bool detach_default, const char *verb)
{
    const struct sv_verb *v = sv_cli_find(verb);
    static const struct option opts[] = {
        {"detach", no_argument, NULL, 'd'},
        {"project-name", required_argument, NULL, 'p'},
        {"build", no_argument, NULL, 'B'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct up_args a = {.detach = detach_default};
    int code, first = sv_cli_parse_opts(v, argc, argv, "+:dp:h", opts, up_opt, &a, &code);
    if (first < 0)
        return code;
    if (argc - first > 1)
        return sv_cli_misuse(v, "one FILE, DIR or GIT-SOURCE, not %d", argc - first);
    const char *file = first < argc ? argv[first] : NULL;
    cleanup_free char *stack = NULL;
    int rc = up_converge(file, a.project, a.build, &stack);
    if (rc != 0 || a.detach)
        return rc;
    return attach(stack);
}

int sv_cmd_up(int argc, char **argv)
{
    return do_up(argc, argv, false, "up");
}

int sv_cmd_apply(int argc, char **argv)
{
    return do_up(argc, argv, true, "apply");
}

/* ---- pull ------------------------------------------------------------------ */

/* "KEY: OLD -> NEW" per repository the stack reads; true when one moved. */
static bool report_commits(const char *before, const char *after)
{
    bool moved = false;
    for (const char *l = after; l && *l;) {
        const char *end = l + strcspn(l, "\n");
        const char *key = memchr(l, '\t', (size_t)(end - l));
        if (key && end - key > 42) {
            key++;
            cleanup_free char *k = sv_xstrndup(key, (size_t)(end - 41 - key));
            char old[41];
            const char *now = end - 40;
            if (!sv_git_pin_lookup(before, k, old)) {
                printf("%s: %.12s (new)\n", k, now);
                moved = true;
            } else if (strncmp(old, now, 40) != 0) {
                printf("%s: %.12s -> %.12s\n", k, old, now);
                moved = true;
            } else {
                printf("%s: %.12s (up to date)\n", k, now);
            }
        }
        l = *end ? end + 1 : end;
    }
    return moved;
}

/* What the supervisor is about to do, from the replicas' spec hashes. */
static void report_services(const char *stack, const struct sv_graph *g)
{
    cleanup_rows struct sv_rows rows = {0};
    sv_error_t err = NULL;
    if (sv_rows_list(NULL, stack, &rows, &err) < 0) {
        sv_error_free(&err);
        return;
    }
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        char hash[17];
        sv_spec_hash_hex(s, hash);
        bool seen = false, changed = false;
        for (size_t k = 0; k < rows.n; k++)
            if (strcmp(rows.v[k].service, s->name) == 0) {
                seen = true;
                changed |= rows.v[k].hash == NULL || strcmp(rows.v[k].hash, hash) != 0;
            }
        if (!seen || changed)
            printf("%s %s\n", seen ? "recreating" : "creating", s->name);
    }
    for (size_t k = 0; k < rows.n; k++)
        if (sv_graph_find(g, rows.v[k].service) == NULL &&
            (k == 0 || strcmp(rows.v[k - 1].service, rows.v[k].service) != 0))
            printf("removing %s\n", rows.v[k].service);
}

/* The stack's sources again at their branches' newest commits: said,
 * recorded, and converged to. */
static int pull_stack(const char *stack, const char *before, sv_error_t *err)
{
    cleanup_close int lock = lock_stack(stack);
    cleanup_graph struct sv_graph *g = NULL;
    if (sv_lastup_load(stack, SV_GIT_UPDATE, &g, err) < 0)
        return sv_error_wrap(err, "stack %s left as it was", stack);
    cleanup_free char *after = sv_git_pins();
    bool moved = report_commits(before, after);
    report_services(stack, g);
    int rc = moved ? sv_lastup_save_pins(stack, after, err) : 0;
    if (rc == 0 && (rc = sv_stackbuild_run(g, false, err)) < 0)
        return sv_error_wrap(err, "stack %s left as it was", stack);
    if (rc == 0 && (rc = sv_client_up(stack, g, err)) < 0) {
        bool undone = (*err)->status == ECANCELED;
        sv_error_report(err);
        say_what_is_left(stack, g, undone);
    }
    return rc;
}

int sv_cmd_pull(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("pull");
    const char *project = NULL;
    int code, first = sv_cli_parse_opts(v, argc, argv, "+:p:h", project_opts, project_opt, &project,
                                        &code);
    if (first < 0)
        return code;
    if (argc - first > 1 || (project && first < argc))
        return sv_cli_misuse(v, "name one stack, by -p STACK or as STACK");
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (sv_select_known_stack(first < argc ? argv[first] : project, &stack, &err) < 0)
        return sv_error_report(&err);
    cleanup_free char *request_file = sv_xasprintf("%s/stacks/%s/request", sv_state_root(), stack);
    if (access(request_file, F_OK) != 0) {
        fprintf(stderr, "servos: stack %s is not up (servos up brings it up)\n", stack);
        return 1;
    }
    cleanup_free char *before = sv_lastup_pins(stack);
    if (before == NULL) {
        fprintf(stderr,
                "servos: stack %s does not come from git, so there is nothing to pull (servos "
                "up applies changed files)\n",
                stack);
        return 1;
    }
    int rc = pull_stack(stack, before, &err);
    if (rc == 0)
        sv_gitrepo_prune(SV_LASTUP_GIT_IDLE);
    return rc < 0 && err ? sv_error_report(&err) : rc < 0 ? 1 : 0;
}

/* ---- down ------------------------------------------------------------------ */

struct down_args {
    bool volumes;
    long timeout; /* seconds; < 0: each replica's own */
    const char *project;
};

static int down_opt(void *args, int c, const char *arg)
{
    struct down_args *a = args;
    char *end;
    switch (c) {
    case 'v':
        a->volumes = true;
        break;
    case 't':
        a->timeout = strtol(arg, &end, 10);
        if (*end || a->timeout < 0 || end == arg) {
            sv_cli_misuse(sv_cli_find("down"), "-t wants whole seconds, not \"%s\"", arg);
            return -2;
        }
        break;
    default:
        a->project = arg;
    }
    return 0;
}

int sv_cmd_down(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("down");
    static const struct option opts[] = {
        {"volumes", no_argument, NULL, 'v'},
        {"timeout", required_argument, NULL, 't'},
        {"project-name", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct down_args a = {.timeout = -1};
    int code, first = sv_cli_parse_opts(v, argc, argv, "+:vt:p:h", opts, down_opt, &a, &code);
    if (first < 0)
        return code;
    if (first < argc)
        return sv_cli_misuse(v, "unexpected \"%s\" (a stack is named by -p STACK)", argv[first]);
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (sv_select_stack(a.project, &stack, &err) < 0)
        return sv_error_report(&err);
    if (a.project && !sv_select_exists(stack)) {
        /* Down is idempotent (scripts end with it), but a mistyped name
         * should not pass for a stack taken down. */
        sv_select_no_such(stack, &err);
        fprintf(stderr, "servos down: nothing to do: %s\n", err->msg);
        sv_error_free(&err);
        sv_gitrepo_prune(SV_LASTUP_GIT_IDLE); /* what every down does */
        return 0;
    }
    cleanup_close int lock = lock_stack(stack);
    if (sv_down_stack(stack, a.timeout, a.volumes, &err) < 0)
        return sv_error_report(&err);
    return 0;
}

/* ---- ps -------------------------------------------------------------------- */

static void print_ps_table(const char *stack, const struct sv_ps *ps)
{
    if (ps->from_git)
        printf("stack %s from %s at commit %.12s\n", stack, ps->source, ps->commit);
    printf("%-24s %-8s %-10s %-10s %-8s %-8s %-9s %-5s %-15s %s\n", "SERVICE", "REPLICA", "STATE",
           "HEALTH", "PID", "UPTIME", "RESTARTS", "EXIT", "ADDRESS", "PORTS");
    for (size_t i = 0; i < ps->rows.n; i++) {
        const struct sv_ps_replica *p = &ps->v[i];
        const struct sv_ctr_row *r = p->row;
        char exit_s[16] = "-", up_s[16] = "-";
        if (p->exited)
            snprintf(exit_s, sizeof(exit_s), "%d%s", r->exit_code, r->oom ? "!" : "");
        if (p->running)
            snprintf(up_s, sizeof(up_s), "%llds", p->uptime_s);
        printf("%-24s %-8d %-10s %-10s %-8d %-8s %-9d %-5s %-15s ", r->service, r->replica,
               p->state, r->health[0] ? r->health : "-", p->running ? (int)r->pid : 0, up_s,
               r->restarts, exit_s, p->address[0] ? p->address : "-");
        for (char **q = p->ports; q && *q; q++)
            printf("%s%s", q == p->ports ? "" : ", ", *q);
        printf("\n");
    }
}

struct ps_args {
    bool json;
    const char *project;
};

static int ps_opt(void *args, int c, const char *arg)
{
    struct ps_args *a = args;
    if (c == 'p') {
        a->project = arg;
        return 0;
    }
    if (strcmp(arg, "json") != 0 && strcmp(arg, "table") != 0) {
        sv_cli_misuse(sv_cli_find("ps"), "--format is json or table, not \"%s\"", arg);
        return -2;
    }
    a->json = strcmp(arg, "json") == 0;
    return 0;
}

int sv_cmd_ps(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("ps");
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"project-name", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct ps_args a = {0};
    int code, first = sv_cli_parse_opts(v, argc, argv, "+:p:h", opts, ps_opt, &a, &code);
    if (first < 0)
        return code;
    if (first < argc)
        return sv_cli_misuse(v, "unexpected \"%s\" (a stack is named by -p STACK)", argv[first]);
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (sv_select_known_stack(a.project, &stack, &err) < 0 ||
        sv_client_ensure_supervisor(stack, &err) < 0)
        return sv_error_report(&err);
    cleanup_ps struct sv_ps ps = {0};
    if (sv_ps_collect(stack, &ps, &err) < 0)
        return sv_error_report(&err);
    if (!a.json) {
        print_ps_table(stack, &ps);
        return 0;
    }
    cleanup_json json_t *doc = sv_ps_json(&ps);
    sv_json_print(doc, stdout, SV_JSON_PRETTY);
    return 0;
}

/* ---- scale, restart ---------------------------------------------------------- */

static int simple_request(int argc, char **argv, const char *verb, const char *want,
                          int (*build)(char **args, char *req, size_t size))
{
    const struct sv_verb *v = sv_cli_find(verb);
    const char *project = NULL;
    int code, first = sv_cli_parse_opts(v, argc, argv, "+:p:h", project_opts, project_opt, &project,
                                        &code);
    if (first < 0)
        return code;
    if (argc - first != 1)
        return argc == first ? sv_cli_misuse(v, "which %s?", want)
                             : sv_cli_misuse(v, "one %s, not %d", want, argc - first);
    char req[512];
    if (build(argv + first, req, sizeof(req)) < 0)
        return 2;
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (sv_select_known_stack(project, &stack, &err) < 0 ||
        sv_client_ensure_supervisor(stack, &err) < 0 || sv_client_request(stack, req, &err) < 0)
        return sv_error_report(&err);
    return 0;
}

static int build_scale(char **args, char *req, size_t size)
{
    const char *eq = strchr(args[0], '=');
    char *end;
    long n = eq ? strtol(eq + 1, &end, 10) : -1;
    if (eq == NULL || eq == args[0] || *end || eq[1] == '\0' || n < 0 || n > 1000) {
        sv_cli_misuse(sv_cli_find("scale"), "SERVICE=N (N from 0 to 1000), not \"%s\"", args[0]);
        return -1;
    }
    snprintf(req, size, "scale\t%.*s\t%ld", (int)(eq - args[0]), args[0], n);
    return 0;
}

static int build_restart(char **args, char *req, size_t size)
{
    snprintf(req, size, "restart\t%s", args[0]);
    return 0;
}

int sv_cmd_scale(int argc, char **argv)
{
    return simple_request(argc, argv, "scale", "SERVICE=N", build_scale);
}

int sv_cmd_restart(int argc, char **argv)
{
    return simple_request(argc, argv, "restart", "SERVICE", build_restart);
}

/* ---- logs and exec of a stack's services -------------------------------------- */

/* "it has web-1, web-2, db-1", and the name nearest to ref among the
 * services and replicas of rows. also: what was not found before. */
static void say_replicas(const char *verb, const char *also, const char *what, const char *ref,
                         const char *stack, const struct sv_rows *rows)
{
    cleanup_free const char **names = sv_xcalloc(2 * rows->n, sizeof(*names));
    char **labels = sv_xcalloc(rows->n + 1, sizeof(*labels));
    cleanup_free char *list = sv_xstrdup("");
    size_t k = 0;
    for (size_t i = 0; i < rows->n; i++) {
        const struct sv_ctr_row *r = &rows->v[i];
        labels[i] = sv_xasprintf("%s-%d", r->service, r->replica);
        char *next = sv_xasprintf("%s%s%s", list, *list ? ", " : "", labels[i]);
        free(list);
        list = next;
        if (i == 0 || strcmp(rows->v[i - 1].service, r->service) != 0)
            names[k++] = r->service;
        names[k++] = labels[i];
    }
    const char *near = sv_suggest(ref, names, k);
    fprintf(stderr, "servos %s: %sstack %s has no service or replica %s%s%s%s (it has %s)\n", verb,
            also, stack, what, near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "",
            list);
    sv_strv_free(labels);
}

void sv_cli_stack_say_missing(const char *verb, const char *project, const char *ref)
{
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (project && sv_select_known_stack(project, &stack, &err) < 0) {
        fprintf(stderr, "servos %s: %s\n", verb, err->msg);
        sv_error_free(&err);
        return;
    }
    if (project == NULL && sv_select_stack(NULL, &stack, &err) < 0) {
        sv_error_free(&err);
        fprintf(stderr,
                "servos %s: no container \"%s\" (servos ls lists them); for a stack's service, "
                "add -p STACK or run this where its Envirofile is\n",
                verb, ref);
        return;
    }
    /* Without -p, ref was a container's name first. */
    cleanup_free char *also =
        project ? sv_xstrdup("") : sv_xasprintf("no container \"%s\", and ", ref);
    cleanup_rows struct sv_rows rows = {0};
    if (sv_rows_list(NULL, stack, &rows, &err) < 0 || rows.n == 0) {
        sv_error_free(&err);
        fprintf(stderr, "servos %s: %sstack %s is not up (servos up starts it)\n", verb, also,
                stack);
        return;
    }
    cleanup_free char *what = project ? sv_xasprintf("\"%s\"", ref) : sv_xstrdup("of that name");
    say_replicas(verb, also, what, ref, stack, &rows);
}

int sv_cli_stack_logs(const char *project, const char *only, bool follow, long tail,
                      bool timestamps)
{
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (sv_select_known_stack(project, &stack, &err) < 0) {
        if (only == NULL || project)
            return sv_error_report(&err);
        sv_error_free(&err);
        sv_cli_stack_say_missing("logs", project, only);
        return 1;
    }
    if (sv_client_ensure_supervisor(stack, &err) < 0)
        return sv_error_report(&err);
    cleanup_follow struct sv_follow *f = sv_follow_open(stack, only, isatty(1), timestamps);
    if (sv_follow_count(f) == 0) {
        if (only)
            sv_cli_stack_say_missing("logs", project, only);
        else
            fprintf(stderr, "servos logs: stack %s is not up (servos up starts it)\n", stack);
        return 1;
    }
    sv_follow_seek(f, tail);
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    do {
        sv_follow_print(f);
        if (follow) {
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
        }
    } while (follow && !interrupted);
    return 0;
}

/* SERVICE or SERVICE-N of the selected stack as a container name. */
char *sv_cli_stack_replica_ref(const char *project, const char *ref)
{
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (sv_select_stack(project, &stack, &err) < 0) {
        sv_error_free(&err);
        return NULL;
    }
    const char *dash = strrchr(ref, '-');
    char *endp = NULL;
    bool numbered = dash && dash[1] && (strtol(dash + 1, &endp, 10), *endp == '\0');
    /* A replica is STACK-SERVICE-N, unless its service has a
     * container_name: the store's rows say which container it is. */
    cleanup_rows struct sv_rows rows = {0};
    if (sv_rows_list(NULL, stack, &rows, &err) == 0)
        for (size_t i = 0; i < rows.n; i++) {
            const struct sv_ctr_row *r = &rows.v[i];
            cleanup_free char *label =
                sv_xasprintf("%s-%d", r->service ? r->service : "", r->replica);
            if (r->name && r->service &&
                (strcmp(label, ref) == 0 || (r->replica == 1 && strcmp(r->service, ref) == 0)))
                return sv_xstrdup(r->name);
        }
    sv_error_free(&err);
    if (numbered)
        return sv_xasprintf("%s-%s", stack, ref);
    return sv_xasprintf("%s-%s-1", stack, ref);
}
