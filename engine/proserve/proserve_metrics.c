/* The service host's metrics: requests by method, route and status, and
 * how handlers ended, for /metrics in Prometheus' text format. Request
 * threads count at once, so everything here is under one lock. */
#include "proserve/proserve_int.h"
#include "proserve/wsconn.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One series: the requests of one method, route and status. */
struct series {
    char *method, *route;
    int status;
    unsigned long long count;
    double seconds;
};

static struct {
    pthread_mutex_t lock;
    struct series *series;
    size_t n_series;
    unsigned long long counters[PF_HANDLER_OOM_KILLS + 1]; /* by enum pf_metrics_counter */
} metrics = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Every label value comes from a fixed set (methods, the manifest's
 * routes, "unmatched"), never from the client: a client's own method
 * names would add a series each. */
void pf_metrics_count(const char *method, const char *route, unsigned status, double secs)
{
    method = pf_service_method_label(method);
    pthread_mutex_lock(&metrics.lock);
    size_t i = 0;
    struct series *s = metrics.series;
    for (; i < metrics.n_series; i++)
        if (s[i].status == (int)status && strcmp(s[i].route, route) == 0 &&
            strcmp(s[i].method, method) == 0)
            break;
    if (i == metrics.n_series) {
        s = metrics.series = sv_xrealloc(s, (metrics.n_series + 1) * sizeof(*s));
        s[metrics.n_series++] =
            (struct series){sv_xstrdup(method), sv_xstrdup(route), (int)status, 0, 0};
    }
    s[i].count++;
    s[i].seconds += secs;
    pthread_mutex_unlock(&metrics.lock);
}

void pf_metrics_bump(enum pf_metrics_counter c)
{
    pthread_mutex_lock(&metrics.lock);
    metrics.counters[c]++;
    pthread_mutex_unlock(&metrics.lock);
}

/* A label value in Prometheus' text format: \\, \" and \n escaped. */
static void put_label(FILE *f, const char *s)
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

static void put_labels(FILE *f, const char *metric, const struct series *s)
{
    fprintf(f, "%s{method=\"", metric);
    put_label(f, s->method);
    fputs("\",route=\"", f);
    put_label(f, s->route);
    fprintf(f, "\",status=\"%d\"}", s->status);
}

/* Under metrics.lock. */
static void put_all(FILE *f)
{
    const struct series *s = metrics.series;
    fprintf(f, "# HELP proserve_requests_total Requests answered.\n"
               "# TYPE proserve_requests_total counter\n");
    for (size_t i = 0; i < metrics.n_series; i++) {
        put_labels(f, "proserve_requests_total", &s[i]);
        fprintf(f, " %llu\n", s[i].count);
    }
    fprintf(f, "# HELP proserve_request_seconds Time spent answering.\n"
               "# TYPE proserve_request_seconds summary\n");
    for (size_t i = 0; i < metrics.n_series; i++) {
        put_labels(f, "proserve_request_seconds_sum", &s[i]);
        fprintf(f, " %.6f\n", s[i].seconds);
        put_labels(f, "proserve_request_seconds_count", &s[i]);
        fprintf(f, " %llu\n", s[i].count);
    }
    fprintf(f,
            "# TYPE proserve_handler_failures_total counter\nproserve_handler_failures_total "
            "%llu\n# TYPE proserve_handler_timeouts_total counter\n"
            "proserve_handler_timeouts_total %llu\n# TYPE proserve_handler_oom_kills_total "
            "counter\nproserve_handler_oom_kills_total %llu\n",
            metrics.counters[PF_HANDLER_FAILURES], metrics.counters[PF_HANDLER_TIMEOUTS],
            metrics.counters[PF_HANDLER_OOM_KILLS]);
    if (pf_service.n_ws_routes == 0)
        return;
    struct pf_wsc_stats ws;
    pf_wsc_stats(&ws);
    fprintf(f,
            "# TYPE proserve_websocket_connections gauge\nproserve_websocket_connections %lu\n"
            "# TYPE proserve_websocket_connections_total counter\n"
            "proserve_websocket_connections_total %lu\n"
            "# TYPE proserve_websocket_messages_received_total counter\n"
            "proserve_websocket_messages_received_total %lu\n"
            "# TYPE proserve_websocket_messages_sent_total counter\n"
            "proserve_websocket_messages_sent_total %lu\n",
            ws.open, ws.total, ws.in, ws.out);
}

void pf_metrics_answer(struct pf_answer *a)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pthread_mutex_lock(&metrics.lock);
    put_all(f);
    pthread_mutex_unlock(&metrics.lock);
    /* Closed here, not at scope exit: buf and len are final only then. */
    fclose(f);
    a->status = 200;
    a->type = "text/plain; version=0.0.4";
    a->body = buf;
    a->len = len;
}
