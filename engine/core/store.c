#include "core/store.h"
#include "core/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *state_root_override;

const char *sv_state_root(void)
{
    if (state_root_override)
        return state_root_override;
    const char *e = getenv("SERVOS_ROOT");
    return e && *e ? e : "/var/lib/servos";
}

void sv_set_state_root(const char *root)
{
    state_root_override = root;
}

/* WAL with synchronous=NORMAL: a commit is an append to the log, atomic
 * and consistent after a crash at any point; fsync happens at checkpoints. */
static const char schema[] =
    "CREATE TABLE IF NOT EXISTS containers ("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, image TEXT NOT NULL,"
    " command TEXT NOT NULL, spec TEXT NOT NULL, created INTEGER NOT NULL,"
    " finished INTEGER NOT NULL DEFAULT 0, status INTEGER NOT NULL,"
    " pid INTEGER NOT NULL DEFAULT 0, pid_start INTEGER NOT NULL DEFAULT 0,"
    " monitor INTEGER NOT NULL DEFAULT 0, exit_code INTEGER NOT NULL DEFAULT 0,"
    " oom INTEGER NOT NULL DEFAULT 0);"
    "PRAGMA user_version=1;";

/* Version 2: containers may be replicas of a stack. */
static const char schema_v2[] =
    "ALTER TABLE containers ADD COLUMN stack TEXT;"
    "ALTER TABLE containers ADD COLUMN service TEXT;"
    "ALTER TABLE containers ADD COLUMN replica INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE containers ADD COLUMN hash TEXT;"
    "ALTER TABLE containers ADD COLUMN health TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE containers ADD COLUMN restarts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE containers ADD COLUMN started INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX IF NOT EXISTS containers_stack ON containers (stack);"
    "PRAGMA user_version=2;";

/* Version 3: what happened, for `servos serve`'s event stream (core/events.h).
 * A container's changes are recorded by triggers, in the very statement
 * that changes its row: whichever process writes it (a `servos run`, its
 * monitor, a stack's supervisor), nothing can change a container without
 * its event, and no writer needs code of its own for it. AUTOINCREMENT:
 * an id is never used twice, also after the oldest events are pruned (the
 * last trigger keeps about the latest 10,000), so a client resuming from
 * one misses nothing that is still kept. */
#define EVENT_COLUMNS "type, time, container, name, stack, service, replica"
#define EVENT_NOW     "CAST(unixepoch('subsec') * 1000 AS INTEGER)"
#define EVENT_OF(row)                                                                              \
    EVENT_NOW ", " row ".id, " row ".name, " row ".stack, " row ".service, " row ".replica"
