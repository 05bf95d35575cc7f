/* Reconcile: make the stack's replicas match a graph. What is no longer
 * declared goes first; then services start in waves, each wave every
 * service whose dependencies are met, its new replicas begun together and
 * finished together. And the way back: down, dependants first. */
#include "stack/supervisor_int.h"
#include "stack/rows.h"
#include "stack/spec.h"
#include "image/imgstore.h"
#include "core/events.h"
#include "core/fs.h"
#include "core/statedir.h"
#include "proserve/pgateway.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A replica begun in this wave, and its container to finish. */
struct pending {
    struct replica *r;
    struct sv_container *c;
};

static bool dep_ready(struct supervisor *sup, const struct sv_dep *d, bool *failed)
{
    const struct sv_service *t = sv_graph_find(sup->g, d->service);
    int want = t ? t->replicas : 0;
    int ok = 0;
    for (size_t i = 0; i < sup->n_replicas; i++) {
        struct replica *r = sup->replicas[i];
        if (strcmp(r->service, d->service) != 0)
            continue;
        switch (d->condition) {
        case SV_DEP_STARTED:
            ok += r->state == REPLICA_RUNNING;
            break;
        case SV_DEP_HEALTHY:
            ok += r->state == REPLICA_RUNNING && (r->health == HEALTH_HEALTHY || !t->health);
            *failed |= r->health == HEALTH_UNHEALTHY;
            break;
        case SV_DEP_COMPLETED:
            ok += r->state == REPLICA_EXITED && r->exit_code == 0;
            *failed |= r->state == REPLICA_EXITED && r->exit_code != 0;
            break;
        }
    }
    return ok >= want;
}

/* How long a dependency may take: a health check's whole course, with
 * every retry, and never less than 10 s. */
static int64_t dep_bound_ms(struct supervisor *sup, const struct sv_dep *d)
{
    const struct sv_service *t = sv_graph_find(sup->g, d->service);
    if (d->condition == SV_DEP_COMPLETED)
        return 600000;
    if (d->condition == SV_DEP_HEALTHY && t && t->health) {
        const struct sv_health *h = t->health;
        int64_t iv = h->interval_ms > 0 ? h->interval_ms : 30000;
        int64_t to = h->timeout_ms > 0 ? h->timeout_ms : 30000;
        int64_t b = h->start_period_ms + (iv + to) * ((h->retries > 0 ? h->retries : 3) + 1);
        return b < 10000 ? 10000 : b;
    }
    return 30000;
}

/* Create, recreate (one replica at a time) or keep each replica of s.
 * New replicas are only begun: the wave finishes them together. */
static int converge_service(struct supervisor *sup, const struct sv_service *s,
                            struct pending **pend, size_t *npend, sv_error_t *err)
{
    char hash[17];
    sv_spec_hash_hex(s, hash);
    /* A service that already runs grows one replica at a time (scale, or a
     * higher replicas =); a new one starts all its replicas together. */
    bool rolling = false;
    for (size_t i = 0; i < sup->n_replicas && !rolling; i++)
        rolling = strcmp(sup->replicas[i]->service, s->name) == 0;
    for (int n = 1; n <= s->replicas; n++) {
        struct replica *r = replica_find(sup, s->name, n);
        if (r && strcmp(r->hash, hash) == 0) {
            r->svc = s;
            if (r->state == REPLICA_EXITED && r->exit_code != 0 && s->restart != SV_RESTART_NO &&
                r->id[0] == '\0')
                r->state = REPLICA_BACKOFF;
            /* Up means "make it run": a replica that failed or died while
             * nobody watched starts again; one that completed (exit 0) stays. */
            if (r->state != REPLICA_EXITED || r->exit_code == 0)
                continue;
            sup_log("%s-%d is not running: starting it again", s->name, n);
        } else if (r) {
            sup_log("%s-%d changed: recreating", s->name, n);
        }
        if (r && replica_remove(sup, r, -1, err) < 0)
            return sv_error_wrap(err, "service \"%s\"", s->name);
        r = replica_add(sup, s->name, n);
        r->svc = s;
        if (rolling) {
            if (replica_start(sup, r, err) < 0) {
                replica_drop(sup, r);
                return sv_error_wrap(err, "service \"%s\"", s->name);
            }
            continue;
        }
        struct sv_container *c;
        if (replica_start_begin(sup, r, &c, err) < 0) {
            replica_drop(sup, r);
            return sv_error_wrap(err, "service \"%s\"", s->name);
        }
        *pend = sv_xrealloc(*pend, (*npend + 1) * sizeof(**pend));
        (*pend)[(*npend)++] = (struct pending){r, c};
    }
    return 0;
}

