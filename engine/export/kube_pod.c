/* A service's pod: its container (image, command, environment, ports,
 * resources, probe), the security context that carries servos' defaults
 * (a user namespace, the default seccomp profile, Docker's 14 capabilities
 * and no privilege escalation), and the init containers that wait for its
 * dependencies. */
#include "export/export_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Docker's default capabilities, which servos keeps (runtime/caps.c);
 * Kubernetes gets them by name, after dropping ALL, so the container has
 * the same set whatever the cluster's runtime gives by default. */
static const char *const default_caps[] = {
    "CHOWN",  "DAC_OVERRIDE", "FSETID",  "FOWNER",           "MKNOD",      "NET_RAW", "SETGID",
    "SETUID", "SETFCAP",      "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",    "AUDIT_WRITE",
};

bool sv_kpod_reachable(const struct sv_service *s)
{
    return strcmp(s->network, "stack") == 0;
}

void sv_kpod_selector(struct xp *p, const struct sv_service *s, struct sv_xn *map)
{
    sv_xn_str(p->d, map, "app.kubernetes.io/name", p->names[s - p->g->services]);
    sv_xn_str(p->d, map, "app.kubernetes.io/part-of", p->stack);
}

/* Kubernetes expands $(NAME) in commands and variables and reads "$$" as
 * "$": a "$" before "$" or "(" is doubled so the text arrives as written. */
static const char *kesc(struct xp *p, const char *s)
{
    size_t extra = 0;
    for (const char *c = s; *c; c++)
        extra += c[0] == '$' && (c[1] == '$' || c[1] == '(');
    if (extra == 0)
        return s;
    char *out = sv_xdoc_alloc(p->d, strlen(s) + extra + 1), *o = out;
    for (const char *c = s; *c; c++) {
        if (c[0] == '$' && (c[1] == '$' || c[1] == '('))
            *o++ = '$';
        *o++ = *c;
    }
    return out;
}

static void kesc_strv(struct xp *p, struct sv_xn *parent, const char *key, const char *const *v)
{
    struct sv_xn *seq = sv_xn_seq(p->d, parent, key);
    for (; v && *v; v++)
        sv_xn_str(p->d, seq, NULL, kesc(p, *v));
}

void sv_kpod_labels(struct xp *p, const struct sv_service *s, struct sv_xn *labels,
                    struct sv_xn *root)
{
    for (size_t i = 0; i < s->n_labels; i++) {
        const struct sv_kv *l = &s->labels[i];
        /* Kubernetes' labels are for selecting, with strict names and
         * short values; a Compose label is anything. What is no label
         * there is an annotation, and servos' own names stay its own. */
        bool own = strncmp(l->key, "app.kubernetes.io/", 18) == 0;
        if (!own && sv_xname_label_key_ok(l->key) && sv_xname_label_value_ok(l->value))
            sv_xn_str(p->d, labels, l->key, l->value);
        else
            sv_xn_str(p->d, sv_export_meta(p, root, "annotations"), l->key, l->value);
    }
    if (s->profiles[0]) {
        size_t n = 0;
        for (const char *const *v = s->profiles; *v; v++)
            n += strlen(*v) + 1;
        char *all = sv_xdoc_alloc(p->d, n + 1);
        for (const char *const *v = s->profiles; *v; v++)
            strcat(strcat(all, all[0] ? "," : ""), *v);
        sv_xn_str(p->d, sv_export_meta(p, root, "annotations"), "servos/profiles", all);
    }
}

/* user "1000" or "1000:100" as runAsUser and runAsGroup; a name is known
 * only to the image, which Kubernetes does not read. */
static void ctr_user(struct xp *p, const struct sv_service *s, struct sv_xn *sc)
{
    if (s->user == NULL)
        return;
    char *end;
    long long uid = strtoll(s->user, &end, 10);
    long long gid = -1;
    bool ok = end != s->user && uid >= 0;
    if (ok && *end == ':') {
        const char *g = end + 1;
        gid = strtoll(g, &end, 10);
        ok = end != g && gid >= 0;
    }
    if (!ok || *end != '\0') {
        sv_export_warn(p, s, "user",
                       "\"%s\": Kubernetes takes numeric ids only (runAsUser); not exported: "
                       "write the ids, or set USER in the image",
                       s->user);
        return;
    }
    sv_xn_int(p->d, sc, "runAsUser", uid);
    if (gid >= 0)
        sv_xn_int(p->d, sc, "runAsGroup", gid);
}