static const char schema_v3[] =
    "CREATE TABLE IF NOT EXISTS events ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, type TEXT NOT NULL,"
    " container TEXT, name TEXT, stack TEXT, service TEXT, replica INTEGER,"
    " exit_code INTEGER, oom INTEGER, health TEXT, restarts INTEGER, detail TEXT);"
    "CREATE TRIGGER IF NOT EXISTS events_create AFTER INSERT ON containers BEGIN"
    " INSERT INTO events (" EVENT_COLUMNS ") VALUES ('container.create', " EVENT_OF(
        "NEW") ");"
               " END;"
               "CREATE TRIGGER IF NOT EXISTS events_start AFTER UPDATE OF status ON containers"
               " WHEN NEW.status = 1 AND OLD.status <> 1 BEGIN"
               " INSERT INTO events (" EVENT_COLUMNS ") VALUES ('container.start', " EVENT_OF(
                   "NEW") ");"
                          " END;"
                          /* An OOM kill first, then the death it caused, as Docker tells them. */
                          "CREATE TRIGGER IF NOT EXISTS events_die AFTER UPDATE OF status ON "
                          "containers"
                          " WHEN NEW.status = 2 AND OLD.status <> 2 BEGIN"
                          " INSERT INTO events (" EVENT_COLUMNS
                          ", exit_code, oom) SELECT 'container.oom', " EVENT_OF(
                              "NEW") ", NEW.exit_code, 1 WHERE NEW.oom;"
                                     " INSERT INTO events (" EVENT_COLUMNS
                                     ", exit_code, oom) VALUES ('container.die', " EVENT_OF(
                                         "NEW") ", NEW.exit_code, NEW.oom);"
                                                " END;"
                                                "CREATE TRIGGER IF NOT EXISTS events_health AFTER "
                                                "UPDATE OF health ON containers"
                                                " WHEN NEW.health <> OLD.health AND NEW.health <> "
                                                "'' BEGIN"
                                                " INSERT INTO events (" EVENT_COLUMNS
                                                ", health) VALUES ('container.health', " EVENT_OF(
                                                    "NEW") ", NEW.health);"
                                                           " END;"
                                                           "CREATE TRIGGER IF NOT EXISTS "
                                                           "events_restart AFTER UPDATE OF "
                                                           "restarts ON containers"
                                                           " WHEN NEW.restarts > OLD.restarts BEGIN"
                                                           " INSERT INTO events (" EVENT_COLUMNS
                                                           ", restarts) VALUES "
                                                           "('container.restart', " EVENT_OF(
                                                               "NEW") ", NEW.restarts);"
                                                                      " END;"
                                                                      "CREATE TRIGGER IF NOT "
                                                                      "EXISTS events_remove AFTER "
                                                                      "DELETE ON containers BEGIN"
                                                                      " INSERT INTO events "
                                                                      "(" EVENT_COLUMNS
                                                                      ", exit_code, oom) VALUES "
                                                                      "('container.remove',"
                                                                      " " EVENT_OF(
                                                                          "OLD") ", OLD.exit_code, "
                                                                                 "OLD.oom);"
                                                                                 " END;"
                                                                                 "CREATE TRIGGER "
                                                                                 "IF NOT EXISTS "
                                                                                 "events_prune "
                                                                                 "AFTER INSERT ON "
                                                                                 "events"
                                                                                 " WHEN NEW.id % "
                                                                                 "1000 = 0 BEGIN "
                                                                                 "DELETE FROM "
                                                                                 "events WHERE id "
                                                                                 "<= NEW.id - "
                                                                                 "10000; END;"
                                                                                 "PRAGMA "
                                                                                 "user_version=3;";

/* 32 pages between checkpoints keeps the log small for the next open,
 * which rebuilds its index by reading the whole log (every CLI command).
 * The same number is SQLite's compile-time default (the Makefile's
 * SQLITE_DEFAULT_WAL_AUTOCHECKPOINT); this one restores it after a burst. */
#define CHECKPOINT_PAGES "32"

static int db_error(struct sv_store *s, sv_error_t *err, const char *what)
{
    return sv_error(err, 0, "state store (%s/state.db): %s: %s", sv_state_root(), what,
                    sqlite3_errmsg(s->db));
}

static void finalizep(sqlite3_stmt **st)
{
    sqlite3_finalize(*st);
}
#define cleanup_stmt __attribute__((cleanup(finalizep)))

static int schema_version(sqlite3 *db)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        return sqlite3_column_int(st, 0);
    return 0;
}

/* Bring the schema up to date, in one transaction so two servos
 * processes cannot both migrate. */
