/* The service a ProServe manifest describes, as the service host reads it
 * (the graph's `proserve` body, as JSON): its endpoints, static
 * directories, background tasks, handler limits and what handlers see of
 * the environment. */
#include "proserve/proserve_int.h"

#include "graph/units.h"

#include <stdlib.h>
#include <string.h>

struct pf_service pf_service;

const char *const pf_service_method_names[7] = {"GET",   "POST", "PUT",    "DELETE",
                                                "PATCH", "HEAD", "OPTIONS"};

int pf_service_method_bit(const char *m)
{
    for (size_t i = 0; i < SV_ARRAY_LEN(pf_service_method_names); i++)
        if (strcasecmp(m, pf_service_method_names[i]) == 0)
            return 1 << i;
    return 0;
}

const char *pf_service_method_label(const char *method)
{
    int bit = pf_service_method_bit(method);
    for (size_t i = 0; i < SV_ARRAY_LEN(pf_service_method_names); i++)
        if (bit == 1 << i)
            return pf_service_method_names[i];
    return "other";
}

static const char *jstr(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : NULL;
}

/* A manifest path relative to the manifest's directory. */
static char *in_base(const char *rel)
{
    return rel[0] == '/' ? sv_xstrdup(rel) : sv_xasprintf("%s/%s", pf_service.base_dir, rel);
}

static void add_static(const char *prefix, const char *dir)
{
    struct pf_service *svc = &pf_service;
    cleanup_free char *full = in_base(dir);
    char *real = realpath(full, NULL);
    if (real == NULL) {
        fprintf(stderr, "proserve: static directory %s is missing; not served\n", full);
        return;
    }
    svc->static_dirs =
        sv_xrealloc(svc->static_dirs, (svc->n_static_dirs + 1) * sizeof(*svc->static_dirs));
    size_t pl = strlen(prefix);
    while (pl > 0 && prefix[pl - 1] == '/')
        pl--;
    svc->static_dirs[svc->n_static_dirs++] =
        (struct pf_static_dir){.prefix = sv_xstrndup(prefix, pl), .dir = real};
}

/* The top-level switches: name, version, base_dir, health, metrics, CORS. */
static void read_switches(json_t *doc)
{
    struct pf_service *svc = &pf_service;
    svc->name = jstr(doc, "name") ? jstr(doc, "name") : "proserve";
    svc->version = jstr(doc, "version") ? jstr(doc, "version") : "1.0.0";
    svc->base_dir = jstr(doc, "base_dir") ? jstr(doc, "base_dir") : "/";
    svc->enable_health = !json_is_false(json_object_get(doc, "enable_health"));
    svc->enable_metrics = json_is_true(json_object_get(doc, "enable_metrics"));
    if (json_is_true(json_object_get(doc, "enable_cors"))) {
        /* cors_origins: a list (joined, as browsers accept one value: the
         * first) or "*" by default. */
        json_t *o = json_object_get(doc, "cors_origins");
        const char *first = json_is_array(o)    ? json_string_value(json_array_get(o, 0))
                            : json_is_string(o) ? json_string_value(o)
                                                : NULL;
        svc->cors = sv_xstrdup(first ? first : "*");
    }
}

/* isolation: the mode and the limits of a handler run. */
static int read_isolation(json_t *iso, sv_error_t *err)
{
    struct sv_handler_limits *lim = &pf_service.limits;
    pf_service.mode = jstr(iso, "mode") ? jstr(iso, "mode") : "none";
    json_t *t = json_object_get(iso, "timeout");
    lim->timeout = json_is_number(t) ? json_number_value(t) : 30;
    json_t *mem = json_object_get(iso, "memory_limit");
    if (!json_is_string(mem) && !json_is_integer(mem))
        mem = json_object_get(json_object_get(iso, "resources"), "memory");
    if (json_is_integer(mem)) {
        lim->memory = json_integer_value(mem);
    } else if (json_is_string(mem)) {
        int64_t bytes;
        if (sv_parse_size(json_string_value(mem), &bytes, err) < 0)
            return sv_error_wrap(err, "isolation.memory_limit");
        lim->memory = bytes;
    }
    /* network_isolation and the memory limit are the supervisor's to
     * enforce (pgateway.h); the service host reports them. */
    lim->private_fs = json_is_true(json_object_get(iso, "filesystem_isolation"));
    lim->clean_env = !json_is_false(json_object_get(iso, "environment_isolation"));
    pf_service.board = jstr(pf_service.manifest, "board") ? jstr(pf_service.manifest, "board")
                                                          : jstr(iso, "board");
    pf_service.platform = jstr(pf_service.manifest, "platform")
                              ? jstr(pf_service.manifest, "platform")
                              : jstr(iso, "platform");
    return 0;
}