static bool cap_in(const char *cap, const char *const *list)
{
    for (; list && *list; list++)
        if (strcasecmp(cap, *list) == 0 ||
            (strncasecmp(*list, "CAP_", 4) == 0 && strcasecmp(cap, *list + 4) == 0))
            return true;
    return false;
}

/* Drop ALL, then add servos' set: Docker's 14 (not MKNOD with the host's
 * user namespace), less cap_drop, plus cap_add. Returns whether
 * SYS_ADMIN (or ALL) is among them. */
static bool ctr_caps(struct xp *p, const struct sv_service *s, struct sv_xn *sc)
{
    struct sv_xn *caps = sv_xn_map(p->d, sc, "capabilities");
    sv_xn_strv(p->d, caps, "drop", (const char *[]){"ALL", NULL});
    struct sv_xn *add = sv_xn_seq(p->d, caps, "add");
    bool all = cap_in("ALL", s->cap_add), admin = all;
    if (all) {
        sv_xn_str(p->d, add, NULL, "ALL");
        return true;
    }
    bool drop_all = cap_in("ALL", s->cap_drop);
    bool host_users = strcmp(s->userns, "host") == 0;
    for (size_t i = 0; i < SV_ARRAY_LEN(default_caps) && !drop_all; i++)
        if (!cap_in(default_caps[i], s->cap_drop) &&
            !(host_users && strcmp(default_caps[i], "MKNOD") == 0))
            sv_xn_str(p->d, add, NULL, default_caps[i]);
    for (const char *const *c = s->cap_add; *c; c++) {
        const char *name = sv_xname_cap(p->d, *c);
        bool dup = false;
        for (size_t i = 0; i < SV_ARRAY_LEN(default_caps); i++)
            dup |= strcmp(default_caps[i], name) == 0 && !drop_all;
        if (!dup)
            sv_xn_str(p->d, add, NULL, name);
        admin |= strcmp(name, "SYS_ADMIN") == 0;
    }
    return admin;
}

static void ctr_security(struct xp *p, const struct sv_service *s, struct sv_xn *ctr)
{
    struct sv_xn *sc = sv_xn_map(p->d, ctr, "securityContext");
    bool admin = ctr_caps(p, s, sc);
    /* servos runs everything with no_new_privs; Kubernetes refuses that
     * beside SYS_ADMIN (its API validation), so there it is left out. */
    if (admin)
        sv_export_warn(p, s, "cap_add",
                       "Kubernetes refuses allowPrivilegeEscalation: false beside SYS_ADMIN; the "
                       "container may gain privileges (servos' no_new_privs is not exported)");
    else
        sv_xn_bool(p->d, sc, "allowPrivilegeEscalation", false);
    sv_xn_bool(p->d, sc, "readOnlyRootFilesystem", s->read_only);
    ctr_user(p, s, sc);
}

/* memory and cpus as limits, and as requests of the same size: servos
 * reserves what it limits (a pod is then of the Guaranteed class). */
static void ctr_resources(struct xp *p, const struct sv_service *s, struct sv_xn *ctr)
{
    if (s->memory <= 0 && s->cpus < 0)
        return;
    struct sv_xn *res = sv_xn_map(p->d, ctr, "resources");
    for (int i = 0; i < 2; i++) {
        struct sv_xn *m = sv_xn_map(p->d, res, i == 0 ? "limits" : "requests");
        if (s->cpus >= 0)
            sv_xn_str(p->d, m, "cpu", sv_xname_cpus(p->d, s->cpus));
        if (s->memory > 0)
            sv_xn_str(p->d, m, "memory", sv_xname_bytes(p->d, s->memory));
    }
}

/* A duration in whole seconds; a fraction is rounded up, with a warning. */
static int64_t seconds(struct xp *p, const struct sv_service *s, const char *key, int64_t ms)
{
    bool exact;
    int64_t sec = sv_xname_seconds(ms, 1, &exact);
    if (!exact)
        sv_export_warn(p, s, key, "%lld ms: Kubernetes counts whole seconds; %lld s exported",
                       (long long)ms, (long long)sec);
    return sec;
}

/* healthcheck: a readiness probe. Like servos' health, it restarts
 * nothing: it decides whether the pod is in its Service (what a
 * dependent's wait sees). A start period needs no counterpart: a pod
 * that is not ready yet only waits. */
