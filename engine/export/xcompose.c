/* `servos export compose`: the normalised graph as one Compose file, which
 * Docker Compose and podman-compose read, and which servos reads back to
 * the same graph (tests/88-export.t checks both). Every value is written
 * as the graph holds it: commands as lists, paths absolute, an env_file
 * already merged into environment, sizes and durations exact. */
#include "export/export_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* A size both Compose and servos read: "256m", "1g", or bytes. */
static void put_size(struct xp *p, struct sv_xn *m, const char *key, int64_t b)
{
    static const struct {
        int shift;
        const char *unit;
    } units[] = {{30, "g"}, {20, "m"}, {10, "k"}};
    for (size_t i = 0; i < SV_ARRAY_LEN(units); i++)
        if (b >= ((int64_t)1 << units[i].shift) && b % ((int64_t)1 << units[i].shift) == 0) {
            sv_xn_str(p->d, m, key,
                      sv_xdoc_printf(p->d, "%" PRId64 "%s", b >> units[i].shift, units[i].unit));
            return;
        }
    sv_xn_int(p->d, m, key, b);
}

static void put_deploy(struct xp *p, const struct sv_service *s, struct sv_xn *svc)
{
    struct sv_xn *dep = sv_xn_map(p->d, svc, "deploy");
    sv_xn_int(p->d, dep, "replicas", s->replicas);
    if (s->memory <= 0 && s->cpus < 0 && s->pids <= 0)
        return;
    struct sv_xn *lim = sv_xn_map(p->d, sv_xn_map(p->d, dep, "resources"), "limits");
    if (s->cpus >= 0)
        sv_xn_str(p->d, lim, "cpus", sv_xdoc_printf(p->d, "%g", s->cpus));
    if (s->memory > 0)
        put_size(p, lim, "memory", s->memory);
    if (s->pids > 0)
        sv_xn_int(p->d, lim, "pids", s->pids);
}

/* volumes (long syntax, or short for ":U", which only the short one has)
 * and tmpfs (short, with every option). */
static void put_mounts(struct xp *p, const struct sv_service *s, struct sv_xn *svc)
{
    struct sv_xn *vols = NULL, *tmpfs = NULL;
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct sv_mount *m = &s->mounts[i];
        if (m->type == SV_MOUNT_TMPFS) {
            tmpfs = tmpfs ? tmpfs : sv_xn_seq(p->d, svc, "tmpfs");
            sv_xn_str(p->d, tmpfs, NULL,
                      m->options ? sv_xdoc_printf(p->d, "%s:%s", m->target, m->options)
                                 : m->target);
            continue;
        }
        vols = vols ? vols : sv_xn_seq(p->d, svc, "volumes");
        if (m->chown) {
            sv_xn_str(
                p->d, vols, NULL,
                sv_xdoc_printf(p->d, "%s:%s:%sU", m->source, m->target, m->read_only ? "ro," : ""));
            continue;
        }
        struct sv_xn *v = sv_xn_map(p->d, vols, NULL);
        sv_xn_str(p->d, v, "type", m->type == SV_MOUNT_BIND ? "bind" : "volume");
        if (m->source)
            sv_xn_str(p->d, v, "source", m->source);
        sv_xn_str(p->d, v, "target", m->target);
        if (m->read_only)
            sv_xn_bool(p->d, v, "read_only", true);
    }
}

static void put_ports(struct xp *p, const struct sv_service *s, struct sv_xn *svc)
{
    if (s->n_ports == 0)
        return;
    struct sv_xn *ports = sv_xn_seq(p->d, svc, "ports");
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct sv_port_spec *ps = &s->ports[i];
        struct sv_xn *m = sv_xn_map(p->d, ports, NULL);
        sv_xn_int(p->d, m, "target", ps->container);
        if (ps->host > 0)
            sv_xn_str(p->d, m, "published", sv_xdoc_printf(p->d, "%d", ps->host));
        sv_xn_str(p->d, m, "host_ip", sv_xdoc_strdup(p->d, ps->host_ip));
        sv_xn_str(p->d, m, "protocol", sv_xdoc_strdup(p->d, ps->protocol));
    }
}

