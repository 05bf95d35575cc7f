/* Small helpers every servos file uses: the error object (crun's idiom: an
 * int return, < 0 on failure, and the error as the last parameter), cleanup
 * attributes so early returns cannot leak, and allocation that dies loudly
 * rather than limping on after ENOMEM. */
#ifndef SV_UTIL_H
#define SV_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sv_error_s {
    int status; /* errno when a syscall failed, else 0 */
    char *msg;
} * sv_error_t;

/* Set *err (if not already set) and return -1, so callers can write
 * `return sv_error(err, errno, "open %s", path);`. */
int sv_error(sv_error_t *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int sv_verror(sv_error_t *err, int status, const char *fmt, va_list ap);
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
    free(*(void **)p);
}
void sv_closep(int *fd);
void sv_fclosep(FILE **f);

#define cleanup_free   __attribute__((cleanup(sv_freep)))
#define cleanup_close  __attribute__((cleanup(sv_closep)))
#define cleanup_fclose __attribute__((cleanup(sv_fclosep)))

/* Hand ownership out of a cleanup variable. */
#define sv_steal(p)                                                                                \
    ({                                                                                             \
        __typeof__(p) sv_tmp_ = (p);                                                               \
        (p) = NULL;                                                                                \
        sv_tmp_;                                                                                   \
    })

#define SV_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Free a NULL-terminated array of strings and the strings (NULL is fine). */
void sv_strv_free(char **v);

/* Read a whole regular file, refusing anything larger than max_bytes so a
 * 50 MB "config" is an error, not a memory spike. Adds a NUL terminator. */
/* FNV-1a of n bytes: a quick, stable hash for names and cache keys (not
 * for anything an adversary chooses). */
uint64_t sv_fnv1a(const void *p, size_t n);

/* The monotonic clock, in milliseconds and in seconds. */
int64_t sv_now_ms(void);
double sv_now_s(void);

/* Write value to an existing file (a cgroup or sysctl knob) in one write. */
int sv_write_file(const char *path, const char *value, sv_error_t *err);
int sv_read_file(const char *path, size_t max_bytes, char **out, size_t *len, sv_error_t *err);

/* Base64 (the standard alphabet; decoding also takes the URL-safe one).
 * Decoding returns NULL on a character outside both. */
char *sv_base64_encode(const void *data, size_t len);
char *sv_base64_decode(const char *s);

/* mkdir -p: path and its missing parents, each made with mode. */
int sv_mkdir_p(const char *path, unsigned mode, sv_error_t *err);
/* The same, with exactly mode whatever the umask: for directories that
 * container uids must traverse (0711), or that must stay root's (0700). */
int sv_mkdir_p_mode(const char *path, unsigned mode, sv_error_t *err);

/* Directory part of a path ("." when there is none); newly allocated. */
char *sv_dirname(const char *path);
/* Join dir and rel unless rel is absolute; newly allocated. */
char *sv_path_join(const char *dir, const char *rel);

/* Every signal's disposition to its default and nothing blocked: what a
 * process servos starts in a container begins with (ignored dispositions
 * and the mask survive execve). For a child about to exec: glibc's own
 * two signals are reset too. */
void sv_signals_default(void);

/* Damerau-free Levenshtein distance, for "did you mean" suggestions. */
int sv_edit_distance(const char *a, const char *b);
/* The closest of n candidates to word, or NULL when none is close. */
const char *sv_suggest(const char *word, const char *const *cands, size_t n);

/* $HOME/rel ($HOME, else the user's home from the password file). */
char *sv_home_file(const char *rel);

#endif