/* Wait for every begun replica; the first failure is the wave's error. */
static int finish_wave(struct supervisor *sup, struct pending *pend, size_t npend, sv_error_t *err)
{
    int rc = 0;
    for (size_t i = 0; i < npend; i++) {
        struct replica *r = pend[i].r;
        sv_error_t e = NULL;
        if (replica_start_finish(sup, r, pend[i].c, &e) < 0) {
            if (rc == 0) {
                rc = -1;
                *err = e;
                sv_error_wrap(err, "service \"%s\"", r->service);
            } else {
                sup_report(&e);
            }
            replica_drop(sup, r);
        }
    }
    return rc;
}

/* A gateway socket for each ProServe service that runs handlers in
 * containers (pgateway.h); none for the others. */
static int sync_gateways(struct supervisor *sup, const struct sv_graph *g, sv_error_t *err)
{
    for (size_t i = 0; i < sup->n_gateways;) {
        struct gateway *gw = &sup->gateways[i];
        const struct sv_service *s = sv_graph_find(g, gw->service);
        if (s && sv_gateway_wanted(s)) {
            i++;
            continue;
        }
        sup_unwatch(sup, gw->fd);
        close(gw->fd);
        cleanup_free char *dir = sv_gateway_dir(sup->stack, gw->service);
        sv_rmtree(dir, NULL);
        free(gw->service);
        *gw = sup->gateways[--sup->n_gateways];
    }
    for (size_t i = 0; i < g->n_services; i++) {
        const struct sv_service *s = &g->services[i];
        bool have = false;
        for (size_t k = 0; k < sup->n_gateways && !have; k++)
            have = strcmp(sup->gateways[k].service, s->name) == 0;
        if (have || !sv_gateway_wanted(s))
            continue;
        int fd = sv_gateway_listen(sup->stack, s, err);
        if (fd < 0)
            return -1;
        sup_watch(sup, fd);
        sup->gateways = sv_xrealloc(sup->gateways, (sup->n_gateways + 1) * sizeof(*sup->gateways));
        sup->gateways[sup->n_gateways++] = (struct gateway){sv_xstrdup(s->name), fd};
    }
    return 0;
}

/* Gone: services no longer declared, replicas above the count, stopped
 * together and then removed. Every replica is seen (the caller frees the
 * old graph), failures or not. */
static int remove_undeclared(struct supervisor *sup, const struct sv_graph *g, sv_error_t *err)
{
    cleanup_free struct replica **gone = sv_xcalloc(sup->n_replicas + 1, sizeof(*gone));
    size_t n = 0;
    for (size_t i = 0; i < sup->n_replicas; i++) {
        struct replica *r = sup->replicas[i];
        const struct sv_service *s = sv_graph_find(g, r->service);
        if (s == NULL || r->n > s->replicas) {
            gone[n++] = r;
            continue;
        }
        r->svc = s;
        if (r->log)
            replica_hold_log(sup, r, NULL); /* its service's log options now */
    }
    replicas_stop(sup, gone, n, -1);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (replica_remove(sup, gone[i], -1, err) < 0)
            rc = -1;
    return rc;
}

/* Is every dependency of s met? An error when one failed or ran out of
 * time since the wave began. */
static int deps_ready(struct supervisor *sup, const struct sv_service *s, int64_t wave_start,
                      bool *ready, sv_error_t *err)
{
    *ready = true;
    for (size_t k = 0; k < s->n_deps && *ready; k++) {
        bool failed = false;
        *ready = dep_ready(sup, &s->deps[k], &failed);
        if (!*ready && (failed || sv_now_ms() - wave_start > dep_bound_ms(sup, &s->deps[k])))
            return sv_error(err, 0, "service \"%s\": dependency \"%s\" did not become %s%s",
                            s->name, s->deps[k].service,
                            sv_graph_dep_condition_name(s->deps[k].condition),
                            failed ? "" : " in time");
    }
    return 0;
}