static void put_lifecycle(struct xp *p, const struct sv_service *s, struct sv_xn *svc)
{
    static const char *const conds[] = {"service_started", "service_healthy",
                                        "service_completed_successfully"};
    if (s->n_deps) {
        struct sv_xn *deps = sv_xn_map(p->d, svc, "depends_on");
        for (size_t i = 0; i < s->n_deps; i++)
            sv_xn_str(p->d, sv_xn_map(p->d, deps, s->deps[i].service), "condition",
                      conds[s->deps[i].condition]);
    }
    if (s->restart != SV_RESTART_NO)
        sv_xn_str(p->d, svc, "restart",
                  s->restart == SV_RESTART_ON_FAILURE && s->restart_max > 0
                      ? sv_xdoc_printf(p->d, "on-failure:%d", s->restart_max)
                      : sv_restart_name(s->restart));
    const struct sv_health *h = s->health;
    if (h) {
        struct sv_xn *hc = sv_xn_map(p->d, svc, "healthcheck");
        /* a shell's test as the string Compose runs by /bin/sh -c (what
         * servos made of one); any other as CMD and its words */
        const char *const *t = h->test;
        if (t[0] && t[1] && t[2] && !t[3] && strcmp(t[0], "/bin/sh") == 0 &&
            strcmp(t[1], "-c") == 0) {
            sv_xn_str(p->d, hc, "test", t[2]);
        } else {
            struct sv_xn *test = sv_xn_seq(p->d, hc, "test");
            sv_xn_str(p->d, test, NULL, "CMD");
            for (const char *const *a = h->test; *a; a++)
                sv_xn_str(p->d, test, NULL, *a);
        }
        sv_xn_str(p->d, hc, "interval", sv_xname_duration(p->d, h->interval_ms));
        sv_xn_str(p->d, hc, "timeout", sv_xname_duration(p->d, h->timeout_ms));
        sv_xn_int(p->d, hc, "retries", h->retries);
        if (h->start_period_ms > 0)
            sv_xn_str(p->d, hc, "start_period", sv_xname_duration(p->d, h->start_period_ms));
    }
    if (s->stop_signal && s->stop_signal != 15)
        sv_xn_str(p->d, svc, "stop_signal", sv_xdoc_strdup(p->d, sv_signal_name(s->stop_signal)));
    if (s->stop_grace_ms >= 0)
        sv_xn_str(p->d, svc, "stop_grace_period", sv_xname_duration(p->d, s->stop_grace_ms));
}

static void put_kv(struct xp *p, struct sv_xn *svc, const char *key, const struct sv_kv *kv,
                   size_t n)
{
    if (n == 0)
        return;
    struct sv_xn *m = sv_xn_map(p->d, svc, key);
    for (size_t i = 0; i < n; i++)
        sv_xn_str(p->d, m, kv[i].key, kv[i].value);
}

