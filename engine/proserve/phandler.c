/* The service host's end of a handler run: the request sent through the
 * supervisor's gateway with three pipes for the handler's stdio, its input
 * fed, its output read, and a kill asked for when it outlives its time. */
#include "proserve/phandler.h"
#include "core/json.h"

#include "proserve/pgateway.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define ERR_KEEP (4096u)
#define OUT_MAX  (16u << 20)
/* How long the supervisor may take to kill a run and say so. */
#define KILL_GRACE 10.0

static void append(char **buf, size_t *len, const char *data, size_t n, size_t keep_tail)
{
    if (keep_tail && *len + n > keep_tail) { /* keep only the last keep_tail bytes */
        size_t total = *len + n, drop = total - keep_tail;
        char *nb = sv_xmalloc(keep_tail + 1);
        size_t from_old = drop < *len ? *len - drop : 0;
        memcpy(nb, *buf + (*len - from_old), from_old);
        memcpy(nb + from_old, data + (n - (keep_tail - from_old)), keep_tail - from_old);
        free(*buf);
        *buf = nb;
        *len = keep_tail;
    } else {
        *buf = sv_xrealloc(*buf, *len + n + 1);
        memcpy(*buf + *len, data, n);
        *len += n;
    }
    (*buf)[*len] = '\0';
}

/* One run's descriptors and progress. */
struct handler_run {
    int in, out, err; /* ours: stdin's write end, stdout's and stderr's read ends */
    int gw;           /* the connection to the gateway: its report, our kill */
    const char *input;
    size_t input_len, written;
    char line[256]; /* the gateway's report */
    size_t line_len;
    bool reported, asked_kill;
};

