/* servos up, apply, down, ps, scale, restart: stacks. The CLI evaluates the
 * file (so errors print here, with file:line), then hands the work to the
 * stack's supervisor (stack.h), starting one when none runs. */
#include "lua/load.h"
#include "cli/cli.h"
#include "git/gitrepo.h"
#include "log/logfile.h"
#include "proserve/pgateway.h"
#include "image/registry.h"
#include "runtime/rootfs.h"
#include "stack/stack.h"
#include "net/stacknet.h"
#include "core/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The stack a command is about: -p NAME, else the one the current
 * directory's Envirofile (or manifest) declares. */
static int select_stack(const char *project, char **stack, sv_error_t *err)
{
    if (project) {
        if (!sv_valid_stack_name(project))
            return sv_error(err, EINVAL, "\"%s\" is not a valid stack name", project);
        *stack = sv_xstrdup(project);
        return 0;
    }
    struct sv_graph *g = NULL;
    if (sv_load_graph(NULL, NULL, &g, err) < 0)
        return sv_error_wrap(err, "which stack? give -p NAME, or run this where the stack's "
                                  "Envirofile is");
    *stack = sv_xstrdup(g->stack);
    sv_graph_free(g);
    return 0;
}

/* Options of verbs that take only -p NAME (and --help): -1 when the
 * arguments go on, else the exit code of the usage message shown. */
static int project_option(int argc, char **argv, const struct sv_verb *v, const char **project)
{
    static const struct option opts[] = {
        {"project-name", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:p:h", opts, NULL)) != -1) {
        if (c == 'h')
            return sv_cli_usage(v, false);
        if (c != 'p')
            return sv_cli_bad_option(v, c, argv);
        *project = optarg;
    }
    return -1;
}

/* The rows of a stack's replicas (the store opened just for that). */
static int stack_rows(const char *stack, struct sv_ctr_row **rows, size_t *n, sv_error_t *err)
{
    struct sv_store *st = NULL;
    *rows = NULL;
    *n = 0;
    int rc = sv_store_open(&st, err) < 0 ? -1 : sv_store_list_stack(st, stack, rows, n, err);
    sv_store_close(st);
    return rc;
}

static const char *state_of(const struct sv_ctr_row *r)
{
    if (r->status == SV_CTR_RUNNING && sv_pid_alive(r->pid, r->pid_start))
        return "running";
    if (r->status == SV_CTR_CREATED)
        return "created";
    return "exited";
}

/* Does stack exist here: its state directory, or a replica's row? */
static bool stack_known(const char *stack)
{
    cleanup_free char *dir = sv_stack_dir(stack);
    if (access(dir, F_OK) == 0)
        return true;
    struct sv_ctr_row *rows;
    size_t n;
    sv_error_t err = NULL;
    if (stack_rows(stack, &rows, &n, &err) < 0) {
        sv_error_free(&err);
        return false;
    }
    sv_ctr_rows_free(rows, n);
    return n > 0;
}

/* "no stack "shp"; did you mean "shop"? (stacks here: a, shop)": for a
 * -p NAME that names none. */
static int no_such_stack(const char *stack, sv_error_t *err)
{
    cleanup_free char *root = sv_xasprintf("%s/stacks", sv_state_root());
    const char *names[256];
    size_t n = 0;
    char *list = sv_xstrdup("");
    DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !sv_valid_stack_name(e->d_name))
            continue;
        char *next = sv_xasprintf("%s%s%s", list, *list ? ", " : "", e->d_name);
        free(list);
        list = next;
        if (n < SV_ARRAY_LEN(names))
            names[n++] = sv_xstrdup(e->d_name);
    }
    if (d)
        closedir(d);
    const char *near = sv_suggest(stack, names, n);
    if (*list == '\0')
        sv_error(err, 0, "no stack \"%s\": none is up here (servos up starts one)", stack);
    else
        sv_error(err, 0, "no stack \"%s\"%s%s%s (stacks here: %s)", stack,
                 near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "", list);
    for (size_t i = 0; i < n; i++)
        free((char *)names[i]);
    free(list);
    return -1;
}

/* select_stack for verbs about a stack that exists: a -p NAME that names
 * none is a mistake to point out, not an empty answer. */