static void put_container(struct xp *p, const struct sv_service *s, struct sv_xn *svc)
{
    if (s->working_dir)
        sv_xn_str(p->d, svc, "working_dir", s->working_dir);
    if (s->user)
        sv_xn_str(p->d, svc, "user", s->user);
    if (s->hostname)
        sv_xn_str(p->d, svc, "hostname", s->hostname);
    if (s->read_only)
        sv_xn_bool(p->d, svc, "read_only", true);
    if (s->init)
        sv_xn_bool(p->d, svc, "init", true);
    if (s->tty)
        sv_xn_bool(p->d, svc, "tty", true);
    if (s->stdin_open)
        sv_xn_bool(p->d, svc, "stdin_open", true);
    if (s->cap_add[0])
        sv_xn_strv(p->d, svc, "cap_add", s->cap_add);
    if (s->cap_drop[0])
        sv_xn_strv(p->d, svc, "cap_drop", s->cap_drop);
    put_kv(p, svc, "labels", s->labels, s->n_labels);
    if (strcmp(s->network, "stack") != 0)
        sv_xn_str(p->d, svc, "network_mode", s->network);
    if (strcmp(s->userns, "host") == 0)
        sv_xn_str(p->d, svc, "userns_mode", "host");
    if (s->platform)
        sv_xn_str(p->d, svc, "platform", s->platform);
    if (s->board)
        sv_export_warn(p, s, "board", "\"%s\": Compose has no boards; not exported", s->board);
    if (s->toolchain)
        sv_export_warn(p, s, "toolchain", "\"%s\": Compose has no boards; not exported",
                       s->toolchain);
    if (s->emulate)
        sv_export_warn(p, s, "emulate", "Compose has no boards; not exported");
    if (s->flash)
        sv_export_warn(p, s, "flash", "%s: Compose has no boards; not exported", s->flash->port);
    if (s->profiles[0])
        sv_xn_strv(p->d, svc, "profiles", s->profiles);
    if (s->log_max_size > 0 || s->log_max_files > 0) {
        struct sv_xn *lg = sv_xn_map(p->d, svc, "logging");
        sv_xn_str(p->d, lg, "driver", "json-file");
        struct sv_xn *o = sv_xn_map(p->d, lg, "options");
        if (s->log_max_size > 0)
            sv_xn_str(p->d, o, "max-size", sv_xdoc_printf(p->d, "%" PRId64, s->log_max_size));
        if (s->log_max_files > 0)
            sv_xn_str(p->d, o, "max-file", sv_xdoc_printf(p->d, "%d", s->log_max_files));
    }
}

static void put_files(struct xp *p, const struct sv_service *s, struct sv_xn *svc, bool config)
{
    struct sv_xn *list = NULL;
    for (size_t i = 0; i < s->n_files; i++) {
        const struct sv_file_ref *f = &s->files[i];
        if (f->config != config)
            continue;
        list = list ? list : sv_xn_seq(p->d, svc, config ? "configs" : "secrets");
        struct sv_xn *m = sv_xn_map(p->d, list, NULL);
        sv_xn_str(p->d, m, "source", f->source);
        sv_xn_str(p->d, m, "target", f->target);
        sv_xn_str(p->d, m, "uid", sv_xdoc_printf(p->d, "%lld", (long long)f->uid));
        sv_xn_str(p->d, m, "gid", sv_xdoc_printf(p->d, "%lld", (long long)f->gid));
        /* octal as written: YAML 1.1 readers take 0440 as octal, servos its digits */
        sv_xn_scalar(p->d, m, "mode", sv_xdoc_printf(p->d, "0%o", f->mode));
    }
}

static void put_compose(struct xp *p, const struct sv_service *s, struct sv_xn *svc)
{
    if (s->container_name)
        sv_xn_str(p->d, svc, "container_name", s->container_name);
    /* A list unless there are aliases: podman-compose 1.0 (Debian 12's)
     * reads the mapping form's entries as "NAME=SETTINGS" */
    bool aliases = false;
    for (size_t i = 0; i < s->n_networks; i++)
        aliases |= s->networks[i].aliases[0] != NULL;
    struct sv_xn *nets = NULL;
    if (s->n_networks)
        nets = aliases ? sv_xn_map(p->d, svc, "networks") : sv_xn_seq(p->d, svc, "networks");
    for (size_t i = 0; i < s->n_networks; i++) {
        if (!aliases) {
            sv_xn_str(p->d, nets, NULL, s->networks[i].network);
            continue;
        }
        struct sv_xn *n = sv_xn_map(p->d, nets, s->networks[i].network);
        if (s->networks[i].aliases[0])
            sv_xn_strv(p->d, n, "aliases", s->networks[i].aliases);
    }
    put_files(p, s, svc, false);
    put_files(p, s, svc, true);
    /* "NAME=VALUE" items: podman-compose 1.0 drops a mapping's values */
    if (s->n_sysctls) {
        struct sv_xn *sys = sv_xn_seq(p->d, svc, "sysctls");
        for (size_t i = 0; i < s->n_sysctls; i++)
            sv_xn_str(p->d, sys, NULL,
                      sv_xdoc_printf(p->d, "%s=%s", s->sysctls[i].key, s->sysctls[i].value));
    }
    if (s->n_devices) {
        struct sv_xn *dev = sv_xn_seq(p->d, svc, "devices");
        for (size_t i = 0; i < s->n_devices; i++)
            sv_xn_str(p->d, dev, NULL,
                      sv_xdoc_printf(p->d, "%s:%s:%s", s->devices[i].source, s->devices[i].target,
                                     s->devices[i].access));
    }
    if (s->n_extra_hosts) {
        struct sv_xn *eh = sv_xn_seq(p->d, svc, "extra_hosts");
        for (size_t i = 0; i < s->n_extra_hosts; i++)
            sv_xn_str(
                p->d, eh, NULL,
                sv_xdoc_printf(p->d, "%s:%s", s->extra_hosts[i].key, s->extra_hosts[i].value));
    }
}

