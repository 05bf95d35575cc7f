/* GET /v1/events: everything that happens, as server-sent events, from
 * the store's events table (core/events.h): containers created, started,
 * dead (exit code, OOM kill), health changes, restarts, removals, stacks
 * applied and taken down, images pulled and removed. Each event's id is
 * its id in the store, so a client that reconnects with Last-Event-ID (or
 * ?last_event_id=N) gets what it missed while it was away, from the
 * store, then what comes. The store is read when its log changes
 * (inotify on state.db-wal), and every second in case. */
#include "api/api_int.h"
#include "core/json.h"

#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define PAGE 500

struct evsub {
    struct evsub *next;
    struct sv_api_stream *s;
    char *stack; /* only this stack's events (NULL: all) */
};

static struct {
    int64_t last; /* the latest event handed out */
    struct evsub *subs;
    size_t n_subs;
    int ino_fd;
    struct {
        void (*fn)(void *ud, const struct sv_event *e);
        void *ud;
    } inner[4];
    size_t n_inner;
} E = {.ino_fd = -1};

void evfeed_subscribe(void (*fn)(void *ud, const struct sv_event *e), void *ud)
{
    if (E.n_inner < SV_ARRAY_LEN(E.inner))
        E.inner[E.n_inner++] = (typeof(E.inner[0])){fn, ud};
}

static json_t *event_json(const struct sv_event *e)
{
    json_t *o = json_object();
    char when[40];
    time_t t = (time_t)(e->time / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when, sizeof(when), "%s.%03dZ", base, (int)(e->time % 1000));
    json_object_set_new(o, "id", json_integer(e->id));
    json_object_set_new(o, "ts", json_integer(e->time));
    json_object_set_new(o, "time", json_string(when));
    sv_json_set(o, "type", sv_json_string(e->type));
    const char *strs[][2] = {{"stack", e->stack},         {"service", e->service},
                             {"container", e->container}, {"name", e->name},
                             {"health", e->health},       {"detail", e->detail}};
    for (size_t i = 0; i < SV_ARRAY_LEN(strs); i++)
        if (strs[i][1])
            sv_json_set(o, strs[i][0], sv_json_string(strs[i][1]));
    if (e->service && e->replica >= 0)
        json_object_set_new(o, "replica", json_integer(e->replica));
    if (e->exit_code >= 0)
        json_object_set_new(o, "exit_code", json_integer(e->exit_code));
    if (e->oom >= 0)
        json_object_set_new(o, "oom", json_boolean(e->oom));
    if (e->restarts >= 0)
        json_object_set_new(o, "restarts", json_integer(e->restarts));
    return o;
}

static void send_to(struct evsub *sub, const struct sv_event *e, const char *data)
{
    if (sub->stack && (e->stack == NULL || strcmp(sub->stack, e->stack) != 0))
        return;
    char id[24];
    snprintf(id, sizeof(id), "%lld", (long long)e->id);
    sv_api_sse_send(sub->s, id, NULL, data);
}

static void broadcast(void *ud, const struct sv_event *e)
{
    (void)ud;
    E.last = e->id;
    for (size_t i = 0; i < E.n_inner; i++)
        E.inner[i].fn(E.inner[i].ud, e);
    if (E.subs == NULL)
        return;
    json_t *o = event_json(e);
    cleanup_free char *data = sv_json_dumps(o, SV_JSON_COMPACT);
    json_decref(o);
    for (struct evsub *s = E.subs; s; s = s->next)
        send_to(s, e, data);
}

static void poll_store(void *ud)
{
    (void)ud;
    sv_error_t err = NULL;
    int n;
    do
        n = sv_events_since(loop_store(), E.last, PAGE, broadcast, NULL, &err);
    while (n == PAGE);
    if (n < 0) {
        fprintf(stderr, "servos serve: %s\n", err->msg);
        sv_error_free(&err);
    }
}

/* Only the store's own files: the directory holds the daemon's log too,
 * which every request writes to. */
static void on_inotify(void *ud)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    bool store = false;
    while ((n = read(E.ino_fd, buf, sizeof(buf))) > 0)
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            store |= (e->mask & IN_Q_OVERFLOW) || (e->len && strncmp(e->name, "state.db", 8) == 0);
            p += sizeof(*e) + e->len;
        }
    if (store)
        poll_store(ud);
}