/* An item's resolved "run" (stdlib/proserve_blocks.lua): a script and a
 * Python function, or a shell command with its converter. */
static struct pf_target read_target(json_t *item)
{
    json_t *run = json_object_get(item, "run");
    struct pf_target t = {0};
    if (jstr(run, "command")) {
        t.shell = true;
        t.target = sv_xstrdup(jstr(run, "command"));
        t.convert = json_incref(json_object_get(run, "convert"));
        json_t *to = json_object_get(run, "timeout");
        t.timeout = json_is_number(to) ? json_number_value(to) : 0;
    } else if (jstr(run, "target")) {
        t.target = in_base(jstr(run, "target"));
        t.function = jstr(run, "function") ? sv_xstrdup(jstr(run, "function")) : NULL;
    }
    return t;
}

static struct pf_endpoint read_endpoint(json_t *ep)
{
    struct pf_endpoint r = {.path = sv_xstrdup(jstr(ep, "path") ? jstr(ep, "path") : "/")};
    json_t *m = json_object_get(ep, "method");
    if (json_is_array(m)) {
        size_t k;
        json_t *one;
        json_array_foreach(m, k, one) r.methods |=
            (unsigned)pf_service_method_bit(json_string_value(one));
    } else {
        r.methods =
            (unsigned)pf_service_method_bit(json_is_string(m) ? json_string_value(m) : "GET");
    }
    if (json_object_get(ep, "response")) {
        r.kind = PF_RESPONSE;
        r.response = json_incref(json_object_get(ep, "response"));
    } else {
        r.run = read_target(ep);
        r.kind = r.run.shell ? PF_SHELL : PF_SCRIPT;
        if (r.run.target == NULL)
            r.run.target = sv_xstrdup("");
    }
    return r;
}

static struct pf_task read_task(json_t *task)
{
    json_t *iv = json_object_get(task, "interval");
    struct pf_task tk = {.interval = json_is_number(iv) ? json_number_value(iv) : 60};
    tk.run = read_target(task);
    if (tk.run.target == NULL)
        tk.run.target = sv_xstrdup("");
    tk.broadcast = json_is_true(json_object_get(task, "broadcast"));
    return tk;
}

static struct pf_ws_route read_ws_route(json_t *ws)
{
    struct pf_ws_route r = {.path = sv_xstrdup(jstr(ws, "path") ? jstr(ws, "path") : "/")};
    const char *builtin = jstr(json_object_get(ws, "run"), "builtin");
    r.kind = builtin == NULL                     ? PF_WS_RUN
             : strcmp(builtin, "broadcast") == 0 ? PF_WS_BROADCAST
                                                 : PF_WS_ECHO;
    if (r.kind == PF_WS_RUN)
        r.run = read_target(ws);
    json_t *c = json_object_get(ws, "on_connect"), *d = json_object_get(ws, "on_disconnect");
    if (json_object_get(ws, "on_connect_run")) {
        json_t *tmp = json_pack("{s:O}", "run", json_object_get(ws, "on_connect_run"));
        r.connect_run = read_target(tmp);
        json_decref(tmp);
    } else if (c && !json_is_null(c)) {
        r.on_connect = json_incref(c);
    }
    if (json_object_get(ws, "on_disconnect_run")) {
        json_t *tmp = json_pack("{s:O}", "run", json_object_get(ws, "on_disconnect_run"));
        r.disconnect_run = read_target(tmp);
        json_decref(tmp);
    } else if (d && !json_is_null(d)) {
        r.on_disconnect = json_incref(d);
    }
    return r;
}