/* A ProServe service: servos' service host in the servos image, the
 * manifest as a config, its directory bound read-only where it is. */
static int put_proserve(struct xp *p, const struct sv_service *s, struct sv_xn *svc,
                        struct sv_xn *configs)
{
    const char *image = sv_export_servos_image(p);
    if (image == NULL)
        return sv_export_fail(p, s, "proserve",
                              "a ProServe service runs servos' service host: give --servos-image "
                              "REF (an image with servos on its PATH)");
    sv_xn_str(p->d, svc, "image", image);
    sv_xn_strv(p->d, svc, "entrypoint",
               (const char *[]){"servos", "proserve-host", "--direct-handlers",
                                "/etc/servos/proserve.json", NULL});
    const char *cname = sv_xdoc_printf(p->d, "%s-proserve", s->name);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        sv_oom();
    sv_graph_json_print_value(s->proserve, f);
    fputc('\n', f);
    fclose(f);
    sv_xn_str(p->d, sv_xn_map(p->d, configs, cname), "content", sv_xdoc_strdup(p->d, text));
    free(text);
    struct sv_xn *m = sv_xn_map(p->d, sv_xn_seq(p->d, svc, "configs"), NULL);
    sv_xn_str(p->d, m, "source", cname);
    sv_xn_str(p->d, m, "target", "/etc/servos/proserve.json");
    sv_export_warn(p, s, "proserve",
                   "exported as servos' service host in %s with the manifest as a config; servos "
                   "reads the manifest itself better (servos up manifest.yaml)",
                   image);
    return 0;
}

static int put_service(struct xp *p, const struct sv_service *s, struct sv_xn *svcs,
                       struct sv_xn *configs)
{
    struct sv_xn *svc = sv_xn_map(p->d, svcs, s->name);
    if (s->proserve) {
        if (put_proserve(p, s, svc, configs) < 0)
            return -1;
    } else {
        const char *image = s->image; /* one built here: Compose builds it as servos does */
        if (s->build == NULL && sv_export_image(p, s, &image) < 0)
            return -1;
        sv_xn_str(p->d, svc, "image", image);
        if (s->build) {
            struct sv_xn *b = sv_xn_map(p->d, svc, "build");
            sv_xn_str(p->d, b, "context", s->build->context);
            if (s->build->dockerfile)
                sv_xn_str(p->d, b, "dockerfile", s->build->dockerfile);
            if (s->build->target)
                sv_xn_str(p->d, b, "target", s->build->target);
            put_kv(p, b, "args", s->build->args, s->build->n_args);
        }
        if (s->entrypoint)
            sv_xn_strv(p->d, svc, "entrypoint", s->entrypoint);
        if (s->command)
            sv_xn_strv(p->d, svc, "command", s->command);
    }
    put_kv(p, svc, "environment", s->env, s->n_env);
    put_deploy(p, s, svc);
    put_mounts(p, s, svc);
    put_ports(p, s, svc);
    put_lifecycle(p, s, svc);
    put_container(p, s, svc);
    put_compose(p, s, svc);
    return 0;
}