int evfeed_init(sv_error_t *err)
{
    if (sv_events_last(loop_store(), &E.last, err) < 0)
        return -1;
    E.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (E.ino_fd < 0 || sv_api_watch(E.ino_fd, on_inotify, NULL) < 0)
        return sv_error(err, errno, "inotify");
    /* The log is where every commit lands first (WAL): a change there is
     * a new row somewhere, maybe an event. Watched by its directory, as
     * the file comes and goes with checkpoints. */
    inotify_add_watch(E.ino_fd, sv_state_root(), IN_MODIFY | IN_CREATE | IN_ONLYDIR);
    loop_every(1000, poll_store, NULL);
    return 0;
}

/* ---- subscribers ------------------------------------------------------------------------- */

static void sub_gone(void *ud)
{
    struct evsub *sub = ud;
    for (struct evsub **p = &E.subs; *p; p = &(*p)->next)
        if (*p == sub) {
            *p = sub->next;
            break;
        }
    E.n_subs--;
    free(sub->stack);
    free(sub);
}

struct catchup {
    struct evsub *sub;
    int64_t upto, seen;
};

static void catch_up_one(void *ud, const struct sv_event *e)
{
    struct catchup *c = ud;
    c->seen = e->id;
    if (e->id > c->upto)
        return;
    json_t *o = event_json(e);
    cleanup_free char *data = sv_json_dumps(o, SV_JSON_COMPACT);
    json_decref(o);
    send_to(c->sub, e, data);
}

/* What the client missed: from after id up to what was handed out; a
 * gap event first when some of it was pruned. */
static void catch_up(struct evsub *sub, int64_t after)
{
    int64_t first = 0;
    sv_error_t err = NULL;
    if (sv_events_first(loop_store(), &first, &err) == 0 && first > after + 1) {
        char data[96];
        snprintf(data, sizeof(data), "{\"missed_from\":%lld,\"missed_to\":%lld}",
                 (long long)after + 1, (long long)first - 1);
        sv_api_sse_send(sub->s, NULL, "gap", data);
    }
    sv_error_free(&err);
    struct catchup c = {sub, E.last, after};
    for (;;) {
        int64_t from = c.seen;
        int n = sv_events_since(loop_store(), from, PAGE, catch_up_one, &c, &err);
        if (n < PAGE || c.seen >= E.last)
            break;
    }
    sv_error_free(&err);
}

void evfeed_serve(struct sv_api_req *rq)
{
    const char *stack = sv_api_query(rq, "stack");
    const char *resume = sv_api_header(rq, "Last-Event-ID");
    if (resume == NULL)
        resume = sv_api_query(rq, "last_event_id");
    const char *backlog = sv_api_query(rq, "backlog");
    int64_t after = E.last;
    char *end;
    if (resume) {
        long long v = strtoll(resume, &end, 10);
        if (*resume == '\0' || *end || v < 0) {
            sv_api_reply_error(rq, 400, "bad_request",
                               "Last-Event-ID is an event's id, not "
                               "\"%s\"",
                               resume);
            return;
        }
        after = v > E.last ? E.last : v;
    } else if (backlog) {
        long long v = strtoll(backlog, &end, 10);
        if (*backlog == '\0' || *end || v < 0 || v > 10000) {
            sv_api_reply_error(rq, 400, "bad_request",
                               "backlog is 0 to 10000 events, not "
                               "\"%s\"",
                               backlog);
            return;
        }
        after = E.last > v ? E.last - v : 0;
    }
    poll_store(NULL); /* the freshest first, so the catch-up ends where live begins */
    struct evsub *sub = sv_xcalloc(1, sizeof(*sub));
    sub->stack = stack ? sv_xstrdup(stack) : NULL;
    sub->s = sv_api_sse_open(rq, sub_gone, sub);
    if (sub->s == NULL) {
        free(sub->stack);
        free(sub);
        return;
    }
    sub->next = E.subs;
    E.subs = sub;
    E.n_subs++;
    if (after < E.last)
        catch_up(sub, after);
}