static void ctr_probe(struct xp *p, const struct sv_service *s, struct sv_xn *ctr)
{
    const struct sv_health *h = s->health;
    if (h == NULL)
        return;
    struct sv_xn *pr = sv_xn_map(p->d, ctr, "readinessProbe");
    struct sv_xn *ex = sv_xn_map(p->d, pr, "exec");
    sv_xn_strv(p->d, ex, "command", h->test);
    sv_xn_int(p->d, pr, "periodSeconds", seconds(p, s, "healthcheck.interval", h->interval_ms));
    sv_xn_int(p->d, pr, "timeoutSeconds", seconds(p, s, "healthcheck.timeout", h->timeout_ms));
    sv_xn_int(p->d, pr, "failureThreshold", h->retries);
}

/* The container's ports: those published (as hostPort where asked). */
static int ctr_ports(struct xp *p, const struct sv_service *s, struct sv_xn *ctr)
{
    struct sv_xn *ports = NULL;
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct sv_port_spec *ps = &s->ports[i];
        if (strcmp(ps->protocol, "tcp") != 0)
            return sv_export_fail(p, s, "ports",
                                  "%d/%s: servos publishes TCP only, and exports the same",
                                  ps->container, ps->protocol);
        bool hostport = p->o->publish == SV_PUBLISH_HOSTPORT && ps->host > 0;
        bool seen = false;
        for (size_t j = 0; j < i && !hostport; j++)
            seen |= s->ports[j].container == ps->container;
        if (seen)
            continue;
        ports = ports ? ports : sv_xn_seq(p->d, ctr, "ports");
        struct sv_xn *m = sv_xn_map(p->d, ports, NULL);
        sv_xn_int(p->d, m, "containerPort", ps->container);
        sv_xn_str(p->d, m, "protocol", "TCP");
        if (hostport) {
            sv_xn_int(p->d, m, "hostPort", ps->host);
            if (strcmp(ps->host_ip, "0.0.0.0") != 0 && ps->host_ip[0])
                sv_xn_str(p->d, m, "hostIP", sv_xdoc_strdup(p->d, ps->host_ip));
        }
    }
    return 0;
}

/* An init container per dependency: it waits until the dependency's
 * Service resolves, which a headless Service does once a pod of it is
 * ready (started, or healthy when it has a healthcheck). */
static void init_containers(struct xp *p, const struct sv_service *s, struct sv_xn *spec)
{
    struct sv_xn *inits = NULL;
    for (size_t i = 0; i < s->n_deps; i++) {
        const struct sv_dep *dep = &s->deps[i];
        const struct sv_service *t = sv_graph_find(p->g, dep->service);
        const char *cond = sv_graph_dep_condition_name(dep->condition);
        if (dep->condition == SV_DEP_COMPLETED) {
            sv_export_warn(p, s, "depends_on",
                           "%s (completed): a pod cannot wait for another workload to complete; "
                           "%s is a Job, and this service may start before it is done",
                           dep->service, dep->service);
            continue;
        }
        if (t == NULL || !sv_kpod_reachable(t)) {
            sv_export_warn(p, s, "depends_on",
                           "%s (%s): it is on network \"%s\", with no Service to wait for; not "
                           "exported",
                           dep->service, cond, t ? t->network : "?");
            continue;
        }
        const char *name = p->names[t - p->g->services];
        inits = inits ? inits : sv_xn_seq(p->d, spec, "initContainers");
        struct sv_xn *c = sv_xn_map(p->d, inits, NULL);
        sv_xn_str(p->d, c, "name", sv_xname_join(p->d, "wait-for", name));
        sv_xn_str(p->d, c, "image", p->o->wait_image);
        /* The Service's full name: busybox's nslookup (1.28 on) tries no
         * search domain, so a bare name would never resolve. Kubernetes
         * puts the pod's namespace in $(NAMESPACE) itself. */
        const char *script = sv_xdoc_printf(
            p->d,
            "until nslookup %s.$(NAMESPACE).svc.%s >/dev/null 2>&1; do echo waiting for %s to "
            "be %s; sleep 2; done",
            name, p->o->cluster_domain, name, cond);
        sv_xn_strv(p->d, c, "command", (const char *[]){"sh", "-c", script, NULL});
        struct sv_xn *ev = sv_xn_map(p->d, sv_xn_seq(p->d, c, "env"), NULL);
        sv_xn_str(p->d, ev, "name", "NAMESPACE");
        sv_xn_str(p->d, sv_xn_map(p->d, sv_xn_map(p->d, ev, "valueFrom"), "fieldRef"), "fieldPath",
                  "metadata.namespace");
        struct sv_xn *sc = sv_xn_map(p->d, c, "securityContext");
        sv_xn_bool(p->d, sc, "allowPrivilegeEscalation", false);
        sv_xn_strv(p->d, sv_xn_map(p->d, sc, "capabilities"), "drop",
                   (const char *[]){"ALL", NULL});
        sv_xn_bool(p->d, sc, "readOnlyRootFilesystem", true);
    }
}

