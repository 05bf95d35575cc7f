#include "proserve.h"

#include "dynlib.h"
#include "phandler.h"
#include "units.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- libmicrohttpd, loaded when a service starts ------------------------------ */

static struct {
    struct MHD_Daemon *(*start)(unsigned int, uint16_t, MHD_AcceptPolicyCallback, void *,
                                MHD_AccessHandlerCallback, void *, ...);
    void (*stop)(struct MHD_Daemon *);
    struct MHD_Response *(*from_buffer)(size_t, void *, enum MHD_ResponseMemoryMode);
    enum MHD_Result (*add_header)(struct MHD_Response *, const char *, const char *);
    enum MHD_Result (*queue)(struct MHD_Connection *, unsigned int, struct MHD_Response *);
    void (*destroy)(struct MHD_Response *);
    int (*values)(struct MHD_Connection *, enum MHD_ValueKind, MHD_KeyValueIterator, void *);
} mhd;

static int load_mhd(sv_error_t *err)
{
    static void *lib;
    static const char *const names[] = {
        "MHD_start_daemon",         "MHD_stop_daemon",    "MHD_create_response_from_buffer",
        "MHD_add_response_header",  "MHD_queue_response", "MHD_destroy_response",
        "MHD_get_connection_values"};
    _Static_assert(sizeof(mhd) == sizeof(names), "one name per function");
    return sv_dynlib_load(&lib, "libmicrohttpd.so.12", names, (void **)&mhd, SV_ARRAY_LEN(names),
                          "to serve ProServe manifests (apt install libmicrohttpd12)", err);
}

/* ---- the manifest ---------------------------------------------------------------- */

enum kind { RESPONSE, SCRIPT, SHELL };

struct route {
    char *path;       /* "/api/hello/{name}" */
    unsigned methods; /* bit per method in method_names */
    enum kind kind;
    json_t *response;
    char *target; /* script path, or shell command */
    bool text;    /* shell converter: text */
};

struct statics {
    char *prefix; /* URL path, no trailing "/" ("" for the root) */
    char *dir;    /* real path */
};

struct task {
    char *target;
    bool shell;
    double interval;
};

struct metric {
    char *method, *route;
    int status;
    unsigned long long count;
    double seconds;
};

static struct front {
    json_t *doc;
    const char *name, *version, *base_dir, *mode;
    struct route *routes;
    size_t n_routes;
    struct statics *statics;
    size_t n_statics;
    struct task *tasks;
    size_t n_tasks;
    bool health, metrics;
    char *cors; /* Access-Control-Allow-Origin when enable_cors, else NULL */
    struct sv_handler_limits lim;
    char **env; /* what handlers get */
    time_t started;
    pthread_mutex_t lock; /* the metrics below */
    struct metric *m;
    size_t n_m;
    unsigned long long failures, timeouts, oom;
    volatile sig_atomic_t stopping;
} F = {.lock = PTHREAD_MUTEX_INITIALIZER};

static const char *const method_names[] = {"GET",   "POST", "PUT",    "DELETE",
                                           "PATCH", "HEAD", "OPTIONS"};

