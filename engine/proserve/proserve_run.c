#include "proserve/proserve_int.h"

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

static char *find_program(const char *name)
{
    static const char *const dirs[] = {"/usr/local/bin", "/usr/bin", "/bin"};
    for (size_t i = 0; i < SV_ARRAY_LEN(dirs); i++) {
        char *p = sv_xasprintf("%s/%s", dirs[i], name);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return sv_xstrdup(name);
}

bool pf_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* argv for a script or shell command; mode "request" or "task". */
static char **handler_argv(const char *target, bool shell, const char *mode)
{
    char **v = sv_xcalloc(7, sizeof(char *));
    if (shell) {
        v[0] = sv_xstrdup("/bin/sh");
        v[1] = sv_xstrdup("-c");
        v[2] = sv_xstrdup(target);
    } else if ((pf_ends_with(target, ".py") || (!strchr(target, '/') && strchr(target, '.'))) &&
               F.lim.container) { /* the image's python3, wherever it is */
        v[0] = sv_xstrdup("/usr/bin/env");
        v[1] = sv_xstrdup("python3");
        v[2] = sv_xstrdup("-c");
        v[3] = sv_xstrdup(python_runner);
        v[4] = sv_xstrdup(target);
        v[5] = sv_xstrdup(mode);
    } else if (pf_ends_with(target, ".py") || (!strchr(target, '/') && strchr(target, '.'))) {
        v[0] = find_program("python3");
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

/* Run a handler with the front's env (plus the manifest for Python). */
int pf_run_handler(const char *target, bool shell, const char *mode, const char *input,
                   struct sv_handler_result *res, sv_error_t *err)
{
    char **argv = handler_argv(target, shell, mode);
    size_t n = 0;
    while (F.env[n])
        n++;
    char **env = sv_xcalloc(n + 2, sizeof(char *));
    memcpy(env, F.env, n * sizeof(char *));
    cleanup_free char *doc = json_dumps(F.doc, JSON_COMPACT);
    env[n] = sv_xasprintf("PROSERVE_MANIFEST=%s", doc);
    int rc =
        sv_handler_run(argv, env, F.base_dir, input, input ? strlen(input) : 0, &F.lim, res, err);
    free(env[n]);
    free(env);
    sv_strv_free(argv);
    return rc;
}

/* ---- answers ------------------------------------------------------------------------ */

void pf_answer_json(struct answer *a, unsigned status, json_t *j)
{
    a->status = status;
    a->type = "application/json";
    a->body = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    a->len = strlen(a->body);
    json_decref(j);
}

void pf_answer_error(struct answer *a, unsigned status, const char *msg, const char *detail)
{
    json_t *j = json_pack("{s:s}", "error", msg);
    if (detail && *detail)
        json_object_set_new(j, "detail", json_string(detail));
    pf_answer_json(a, status, j);
}

char *pf_printable(const char *s, size_t max)
{
    size_t n = strlen(s), cut = n > max ? max : n;
    char *out = sv_xmalloc(cut * 4 + 4), *w = out;
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '\\')
            w += sprintf(w, "\\x%02x", c);
        else
            *w++ = (char)c;
    }
    if (cut < n)
        w += sprintf(w, "...");
    *w = '\0';
    return out;
}

const char *pf_method_label(const char *method)
{
    int bit = pf_method_bit(method);
    for (size_t i = 0; i < SV_ARRAY_LEN(pf_method_names); i++)
        if (bit == 1 << i)
            return pf_method_names[i];
    return "other";
}

/* Requests by method, route and status. Every label value comes from a
 * fixed set (methods, the manifest's routes, "unmatched"), never from the
 * client: a client's own method names would add a series each. */
void pf_count(const char *method, const char *route, unsigned status, double secs)
{
    method = pf_method_label(method);
    pthread_mutex_lock(&F.lock);
    size_t i = 0;
    for (; i < F.n_m; i++)
        if (F.m[i].status == (int)status && strcmp(F.m[i].route, route) == 0 &&
            strcmp(F.m[i].method, method) == 0)
            break;
    if (i == F.n_m) {
        F.m = sv_xrealloc(F.m, (F.n_m + 1) * sizeof(*F.m));
        F.m[F.n_m++] = (struct metric){sv_xstrdup(method), sv_xstrdup(route), (int)status, 0, 0};
    }
    F.m[i].count++;
    F.m[i].seconds += secs;
    pthread_mutex_unlock(&F.lock);
}

void pf_bump(unsigned long long *counter)
{
    pthread_mutex_lock(&F.lock);
    (*counter)++;
    pthread_mutex_unlock(&F.lock);
}

/* A label value in Prometheus' text format: \\, \" and \n escaped. */
static void label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f), fputc(*s, f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void labels(FILE *f, const char *metric, const struct metric *m)
{
    fprintf(f, "%s{method=\"", metric);
    label(f, m->method);
    fputs("\",route=\"", f);
    label(f, m->route);
    fprintf(f, "\",status=\"%d\"}", m->status);
}

void pf_answer_metrics(struct answer *a)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pthread_mutex_lock(&F.lock);
    fprintf(f, "# HELP proserve_requests_total Requests answered.\n"
               "# TYPE proserve_requests_total counter\n");
    for (size_t i = 0; i < F.n_m; i++) {
        labels(f, "proserve_requests_total", &F.m[i]);
        fprintf(f, " %llu\n", F.m[i].count);
    }
    fprintf(f, "# HELP proserve_request_seconds Time spent answering.\n"
               "# TYPE proserve_request_seconds summary\n");
    for (size_t i = 0; i < F.n_m; i++) {
        labels(f, "proserve_request_seconds_sum", &F.m[i]);
        fprintf(f, " %.6f\n", F.m[i].seconds);
        labels(f, "proserve_request_seconds_count", &F.m[i]);
        fprintf(f, " %llu\n", F.m[i].count);
    }
    fprintf(f,
            "# TYPE proserve_handler_failures_total counter\nproserve_handler_failures_total "
            "%llu\n# TYPE proserve_handler_timeouts_total counter\n"
            "proserve_handler_timeouts_total %llu\n# TYPE proserve_handler_oom_kills_total "
            "counter\nproserve_handler_oom_kills_total %llu\n",
            F.failures, F.timeouts, F.oom);
    pthread_mutex_unlock(&F.lock);
    fclose(f);
    a->status = 200;
    a->type = "text/plain; version=0.0.4";
    a->body = buf;
    a->len = len;
}

