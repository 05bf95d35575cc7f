/* Jobs: a servos command run by this very binary in a child process, its
 * output read in the loop. What changes the world (apply, down, run,
 * exec, pull) runs so: exactly as the CLI runs it, in a process of its
 * own whose forks (a stack's supervisor, a container's monitor) copy no
 * thread, lock or listening socket of the daemon's; and a job that hangs
 * or dies holds up nothing else. posix_spawn (a vfork and an exec) is
 * safe from a daemon with connections open: the child closes every
 * descriptor but its three. */
#include "api/api_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUTPUT_MAX (16u << 20)

extern char **environ;

struct output {
    int fd;
    char *buf;
    size_t len, cap, line_start;
    bool truncated;
};

struct sv_api_job {
    struct sv_api_job *next;
    pid_t pid;
    int code;
    bool exited;
    struct output out, err;
    const struct sv_api_job_ops *ops;
    void *ud;
};

static struct {
    struct sv_api_job *head;
    size_t n;
} jobs;

size_t job_count(void)
{
    return jobs.n;
}

static void job_finish_maybe(struct sv_api_job *j)
{
    if (!j->exited || j->out.fd >= 0 || j->err.fd >= 0)
        return;
    for (struct sv_api_job **p = &jobs.head; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    jobs.n--;
    j->ops->done(j->ud, j->code, j->out.buf ? j->out.buf : "", j->out.len,
                 j->err.buf ? j->err.buf : "", j->err.len);
    free(j->out.buf);
    free(j->err.buf);
    free(j);
}

/* Complete lines since the last call go to ops->line. */
static void emit_lines(struct sv_api_job *j, struct output *o, int which, bool eof)
{
    if (j->ops->line == NULL)
        return;
    size_t i = o->line_start;
    for (size_t k = i; k < o->len; k++)
        if (o->buf[k] == '\n') {
            j->ops->line(j->ud, which, o->buf + i, k - i);
            i = k + 1;
        }
    if (eof && i < o->len) {
        j->ops->line(j->ud, which, o->buf + i, o->len - i);
        i = o->len;
    }
    o->line_start = i;
}

static void on_output(struct sv_api_job *j, struct output *o, int which)
{
    char chunk[16384];
    ssize_t n;
    while ((n = read(o->fd, chunk, sizeof(chunk))) > 0) {
        if (o->len + (size_t)n > OUTPUT_MAX) {
            o->truncated = true;
            continue; /* drained, not kept */
        }
        if (o->len + (size_t)n + 1 > o->cap) {
            o->cap = (o->len + (size_t)n + 1) * 2;
            o->buf = sv_xrealloc(o->buf, o->cap);
        }
        memcpy(o->buf + o->len, chunk, (size_t)n);
        o->len += (size_t)n;
        o->buf[o->len] = '\0';
    }
    bool eof = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
    emit_lines(j, o, which, eof);
    if (eof) {
        sv_api_unwatch(o->fd);
        close(o->fd);
        o->fd = -1;
        job_finish_maybe(j);
    }
}

static void on_stdout(void *ud)
{
    struct sv_api_job *j = ud;
    on_output(j, &j->out, 1);
}

static void on_stderr(void *ud)
{
    struct sv_api_job *j = ud;
    on_output(j, &j->err, 2);
}

static void on_child(pid_t pid, int code)
{
    for (struct sv_api_job *j = jobs.head; j; j = j->next)
        if (j->pid == pid) {
            j->exited = true;
            j->code = code;
            job_finish_maybe(j);
            return;
        }
}

/* The input, written at once: the pipe is made large enough to hold it
 * (requests bodies are bounded, a MiB by default), so the loop never
 * waits to write. What a command does not read is dropped with the pipe. */
static void feed_input(int fd, const char *input, size_t len)
{
    if (len > 65536)
        fcntl(fd, F_SETPIPE_SZ, (int)(len < (16u << 20) ? len : (16u << 20)));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, input + off, len - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(fd);
}

static int watch_out(int fd, void (*fn)(void *ud), void *ud)
{
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return sv_api_watch(fd, fn, ud);
}

/* argv for posix_spawn: servos --root ROOT ARGV... */
static char **full_argv(char *const argv[])
{
    size_t n = 0;
    while (argv[n])
        n++;
    char **v = sv_xcalloc(n + 4, sizeof(*v));
    v[0] = "servos";
    v[1] = "--root";
    v[2] = (char *)sv_state_root();
    for (size_t i = 0; i < n; i++)
        v[3 + i] = argv[i];
    return v;
}

/* The daemon's environment, SERVOS_ROOT aside (--root says it), with add. */
static char **full_env(char *const add[])
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (add && add[k])
        k++;
    char **v = sv_xcalloc(n + k + 1, sizeof(*v));
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "SERVOS_ROOT=", 12) != 0)
            v[m++] = environ[i];
    for (size_t i = 0; i < k; i++)
        v[m++] = add[i];
    return v;
}

static int spawn(struct sv_api_job *j, char *const argv[], char *const env[], int in, int out,
                 int err_fd, sv_error_t *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    /* Its own session (the daemon's terminal's Ctrl-C is not its), no
     * signal blocked (ours are, for the signalfd), none ignored. */
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);
    cleanup_free char **av = full_argv(argv);
    cleanup_free char **ev = full_env(env);
    int rc = posix_spawn(&j->pid, "/proc/self/exe", &fa, &at, av, ev);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc != 0)
        return sv_error(err, rc, "cannot start servos %s", argv[0]);
    return 0;
}

int sv_api_job_start(char *const argv[], const char *input, char *const env[],
                     const struct sv_api_job_ops *ops, void *ud, sv_error_t *err)
{
    int o[2], e[2], i[2] = {-1, -1};
    if (pipe2(o, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    if (pipe2(e, O_CLOEXEC) < 0) {
        int x = errno;
        close(o[0]), close(o[1]);
        return sv_error(err, x, "pipe");
    }
    bool no_input =
        input ? pipe2(i, O_CLOEXEC) < 0 : (i[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0;
    if (no_input) {
        int x = errno;
        close(o[0]), close(o[1]), close(e[0]), close(e[1]);
        return sv_error(err, x, "cannot make the job's input");
    }
    struct sv_api_job *j = sv_xcalloc(1, sizeof(*j));
    j->ops = ops;
    j->ud = ud;
    j->out.fd = o[0];
    j->err.fd = e[0];
    int rc = spawn(j, argv, env, i[0], o[1], e[1], err);
    close(o[1]), close(e[1]), close(i[0]);
    if (rc < 0) {
        close(o[0]), close(e[0]);
        if (i[1] >= 0)
            close(i[1]);
        free(j);
        return -1;
    }
    static bool reaping;
    if (!reaping) {
        sv_api_on_child(on_child);
        reaping = true;
    }
    j->next = jobs.head;
    jobs.head = j;
    jobs.n++;
    watch_out(j->out.fd, on_stdout, j);
    watch_out(j->err.fd, on_stderr, j);
    if (input)
        feed_input(i[1], input, strlen(input));
    return 0;
}