static void ask_kill(struct handler_run *r)
{
    if (!r->asked_kill && write(r->gw, "kill\n", 5) < 0) {
        /* the gateway is gone: it kills the run when we hang up */
    }
    r->asked_kill = true;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Feed stdin as far as it takes it. */
static void feed(struct handler_run *r)
{
    ssize_t w = write(r->in, r->input + r->written, r->input_len - r->written);
    if (w > 0)
        r->written += (size_t)w;
    if ((w < 0 && errno != EAGAIN) || r->written == r->input_len)
        close_fd(&r->in); /* done, or it stopped reading: fine */
}

static void read_gateway(struct handler_run *r)
{
    ssize_t n = read(r->gw, r->line + r->line_len, sizeof(r->line) - 1 - r->line_len);
    if (n > 0)
        r->line_len += (size_t)n;
    r->line[r->line_len] = '\0';
    if (n <= 0 || memchr(r->line, '\n', r->line_len) || r->line_len == sizeof(r->line) - 1)
        r->reported = true;
}

static void read_output(struct handler_run *r, int *fd, struct sv_handler_result *res, bool is_err)
{
    char buf[65536];
    ssize_t got = read(*fd, buf, sizeof(buf));
    if (got <= 0) {
        if (got == 0 || errno != EAGAIN)
            close_fd(fd);
        return;
    }
    if (!is_err && res->out_len + (size_t)got > OUT_MAX) {
        close_fd(fd); /* an answer this big is a failure */
        res->wait_status = -1;
        ask_kill(r);
        return;
    }
    if (is_err)
        append(&res->err, &res->err_len, buf, (size_t)got, ERR_KEEP);
    else
        append(&res->out, &res->out_len, buf, (size_t)got, 0);
}

/* Until the gateway reported and the output ended: the time limit asks
 * for a kill, and the supervisor gets KILL_GRACE to do it. */
static void pump(struct handler_run *r, double start, const struct sv_handler_limits *lim,
                 struct sv_handler_result *res)
{
    double kill_by = 0;
    while (!r->reported || r->out >= 0 || r->err >= 0) {
        double now = sv_now_s();
        if (lim->timeout > 0 && now >= start + lim->timeout && !r->asked_kill) {
            res->timed_out = true;
            ask_kill(r);
        }
        if (r->asked_kill && kill_by == 0)
            kill_by = now + KILL_GRACE;
        /* No answer to a kill, or the gateway hung up without a word. */
        if ((kill_by > 0 && now > kill_by) || (r->reported && r->line_len == 0))
            break;
        int wait_ms = 100;
        if (lim->timeout > 0 && !r->asked_kill)
            wait_ms = (int)((start + lim->timeout - now) * 1000) + 1;
        wait_ms = wait_ms > 100 ? 100 : wait_ms < 0 ? 0 : wait_ms;
        struct pollfd p[4] = {{r->out, POLLIN, 0},
                              {r->err, POLLIN, 0},
                              {r->gw, r->reported ? 0 : POLLIN, 0},
                              {r->in, POLLOUT, 0}};
        if (poll(p, 4, r->reported ? 10 : wait_ms) < 0 && errno != EINTR)
            break;
        /* Reported: the run and all it started are dead, so what is left
         * in the pipes is there already. */
        if (r->reported && !(p[0].revents | p[1].revents))
            break;
        if (p[3].revents)
            feed(r);
        if (p[2].revents)
            read_gateway(r);
        if (p[0].revents)
            read_output(r, &r->out, res, false);
        if (p[1].revents)
            read_output(r, &r->err, res, true);
    }
}

/* "exit N [oom]", "signal N [oom]" or "error MESSAGE" into res. */
static int parse_report(const struct handler_run *r, const struct sv_handler_limits *lim,
                        struct sv_handler_result *res, sv_error_t *err)
{
    int n = 0;
    char word[8] = "";
    if (strncmp(r->line, "error ", 6) == 0) {
        cleanup_free char *msg = sv_xstrndup(r->line + 6, strcspn(r->line + 6, "\n"));
        return sv_error(err, 0, "%s", msg);
    }
    int status = 127 << 8; /* no report: the gateway died */
    if (sscanf(r->line, "exit %d %7s", &n, word) >= 1)
        status = (n & 0xff) << 8;
    else if (sscanf(r->line, "signal %d %7s", &n, word) >= 1)
        status = n & 0x7f;
    if (r->line_len == 0) {
        static const char gone[] = "\nservos: the supervisor's handler gateway hung up";
        append(&res->err, &res->err_len, gone, sizeof(gone) - 1, ERR_KEEP);
    }
    if (res->wait_status == 0)
        res->wait_status = status;
    /* servos run says so when the container's memory limit killed it. */
    res->out_of_memory =
        strcmp(word, "oom") == 0 ||
        (lim->container && n == 137 && strstr(res->err, "was killed: out of memory"));
    return 0;
}

/* Both ends of a pipe, closed at scope exit unless handed on (-1). */
static void close_pipe(int (*p)[2])
{
    for (int i = 0; i < 2; i++)
        if ((*p)[i] >= 0)
            close((*p)[i]), (*p)[i] = -1;
}
#define cleanup_pipe __attribute__((cleanup(close_pipe)))

static void handler_run_close(struct handler_run *r)
{
    close_fd(&r->in), close_fd(&r->out), close_fd(&r->err), close_fd(&r->gw);
}
#define cleanup_handler_run __attribute__((cleanup(handler_run_close)))

/* Send a run's request through sendmsg: one JSON line, the handler's
 * three descriptors riding on its first bytes. */
static int send_request(int fd, const char *line, const int stdio[3])
{
    char cbuf[CMSG_SPACE(3 * sizeof(int))] = {0};
    size_t len = strlen(line), sent = 0;
    while (sent < len) {
        struct iovec iov = {(char *)line + sent, len - sent};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        if (sent == 0) {
            msg.msg_control = cbuf;
            msg.msg_controllen = sizeof(cbuf);
            struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(3 * sizeof(int));
            memcpy(CMSG_DATA(c), stdio, 3 * sizeof(int));
        }
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        sent += (size_t)n;
    }
    return 0;
}

/* Start argv through the supervisor's gateway with the given stdio (the
 * handler's ends) and env. Returns the connection: it reports "exit CODE
 * [oom]\n" (or "error MESSAGE\n") when the run is over; writing "kill\n"
 * to it (or closing it) ends the run at once. */
static int gateway_start(char *const argv[], char *const env[], const char *cwd, bool keep,
                         const int stdio[3], sv_error_t *err)
{
    json_t *a = json_array(), *e = json_array();
    cleanup_json json_t *h = json_pack("{s:o,s:o}", "argv", a, "env", e);
    if (keep)
        json_object_set_new(h, "keep", json_true());
    bool utf8 = true;
    for (size_t i = 0; argv[i]; i++)
        utf8 &= json_array_append_new(a, json_string(argv[i])) == 0;
    for (size_t i = 0; env && env[i]; i++)
        utf8 &= json_array_append_new(e, json_string(env[i])) == 0;
    if (cwd)
        utf8 &= json_object_set_new(h, "cwd", json_string(cwd)) == 0;
    if (!utf8) /* jansson refuses such a string: json_string gave NULL */
        return sv_error(err, EINVAL, "the handler's command or environment is not UTF-8");
    cleanup_free char *text = sv_json_dumps(h, SV_JSON_COMPACT);
    cleanup_free char *line = sv_xasprintf("%s\n", text);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, SV_GATEWAY_PATH);
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return sv_error(err, errno, "cannot reach the supervisor's handler gateway %s",
                        SV_GATEWAY_PATH);
    if (send_request(fd, line, stdio) < 0)
        return sv_error(err, errno, "cannot talk to the handler gateway");
    int conn = fd;
    fd = -1; /* the caller's now */
    return conn;
}