/* A handler's outcome as an HTTP answer. */
void pf_answer_handler(struct answer *a, const struct sv_handler_result *res, bool text)
{
    char msg[160];
    if (res->timed_out) {
        pf_bump(&F.timeouts);
        snprintf(msg, sizeof(msg), "handler timed out after %gs and was killed", F.lim.timeout);
        pf_answer_error(a, 504, msg, NULL);
        return;
    }
    if (res->out_of_memory) {
        pf_bump(&F.oom);
        snprintf(msg, sizeof(msg), "handler exceeded memory_limit (%lld MiB) and was killed",
                 (long long)(F.lim.memory >> 20));
        pf_answer_error(a, 500, msg, NULL);
        return;
    }
    if (!WIFEXITED(res->wait_status) || WEXITSTATUS(res->wait_status) != 0) {
        pf_bump(&F.failures);
        if (WIFSIGNALED(res->wait_status))
            snprintf(msg, sizeof(msg), "handler killed by signal %d", WTERMSIG(res->wait_status));
        else
            snprintf(msg, sizeof(msg), "handler failed with exit code %d",
                     WIFEXITED(res->wait_status) ? WEXITSTATUS(res->wait_status) : -1);
        pf_answer_error(a, 500, msg, res->err);
        return;
    }
    if (text) {
        a->status = 200;
        a->type = "text/plain; charset=utf-8";
        a->body = sv_xstrdup(res->out);
        a->len = res->out_len;
        return;
    }
    json_error_t jerr;
    json_t *j = json_loadb(res->out, res->out_len, JSON_DECODE_ANY, &jerr);
    if (j == NULL) {
        pf_bump(&F.failures);
        pf_answer_error(a, 500, "handler did not answer JSON on stdout", res->err);
        return;
    }
    pf_answer_json(a, 200, j);
}

/* ---- background tasks ------------------------------------------------------------------ */

void *pf_task_loop(void *arg)
{
    struct task *t = arg;
    while (!F.stopping) {
        struct sv_handler_result res;
        sv_error_t err = NULL;
        const char *label = t->target;
        if (pf_run_handler(t->target, t->shell, "task", NULL, &res, &err) < 0) {
            printf("task %s: cannot start: %s\n", label, err->msg);
            sv_error_free(&err);
            sv_handler_result_free(&res);
        } else {
            for (char *save = NULL, *l = strtok_r(res.out, "\n", &save); l;
                 l = strtok_r(NULL, "\n", &save))
                printf("task %s: %s\n", label, l);
            for (char *save = NULL, *l = strtok_r(res.err, "\n", &save); l;
                 l = strtok_r(NULL, "\n", &save))
                printf("task %s: %s\n", label, l);
            if (res.timed_out || res.out_of_memory || !WIFEXITED(res.wait_status) ||
                WEXITSTATUS(res.wait_status) != 0)
                printf("task %s: %s\n", label,
                       res.timed_out       ? "timed out and was killed"
                       : res.out_of_memory ? "exceeded memory_limit and was killed"
                                           : "failed");
            sv_handler_result_free(&res);
        }
        fflush(stdout);
        for (double slept = 0; slept < t->interval && !F.stopping; slept += 0.1) {
            struct timespec ts = {0, 100 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}
