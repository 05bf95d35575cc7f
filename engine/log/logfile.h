/* Container output on disk, capped as it is written.
 *
 * A container's stdout and stderr are a FIFO, LOG.fifo, that it holds open
 * read-write: a write never fails for want of a reader, and what it writes
 * waits in the pipe while nobody reads. One reader copies the output into
 * LOG: the stack's supervisor for its replicas (one per stack, by its
 * lock), the monitor process for `servos run -d`. When LOG would
 * pass max_size, it becomes LOG.1 by a rename (LOG.1 becomes LOG.2, and so
 * on; the oldest beyond max_files goes), so nothing is copied and a reader
 * holding a file reads it to its end. LOG.ts, when kept, says when bytes
 * arrived ("offset unix-ms" lines: the bytes up to offset had arrived by
 * then); it moves with its file.
 *
 * The trade against writing straight to a file (which nothing can cap):
 * when the reader is killed, output waits in the pipe (256 KB), and once
 * that is full the container blocks on its next write until a new reader
 * (a new supervisor re-adopting the stack) drains it. Nothing is lost. */
#ifndef SV_LOGFILE_H
#define SV_LOGFILE_H

#include "core/util.h"

#include <sys/types.h>

#define SV_LOG_MAX_SIZE  (10LL << 20)
#define SV_LOG_MAX_FILES 3

struct sv_log_opts {
    int64_t max_size; /* bytes per file, at least 1 KB */
    int max_files;    /* files kept, the one written included; at least 1 */
};

void sv_log_opts_init(struct sv_log_opts *o);
/* One option as Docker and podman spell it: "max-size=10m", "max-file=3". */
int sv_log_opt_parse(struct sv_log_opts *o, const char *opt, sv_error_t *err);

struct sv_log;

/* Take LOG for writing: its FIFO made (0600) when missing, its directory
 * too (0700). index: keep LOG.ts. */
int sv_log_open(const char *path, const struct sv_log_opts *o, bool index, struct sv_log **out,
                sv_error_t *err);
void sv_log_set_opts(struct sv_log *l, const struct sv_log_opts *o);
/* The descriptor to wait on (readable: output waits). */
int sv_log_fd(const struct sv_log *l);
/* A new descriptor for the container's stdout and stderr. */
int sv_log_writer(const struct sv_log *l, sv_error_t *err);
/* Copy what waits in the FIFO (up to a few MB, so an event loop stays
 * fair; it comes back level-triggered) into the files. */
int sv_log_pump(struct sv_log *l, sv_error_t *err);
/* Note in LOG.ts that what LOG holds had arrived by wall_ms. */
void sv_log_stamp(struct sv_log *l, int64_t wall_ms);
void sv_log_close(struct sv_log *l);
static inline void sv_log_closep(struct sv_log **l)
{
    sv_log_close(*l);
}
/* Closed at scope exit. */
#define cleanup_log __attribute__((cleanup(sv_log_closep)))
/* Remove LOG, its rotated files, their indexes and the FIFO. */
void sv_log_remove(const char *path);

/* Reading a log across its files, oldest first, following rotations. */
struct sv_log_reader {
    char *path;
    int fd; /* the file being read, -1 before the first */
    dev_t dev;
    ino_t ino;
    off_t off;
    struct sv_log_arrival *idx; /* that file's LOG.ts, as far as read */
    size_t n_idx;
    off_t idx_read;
};

void sv_log_reader_init(struct sv_log_reader *r, const char *path);
/* Start tail lines before the end, across files (tail < 0: at the start
 * of the oldest file; 0: at the end). */
void sv_log_reader_seek(struct sv_log_reader *r, long tail);
/* What follows the position, without taking it; 0 when nothing new.
 * *rotated: the file was rotated away, so nothing will be added to it
 * (its last line may be unfinished). At the end of such a file, moves on
 * to the next newer one. */
ssize_t sv_log_reader_peek(struct sv_log_reader *r, char *buf, size_t cap, bool *rotated);
void sv_log_reader_skip(struct sv_log_reader *r, size_t n);
/* When the bytes of the current file up to end had arrived (unix ms), from
 * its LOG.ts (or, past its last stamp, the file's last write); 0 when
 * unknown. */
int64_t sv_log_reader_time(struct sv_log_reader *r, off_t end);
void sv_log_reader_free(struct sv_log_reader *r);

#endif