static int method_bit(const char *m)
{
    for (size_t i = 0; i < SV_ARRAY_LEN(method_names); i++)
        if (strcasecmp(m, method_names[i]) == 0)
            return 1 << i;
    return 0;
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

/* A manifest path relative to the manifest's directory. */
static char *in_base(const char *rel)
{
    return rel[0] == '/' ? sv_xstrdup(rel) : sv_xasprintf("%s/%s", F.base_dir, rel);
}

static void add_static(const char *prefix, const char *dir)
{
    cleanup_free char *full = in_base(dir);
    char *real = realpath(full, NULL);
    if (real == NULL) {
        fprintf(stderr, "proserve: static directory %s is missing; not served\n", full);
        return;
    }
    F.statics = sv_xrealloc(F.statics, (F.n_statics + 1) * sizeof(*F.statics));
    size_t pl = strlen(prefix);
    while (pl > 0 && prefix[pl - 1] == '/')
        pl--;
    F.statics[F.n_statics++] = (struct statics){sv_xstrndup(prefix, pl), real};
}

static int read_manifest(const char *file, sv_error_t *err)
{
    json_error_t jerr;
    F.doc = json_load_file(file, 0, &jerr);
    if (F.doc == NULL)
        return sv_error(err, 0, "%s:%d: %s", file, jerr.line, jerr.text);
    F.name = jstr(F.doc, "name") ? jstr(F.doc, "name") : "proserve";
    F.version = jstr(F.doc, "version") ? jstr(F.doc, "version") : "1.0.0";
    F.base_dir = jstr(F.doc, "base_dir") ? jstr(F.doc, "base_dir") : "/";
    F.health = !json_is_false(json_object_get(F.doc, "enable_health"));
    F.metrics = json_is_true(json_object_get(F.doc, "enable_metrics"));
    if (json_is_true(json_object_get(F.doc, "enable_cors"))) {
        /* cors_origins: a list (joined, as browsers accept one value: the
         * first) or "*" by default. */
        json_t *o = json_object_get(F.doc, "cors_origins");
        const char *first = json_is_array(o)    ? json_string_value(json_array_get(o, 0))
                            : json_is_string(o) ? json_string_value(o)
                                                : NULL;
        F.cors = sv_xstrdup(first ? first : "*");
    }

    json_t *iso = json_object_get(F.doc, "isolation");
    F.mode = jstr(iso, "mode") ? jstr(iso, "mode") : "none";
    json_t *t = json_object_get(iso, "timeout");
    F.lim.timeout = json_is_number(t) ? json_number_value(t) : 30;
    json_t *mem = json_object_get(iso, "memory_limit");
    if (!json_is_string(mem) && !json_is_integer(mem))
        mem = json_object_get(json_object_get(iso, "resources"), "memory");
    if (json_is_integer(mem)) {
        F.lim.memory = json_integer_value(mem);
    } else if (json_is_string(mem)) {
        int64_t bytes;
        if (sv_parse_size(json_string_value(mem), &bytes, err) < 0)
            return sv_error_wrap(err, "isolation.memory_limit");
        F.lim.memory = bytes;
    }
    F.lim.no_network = json_is_true(json_object_get(iso, "network_isolation"));
    F.lim.private_fs = json_is_true(json_object_get(iso, "filesystem_isolation"));
    F.lim.clean_env = !json_is_false(json_object_get(iso, "environment_isolation"));
    F.lim.drop_privilege = true;

    size_t i;
    json_t *ep;
    json_array_foreach(json_object_get(F.doc, "endpoints"), i, ep)
    {
        struct route r = {.path = sv_xstrdup(jstr(ep, "path") ? jstr(ep, "path") : "/")};
        json_t *m = json_object_get(ep, "method");
        if (json_is_array(m)) {
            size_t k;
            json_t *one;
            json_array_foreach(m, k, one) r.methods |= (unsigned)method_bit(json_string_value(one));
        } else {
            r.methods = (unsigned)method_bit(json_is_string(m) ? json_string_value(m) : "GET");
        }
        if (json_object_get(ep, "response")) {
            r.kind = RESPONSE;
            r.response = json_incref(json_object_get(ep, "response"));
        } else if (jstr(ep, "shell_command")) {
            r.kind = SHELL;
            r.target = sv_xstrdup(jstr(ep, "shell_command"));
            r.text = !jstr(ep, "converter") || strcmp(jstr(ep, "converter"), "json") != 0;
        } else {
            r.kind = SCRIPT;
            const char *s = jstr(ep, "script") ? jstr(ep, "script") : jstr(ep, "handler");
            r.target = s ? in_base(s) : sv_xstrdup("");
        }
        F.routes = sv_xrealloc(F.routes, (F.n_routes + 1) * sizeof(*F.routes));
        F.routes[F.n_routes++] = r;
    }
    const char *key;
    json_t *dir;
    json_object_foreach(json_object_get(F.doc, "static_dirs"), key, dir)
    {
        if (json_is_string(dir))
            add_static(key, json_string_value(dir));
    }
    json_t *st = json_object_get(F.doc, "static");
    if (json_is_object(st) && !json_is_false(json_object_get(st, "enabled")) && jstr(st, "path"))
        add_static("", jstr(st, "path"));
    json_t *task;
    json_array_foreach(json_object_get(F.doc, "background_tasks"), i, task)
    {
        json_t *iv = json_object_get(task, "interval");
        struct task tk = {.interval = json_is_number(iv) ? json_number_value(iv) : 60};
        tk.shell = jstr(task, "shell_command") != NULL;
        tk.target = tk.shell ? sv_xstrdup(jstr(task, "shell_command"))
                             : in_base(jstr(task, "script") ? jstr(task, "script") : "");
        F.tasks = sv_xrealloc(F.tasks, (F.n_tasks + 1) * sizeof(*F.tasks));
        F.tasks[F.n_tasks++] = tk;
    }
    return 0;
}

/* What handlers see: with environment_isolation, PATH, LANG and the
 * manifest's own variables (environment, env_vars) only. */
static void build_env(void)
{
    extern char **environ;
    size_t n = 0;
    for (char **e = environ; *e; e++)
        n++;
    F.env = sv_xcalloc(n + 4, sizeof(char *));
    size_t k = 0;
    if (!F.lim.clean_env) {
        for (char **e = environ; *e; e++)
            F.env[k++] = sv_xstrdup(*e);
        return;
    }
    F.env[k++] = sv_xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
    F.env[k++] = sv_xstrdup("LANG=C.UTF-8");
    json_t *envmap = json_object_get(F.doc, "environment");
    json_t *names = json_object_get(F.doc, "env_vars");
    for (char **e = environ; *e; e++) {
        cleanup_free char *name = sv_xstrndup(*e, strcspn(*e, "="));
        bool wanted = json_object_get(envmap, name) != NULL ||
                      (json_is_object(names) && json_object_get(names, name));
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v) wanted |=
            json_is_string(v) && strcmp(json_string_value(v), name) == 0;
        if (wanted && strcmp(name, "PATH") != 0 && strcmp(name, "LANG") != 0)
            F.env[k++] = sv_xstrdup(*e);
    }
    /* .env and env_files, as ProServe loads them: under what is set. */
    const char *key;
    json_t *val;
    json_object_foreach(json_object_get(F.doc, "dotenv"), key, val)
    {
        bool set = false;
        for (size_t i = 0; i < k && !set; i++)
            set = strncmp(F.env[i], key, strlen(key)) == 0 && F.env[i][strlen(key)] == '=';
        if (!set && json_is_string(val)) {
            F.env = sv_xrealloc(F.env, (k + 2) * sizeof(char *));
            F.env[k++] = sv_xasprintf("%s=%s", key, json_string_value(val));
            F.env[k] = NULL;
        }
    }
}

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

