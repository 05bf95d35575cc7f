/* Logs as server-sent events, one event per line:
 *   data: {"service":"web","replica":1,"ts":1733000000123,"line":"..."}
 *
 * Each log file followed is read once, however many clients follow it: a
 * feed reads the replica's new lines when inotify says the file changed,
 * formats each as its event once, and keeps the text in a buffer from
 * which every follower's stream copies at its own pace (what all have
 * sent is dropped from the front). A follower first gets its backlog
 * (the last N lines, or those since T), read by a reader of its own up to
 * where the feed began, then the feed's events: nothing twice, nothing
 * missed. A follower that falls FEED_MAX bytes behind is told so and
 * dropped, rather than let one stalled client hold the daemon's memory.
 * A stack's followers also get the replicas that start later (scale up),
 * from their first line. */
#include "api/api_int.h"
#include "core/json.h"
#include "core/statedir.h"
#include "graph/units.h"
#include "log/logfile.h"
#include "stack/rows.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FEED_MAX    (8u << 20)
#define READ_CHUNK  (64u << 10)
#define BACKLOG_MAX (64u << 10) /* formatted per pull, so a long backlog streams */
/* A feed wakes its waiting followers at most this often: a busy log
 * (10,000 lines a second reach us in a thousand writes) is handed out in
 * batches, not a resumed connection per follower per write. */
#define WAKE_MS 10

struct feed {
    struct feed *next;
    char *path, *dir, *base; /* the log, its directory, its file name */
    char *service;           /* NULL for a container of `servos run -d` */
    char *label;             /* "web-1", or the container's name */
    char *prefix;            /* an event's text up to its time */
    int replica;
    int wd;
    struct sv_log_reader rd;
    char *buf; /* formatted events from offset base_off to end_off */
    size_t len, cap;
    uint64_t base_off, end_off;
    size_t n_subs;
    bool dirty;       /* gained events its followers were not woken for */
    int64_t woken_ms; /* when they last were */
};

struct sub {
    struct feed *f;
    uint64_t pos;
    /* The backlog: read by a reader of its own up to where the feed began. */
    struct sv_log_reader rd;
    bool backlog;
    dev_t stop_dev;
    ino_t stop_ino;
    off_t stop_off;
};

struct follower {
    struct follower *next;
    struct sv_api_stream *s;
    struct sub *subs;
    size_t n_subs;
    size_t turn; /* the sub whose event was cut by the last pull, or the next to serve */
    bool sticky; /* that sub's event is unfinished in the stream */
    char *stack; /* a stack's follower takes its new replicas */
    char *service;
    int replica;
    int64_t since_ms;
    bool follow;
    char *pending; /* a formatted backlog, not yet handed out */
    size_t p_len, p_off;
};

static struct {
    int ino_fd;
    struct feed *feeds;
    struct follower *followers;
    size_t n_followers;
} F = {.ino_fd = -1};

size_t logfeed_followers(void)
{
    return F.n_followers;
}

/* ---- events ------------------------------------------------------------------------ */

/* One line's event, appended to out: the feed's prefix (who), when, the
 * line. Written by hand around the line (the project's writer escapes
 * it): ten thousand lines a second are formatted here. */
static void format_line(FILE *out, const struct feed *f, int64_t ms, const char *line, size_t n)
{
    cleanup_free char *text = sv_xstrndup(line, n);
    struct sv_jw *w = sv_jw_new(NULL, SV_JSON_COMPACT);
    sv_jw_string(w, text);
    cleanup_free char *quoted = sv_jw_end(w);
    if (ms > 0)
        fprintf(out, "%s%lld,\"line\":%s}\n\n", f->prefix, (long long)ms, quoted);
    else
        fprintf(out, "%snull,\"line\":%s}\n\n", f->prefix, quoted);
}

