/* Handler and background task runs, as the service host starts them: the
 * command a script or shell endpoint means (Python keeps ProServe's
 * contract through a small runner), with the service's environment. */
#include "proserve/proserve_int.h"
#include "board/bproserve.h"
#include "core/json.h"
#include "proserve/wsconn.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- handlers ---------------------------------------------------------------------- */

/* A Python handler: a .py file, or a function of a module. */
static bool is_python(const struct pf_target *t)
{
    return !t->shell && (pf_ends_with(t->target, ".py") || t->function);
}

/* argv for a target in mode "request", "task" or "websocket". */
static char **handler_argv(const struct pf_target *t, const char *mode)
{
    const struct pf_service *svc = &pf_service;
    char **v = sv_xcalloc(8, sizeof(char *));
    const char *target = t->target;
    bool python = is_python(t);
    size_t k = 0;
    if (t->shell) {
        v[k++] = sv_handler_find_program(svc->shell ? svc->shell : "/bin/sh");
        v[k++] = sv_xstrdup("-c");
        v[k++] = sv_xstrdup(target);
    } else if (python) {
        if (svc->limits.container) { /* the image's python3, wherever it is */
            v[k++] = sv_xstrdup("/usr/bin/env");
            v[k++] = sv_xstrdup("python3");
        } else {
            v[k++] = sv_handler_find_program("python3");
        }
        /* The runner comes in the environment: a command line of a few
         * words, as ps shows it, with the script's name in it. */
        v[k++] = sv_xstrdup("-c");
        v[k++] = sv_xstrdup("import os; exec(os.environ.pop('PROSERVE_RUNNER'))");
        v[k++] = sv_xstrdup(target);
        v[k++] = sv_xstrdup(t->function ? t->function : "");
        v[k++] = sv_xstrdup(mode);
    } else if (pf_ends_with(target, ".sh")) {
        v[k++] = sv_xstrdup("/bin/sh");
        v[k++] = sv_xstrdup(target);
    } else if (pf_ends_with(target, ".lua")) {
        v[k++] =
            sv_xstrdup("/.servos/servos"); /* bound in the service's and a handler's container */
        v[k++] = sv_xstrdup("proserve-lua");
        v[k++] = sv_xstrdup(target);
        if (strcmp(mode, "websocket") == 0)
            v[k++] = sv_xstrdup("--websocket");
    } else {
        v[k++] = sv_xstrdup(target);
    }
    return v;
}

/* The service's handler env, the manifest (Python's service), shell_config's
 * env for shell commands, and extra ("NAME=value", or NULL). */
