#include "log/logfile.h"

#include "graph/units.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Rotated files are numbered 1.. without gaps; more than this many is
 * not a log anyone asked to keep. */
#define MAX_GENERATIONS 1000
/* A pipe that holds a burst while the reader is busy; above the kernel's
 * 64 KB default, well below what one user may pin in pipes. */
#define FIFO_SIZE (256 * 1024)

void sv_log_opts_init(struct sv_log_opts *o)
{
    o->max_size = SV_LOG_MAX_SIZE;
    o->max_files = SV_LOG_MAX_FILES;
}

int sv_log_opt_parse(struct sv_log_opts *o, const char *opt, sv_error_t *err)
{
    const char *eq = strchr(opt, '=');
    size_t klen = eq ? (size_t)(eq - opt) : strlen(opt);
    if (eq && klen == 8 && strncmp(opt, "max-size", 8) == 0) {
        int64_t v;
        if (sv_parse_size(eq + 1, &v, err) < 0)
            return sv_error_wrap(err, "max-size");
        if (v < 1024)
            return sv_error(err, 0, "max-size: at least 1k, got \"%s\"", eq + 1);
        o->max_size = v;
        return 0;
    }
    if (eq && klen == 8 && strncmp(opt, "max-file", 8) == 0) {
        char *end;
        errno = 0;
        long v = strtol(eq + 1, &end, 10);
        if (errno || end == eq + 1 || *end || v < 1 || v > MAX_GENERATIONS)
            return sv_error(err, 0,
                            "max-file: expected a number of files from 1 to %d, got "
                            "\"%s\"",
                            MAX_GENERATIONS, eq + 1);
        o->max_files = (int)v;
        return 0;
    }
    return sv_error(err, 0, "\"%s\": the log options are max-size=SIZE and max-file=N", opt);
}

/* ---- writing --------------------------------------------------------------- */

struct sv_log {
    char *path;
    struct sv_log_opts opts;
    int fifo; /* ours: read-write, non-blocking, locked */
    int fd;   /* LOG, appending */
    off_t size;
    bool index;
    int idx_fd; /* LOG.ts, or -1 */
    off_t idx_size, stamped;
    int peek[2]; /* a pipe to tee the FIFO into: output is consumed once written */
};

static char *gen_path(const char *path, int k)
{
    return k == 0 ? sv_xstrdup(path) : sv_xasprintf("%s.%d", path, k);
}

static int open_files(struct sv_log *l, bool truncate, sv_error_t *err)
{
    int flags = O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (truncate ? O_TRUNC : 0);
    l->fd = open(l->path, flags, 0600);
    if (l->fd < 0)
        return sv_error(err, errno, "cannot open %s", l->path);
    struct stat st;
    l->size = fstat(l->fd, &st) == 0 ? st.st_size : 0;
    l->stamped = l->size;
    l->idx_size = 0;
    if (l->index) {
        cleanup_free char *idx = sv_xasprintf("%s.ts", l->path);
        l->idx_fd = open(idx, flags, 0600);
        if (l->idx_fd >= 0 && fstat(l->idx_fd, &st) == 0)
            l->idx_size = st.st_size;
    }
    return 0;
}

