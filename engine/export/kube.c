/* `servos export kubernetes`: the stack as Kubernetes objects. Per service
 * a workload (a Deployment; a StatefulSet for replicas that each need
 * their own volume, or when asked; a Job for a service another waits to
 * complete), a headless Service under its name (and its container_name
 * and aliases), so names resolve to the pods as they resolve to a stack's
 * replicas, on every port; a Service of type LoadBalancer or NodePort for
 * what it publishes. Then the stack's claims, Secrets and ConfigMaps, and
 * network policies that keep its networks apart as servos' bridges do. */
#include "export/export_int.h"

#include <stdlib.h>
#include <string.h>

/* A Service's name and what it stands for, to find two of one name. */
struct svc_name {
    const char *name;
    const struct sv_service *s;
    const char *what;
};

static int cmp_svc_name(const void *a, const void *b)
{
    return strcmp(((const struct svc_name *)a)->name, ((const struct svc_name *)b)->name);
}

static void add_name(struct svc_name **v, size_t *n, const char *name, const struct sv_service *s,
                     const char *what)
{
    *v = sv_xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = (struct svc_name){name, s, what};
}

/* Each service's name there, and every Service name once. */
static int plan_names(struct xp *p)
{
    const struct sv_graph *g = p->g;
    cleanup_free struct svc_name *v = NULL;
    size_t n = 0;
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        p->names[i] = sv_xname_dns(p->d, s->name, true);
        if (strcmp(p->names[i], s->name) != 0)
            sv_export_warn(p, s, NULL,
                           "named \"%s\" in Kubernetes, whose names are lower-case letters, "
                           "digits and \"-\" starting with a letter: others reach it by that "
                           "name there",
                           p->names[i]);
        add_name(&v, &n, p->names[i], s, "the name");
        if (!sv_kpod_reachable(s))
            continue;
        if (s->container_name && strcmp(s->container_name, s->name) != 0)
            add_name(&v, &n, sv_xname_dns(p->d, s->container_name, true), s, "the container_name");
        for (size_t k = 0; k < s->n_networks; k++)
            for (const char *const *a = s->networks[k].aliases; *a; a++)
                add_name(&v, &n, sv_xname_dns(p->d, *a, true), s, "an alias");
        if (s->n_ports && p->o->publish != SV_PUBLISH_HOSTPORT)
            add_name(&v, &n, sv_xname_join(p->d, p->names[i], "published"), s,
                     "the published Service");
    }
    qsort(v, n, sizeof(*v), cmp_svc_name);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(v[i].name, v[i - 1].name) != 0)
            continue;
        if (v[i].s == v[i - 1].s && strcmp(v[i].what, v[i - 1].what) == 0)
            continue; /* one alias on two networks */
        return sv_export_fail(p, v[i].s, NULL,
                              "its Kubernetes name \"%s\" (%s) is also %s of service \"%s\"",
                              v[i].name, v[i].what, v[i - 1].what, v[i - 1].s->name);
    }
    return 0;
}

static bool asked_sts(struct xp *p, const struct sv_service *s)
{
    for (const char *const *a = p->o->statefulsets; a && *a; a++)
        if (strcmp(*a, s->name) == 0)
            return true;
    return false;
}

/* Which services are Jobs and which StatefulSets. */
static int plan_kinds(struct xp *p)
{
    const struct sv_graph *g = p->g;
    for (const char *const *a = p->o->statefulsets; a && *a; a++)
        if (sv_graph_find(g, *a) == NULL)
            return sv_error(p->err, 0, "--statefulset %s: the stack has no such service", *a);
    for (size_t i = 0; i < g->n_services; i++)
        for (size_t k = 0; k < g->services[i].n_deps; k++)
            if (g->services[i].deps[k].condition == SV_DEP_COMPLETED) {
                const struct sv_service *t = sv_graph_find(g, g->services[i].deps[k].service);
                if (t)
                    p->job[t - g->services] = true;
            }
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        p->sts[i] = !p->job[i] && (asked_sts(p, s) || (s->replicas > 1 && sv_kvol_has_named(s)));
        if (p->job[i] && asked_sts(p, s))
            return sv_export_fail(p, s, NULL,
                                  "--statefulset: a service others wait to complete is a Job");
    }
    return 0;
}

