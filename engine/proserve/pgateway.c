/* The supervisor's end of the handler gateway: which services have one,
 * the socket it listens on, and per connection a child that reads the
 * request, has the handler run the way the service's isolation mode says
 * (pgateway_proc.c, pgateway_ctr.c) and reports how it ended. */
#include "proserve/pgateway_int.h"

#include "core/statedir.h"
#include "host/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#define HEADER_MAX  (1u << 20)
#define STRINGS_MAX 4096

/* ---- which services, and where ------------------------------------------------------- */

bool sv_gateway_wanted(const struct sv_service *s)
{
    if (s->proserve == NULL)
        return false;
    return strcmp(gw_spec_mode(s), "kubernetes") != 0;
}

const char *sv_gateway_image(const struct sv_service *s)
{
    return sv_gateway_wanted(s) && gw_spec_container_mode(s) ? gw_spec_image(s) : NULL;
}

char *sv_gateway_dir(const char *stack, const char *service)
{
    cleanup_free char *dir = sv_statedir_binds(stack);
    return sv_xasprintf("%s/gateway-%s", dir, service);
}

/* ---- listening ------------------------------------------------------------------------ */

int sv_gateway_listen(const char *stack, const struct sv_service *s, sv_error_t *err)
{
    cleanup_free char *dir = sv_gateway_dir(stack, s->name);
    cleanup_free char *path = sv_xasprintf("%s/sock", dir);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return sv_error(err, ENAMETOOLONG, "socket path %s is too long", path);
    strcpy(addr.sun_path, path);
    /* Only the service's container root may connect. */
    uid_t uid;
    gid_t gid;
    if (sv_userns_root_ids(s->userns, &uid, &gid, err) < 0)
        return -1;
    if (sv_mkdir_p(dir, 0700, err) < 0 || chown(dir, uid, gid) < 0)
        return sv_error(err, errno, "cannot prepare %s", dir);
    unlink(path);
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    /* The directory is bound writable into the service's container, whose
     * root may put a link where the socket was: never follow one (a chown
     * through "sock -> /dev/null" would hand the host's node over). */
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 256) < 0 ||
        fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
        fchmodat(AT_FDCWD, path, 0600, AT_SYMLINK_NOFOLLOW) < 0)
        return sv_error(err, errno, "cannot listen on %s", path);
    int listening = fd;
    fd = -1; /* the caller's now */
    return listening;
}

/* ---- the request ------------------------------------------------------------------------ */

void sv_gateway_request_clear(struct sv_gateway_request *rq)
{
    sv_strv_free(rq->argv);
    sv_strv_free(rq->env);
    free(rq->cwd);
    memset(rq, 0, sizeof(*rq));
}

/* A JSON string that is a whole C string (no NUL inside), or NULL. */
static const char *c_string(json_t *v)
{
    const char *s = json_string_value(v);
    return s && strlen(s) == json_string_length(v) ? s : NULL;
}

static int string_list(json_t *a, const char *what, bool env, char ***out, sv_error_t *err)
{
    if (a == NULL && env) {
        *out = sv_xcalloc(1, sizeof(char *));
        return 0;
    }
    if (!json_is_array(a) || json_array_size(a) > STRINGS_MAX)
        return sv_error(err, EINVAL, "%s: expected a list of at most %d strings", what,
                        STRINGS_MAX);
    size_t n = json_array_size(a);
    cleanup_strv char **v = sv_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *s = c_string(json_array_get(a, i));
        /* An entry without "=" would make servos run copy the variable of
         * that name from its own environment: the supervisor's. */
        const char *eq = s && env ? strchr(s, '=') : NULL;
        if (s == NULL || (env && (eq == NULL || eq == s)))
            return sv_error(err, EINVAL, "%s: item %zu is not %s", what, i,
                            env ? "NAME=VALUE" : "a string");
        v[i] = sv_xstrdup(s);
    }
    *out = sv_steal(v);
    return 0;
}

int sv_gateway_parse(const char *text, size_t len, struct sv_gateway_request *rq, sv_error_t *err)
{
    memset(rq, 0, sizeof(*rq));
    json_error_t jerr;
    cleanup_json json_t *h = json_loadb(text, len, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!json_is_object(h))
        return sv_error(err, EINVAL, "the request is not a JSON object");
    int rc = string_list(json_object_get(h, "argv"), "argv", false, &rq->argv, err);
    if (rc == 0 && rq->argv[0] == NULL)
        rc = sv_error(err, EINVAL, "argv: no command");
    if (rc == 0)
        rc = string_list(json_object_get(h, "env"), "env", true, &rq->env, err);
    json_t *cwd = json_object_get(h, "cwd");
    if (rc == 0 && cwd) {
        const char *c = c_string(cwd);
        if (c == NULL || c[0] != '/')
            rc = sv_error(err, EINVAL, "cwd: expected an absolute path");
        else
            rq->cwd = sv_xstrdup(c);
    }
    rq->keep = json_is_true(json_object_get(h, "keep"));
    if (rc < 0)
        sv_gateway_request_clear(rq);
    return rc;
}

/* Keep the first message's three descriptors; close any others. */
static void take_fds(struct msghdr *msg, int fds[3])
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        bool keep = n == 3 && fds[0] < 0;
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (keep)
                fds[i] = fd;
            else
                close(fd);
        }
    }
}