static bool ends_with(const char *s, const char *suffix)
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
    } else if ((ends_with(target, ".py") || (!strchr(target, '/') && strchr(target, '.'))) &&
               F.lim.container) { /* the image's python3, wherever it is */
        v[0] = sv_xstrdup("/usr/bin/env");
        v[1] = sv_xstrdup("python3");
        v[2] = sv_xstrdup("-c");
        v[3] = sv_xstrdup(python_runner);
        v[4] = sv_xstrdup(target);
        v[5] = sv_xstrdup(mode);
    } else if (ends_with(target, ".py") || (!strchr(target, '/') && strchr(target, '.'))) {
        v[0] = find_program("python3");
        v[1] = sv_xstrdup("-c");
        v[2] = sv_xstrdup(python_runner);
        v[3] = sv_xstrdup(target);
        v[4] = sv_xstrdup(mode);
    } else if (ends_with(target, ".sh")) {
        v[0] = sv_xstrdup("/bin/sh");
        v[1] = sv_xstrdup(target);
    } else if (ends_with(target, ".lua")) {
        v[0] = sv_xstrdup("/.servos/servos"); /* bound in the service's and a handler's container */
        v[1] = sv_xstrdup("proserve-lua");
        v[2] = sv_xstrdup(target);
    } else {
        v[0] = sv_xstrdup(target);
    }
    return v;
}