/* Top-level secrets and configs: where each came from. */
static void put_filedefs(struct xp *p, struct sv_xn *root, struct sv_xn *configs)
{
    struct sv_xn *secrets = NULL;
    for (size_t i = 0; i < p->g->n_files; i++) {
        const struct sv_filedef *f = &p->g->files[i];
        struct sv_xn *top = f->config ? configs : secrets;
        if (top == NULL)
            top = secrets = sv_xn_map(p->d, root, "secrets");
        struct sv_xn *m = sv_xn_map(p->d, top, f->name);
        if (f->file) {
            sv_xn_str(p->d, m, "file", f->file);
        } else if (f->env) {
            sv_xn_str(p->d, m, "environment", f->env);
        } else {
            sv_xn_str(p->d, m, "content", sv_xdoc_printf(p->d, "%.*s", (int)f->len, f->data));
            if (!f->config)
                sv_export_warn(p, NULL, "secrets",
                               "\"%s\": its content is written as content:, which Docker "
                               "Compose takes for configs only (servos takes it for both)",
                               f->name);
        }
    }
}

/* Compose reads ${NAME} (and $NAME) in every value as a variable and "$$"
 * as "$": each "$" the graph holds is doubled so it arrives as written. */
static void escape_dollars(struct xp *p, struct sv_xn *n)
{
    if (n->kind == SV_XN_STR && n->s && strchr(n->s, '$')) {
        size_t extra = 0;
        for (const char *c = n->s; *c; c++)
            extra += *c == '$';
        char *out = sv_xdoc_alloc(p->d, strlen(n->s) + extra + 1), *o = out;
        for (const char *c = n->s; *c; c++) {
            if (*c == '$')
                *o++ = '$';
            *o++ = *c;
        }
        n->s = out;
    }
    for (struct sv_xn *c = n->head; c; c = c->next)
        escape_dollars(p, c);
}

int sv_xcompose_export(const struct sv_graph *g, const struct sv_export_opts *o,
                       struct sv_export *x, sv_error_t *err)
{
    struct xp p = {.g = g, .o = o, .x = x, .d = &x->doc, .err = err, .stack = g->stack};
    struct sv_xn *root = sv_export_add(&p, "Compose file", g->stack, "compose.yaml")->root;
    sv_xn_str(p.d, root, "name", g->stack);
    if (g->commit) {
        struct sv_xn *xs = sv_xn_map(p.d, root, "x-servos");
        sv_xn_str(p.d, xs, "source", g->source);
        sv_xn_str(p.d, xs, "commit", g->commit);
    }
    struct sv_xn *svcs = sv_xn_map(p.d, root, "services");
    struct sv_xn *configs = sv_xn_map(p.d, NULL, "configs");
    for (size_t i = 0; i < g->n_services; i++)
        if (put_service(&p, &g->services[i], svcs, configs) < 0)
            return -1;
    if (g->n_volumes) {
        struct sv_xn *vols = sv_xn_map(p.d, root, "volumes");
        for (size_t i = 0; i < g->n_volumes; i++)
            sv_xn_map(p.d, vols, g->volumes[i].name);
    }
    if (g->n_networks) {
        struct sv_xn *nets = sv_xn_map(p.d, root, "networks");
        for (size_t i = 0; i < g->n_networks; i++)
            sv_xn_bool(p.d, sv_xn_map(p.d, nets, g->networks[i].name), "internal",
                       g->networks[i].internal);
    }
    put_filedefs(&p, root, configs);
    if (configs->n) /* made aside: the services' ProServe manifests come first */
        sv_xn_append(root, "configs", configs);
    escape_dollars(&p, root);
    return 0;
}
