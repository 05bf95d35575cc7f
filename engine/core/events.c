#include "core/events.h"
#include "core/store_int.h"

#include <string.h>

static void finalizep(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}
#define cleanup_stmt __attribute__((cleanup(finalizep)))

static int events_error(struct sv_store *s, sv_error_t *err, const char *what)
{
    return sv_error(err, 0, "state store (%s/state.db): %s: %s", sv_state_root(), what,
                    sqlite3_errmsg(s->db));
}

static int add(struct sv_store *s, const char *type, const char *stack, const char *detail,
               sv_error_t *err)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO events (time, type, stack, detail)"
                           " VALUES (CAST(unixepoch('subsec') * 1000 AS INTEGER), ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK)
        return events_error(s, err, "recording an event");
    sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, stack, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, detail, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        return events_error(s, err, "recording an event");
    return 0;
}

int sv_events_add(struct sv_store *st, const char *type, const char *stack, const char *detail,
                  sv_error_t *err)
{
    if (st)
        return add(st, type, stack, detail, err);
    cleanup_store struct sv_store *own = NULL;
    if (sv_store_open(&own, err) < 0)
        return -1;
    return add(own, type, stack, detail, err);
}

static int one_number(struct sv_store *s, const char *sql, int64_t *out, sv_error_t *err)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return events_error(s, err, "reading the events");
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return events_error(s, err, "reading the events");
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    return 0;
}

int sv_events_last(struct sv_store *st, int64_t *id, sv_error_t *err)
{
    /* AUTOINCREMENT's own record: the latest id even when every event
     * was pruned. */
    return one_number(st, "SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name='events'",
                      id, err);
}

int sv_events_first(struct sv_store *st, int64_t *id, sv_error_t *err)
{
    return one_number(st, "SELECT coalesce(min(id), 0) FROM events", id, err);
}

static const char *text_or_null(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int int_or(sqlite3_stmt *st, int i, int none)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? none : sqlite3_column_int(st, i);
}

int sv_events_since(struct sv_store *s, int64_t after, int limit,
                    void (*fn)(void *ud, const struct sv_event *e), void *ud, sv_error_t *err)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, time, type, container, name, stack, service, replica,"
                           " exit_code, oom, health, restarts, detail FROM events"
                           " WHERE id > ? ORDER BY id LIMIT ?",
                           -1, &st, NULL) != SQLITE_OK)
        return events_error(s, err, "reading the events");
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int(st, 2, limit);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct sv_event e = {
            .id = sqlite3_column_int64(st, 0),
            .time = sqlite3_column_int64(st, 1),
            .type = text_or_null(st, 2),
            .container = text_or_null(st, 3),
            .name = text_or_null(st, 4),
            .stack = text_or_null(st, 5),
            .service = text_or_null(st, 6),
            .replica = int_or(st, 7, -1),
            .exit_code = int_or(st, 8, -1),
            .oom = int_or(st, 9, -1),
            .health = text_or_null(st, 10),
            .restarts = int_or(st, 11, -1),
            .detail = text_or_null(st, 12),
        };
        if (e.type == NULL)
            e.type = "";
        fn(ud, &e);
        n++;
    }
    if (rc != SQLITE_DONE)
        return events_error(s, err, "reading the events");
    return n;
}