/* api_proxy_rules, each with its resolved upstream. */
static void read_proxies(json_t *rules)
{
    struct pf_service *svc = &pf_service;
    size_t i;
    json_t *r;
    json_array_foreach(rules, i, r)
    {
        json_t *up = json_object_get(r, "upstream"), *to = json_object_get(r, "timeout");
        if (!jstr(up, "host") || !jstr(r, "path"))
            continue;
        svc->proxies = sv_xrealloc(svc->proxies, (svc->n_proxies + 1) * sizeof(*svc->proxies));
        struct pf_proxy_rule *p = &svc->proxies[svc->n_proxies++];
        size_t pl = strlen(jstr(r, "path"));
        while (pl > 1 && jstr(r, "path")[pl - 1] == '/')
            pl--;
        *p = (struct pf_proxy_rule){
            .prefix = sv_xstrndup(jstr(r, "path"), pl),
            .host = sv_xstrdup(jstr(up, "host")),
            .base = sv_xstrdup(jstr(up, "base") ? jstr(up, "base") : ""),
            .port = (int)json_integer_value(json_object_get(up, "port")),
            .strip = json_is_true(json_object_get(r, "strip_prefix")),
            .timeout = json_is_number(to) ? json_number_value(to) : 30,
            .headers = json_incref(json_object_get(r, "headers")),
        };
    }
}

/* static_files (URL -> file), static_hosting (a site: index, SPA). */
static void read_static_extras(json_t *doc)
{
    struct pf_service *svc = &pf_service;
    const char *url;
    json_t *f;
    json_object_foreach(json_object_get(doc, "static_files"), url, f)
    {
        cleanup_free char *full = json_is_string(f) ? in_base(json_string_value(f)) : NULL;
        char *real = full ? realpath(full, NULL) : NULL;
        if (real == NULL)
            continue; /* checked when the manifest was read: gone since */
        svc->static_files =
            sv_xrealloc(svc->static_files, (svc->n_static_files + 1) * sizeof(*svc->static_files));
        svc->static_files[svc->n_static_files++] = (struct pf_static_file){sv_xstrdup(url), real};
    }
    json_t *sh = json_object_get(doc, "static_hosting");
    if (!json_is_object(sh) || json_is_false(json_object_get(sh, "enabled")) || !jstr(sh, "path"))
        return;
    add_static(jstr(sh, "prefix") ? jstr(sh, "prefix") : "", jstr(sh, "path"));
    struct pf_static_dir *d = &svc->static_dirs[svc->n_static_dirs - 1];
    d->spa = json_is_true(json_object_get(sh, "spa_fallback"));
    d->index = jstr(sh, "index");
    json_t *age = json_object_get(sh, "cache_max_age");
    if (json_is_integer(age))
        svc->cache_control =
            sv_xasprintf("public, max-age=%lld", (long long)json_integer_value(age));
}

static void read_shell_config(json_t *sc)
{
    struct pf_service *svc = &pf_service;
    svc->shell = jstr(sc, "shell") ? jstr(sc, "shell") : "/bin/sh";
    const char *wd = jstr(svc->manifest, "shell_workdir");
    svc->shell_dir = wd ? in_base(wd) : NULL;
    json_t *t = json_object_get(sc, "timeout");
    svc->shell_timeout = json_is_number(t) ? json_number_value(t) : 0;
    svc->shell_env = json_object_get(sc, "env");
}