/* The pod's own settings: namespaces, hostname, grace period, hosts,
 * sysctls, the seccomp profile. */
static void pod_settings(struct xp *p, const struct sv_service *s, struct sv_xn *spec, bool job)
{
    bool host_net = strcmp(s->network, "host") == 0;
    if (strcmp(s->userns, "host") != 0) {
        if (host_net)
            sv_export_warn(p, s, "userns",
                           "Kubernetes gives a pod on the host's network no user namespace "
                           "(hostUsers: true)");
        else
            sv_xn_bool(p->d, spec, "hostUsers", false);
    }
    if (host_net) {
        sv_xn_bool(p->d, spec, "hostNetwork", true);
        sv_xn_str(p->d, spec, "dnsPolicy", "ClusterFirstWithHostNet");
    }
    if (s->init) /* the pause process is pid 1: it reaps, and signals reach the command */
        sv_xn_bool(p->d, spec, "shareProcessNamespace", true);
    const char *host = s->container_name ? s->container_name : s->hostname;
    if (host) {
        const char *h = sv_xname_dns(p->d, host, false);
        if (strcmp(h, host) != 0)
            sv_export_warn(p, s, s->container_name ? "container_name" : "hostname",
                           "\"%s\": a pod's hostname is a DNS label; \"%s\" exported", host, h);
        sv_xn_str(p->d, spec, "hostname", h);
    }
    if (job)
        sv_xn_str(p->d, spec, "restartPolicy", s->restart == SV_RESTART_NO ? "Never" : "OnFailure");
    sv_xn_int(p->d, spec, "terminationGracePeriodSeconds",
              s->stop_grace_ms < 0 ? 10 : sv_xname_seconds(s->stop_grace_ms, 0, NULL));
    struct sv_xn *sc = sv_xn_map(p->d, spec, "securityContext");
    sv_xn_str(p->d, sv_xn_map(p->d, sc, "seccompProfile"), "type", "RuntimeDefault");
    if (s->n_sysctls) {
        struct sv_xn *sys = sv_xn_seq(p->d, sc, "sysctls");
        for (size_t i = 0; i < s->n_sysctls; i++) {
            struct sv_xn *m = sv_xn_map(p->d, sys, NULL);
            sv_xn_str(p->d, m, "name", s->sysctls[i].key);
            sv_xn_str(p->d, m, "value", s->sysctls[i].value);
        }
    }
    if (s->n_extra_hosts) {
        struct sv_xn *ha = sv_xn_seq(p->d, spec, "hostAliases");
        for (size_t i = 0; i < s->n_extra_hosts; i++) {
            struct sv_xn *m = sv_xn_map(p->d, ha, NULL);
            sv_xn_str(p->d, m, "ip", s->extra_hosts[i].value);
            sv_xn_strv(p->d, m, "hostnames", (const char *[]){s->extra_hosts[i].key, NULL});
        }
    }
}

/* Keys with no Kubernetes counterpart, each a warning. */
static void pod_unmapped(struct xp *p, const struct sv_service *s, bool job)
{
    /* A ProServe service's pids limit is servos' own bound on its
     * handlers (stdlib/proserve.lua), no key of the manifest's. */
    if (s->pids > 0 && s->proserve == NULL)
        sv_export_warn(p, s, "pids",
                       "%lld: Kubernetes has no process limit per pod (the kubelet's "
                       "podPidsLimit is the node's); not exported",
                       (long long)s->pids);
    if (s->log_max_size > 0 || s->log_max_files > 0)
        sv_export_warn(p, s, "logging",
                       "the nodes rotate container logs (the kubelet's containerLogMaxSize and "
                       "containerLogMaxFiles); not exported");
    if (s->stop_signal && s->stop_signal != 15)
        sv_export_warn(p, s, "stop_signal",
                       "%s: Kubernetes stops a container with SIGTERM (or its image's "
                       "STOPSIGNAL); not exported",
                       sv_signal_name(s->stop_signal));
    if (!job && s->restart == SV_RESTART_ON_FAILURE)
        sv_export_warn(p, s, "restart",
                       "on-failure%s: a Deployment restarts its pods whatever their exit code",
                       s->restart_max > 0 ? " with a maximum" : "");
    if (s->build)
        sv_export_warn(p, s, "build",
                       "%s: a cluster builds no image; the one servos builds is named under "
                       "--image-registry: build and push it first (servos build -t %s %s; servos "
                       "image push %s REGISTRY/...)",
                       s->build->context, s->image, s->build->context, s->image);
    for (size_t i = 0; i < s->n_devices; i++)
        sv_export_warn(p, s, "devices",
                       "%s: a pod is given a node's device by the cluster's device plugin, not "
                       "by its spec; not exported",
                       s->devices[i].source);
    if (s->board)
        sv_export_warn(p, s, "board", "\"%s\": a cluster's nodes are no boards; not exported",
                       s->board);
    if (s->toolchain)
        sv_export_warn(p, s, "toolchain", "\"%s\": not exported (boards only)", s->toolchain);
    if (s->emulate)
        sv_export_warn(p, s, "emulate", "a board's emulator: not exported (boards only)");
    if (s->flash)
        sv_export_warn(p, s, "flash", "%s: a board on this host's port: not exported",
                       s->flash->port);
}

