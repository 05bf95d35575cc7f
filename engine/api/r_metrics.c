/* /metrics (Prometheus' text format) and /v1/stacks/{name}/stats (the
 * dashboard's charts): per replica CPU seconds, memory, tasks, restarts,
 * whether it runs and its health; per stack counts; containers of
 * `servos run`; the daemon's own figures. */
#include "api/api_int.h"
#include "core/json.h"
#include "runtime/cgstats.h"
#include "stack/ps.h"

#include <dirent.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static time_t started;

/* A label value: \\, \" and \n escaped. */
static void label(FILE *f, const char *name, const char *v, bool last)
{
    fprintf(f, "%s=\"", name);
    for (const char *p = v ? v : ""; *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc('\\', f);
        if (*p == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*p, f);
    }
    fputs(last ? "\"}" : "\",", f);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct metric_rows {
    struct sv_ctr_row *v;
    size_t n;
    struct sv_cgstats *stats;
};

static void replica_labels(FILE *f, const struct sv_ctr_row *r)
{
    fputc('{', f);
    label(f, "stack", r->stack, false);
    label(f, "service", r->service, false);
    char n[16];
    snprintf(n, sizeof(n), "%d", r->replica);
    label(f, "replica", n, true);
}

static void per_replica(FILE *f, const struct metric_rows *m)
{
    static const struct {
        const char *name, *type, *help;
    } fams[] = {
        {"servos_replica_cpu_seconds_total", "counter", "CPU time of the replica's processes"},
        {"servos_replica_memory_bytes", "gauge", "memory the replica uses"},
        {"servos_replica_tasks", "gauge", "processes and threads in the replica"},
        {"servos_replica_restarts_total", "counter", "restarts of the replica"},
        {"servos_replica_up", "gauge", "1 while the replica runs"},
        {"servos_replica_healthy", "gauge", "1 healthy, 0 unhealthy or starting (with a check)"},
    };
    for (size_t k = 0; k < SV_ARRAY_LEN(fams); k++) {
        head(f, fams[k].name, fams[k].type, fams[k].help);
        for (size_t i = 0; i < m->n; i++) {
            const struct sv_ctr_row *r = &m->v[i];
            const struct sv_cgstats *s = &m->stats[i];
            bool running = sv_ctr_row_running(r);
            if (r->stack == NULL || (k < 3 && !running) || (k == 5 && !*r->health))
                continue;
            fputs(fams[k].name, f);
            replica_labels(f, r);
            switch (k) {
            case 0:
                fprintf(f, " %.6f\n", s->cpu_s < 0 ? 0 : s->cpu_s);
                break;
            case 1:
                fprintf(f, " %lld\n", (long long)(s->memory < 0 ? 0 : s->memory));
                break;
            case 2:
                fprintf(f, " %lld\n", (long long)(s->tasks < 0 ? 0 : s->tasks));
                break;
            case 3:
                fprintf(f, " %d\n", r->restarts);
                break;
            case 4:
                fprintf(f, " %d\n", running);
                break;
            default:
                fprintf(f, " %d\n", strcmp(r->health, "healthy") == 0);
            }
        }
    }
}

static void per_stack(FILE *f, const struct metric_rows *m)
{
    head(f, "servos_stack_replicas", "gauge", "a stack's replicas, running or not");
    cleanup_json json_t *counts = json_object();
    for (size_t i = 0; i < m->n; i++) {
        const struct sv_ctr_row *r = &m->v[i];
        if (r->stack == NULL)
            continue;
        json_t *c = json_object_get(counts, r->stack);
        if (c == NULL) {
            c = json_pack("{s:i,s:i}", "running", 0, "stopped", 0);
            json_object_set_new(counts, r->stack, c);
        }
        const char *k = sv_ctr_row_running(r) ? "running" : "stopped";
        json_object_set_new(c, k, json_integer(json_integer_value(json_object_get(c, k)) + 1));
    }
    const char *stack;
    json_t *c;
    json_object_foreach(counts, stack, c)
    {
        for (int s = 0; s < 2; s++) {
            fputs("servos_stack_replicas{", f);
            label(f, "stack", stack, false);
            label(f, "state", s ? "stopped" : "running", true);
            fprintf(f, " %lld\n",
                    (long long)json_integer_value(json_object_get(c, s ? "stopped" : "running")));
        }
    }
    head(f, "servos_containers", "gauge", "containers of servos run, by state");
    int run = 0, other = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].stack == NULL)
            sv_ctr_row_running(&m->v[i]) ? run++ : other++;
    fprintf(f, "servos_containers{state=\"running\"} %d\nservos_containers{state=\"stopped\"} %d\n",
            run, other);
}

static int open_fds(void)
{
    int n = 0;
    cleanup_closedir DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    return n - 1; /* the directory's own */
}