static int workload(struct xp *p, size_t i)
{
    const struct sv_service *s = &p->g->services[i];
    bool job = p->job[i], sts = p->sts[i];
    const char *kind = job ? "Job" : sts ? "StatefulSet" : "Deployment";
    struct sv_xn *root = sv_export_object(p, job ? "batch/v1" : "apps/v1", kind, p->names[i]);
    struct sv_xn *labels = sv_export_meta(p, root, "labels");
    sv_xn_str(p->d, labels, "app.kubernetes.io/name", p->names[i]);
    sv_kpod_labels(p, s, labels, root);
    struct sv_xn *spec = sv_xn_map(p->d, root, "spec");
    struct sv_xn *claims = NULL;
    if (job) {
        sv_xn_int(p->d, spec, "backoffLimit",
                  s->restart == SV_RESTART_NO                                 ? 0
                  : s->restart == SV_RESTART_ON_FAILURE && s->restart_max > 0 ? s->restart_max
                                                                              : 6);
        if (s->replicas != 1)
            sv_export_warn(p, s, "replicas", "%d: a Job runs its pod once", s->replicas);
    } else {
        sv_xn_int(p->d, spec, "replicas", s->replicas);
        if (sts)
            sv_xn_str(p->d, spec, "serviceName", p->names[i]);
        sv_kpod_selector(p, s, sv_xn_map(p->d, sv_xn_map(p->d, spec, "selector"), "matchLabels"));
        if (sts && sv_kvol_has_named(s))
            claims = sv_xn_seq(p->d, spec, "volumeClaimTemplates");
    }
    struct sv_xn *tmpl = sv_xn_map(p->d, spec, "template");
    struct sv_xn *tmeta = sv_xn_map(p->d, tmpl, "metadata");
    struct sv_xn *tlabels = sv_xn_map(p->d, tmeta, "labels");
    sv_kpod_selector(p, s, tlabels);
    const struct sv_net_ref *refs;
    size_t nn = sv_graph_service_networks(s, &refs);
    for (size_t k = 0; k < nn; k++)
        sv_xn_str(
            p->d, tlabels,
            sv_xdoc_printf(p->d, "servos.network/%s", sv_xname_dns(p->d, refs[k].network, false)),
            "true");
    sv_kpod_labels(p, s, tlabels, tmpl);
    return sv_kpod_spec(p, s, sv_xn_map(p->d, tmpl, "spec"), job, claims);
}

/* A headless Service: the name resolves to the ready pods' addresses, on
 * any port, as a stack's names resolve to its replicas. */
static void headless(struct xp *p, const struct sv_service *s, const char *name)
{
    struct sv_xn *root = sv_export_object(p, "v1", "Service", name);
    struct sv_xn *spec = sv_xn_map(p->d, root, "spec");
    sv_xn_str(p->d, spec, "clusterIP", "None");
    sv_kpod_selector(p, s, sv_xn_map(p->d, spec, "selector"));
    struct sv_xn *ports = NULL;
    for (size_t i = 0; i < s->n_ports; i++) {
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= s->ports[j].container == s->ports[i].container;
        if (seen)
            continue;
        ports = ports ? ports : sv_xn_seq(p->d, spec, "ports");
        struct sv_xn *m = sv_xn_map(p->d, ports, NULL);
        sv_xn_str(p->d, m, "name", sv_xdoc_printf(p->d, "tcp-%d", s->ports[i].container));
        sv_xn_int(p->d, m, "port", s->ports[i].container);
        sv_xn_int(p->d, m, "targetPort", s->ports[i].container);
        sv_xn_str(p->d, m, "protocol", "TCP");
    }
}

/* What s publishes: a Service of the asked type, and a network policy
 * that lets those ports in from anywhere. */