static int schema_migrate(sqlite3 *db)
{
    if (schema_version(db) >= 3)
        return 0;
    /* WAL is a property of the file: set once, outside any transaction. */
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    int v = schema_version(db);
    int rc = SQLITE_OK;
    if (v < 1)
        rc = sqlite3_exec(db, schema, NULL, NULL, NULL);
    if (rc == SQLITE_OK && v < 2)
        rc = sqlite3_exec(db, schema_v2, NULL, NULL, NULL);
    if (rc == SQLITE_OK && v < 3)
        rc = sqlite3_exec(db, schema_v3, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* path (when it exists, or create) as root's alone: 0600, whatever the
 * umask, also when an older servos made it 0644. By path, never opening
 * and closing a descriptor of it: closing one drops every POSIX lock this
 * process holds on the file, sqlite's included. */
static int make_private(const char *path, bool create, sv_error_t *err)
{
    if (create) { /* a new file: nobody holds a lock on it yet */
        cleanup_close int fd =
            open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno != EEXIST)
            return sv_error(err, errno, "cannot create %s", path);
    }
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : sv_error(err, errno, "cannot read %s", path);
    if (S_ISREG(st.st_mode) && (st.st_mode & 07077) && chmod(path, st.st_mode & 0700) < 0)
        return sv_error(err, errno, "cannot make %s private", path);
    return 0;
}

/* The database holds every container's spec, environment (passwords)
 * included, and sqlite gives its log and shared-memory files the
 * database's mode: so the database is made 0600 before sqlite sees it.
 * The stacks' state (requests with the caller's environment, logs) is
 * root's alone too; what containers must reach lives elsewhere (the binds directory:
 * core/statedir.h).
 * Roots made by older versions are tightened here, at every open. */
static int tighten_root(const char *root, sv_error_t *err)
{
    static const char *const files[] = {"state.db", "state.db-wal", "state.db-shm",
                                        "state.db-journal"};
    for (size_t i = 0; i < SV_ARRAY_LEN(files); i++) {
        cleanup_free char *p = sv_xasprintf("%s/%s", root, files[i]);
        if (make_private(p, i == 0, err) < 0)
            return -1;
    }
    cleanup_free char *stacks = sv_xasprintf("%s/stacks", root);
    struct stat st;
    if (lstat(stacks, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) != 0700 &&
        chmod(stacks, 0700) < 0)
        return sv_error(err, errno, "cannot make %s private", stacks);
    return 0;
}

int sv_store_open(struct sv_store **out, sv_error_t *err)
{
    const char *root = sv_state_root();
    if (mkdir(root, 0700) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cannot create the state root %s", root);
    if (tighten_root(root, err) < 0)
        return -1;
    cleanup_free char *path = sv_xasprintf("%s/state.db", root);
    cleanup_store struct sv_store *s = sv_xcalloc(1, sizeof(*s));
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK)
        return sv_error(err, 0, "cannot open %s: %s", path,
                        s->db ? sqlite3_errmsg(s->db) : "out of memory");
    /* Concurrent servos processes (a monitor recording an exit while `ls`
     * reads) wait for each other instead of failing with SQLITE_BUSY. */
    sqlite3_busy_timeout(s->db, 5000);
    /* Every short-lived servos command would otherwise checkpoint (and
     * fsync) the log as it closes. Instead checkpoints come every 32 pages
     * (SQLITE_DEFAULT_WAL_AUTOCHECKPOINT, like synchronous=NORMAL and the
     * log's size limit a compile-time default: third_party/sqlite, so no
     * command parses pragmas to set them): the log stays small, so the next
     * open (which rebuilds its index from the log) reads little. */
    sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    if (schema_migrate(s->db) < 0)
        return db_error(s, err, "creating the schema");
    *out = sv_steal(s);
    return 0;
}

void sv_store_burst_begin(struct sv_store *s)
{
    sqlite3_exec(s->db, "PRAGMA wal_autocheckpoint=1000", NULL, NULL, NULL);
}

void sv_store_burst_end(struct sv_store *s)
{
    sqlite3_exec(s->db, "PRAGMA wal_autocheckpoint=" CHECKPOINT_PAGES, NULL, NULL, NULL);
    sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

void sv_store_close(struct sv_store *s)
{
    if (s == NULL)
        return;
    sqlite3_close(s->db);
    free(s);
}

void sv_store_closep(struct sv_store **s)
{
    sv_store_close(*s);
}

static int prepare(struct sv_store *s, const char *sql, sqlite3_stmt **st, sv_error_t *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_error(s, err, "preparing a query");
    return 0;
}

static int step_done(struct sv_store *s, sqlite3_stmt *st, const char *what, sv_error_t *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_CONSTRAINT)
            return sv_error(err, EEXIST, "%s: %s", what, sqlite3_errmsg(s->db));
        return db_error(s, err, what);
    }
    return 0;
}

int sv_store_insert(struct sv_store *s, const struct sv_ctr_row *r, sv_error_t *err)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (prepare(s,
                "INSERT INTO containers (id, name, image, command, spec, created, status,"
                " stack, service, replica, hash)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                &st, err) < 0)
        return -1;
    sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->image, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->command, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, r->spec_json ? r->spec_json : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, r->created);
    sqlite3_bind_int(st, 7, SV_CTR_CREATED);
    sqlite3_bind_text(st, 8, r->stack, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, r->service, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 10, r->replica);
    sqlite3_bind_text(st, 11, r->hash, -1, SQLITE_STATIC);
    return step_done(s, st, "recording the container", err);
}