/* The complete lines rd has gained, as events into out (up to max bytes
 * of log read); since: lines that arrived before are skipped. stop: read
 * no further than this file position (the backlog's end). exact: each
 * line's own arrival time (else the chunk's). Returns the bytes of log
 * consumed. */
static size_t read_lines(struct sv_log_reader *rd, const struct feed *f, FILE *out, int64_t since,
                         size_t max, const struct sub *stop, bool exact)
{
    static char buf[READ_CHUNK];
    size_t used = 0;
    while (used < max) {
        bool rotated;
        ssize_t n = sv_log_reader_peek(rd, buf, sizeof(buf), &rotated);
        if (n <= 0)
            break;
        if (stop && rd->dev == stop->stop_dev && rd->ino == stop->stop_ino) {
            if (rd->off >= stop->stop_off)
                break;
            if (rd->off + n > stop->stop_off)
                n = (ssize_t)(stop->stop_off - rd->off);
        }
        ssize_t end = n;
        while (end > 0 && buf[end - 1] != '\n')
            end--;
        if (end == 0 && n < (ssize_t)sizeof(buf) && !rotated)
            break; /* an unfinished line: wait for the rest */
        if (end == 0)
            end = n;
        /* Live lines have all just arrived: one time for the chunk. The
         * backlog's are each their own (the stamps of LOG.ts). */
        int64_t chunk_ms = exact ? 0 : sv_log_reader_time(rd, rd->off + end);
        for (ssize_t i = 0, s = 0; i < end; i++)
            if (buf[i] == '\n' || i == end - 1) {
                int64_t ms = exact ? sv_log_reader_time(rd, rd->off + i + 1) : chunk_ms;
                size_t len = (size_t)(i - s + (buf[i] == '\n' ? 0 : 1));
                if (since <= 0 || ms >= since)
                    format_line(out, f, ms, buf + s, len);
                s = i + 1;
            }
        sv_log_reader_skip(rd, (size_t)end);
        used += (size_t)end;
    }
    return used;
}

/* ---- feeds ------------------------------------------------------------------------- */

static struct feed *feed_find(const char *path)
{
    for (struct feed *f = F.feeds; f; f = f->next)
        if (strcmp(f->path, path) == 0)
            return f;
    return NULL;
}

static void wake_followers(struct feed *f);

/* What the log gained, into the feed's buffer; followers woken. */
static void feed_trim(struct feed *f);

static void feed_pump(struct feed *f)
{
    feed_trim(f);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (out == NULL)
        sv_oom();
    read_lines(&f->rd, f, out, 0, SIZE_MAX, NULL, false);
    fclose(out);
    if (len > 0) {
        if (f->len + len > f->cap) {
            f->cap = (f->len + len) * 2;
            f->buf = sv_xrealloc(f->buf, f->cap);
        }
        memcpy(f->buf + f->len, text, len);
        f->len += len;
        f->end_off += len;
        f->dirty = true; /* woken before the loop waits again (wake_due) */
    }
    free(text);
}

static int watch_dir(const char *dir)
{
    return inotify_add_watch(F.ino_fd, dir,
                             IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DONT_FOLLOW |
                                 IN_ONLYDIR);
}

/* The feed of path, made (at the log's end, or its start for a log that
 * began after the follower did) when none is. */
static struct feed *feed_get(const char *path, const char *service, int replica, const char *label,
                             bool from_start)
{
    struct feed *f = feed_find(path);
    if (f)
        return f;
    f = sv_xcalloc(1, sizeof(*f));
    f->path = sv_xstrdup(path);
    f->dir = sv_dirname(path);
    const char *slash = strrchr(path, '/');
    f->base = sv_xstrdup(slash ? slash + 1 : path);
    f->service = service ? sv_xstrdup(service) : NULL;
    f->replica = replica;
    f->label = sv_xstrdup(label);
    struct sv_jw *w = sv_jw_new(NULL, SV_JSON_COMPACT);
    sv_jw_string(w, service ? service : label);
    cleanup_free char *who = sv_jw_end(w);
    f->prefix = service ? sv_xasprintf("data: {\"service\":%s,\"replica\":%d,\"ts\":", who, replica)
                        : sv_xasprintf("data: {\"container\":%s,\"ts\":", who);
    sv_log_reader_init(&f->rd, path);
    /* No file yet: the first read starts at its beginning either way. */
    sv_log_reader_seek(&f->rd, from_start ? -1 : 0);
    f->wd = watch_dir(f->dir);
    f->next = F.feeds;
    F.feeds = f;
    return f;
}

