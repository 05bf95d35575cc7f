/* The WebSocket connections' loop (wsconn.h): one thread, one epoll set
 * holding every client socket and every kept-running handler's pipes.
 * Level-triggered, each descriptor watched only for what it can use now,
 * so a client that does not read stops its handler's output, and a
 * handler that does not read stops its client's input (nothing grows
 * without bound but a broadcast to a client that reads nothing, which is
 * dropped past QUEUE_MAX). A connection's struct outlives its socket while
 * its handler ends (its last $broadcast lines still go out). */
#include "proserve/wsconn_int.h"

#include "core/json.h"
#include "proserve/wsframe.h"
#include "proserve/wsmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* ---- queues -------------------------------------------------------------------------------- */

static void q_push(struct queue *q, const void *a, size_t an, const void *b, size_t bn)
{
    struct chunk *k = sv_xmalloc(sizeof(*k) + an + bn);
    k->next = NULL;
    k->len = an + bn;
    k->off = 0;
    memcpy(k->data, a, an);
    if (bn)
        memcpy(k->data + an, b, bn);
    if (q->tail)
        q->tail->next = k;
    else
        q->head = k;
    q->tail = k;
    q->bytes += an + bn;
}

static void q_clear(struct queue *q)
{
    for (struct chunk *k = q->head, *n; k; k = n) {
        n = k->next;
        free(k);
    }
    *q = (struct queue){0};
}

/* Write what fd takes now; -1 when it is gone. */
static int q_flush(int fd, struct queue *q)
{
    while (q->head) {
        struct chunk *k = q->head;
        ssize_t w = write(fd, k->data + k->off, k->len - k->off);
        if (w < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        k->off += (size_t)w;
        q->bytes -= (size_t)w;
        if (k->off < k->len)
            return 0;
        q->head = k->next;
        if (q->head == NULL)
            q->tail = NULL;
        free(k);
    }
    return 0;
}

/* ---- descriptors ---------------------------------------------------------------------- */

static void close_fd(struct pf_wsc *c, enum fd_kind k)
{
    if (c->fd[k] < 0)
        return;
    if (c->events[k] != ~0u)
        epoll_ctl(L.ep, EPOLL_CTL_DEL, c->fd[k], NULL);
    if (k != FD_SOCK)
        close(c->fd[k]);
    c->fd[k] = -1;
}

static void watch(struct pf_wsc *c, enum fd_kind k, unsigned events)
{
    if (c->fd[k] < 0 || c->events[k] == events)
        return;
    struct epoll_event ev = {.events = events, .data.ptr = &c->tags[k]};
    int op = c->events[k] == ~0u ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(L.ep, op, c->fd[k], &ev) == 0)
        c->events[k] = events;
}

/* Watch each descriptor for what it can use now. */
void pf_wsc_update(struct pf_wsc *c)
{
    if (!c->sock_done) {
        bool full = c->hin.bytes > QUEUE_MAX || c->out.bytes > QUEUE_MAX;
        watch(c, FD_SOCK, (full ? 0 : EPOLLIN) | (c->out.bytes ? EPOLLOUT : 0));
    }
    watch(c, FD_HIN, c->hin.bytes ? EPOLLOUT : 0);
    watch(c, FD_HOUT, c->out.bytes > QUEUE_MAX ? 0 : EPOLLIN);
    watch(c, FD_HERR, EPOLLIN);
    watch(c, FD_GW, EPOLLIN);
}

/* ---- sending ---------------------------------------------------------------------------- */

static void send_frame(struct pf_wsc *c, unsigned op, const void *data, size_t n)
{
    if (c->sock_done || c->close_sent)
        return;
    unsigned char h[10];
    size_t hl = pf_wsframe_header(h, op, true, n);
    q_push(&c->out, h, hl, data, n);
    if (op == PF_WS_TEXT || op == PF_WS_BINARY) {
        c->n_out++;
        atomic_fetch_add(&L.out, 1);
    }
    if (q_flush(c->fd[FD_SOCK], &c->out) < 0)
        pf_wsc_finish_socket(c);
    else
        pf_wsc_update(c);
}

/* The handler hears no more: its stdin closes (its EOF is the client's
 * leaving), and it has EXIT_WAIT to end. */
static void handler_hangup(struct pf_wsc *c)
{
    q_clear(&c->hin);
    close_fd(c, FD_HIN);
}