int pf_service_read(const char *file, sv_error_t *err)
{
    struct pf_service *svc = &pf_service;
    json_error_t jerr;
    json_t *doc = json_load_file(file, 0, &jerr); /* kept for the process's life */
    if (doc == NULL)
        return sv_error(err, 0, "%s:%d: %s", file, jerr.line, jerr.text);
    svc->manifest = doc;
    read_switches(doc);
    if (read_isolation(json_object_get(doc, "isolation"), err) < 0)
        return -1;
    size_t i;
    json_t *ep;
    json_array_foreach(json_object_get(doc, "endpoints"), i, ep)
    {
        svc->endpoints =
            sv_xrealloc(svc->endpoints, (svc->n_endpoints + 1) * sizeof(*svc->endpoints));
        svc->endpoints[svc->n_endpoints++] = read_endpoint(ep);
    }
    const char *key;
    json_t *dir;
    json_object_foreach(json_object_get(doc, "static_dirs"), key, dir)
    {
        if (json_is_string(dir))
            add_static(key, json_string_value(dir));
    }
    json_t *st = json_object_get(doc, "static");
    if (json_is_object(st) && !json_is_false(json_object_get(st, "enabled")) && jstr(st, "path"))
        add_static("", jstr(st, "path"));
    json_t *task;
    json_array_foreach(json_object_get(doc, "background_tasks"), i, task)
    {
        svc->tasks = sv_xrealloc(svc->tasks, (svc->n_tasks + 1) * sizeof(*svc->tasks));
        svc->tasks[svc->n_tasks++] = read_task(task);
    }
    for (const char *k = "websocket_handlers\0websockets\0"; *k; k += strlen(k) + 1) {
        json_t *ws;
        json_array_foreach(json_object_get(doc, k), i, ws)
        {
            svc->ws_routes =
                sv_xrealloc(svc->ws_routes, (svc->n_ws_routes + 1) * sizeof(*svc->ws_routes));
            svc->ws_routes[svc->n_ws_routes++] = read_ws_route(ws);
        }
    }
    read_static_extras(doc);
    read_proxies(json_object_get(doc, "api_proxy_rules"));
    read_shell_config(json_object_get(doc, "shell_config"));
    svc->tls = json_is_object(json_object_get(doc, "tls")) ? json_object_get(doc, "tls") : NULL;
    return 0;
}

/* What handlers see: with environment_isolation, PATH, LANG and the
 * manifest's own variables (environment, env_vars) only. */
void pf_service_env(void)
{
    struct pf_service *svc = &pf_service;
    extern char **environ;
    size_t n = 0;
    for (char **e = environ; *e; e++)
        n++;
    svc->handler_env = sv_xcalloc(n + 4, sizeof(char *));
    size_t k = 0;
    if (!svc->limits.clean_env) {
        for (char **e = environ; *e; e++)
            svc->handler_env[k++] = sv_xstrdup(*e);
        return;
    }
    svc->handler_env[k++] = sv_xstrdup("PATH=/usr/local/bin:/usr/bin:/bin");
    svc->handler_env[k++] = sv_xstrdup("LANG=C.UTF-8");
    json_t *envmap = json_object_get(svc->manifest, "environment");
    json_t *names = json_object_get(svc->manifest, "env_vars");
    for (char **e = environ; *e; e++) {
        cleanup_free char *name = sv_xstrndup(*e, strcspn(*e, "="));
        bool wanted = json_object_get(envmap, name) != NULL ||
                      (json_is_object(names) && json_object_get(names, name));
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v) wanted |=
            json_is_string(v) && strcmp(json_string_value(v), name) == 0;
        if (wanted && strcmp(name, "PATH") != 0 && strcmp(name, "LANG") != 0)
            svc->handler_env[k++] = sv_xstrdup(*e);
    }
    /* .env and env_files, as ProServe loads them: under what is set. */
    const char *key;
    json_t *val;
    json_object_foreach(json_object_get(svc->manifest, "dotenv"), key, val)
    {
        bool set = false;
        for (size_t i = 0; i < k && !set; i++)
            set = strncmp(svc->handler_env[i], key, strlen(key)) == 0 &&
                  svc->handler_env[i][strlen(key)] == '=';
        if (!set && json_is_string(val)) {
            svc->handler_env = sv_xrealloc(svc->handler_env, (k + 2) * sizeof(char *));
            svc->handler_env[k++] = sv_xasprintf("%s=%s", key, json_string_value(val));
            svc->handler_env[k] = NULL;
        }
    }
}