static void feed_put(struct feed *f)
{
    if (--f->n_subs > 0)
        return;
    for (struct feed **p = &F.feeds; *p; p = &(*p)->next)
        if (*p == f) {
            *p = f->next;
            break;
        }
    bool shared = false; /* inotify gives one wd per directory */
    for (struct feed *o = F.feeds; o; o = o->next)
        shared |= o->wd == f->wd;
    if (!shared && f->wd >= 0)
        inotify_rm_watch(F.ino_fd, f->wd);
    sv_log_reader_free(&f->rd);
    free(f->path);
    free(f->dir);
    free(f->base);
    free(f->service);
    free(f->label);
    free(f->prefix);
    free(f->buf);
    free(f);
}

/* Drop from the front what every follower has sent. */
static void feed_trim(struct feed *f)
{
    uint64_t low = f->end_off;
    for (struct follower *w = F.followers; w; w = w->next)
        for (size_t i = 0; i < w->n_subs; i++)
            if (w->subs[i].f == f && w->subs[i].pos < low)
                low = w->subs[i].pos;
    size_t drop = (size_t)(low - f->base_off);
    if (drop == 0 || (drop < (64u << 10) && drop < f->len))
        return;
    memmove(f->buf, f->buf + drop, f->len - drop);
    f->len -= drop;
    f->base_off += drop;
}

static void on_inotify(void *ud)
{
    (void)ud;
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    bool overflow = false;
    while ((n = read(F.ino_fd, buf, sizeof(buf))) > 0)
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            overflow |= (e->mask & IN_Q_OVERFLOW) != 0;
            for (struct feed *f = F.feeds; f; f = f->next)
                if (f->wd == e->wd && e->len && strncmp(e->name, f->base, strlen(f->base)) == 0)
                    feed_pump(f);
            p += sizeof(*e) + e->len;
        }
    if (overflow)
        for (struct feed *f = F.feeds; f; f = f->next)
            feed_pump(f);
}

/* Every second: whatever inotify could not say (a directory made after
 * the watch, a log on a file system without events). */
static void pump_all(void *ud)
{
    (void)ud;
    for (struct feed *f = F.feeds; f; f = f->next) {
        if (f->wd < 0)
            f->wd = watch_dir(f->dir);
        feed_pump(f);
    }
}

/* Before the loop waits: followers of feeds that gained events, at most
 * every WAKE_MS; returns how long the loop may wait. */
static int wake_due(void)
{
    int64_t now = sv_now_ms();
    int wait = -1;
    for (struct feed *f = F.feeds; f; f = f->next) {
        if (!f->dirty)
            continue;
        int64_t due = f->woken_ms + WAKE_MS;
        if (now >= due) {
            f->dirty = false;
            f->woken_ms = now;
            wake_followers(f);
        } else if (wait < 0 || due - now < wait) {
            wait = (int)(due - now);
        }
    }
    return wait;
}

int logfeed_init(sv_error_t *err)
{
    F.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (F.ino_fd < 0 || sv_api_watch(F.ino_fd, on_inotify, NULL) < 0)
        return sv_error(err, errno, "inotify");
    loop_every(1000, pump_all, NULL);
    loop_before_wait(wake_due);
    return 0;
}

/* ---- followers --------------------------------------------------------------------- */