void pf_wsc_close(struct pf_wsc *c, unsigned code, const char *reason)
{
    if (c->close_sent || c->sock_done)
        return;
    unsigned char p[125];
    size_t n = pf_wsframe_close_payload(p, code, reason);
    send_frame(c, PF_WS_CLOSE, p, n);
    c->close_sent = true;
    c->close_code = c->close_code ? c->close_code : code;
    c->deadline = sv_now_s() + CLOSE_WAIT;
    handler_hangup(c);
}

/* A handler's output line (or a broadcast's) to c. */
static void send_msg(struct pf_wsc *c, const struct pf_wsmsg *m)
{
    send_frame(c, m->opcode, m->data, m->len);
}

void pf_wsc_broadcast_msg(const char *path, const struct pf_wsmsg *m)
{
    for (struct pf_wsc *c = L.head; c; c = c->next) {
        if (c->sock_done || c->close_sent || (path && strcmp(c->route->path, path) != 0))
            continue;
        if (c->out.bytes > QUEUE_MAX) { /* reads nothing: it goes */
            printf("ws %s: a client that reads nothing was dropped\n", c->route->path);
            pf_wsc_finish_socket(c);
            continue;
        }
        send_msg(c, m);
    }
}

/* ---- a client's messages ----------------------------------------------------------------- */

static void deliver(struct pf_wsc *c, unsigned op, const unsigned char *p, size_t n)
{
    if (op == PF_WS_TEXT && !pf_wsframe_utf8(p, n)) {
        pf_wsc_close(c, PF_WS_BAD_DATA, "a text message that is not UTF-8");
        return;
    }
    c->n_in++;
    atomic_fetch_add(&L.in, 1);
    switch (c->route->kind) {
    case PF_WS_ECHO:
        send_frame(c, op, p, n);
        break;
    case PF_WS_BROADCAST: {
        struct pf_wsmsg m = {
            .kind = PF_WSMSG_SEND, .opcode = op, .data = (unsigned char *)p, .len = n};
        pf_wsc_broadcast_msg(c->route->path, &m);
        break;
    }
    case PF_WS_RUN: {
        if (c->fd[FD_HIN] < 0)
            return; /* its handler is gone; the connection is closing */
        size_t len;
        cleanup_free char *line = pf_wsmsg_to_line(op, p, n, &len);
        q_push(&c->hin, line, len, NULL, 0);
        if (q_flush(c->fd[FD_HIN], &c->hin) < 0)
            handler_hangup(c);
        pf_wsc_update(c);
        break;
    }
    }
}

static void on_control(struct pf_wsc *c, const struct pf_wsframe *f, unsigned char *p)
{
    if (f->opcode == PF_WS_PING) {
        send_frame(c, PF_WS_PONG, p, f->len);
    } else if (f->opcode == PF_WS_CLOSE) {
        unsigned bad = 0, code = pf_wsframe_close_code(p, f->len, &bad);
        c->close_got = true;
        if (code == 0) {
            pf_wsc_close(c, bad, "a bad close frame");
        } else {
            c->close_code = c->close_code ? c->close_code : code;
            /* Echo its code (RFC 6455 5.5.1); none: 1000. */
            pf_wsc_close(c, code == PF_WS_NO_STATUS ? PF_WS_NORMAL : code, NULL);
        }
    } /* a pong: nothing to do */
}

/* One whole frame whose payload (unmasked) is p. */
static void on_frame(struct pf_wsc *c, const struct pf_wsframe *f, unsigned char *p)
{
    if (f->opcode >= PF_WS_CLOSE) {
        on_control(c, f, p);
        return;
    }
    if (c->close_sent)
        return; /* closing: their data is too late */
    bool cont = f->opcode == PF_WS_CONT;
    if (cont != (c->msg_op != 0)) {
        pf_wsc_close(c, PF_WS_PROTOCOL,
                     cont ? "a continuation with no message" : "a new message inside another");
        return;
    }
    if (!cont && f->fin) { /* the common case: one frame, no copy */
        deliver(c, f->opcode, p, f->len);
        return;
    }
    if (c->msg_len + f->len > MSG_MAX) {
        pf_wsc_close(c, PF_WS_TOO_BIG, "the message is larger than 1 MiB");
        return;
    }
    if (!cont)
        c->msg_op = f->opcode;
    c->msg = sv_xrealloc(c->msg, c->msg_len + f->len + 1);
    memcpy(c->msg + c->msg_len, p, f->len);
    c->msg_len += f->len;
    if (f->fin) {
        deliver(c, c->msg_op, c->msg, c->msg_len);
        free(c->msg);
        c->msg = NULL;
        c->msg_len = 0;
        c->msg_op = 0;
    }
}