/* platform "linux/ARCH" chooses nodes of that architecture. */
static void pod_platform(struct xp *p, const struct sv_service *s, struct sv_xn *spec)
{
    if (s->platform == NULL)
        return;
    const char *slash = strchr(s->platform, '/');
    if (slash == NULL || strncmp(s->platform, "linux/", 6) != 0) {
        sv_export_warn(p, s, "platform",
                       "\"%s\": a board's platform, which a cluster's nodes are not; not exported",
                       s->platform);
        return;
    }
    struct sv_xn *ns = sv_xn_map(p->d, spec, "nodeSelector");
    sv_xn_str(p->d, ns, "kubernetes.io/os", "linux");
    size_t n = strcspn(slash + 1, "/");
    sv_xn_str(p->d, ns, "kubernetes.io/arch", sv_xdoc_printf(p->d, "%.*s", (int)n, slash + 1));
}

static void ctr_env(struct xp *p, const struct sv_service *s, struct sv_xn *ctr)
{
    if (s->n_env == 0)
        return;
    struct sv_xn *env = sv_xn_seq(p->d, ctr, "env");
    for (size_t i = 0; i < s->n_env; i++) {
        struct sv_xn *m = sv_xn_map(p->d, env, NULL);
        sv_xn_str(p->d, m, "name", s->env[i].key);
        sv_xn_str(p->d, m, "value", kesc(p, s->env[i].value));
    }
}

/* The image and what runs: the service's own, or servos' service host. */
static int ctr_process(struct xp *p, const struct sv_service *s, struct sv_xn *ctr)
{
    if (s->proserve) {
        sv_kps_process(p, s, ctr);
        return 0;
    }
    const char *image;
    if (sv_export_image(p, s, &image) < 0)
        return -1;
    sv_xn_str(p->d, ctr, "image", image);
    if (s->entrypoint)
        kesc_strv(p, ctr, "command", s->entrypoint);
    if (s->command)
        kesc_strv(p, ctr, "args", s->command);
    return 0;
}

int sv_kpod_spec(struct xp *p, const struct sv_service *s, struct sv_xn *spec, bool job,
                 struct sv_xn *claims)
{
    struct sv_xn *ps_items = NULL;
    if (s->proserve && sv_kps_container(p, s, &ps_items) < 0)
        return -1;
    pod_unmapped(p, s, job);
    pod_settings(p, s, spec, job);
    pod_platform(p, s, spec);
    init_containers(p, s, spec);
    struct sv_xn *ctr = sv_xn_map(p->d, sv_xn_seq(p->d, spec, "containers"), NULL);
    sv_xn_str(p->d, ctr, "name", p->names[s - p->g->services]);
    if (ctr_process(p, s, ctr) < 0)
        return -1;
    if (s->working_dir)
        sv_xn_str(p->d, ctr, "workingDir", s->working_dir);
    ctr_env(p, s, ctr);
    if (ctr_ports(p, s, ctr) < 0)
        return -1;
    ctr_resources(p, s, ctr);
    ctr_probe(p, s, ctr);
    if (s->proserve)
        sv_kps_probe(p, s, ctr);
    ctr_security(p, s, ctr);
    if (s->tty)
        sv_xn_bool(p->d, ctr, "tty", true);
    if (s->stdin_open)
        sv_xn_bool(p->d, ctr, "stdin", true);
    if (s->proserve)
        sv_kps_mounts(p, s, spec, ctr, ps_items);
    return sv_kvol_pod(p, s, spec, ctr, claims);
}