static void wake_followers(struct feed *f)
{
    for (struct follower *w = F.followers; w; w = w->next)
        for (size_t i = 0; i < w->n_subs; i++)
            if (w->subs[i].f == f) {
                /* Too far behind: told, and dropped. */
                if (f->end_off - w->subs[i].pos > FEED_MAX && !w->sticky) {
                    w->subs[i].pos = f->end_off;
                    static const char slow[] =
                        "event: error\ndata: {\"code\":\"too_slow\",\"message\":\"the client "
                        "reads more slowly than the logs come\"}\n\n";
                    stream_write(w->s, slow, sizeof(slow) - 1);
                    sv_api_sse_end(w->s);
                }
                stream_wake(w->s);
                break;
            }
}

/* Subscribe w to the log at path: its backlog (tail lines, or since)
 * from its own reader, then the feed. */
static void add_sub(struct follower *w, const char *path, const char *service, int replica,
                    const char *label, long tail, bool fresh)
{
    bool existed = feed_find(path) != NULL;
    struct feed *f = feed_get(path, service, replica, label, fresh);
    feed_pump(f); /* up to date: the backlog ends where the feed is */
    w->subs = sv_xrealloc(w->subs, (w->n_subs + 1) * sizeof(*w->subs));
    struct sub *s = &w->subs[w->n_subs++];
    memset(s, 0, sizeof(*s));
    s->f = f;
    f->n_subs++;
    s->pos = f->end_off;
    if (fresh && !existed) { /* a new log read from its start by the feed itself */
        s->pos = f->base_off;
        return;
    }
    if (tail == 0 || f->rd.fd < 0)
        return;
    sv_log_reader_init(&s->rd, path);
    sv_log_reader_seek(&s->rd, tail);
    s->backlog = true;
    s->stop_dev = f->rd.dev;
    s->stop_ino = f->rd.ino;
    s->stop_off = f->rd.off;
}

/* The next piece of backlog into w->pending; false when none is left. */
static bool backlog_fill(struct follower *w)
{
    for (size_t i = 0; i < w->n_subs; i++) {
        struct sub *s = &w->subs[i];
        if (!s->backlog)
            continue;
        free(w->pending);
        w->pending = NULL;
        w->p_len = w->p_off = 0;
        FILE *out = open_memstream(&w->pending, &w->p_len);
        if (out == NULL)
            sv_oom();
        size_t used =
            read_lines(&s->rd, s->f, out, w->since_ms, BACKLOG_MAX, w->follow ? s : NULL, true);
        fclose(out);
        if (used == 0) { /* this one is done */
            s->backlog = false;
            sv_log_reader_free(&s->rd);
        }
        if (w->p_len > 0 || used > 0)
            return true;
    }
    return false;
}

/* The end of the last whole event in p[0..n), 0 when none ends there. */
static size_t whole_events(const char *p, size_t n)
{
    for (size_t i = n; i >= 2; i--)
        if (p[i - 1] == '\n' && p[i - 2] == '\n')
            return i;
    return 0;
}

static size_t copy_live(struct follower *w, char *buf, size_t max)
{
    size_t n = 0;
    for (size_t k = 0; k < w->n_subs && n < max; k++) {
        size_t idx = w->sticky ? w->turn : (w->turn + k) % w->n_subs;
        struct sub *s = &w->subs[idx];
        struct feed *f = s->f;
        size_t avail = (size_t)(f->end_off - s->pos), room = max - n;
        if (avail == 0) {
            if (w->sticky)
                break;
            continue;
        }
        const char *start = f->buf + (s->pos - f->base_off);
        size_t take = avail < room ? avail : room;
        if (w->sticky) { /* the rest of the event that was cut */
            const char *end = memmem(start, avail, "\n\n", 2);
            size_t rest = end ? (size_t)(end - start) + 2 : avail;
            take = rest < room ? rest : room;
            w->sticky = take < rest;
        } else if (take < avail) {
            size_t whole = whole_events(start, take);
            if (whole == 0 && n > 0)
                break; /* next time, from the start of a pull */
            if (whole == 0)
                w->sticky = true, w->turn = idx; /* one event larger than the buffer */
            else
                take = whole;
        }
        memcpy(buf + n, start, take);
        s->pos += take;
        n += take;
        if (w->sticky)
            return n;
    }
    if (w->n_subs)
        w->turn = (w->turn + 1) % w->n_subs;
    return n;
}