/* Start in waves: every service whose dependencies are met. */
static int start_waves(struct supervisor *sup, const struct sv_graph *g, sv_error_t *err)
{
    size_t left = g->n_services;
    cleanup_free bool *done = sv_xcalloc(g->n_services + 1, sizeof(bool));
    int rc = 0;
    int64_t wave_start = sv_now_ms();
    while (left > 0 && rc == 0) {
        bool progress = false;
        cleanup_free struct pending *pend = NULL;
        size_t npend = 0;
        for (size_t i = 0; i < g->n_services && rc == 0; i++) {
            const struct sv_service *s = &g->services[i];
            bool ready = false;
            if (done[i])
                continue;
            rc = deps_ready(sup, s, wave_start, &ready, err);
            if (rc == 0 && ready) {
                rc = converge_service(sup, s, &pend, &npend, err);
                done[i] = true;
                left--;
                progress = true;
            }
        }
        sv_error_t werr = NULL;
        if (finish_wave(sup, pend, npend, &werr) < 0 && rc == 0) {
            *err = werr;
            rc = -1;
        } else {
            sv_error_free(&werr);
        }
        if (!progress && rc == 0)
            sup_pump(sup, 50);
        else
            wave_start = progress ? sv_now_ms() : wave_start;
    }
    return rc;
}

/* A service with no healthcheck of its own takes its image's HEALTHCHECK,
 * as Compose does: a Containerfile's check gates depends_on healthy and
 * shows in ps. An image not in the store yet keeps none. */
static void inherit_image_health(struct sv_graph *g)
{
    for (size_t i = 0; i < g->n_services; i++) {
        struct sv_service *s = &g->services[i];
        if (s->health || s->image == NULL || strcmp(s->image, "host") == 0)
            continue;
        char digest[SV_DIGEST_LEN + 1];
        sv_error_t e = NULL;
        cleanup_image struct sv_image img = {0};
        struct sv_image_config cfg = {0};
        if (sv_image_lookup(s->image, digest, &e) < 0 || sv_image_load(digest, &img, &e) < 0 ||
            sv_image_config_load(&img, &cfg, &e) < 0) {
            sv_error_free(&e);
            continue;
        }
        if (cfg.health_test) {
            struct sv_health *h = sv_graph_alloc(g, sizeof(*h));
            size_t n = 0;
            while (cfg.health_test[n])
                n++;
            const char **test = sv_graph_alloc(g, (n + 1) * sizeof(*test));
            for (size_t k = 0; k < n; k++)
                test[k] = sv_graph_strdup(g, cfg.health_test[k]);
            test[n] = NULL;
            *h = (struct sv_health){
                .test = test,
                .interval_ms = cfg.health_interval_ms ? cfg.health_interval_ms : 30000,
                .timeout_ms = cfg.health_timeout_ms ? cfg.health_timeout_ms : 30000,
                .start_period_ms = cfg.health_start_ms,
                .retries = cfg.health_retries ? cfg.health_retries : 3};
            s->health = h;
        }
        sv_image_config_clear(&cfg);
    }
}

/* The graph the stack now runs, as `servos config` prints it, into
 * <stack dir>/graph.json (for `servos serve`, which shows it without
 * evaluating anything), and the event that says so. Best effort: the
 * stack runs whether or not they could be written. */
static void record_applied(struct supervisor *sup, const struct sv_graph *g)
{
    cleanup_free char *dir = sv_statedir_stack(sup->stack);
    cleanup_free char *path = sv_xasprintf("%s/graph.json", dir);
    cleanup_free char *tmp = sv_xasprintf("%s.tmp", path);
    FILE *f = sv_fopen_mode(tmp, O_TRUNC, 0600);
    if (f) {
        sv_graph_json_print(g, f);
        if (fclose(f) != 0 || rename(tmp, path) < 0)
            unlink(tmp);
    }
    sv_error_t e = NULL;
    cleanup_free char *what = sv_xasprintf("%zu services", g->n_services);
    sv_events_add(sup->st, "stack.applied", sup->stack, what, &e);
    sup_report(&e);
}