/* ---- direct runs: no supervisor (a Kubernetes pod) ---------------------------------- */

static bool direct_mode;

void sv_handler_set_direct(bool on)
{
    direct_mode = on;
}

/* "exit N\n" or "signal N\n" into buf, without stdio (see reporter). */
static size_t status_line(int status, char *buf)
{
    const char *word = WIFSIGNALED(status) ? "signal " : "exit ";
    int n = WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status);
    size_t k = strlen(word);
    memcpy(buf, word, k);
    char digits[12];
    size_t d = 0;
    do
        digits[d++] = (char)('0' + n % 10);
    while ((n /= 10) > 0);
    while (d > 0)
        buf[k++] = digits[--d];
    buf[k++] = '\n';
    return k;
}

/* Between the service host and a direct run, speaking the gateway's
 * protocol on ctl: the run's end as "exit N" once it and its process
 * group are gone; "kill" or a hang-up kills the group. It is forked from
 * a process with threads and never execs, so it keeps to system calls (no
 * malloc, no stdio). */
static int reporter(char *const argv[], char *const env[], const char *cwd, int ctl)
{
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        setsid();
        close_range(3, ~0U, 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* the host's threads block SIGCHLD, SIGTERM */
        signal(SIGPIPE, SIG_DFL);
        if (cwd && chdir(cwd) < 0)
            _exit(127);
        execve(argv[0], argv, env);
        _exit(errno == ENOENT ? 127 : 126);
    }
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int status = 0;
    for (;;) {
        struct pollfd p[2] = {{ctl, POLLIN, 0}, {pfd, POLLIN, 0}};
        if (poll(p, pfd >= 0 ? 2 : 1, pfd >= 0 ? -1 : 50) < 0 && errno != EINTR)
            break;
        if (p[0].revents) { /* "kill", or the host hung up: end it all */
            char buf[16];
            if (read(ctl, buf, sizeof(buf)) <= 0)
                p[0].events = 0;
            kill(-pid, SIGKILL);
        }
        if (waitpid(pid, &status, WNOHANG) == pid)
            break;
    }
    kill(-pid, SIGKILL); /* what it left behind in its group goes with it */
    char line[32];
    size_t n = status_line(status, line);
    return write(ctl, line, n) == (ssize_t)n ? 0 : 1;
}

