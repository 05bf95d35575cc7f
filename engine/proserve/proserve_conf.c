#include "proserve/proserve_int.h"

#include "graph/units.h"

#include <stdlib.h>
#include <string.h>

struct front F = {.lock = PTHREAD_MUTEX_INITIALIZER};

const char *const pf_method_names[7] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};

int pf_method_bit(const char *m)
{
    for (size_t i = 0; i < SV_ARRAY_LEN(pf_method_names); i++)
        if (strcasecmp(m, pf_method_names[i]) == 0)
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

int pf_read_manifest(const char *file, sv_error_t *err)
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
    /* network_isolation and the memory limit are the supervisor's to
     * enforce (pgateway.h); the service host reports them. */
    F.lim.private_fs = json_is_true(json_object_get(iso, "filesystem_isolation"));
    F.lim.clean_env = !json_is_false(json_object_get(iso, "environment_isolation"));

    size_t i;
    json_t *ep;
    json_array_foreach(json_object_get(F.doc, "endpoints"), i, ep)
    {
        struct route r = {.path = sv_xstrdup(jstr(ep, "path") ? jstr(ep, "path") : "/")};
        json_t *m = json_object_get(ep, "method");
        if (json_is_array(m)) {
            size_t k;
            json_t *one;
            json_array_foreach(m, k, one) r.methods |=
                (unsigned)pf_method_bit(json_string_value(one));
        } else {
            r.methods = (unsigned)pf_method_bit(json_is_string(m) ? json_string_value(m) : "GET");
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
void pf_build_env(void)
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