int reconcile(struct supervisor *sup, struct sv_graph *g, sv_error_t *err)
{
    inherit_image_health(g);
    /* The first graph since adoption: names only it knows (hostnames,
     * aliases, container names, the services' own hosts files). */
    if (sup->g == NULL)
        sup->hosts_dirty = true;
    sup->g = g;
    if (remove_undeclared(sup, g, err) < 0 || network_sync_ports(sup, g, err) < 0 ||
        sync_gateways(sup, g, err) < 0)
        return -1;
    int rc = start_waves(sup, g, err);
    if (rc == 0)
        record_applied(sup, g);
    network_refresh_hosts(sup);
    if (sup->proxy) /* before `up` returns: its ports take the fast path at once */
        sv_proxy_refresh(sup->proxy);
    return rc;
}

/* ---- down ------------------------------------------------------------------ */

/* Dependants first: reverse of the start order. */
static int dep_depth(const struct sv_graph *g, const struct sv_service *s, int guard)
{
    int d = 0;
    for (size_t i = 0; s && i < s->n_deps && guard < 64; i++) {
        int k = 1 + dep_depth(g, sv_graph_find(g, s->deps[i].service), guard + 1);
        d = k > d ? k : d;
    }
    return d;
}

/* Remove every replica, in waves: the replicas of the deepest dependants
 * first, each wave stopped together (replicas_stop), then removed. The
 * first failure is the error, the others are in our log, and every
 * replica is tried. */
static int remove_all(struct supervisor *sup, int64_t grace_override, sv_error_t *err)
{
    int rc = 0;
    while (sup->n_replicas > 0) {
        int deepest = -1;
        for (size_t i = 0; i < sup->n_replicas; i++) {
            int d = sup->g ? dep_depth(sup->g, sup->replicas[i]->svc, 0) : 0;
            deepest = d > deepest ? d : deepest;
        }
        cleanup_free struct replica **wave = sv_xcalloc(sup->n_replicas, sizeof(*wave));
        size_t n = 0;
        for (size_t i = 0; i < sup->n_replicas; i++)
            if ((sup->g ? dep_depth(sup->g, sup->replicas[i]->svc, 0) : 0) == deepest)
                wave[n++] = sup->replicas[i];
        replicas_stop(sup, wave, n, grace_override);
        /* replica_remove drops each from sup->replicas: wave holds them. */
        for (size_t i = 0; i < n; i++)
            if (replica_remove(sup, wave[i], grace_override, err) < 0)
                rc = -1;
    }
    return rc;
}

/* Rows of the stack that no replica of ours stands for (one whose removal
 * failed before, say): down removes them too, or says why not. */
static int remove_leftovers(struct supervisor *sup, sv_error_t *err)
{
    cleanup_rows struct sv_rows rows = {0};
    if (sv_rows_list(sup->st, sup->stack, &rows, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < rows.n; i++) {
        const struct sv_ctr_row *row = &rows.v[i];
        if (sv_pid_alive(row->pid, row->pid_start))
            kill(row->pid, SIGKILL);
        for (int t = 0; t < 250 && sv_pid_alive(row->pid, row->pid_start); t++)
            sup_pump(sup, 20);
        sv_error_t e = NULL;
        if (sv_container_remove(sup->st, row->id, &e) < 0) {
            rc = sv_error(err, 0, "%s: %s", row->name, e->msg);
            sup_report(&e);
        }
    }
    return rc;
}

int reconcile_take_down(struct supervisor *sup, int64_t grace_override, sv_error_t *err)
{
    sup->exiting = true;
    control_stop_listening(sup);
    int rc = remove_all(sup, grace_override, err);
    if (remove_leftovers(sup, err) < 0)
        rc = -1;
    if (network_down(sup, err) < 0)
        rc = -1;
    return rc;
}

bool reconcile_any_running(const struct supervisor *sup)
{
    for (size_t i = 0; i < sup->n_replicas; i++)
        if (sup->replicas[i]->state == REPLICA_RUNNING)
            return true;
    return false;
}