/* A run as a child of ours, with a reporter between (gateway_start's
 * contract: the returned descriptor reports, and takes "kill"). */
static int direct_start(char *const argv[], char *const env[], const char *cwd, const int stdio[3],
                        sv_error_t *err)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return sv_error(err, errno, "socketpair");
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(sv[0]), close(sv[1]);
        return sv_error(err, e, "cannot start a handler");
    }
    if (pid == 0) {
        /* Only the run's stdio and ctl, at 0-3: another thread's pipes
         * kept open here would hold back their end of file. */
        int ctl = dup(sv[1]);
        if (dup2(stdio[0], 0) < 0 || dup2(stdio[1], 1) < 0 || dup2(stdio[2], 2) < 0 || ctl < 0 ||
            dup2(ctl, 3) < 0)
            _exit(1);
        close_range(4, ~0U, 0);
        _exit(reporter(argv, env, cwd, 3));
    }
    close(sv[1]);
    return sv[0];
}

int sv_handler_run(char *const argv[], char *const env[], const char *cwd, const char *input,
                   size_t input_len, const struct sv_handler_limits *lim,
                   struct sv_handler_result *res, sv_error_t *err)
{
    memset(res, 0, sizeof(*res));
    res->out = sv_xstrdup("");
    res->err = sv_xstrdup("");
    cleanup_pipe int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    double start = sv_now_s();
    cleanup_handler_run struct handler_run r = {.in = pin[1],
                                                .out = pout[0],
                                                .err = perr[0],
                                                .gw = -1,
                                                .input = input,
                                                .input_len = input_len};
    pin[1] = pout[0] = perr[0] = -1; /* r's now */
    int stdio[3] = {pin[0], pout[1], perr[1]};
    r.gw = direct_mode ? direct_start(argv, env, cwd, stdio, err)
                       : gateway_start(argv, env, cwd, false, stdio, err);
    /* Only the run holds its ends now: their EOF is its end. */
    close_pipe(&pin), close_pipe(&pout), close_pipe(&perr);
    if (r.gw < 0)
        return -1;
    for (int *fd = &r.in; fd <= &r.err; fd++)
        fcntl(*fd, F_SETFL, O_NONBLOCK);
    if (input_len == 0)
        close_fd(&r.in);
    pump(&r, start, lim, res);
    close_fd(&r.in), close_fd(&r.out), close_fd(&r.err);
    int rc = parse_report(&r, lim, res, err);
    close_fd(&r.gw); /* were it still running: the supervisor kills it on hang-up */
    res->seconds = sv_now_s() - start;
    return rc;
}

int sv_handler_spawn(char *const argv[], char *const env[], const char *cwd,
                     struct sv_handler_proc *p, sv_error_t *err)
{
    *p = (struct sv_handler_proc){-1, -1, -1, -1};
    cleanup_pipe int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
    if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    int stdio[3] = {pin[0], pout[1], perr[1]};
    int gw = direct_mode ? direct_start(argv, env, cwd, stdio, err)
                         : gateway_start(argv, env, cwd, true, stdio, err);
    if (gw < 0)
        return -1;
    *p = (struct sv_handler_proc){pin[1], pout[0], perr[0], gw};
    pin[1] = pout[0] = perr[0] = -1; /* the caller's; the rest close here: the run holds them */
    for (int *fd = &p->in; fd <= &p->gw; fd++)
        fcntl(*fd, F_SETFL, O_NONBLOCK);
    return 0;
}

char *sv_handler_find_program(const char *cmd)
{
    if (strchr(cmd, '/'))
        return sv_xstrdup(cmd);
    static const char *const dirs[] = {"/usr/local/bin", "/usr/bin", "/bin"};
    for (size_t i = 0; i < SV_ARRAY_LEN(dirs); i++) {
        char *p = sv_xasprintf("%s/%s", dirs[i], cmd);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return sv_xstrdup(cmd);
}

void sv_handler_result_free(struct sv_handler_result *res)
{
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof(*res));
}