static size_t follower_pull(void *ud, char *buf, size_t max)
{
    struct follower *w = ud;
    size_t n = 0;
    bool backlog_left = true;
    while (n < max) {
        if (w->p_off < w->p_len) {
            size_t k = w->p_len - w->p_off < max - n ? w->p_len - w->p_off : max - n;
            memcpy(buf + n, w->pending + w->p_off, k);
            w->p_off += k;
            n += k;
            continue;
        }
        if (!(backlog_left = backlog_fill(w)))
            break;
    }
    if (backlog_left)
        return n;
    if (!w->follow) {
        if (n == 0)
            sv_api_sse_end(w->s);
        return n;
    }
    return n + copy_live(w, buf + n, max - n);
}

static void follower_gone(void *ud)
{
    struct follower *w = ud;
    for (struct follower **p = &F.followers; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    F.n_followers--;
    for (size_t i = 0; i < w->n_subs; i++) {
        if (w->subs[i].backlog)
            sv_log_reader_free(&w->subs[i].rd);
        feed_put(w->subs[i].f);
    }
    free(w->subs);
    free(w->stack);
    free(w->service);
    free(w->pending);
    free(w);
}

/* A replica of a followed stack started: new ones are followed too. */
static void on_event(void *ud, const struct sv_event *e)
{
    (void)ud;
    if (strcmp(e->type, "container.start") != 0 || e->stack == NULL || e->service == NULL)
        return;
    for (struct follower *w = F.followers; w; w = w->next) {
        if (!w->follow || w->stack == NULL || strcmp(w->stack, e->stack) != 0 ||
            (w->service && strcmp(w->service, e->service) != 0) ||
            (w->replica && w->replica != e->replica))
            continue;
        cleanup_free char *path = sv_statedir_replica_log(e->stack, e->service, e->replica);
        bool have = false;
        for (size_t i = 0; i < w->n_subs && !have; i++)
            have = strcmp(w->subs[i].f->path, path) == 0;
        if (have)
            continue;
        cleanup_free char *label = sv_xasprintf("%s-%d", e->service, e->replica);
        add_sub(w, path, e->service, e->replica, label, -1, true);
        stream_wake(w->s);
    }
}

/* ---- the request ------------------------------------------------------------------- */

/* since: unix seconds, RFC 3339 (UTC, "Z"), or a duration ago ("10m"). */
static int parse_since(const char *s, int64_t *ms, sv_error_t *err)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s && *end == '\0') {
        *ms = v > 100000000000LL ? v : v * 1000;
        return 0;
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest) {
        int frac = 0;
        if (*rest == '.') {
            int digits = 0;
            for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
                if (digits < 3)
                    frac = frac * 10 + (*rest - '0');
            for (; digits < 3; digits++)
                frac *= 10;
        }
        if (*rest == 'Z' && rest[1] == '\0') {
            *ms = (int64_t)timegm(&tm) * 1000 + frac;
            return 0;
        }
    }
    int64_t ago;
    if (sv_parse_duration(s, &ago, NULL) == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - ago;
        return 0;
    }
    return sv_error(err, 0,
                    "since is unix seconds, a UTC time (2025-01-02T15:04:05Z) or a duration "
                    "ago (10m), not \"%s\"",
                    s);
}