static void published(struct xp *p, const struct sv_service *s)
{
    const char *name = sv_xname_join(p->d, p->names[s - p->g->services], "published");
    struct sv_xn *sports = NULL;
    if (p->o->publish != SV_PUBLISH_HOSTPORT) {
        struct sv_xn *root = sv_export_object(p, "v1", "Service", name);
        struct sv_xn *spec = sv_xn_map(p->d, root, "spec");
        sv_xn_str(p->d, spec, "type",
                  p->o->publish == SV_PUBLISH_NODEPORT ? "NodePort" : "LoadBalancer");
        sv_kpod_selector(p, s, sv_xn_map(p->d, spec, "selector"));
        sports = sv_xn_seq(p->d, spec, "ports");
    }
    struct sv_xn *proot = sv_export_object(p, "networking.k8s.io/v1", "NetworkPolicy", name);
    struct sv_xn *pspec = sv_xn_map(p->d, proot, "spec");
    sv_kpod_selector(p, s, sv_xn_map(p->d, sv_xn_map(p->d, pspec, "podSelector"), "matchLabels"));
    sv_xn_strv(p->d, pspec, "policyTypes", (const char *[]){"Ingress", NULL});
    struct sv_xn *rule = sv_xn_map(p->d, sv_xn_seq(p->d, pspec, "ingress"), NULL);
    struct sv_xn *pports = sv_xn_seq(p->d, rule, "ports");
    for (size_t i = 0; i < s->n_ports; i++) {
        const struct sv_port_spec *ps = &s->ports[i];
        int port = ps->host > 0 ? ps->host : ps->container;
        bool seen = false;
        for (size_t j = 0; j < i; j++)
            seen |= (s->ports[j].host > 0 ? s->ports[j].host : s->ports[j].container) == port;
        if (seen)
            continue;
        if (sports) {
            struct sv_xn *m = sv_xn_map(p->d, sports, NULL);
            sv_xn_str(p->d, m, "name", sv_xdoc_printf(p->d, "tcp-%d", port));
            sv_xn_int(p->d, m, "port", port);
            sv_xn_int(p->d, m, "targetPort", ps->container);
            sv_xn_str(p->d, m, "protocol", "TCP");
        }
        struct sv_xn *pm = sv_xn_map(p->d, pports, NULL);
        sv_xn_int(p->d, pm, "port", ps->container);
        sv_xn_str(p->d, pm, "protocol", "TCP");
    }
}

static void services(struct xp *p, size_t i)
{
    const struct sv_service *s = &p->g->services[i];
    if (!sv_kpod_reachable(s))
        return;
    headless(p, s, p->names[i]);
    if (s->container_name && strcmp(s->container_name, s->name) != 0)
        headless(p, s, sv_xname_dns(p->d, s->container_name, true));
    for (size_t k = 0; k < s->n_networks; k++)
        for (const char *const *a = s->networks[k].aliases; *a; a++) {
            const char *an = sv_xname_dns(p->d, *a, true);
            bool again = false; /* one alias on two networks: one Service */
            for (size_t j = 0; j < k; j++)
                for (const char *const *b = s->networks[j].aliases; *b; b++)
                    again |= strcmp(*a, *b) == 0;
            if (!again)
                headless(p, s, an);
        }
    if (s->n_ports)
        published(p, s);
}

/* Each network: its members take traffic only from one another, as the
 * stack's bridges keep them apart (and every stack from the others). A
 * service with network "none" takes nothing and sends nothing. */