/* Take every whole frame in c->in. */
void pf_wsc_parse(struct pf_wsc *c)
{
    size_t at = 0;
    while (!c->sock_done && !c->dead) {
        struct pf_wsframe f;
        unsigned code = 0;
        int h = pf_wsframe_parse(c->in + at, c->in_len - at, MSG_MAX, &f, &code);
        if (h < 0) {
            pf_wsc_close(c, code,
                         code == PF_WS_TOO_BIG ? "the frame is larger than 1 MiB"
                                               : "a protocol error");
            c->in_len = 0;
            return;
        }
        if (h == 0 || c->in_len - at < (size_t)h + f.len)
            break;
        unsigned char *p = c->in + at + h;
        pf_wsframe_unmask(p, f.len, f.mask, 0);
        at += (size_t)h + f.len;
        on_frame(c, &f, p);
    }
    if (c->sock_done || c->dead)
        return;
    memmove(c->in, c->in + at, c->in_len - at);
    c->in_len -= at;
    if (c->in_len == 0 && c->in_cap > READ_SIZE) { /* idle connections keep no buffer */
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

static void read_sock(struct pf_wsc *c)
{
    if (c->in_cap - c->in_len < READ_SIZE) {
        c->in_cap = c->in_len + READ_SIZE;
        c->in = sv_xrealloc(c->in, c->in_cap);
    }
    ssize_t n = read(c->fd[FD_SOCK], c->in + c->in_len, c->in_cap - c->in_len);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        if (!c->close_got && !c->close_code)
            c->close_code = 1006; /* gone without a close: as RFC 6455 7.1.5 names it */
        pf_wsc_finish_socket(c);
        return;
    }
    if (n > 0) {
        c->in_len += (size_t)n;
        pf_wsc_parse(c);
    }
    if (!c->sock_done && c->in_len == 0) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

/* ---- its handler ------------------------------------------------------------------------ */

static void on_handler_line(struct pf_wsc *c, const char *line, size_t n)
{
    struct pf_wsmsg m;
    pf_wsmsg_from_line(line, n, &m);
    if (m.kind == PF_WSMSG_SEND && !c->sock_done)
        send_msg(c, &m);
    else if (m.kind == PF_WSMSG_BROADCAST)
        pf_wsc_broadcast_msg(c->route->path, &m);
    else if (m.kind == PF_WSMSG_CLOSE) {
        unsigned bad;
        unsigned char p[2] = {(unsigned char)(m.code >> 8), (unsigned char)m.code};
        pf_wsc_close(c, pf_wsframe_close_code(p, 2, &bad) ? m.code : PF_WS_NORMAL, m.reason);
    }
    free(m.data);
}

static void read_hout(struct pf_wsc *c)
{
    char buf[READ_SIZE];
    ssize_t n = read(c->fd[FD_HOUT], buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close_fd(c, FD_HOUT);
        return;
    }
    for (ssize_t i = 0; i < n;) {
        char *nl = memchr(buf + i, '\n', (size_t)(n - i));
        size_t take = nl ? (size_t)(nl - (buf + i)) : (size_t)(n - i);
        if (c->hline_len + take > LINE_MAX_B) {
            printf("ws %s: the handler wrote a line over %u MiB; it is stopped\n", c->route->path,
                   LINE_MAX_B >> 20);
            pf_wsc_close(c, PF_WS_INTERNAL, "the handler's message is too large");
            close_fd(c, FD_HOUT);
            close_fd(c, FD_GW); /* hanging up kills the run */
            return;
        }
        if (nl && c->hline_len == 0) { /* a whole line in buf: no copy */
            on_handler_line(c, buf + i, take);
        } else {
            if (c->hline_len + take + 1 > c->hline_cap) {
                c->hline_cap = (c->hline_len + take + 1) * 2;
                c->hline = sv_xrealloc(c->hline, c->hline_cap);
            }
            memcpy(c->hline + c->hline_len, buf + i, take);
            c->hline_len += take;
            if (nl) {
                on_handler_line(c, c->hline, c->hline_len);
                c->hline_len = 0;
            }
        }
        i += (ssize_t)take + (nl ? 1 : 0);
    }
}

/* Its stderr, a log line each (cut at 500 bytes). */
static void read_herr(struct pf_wsc *c)
{
    char buf[4096];
    ssize_t n = read(c->fd[FD_HERR], buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        close_fd(c, FD_HERR);
        n = 0;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] != '\n' && c->herr_len < sizeof(c->herr) - 1) {
            c->herr[c->herr_len++] = buf[i];
            continue;
        }
        if (buf[i] != '\n')
            continue;
        c->herr[c->herr_len] = '\0';
        cleanup_free char *l = pf_answer_printable(c->herr, 500);
        printf("ws %s: %s\n", c->route->path, l);
        c->herr_len = 0;
    }
}