int sv_store_set_running(struct sv_store *s, const char *id, pid_t pid, uint64_t start,
                         pid_t monitor, sv_error_t *err)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (prepare(s,
                "UPDATE containers SET status=?, pid=?, pid_start=?, monitor=?, started=?,"
                " health=CASE WHEN health='' THEN '' ELSE 'starting' END WHERE id=?",
                &st, err) < 0)
        return -1;
    sqlite3_bind_int(st, 1, SV_CTR_RUNNING);
    sqlite3_bind_int64(st, 2, pid);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)start);
    sqlite3_bind_int64(st, 4, monitor);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
    sqlite3_bind_text(st, 6, id, -1, SQLITE_STATIC);
    return step_done(s, st, "recording the start", err);
}

int sv_store_set_exited(struct sv_store *s, const char *id, int exit_code, bool oom,
                        sv_error_t *err)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (prepare(s,
                "UPDATE containers SET status=?, exit_code=?, oom=?, finished=?, pid=0,"
                " monitor=0 WHERE id=?",
                &st, err) < 0)
        return -1;
    sqlite3_bind_int(st, 1, SV_CTR_EXITED);
    sqlite3_bind_int(st, 2, exit_code);
    sqlite3_bind_int(st, 3, oom);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
    sqlite3_bind_text(st, 5, id, -1, SQLITE_STATIC);
    return step_done(s, st, "recording the exit", err);
}

int sv_store_delete(struct sv_store *s, const char *id, sv_error_t *err)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (prepare(s, "DELETE FROM containers WHERE id=?", &st, err) < 0)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    return step_done(s, st, "removing the container", err);
}

#define ROW_COLUMNS                                                                                \
    "id, name, image, command, spec, created, finished, status, pid, pid_start, monitor,"          \
    " exit_code, oom, stack, service, replica, hash, health, restarts, started"

static char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return sv_xstrdup(t ? (const char *)t : "");
}

static void read_row(sqlite3_stmt *st, struct sv_ctr_row *r)
{
    memset(r, 0, sizeof(*r));
    const unsigned char *id = sqlite3_column_text(st, 0);
    snprintf(r->id, sizeof(r->id), "%s", id ? (const char *)id : "");
    r->name = col_text(st, 1);
    r->image = col_text(st, 2);
    r->command = col_text(st, 3);
    r->spec_json = col_text(st, 4);
    r->created = sqlite3_column_int64(st, 5);
    r->finished = sqlite3_column_int64(st, 6);
    r->status = (enum sv_ctr_status)sqlite3_column_int(st, 7);
    r->pid = (pid_t)sqlite3_column_int64(st, 8);
    r->pid_start = (uint64_t)sqlite3_column_int64(st, 9);
    r->monitor = (pid_t)sqlite3_column_int64(st, 10);
    r->exit_code = sqlite3_column_int(st, 11);
    r->oom = sqlite3_column_int(st, 12) != 0;
    r->stack = sqlite3_column_type(st, 13) == SQLITE_NULL ? NULL : col_text(st, 13);
    r->service = sqlite3_column_type(st, 14) == SQLITE_NULL ? NULL : col_text(st, 14);
    r->replica = sqlite3_column_int(st, 15);
    r->hash = col_text(st, 16);
    r->health = col_text(st, 17);
    r->restarts = sqlite3_column_int(st, 18);
    r->started = sqlite3_column_int64(st, 19);
}

int sv_store_find(struct sv_store *s, const char *ref, struct sv_ctr_row *out, sv_error_t *err)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (*ref == '\0')
        return sv_error(err, EINVAL, "an empty container name or id");
    /* A name wins over an id prefix, as in podman. */
    if (prepare(s,
                "SELECT " ROW_COLUMNS " FROM containers WHERE name=?1"
                " UNION ALL SELECT " ROW_COLUMNS " FROM containers"
                " WHERE substr(id, 1, length(?1))=?1 AND name<>?1 LIMIT 3",
                &st, err) < 0)
        return -1;
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    int n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == 0)
            read_row(st, out);
        else if (strcmp(out->name, ref) != 0) {
            sv_ctr_row_clear(out);
            return sv_error(err, EINVAL,
                            "\"%s\" matches more than one container; give more "
                            "of the id",
                            ref);
        }
        n++;
        if (strcmp(out->name, ref) == 0)
            break;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(s, err, "looking up a container");
    if (n == 0)
        return sv_error(err, ENOENT, "no such container: %s", ref);
    return 0;
}