static void policies(struct xp *p)
{
    const struct sv_graph *g = p->g;
    const char *stack = sv_xname_dns(p->d, g->stack, false);
    for (size_t k = 0; k <= g->n_networks; k++) {
        const char *net = k < g->n_networks ? g->networks[k].name : SV_NET_DEFAULT;
        if (k == g->n_networks && sv_graph_network(g, SV_NET_DEFAULT))
            break; /* declared: done above */
        bool members = false;
        for (size_t i = 0; i < g->n_services && !members; i++)
            members = sv_graph_on_network(&g->services[i], net);
        if (!members)
            continue;
        const char *dnet = sv_xname_dns(p->d, net, false);
        struct sv_xn *root =
            sv_export_object(p, "networking.k8s.io/v1", "NetworkPolicy",
                             sv_xname_join(p->d, stack, sv_xdoc_printf(p->d, "net-%s", dnet)));
        struct sv_xn *spec = sv_xn_map(p->d, root, "spec");
        const char *label = sv_xdoc_printf(p->d, "servos.network/%s", dnet);
        struct sv_xn *sel = sv_xn_map(p->d, sv_xn_map(p->d, spec, "podSelector"), "matchLabels");
        sv_xn_str(p->d, sel, "app.kubernetes.io/part-of", p->stack);
        sv_xn_str(p->d, sel, label, "true");
        sv_xn_strv(p->d, spec, "policyTypes", (const char *[]){"Ingress", NULL});
        struct sv_xn *from =
            sv_xn_seq(p->d, sv_xn_map(p->d, sv_xn_seq(p->d, spec, "ingress"), NULL), "from");
        struct sv_xn *peer = sv_xn_map(p->d, sv_xn_map(p->d, from, NULL), "podSelector");
        struct sv_xn *psel = sv_xn_map(p->d, peer, "matchLabels");
        sv_xn_str(p->d, psel, "app.kubernetes.io/part-of", p->stack);
        sv_xn_str(p->d, psel, label, "true");
    }
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        if (strcmp(s->network, "none") != 0)
            continue;
        struct sv_xn *root = sv_export_object(p, "networking.k8s.io/v1", "NetworkPolicy",
                                              sv_xname_join(p->d, p->names[i], "isolated"));
        struct sv_xn *spec = sv_xn_map(p->d, root, "spec");
        sv_kpod_selector(p, s,
                         sv_xn_map(p->d, sv_xn_map(p->d, spec, "podSelector"), "matchLabels"));
        sv_xn_strv(p->d, spec, "policyTypes", (const char *[]){"Ingress", "Egress", NULL});
    }
}

static int cmp_obj(const void *a, const void *b)
{
    const struct sv_export_obj *x = *(const struct sv_export_obj *const *)a;
    const struct sv_export_obj *y = *(const struct sv_export_obj *const *)b;
    int c = strcmp(x->kind, y->kind);
    return c ? c : strcmp(x->name, y->name);
}

/* Two objects of one kind and name: names the stack keeps apart ("a_b" and
 * "a-b", a config called like a ProServe service's ConfigMap) that
 * Kubernetes' lower-case names do not. */
static int check_unique(struct xp *p)
{
    size_t n = p->x->n_objs;
    cleanup_free const struct sv_export_obj **v = sv_xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = &p->x->objs[i];
    qsort(v, n, sizeof(*v), cmp_obj);
    for (size_t i = 1; i < n; i++)
        if (cmp_obj(&v[i - 1], &v[i]) == 0)
            return sv_error(p->err, 0,
                            "stack %s: two %ss would be named \"%s\" in Kubernetes (its names "
                            "are lower-case letters, digits and \"-\"): rename one",
                            p->g->stack, v[i]->kind, v[i]->name);
    return 0;
}

int sv_kube_export(const struct sv_graph *g, const struct sv_export_opts *o, struct sv_export *x,
                   sv_error_t *err)
{
    struct xp p = {.g = g, .o = o, .x = x, .d = &x->doc, .err = err};
    cleanup_free const char **names = sv_xcalloc(g->n_services + 1, sizeof(*names));
    cleanup_free bool *job = sv_xcalloc(g->n_services + 1, sizeof(*job));
    cleanup_free bool *sts = sv_xcalloc(g->n_services + 1, sizeof(*sts));
    p.names = names, p.job = job, p.sts = sts;
    p.stack = sv_xname_label_value_ok(g->stack) ? g->stack : sv_xname_dns(p.d, g->stack, false);
    if (o->namespace && strcmp(sv_xname_dns(p.d, o->namespace, true), o->namespace) != 0)
        return sv_error(err, 0,
                        "--namespace %s: a namespace is a DNS label (lower-case letters, digits "
                        "and \"-\", starting with a letter, at most 63)",
                        o->namespace);
    if (plan_names(&p) < 0 || plan_kinds(&p) < 0 || sv_kvol_objects(&p) < 0)
        return -1;
    for (size_t i = 0; i < g->n_services; i++) {
        if (workload(&p, i) < 0)
            return -1;
        services(&p, i);
    }
    policies(&p);
    return check_unique(&p);
}