/* Read the header line and the three descriptors that come with it; what
 * followed the line is a kill request (*more). */
static char *receive_request(int conn, int fds[3], size_t *len, bool *more)
{
    cleanup_free char *buf = sv_xmalloc(HEADER_MAX + 1);
    size_t got = 0;
    char *nl = NULL;
    fds[0] = fds[1] = fds[2] = -1;
    while (got < HEADER_MAX && (nl = memchr(buf, '\n', got)) == NULL) {
        /* Room for more than three: the kernel closes what does not fit. */
        char cbuf[CMSG_SPACE(3 * sizeof(int))];
        struct iovec iov = {buf + got, HEADER_MAX - got};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof(cbuf);
        ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
        if (n <= 0)
            break;
        take_fds(&msg, fds);
        got += (size_t)n;
    }
    if (nl == NULL || fds[2] < 0)
        return NULL;
    *len = (size_t)(nl - buf);
    *more = got > *len + 1;
    return sv_steal(buf);
}

/* ---- one connection ------------------------------------------------------------------- */

/* Read the request and run it; returns the run's wait status, or -1. */
static int run_request(int conn, const char *stack, const struct sv_service *s, bool *oom,
                       sv_error_t *err)
{
    struct gw_run run = {.conn = conn, .stack = stack, .s = s};
    size_t len = 0;
    cleanup_free char *header = receive_request(conn, run.stdio, &len, &run.kill_now);
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    struct sv_gateway_request rq;
    int code = -1;
    if (header == NULL)
        sv_error(err, EINVAL, "no request");
    else if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
        sv_error(err, errno, "who is asking");
    else if (sv_gateway_parse(header, len, &rq, err) == 0) {
        run.peer = cred.pid;
        run.rq = &rq;
        /* Only a service with WebSockets keeps runs going past its timeout
         * (each is one connection's, and their number is bounded below). */
        if (rq.keep && !gw_spec_has_websockets(s))
            sv_error(err, EPERM, "the service has no WebSocket: no run outlives its timeout");
        else
            code = gw_spec_container_mode(s) || gw_spec_board_mode(s) ? gw_ctr_run(&run, err)
                                                                      : gw_proc_run(&run, err);
        sv_gateway_request_clear(&rq);
    }
    gw_close_stdio(run.stdio);
    *oom = run.oom;
    return code;
}

/* The connection's child: run the handler, report how it ended. */
__attribute__((noreturn)) static void connection_child(int conn, const char *stack,
                                                       const struct sv_service *s)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the supervisor's mask is not theirs */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    /* The request comes at once or never: a connection left silent must
     * not keep a process of ours. */
    struct timeval tv = {10, 0};
    setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sv_error_t err = NULL;
    bool oom = false;
    int code = run_request(conn, stack, s, &oom, &err);
    if (code < 0 && err == NULL)
        sv_error(&err, 0, "the run failed");
    if (code < 0) {
        for (char *p = err->msg; *p; p++)
            *p = *p == '\n' ? ' ' : *p;
        dprintf(conn, "error %s\n", err->msg);
        _exit(0);
    }
    if (WIFSIGNALED(code))
        dprintf(conn, "signal %d%s\n", WTERMSIG(code), oom ? " oom" : "");
    else
        dprintf(conn, "exit %d%s\n", WEXITSTATUS(code), oom ? " oom" : "");
    _exit(0);
}

/* The connections' children per listening socket: a container's root may
 * open connections as fast as it likes, and each is a process on the host,
 * outside the container's pids limit. */
#define RUNS_MAX 1024
static struct gw_children {
    int lfd;
    pid_t pid[RUNS_MAX];
    size_t n;
} children[64];

/* Still running (not exited: reaped or a zombie is gone)? */
static bool still_running(pid_t pid)
{
    siginfo_t si = {0};
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

static struct gw_children *children_of(int lfd)
{
    struct gw_children *free_slot = NULL;
    for (size_t i = 0; i < SV_ARRAY_LEN(children); i++) {
        if (children[i].n > 0 && children[i].lfd == lfd)
            return &children[i];
        if (children[i].n == 0 && free_slot == NULL)
            free_slot = &children[i];
    }
    if (free_slot)
        free_slot->lfd = lfd;
    return free_slot;
}

void sv_gateway_accept(int lfd, const char *stack, const struct sv_service *s)
{
    cleanup_close int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0)
        return;
    struct gw_children *r = children_of(lfd);
    for (size_t i = 0; r && i < r->n;)
        if (still_running(r->pid[i]))
            i++;
        else
            r->pid[i] = r->pid[--r->n];
    if (r == NULL || r->n >= RUNS_MAX) {
        dprintf(conn, "error %d handler runs of this service are under way already\n", RUNS_MAX);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* Keep only the connection: a copy of the supervisor's sockets
         * would keep them in its epoll sets after it closed them. */
        if (dup2(conn, 3) < 0)
            _exit(1);
        syscall(SYS_close_range, 4, ~0U, 0);
        connection_child(3, stack, s);
    }
    if (pid > 0)
        r->pid[r->n++] = pid;
}
