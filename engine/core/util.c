#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* vasprintf, or "out of memory" and abort, as every sv_x* allocator. */
static char *xvasprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        sv_oom();
    return s;
}

static int error_vset(sv_error_t *err, int status, const char *fmt, va_list ap)
{
    if (err == NULL || *err != NULL)
        return -1; /* keep the first, most specific error */
    sv_error_t e = sv_xcalloc(1, sizeof(*e));
    char *msg = xvasprintf(fmt, ap);
    if (status != 0) {
        e->msg = sv_xasprintf("%s: %s", msg, strerror(status));
        free(msg);
    } else {
        e->msg = msg;
    }
    e->status = status;
    *err = e;
    return -1;
}

int sv_error(sv_error_t *err, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_vset(err, status, fmt, ap);
    va_end(ap);
    return -1;
}

int sv_error_wrap(sv_error_t *err, const char *fmt, ...)
{
    if (err == NULL || *err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *prefix = xvasprintf(fmt, ap);
    va_end(ap);
    char *msg = sv_xasprintf("%s: %s", prefix, (*err)->msg);
    free(prefix);
    free((*err)->msg);
    (*err)->msg = msg;
    return -1;
}

void sv_error_free(sv_error_t *err)
{
    if (err == NULL || *err == NULL)
        return;
    free((*err)->msg);
    free(*err);
    *err = NULL;
}

int sv_error_report(sv_error_t *err)
{
    fprintf(stderr, "servos: %s\n", (err && *err) ? (*err)->msg : "unknown error");
    sv_error_free(err);
    return 1;
}

void *sv_oom(void)
{
    fputs("servos: out of memory\n", stderr);
    abort();
}

void *sv_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    return p ? p : sv_oom();
}

void *sv_xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    return p ? p : sv_oom();
}

void *sv_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    return p ? p : sv_oom();
}

char *sv_xstrdup(const char *s)
{
    char *p = strdup(s);
    return p ? p : sv_oom();
}

char *sv_xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    return p ? p : sv_oom();
}

char *sv_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

/* The cleanup helpers run as a function returns, after it has set errno
 * for its caller: they keep it. */
void sv_closep(int *fd)
{
    if (*fd >= 0) {
        int e = errno;
        close(*fd);
        errno = e;
    }
}

void sv_fclosep(FILE **f)
{
    if (*f) {
        int e = errno;
        fclose(*f);
        errno = e;
    }
}

void sv_closedirp(DIR **d)
{
    if (*d) {
        int e = errno;
        closedir(*d);
        errno = e;
    }
}

uint64_t sv_fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int64_t sv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double sv_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int sv_write_file(const char *path, const char *value, sv_error_t *err)
{
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return sv_error(err, errno, "cannot open %s", path);
    size_t n = strlen(value);
    if (write(fd, value, n) != (ssize_t)n)
        return sv_error(err, errno, "cannot write \"%s\" to %s", value, path);
    return 0;
}

size_t sv_read_pipe(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    ssize_t n;
    while (len < cap - 1 && (n = read(fd, buf + len, cap - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

FILE *sv_fopen_mode(const char *path, int flags, int mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, mode);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        int e = errno;
        close(fd); /* fdopen took no ownership */
        errno = e;
    }
    return f;
}

int sv_read_file(const char *path, size_t max_bytes, char **out, size_t *len, sv_error_t *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sv_error(err, errno, "%s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sv_error(err, errno, "stat %s", path);
    if (S_ISDIR(st.st_mode))
        return sv_error(err, 0, "%s: is a directory", path);
    if (S_ISREG(st.st_mode) && (size_t)st.st_size > max_bytes)
        return sv_error(err, 0, "%s: file too large (%.1f MB, the limit is %.1f MB)", path,
                        st.st_size / 1048576.0, max_bytes / 1048576.0);
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, n = 0;
    cleanup_free char *buf = sv_xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > max_bytes)
                return sv_error(err, 0, "%s: file too large (the limit is %.1f MB)", path,
                                max_bytes / 1048576.0);
            cap *= 2;
            buf = sv_xrealloc(buf, cap);
        }
        ssize_t r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return sv_error(err, errno, "read %s", path);
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max_bytes)
        return sv_error(err, 0, "%s: file too large (the limit is %.1f MB)", path,
                        max_bytes / 1048576.0);
    buf[n] = '\0';
    *out = sv_steal(buf);
    if (len)
        *len = n;
    return 0;
}

