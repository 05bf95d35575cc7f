/* The WebSocket connections' parts (wsconn.h is their face): a
 * connection and what it does with its socket and handler (wsconn.c), and
 * the thread, epoll loop and hand-offs between threads (wsloop.c). */
#ifndef SV_WSCONN_INT_H
#define SV_WSCONN_INT_H

#include "proserve/wsconn.h"
#include "proserve/wsmsg.h"

#include <pthread.h>
#include <stdatomic.h>

#define MSG_MAX    (1u << 20) /* a message's bytes; past it, 1009 */
#define QUEUE_MAX  (4u << 20) /* bytes waiting for a client or a handler */
#define LINE_MAX_B (3u << 20) /* a handler's line: a MSG_MAX message in base64, and more */
#define CLOSE_WAIT 5.0        /* for a client's close to answer ours */
#define EXIT_WAIT  2.0        /* for a handler to end once its stdin is closed */
#define READ_SIZE  65536

enum fd_kind { FD_SOCK, FD_HIN, FD_HOUT, FD_HERR, FD_GW, FD_N };

struct chunk {
    struct chunk *next;
    size_t len, off;
    unsigned char data[];
};
struct queue {
    struct chunk *head, *tail;
    size_t bytes;
};

struct tag {
    struct pf_wsc *c;
    enum fd_kind kind;
};

struct pf_wsc {
    struct pf_wsc *prev, *next;
    const struct pf_ws_route *route;
    char *request; /* JSON text, for on_connect / on_disconnect runs */
    int fd[FD_N];  /* -1 once closed; fd[FD_SOCK] is libmicrohttpd's */
    unsigned events[FD_N];
    struct tag tags[FD_N];
    void *urh;
    bool sock_done, close_sent, close_got, dead;
    double deadline; /* 0: none */
    unsigned char *in;
    size_t in_len, in_cap;
    unsigned char *msg; /* a fragmented message so far */
    size_t msg_len;
    unsigned msg_op; /* its opcode, 0 when none is under way */
    struct queue out, hin;
    char *hline;
    size_t hline_len, hline_cap;
    char herr[512];
    size_t herr_len;
    char report[128];
    size_t report_len;
    unsigned long n_in, n_out;
    unsigned close_code;
    double opened;
};

struct bcast {
    struct bcast *next;
    char *path; /* NULL: every route */
    size_t len;
    char line[];
};

struct pf_wsc_loop {
    int ep, wake;
    pthread_t thread;
    bool started;
    atomic_bool stopping;
    pthread_mutex_t lock;
    struct pf_wsc *incoming; /* attached, not the loop's yet (next-linked) */
    struct bcast *bq_head, *bq_tail;
    struct pf_wsc *head; /* the loop's */
    struct tag wake_tag;
    void (*close_urh)(void *);
    atomic_ulong open, total, in, out;
};
extern struct pf_wsc_loop L;

/* wsconn.c, for the loop */
/* An event on one of a connection's descriptors. */
void pf_wsc_dispatch(struct tag *t, unsigned events);
/* Watch each of c's descriptors for what it can use now. */
void pf_wsc_update(struct pf_wsc *c);
void pf_wsc_parse(struct pf_wsc *c);
void pf_wsc_close(struct pf_wsc *c, unsigned code, const char *reason);
void pf_wsc_finish_socket(struct pf_wsc *c);
void pf_wsc_broadcast_msg(const char *path, const struct pf_wsmsg *m);
bool pf_wsc_handler_alive(const struct pf_wsc *c);
void pf_wsc_free(struct pf_wsc *c);
/* wsloop.c: an on_connect / on_disconnect run, off the loop's thread; its
 * output goes to the route's clients. */
void pf_wsc_event_run(struct pf_wsc *c, const struct pf_target *t, const char *event);

#endif