static int select_known_stack(const char *project, char **stack, sv_error_t *err)
{
    if (select_stack(project, stack, err) < 0)
        return -1;
    if (project == NULL || stack_known(*stack))
        return 0;
    free(*stack);
    *stack = NULL;
    return no_such_stack(project, err);
}

static void signal_replicas(const struct sv_ctr_row *rows, size_t n, int sig)
{
    for (size_t i = 0; i < n; i++)
        if (sv_pid_alive(rows[i].pid, rows[i].pid_start))
            kill(rows[i].pid, sig);
}

/* A supervisor for a stack that has replicas: start one (adopting them)
 * when the last one died. */
static int ensure_supervisor(const char *stack, sv_error_t *err)
{
    int fd = sv_stack_connect(stack);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    struct sv_ctr_row *rows;
    size_t n;
    if (stack_rows(stack, &rows, &n, err) < 0)
        return -1;
    sv_ctr_rows_free(rows, n);
    if (n == 0)
        return 0;
    if (sv_supervisor_spawn(stack, NULL, err) < 0 && (*err)->status != EBUSY)
        return -1;
    sv_error_free(err);
    return 0;
}

/* Send one request, starting a supervisor first when asked to. */
static int request(const char *stack, const char *req, sv_error_t *err)
{
    int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        fd = sv_stack_connect(stack);
        if (fd < 0) {
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    if (fd < 0)
        return sv_error(err, 0, "stack %s is not up: no supervisor answers (servos up starts it)",
                        stack);
    int rc = sv_stack_request(fd, req, stdout, err);
    close(fd);
    return rc;
}

/* Serialise `up`s of one stack: the second waits for the first. */
static int lock_stack(const char *stack)
{
    sv_error_t err = NULL;
    if (sv_stack_dir_make(stack, &err) < 0) {
        sv_error_report(&err);
        return -1;
    }
    cleanup_free char *dir = sv_stack_dir(stack);
    cleanup_free char *path = sv_xasprintf("%s/up.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "servos: stack %s is being changed by another servos; waiting\n", stack);
        flock(fd, LOCK_EX);
    }
    return fd;
}

/* Does a supervisor of stack run (starting, serving or going down)? It
 * holds <stack dir>/supervisor.lock as long as it lives. */
static bool supervisor_alive(const char *stack)
{
    cleanup_free char *dir = sv_stack_dir(stack);
    cleanup_free char *path = sv_xasprintf("%s/supervisor.lock", dir);
    cleanup_close int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        return true;
    flock(fd, LOCK_UN);
    return false;
}

/* Wait up to ms for the stack's supervisor to be gone; true when it is. */
static bool wait_supervisor_gone(const char *stack, int ms)
{
    for (int t = 0; t < ms; t += 20) {
        if (!supervisor_alive(stack))
            return true;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    return !supervisor_alive(stack);
}

/* ---- attached output ---------------------------------------------------- */

struct follow {
    struct sv_log_reader rd; /* the replica's log, across its rotated files */
    char *prefix;
};

static bool show_timestamps;

static void print_time(long long ms)
{
    if (ms == 0) {
        printf("%-23s ", "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    char buf[32];
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    printf("%s.%03lld ", buf, ms % 1000);
}

static volatile sig_atomic_t interrupted;
static void on_interrupt(int sig)
{
    (void)sig;
    interrupted++;
}

static const char *const colours[] = {"\033[36m", "\033[33m", "\033[32m",
                                      "\033[35m", "\033[34m", "\033[31m"};

/* Print new complete lines of f with its prefix (the rest of a line that
 * a rotation cut, or one longer than the buffer, as a line of its own). */
static void follow_one(struct follow *f, bool colour)
{
    char buf[65536];
    ssize_t n;
    bool rotated;
    while ((n = sv_log_reader_peek(&f->rd, buf, sizeof(buf), &rotated)) > 0) {
        ssize_t end = n;
        while (end > 0 && buf[end - 1] != '\n')
            end--;
        if (end == 0 && n < (ssize_t)sizeof(buf) && !rotated)
            break; /* an unfinished line: wait for the rest */
        if (end == 0)
            end = n;
        for (ssize_t i = 0, s = 0; i < end; i++)
            if (buf[i] == '\n' || i == end - 1) {
                printf("%s |%s ", f->prefix, colour ? "\033[0m" : "");
                if (show_timestamps)
                    print_time(sv_log_reader_time(&f->rd, f->rd.off + i + 1));
                printf("%.*s%s", (int)(i - s + 1), buf + s, buf[i] == '\n' ? "" : "\n");
                s = i + 1;
            }
        sv_log_reader_skip(&f->rd, (size_t)end);
    }
    fflush(stdout);
}

/* The replicas' log files of stack, with "service-N |" prefixes. */
static struct follow *follow_list(const char *stack, const char *only, size_t *n, bool colour)
{
    sv_error_t err = NULL;
    struct sv_ctr_row *rows;
    size_t nr;
    *n = 0;
    if (stack_rows(stack, &rows, &nr, &err) < 0) {
        sv_error_free(&err);
        return NULL;
    }
    struct follow *v = sv_xcalloc(nr + 1, sizeof(*v));
    size_t width = 0;
    for (size_t i = 0; i < nr; i++) {
        size_t w = strlen(rows[i].service) + 4;
        width = w > width ? w : width;
    }
    const char *last = NULL;
    int ci = -1;
    for (size_t i = 0; i < nr; i++) {
        struct sv_ctr_row *r = &rows[i];
        char label[256];
        snprintf(label, sizeof(label), "%s-%d", r->service, r->replica);
        if (only && strcmp(only, r->service) != 0 && strcmp(only, label) != 0)
            continue;
        if (last == NULL || strcmp(last, r->service) != 0)
            ci++;
        last = r->service;
        cleanup_free char *path = sv_replica_log(stack, r->service, r->replica);
        sv_log_reader_init(&v[*n].rd, path);
        v[*n].prefix = sv_xasprintf("%s%-*s", colour ? colours[ci % 6] : "", (int)width, label);
        (*n)++;
    }
    sv_ctr_rows_free(rows, nr);
    return v;
}

static void follow_free(struct follow *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        sv_log_reader_free(&v[i].rd);
        free(v[i].prefix);
    }
    free(v);
}

/* ---- up / apply ---------------------------------------------------------- */

/* Pull missing images and have the stack's supervisor (started when none
 * runs) make the stack match g, as the saved request describes it. The
 * caller holds the stack's lock. */
static int converge(const char *stack, struct sv_graph *g, sv_error_t *err)
{
    /* Missing images are pulled here, where the user sees the progress. */
    for (size_t i = 0; i < g->n_services; i++) {
        const char *handlers = sv_gateway_image(&g->services[i]); /* ProServe's */
        if ((g->services[i].image && sv_image_ensure(g->services[i].image, false, err) < 0) ||
            (handlers && sv_image_ensure(handlers, false, err) < 0))
            return -1;
    }
    /* The supervisor that answers takes the request. One that is going
     * down (a `down` that was interrupted goes on) no longer listens, and
     * one that took the request as it went down closes without an answer:
     * then wait until it is gone and start a new one. A supervisor still
     * starting up (another command's) listens soon. */
    bool told = false;
    int64_t t0 = sv_now_ms();
    for (;;) {
        int fd = sv_stack_connect(stack);
        if (fd >= 0) {
            int rc = sv_stack_request(fd, "up", stdout, err);
            close(fd);
            if (rc == 0 || (*err)->status != ECONNRESET)
                return rc;
            sv_error_free(err);
        } else if (!supervisor_alive(stack)) {
            if (sv_supervisor_spawn(stack, g, err) == 0)
                return 0;
            if ((*err)->status != EBUSY)
                return -1;
            sv_error_free(err);
        }
        if (sv_now_ms() - t0 > 10 * 60 * 1000)
            return sv_error(err, ETIMEDOUT,
                            "stack %s: its supervisor neither answers nor exits (see %s/stacks/%s/"
                            "supervisor.log)",
                            stack, sv_state_root(), stack);
        if (!told && sv_now_ms() - t0 > 1000) {
            fprintf(stderr, "servos: stack %s: waiting for its previous supervisor to finish\n",
                    stack);
            told = true;
        }
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* A stack's named state goes once nothing of it is left: no supervisor,
 * no replica's row. Its named volumes stay. */
static void forget_stack(const char *stack)
{
    cleanup_free char *dir = sv_stack_dir(stack);
    sv_rmtree(dir, NULL);
    sv_stack_binds_remove(stack, NULL);
}

/* "web, db (1 of 2)": the services of g with a running replica in rows,
 * or (running false) those without one. */
static char *services_running(const struct sv_graph *g, const struct sv_ctr_row *rows, size_t n,
                              bool running)
{
    char *out = sv_xstrdup("");
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        int k = 0;
        for (size_t j = 0; j < n; j++)
            k +=
                strcmp(rows[j].service, s->name) == 0 && strcmp(state_of(&rows[j]), "running") == 0;
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
        wait_supervisor_gone(stack, 10000);
    struct sv_ctr_row *rows = NULL;
    size_t n = 0;
    sv_error_t err = NULL;
    if (stack_rows(stack, &rows, &n, &err) < 0) {
        sv_error_free(&err);
        return;
    }
    if (supervisor_alive(stack)) {
        cleanup_free char *up = services_running(g, rows, n, true);
        cleanup_free char *down = services_running(g, rows, n, false);
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
    } else if (n > 0) {
        fprintf(stderr,
                "servos: stack %s is not running, but %zu container%s of it %s left "
                "(servos down -p %s removes them)\n",
                stack, n, n == 1 ? "" : "s", n == 1 ? "is" : "are", stack);
    } else {
        forget_stack(stack);
        if (undone)
            fprintf(stderr,
                    "servos: stack %s was not brought up: what had started of it was "
                    "stopped and removed\n",
                    stack);
    }
    sv_ctr_rows_free(rows, n);
}

static int do_up(int argc, char **argv, bool detach_default, const char *verb)
{
    const struct sv_verb *v = sv_cli_find(verb);
    static const struct option opts[] = {
        {"detach", no_argument, NULL, 'd'},
        {"project-name", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool detach = detach_default;
    const char *project = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:dp:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            detach = true;
            break;
        case 'p':
            project = optarg;
            break;
        case 'h':
            return sv_cli_usage(v, false);
        default:
            return sv_cli_bad_option(v, c, argv);
        }
    }
    if (argc - optind > 1)
        return sv_cli_misuse(v, "one FILE, DIR or GIT-SOURCE, not %d", argc - optind);
    const char *file = optind < argc ? argv[optind] : NULL;
    sv_error_t err = NULL;
    struct sv_graph *g = NULL;
    if (sv_load_graph(file, project, &g, &err) < 0)
        return sv_error_report(&err);
    /* A file is remembered by its real path; a git source as given (the
     * saved working directory resolves a relative repository path). */
    char real[4096];
    if (file && g->commit == NULL && realpath(file, real) == NULL) {
        sv_graph_free(g);
        return sv_error_report(&err);
    }
    cleanup_free char *pins = sv_git_pins();
    cleanup_free char *stack = sv_xstrdup(g->stack);
    int lock = lock_stack(stack);
    int rc =
        sv_stack_save_request(stack, file ? (g->commit ? file : real) : NULL, project, pins, &err);
    if (rc == 0)
        rc = converge(stack, g, &err);
    if (rc < 0) {
        bool undone = err && err->status == ECANCELED;
        sv_error_report(&err);
        say_what_is_left(stack, g, undone);
    }
    if (lock >= 0)
        close(lock);
    sv_graph_free(g);
    if (rc < 0)
        return 1;
    if (detach)
        return 0;

    /* Attached: stream every replica's output until Ctrl-C, then down. */
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool colour = isatty(1);
    size_t n = 0;
    struct follow *f = follow_list(stack, NULL, &n, colour);
    while (!interrupted) {
        for (size_t i = 0; i < n; i++)
            follow_one(&f[i], colour);
        struct timespec ts = {0, 100 * 1000000};
        nanosleep(&ts, NULL);
    }
    follow_free(f, n);
    fprintf(stderr, "servos: stopping stack %s (Ctrl-C again to kill)\n", stack);
    pid_t child = fork();
    if (child == 0) {
        signal(SIGINT, SIG_DFL);
        _exit(request(stack, "down", &err) < 0 ? 1 : 0);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0) {
        if (errno != EINTR)
            break;
        if (interrupted >= 2) { /* second Ctrl-C: kill every replica now */
            struct sv_ctr_row *rows;
            size_t nr;
            if (stack_rows(stack, &rows, &nr, &err) == 0) {
                signal_replicas(rows, nr, SIGKILL);
                sv_ctr_rows_free(rows, nr);
            }
            sv_error_free(&err);
            interrupted = 1;
        }
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
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

/* Exported git trees unused this long, and recorded by no stack, go at the
 * next pull or down (their repositories stay cached). */
#define GIT_TREE_IDLE (10 * 60)

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
    struct sv_ctr_row *rows;
    size_t n;
    sv_error_t err = NULL;
    if (stack_rows(stack, &rows, &n, &err) < 0) {
        sv_error_free(&err);
        return;
    }
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        char hash[17];
        sv_service_hash_hex(s, hash);
        bool seen = false, changed = false;
        for (size_t k = 0; k < n; k++)
            if (strcmp(rows[k].service, s->name) == 0) {
                seen = true;
                changed |= rows[k].hash == NULL || strcmp(rows[k].hash, hash) != 0;
            }
        if (!seen || changed)
            printf("%s %s\n", seen ? "recreating" : "creating", s->name);
    }
    for (size_t k = 0; k < n; k++)
        if (sv_graph_find(g, rows[k].service) == NULL &&
            (k == 0 || strcmp(rows[k - 1].service, rows[k].service) != 0))
            printf("removing %s\n", rows[k].service);
    sv_ctr_rows_free(rows, n);
}

int sv_cmd_pull(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("pull");
    const char *project = NULL;
    int usage = project_option(argc, argv, v, &project);
    if (usage >= 0)
        return usage;
    if (argc - optind > 1 || (project && optind < argc))
        return sv_cli_misuse(v, "name one stack, by -p STACK or as STACK");
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (select_known_stack(optind < argc ? argv[optind] : project, &stack, &err) < 0)
        return sv_error_report(&err);
    cleanup_free char *request_file = sv_xasprintf("%s/stacks/%s/request", sv_state_root(), stack);
    if (access(request_file, F_OK) != 0) {
        fprintf(stderr, "servos: stack %s is not up (servos up brings it up)\n", stack);
        return 1;
    }
    cleanup_free char *before = sv_stack_pins(stack);
    if (before == NULL) {
        fprintf(stderr,
                "servos: stack %s does not come from git, so there is nothing to pull (servos "
                "up applies changed files)\n",
                stack);
        return 1;
    }
    int lock = lock_stack(stack);
    struct sv_graph *g = NULL;
    int rc = sv_stack_load_request(stack, SV_GIT_UPDATE, &g, &err);
    if (rc < 0) {
        sv_error_wrap(&err, "stack %s left as it was", stack);
    } else {
        cleanup_free char *after = sv_git_pins();
        bool moved = report_commits(before, after);
        report_services(stack, g);
        if (moved)
            rc = sv_stack_save_pins(stack, after, &err);
        if (rc == 0 && (rc = converge(stack, g, &err)) < 0) {
            bool undone = err->status == ECANCELED;
            sv_error_report(&err);
            say_what_is_left(stack, g, undone);
        }
    }
    if (lock >= 0)
        close(lock);
    sv_graph_free(g);
    if (rc == 0)
        sv_git_prune(GIT_TREE_IDLE);
    return rc < 0 && err ? sv_error_report(&err) : rc < 0 ? 1 : 0;
}

/* ---- down ------------------------------------------------------------------ */

/* Without a supervisor: stop and remove the replicas ourselves. */
static int down_directly(const char *stack, int64_t grace_ms, sv_error_t *err)
{
    struct sv_store *st = NULL;
    struct sv_ctr_row *rows = NULL;
    size_t n = 0;
    if (sv_store_open(&st, err) < 0 || sv_store_list_stack(st, stack, &rows, &n, err) < 0) {
        sv_store_close(st);
        return -1;
    }
    signal_replicas(rows, n, SIGTERM);
    int64_t waited = 0;
    for (size_t i = 0; i < n; i++) {
        while (sv_pid_alive(rows[i].pid, rows[i].pid_start) && waited < grace_ms) {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
            waited += 20;
        }
        if (sv_pid_alive(rows[i].pid, rows[i].pid_start))
            kill(rows[i].pid, SIGKILL);
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        for (int t = 0; t < 250 && sv_pid_alive(rows[i].pid, rows[i].pid_start); t++) {
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
        if (sv_container_remove(st, rows[i].id, err) < 0)
            rc = -1;
        cleanup_free char *log = sv_replica_log(stack, rows[i].service, rows[i].replica);
        sv_log_remove(log);
    }
    if (rc == 0)
        rc = sv_stacknet_destroy(stack, err);
    sv_ctr_rows_free(rows, n);
    sv_store_close(st);
    return rc;
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
    bool volumes = false;
    long timeout = -1;
    const char *project = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:vt:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'v':
            volumes = true;
            break;
        case 't': {
            char *end;
            timeout = strtol(optarg, &end, 10);
            if (*end || timeout < 0 || end == optarg)
                return sv_cli_misuse(v, "-t wants whole seconds, not \"%s\"", optarg);
            break;
        }
        case 'p':
            project = optarg;
            break;
        case 'h':
            return sv_cli_usage(v, false);
        default:
            return sv_cli_bad_option(v, c, argv);
        }
    }
    if (optind < argc)
        return sv_cli_misuse(v, "unexpected \"%s\" (a stack is named by -p STACK)", argv[optind]);
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (select_stack(project, &stack, &err) < 0)
        return sv_error_report(&err);
    if (project && !stack_known(stack)) {
        /* Down is idempotent (scripts end with it), but a mistyped name
         * should not pass for a stack taken down. */
        no_such_stack(stack, &err);
        fprintf(stderr, "servos down: nothing to do: %s\n", err->msg);
        sv_error_free(&err);
        sv_git_prune(GIT_TREE_IDLE); /* what every down does */
        return 0;
    }
    int lock = lock_stack(stack);
    char req[64];
    snprintf(req, sizeof(req), "down\t%ld\t%s", timeout < 0 ? -1 : timeout * 1000,
             volumes ? "volumes" : "keep");
    /* A supervisor that lives but does not listen is starting (it will),
     * or going down already (an earlier down, interrupted): let it finish,
     * then remove what is left. */
    int fd;
    for (int t = 0; (fd = sv_stack_connect(stack)) < 0 && supervisor_alive(stack) && t < 12000;
         t++) {
        if (t == 20)
            fprintf(stderr, "servos: stack %s: waiting for its previous supervisor to finish\n",
                    stack);
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    int rc;
    if (fd >= 0) {
        rc = sv_stack_request(fd, req, stdout, &err);
        close(fd);
    } else {
        rc = down_directly(stack, timeout < 0 ? 10000 : timeout * 1000, &err);
        if (rc == 0 && volumes)
            rc = sv_stack_remove_volumes(stack, NULL, &err);
    }
    /* The supervisor leaves once the stack is down: its directory goes
     * after it. */
    if (rc == 0 && !wait_supervisor_gone(stack, 10000))
        rc = sv_error(&err, 0, "stack %s is down, but its supervisor has not exited yet", stack);
    if (rc == 0) { /* nothing of the stack is left but its named volumes */
        cleanup_free char *dir = sv_stack_dir(stack);
        sv_rmtree(dir, NULL);
        sv_stack_binds_remove(stack, NULL);
        sv_git_prune(GIT_TREE_IDLE);
    }
    if (lock >= 0)
        close(lock);
    return rc < 0 ? sv_error_report(&err) : 0;
}

/* ---- ps -------------------------------------------------------------------- */

/* The ports the supervisor published for service, from <stack>/ports
 * ("SERVICE\tDESCRIPTION" lines), joined with sep, each wrapped in q. */
static char *ports_of(const char *ports, const char *service, const char *sep, const char *q)
{
    char *out = sv_xstrdup("");
    size_t sl = strlen(service);
    for (const char *l = ports; l && *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        if (len > sl && strncmp(l, service, sl) == 0 && l[sl] == '\t') {
            char *next = sv_xasprintf("%s%s%s%.*s%s", out, *out ? sep : "", q, (int)(len - sl - 1),
                                      l + sl + 1, q);
            free(out);
            out = next;
        }
        l += len + (end ? 1 : 0);
    }
    return out;
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
    bool json = false;
    const char *project = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:p:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0)
                return sv_cli_misuse(v, "--format is json or table, not \"%s\"", optarg);
            json = strcmp(optarg, "json") == 0;
            break;
        case 'p':
            project = optarg;
            break;
        case 'h':
            return sv_cli_usage(v, false);
        default:
            return sv_cli_bad_option(v, c, argv);
        }
    }
    if (optind < argc)
        return sv_cli_misuse(v, "unexpected \"%s\" (a stack is named by -p STACK)", argv[optind]);
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (select_known_stack(project, &stack, &err) < 0 || ensure_supervisor(stack, &err) < 0)
        return sv_error_report(&err);
    struct sv_ctr_row *rows;
    size_t n;
    if (stack_rows(stack, &rows, &n, &err) < 0)
        return sv_error_report(&err);
    time_t now = time(NULL);
    cleanup_free char *dir = sv_stack_dir(stack);
    cleanup_free char *ports_path = sv_xasprintf("%s/ports", dir);
    cleanup_free char *ports = NULL;
    size_t ports_len;
    sv_error_t perr = NULL;
    if (sv_read_file(ports_path, 1 << 20, &ports, &ports_len, &perr) < 0)
        sv_error_free(&perr); /* nothing published */
    /* A stack from git: which repository and commit it runs. */
    cleanup_free char *pins = sv_stack_pins(stack);
    char source[1024] = "", commit[41] = "";
    bool from_git = sv_git_pins_source(pins, source, sizeof(source), commit);
    if (json)
        printf("[");
    else if (from_git)
        printf("stack %s from %s at commit %.12s\n", stack, source, commit);
    if (!json)
        printf("%-24s %-8s %-10s %-10s %-8s %-8s %-9s %-5s %-15s %s\n", "SERVICE", "REPLICA",
               "STATE", "HEALTH", "PID", "UPTIME", "RESTARTS", "EXIT", "ADDRESS", "PORTS");
    for (size_t i = 0; i < n; i++) {
        const struct sv_ctr_row *r = &rows[i];
        const char *state = state_of(r);
        bool running = strcmp(state, "running") == 0;
        long long up = running ? (long long)(now - r->started) : 0;
        uint32_t addr = running ? sv_stacknet_address_of(r->spec_json) : 0;
        char ip[16] = "";
        if (addr)
            sv_ip4_format(addr, ip);
        if (json) {
            cleanup_free char *pj = ports_of(ports, r->service, ", ", "\"");
            char exitj[16] = "null";
            if (!running && r->status == SV_CTR_EXITED)
                snprintf(exitj, sizeof(exitj), "%d", r->exit_code);
            printf("%s\n  {\"service\": \"%s\", \"replica\": %d, \"state\": \"%s\", "
                   "\"health\": %s%s%s, \"pid\": %d, \"uptime\": %lld, \"restarts\": %d, "
                   "\"exit_code\": %s, \"oom\": %s, \"address\": %s%s%s, \"ports\": [%s], "
                   "\"commit\": %s%s%s}",
                   i ? "," : "", r->service, r->replica, state, r->health[0] ? "\"" : "",
                   r->health[0] ? r->health : "null", r->health[0] ? "\"" : "",
                   running ? (int)r->pid : 0, up, r->restarts, exitj, r->oom ? "true" : "false",
                   addr ? "\"" : "", addr ? ip : "null", addr ? "\"" : "", pj, from_git ? "\"" : "",
                   from_git ? commit : "null", from_git ? "\"" : "");
        } else {
            char exit_s[16] = "-", up_s[16] = "-";
            if (!running && r->status == SV_CTR_EXITED)
                snprintf(exit_s, sizeof(exit_s), "%d%s", r->exit_code, r->oom ? "!" : "");
            if (running)
                snprintf(up_s, sizeof(up_s), "%llds", up);
            cleanup_free char *pt = ports_of(ports, r->service, ", ", "");
            printf("%-24s %-8d %-10s %-10s %-8d %-8s %-9d %-5s %-15s %s\n", r->service, r->replica,
                   state, r->health[0] ? r->health : "-", running ? (int)r->pid : 0, up_s,
                   r->restarts, exit_s, addr ? ip : "-", pt);
        }
    }
    if (json)
        printf("%s]\n", n ? "\n" : "");
    sv_ctr_rows_free(rows, n);
    return 0;
}

/* ---- scale, restart ---------------------------------------------------------- */

static int simple_request(int argc, char **argv, const char *verb, const char *want,
                          int (*build)(char **args, char *req, size_t size))
{
    const struct sv_verb *v = sv_cli_find(verb);
    const char *project = NULL;
    int usage = project_option(argc, argv, v, &project);
    if (usage >= 0)
        return usage;
    if (argc - optind != 1)
        return argc == optind ? sv_cli_misuse(v, "which %s?", want)
                              : sv_cli_misuse(v, "one %s, not %d", want, argc - optind);
    char req[512];
    if (build(argv + optind, req, sizeof(req)) < 0)
        return 2;
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (select_known_stack(project, &stack, &err) < 0 || ensure_supervisor(stack, &err) < 0 ||
        request(stack, req, &err) < 0)
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

void sv_stack_say_missing(const char *verb, const char *project, const char *ref)
{
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (project && select_known_stack(project, &stack, &err) < 0) {
        fprintf(stderr, "servos %s: %s\n", verb, err->msg);
        sv_error_free(&err);
        return;
    }
    if (project == NULL && select_stack(NULL, &stack, &err) < 0) {
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
    struct sv_ctr_row *rows = NULL;
    size_t n = 0;
    if (stack_rows(stack, &rows, &n, &err) < 0 || n == 0) {
        sv_error_free(&err);
        sv_ctr_rows_free(rows, n);
        fprintf(stderr, "servos %s: %sstack %s is not up (servos up starts it)\n", verb, also,
                stack);
        return;
    }
    /* Its services and replicas, and the nearest to what was typed. */
    const char **names = sv_xcalloc(2 * n, sizeof(*names));
    char **labels = sv_xcalloc(n + 1, sizeof(*labels));
    char *list = sv_xstrdup("");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        labels[i] = sv_xasprintf("%s-%d", rows[i].service, rows[i].replica);
        char *next = sv_xasprintf("%s%s%s", list, *list ? ", " : "", labels[i]);
        free(list);
        list = next;
        if (i == 0 || strcmp(rows[i - 1].service, rows[i].service) != 0)
            names[k++] = rows[i].service;
        names[k++] = labels[i];
    }
    const char *near = sv_suggest(ref, names, k);
    cleanup_free char *what = project ? sv_xasprintf("\"%s\"", ref) : sv_xstrdup("of that name");
    fprintf(stderr, "servos %s: %sstack %s has no service or replica %s%s%s%s (it has %s)\n", verb,
            also, stack, what, near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "",
            list);
    free(list);
    free(names);
    sv_strv_free(labels);
    sv_ctr_rows_free(rows, n);
}

int sv_stack_logs(const char *project, const char *only, bool follow, long tail, bool timestamps)
{
    show_timestamps = timestamps;
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (select_known_stack(project, &stack, &err) < 0) {
        if (only == NULL || project)
            return sv_error_report(&err);
        sv_error_free(&err);
        sv_stack_say_missing("logs", project, only);
        return 1;
    }
    if (ensure_supervisor(stack, &err) < 0)
        return sv_error_report(&err);
    size_t n = 0;
    bool colour = isatty(1);
    struct follow *f = follow_list(stack, only, &n, colour);
    if (n == 0) {
        follow_free(f, n);
        if (only)
            sv_stack_say_missing("logs", project, only);
        else
            fprintf(stderr, "servos logs: stack %s is not up (servos up starts it)\n", stack);
        return 1;
    }
    for (size_t i = 0; i < n && tail >= 0; i++)
        sv_log_reader_seek(&f[i].rd, tail); /* across its rotated files */
    struct sigaction sa = {.sa_handler = on_interrupt};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    do {
        for (size_t i = 0; i < n; i++)
            follow_one(&f[i], colour);
        if (follow) {
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
        }
    } while (follow && !interrupted);
    follow_free(f, n);
    return 0;
}

/* SERVICE or SERVICE-N of the selected stack as a container name. */
char *sv_stack_replica_ref(const char *project, const char *ref)
{
    sv_error_t err = NULL;
    cleanup_free char *stack = NULL;
    if (select_stack(project, &stack, &err) < 0) {
        sv_error_free(&err);
        return NULL;
    }
    const char *dash = strrchr(ref, '-');
    char *endp = NULL;
    if (dash && dash[1] && (strtol(dash + 1, &endp, 10), *endp == '\0'))
        return sv_xasprintf("%s-%s", stack, ref);
    return sv_xasprintf("%s-%s-1", stack, ref);
}