/* Run a handler with the front's env (plus the manifest for Python). */
static int run_handler(const char *target, bool shell, const char *mode, const char *input,
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

struct answer {
    unsigned status;
    const char *type;
    char *body;
    size_t len;
    char allow[64];
    const char *route; /* for metrics */
};

static void answer_json(struct answer *a, unsigned status, json_t *j)
{
    a->status = status;
    a->type = "application/json";
    a->body = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    a->len = strlen(a->body);
    json_decref(j);
}

static void answer_error(struct answer *a, unsigned status, const char *msg, const char *detail)
{
    json_t *j = json_pack("{s:s}", "error", msg);
    if (detail && *detail)
        json_object_set_new(j, "detail", json_string(detail));
    answer_json(a, status, j);
}

/* {{name}} in every string of v, from params. */
static json_t *fill(json_t *v, json_t *params)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strstr(s, "{{"))
            return json_incref(v);
        char *out = sv_xstrdup("");
        while (*s) {
            const char *open = strstr(s, "{{"), *close = open ? strstr(open, "}}") : NULL;
            if (!close) {
                char *next = sv_xasprintf("%s%s", out, s);
                free(out);
                out = next;
                break;
            }
            cleanup_free char *key = sv_xstrndup(open + 2, (size_t)(close - open - 2));
            const char *val = json_string_value(json_object_get(params, key));
            char *next = sv_xasprintf("%s%.*s%s", out, (int)(open - s), s, val ? val : "");
            free(out);
            out = next;
            s = close + 2;
        }
        json_t *r = json_string(out);
        free(out);
        return r;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) json_object_set_new(o, k, fill(x, params));
        return o;
    }
    if (json_is_array(v)) {
        json_t *o = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(o, fill(x, params));
        return o;
    }
    return json_incref(v);
}

/* Does path match pattern? Fills params with {name} segments. */
static bool match(const char *pattern, const char *path, json_t *params)
{
    while (*pattern && *path) {
        if (*pattern++ != '/' || *path++ != '/')
            return false;
        size_t pl = strcspn(pattern, "/"), ql = strcspn(path, "/");
        if (pl > 2 && pattern[0] == '{' && pattern[pl - 1] == '}') {
            if (ql == 0)
                return false;
            cleanup_free char *k = sv_xstrndup(pattern + 1, pl - 2);
            cleanup_free char *v = sv_xstrndup(path, ql);
            json_object_set_new(params, k, json_string(v));
        } else if (pl != ql || strncmp(pattern, path, pl) != 0) {
            return false;
        }
        pattern += pl;
        path += ql;
    }
    return *pattern == '\0' && (*path == '\0' || strcmp(path, "/") == 0);
}

