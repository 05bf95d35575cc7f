/* Small helpers every servos file uses, and the rules the code follows.
 *
 * Errors, crun's idiom: a function that can fail returns an int (< 0 on
 * failure) and takes `sv_error_t *err` last; it fails with
 * `return sv_error(err, errno, "cannot open %s", path);`.
 * - A NULL err means best effort: the caller does not want the message
 *   (undoing work on a path that already failed, a hint that may be
 *   missing), and sv_error only returns -1.
 * - The first error wins: sv_error leaves an error that is already set
 *   alone, so the user reads the innermost, most specific cause; callers
 *   add context with sv_error_wrap, never with a second sv_error.
 * - errno is read before anything else runs: straight into sv_error, or
 *   into a local before a call that may change it (a close, removing a
 *   tree, a log line). The cleanup helpers below leave errno as it was.
 * - Code that Lua calls frees before lua_error: lua_error longjmps past
 *   every cleanup attribute, so such a function releases what it holds
 *   (and pushes a copy of the message) before raising.
 *
 * Resources: whatever has a release function lives in a cleanup variable
 * (cleanup_free, cleanup_close, cleanup_fclose, cleanup_closedir,
 * cleanup_json, or a subsystem's own such as cleanup_store), so an early
 * return cannot leak; sv_steal and sv_steal_fd hand one out to the
 * caller. A close() by hand stays only where a descriptor is handed over
 * or must close at a precise moment, with a comment that says why.
 *
 * Memory: the sv_x* allocators print "out of memory" and abort rather than
 * limp on after ENOMEM, so their results are never checked.
 *
 * Files: a function used in one file is static there; a file's public
 * names share one prefix (sv_store_*, sv_cgroup_*), so a grep for the
 * prefix leads to that file. This header is the exception: its names are
 * the plain sv_ vocabulary every file speaks. */
#ifndef SV_UTIL_H
#define SV_UTIL_H

#include <dirent.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sv_error_s {
    int status; /* errno when a syscall failed, else 0 */
    char *msg;
} * sv_error_t;

/* Set *err (unless err is NULL or *err is already set: see above) and
 * return -1. status is an errno value, whose text is appended, or 0. */
int sv_error(sv_error_t *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix an existing error with more context ("loading x: ..."). */
int sv_error_wrap(sv_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sv_error_free(sv_error_t *err);
/* Print "servos: msg" to stderr, free the error, return exit code 1. */
int sv_error_report(sv_error_t *err);

/* Print "out of memory" and abort: what the sv_x* allocators do on failure. */
void *sv_oom(void);
void *sv_xmalloc(size_t n);
void *sv_xcalloc(size_t n, size_t m);
void *sv_xrealloc(void *p, size_t n);
char *sv_xstrdup(const char *s);
char *sv_xstrndup(const char *s, size_t n);
char *sv_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void sv_freep(void *p)
{
    extern void free(void *);
    free(*(void **)p); /* glibc's free keeps errno */
}
void sv_closep(int *fd);
void sv_fclosep(FILE **f);
void sv_closedirp(DIR **d);
/* Free a NULL-terminated array of strings and the strings (NULL is fine). */
void sv_strv_free(char **v);
static inline void sv_strv_freep(char ***v)
{
    sv_strv_free(*v);
}
/* jansson's json_decref is inline: this is its cleanup form. */
static inline void sv_json_decrefp(json_t **j)
{
    json_decref(*j);
}

#define cleanup_free     __attribute__((cleanup(sv_freep)))
#define cleanup_close    __attribute__((cleanup(sv_closep)))
#define cleanup_fclose   __attribute__((cleanup(sv_fclosep)))
#define cleanup_closedir __attribute__((cleanup(sv_closedirp)))
#define cleanup_json     __attribute__((cleanup(sv_json_decrefp)))
#define cleanup_strv     __attribute__((cleanup(sv_strv_freep)))

/* Hand ownership out of a cleanup variable. */
#define sv_steal(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) sv_tmp_ = (p);                                                               \
        (p) = NULL;                                                                                \
        sv_tmp_;                                                                                   \
    })
/* The same for a descriptor in a cleanup_close variable. */
#define sv_steal_fd(fd)                                                                            \
    ({                                                                                             \
        int sv_fd_ = (fd);                                                                         \
        (fd) = -1;                                                                                 \
        sv_fd_;                                                                                    \
    })

#define SV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* FNV-1a of n bytes: a quick, stable 64-bit hash that tells a changed
 * input from the same one (a service's spec, an unpacked tarball's cache
 * key, a cgroup name from the state root). Not collision-resistant: where
 * someone could gain by a collision, use a SHA-256 (core/digest.h). */
uint64_t sv_fnv1a(const void *p, size_t n);

/* The monotonic clock, in milliseconds and in seconds. */
int64_t sv_now_ms(void);
double sv_now_s(void);

/* Write value to an existing file (a cgroup or sysctl knob) in one write. */
int sv_write_file(const char *path, const char *value, sv_error_t *err);
/* Read a whole file into *out (NUL-terminated; its length in *len unless
 * len is NULL), refusing anything larger than max_bytes so a 50 MB
 * "config" is an error, not a memory spike. */
int sv_read_file(const char *path, size_t max_bytes, char **out, size_t *len, sv_error_t *err);
/* What the other end of a pipe writes before it closes it (or dies), up
 * to cap - 1 bytes, into buf, NUL-terminated; returns its length. A read
 * error ends it like the end of the pipe: the caller judges what came. */
size_t sv_read_pipe(int fd, char *buf, size_t cap);
/* A stream that writes path, opened with O_WRONLY | O_CREAT | O_CLOEXEC,
 * flags and mode (what fopen cannot ask for: O_EXCL, a mode of 0600);
 * NULL with errno set, and no descriptor left open, when it cannot. */
FILE *sv_fopen_mode(const char *path, int flags, int mode);

/* Base64 (the standard alphabet; decoding also takes the URL-safe one).
 * Decoding returns NULL on a character outside both. */
char *sv_base64_encode(const void *data, size_t len);
char *sv_base64_decode(const char *s);
/* The same, with the decoded length (the bytes may hold NULs). */
char *sv_base64_decode_n(const char *s, size_t *len);

/* mkdir -p: path and its missing parents, each made with mode. */
int sv_mkdir_p(const char *path, unsigned mode, sv_error_t *err);
/* The same, with exactly mode whatever the umask: for directories that
 * container uids must traverse (0711), or that must stay root's (0700). */
int sv_mkdir_p_mode(const char *path, unsigned mode, sv_error_t *err);

/* Directory part of a path ("." when there is none); newly allocated. */
char *sv_dirname(const char *path);
/* Join dir and rel unless rel is absolute; newly allocated. */
char *sv_join_path(const char *dir, const char *rel);

/* Every signal's disposition to its default and nothing blocked: what a
 * process servos starts in a container begins with (ignored dispositions
 * and the mask survive execve). For a child about to exec: glibc's own
 * two signals are reset too. */
void sv_signals_default(void);

/* Write title over the command line this process shows (ps,
 * /proc/PID/cmdline), blanking the rest of it; blank_env: the environment
 * it shows too (environ is NULL afterwards). For a long-lived process
 * whose arguments or environment should not stay readable. */
void sv_retitle(const char *title, bool blank_env);

/* The closest of n candidates to word, or NULL when none is close. */
const char *sv_suggest(const char *word, const char *const *cands, size_t n);

/* $HOME/rel ($HOME, else the user's home from the password file). */
char *sv_home_file(const char *rel);

#endif
