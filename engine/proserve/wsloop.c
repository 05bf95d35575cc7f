/* The WebSocket connections' thread (wsconn.h): hand-offs from the
 * connection threads (a new connection, a broadcast) through a list and
 * an eventfd, the epoll loop, deadlines, and shutdown. A connection is the
 * loop's from its hand-off; before that (pf_wsc_new) it belongs to the
 * thread that made it. */
#include "proserve/wsconn_int.h"

#include "core/json.h"
#include "core/digest.h"
#include "proserve/wsframe.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct pf_wsc_loop L = {.ep = -1, .wake = -1, .lock = PTHREAD_MUTEX_INITIALIZER};

static void wake(void)
{
    uint64_t one = 1;
    if (write(L.wake, &one, sizeof(one)) < 0) {
        /* the counter is full: the loop is awake anyway */
    }
}

/* ---- from other threads ------------------------------------------------------------------- */

struct pf_wsc *pf_wsc_new(const struct pf_ws_route *r, const char *request, unsigned *status,
                          const char **why)
{
    if (atomic_fetch_add(&L.open, 1) >= PF_WSC_MAX) {
        atomic_fetch_sub(&L.open, 1);
        *status = 503;
        *why = "too many WebSocket connections";
        return NULL;
    }
    struct pf_wsc *c = sv_xcalloc(1, sizeof(*c));
    c->route = r;
    c->request = sv_xstrdup(request);
    for (int k = 0; k < FD_N; k++) {
        c->fd[k] = -1;
        c->events[k] = ~0u; /* not in the epoll set yet */
        c->tags[k] = (struct tag){c, (enum fd_kind)k};
    }
    if (r->kind == PF_WS_RUN) {
        struct sv_handler_proc h;
        sv_error_t err = NULL;
        if (pf_run_spawn(&r->run, request, &h, &err) < 0) {
            printf("ws %s: cannot start the handler: %s\n", r->path, err->msg);
            sv_error_free(&err);
            pf_wsc_discard(c);
            *status = 503;
            *why = "the WebSocket's handler cannot start";
            return NULL;
        }
        c->fd[FD_HIN] = h.in, c->fd[FD_HOUT] = h.out, c->fd[FD_HERR] = h.err, c->fd[FD_GW] = h.gw;
    }
    return c;
}

void pf_wsc_discard(struct pf_wsc *c)
{
    atomic_fetch_sub(&L.open, 1);
    for (int k = 0; k < FD_N; k++)
        if (c->fd[k] >= 0 && k != FD_SOCK)
            close(c->fd[k]);
    free(c->request);
    free(c);
}

void pf_wsc_attach(struct pf_wsc *c, int fd, void *urh, const char *extra, size_t n)
{
    c->fd[FD_SOCK] = fd;
    c->urh = urh;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (n) {
        c->in = sv_xmalloc(n);
        memcpy(c->in, extra, n);
        c->in_len = c->in_cap = n;
    }
    c->opened = sv_now_s();
    atomic_fetch_add(&L.total, 1);
    pthread_mutex_lock(&L.lock);
    c->next = L.incoming;
    L.incoming = c;
    pthread_mutex_unlock(&L.lock);
    wake();
}

void pf_wsc_broadcast(const char *path, const char *line, size_t n)
{
    if (!L.started)
        return;
    struct bcast *b = sv_xmalloc(sizeof(*b) + n + 1);
    b->next = NULL;
    b->path = path ? sv_xstrdup(path) : NULL;
    b->len = n;
    memcpy(b->line, line, n);
    b->line[n] = '\0';
    pthread_mutex_lock(&L.lock);
    if (L.bq_tail)
        L.bq_tail->next = b;
    else
        L.bq_head = b;
    L.bq_tail = b;
    pthread_mutex_unlock(&L.lock);
    wake();
}

/* ---- on_connect / on_disconnect runs ----------------------------------------------------------
 */

struct event_job {
    const struct pf_ws_route *route;
    const struct pf_target *t;
    char *input;
};

static void *event_thread(void *arg)
{
    struct event_job *j = arg;
    struct sv_handler_result res;
    sv_error_t err = NULL;
    if (pf_run_handler(j->t, "request", j->input, &res, &err) < 0) {
        printf("ws %s: cannot run %s: %s\n", j->route->path, j->t->target, err->msg);
        sv_error_free(&err);
    } else {
        for (char *save = NULL, *l = strtok_r(res.out, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save))
            if (strcmp(l, "null") != 0)
                pf_wsc_broadcast(j->route->path, l, strlen(l));
        for (char *save = NULL, *l = strtok_r(res.err, "\n", &save); l;
             l = strtok_r(NULL, "\n", &save))
            printf("ws %s: %s\n", j->route->path, l);
    }
    sv_handler_result_free(&res);
    free(j->input);
    free(j);
    return NULL;
}

void pf_wsc_event_run(struct pf_wsc *c, const struct pf_target *t, const char *event)
{
    struct event_job *j = sv_xcalloc(1, sizeof(*j));
    j->route = c->route;
    j->t = t;
    /* The request it connected with, and the event. */
    json_error_t jerr;
    json_t *rq = json_loads(c->request, 0, &jerr);
    if (!json_is_object(rq)) {
        json_decref(rq);
        rq = json_object();
    }
    json_object_set_new(rq, "event", json_string(event));
    j->input = sv_json_dumps(rq, SV_JSON_COMPACT);
    json_decref(rq);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, event_thread, j) != 0) {
        free(j->input);
        free(j);
    }
    pthread_attr_destroy(&attr);
}