static int parse_query(struct sv_api_req *rq, long *tail, int64_t *since, sv_error_t *err)
{
    const char *t = sv_api_query(rq, "tail"), *s = sv_api_query(rq, "since");
    *tail = -1;
    *since = 0;
    if (t && strcmp(t, "all") != 0) {
        char *end;
        long v = strtol(t, &end, 10);
        if (*t == '\0' || *end || v < 0)
            return sv_error(err, 0, "tail is a number of lines or \"all\", not \"%s\"", t);
        *tail = v;
    }
    return s ? parse_since(s, since, err) : 0;
}

/* The logs of sel: every replica of a stack (or service, or one), or a
 * container's. 0 when none, with the reason said. */
static size_t subscribe(struct follower *w, const struct logsel *sel, long tail,
                        struct sv_api_req *rq)
{
    if (sel->container_id) {
        cleanup_free char *path =
            sv_xasprintf("%s/containers/%s/log", sv_state_root(), sel->container_id);
        struct stat st;
        if (stat(path, &st) < 0 && errno == ENOENT) {
            cleanup_free char *fifo = sv_xasprintf("%s.fifo", path);
            if (stat(fifo, &st) < 0) {
                sv_api_reply_error(rq, 404, "no_log",
                                   "%s has no log: it ran attached, so its output went to the "
                                   "terminal that ran it",
                                   sel->container_name);
                return 0;
            }
        }
        add_sub(w, path, NULL, 0, sel->container_name, tail, false);
        return 1;
    }
    cleanup_rows struct sv_rows rows = {0};
    sv_error_t err = NULL;
    if (sv_rows_list(loop_store(), sel->stack, &rows, &err) < 0) {
        sv_api_reply_error(rq, 500, "failed", "%s", err->msg);
        sv_error_free(&err);
        return 0;
    }
    for (size_t i = 0; i < rows.n; i++) {
        const struct sv_ctr_row *r = &rows.v[i];
        if ((sel->service && strcmp(sel->service, r->service) != 0) ||
            (sel->replica && sel->replica != r->replica))
            continue;
        cleanup_free char *path = sv_statedir_replica_log(sel->stack, r->service, r->replica);
        cleanup_free char *label = sv_xasprintf("%s-%d", r->service, r->replica);
        add_sub(w, path, r->service, r->replica, label, tail, false);
    }
    if (w->n_subs == 0 && rows.n == 0)
        sv_api_reply_error(rq, 404, "not_found", "stack %s is not up", sel->stack);
    else if (w->n_subs == 0 && sel->replica)
        sv_api_reply_error(rq, 404, "not_found", "stack %s has no replica %s-%d", sel->stack,
                           sel->service ? sel->service : "?", sel->replica);
    else if (w->n_subs == 0)
        sv_api_reply_error(rq, 404, "not_found", "stack %s has no service \"%s\"", sel->stack,
                           sel->service ? sel->service : "");
    return w->n_subs;
}

void logfeed_serve(struct sv_api_req *rq, const struct logsel *sel)
{
    static bool hooked;
    if (!hooked) {
        evfeed_subscribe(on_event, NULL);
        hooked = true;
    }
    long tail;
    struct follower *w = sv_xcalloc(1, sizeof(*w));
    sv_error_t err = NULL;
    if (parse_query(rq, &tail, &w->since_ms, &err) < 0) {
        sv_api_reply_error(rq, 400, "bad_request", "%s", err->msg);
        sv_error_free(&err);
        free(w);
        return;
    }
    w->follow = sv_api_query_flag(rq, "follow");
    w->stack = sel->stack ? sv_xstrdup(sel->stack) : NULL;
    w->service = sel->service ? sv_xstrdup(sel->service) : NULL;
    w->replica = sel->replica;
    w->next = F.followers;
    F.followers = w;
    F.n_followers++;
    if (subscribe(w, sel, tail, rq) == 0) {
        follower_gone(w);
        return;
    }
    w->s = stream_open_pull(rq, follower_pull, follower_gone, w);
    if (w->s == NULL)
        follower_gone(w);
}