int sv_log_open(const char *path, const struct sv_log_opts *o, bool index, struct sv_log **out,
                sv_error_t *err)
{
    cleanup_free char *dir = sv_dirname(path);
    if (sv_mkdir_p_mode(dir, 0700, err) < 0)
        return -1;
    cleanup_free char *fifo = sv_xasprintf("%s.fifo", path);
    struct stat st;
    if (lstat(fifo, &st) == 0 && !S_ISFIFO(st.st_mode))
        unlink(fifo);
    if (mkfifo(fifo, 0600) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cannot create %s", fifo);
    cleanup_log struct sv_log *l = sv_xcalloc(1, sizeof(*l));
    l->peek[0] = l->peek[1] = -1;
    l->path = sv_xstrdup(path);
    l->opts = *o;
    l->index = index;
    l->fd = l->idx_fd = -1;
    l->fifo = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    if (l->fifo < 0)
        return sv_error(err, errno, "cannot open %s", fifo);
    if (fcntl(l->fifo, F_SETPIPE_SZ, FIFO_SIZE) < 0) {
        /* the default 64 KB will do */
    }
    if (open_files(l, false, err) < 0)
        return -1;
    *out = sv_steal(l);
    return 0;
}

void sv_log_set_opts(struct sv_log *l, const struct sv_log_opts *o)
{
    l->opts = *o;
}

int sv_log_fd(const struct sv_log *l)
{
    return l->fifo;
}

int sv_log_writer(const struct sv_log *l, sv_error_t *err)
{
    cleanup_free char *fifo = sv_xasprintf("%s.fifo", l->path);
    /* Its own open file, so blocking (ours is not): a full pipe holds the
     * container back rather than dropping its output. */
    int fd = open(fifo, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return sv_error(err, errno, "cannot open %s", fifo);
    return fd;
}

void sv_log_stamp(struct sv_log *l, int64_t wall_ms)
{
    if (l->idx_fd < 0 || l->size == l->stamped)
        return;
    /* A trickle of output must not grow an index past its log. */
    if (l->idx_size > l->opts.max_size / 4)
        return;
    char line[64];
    int n = snprintf(line, sizeof(line), "%lld %lld\n", (long long)l->size, (long long)wall_ms);
    if (write(l->idx_fd, line, (size_t)n) == n)
        l->idx_size += n;
    l->stamped = l->size;
}

static int64_t wall_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rename_gen(const char *path, int from, int to, const char *suffix)
{
    cleanup_free char *a0 = gen_path(path, from);
    cleanup_free char *b0 = gen_path(path, to);
    cleanup_free char *a = sv_xasprintf("%s%s", a0, suffix);
    cleanup_free char *b = sv_xasprintf("%s%s", b0, suffix);
    if (to < 0)
        unlink(a);
    else
        rename(a, b);
}

/* LOG is full: LOG.k becomes LOG.k+1, LOG becomes LOG.1, a new LOG. */
static int rotate(struct sv_log *l, sv_error_t *err)
{
    sv_log_stamp(l, wall_ms_now());
    /* Closed now, not with the log: the names move on to LOG.1 below. */
    close(l->fd);
    l->fd = -1;
    if (l->idx_fd >= 0)
        close(l->idx_fd);
    l->idx_fd = -1;
    int keep = l->opts.max_files;
    /* Files beyond the count (it was larger once) go first. */
    for (int k = keep; k <= MAX_GENERATIONS; k++) {
        cleanup_free char *p = gen_path(l->path, k);
        cleanup_free char *ts = sv_xasprintf("%s.ts", p);
        unlink(ts);
        if (unlink(p) < 0 && errno == ENOENT)
            break;
    }
    for (int k = keep - 1; k >= 0; k--) {
        rename_gen(l->path, k, k + 1 < keep ? k + 1 : -1, "");
        rename_gen(l->path, k, k + 1 < keep ? k + 1 : -1, ".ts");
    }
    return open_files(l, true, err);
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Append, rotating so that no file passes max_size: a file ends at a
 * line's end when one fits, and a line longer than a whole file is cut. */
static int append_rotating(struct sv_log *l, const char *buf, size_t n, sv_error_t *err)
{
    while (n > 0) {
        if (l->fd < 0 && open_files(l, false, err) < 0)
            return -1;
        off_t max = l->opts.max_size;
        size_t room = l->size < max ? (size_t)(max - l->size) : 0;
        size_t take = n < room ? n : room;
        if (take < n) {
            const char *nl = take ? memrchr(buf, '\n', take) : NULL;
            if (nl)
                take = (size_t)(nl - buf) + 1;
            else if (l->size > 0)
                take = 0; /* the line starts in the next file */
        }
        if (take > 0) {
            if (write_all(l->fd, buf, take) < 0)
                return sv_error(err, errno, "cannot write %s", l->path);
            l->size += (off_t)take;
            buf += take;
            n -= take;
        }
        if (n > 0 && rotate(l, err) < 0)
            return -1;
    }
    return 0;
}

/* Up to cap bytes of the FIFO, left in it (tee into our peek pipe): a
 * kill -9 between reading output and writing it to the file would lose
 * what was read; this way it stays in the FIFO for the next reader (at
 * worst a line is written twice). Falls back to read when tee cannot. */
static ssize_t peek_fifo(struct sv_log *l, char *buf, size_t cap, bool *peeked)
{
    *peeked = false;
    if (l->peek[0] < 0 && pipe2(l->peek, O_CLOEXEC | O_NONBLOCK) < 0)
        l->peek[0] = l->peek[1] = -1;
    if (l->peek[0] >= 0) {
        ssize_t t = tee(l->fifo, l->peek[1], cap, SPLICE_F_NONBLOCK);
        if (t > 0) {
            ssize_t n = read(l->peek[0], buf, (size_t)t);
            *peeked = n == t;
            return n;
        }
        if (t == 0 || errno == EAGAIN)
            return t == 0 ? 0 : -1;
    }
    return read(l->fifo, buf, cap);
}

int sv_log_pump(struct sv_log *l, sv_error_t *err)
{
    char buf[65536];
    for (int i = 0; i < 64; i++) {
        bool peeked;
        ssize_t n = peek_fifo(l, buf, sizeof(buf), &peeked);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0)
            return sv_error(err, errno, "reading the output for %s", l->path);
        if (n == 0)
            return 0;
        if (append_rotating(l, buf, (size_t)n, err) < 0)
            return -1;
        /* Written: now take it out of the FIFO. */
        for (ssize_t left = peeked ? n : 0, r; left > 0; left -= r)
            if ((r = read(l->fifo, buf, (size_t)left)) <= 0)
                break;
    }
    return 0;
}

void sv_log_close(struct sv_log *l)
{
    if (l == NULL)
        return;
    if (l->fifo >= 0)
        close(l->fifo);
    if (l->fd >= 0)
        close(l->fd);
    if (l->idx_fd >= 0)
        close(l->idx_fd);
    if (l->peek[0] >= 0)
        close(l->peek[0]), close(l->peek[1]);
    free(l->path);
    free(l);
}

void sv_log_remove(const char *path)
{
    cleanup_free char *fifo = sv_xasprintf("%s.fifo", path);
    unlink(fifo);
    for (int k = 0; k <= MAX_GENERATIONS; k++) {
        cleanup_free char *p = gen_path(path, k);
        cleanup_free char *ts = sv_xasprintf("%s.ts", p);
        unlink(ts);
        if (unlink(p) < 0 && errno == ENOENT && k > 0)
            break;
    }
}

/* ---- reading --------------------------------------------------------------- */

/* A line of LOG.ts: the bytes up to off had arrived by ms (unix). */
struct sv_log_arrival {
    off_t off;
    int64_t ms;
};

void sv_log_reader_init(struct sv_log_reader *r, const char *path)
{
    memset(r, 0, sizeof(*r));
    r->path = sv_xstrdup(path);
    r->fd = -1;
}

void sv_log_reader_free(struct sv_log_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    free(r->path);
    free(r->idx);
    memset(r, 0, sizeof(*r));
    r->fd = -1;
}

/* The oldest generation there is (0: LOG alone, or nothing). */
static int oldest_gen(const char *path)
{
    int k = 0;
    for (; k < MAX_GENERATIONS; k++) {
        cleanup_free char *p = gen_path(path, k + 1);
        if (access(p, F_OK) < 0)
            break;
    }
    return k;
}

/* Which generation the file (dev, ino) is now; -1 when gone. */
static int gen_of(const char *path, dev_t dev, ino_t ino)
{
    for (int k = 0; k <= MAX_GENERATIONS; k++) {
        cleanup_free char *p = gen_path(path, k);
        struct stat st;
        if (stat(p, &st) < 0) {
            if (k > 0)
                return -1;
            continue;
        }
        if (st.st_dev == dev && st.st_ino == ino)
            return k;
    }
    return -1;
}

static bool use_file(struct sv_log_reader *r, int k, off_t off)
{
    cleanup_free char *p = gen_path(r->path, k);
    cleanup_close int fd = open(p, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return false;
    if (r->fd >= 0)
        close(r->fd); /* the file read so far: the reader moves on to this one */
    r->fd = fd;
    fd = -1; /* r's now */
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    r->off = off < 0 ? st.st_size : off;
    free(r->idx);
    r->idx = NULL;
    r->n_idx = 0;
    r->idx_read = 0;
    return true;
}

/* Where the newline-counting scan found tail lines' start. */
static bool tail_start(struct sv_log_reader *r, int k, long tail, long *lines, bool newest)
{
    cleanup_free char *p = gen_path(r->path, k);
    cleanup_close int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    off_t end = lseek(fd, 0, SEEK_END), pos = end;
    char buf[65536];
    while (pos > 0) {
        size_t want = pos < (off_t)sizeof(buf) ? (size_t)pos : sizeof(buf);
        if (pread(fd, buf, want, pos - (off_t)want) != (ssize_t)want)
            return false;
        for (size_t i = want; i > 0; i--) {
            off_t at = pos - (off_t)want + (off_t)i - 1;
            /* the newline ending the (tail+1)-th last line */
            if (buf[i - 1] == '\n' && !(newest && at == end - 1) && ++*lines == tail)
                return use_file(r, k, at + 1);
        }
        pos -= (off_t)want;
    }
    return false;
}

void sv_log_reader_seek(struct sv_log_reader *r, long tail)
{
    int oldest = oldest_gen(r->path);
    if (tail == 0) {
        use_file(r, 0, -1);
        return;
    }
    long lines = 0;
    for (int k = 0; tail > 0 && k <= oldest; k++)
        if (tail_start(r, k, tail, &lines, k == 0))
            return;
    for (int k = oldest; k >= 0; k--) /* all of it, from the oldest there is */
        if (use_file(r, k, 0))
            return;
}

static bool is_live(const struct sv_log_reader *r)
{
    struct stat st;
    return stat(r->path, &st) == 0 && st.st_dev == r->dev && st.st_ino == r->ino;
}

ssize_t sv_log_reader_peek(struct sv_log_reader *r, char *buf, size_t cap, bool *rotated)
{
    *rotated = false;
    if (r->fd < 0) {
        sv_log_reader_seek(r, -1);
        if (r->fd < 0)
            return 0;
    }
    for (int hops = 0; hops <= MAX_GENERATIONS; hops++) {
        ssize_t n = pread(r->fd, buf, cap, r->off);
        if (n != 0) {
            *rotated = n > 0 && !is_live(r);
            return n;
        }
        if (is_live(r))
            return 0;
        /* Rotated away: what came before the rename, then the next file. */
        n = pread(r->fd, buf, cap, r->off);
        if (n != 0) {
            *rotated = true;
            return n;
        }
        int k = gen_of(r->path, r->dev, r->ino);
        /* Gone (rotated out while we read): the oldest is next. */
        if (k == 0 || !use_file(r, k > 0 ? k - 1 : oldest_gen(r->path), 0))
            return 0;
    }
    return 0;
}

void sv_log_reader_skip(struct sv_log_reader *r, size_t n)
{
    r->off += (off_t)n;
}

/* Read what was added to the current file's LOG.ts since last time. */
static void load_index(struct sv_log_reader *r)
{
    int k = gen_of(r->path, r->dev, r->ino);
    if (k < 0)
        return;
    cleanup_free char *p = gen_path(r->path, k);
    cleanup_free char *idx = sv_xasprintf("%s.ts", p);
    cleanup_close int fd = open(idx, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[65536];
    ssize_t n;
    while ((n = pread(fd, buf, sizeof(buf) - 1, r->idx_read)) > 0) {
        buf[n] = '\0';
        char *end = memrchr(buf, '\n', (size_t)n);
        if (end == NULL)
            break;
        *end = '\0';
        for (char *line = buf, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            long long off, ms;
            if (sscanf(line, "%lld %lld", &off, &ms) != 2)
                continue;
            r->idx = sv_xrealloc(r->idx, (r->n_idx + 1) * sizeof(*r->idx));
            r->idx[r->n_idx++] = (struct sv_log_arrival){(off_t)off, ms};
        }
        r->idx_read += end - buf + 1;
    }
}

static const struct sv_log_arrival *find_stamp(const struct sv_log_reader *r, off_t end)
{
    size_t lo = 0, hi = r->n_idx;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->idx[mid].off >= end)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo < r->n_idx ? &r->idx[lo] : NULL;
}

int64_t sv_log_reader_time(struct sv_log_reader *r, off_t end)
{
    if (r->fd < 0)
        return 0;
    const struct sv_log_arrival *s = find_stamp(r, end);
    if (s == NULL) {
        load_index(r);
        s = find_stamp(r, end);
    }
    if (s)
        return s->ms;
    /* Not stamped yet (stamps come every 100 ms): the file's last write
     * is when these bytes had arrived at the latest. */
    struct stat st;
    if (fstat(r->fd, &st) < 0 || end > st.st_size)
        return 0;
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}