int sv_store_find_name(struct sv_store *s, const char *name, struct sv_ctr_row *out, bool *found,
                       sv_error_t *err)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (prepare(s, "SELECT " ROW_COLUMNS " FROM containers WHERE name=?", &st, err) < 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(s, err, "looking up a name");
    *found = rc == SQLITE_ROW;
    if (*found)
        read_row(st, out);
    return 0;
}

int sv_store_name_taken(struct sv_store *s, const char *name, bool *taken, sv_error_t *err)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (prepare(s, "SELECT 1 FROM containers WHERE name=?", &st, err) < 0)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(s, err, "looking up a name");
    *taken = rc == SQLITE_ROW;
    return 0;
}

static int list_rows(struct sv_store *s, const char *stack, struct sv_ctr_row **rows, size_t *n,
                     sv_error_t *err)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (prepare(s,
                stack ? "SELECT " ROW_COLUMNS " FROM containers WHERE stack=? ORDER BY service, "
                        "replica, rowid"
                      : "SELECT " ROW_COLUMNS " FROM containers ORDER BY created, rowid",
                &st, err) < 0)
        return -1;
    if (stack)
        sqlite3_bind_text(st, 1, stack, -1, SQLITE_STATIC);
    size_t cap = 0, len = 0;
    struct sv_ctr_row *v = NULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 16;
            v = sv_xrealloc(v, cap * sizeof(*v));
        }
        read_row(st, &v[len++]);
    }
    if (rc != SQLITE_DONE) {
        sv_ctr_rows_free(v, len);
        return db_error(s, err, "listing containers");
    }
    *rows = v;
    *n = len;
    return 0;
}

int sv_store_list(struct sv_store *s, struct sv_ctr_row **rows, size_t *n, sv_error_t *err)
{
    return list_rows(s, NULL, rows, n, err);
}

int sv_store_list_stack(struct sv_store *s, const char *stack, struct sv_ctr_row **rows, size_t *n,
                        sv_error_t *err)
{
    return list_rows(s, stack, rows, n, err);
}

/* Set the column sql names to text, or to num when text is NULL. */
static int set_column(struct sv_store *s, const char *sql, const char *id, const char *text,
                      int num, sv_error_t *err)
{
    cleanup_stmt sqlite3_stmt *st = NULL;
    if (prepare(s, sql, &st, err) < 0)
        return -1;
    if (text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int(st, 1, num);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    return step_done(s, st, "updating a container", err);
}

int sv_store_set_health(struct sv_store *s, const char *id, const char *health, sv_error_t *err)
{
    return set_column(s, "UPDATE containers SET health=? WHERE id=?", id, health, 0, err);
}

int sv_store_set_restarts(struct sv_store *s, const char *id, int restarts, sv_error_t *err)
{
    return set_column(s, "UPDATE containers SET restarts=? WHERE id=?", id, NULL, restarts, err);
}

bool sv_ctr_row_running(const struct sv_ctr_row *r)
{
    return r->status == SV_CTR_RUNNING && sv_pid_alive(r->pid, r->pid_start);
}

void sv_ctr_row_clear(struct sv_ctr_row *r)
{
    free(r->stack);
    free(r->service);
    free(r->hash);
    free(r->health);
    free(r->name);
    free(r->image);
    free(r->command);
    free(r->spec_json);
    memset(r, 0, sizeof(*r));
}

void sv_ctr_rows_free(struct sv_ctr_row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sv_ctr_row_clear(&rows[i]);
    free(rows);
}

uint64_t sv_pid_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    cleanup_fclose FILE *f = fopen(path, "re");
    if (f == NULL)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    /* Field 22; the command (field 2) may hold spaces and parens, so count
     * from the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    p += 2; /* field 3: the state; a zombie has finished running */
    if (*p == 'Z' || *p == 'X')
        return 0;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

bool sv_pid_alive(pid_t pid, uint64_t start)
{
    if (pid <= 0)
        return false;
    uint64_t now = sv_pid_start_time(pid);
    return now != 0 && now == start;
}