static char **handler_env(const struct pf_target *t, const char *extra)
{
    const struct pf_service *svc = &pf_service;
    size_t n = 0;
    while (svc->handler_env[n])
        n++;
    size_t extra_n = t->shell ? json_object_size(svc->shell_env) : 0;
    char **env = sv_xcalloc(n + extra_n + 4, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        env[i] = sv_xstrdup(svc->handler_env[i]);
    cleanup_free char *doc = sv_json_dumps(svc->manifest, SV_JSON_COMPACT);
    env[n++] = sv_xasprintf("PROSERVE_MANIFEST=%s", doc);
    if (extra)
        env[n++] = sv_xstrdup(extra);
    const char *key;
    json_t *v;
    if (t->shell)
        json_object_foreach(svc->shell_env, key, v)
        {
            cleanup_free char *val = json_is_string(v) ? sv_xstrdup(json_string_value(v))
                                                       : sv_json_dumps(v, SV_JSON_COMPACT);
            env[n++] = sv_xasprintf("%s=%s", key, val);
        }
    if (is_python(t))
        env[n++] = sv_xasprintf("PROSERVE_RUNNER=%s", pf_python_runner);
    return env;
}

/* A board mode's scripts and sketches run on the board's runtime (its
 * shell commands in its toolchain image): board/bproserve.h. */
int pf_run_handler(const struct pf_target *t, const char *mode, const char *input,
                   struct sv_handler_result *res, sv_error_t *err)
{
    const struct pf_service *svc = &pf_service;
    cleanup_strv char **argv = NULL;
    if (!t->shell && sv_bproserve_is_board_mode(svc->mode)) {
        memset(res, 0, sizeof(*res));
        if (sv_bproserve_argv(svc->mode, svc->platform, svc->board, t->target,
                              strcmp(mode, "request") == 0, 0, &argv, err) < 0)
            return -1;
    } else {
        argv = handler_argv(t, mode);
    }
    /* memory_limit is a MicroPython board's RAM: the heap its runtime has. */
    cleanup_free char *heap = svc->limits.memory > 0 && strcmp(svc->mode, "micropython") == 0
                                  ? sv_xasprintf("SERVOS_HEAP=%lld", (long long)svc->limits.memory)
                                  : NULL;
    cleanup_strv char **env = handler_env(t, heap);
    struct sv_handler_limits lim = svc->limits;
    double own = t->timeout > 0 ? t->timeout : t->shell ? svc->shell_timeout : 0;
    if (own > 0)
        lim.timeout = own;
    const char *cwd = t->shell && svc->shell_dir ? svc->shell_dir : svc->base_dir;
    return sv_handler_run(argv, env, cwd, input, input ? strlen(input) : 0, &lim, res, err);
}

int pf_run_spawn(const struct pf_target *t, const char *request, struct sv_handler_proc *p,
                 sv_error_t *err)
{
    const struct pf_service *svc = &pf_service;
    cleanup_strv char **argv = handler_argv(t, "websocket");
    cleanup_free char *var = sv_xasprintf("PROSERVE_REQUEST=%s", request);
    cleanup_strv char **env = handler_env(t, var);
    const char *cwd = t->shell && svc->shell_dir ? svc->shell_dir : svc->base_dir;
    return sv_handler_spawn(argv, env, cwd, p, err);
}

/* ---- background tasks ------------------------------------------------------------------ */

/* A task run's output and how it ended, a log line each. */
static void log_task_run(const char *label, struct sv_handler_result *res)
{
    for (char *save = NULL, *l = strtok_r(res->out, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save))
        printf("task %s: %s\n", label, l);
    for (char *save = NULL, *l = strtok_r(res->err, "\n", &save); l;
         l = strtok_r(NULL, "\n", &save))
        printf("task %s: %s\n", label, l);
    if (res->timed_out || res->out_of_memory || !WIFEXITED(res->wait_status) ||
        WEXITSTATUS(res->wait_status) != 0)
        printf("task %s: %s\n", label,
               res->timed_out       ? "timed out and was killed"
               : res->out_of_memory ? "exceeded memory_limit and was killed"
                                    : "failed");
}

/* A broadcast task's output: each line a message to every WebSocket
 * client (a Python task's return value is its last line; null is none). */
static void broadcast_output(const struct sv_handler_result *res)
{
    cleanup_free char *out = sv_xstrdup(res->out);
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        if (strcmp(l, "null") != 0)
            pf_wsc_broadcast(NULL, l, strlen(l));
}

void *pf_run_task_loop(void *arg)
{
    const struct pf_task *t = arg;
    while (!pf_service.stopping) {
        struct sv_handler_result res;
        sv_error_t err = NULL;
        const char *label = t->run.target;
        if (pf_run_handler(&t->run, "task", NULL, &res, &err) < 0) {
            printf("task %s: cannot start: %s\n", label, err->msg);
            sv_error_free(&err);
        } else {
            if (t->broadcast && WIFEXITED(res.wait_status) && WEXITSTATUS(res.wait_status) == 0)
                broadcast_output(&res);
            log_task_run(label, &res);
        }
        sv_handler_result_free(&res);
        fflush(stdout);
        for (double slept = 0; slept < t->interval && !pf_service.stopping; slept += 0.1) {
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}