/* ---- the loop ------------------------------------------------------------------------------ */

/* A connection becomes the loop's: watched, what came with the request
 * parsed, on_connect said. */
static void take(struct pf_wsc *c)
{
    c->prev = NULL;
    c->next = L.head;
    if (L.head)
        L.head->prev = c;
    L.head = c;
    printf("ws %s opened (%lu open)\n", c->route->path, (unsigned long)atomic_load(&L.open));
    pf_wsc_update(c);
    const struct pf_ws_route *r = c->route;
    if (r->on_connect) {
        cleanup_free char *line = sv_json_dumps(r->on_connect, SV_JSON_COMPACT);
        struct pf_wsmsg m;
        pf_wsmsg_from_line(line, strlen(line), &m);
        pf_wsc_broadcast_msg(r->path, &m);
        free(m.data);
    }
    if (r->connect_run.target)
        pf_wsc_event_run(c, &r->connect_run, "connect");
    if (c->in_len)
        pf_wsc_parse(c);
    if (!c->sock_done)
        pf_wsc_update(c);
}

static void take_handoffs(void)
{
    uint64_t n;
    if (read(L.wake, &n, sizeof(n)) < 0) {
        /* nothing to drain */
    }
    pthread_mutex_lock(&L.lock);
    struct pf_wsc *in = L.incoming;
    struct bcast *bq = L.bq_head;
    L.incoming = NULL;
    L.bq_head = L.bq_tail = NULL;
    pthread_mutex_unlock(&L.lock);
    for (struct pf_wsc *c = in, *next; c; c = next) {
        next = c->next;
        take(c);
    }
    for (struct bcast *b = bq, *next; b; b = next) {
        next = b->next;
        struct pf_wsmsg m;
        pf_wsmsg_from_line(b->line, b->len, &m);
        if (m.kind == PF_WSMSG_SEND || m.kind == PF_WSMSG_BROADCAST)
            pf_wsc_broadcast_msg(b->path, &m);
        free(m.data);
        free(b->path);
        free(b);
    }
}

/* Deadlines passed (a close not answered, a handler slow to end), and
 * connections done with: freed here, after the events that could name
 * them. */
static void sweep(double now, bool stopping)
{
    for (struct pf_wsc *c = L.head, *next; c; c = next) {
        next = c->next;
        if (stopping && !c->sock_done && !c->close_sent)
            pf_wsc_close(c, PF_WS_GOING_AWAY, "the service is stopping");
        if (!c->sock_done && c->deadline > 0 && now > c->deadline)
            pf_wsc_finish_socket(c);
        bool over = c->sock_done && (!pf_wsc_handler_alive(c) || now > c->deadline);
        if (!over)
            continue;
        if (c->prev)
            c->prev->next = c->next;
        else
            L.head = c->next;
        if (c->next)
            c->next->prev = c->prev;
        c->dead = true;
        pf_wsc_free(c);
    }
}

static void *loop(void *arg)
{
    (void)arg;
    struct epoll_event ev[256];
    double stop_by = 0;
    for (;;) {
        int n = epoll_wait(L.ep, ev, (int)SV_ARRAY_LEN(ev), L.head ? 250 : 1000);
        for (int i = 0; i < n; i++) {
            struct tag *t = ev[i].data.ptr;
            if (t == &L.wake_tag)
                take_handoffs();
            else
                pf_wsc_dispatch(t, ev[i].events);
        }
        bool stopping = atomic_load(&L.stopping);
        if (stopping && stop_by == 0)
            stop_by = sv_now_s() + 2;
        double now = sv_now_s();
        sweep(now, stopping);
        if (stopping && (L.head == NULL || now > stop_by))
            break;
    }
    for (struct pf_wsc *c = L.head, *next; c; c = next) { /* past the grace: as they are */
        next = c->next;
        pf_wsc_finish_socket(c);
        c->dead = true;
        pf_wsc_free(c);
    }
    L.head = NULL;
    return NULL;
}

int pf_wsc_start(void (*close_urh)(void *urh), sv_error_t *err)
{
    const struct pf_service *svc = &pf_service;
    bool broadcasts = false;
    for (size_t i = 0; i < svc->n_tasks; i++)
        broadcasts |= svc->tasks[i].broadcast;
    if (svc->n_ws_routes == 0 && !broadcasts)
        return 0;
    unsigned char digest[20];
    if (svc->n_ws_routes && sv_sha1("", 0, digest, err) < 0) /* libcrypto loaded now, once */
        return -1;
    L.close_urh = close_urh;
    L.ep = epoll_create1(EPOLL_CLOEXEC);
    L.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (L.ep < 0 || L.wake < 0)
        return sv_error(err, errno, "cannot make the WebSocket loop's epoll set");
    L.wake_tag = (struct tag){NULL, FD_N};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &L.wake_tag};
    if (epoll_ctl(L.ep, EPOLL_CTL_ADD, L.wake, &ev) < 0 ||
        pthread_create(&L.thread, NULL, loop, NULL) != 0)
        return sv_error(err, errno, "cannot start the WebSocket loop");
    L.started = true;
    return 0;
}

void pf_wsc_stop(void)
{
    if (!L.started)
        return;
    atomic_store(&L.stopping, true);
    wake();
    pthread_join(L.thread, NULL);
    L.started = false;
}
