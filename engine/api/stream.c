/* Server-sent events. A stream is an answer of unknown length whose bytes
 * come from a buffer (events written into it) and, for a log follower,
 * from a pull function that copies straight from the shared log feeds
 * (logfeed.c) into the server's buffer. When neither has anything, the
 * connection is suspended from inside the server's read (the one way
 * libmicrohttpd allows that does not spin), and resumed by a write or a
 * wake. A client that reads slower than its events come is dropped once
 * STREAM_MAX bytes wait for it, rather than held in memory. */
#include "api/api_int.h"

#include <microhttpd.h>
#include <string.h>

#define STREAM_MAX (16u << 20)

struct sv_api_stream {
    struct sv_api_stream *prev, *next;
    struct sv_api_req *rq; /* held until the server lets go of the answer */
    char *buf;
    size_t off, len, cap;
    size_t (*pull)(void *ud, char *buf, size_t max);
    void (*on_close)(void *ud);
    void *ud;
    bool ended, closed;
};

static struct {
    struct sv_api_stream *head;
    size_t n;
} streams;

size_t stream_count(void)
{
    return streams.n;
}

size_t stream_pending(const struct sv_api_stream *s)
{
    return s->len - s->off;
}

static void call_on_close(struct sv_api_stream *s)
{
    if (s->closed)
        return;
    s->closed = true;
    if (s->on_close)
        s->on_close(s->ud);
}

static ssize_t reader(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    struct sv_api_stream *s = cls;
    size_t n = 0;
    if (s->len > s->off) {
        n = s->len - s->off < max ? s->len - s->off : max;
        memcpy(out, s->buf + s->off, n);
        s->off += n;
        if (s->off == s->len)
            s->off = s->len = 0;
    }
    if (n < max && s->pull && !s->ended)
        n += s->pull(s->ud, out + n, max - n);
    if (n > 0)
        return (ssize_t)n;
    if (s->ended)
        return MHD_CONTENT_READER_END_OF_STREAM;
    httpd_suspend(s->rq); /* until a write or a wake */
    return 0;
}

/* The server is done with the answer: the client went, or the end was
 * sent. */
static void free_stream(void *cls)
{
    struct sv_api_stream *s = cls;
    call_on_close(s);
    if (s->prev)
        s->prev->next = s->next;
    else
        streams.head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    streams.n--;
    s->rq->stream = NULL;
    httpd_release(s->rq);
    free(s->buf);
    free(s);
}

static struct sv_api_stream *open_stream(struct sv_api_req *rq, void (*on_close)(void *ud),
                                         void *ud)
{
    if (rq->gone)
        return NULL;
    struct sv_api_stream *s = sv_xcalloc(1, sizeof(*s));
    s->rq = rq;
    sv_api_hold(rq);
    s->on_close = on_close;
    s->ud = ud;
    s->next = streams.head;
    if (streams.head)
        streams.head->prev = s;
    streams.head = s;
    streams.n++;
    rq->stream = s;
    struct MHD_Response *r = httpd_response_stream(reader, s, free_stream);
    httpd_add_header(r, "Content-Type", "text/event-stream");
    httpd_add_header(r, "Cache-Control", "no-store");
    httpd_add_header(r, "X-Accel-Buffering", "no"); /* a proxy in front: do not hold events */
    httpd_answer(rq, 200, r);
    /* A first comment, so that the client sees the stream open at once
     * (curl and browsers show nothing until bytes come). */
    stream_write(s, ": servos\n\n", 10);
    return s;
}

struct sv_api_stream *sv_api_sse_open(struct sv_api_req *rq, void (*on_close)(void *ud), void *ud)
{
    return open_stream(rq, on_close, ud);
}

struct sv_api_stream *stream_open_pull(struct sv_api_req *rq,
                                       size_t (*pull)(void *ud, char *buf, size_t max),
                                       void (*on_close)(void *ud), void *ud)
{
    struct sv_api_stream *s = open_stream(rq, on_close, ud);
    if (s)
        s->pull = pull;
    return s;
}

void stream_wake(struct sv_api_stream *s)
{
    httpd_resume(s->rq);
}

void stream_write(struct sv_api_stream *s, const char *text, size_t len)
{
    if (s->ended)
        return;
    if (s->len - s->off + len > STREAM_MAX) {
        /* What waits is dropped: the client is told why, then the end. */
        s->off = s->len = 0;
        static const char slow[] = "event: error\ndata: {\"code\":\"too_slow\",\"message\":"
                                   "\"the client reads more slowly than events come\"}\n\n";
        stream_write(s, slow, sizeof(slow) - 1);
        sv_api_sse_end(s);
        return;
    }
    if (s->off > 0 && s->off == s->len)
        s->off = s->len = 0;
    if (s->len + len > s->cap) {
        if (s->off > 0) { /* room at the front first */
            memmove(s->buf, s->buf + s->off, s->len - s->off);
            s->len -= s->off;
            s->off = 0;
        }
        while (s->len + len > s->cap)
            s->cap = s->cap ? s->cap * 2 : 4096;
        s->buf = sv_xrealloc(s->buf, s->cap);
    }
    memcpy(s->buf + s->len, text, len);
    s->len += len;
    stream_wake(s);
}

void sv_api_sse_send(struct sv_api_stream *s, const char *id, const char *event, const char *data)
{
    if (s == NULL || s->ended)
        return;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        sv_oom();
    if (id)
        fprintf(f, "id: %s\n", id);
    if (event)
        fprintf(f, "event: %s\n", event);
    /* Every line of data its own field; a CR ends a line too in SSE. */
    for (const char *p = data ? data : "";;) {
        size_t n = strcspn(p, "\r\n");
        fprintf(f, "data: %.*s\n", (int)n, p);
        p += n;
        if (*p == '\0')
            break;
        p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
        if (*p == '\0')
            break;
    }
    fputc('\n', f);
    fclose(f);
    stream_write(s, text, len);
    free(text);
}

void sv_api_sse_end(struct sv_api_stream *s)
{
    if (s == NULL || s->ended)
        return;
    s->ended = true;
    stream_wake(s);
}

void stream_heartbeat_all(void *ud)
{
    (void)ud;
    for (struct sv_api_stream *s = streams.head; s; s = s->next)
        if (!s->ended && stream_pending(s) == 0)
            stream_write(s, ":\n\n", 3);
}

void stream_end_all(void)
{
    for (struct sv_api_stream *s = streams.head; s; s = s->next) {
        call_on_close(s); /* its source lets go now: the daemon is stopping */
        sv_api_sse_end(s);
    }
}
