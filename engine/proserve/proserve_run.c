/* Handler and background task runs, as the service host starts them: the
 * command a script or shell endpoint means (Python keeps ProServe's
 * contract through a small runner), with the service's environment. */
#include "proserve/proserve_int.h"
#include "board/bproserve.h"
#include "core/json.h"

#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- handlers ---------------------------------------------------------------------- */

/* ProServe's contract for Python: `async def main(request, service)` (or
 * handler/handle, sync or async) returning JSON-able data; a task's main
 * takes the service, or nothing. */
static const char python_runner[] =
    "import asyncio, importlib, importlib.util, inspect, json, os, sys\n"
    "target, mode = sys.argv[1], sys.argv[2]\n"
    "raw = json.load(sys.stdin) if mode == 'request' else {}\n"
    "class Request(dict):\n"
    "    def __init__(self, d):\n"
    "        super().__init__(d)\n"
    "        self.method, self.path = d.get('method'), d.get('path')\n"
    "        self.path_params = self.match_info = d.get('path_params') or {}\n"
    "        self.query, self.headers = d.get('query') or {}, d.get('headers') or {}\n"
    "        self.body = d.get('body') or ''\n"
    "    async def json(self): return self.get('json')\n"
    "    async def text(self): return self.body\n"
    "    async def read(self): return self.body.encode()\n"
    "class Service:\n"
    "    def __init__(self, m): self.manifest, self.name = m, m.get('name')\n"
    "svc = Service(json.loads(os.environ.pop('PROSERVE_MANIFEST', '{}')))\n"
    "if target.endswith('.py'):\n"
    "    sys.path.insert(0, os.path.dirname(os.path.abspath(target)))\n"
    "    spec = importlib.util.spec_from_file_location('proserve_handler', target)\n"
    "    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
    "    fn = getattr(mod, 'main', None) or getattr(mod, 'handler', None) or getattr(mod, "
    "'handle', None)\n"
    "else:\n"
    "    sys.path.insert(0, os.getcwd()); name, _, attr = target.rpartition('.')\n"
    "    fn = getattr(importlib.import_module(name), attr)\n"
    "if fn is None: sys.exit(target + ': no main(request, service) or handler(request)')\n"
    "n = len(inspect.signature(fn).parameters)\n"
    "args = ((Request(raw), svc) if mode == 'request' else (svc,))[:n]\n"
    "out = fn(*args)\n"
    "if inspect.isawaitable(out):\n"
    "    async def wait(): return await out\n"
    "    out = asyncio.run(wait())\n"
    "sys.stdout.write(json.dumps(out, default=str))\n";

/* argv for a script or shell command; mode "request" or "task". */
static char **handler_argv(const char *target, bool shell, const char *mode)
{
    char **v = sv_xcalloc(7, sizeof(char *));
    /* A .py file, or a module.function name. */
    bool python = pf_ends_with(target, ".py") || (!strchr(target, '/') && strchr(target, '.'));
    if (shell) {
        v[0] = sv_xstrdup("/bin/sh");
        v[1] = sv_xstrdup("-c");
        v[2] = sv_xstrdup(target);
    } else if (python && pf_service.limits.container) { /* the image's python3, wherever it is */
        v[0] = sv_xstrdup("/usr/bin/env");
        v[1] = sv_xstrdup("python3");
        v[2] = sv_xstrdup("-c");
        v[3] = sv_xstrdup(python_runner);
        v[4] = sv_xstrdup(target);
        v[5] = sv_xstrdup(mode);
    } else if (python) {
        v[0] = sv_handler_find_program("python3");
        v[1] = sv_xstrdup("-c");
        v[2] = sv_xstrdup(python_runner);
        v[3] = sv_xstrdup(target);
        v[4] = sv_xstrdup(mode);
    } else if (pf_ends_with(target, ".sh")) {
        v[0] = sv_xstrdup("/bin/sh");
        v[1] = sv_xstrdup(target);
    } else if (pf_ends_with(target, ".lua")) {
        v[0] = sv_xstrdup("/.servos/servos"); /* bound in the service's and a handler's container */
        v[1] = sv_xstrdup("proserve-lua");
        v[2] = sv_xstrdup(target);
    } else {
        v[0] = sv_xstrdup(target);
    }
    return v;
}

/* The service's handler env, plus the manifest for Python. A board
 * mode's scripts and sketches run on the board's runtime (its shell
 * commands in its toolchain image): board/bproserve.h. */
int pf_run_handler(const char *target, bool shell, const char *mode, const char *input,
                   struct sv_handler_result *res, sv_error_t *err)
{
    const struct pf_service *svc = &pf_service;
    cleanup_strv char **argv = NULL;
    if (!shell && sv_bproserve_is_board_mode(svc->mode)) {
        memset(res, 0, sizeof(*res));
        if (sv_bproserve_argv(svc->mode, svc->platform, svc->board, target,
                              strcmp(mode, "request") == 0, 0, &argv, err) < 0)
            return -1;
    } else {
        argv = handler_argv(target, shell, mode);
    }
    size_t n = 0;
    while (svc->handler_env[n])
        n++;
    cleanup_free char **env = sv_xcalloc(n + 3, sizeof(char *));
    memcpy(env, svc->handler_env, n * sizeof(char *));
    cleanup_free char *doc = sv_json_dumps(svc->manifest, SV_JSON_COMPACT);
    cleanup_free char *manifest_var = sv_xasprintf("PROSERVE_MANIFEST=%s", doc);
    env[n] = manifest_var;
    /* memory_limit is a MicroPython board's RAM: the heap its runtime has. */
    cleanup_free char *heap = svc->limits.memory > 0 && strcmp(svc->mode, "micropython") == 0
                                  ? sv_xasprintf("SERVOS_HEAP=%lld", (long long)svc->limits.memory)
                                  : NULL;
    env[n + 1] = heap;
    return sv_handler_run(argv, env, svc->base_dir, input, input ? strlen(input) : 0, &svc->limits,
                          res, err);
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

void *pf_run_task_loop(void *arg)
{
    const struct pf_task *t = arg;
    while (!pf_service.stopping) {
        struct sv_handler_result res;
        sv_error_t err = NULL;
        if (pf_run_handler(t->target, t->shell, "task", NULL, &res, &err) < 0) {
            printf("task %s: cannot start: %s\n", t->target, err->msg);
            sv_error_free(&err);
        } else {
            log_task_run(t->target, &res);
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