/* The gateway's report: the run ended. */
static void read_gw(struct pf_wsc *c)
{
    ssize_t n =
        read(c->fd[FD_GW], c->report + c->report_len, sizeof(c->report) - 1 - c->report_len);
    if (n > 0) {
        c->report_len += (size_t)n;
        c->report[c->report_len] = '\0';
        if (!memchr(c->report, '\n', c->report_len) && c->report_len < sizeof(c->report) - 1)
            return;
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    close_fd(c, FD_GW);
    c->report[strcspn(c->report, "\n")] = '\0';
    int code = -1;
    bool clean = sscanf(c->report, "exit %d", &code) == 1 && code == 0;
    if (!c->close_sent && !c->sock_done) {
        printf("ws %s: the handler ended (%s)\n", c->route->path,
               c->report[0] ? c->report : "the gateway hung up");
        pf_wsc_close(c, clean ? PF_WS_NORMAL : PF_WS_INTERNAL,
                     clean ? "the handler ended" : "the handler failed");
    }
}

/* ---- a connection's life ------------------------------------------------------------------ */

/* The socket goes back to libmicrohttpd; the struct stays while the
 * handler ends. */
void pf_wsc_finish_socket(struct pf_wsc *c)
{
    if (c->sock_done)
        return;
    c->sock_done = true;
    int fd = c->fd[FD_SOCK];
    close_fd(c, FD_SOCK);
    if (c->urh) /* libmicrohttpd's (TLS): it closes it */
        L.close_urh(c->urh);
    else
        close(fd);
    c->urh = NULL;
    q_clear(&c->out);
    atomic_fetch_sub(&L.open, 1);
    printf("ws %s closed %u after %.1fs (%lu in, %lu out)\n", c->route->path,
           c->close_code ? c->close_code : 1006, sv_now_s() - c->opened, c->n_in, c->n_out);
    handler_hangup(c);
    c->deadline = sv_now_s() + EXIT_WAIT;
    const struct pf_ws_route *r = c->route;
    if (r->on_disconnect) {
        cleanup_free char *line = sv_json_dumps(r->on_disconnect, SV_JSON_COMPACT);
        struct pf_wsmsg m;
        pf_wsmsg_from_line(line, strlen(line), &m);
        pf_wsc_broadcast_msg(r->path, &m);
        free(m.data);
    }
    if (r->disconnect_run.target)
        pf_wsc_event_run(c, &r->disconnect_run, "disconnect");
}

bool pf_wsc_handler_alive(const struct pf_wsc *c)
{
    return c->fd[FD_GW] >= 0 || c->fd[FD_HOUT] >= 0;
}

void pf_wsc_free(struct pf_wsc *c)
{
    for (int k = 0; k < FD_N; k++)
        close_fd(c, (enum fd_kind)k); /* the gateway kills a run still going */
    q_clear(&c->hin);
    free(c->in);
    free(c->msg);
    free(c->hline);
    free(c->request);
    free(c);
}

void pf_wsc_stats(struct pf_wsc_stats *s)
{
    s->open = atomic_load(&L.open);
    s->total = atomic_load(&L.total);
    s->in = atomic_load(&L.in);
    s->out = atomic_load(&L.out);
}

void pf_wsc_dispatch(struct tag *t, unsigned events)
{
    struct pf_wsc *c = t->c;
    if (c->dead)
        return;
    switch (t->kind) {
    case FD_SOCK:
        if (c->sock_done)
            break;
        if (events & EPOLLOUT) {
            if (q_flush(c->fd[FD_SOCK], &c->out) < 0) {
                pf_wsc_finish_socket(c);
                break;
            }
        }
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            read_sock(c);
        /* Both closes crossed and ours is out: the server ends TCP first. */
        if (!c->sock_done && c->close_sent && c->close_got && c->out.bytes == 0)
            pf_wsc_finish_socket(c);
        break;
    case FD_HIN:
        if ((events & (EPOLLERR | EPOLLHUP)) || q_flush(c->fd[FD_HIN], &c->hin) < 0)
            handler_hangup(c);
        break;
    case FD_HOUT:
        read_hout(c);
        break;
    case FD_HERR:
        read_herr(c);
        break;
    case FD_GW:
        read_gw(c);
        break;
    case FD_N:
        break;
    }
    if (!c->dead)
        pf_wsc_update(c);
}