static void daemon_figures(FILE *f)
{
    struct httpd_stats h;
    httpd_stats(&h);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    long rss = 0;
    cleanup_fclose FILE *st = fopen("/proc/self/statm", "re");
    long size;
    if (st == NULL || fscanf(st, "%ld %ld", &size, &rss) != 2)
        rss = 0;
    head(f, "servos_api_connections", "gauge", "open connections to the API");
    fprintf(f, "servos_api_connections %llu\n", (unsigned long long)h.connections);
    head(f, "servos_api_requests_total", "counter", "requests answered");
    fprintf(f, "servos_api_requests_total %llu\n", (unsigned long long)h.requests);
    head(f, "servos_api_streams", "gauge", "event streams open (logs, events, exec, pulls)");
    fprintf(f, "servos_api_streams %llu\n", (unsigned long long)h.streams);
    head(f, "servos_api_log_followers", "gauge", "clients following logs");
    fprintf(f, "servos_api_log_followers %zu\n", logfeed_followers());
    head(f, "servos_api_jobs", "gauge", "servos commands running for the API");
    fprintf(f, "servos_api_jobs %zu\n", job_count());
    head(f, "process_resident_memory_bytes", "gauge", "the daemon's resident memory");
    fprintf(f, "process_resident_memory_bytes %ld\n", rss * sysconf(_SC_PAGESIZE));
    head(f, "process_cpu_seconds_total", "counter", "the daemon's CPU time");
    fprintf(f, "process_cpu_seconds_total %.3f\n",
            (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    head(f, "process_open_fds", "gauge", "the daemon's open descriptors");
    fprintf(f, "process_open_fds %d\n", open_fds());
    head(f, "process_start_time_seconds", "gauge", "when the daemon started (unix time)");
    fprintf(f, "process_start_time_seconds %lld\n", (long long)started);
}

static void metrics(struct sv_api_req *rq)
{
    struct metric_rows m = {0};
    sv_error_t err = NULL;
    if (sv_store_list(loop_store(), &m.v, &m.n, &err) < 0) {
        sv_api_reply_error(rq, 500, "failed", "%s", err->msg);
        sv_error_free(&err);
        return;
    }
    m.stats = sv_xcalloc(m.n + 1, sizeof(*m.stats));
    for (size_t i = 0; i < m.n; i++)
        if (sv_ctr_row_running(&m.v[i]))
            sv_cgstats_read(m.v[i].id, &m.stats[i]);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        sv_oom();
    per_replica(f, &m);
    per_stack(f, &m);
    daemon_figures(f);
    fclose(f);
    sv_ctr_rows_free(m.v, m.n);
    free(m.stats);
    sv_api_reply_bytes(rq, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* ---- stats ------------------------------------------------------------------------------ */

static json_t *stats_doc(const char *stack, sv_error_t *err)
{
    cleanup_ps struct sv_ps ps = {0};
    if (sv_ps_collect_in(loop_store(), pscache_known(), stack, &ps, err) < 0)
        return NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *doc = json_object(), *reps = json_array();
    json_object_set_new(doc, "ts",
                        json_integer((json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
    for (size_t i = 0; i < ps.rows.n; i++) {
        const struct sv_ctr_row *r = ps.v[i].row;
        struct sv_cgstats s = {-1, -1, -1};
        if (ps.v[i].running)
            sv_cgstats_read(r->id, &s);
        json_t *o = json_object();
        sv_json_set(o, "service", sv_json_string(r->service));
        json_object_set_new(o, "replica", json_integer(r->replica));
        json_object_set_new(o, "pid", json_integer(ps.v[i].running ? r->pid : 0));
        json_object_set_new(o, "cpu_seconds", s.cpu_s < 0 ? json_null() : json_real(s.cpu_s));
        json_object_set_new(o, "memory_bytes", s.memory < 0 ? json_null() : json_integer(s.memory));
        json_object_set_new(o, "tasks", s.tasks < 0 ? json_null() : json_integer(s.tasks));
        json_array_append_new(reps, o);
    }
    json_object_set_new(doc, "replicas", reps);
    return doc;
}

struct statsub {
    struct statsub *next;
    struct sv_api_stream *s;
    char *stack;
};
static struct statsub *statsubs;

static void stats_gone(void *ud)
{
    struct statsub *w = ud;
    for (struct statsub **p = &statsubs; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    free(w->stack);
    free(w);
}

static void stats_send(struct statsub *w)
{
    sv_error_t err = NULL;
    json_t *doc = stats_doc(w->stack, &err);
    if (doc == NULL) {
        sv_error_free(&err);
        return;
    }
    cleanup_free char *text = sv_json_dumps(doc, SV_JSON_COMPACT);
    json_decref(doc);
    sv_api_sse_send(w->s, NULL, NULL, text);
}

static void stats_tick(void *ud)
{
    (void)ud;
    for (struct statsub *w = statsubs; w; w = w->next)
        if (stream_pending(w->s) < 65536) /* a reader that keeps up */
            stats_send(w);
}

static void stats(struct sv_api_req *rq)
{
    const char *stack = rstack_known(rq);
    if (stack == NULL)
        return;
    if (!sv_api_query_flag(rq, "stream")) {
        sv_error_t err = NULL;
        json_t *doc = stats_doc(stack, &err);
        if (doc == NULL) {
            sv_api_reply_error(rq, 500, "failed", "%s", err->msg);
            sv_error_free(&err);
        } else {
            sv_api_reply_json(rq, 200, doc);
        }
        return;
    }
    struct statsub *w = sv_xcalloc(1, sizeof(*w));
    w->stack = sv_xstrdup(stack);
    w->s = sv_api_sse_open(rq, stats_gone, w);
    if (w->s == NULL) {
        free(w->stack);
        free(w);
        return;
    }
    w->next = statsubs;
    statsubs = w;
    stats_send(w);
}

static const struct sv_api_route routes[] = {
    {"GET", "/metrics", metrics, 0, 0},
    {"GET", "/v1/stacks/{name}/stats", stats, 0, 0},
};

void r_metrics_register(void)
{
    started = time(NULL);
    loop_every(2000, stats_tick, NULL);
    sv_api_routes_add(routes, SV_ARRAY_LEN(routes));
}
