/* The service host's WebSocket connections, after the handshake: one
 * thread and an epoll set for all of them (an idle connection costs a
 * small struct and its socket, no thread), RFC 6455 framing (wsframe.h),
 * and per connection its route's handler: a built-in one (echo,
 * broadcast) or a run kept going while the connection lasts, fed one
 * line per message (wsmsg.h). Broadcasts (a handler's, a background
 * task's) reach every client of a route, or all of them. */
#ifndef SV_WSCONN_H
#define SV_WSCONN_H

#include "proserve/proserve_int.h"

/* Past this many connections a handshake is answered 503. */
#define PF_WSC_MAX 16384

struct pf_wsc;

/* Start the thread, when the service has WebSockets or broadcast tasks;
 * close_urh(urh) hands a socket back to libmicrohttpd to close (it must
 * never be closed otherwise). */
int pf_wsc_start(void (*close_urh)(void *urh), sv_error_t *err);
/* Close every connection (1001, going away) and end the thread. */
void pf_wsc_stop(void);

/* A connection for route r (its handler started, when it has one) for
 * the request (path, params, query, headers: JSON text, kept). NULL with
 * *status and *why when it cannot be had (too many; the handler would not
 * start). Safe from any thread. */
struct pf_wsc *pf_wsc_new(const struct pf_ws_route *r, const char *request, unsigned *status,
                          const char **why);
/* The upgraded socket, and what libmicrohttpd read past the request;
 * urh NULL: the socket is ours to close, else libmicrohttpd closes it. */
void pf_wsc_attach(struct pf_wsc *c, int fd, void *urh, const char *extra, size_t n);
/* A connection whose upgrade did not happen. */
void pf_wsc_discard(struct pf_wsc *c);

/* Send a handler's output line (wsmsg.h: a value, not $close) to every
 * client of route path, or of all routes when path is NULL. Any thread. */
void pf_wsc_broadcast(const char *path, const char *line, size_t n);

struct pf_wsc_stats {
    unsigned long open, total, in, out;
};
void pf_wsc_stats(struct pf_wsc_stats *s);

#endif