static void count(const char *method, const char *route, unsigned status, double secs)
{
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

static void bump(unsigned long long *counter)
{
    pthread_mutex_lock(&F.lock);
    (*counter)++;
    pthread_mutex_unlock(&F.lock);
}

static void answer_metrics(struct answer *a)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pthread_mutex_lock(&F.lock);
    fprintf(f, "# HELP proserve_requests_total Requests answered.\n"
               "# TYPE proserve_requests_total counter\n");
    for (size_t i = 0; i < F.n_m; i++)
        fprintf(f, "proserve_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
                F.m[i].method, F.m[i].route, F.m[i].status, F.m[i].count);
    fprintf(f, "# HELP proserve_request_seconds Time spent answering.\n"
               "# TYPE proserve_request_seconds summary\n");
    for (size_t i = 0; i < F.n_m; i++)
        fprintf(f,
                "proserve_request_seconds_sum{method=\"%s\",route=\"%s\",status=\"%d\"} %.6f\n"
                "proserve_request_seconds_count{method=\"%s\",route=\"%s\",status=\"%d\"} "
                "%llu\n",
                F.m[i].method, F.m[i].route, F.m[i].status, F.m[i].seconds, F.m[i].method,
                F.m[i].route, F.m[i].status, F.m[i].count);
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
static void answer_handler(struct answer *a, const struct sv_handler_result *res, bool text)
{
    char msg[160];
    if (res->timed_out) {
        bump(&F.timeouts);
        snprintf(msg, sizeof(msg), "handler timed out after %gs and was killed", F.lim.timeout);
        answer_error(a, 504, msg, NULL);
        return;
    }
    if (res->out_of_memory) {
        bump(&F.oom);
        snprintf(msg, sizeof(msg), "handler exceeded memory_limit (%lld MiB) and was killed",
                 (long long)(F.lim.memory >> 20));
        answer_error(a, 500, msg, NULL);
        return;
    }
    if (!WIFEXITED(res->wait_status) || WEXITSTATUS(res->wait_status) != 0) {
        bump(&F.failures);
        if (WIFSIGNALED(res->wait_status))
            snprintf(msg, sizeof(msg), "handler killed by signal %d", WTERMSIG(res->wait_status));
        else
            snprintf(msg, sizeof(msg), "handler failed with exit code %d",
                     WIFEXITED(res->wait_status) ? WEXITSTATUS(res->wait_status) : -1);
        answer_error(a, 500, msg, res->err);
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
        bump(&F.failures);
        answer_error(a, 500, "handler did not answer JSON on stdout", res->err);
        return;
    }
    answer_json(a, 200, j);
}

/* ---- requests ------------------------------------------------------------------------ */

struct upload {
    char *data;
    size_t len;
};

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    json_object_set_new(cls, key, json_string(value ? value : ""));
    return MHD_YES;
}

static json_t *request_json(struct MHD_Connection *c, const char *url, const char *method,
                            json_t *params, const struct upload *up)
{
    json_t *query = json_object(), *headers = json_object();
    mhd.values(c, MHD_GET_ARGUMENT_KIND, collect, query);
    mhd.values(c, MHD_HEADER_KIND, collect, headers);
    json_t *body = json_loadb(up->data ? up->data : "", up->len, JSON_DECODE_ANY, NULL);
    return json_pack("{s:s,s:s,s:O,s:o,s:o,s:s%,s:o}", "method", method, "path", url, "path_params",
                     params, "query", query, "headers", headers, "body", up->data ? up->data : "",
                     up->len, "json", body ? body : json_null());
}