void sv_retitle(const char *title, bool blank_env)
{
    /* Where the areas are: fields 48 to 51 of /proc/self/stat (argv's
     * pointers would do for the arguments, but only main has them). */
    char buf[2048];
    cleanup_close int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'), *save = NULL; /* the name may hold spaces */
    if (p == NULL)
        return;
    unsigned long f[4] = {0}; /* arg_start, arg_end, env_start, env_end */
    int field = 3;
    for (char *tok = strtok_r(p + 1, " ", &save); tok && field <= 51;
         tok = strtok_r(NULL, " ", &save), field++)
        if (field >= 48)
            f[field - 48] = strtoul(tok, NULL, 10);
    if (blank_env && f[2] && f[3] > f[2]) {
        extern char **environ;
        environ = NULL; /* its strings are gone */
        memset((void *)f[2], 0, f[3] - f[2]);
    }
    if (f[0] && f[1] > f[0]) {
        size_t len = f[1] - f[0], t = strlen(title);
        memset((void *)f[0], 0, len);
        memcpy((void *)f[0], title, t < len ? t : len - 1);
    }
}

char *sv_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return sv_xstrdup(".");
    if (slash == path)
        return sv_xstrdup("/");
    return sv_xstrndup(path, (size_t)(slash - path));
}

char *sv_join_path(const char *dir, const char *rel)
{
    if (rel[0] == '/' || dir == NULL || strcmp(dir, ".") == 0)
        return sv_xstrdup(rel);
    while (rel[0] == '.' && rel[1] == '/')
        rel += 2;
    return sv_xasprintf("%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", rel);
}

/* Levenshtein distance, for "did you mean" suggestions. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    int row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int prev = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cur = row[j];
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int best = prev + cost;
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb];
}

const char *sv_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    int best_d = 99;
    size_t wl = strlen(word);
    for (size_t i = 0; i < n; i++) {
        int d = edit_distance(word, cands[i]);
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    /* Allow about one typo per three letters, and never a wild guess. */
    int allowed = wl <= 3 ? 1 : (int)(wl / 3 + 1);
    return best_d <= allowed ? best : NULL;
}

void sv_strv_free(char **v)
{
    for (char **p = v; p && *p; p++)
        free(*p);
    free(v);
}

/* mkdir -p; exact: each directory made gets mode whatever the umask. */
static int mkdir_parents(const char *path, unsigned mode, bool exact, sv_error_t *err)
{
    cleanup_free char *p = sv_xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) == 0) {
            if (exact && chmod(p, mode) < 0) /* the umask took some of it */
                return sv_error(err, errno, "cannot set the mode of %s", p);
        } else if (errno != EEXIST) {
            return sv_error(err, errno, "cannot create %s", p);
        }
        *s = c;
        if (c == '\0')
            return 0;
    }
}

int sv_mkdir_p(const char *path, unsigned mode, sv_error_t *err)
{
    return mkdir_parents(path, mode, false, err);
}

int sv_mkdir_p_mode(const char *path, unsigned mode, sv_error_t *err)
{
    return mkdir_parents(path, mode, true, err);
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' || c == '-' ? 62 : c == '/' || c == '_' ? 63 : -1;
}

char *sv_base64_decode(const char *s)
{
    return sv_base64_decode_n(s, NULL);
}

char *sv_base64_decode_n(const char *s, size_t *len)
{
    size_t n = strlen(s);
    char *out = sv_xmalloc(n + 1), *o = out;
    unsigned acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        int v = b64val(*s);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (char)((acc >> bits) & 0xff);
        }
    }
    *o = '\0';
    if (len)
        *len = (size_t)(o - out);
    return out;
}

char *sv_base64_encode(const void *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *in = data;
    char *out = sv_xmalloc((len + 2) / 3 * 4 + 1), *o = out;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < len ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < len ? in[i + 2] : 0);
        *o++ = abc[v >> 18 & 63];
        *o++ = abc[v >> 12 & 63];
        *o++ = i + 1 < len ? abc[v >> 6 & 63] : '=';
        *o++ = i + 2 < len ? abc[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

void sv_signals_default(void)
{
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP || sigaction(sig, &sa, NULL) == 0 || errno != EINVAL)
            continue;
        /* glibc refuses its own (32 and 33: thread cancellation, setxid),
         * which the caller may still have ignored: GNU make hands every
         * command it runs both ignored. The kernel takes them, in its
         * struct (the generic layout of x86-64, arm and arm64). */
        struct {
            void (*handler)(int);
            unsigned long flags;
            void (*restorer)(void);
            unsigned long mask[64 / (8 * sizeof(unsigned long))]; /* no padding on arm */
        } k = {SIG_DFL, 0, NULL, {0}};
        syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof(k.mask));
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

char *sv_home_file(const char *rel)
{
    const char *home = getenv("HOME");
    if (home == NULL || *home == '\0') {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : "/";
    }
    return sv_xasprintf("%s/%s", home, rel);
}