static bool serve_static(struct answer *a, const char *url)
{
    for (size_t i = 0; i < F.n_statics; i++) {
        const struct statics *s = &F.statics[i];
        size_t pl = strlen(s->prefix);
        if (strncmp(url, s->prefix, pl) != 0 || (url[pl] != '/' && url[pl] != '\0'))
            continue;
        const char *rest = url[pl] ? url + pl : "/";
        cleanup_free char *want =
            sv_xasprintf("%s%s%s", s->dir, rest, rest[strlen(rest) - 1] == '/' ? "index.html" : "");
        char real[PATH_MAX];
        size_t dl = strlen(s->dir);
        struct stat st;
        /* Only files inside the directory, symlinks followed: no escape. */
        if (realpath(want, real) == NULL || strncmp(real, s->dir, dl) != 0 || real[dl] != '/' ||
            stat(real, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        sv_error_t err = NULL;
        if (sv_read_file(real, 64u << 20, &a->body, &a->len, &err) < 0) {
            sv_error_free(&err);
            continue;
        }
        a->status = 200;
        a->type = ends_with(real, ".html")   ? "text/html; charset=utf-8"
                  : ends_with(real, ".css")  ? "text/css"
                  : ends_with(real, ".js")   ? "application/javascript"
                  : ends_with(real, ".json") ? "application/json"
                  : ends_with(real, ".svg")  ? "image/svg+xml"
                  : ends_with(real, ".png")  ? "image/png"
                                             : "application/octet-stream";
        a->route = s->prefix[0] ? s->prefix : "/";
        return true;
    }
    return false;
}

static void route(struct MHD_Connection *c, const char *url, const char *method,
                  const struct upload *up, struct answer *a)
{
    a->route = "unmatched";
    if (F.cors && strcmp(method, "OPTIONS") == 0) { /* a browser's preflight */
        a->status = 204;
        a->type = "text/plain";
        a->body = sv_xstrdup("");
        a->route = "preflight";
        return;
    }
    if (F.health && strcmp(url, "/health") == 0) {
        a->route = "/health";
        answer_json(a, 200,
                    json_pack("{s:s,s:s,s:s,s:I}", "status", "healthy", "service", F.name,
                              "version", F.version, "uptime",
                              (json_int_t)(time(NULL) - F.started)));
        return;
    }
    if (F.metrics && strcmp(url, "/metrics") == 0) {
        a->route = "/metrics";
        answer_metrics(a);
        return;
    }
    unsigned allowed = 0;
    for (size_t i = 0; i < F.n_routes; i++) {
        struct route *r = &F.routes[i];
        json_t *params = json_object();
        if (!match(r->path, url, params)) {
            json_decref(params);
            continue;
        }
        unsigned bit = (unsigned)method_bit(method);
        if (!(r->methods & bit)) {
            allowed |= r->methods;
            json_decref(params);
            continue;
        }
        a->route = r->path;
        if (r->kind == RESPONSE) {
            answer_json(a, 200, fill(r->response, params));
        } else {
            json_t *req = request_json(c, url, method, params, up);
            char *input = json_dumps(req, JSON_COMPACT);
            json_decref(req);
            struct sv_handler_result res;
            sv_error_t err = NULL;
            if (run_handler(r->target, r->kind == SHELL, "request", input, &res, &err) < 0) {
                bump(&F.failures);
                answer_error(a, 500, "cannot start the handler", err->msg);
                sv_error_free(&err);
            } else {
                answer_handler(a, &res, r->kind == SHELL && r->text);
            }
            sv_handler_result_free(&res);
            free(input);
        }
        json_decref(params);
        return;
    }
    if (allowed) {
        char *p = a->allow;
        for (size_t i = 0; i < SV_ARRAY_LEN(method_names); i++)
            if (allowed & (1u << i))
                p += snprintf(p, sizeof(a->allow) - (size_t)(p - a->allow), "%s%s",
                              p == a->allow ? "" : ", ", method_names[i]);
        answer_error(a, 405, "method not allowed", method);
        return;
    }
    if (serve_static(a, url))
        return;
    answer_error(a, 404, "not found", url);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_len, void **ctx)
{
    (void)cls, (void)version;
    struct upload *up = *ctx;
    if (up == NULL) {
        *ctx = sv_xcalloc(1, sizeof(*up));
        return MHD_YES;
    }
    if (*data_len) {
        if (up->len + *data_len > (16u << 20))
            return MHD_NO; /* 16 MiB of body is enough for a handler */
        up->data = sv_xrealloc(up->data, up->len + *data_len + 1);
        memcpy(up->data + up->len, data, *data_len);
        up->len += *data_len;
        up->data[up->len] = '\0';
        *data_len = 0;
        return MHD_YES;
    }
    double t0 = now_s();
    struct answer a = {0};
    route(c, url, method, up, &a);
    struct MHD_Response *resp = mhd.from_buffer(a.len, a.body, MHD_RESPMEM_MUST_FREE);
    mhd.add_header(resp, "Content-Type", a.type);
    if (a.allow[0])
        mhd.add_header(resp, "Allow", a.allow);
    if (F.cors) {
        mhd.add_header(resp, "Access-Control-Allow-Origin", F.cors);
        mhd.add_header(resp, "Access-Control-Allow-Methods",
                       "GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS");
        mhd.add_header(resp, "Access-Control-Allow-Headers", "*");
    }
    enum MHD_Result rc = mhd.queue(c, a.status, resp);
    mhd.destroy(resp);
    double secs = now_s() - t0;
    count(method, a.route, a.status, secs);
    printf("%s %s %u %.1fms\n", method, url, a.status, secs * 1000);
    fflush(stdout);
    return rc;
}

static void on_done(void *cls, struct MHD_Connection *c, void **ctx,
                    enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    struct upload *up = *ctx;
    if (up) {
        free(up->data);
        free(up);
    }
    *ctx = NULL;
}

/* ---- background tasks ------------------------------------------------------------------ */

static void *task_loop(void *arg)
{
    struct task *t = arg;
    while (!F.stopping) {
        struct sv_handler_result res;
        sv_error_t err = NULL;
        const char *label = t->target;
        if (run_handler(t->target, t->shell, "task", NULL, &res, &err) < 0) {
            printf("task %s: cannot start: %s\n", label, err->msg);
            sv_error_free(&err);
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

/* ---- main ---------------------------------------------------------------------------------- */

int sv_proserve_serve(const char *manifest_json)
{
    sv_error_t err = NULL;
    if (read_manifest(manifest_json, &err) < 0)
        return sv_error_report(&err);
    if (strcmp(F.mode, "micropython") == 0 || strcmp(F.mode, "arduino") == 0) {
        fprintf(stderr,
                "proserve: isolation.mode %s runs handlers on a board, which needs the board "
                "toolchains (%s) that servos does not drive yet; nothing was started\n",
                F.mode,
                strcmp(F.mode, "arduino") == 0 ? "avr-gcc, avrdude and a connected board"
                                               : "mpy-cross, a MicroPython board and its flasher");
        return 2;
    }
    if (strcmp(F.mode, "kubernetes") == 0) {
        fprintf(stderr, "proserve: isolation.mode kubernetes needs a cluster, which servos does "
                        "not drive; use container or process. Nothing was started\n");
        return 2;
    }
    F.lim.container = strcmp(F.mode, "container") == 0 || strcmp(F.mode, "docker") == 0 ||
                      strcmp(F.mode, "sandbox") == 0;
    if (load_mhd(&err) < 0 || sv_handler_init(&err) < 0)
        return sv_error_report(&err);
    build_env();
    if (F.lim.private_fs) /* handlers write only their own directory */
        for (const char *d = "/tmp\0/var/tmp\0/dev/shm\0"; *d; d += strlen(d) + 1)
            chmod(d, 0711);
    json_t *portj = json_object_get(F.doc, "port");
    int port = json_is_integer(portj) ? (int)json_integer_value(portj) : 8080;
    /* In its container the service listens on every address: the stack
     * network reaches it by name, and the manifest's host:port is where
     * the published port listens on the host. */
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit: only sigwait sees them */
    F.started = time(NULL);
    struct MHD_Daemon *d =
        mhd.start(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0,
                  NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                  MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_CONNECTION_LIMIT, 1000u,
                  MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
                  MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "proserve: cannot listen on port %d: %s\n", port, strerror(errno));
        return 1;
    }
    printf("proserve: %s %s listening on port %d (%zu endpoints, isolation %s)\n", F.name,
           F.version, port, F.n_routes, F.mode);
    fflush(stdout);
    pthread_t *threads = sv_xcalloc(F.n_tasks + 1, sizeof(*threads));
    for (size_t i = 0; i < F.n_tasks; i++)
        pthread_create(&threads[i], NULL, task_loop, &F.tasks[i]);
    int sig = 0;
    sigwait(&set, &sig);
    F.stopping = 1;
    printf("proserve: stopping (signal %d)\n", sig);
    fflush(stdout);
    mhd.stop(d);
    for (size_t i = 0; i < F.n_tasks; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    return 0;
}
