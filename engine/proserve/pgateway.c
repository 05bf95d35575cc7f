#include "proserve/pgateway.h"

#include "runtime/cgroup.h"
#include "runtime/idmap.h"
#include "runtime/seccomp.h"
#include "core/statedir.h"
#include "core/store.h"
#include "graph/units.h"
#include "host/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEADER_MAX  (1u << 20)
#define STRINGS_MAX 4096
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

/* ---- the graph's view -------------------------------------------------------------- */

static const struct sv_value *get(const struct sv_value *o, const char *key)
{
    for (size_t i = 0; o && o->kind == SV_OBJECT && i < o->u.list.n; i++)
        if (strcmp(o->u.list.keys[i], key) == 0)
            return &o->u.list.items[i];
    return NULL;
}

static const char *get_str(const struct sv_value *o, const char *key)
{
    const struct sv_value *v = get(o, key);
    return v && v->kind == SV_STR ? v->u.s : NULL;
}

static bool get_true(const struct sv_value *o, const char *key)
{
    const struct sv_value *v = get(o, key);
    return v && v->kind == SV_BOOL && v->u.b;
}

static const char *mode_of(const struct sv_service *s)
{
    const char *mode = s->proserve ? get_str(get(s->proserve, "isolation"), "mode") : NULL;
    return mode ? mode : "none";
}

static bool container_mode(const struct sv_service *s)
{
    const char *mode = mode_of(s);
    return strcmp(mode, "container") == 0 || strcmp(mode, "docker") == 0 ||
           strcmp(mode, "sandbox") == 0;
}

bool sv_gateway_wanted(const struct sv_service *s)
{
    if (s->proserve == NULL)
        return false;
    const char *mode = mode_of(s);
    return strcmp(mode, "micropython") != 0 && strcmp(mode, "arduino") != 0 &&
           strcmp(mode, "kubernetes") != 0;
}

const char *sv_gateway_image(const struct sv_service *s)
{
    return sv_gateway_wanted(s) && container_mode(s)
               ? get_str(get(s->proserve, "isolation"), "image")
               : NULL;
}

char *sv_gateway_dir(const char *stack, const char *service)
{
    cleanup_free char *dir = sv_stack_binds_dir(stack);
    return sv_xasprintf("%s/gateway-%s", dir, service);
}

/* The limits of one run, from the graph. */
struct run_limits {
    int64_t memory; /* bytes, -1: none */
    int64_t pids;
    double deadline; /* seconds the run may take, whatever the service host says */
    bool no_network, private_fs;
    const char *memory_text; /* as written, for servos run */
};

static void limits_of(const struct sv_service *s, struct run_limits *l)
{
    const struct sv_value *iso = get(s->proserve, "isolation");
    const struct sv_value *res = get(iso, "resources");
    *l = (struct run_limits){.memory = -1, .pids = SV_GATEWAY_PIDS};
    /* The service host ends a run at isolation.timeout; this is the
     * backstop should it not (a grace for its kill to arrive first). */
    const struct sv_value *t = get(iso, "timeout");
    double timeout = t && t->kind == SV_NUM ? t->u.d : t && t->kind == SV_INT ? (double)t->u.i : 30;
    l->deadline = timeout + 10;
    const struct sv_value *mem = get(iso, "memory_limit");
    if (!mem || (mem->kind != SV_STR && mem->kind != SV_INT))
        mem = get(res, "memory");
    if (mem && mem->kind == SV_INT)
        l->memory = mem->u.i;
    else if (mem && mem->kind == SV_STR) {
        sv_error_t e = NULL; /* the service host reports a bad size at start */
        if (sv_parse_size(mem->u.s, &l->memory, &e) < 0)
            l->memory = -1;
        sv_error_free(&e);
        l->memory_text = mem->u.s;
    }
    const struct sv_value *pids = get(res, "pids");
    if (pids && pids->kind == SV_INT && pids->u.i > 0)
        l->pids = pids->u.i;
    l->no_network = get_true(iso, "network_isolation");
    l->private_fs = get_true(iso, "filesystem_isolation");
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
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    /* The directory is bound writable into the service's container, whose
     * root may put a link where the socket was: never follow one (a chown
     * through "sock -> /dev/null" would hand the host's node over). */
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 256) < 0 ||
        fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
        fchmodat(AT_FDCWD, path, 0600, AT_SYMLINK_NOFOLLOW) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return sv_error(err, e, "cannot listen on %s", path);
    }
    return fd;
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

static int strings(json_t *a, const char *what, bool env, char ***out, sv_error_t *err)
{
    if (a == NULL && env) {
        *out = sv_xcalloc(1, sizeof(char *));
        return 0;
    }
    if (!json_is_array(a) || json_array_size(a) > STRINGS_MAX)
        return sv_error(err, EINVAL, "%s: expected a list of at most %d strings", what,
                        STRINGS_MAX);
    size_t n = json_array_size(a);
    char **v = sv_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *s = c_string(json_array_get(a, i));
        /* An entry without "=" would make servos run copy the variable of
         * that name from its own environment: the supervisor's. */
        const char *eq = s && env ? strchr(s, '=') : NULL;
        if (s == NULL || (env && (eq == NULL || eq == s))) {
            sv_strv_free(v);
            return sv_error(err, EINVAL, "%s: item %zu is not %s", what, i,
                            env ? "NAME=VALUE" : "a string");
        }
        v[i] = sv_xstrdup(s);
    }
    *out = v;
    return 0;
}

int sv_gateway_parse(const char *text, size_t len, struct sv_gateway_request *rq, sv_error_t *err)
{
    memset(rq, 0, sizeof(*rq));
    json_error_t jerr;
    json_t *h = json_loadb(text, len, JSON_DISABLE_EOF_CHECK, &jerr);
    if (!json_is_object(h)) {
        json_decref(h);
        return sv_error(err, EINVAL, "the request is not a JSON object");
    }
    int rc = strings(json_object_get(h, "argv"), "argv", false, &rq->argv, err);
    if (rc == 0 && rq->argv[0] == NULL)
        rc = sv_error(err, EINVAL, "argv: no command");
    if (rc == 0)
        rc = strings(json_object_get(h, "env"), "env", true, &rq->env, err);
    json_t *cwd = json_object_get(h, "cwd");
    if (rc == 0 && cwd) {
        const char *c = c_string(cwd);
        if (c == NULL || c[0] != '/')
            rc = sv_error(err, EINVAL, "cwd: expected an absolute path");
        else
            rq->cwd = sv_xstrdup(c);
    }
    json_decref(h);
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
static char *receive(int conn, int fds[3], size_t *len, bool *more)
{
    char *buf = sv_xmalloc(HEADER_MAX + 1);
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
    if (nl == NULL || fds[2] < 0) {
        free(buf);
        return NULL;
    }
    *len = (size_t)(nl - buf);
    *more = got > *len + 1;
    return buf;
}

static void close_fds(int fds[3])
{
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0)
            close(fds[i]), fds[i] = -1;
}

/* ---- the run's end --------------------------------------------------------------------- */

/* Wait for pid while watching the connection (a "kill" or a hang-up ends
 * the run), the deadline and, when cg is given (it has a memory limit),
 * its memory: an OOM kill ends the run whole (v1 kills one process, the
 * rest would run on). Returns its wait status. */
static int watch(int conn, pid_t pid, const struct sv_cgroup *cg, bool kill_now, double deadline,
                 void (*stop)(void *), void *stop_arg, bool *oom)
{
    int status = 0;
    bool stopped = false;
    double end = sv_now_s() + deadline;
    *oom = false;
    /* Its end wakes us at once (a pidfd polls readable); the memory is
     * looked at every 20 ms. */
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        struct pollfd p[2] = {{stopped ? -1 : conn, POLLIN, 0}, {pfd, POLLIN, 0}};
        int wait_ms = cg && !stopped ? 20 : pfd >= 0 ? 1000 : 10;
        bool ask =
            !stopped && (kill_now || (poll(p, 2, wait_ms) > 0 && p[0].revents) || sv_now_s() > end);
        if (stopped && pfd < 0) {
            struct timespec ts = {0, 5 * 1000000};
            nanosleep(&ts, NULL);
        } else if (stopped) {
            poll(&p[1], 1, 100);
        }
        if (!stopped && cg && sv_cgroup_oom_killed(cg))
            ask = *oom = true;
        if (ask) {
            stop(stop_arg);
            stopped = true;
        }
    }
    if (pfd >= 0)
        close(pfd);
    return status;
}

/* ---- process mode: a process in the service's namespaces -------------------------- */

/* The service's container id, from the cgroup its process is in (as the
 * supervisor sees it: .../<parent>/<id>[/...]). */
static int container_of(pid_t pid, char id[65], sv_error_t *err)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
    cleanup_fclose FILE *f = fopen(path, "re");
    if (f == NULL)
        return sv_error(err, errno, "cannot read %s", path);
    cleanup_free char *parent = sv_xasprintf("/%s/", sv_cgroup_parent());
    while (fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, parent);
        if (p == NULL)
            continue;
        p += strlen(parent);
        size_t n = strspn(p, "0123456789abcdef");
        if (n == 64 && (p[n] == '/' || p[n] == '\n' || p[n] == '\0')) {
            memcpy(id, p, 64);
            id[64] = '\0';
            return 0;
        }
    }
    return sv_error(err, ESRCH, "the caller is in no servos container");
}

/* Claim a slot: the handler's cgroup servos/<id>/h<N> (its existence is
 * the claim, so concurrent runs never share N, nor the uid made from it). */
static int claim_slot(const char *id, const struct run_limits *l, struct sv_cgroup *cg, int *slot,
                      sv_error_t *err)
{
    int start = (int)(getpid() % SV_GATEWAY_SLOTS);
    for (int i = 0; i < SV_GATEWAY_SLOTS; i++) {
        int n = (start + i) % SV_GATEWAY_SLOTS;
        cleanup_free char *name = sv_xasprintf("%s/h%d", id, n);
        if (sv_cgroup_init(cg, name, err) < 0)
            return -1;
        if (sv_cgroup_claim(cg, err) == 0) {
            *slot = n;
            struct sv_limits lim = {l->memory, -1, l->pids};
            if (sv_cgroup_create(cg, &lim, err) < 0) {
                sv_cgroup_destroy(cg, NULL);
                sv_cgroup_clear(cg);
                return -1;
            }
            if (cg->v2) { /* an OOM kill takes the whole run, as below for v1 */
                sv_error_t e = NULL;
                sv_cgroup_write(cg->v2, "memory.oom.group", "1", &e);
                sv_error_free(&e);
            }
            return 0;
        }
        sv_cgroup_clear(cg);
        if ((*err)->status != EEXIST)
            return -1;
        sv_error_free(err);
    }
    return sv_error(err, EAGAIN, "%d handlers run already", SV_GATEWAY_SLOTS);
}

/* What the child needs (set up before fork: the child only makes system
 * calls and small allocations in a single-threaded process). */
struct proc_run {
    const struct sv_gateway_request *rq;
    const struct run_limits *lim;
    int pidfd;          /* the service host */
    pid_t peer;         /* its pid, as we see it */
    int procs[SV_CG_N]; /* the handler cgroup's cgroup.procs */
    int stdio[3];
    int slot;
    char **env;
    char home[64]; /* /tmp/proserve-h<slot>-<random> */
};

__attribute__((noreturn)) static void die(const char *what, int e)
{
    dprintf(2, "servos: cannot start the handler: %s: %s\n", what, strerror(e));
    _exit(125);
}

static void loopback_up(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        die("loopback", errno);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        die("loopback", errno);
    close(fd);
}

static char *search_path(const char *cmd)
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

/* The handler itself: in its cgroup, its session, its uid, nothing more. */
__attribute__((noreturn)) static void handler_exec(const struct proc_run *r, const char *home)
{
    /* Ignored dispositions and the blocked mask survive execve: the
     * handler would start with ours (serve() ignores SIGPIPE to write to
     * its connection), and write to a closed pipe where any other program
     * dies quietly. */
    sv_signals_default();
    if (sv_cgroup_enter_self(r->procs) < 0)
        die("its cgroup", errno);
    setsid();
    /* Its directory is a tmpfs of its own, in a mount namespace of its
     * own: no other handler sees it, and it goes when the run goes. */
    unsigned id = SV_GATEWAY_UID_BASE + (unsigned)r->slot;
    char opts[64];
    snprintf(opts, sizeof(opts), "mode=0700,uid=%u,gid=%u", id, id);
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", home, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        die(home, errno);
    for (int i = 0; i < 3; i++)
        if (dup2(r->stdio[i], i) < 0)
            _exit(125);
    syscall(SYS_close_range, 3, ~0U, 0);
    struct rlimit core = {0, 0}, files = {1024, 1024};
    setrlimit(RLIMIT_CORE, &core);
    setrlimit(RLIMIT_NOFILE, &files);
    for (int c = 0; c <= 63; c++) /* nothing to regain, even by a file capability */
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            die("capabilities", errno);
    if (setgroups(0, NULL) < 0 || setresgid(id, id, id) < 0 || setresuid(id, id, id) < 0)
        die("its uid", errno);
    cap_t none = cap_init();
    if (none == NULL || cap_set_proc(none) < 0 ||
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        die("capabilities", errno);
    cap_free(none);
    if (r->rq->cwd == NULL || chdir(r->rq->cwd) < 0)
        if (chdir(home) < 0)
            die("its working directory", errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die("no_new_privs", errno);
    sv_error_t e = NULL;
    if (sv_seccomp_load_default(0, &e) < 0)
        die(e->msg, e->status);
    char *prog = search_path(r->rq->argv[0]);
    execve(prog, r->rq->argv, r->env);
    int en = errno;
    if (en == ENOENT)
        dprintf(2, "%s: command not found\n", r->rq->argv[0]);
    else
        dprintf(2, "%s: cannot execute: %s\n", r->rq->argv[0], strerror(en));
    _exit(en == ENOENT ? 127 : 126);
}

/* Between the supervisor and the handler: enter the service's namespaces
 * (a network namespace of its own with network_isolation), become the
 * container's root, fork the handler into the service's pid namespace,
 * wait for it and remove its directory's mount point. */
__attribute__((noreturn)) static void handler_parent(const struct proc_run *r)
{
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core);
    dup2(r->stdio[2], 2); /* what goes wrong is the handler's stderr (the 500's detail) */
    int ns = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWCGROUP |
             (r->lim->no_network ? 0 : CLONE_NEWNET);
    /* A service with userns: host shares ours, which setns refuses to join. */
    struct stat mine, its;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)r->peer);
    if (stat("/proc/self/ns/user", &mine) < 0 || stat(path, &its) < 0 ||
        mine.st_ino != its.st_ino || mine.st_dev != its.st_dev)
        ns |= CLONE_NEWUSER;
    if (setns(r->pidfd, ns) < 0)
        die("the service's namespaces", errno);
    /* Root of the container and nothing more, before touching a file. */
    if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        die("the container's root", errno);
    if (r->lim->no_network) {
        if (unshare(CLONE_NEWNET) < 0)
            die("a network namespace", errno);
        loopback_up();
    }
    /* A name no handler can guess and make first (/tmp may be 1777). */
    if (mkdir(r->home, 0700) < 0)
        die(r->home, errno);
    pid_t pid = fork();
    if (pid < 0)
        die("fork", errno);
    if (pid == 0)
        handler_exec(r, r->home);
    for (int i = 0; i < 3; i++)
        close(r->stdio[i]);
    close(2);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            _exit(125);
    rmdir(r->home);            /* its tmpfs lives in its own namespace only */
    if (WIFSIGNALED(status)) { /* say it as it happened */
        signal(WTERMSIG(status), SIG_DFL);
        kill(getpid(), WTERMSIG(status));
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static void kill_cgroup(void *arg)
{
    sv_error_t e = NULL;
    if (sv_cgroup_destroy(arg, &e) < 0)
        sv_error_report(&e);
}

/* env plus TMPDIR and HOME in the private directory, unless set. */
static char **handler_env(char **env, const char *dir)
{
    size_t n = 0;
    bool tmpdir = false, has_home = false;
    for (; env[n]; n++) {
        tmpdir |= strncmp(env[n], "TMPDIR=", 7) == 0;
        has_home |= strncmp(env[n], "HOME=", 5) == 0;
    }
    char **out = sv_xcalloc(n + 3, sizeof(char *));
    memcpy(out, env, n * sizeof(char *));
    if (!tmpdir)
        out[n++] = sv_xasprintf("TMPDIR=%s", dir);
    if (!has_home)
        out[n++] = sv_xasprintf("HOME=%s", dir);
    return out;
}

static int run_process(int conn, int peer, const struct sv_service *s,
                       const struct sv_gateway_request *rq, int stdio[3], bool kill_now, bool *oom,
                       sv_error_t *err)
{
    struct run_limits lim;
    limits_of(s, &lim);
    struct proc_run r = {.rq = rq, .lim = &lim, .pidfd = -1, .peer = peer};
    memcpy(r.stdio, stdio, sizeof(r.stdio));
    socklen_t sl = sizeof(r.pidfd);
    if (getsockopt(conn, SOL_SOCKET, SO_PEERPIDFD, &r.pidfd, &sl) < 0)
        r.pidfd = (int)syscall(SYS_pidfd_open, peer, 0);
    if (r.pidfd < 0)
        return sv_error(err, errno, "cannot open the service host's process");
    /* Its container, read while the pidfd shows it alive: the pid was
     * not someone else's meanwhile. */
    char id[65];
    if (container_of(peer, id, err) < 0 ||
        syscall(SYS_pidfd_send_signal, r.pidfd, 0, NULL, 0) < 0) {
        close(r.pidfd);
        return sv_error(err, ESRCH, "the service host is gone");
    }
    struct sv_cgroup cg;
    if (claim_slot(id, &lim, &cg, &r.slot, err) < 0) {
        close(r.pidfd);
        return -1;
    }
    if (sv_cgroup_open_procs(&cg, r.procs, err) < 0) {
        close(r.pidfd);
        kill_cgroup(&cg);
        sv_cgroup_clear(&cg);
        return -1;
    }
    uint32_t nonce = 0;
    if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
        nonce = (uint32_t)getpid() ^ (uint32_t)(sv_now_ms() * 2654435761u);
    snprintf(r.home, sizeof(r.home), "/tmp/proserve-h%d-%08x", r.slot, nonce);
    size_t n_env = 0;
    while (rq->env[n_env])
        n_env++;
    r.env = handler_env(rq->env, r.home);
    pid_t pid = fork();
    if (pid == 0)
        handler_parent(&r);
    int e = errno;
    close_fds(stdio); /* only the handler holds them now: its end is their EOF */
    close(r.pidfd);
    for (int i = 0; i < SV_CG_N && r.procs[i] >= 0; i++)
        close(r.procs[i]);
    for (size_t i = n_env; r.env[i]; i++)
        free(r.env[i]);
    free(r.env);
    int code = 125 << 8;
    if (pid > 0)
        code = watch(conn, pid, lim.memory > 0 ? &cg : NULL, kill_now, lim.deadline, kill_cgroup,
                     &cg, oom);
    /* The kernel's kill of its first process may be all there was. */
    *oom = *oom || sv_cgroup_oom_killed(&cg);
    kill_cgroup(&cg); /* whatever it left behind goes with it */
    sv_cgroup_clear(&cg);
    if (pid < 0)
        return sv_error(err, e, "fork");
    return code;
}

/* ---- container mode: servos run ------------------------------------------------------- */

struct rm_arg {
    char *self;
    const char *name;
};

static pid_t spawn(char **argv, const int stdio[3])
{
    /* servos run gets no environment of ours: every variable the handler
     * sees is on its command line. */
    static char *const env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 3; i++)
            if (dup2(stdio[i], i) < 0)
                _exit(126);
        execve(argv[0], argv, env);
        _exit(127);
    }
    return pid;
}

static void remove_container(void *arg)
{
    const struct rm_arg *a = arg;
    char *rm[] = {a->self, "--root", (char *)sv_state_root(), "rm", "-f", (char *)a->name, NULL};
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    int nul[3] = {devnull, devnull, devnull};
    pid_t r = spawn(rm, nul);
    while (r > 0 && waitpid(r, NULL, 0) < 0 && errno == EINTR)
        ;
    close(devnull);
}

/* Handler containers are containers of their own, outside the service's
 * cgroup and its pids limit: at most CONTAINERS_MAX of a service run at
 * once (so CONTAINERS_MAX times the pids limit in all); a run waits for a
 * turn, one of as many locks, held until this process ends. */
#define CONTAINERS_MAX 64

static int take_turn(int conn, const char *stack, const char *service, double deadline,
                     sv_error_t *err)
{
    cleanup_free char *gw = sv_gateway_dir(stack, service);
    cleanup_free char *dir = sv_xasprintf("%s.runs", gw);
    if (sv_mkdir_p(dir, 0700, err) < 0)
        return -1;
    double end = sv_now_s() + deadline;
    for (unsigned tries = 0;; tries++) {
        for (int i = 0; i < CONTAINERS_MAX; i++) {
            char name[32];
            snprintf(name, sizeof(name), "%d", (i + (int)getpid()) % CONTAINERS_MAX);
            cleanup_free char *p = sv_xasprintf("%s/%s", dir, name);
            int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
            if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
                return 0; /* kept open: released when we exit */
            if (fd >= 0)
                close(fd);
        }
        struct pollfd p = {conn, POLLIN, 0}; /* a kill, or the service host gone */
        if (sv_now_s() > end || poll(&p, 1, tries < 50 ? 2 : 20) > 0)
            return sv_error(err, EAGAIN, "%d handler containers of this service run already",
                            CONTAINERS_MAX);
    }
}

static int run_container(int conn, int peer, const char *stack, const struct sv_service *s,
                         const struct sv_gateway_request *rq, int stdio[3], bool kill_now,
                         bool *oom, sv_error_t *err)
{
    struct run_limits lim;
    limits_of(s, &lim);
    if (kill_now)
        return sv_error(err, ECANCELED, "the run was ended before it began");
    if (take_turn(conn, stack, s->name, lim.deadline - 10, err) < 0)
        return -1;
    const struct sv_value *iso = get(s->proserve, "isolation");
    const char *base = get_str(s->proserve, "base_dir");
    const char *image = get_str(iso, "image") ? get_str(iso, "image") : "host";
    char *self = realpath("/proc/self/exe", NULL);
    if (self == NULL)
        return sv_error(err, errno, "cannot find the servos binary");
    /* Without network_isolation the handler joins the service's network
     * (the stack's): servos run --network joined, started in the service's
     * network namespace, makes none of its own (and gets no host /sys). */
    cleanup_free char *hosts = NULL;
    if (!lim.no_network) {
        cleanup_close int netfd = (int)syscall(SYS_pidfd_open, peer, 0);
        if (netfd < 0 || setns(netfd, CLONE_NEWNET) < 0) {
            free(self);
            return sv_error(err, errno, "cannot enter the service's network");
        }
        cleanup_free char *dir = sv_stack_dir(stack);
        hosts = sv_xasprintf("%s/hosts", dir);
        if (access(hosts, R_OK) < 0) {
            free(hosts);
            hosts = NULL;
        }
    }
    char name[128];
    snprintf(name, sizeof(name), "%s-%s-h%d", stack, s->name, (int)getpid());
    size_t n_env = 0, n_argv = 0;
    while (rq->env[n_env])
        n_env++;
    while (rq->argv[n_argv])
        n_argv++;
    char **argv = sv_xcalloc(40 + 2 * n_env + n_argv, sizeof(char *));
    size_t k = 0;
    argv[k++] = self;
    argv[k++] = "--root";
    argv[k++] = (char *)sv_state_root();
    argv[k++] = "run";
    argv[k++] = "-i"; /* the request comes on stdin */
    argv[k++] = "--rm";
    argv[k++] = "--name";
    argv[k++] = name;
    argv[k++] = "--network";
    argv[k++] = lim.no_network ? "none" : "joined"; /* the service's, entered above */
    if (lim.private_fs)
        argv[k++] = "--read-only";
    char memory[32], pids[32], cpus[32];
    if (lim.memory > 0) {
        snprintf(memory, sizeof(memory), "%lld", (long long)lim.memory);
        argv[k++] = "--memory";
        argv[k++] = memory;
    }
    snprintf(pids, sizeof(pids), "%lld", (long long)lim.pids);
    argv[k++] = "--pids";
    argv[k++] = pids;
    const struct sv_value *res = get(iso, "resources");
    const struct sv_value *cpu = get(iso, "cpu_limit");
    if (!cpu || (cpu->kind != SV_NUM && cpu->kind != SV_INT && cpu->kind != SV_STR))
        cpu = get(res, "cpu") ? get(res, "cpu") : get(res, "cpus");
    if (cpu && (cpu->kind == SV_NUM || cpu->kind == SV_INT || cpu->kind == SV_STR)) {
        if (cpu->kind == SV_STR)
            snprintf(cpus, sizeof(cpus), "%s", cpu->u.s);
        else
            snprintf(cpus, sizeof(cpus), "%g", cpu->kind == SV_NUM ? cpu->u.d : (double)cpu->u.i);
        argv[k++] = "--cpus";
        argv[k++] = cpus;
    }
    cleanup_free char *vol_base = base ? sv_xasprintf("%s:%s:ro", base, base) : NULL;
    cleanup_free char *vol_self = sv_xasprintf("%s:/.servos/servos:ro", self);
    cleanup_free char *vol_hosts = hosts ? sv_xasprintf("%s:/etc/hosts:ro", hosts) : NULL;
    if (vol_base) {
        argv[k++] = "-v";
        argv[k++] = vol_base;
        argv[k++] = "-w";
        argv[k++] = (char *)base;
    }
    argv[k++] = "-v";
    argv[k++] = vol_self;
    if (vol_hosts) {
        argv[k++] = "-v";
        argv[k++] = vol_hosts;
    }
    for (size_t i = 0; i < n_env; i++) { /* each NAME=VALUE (sv_gateway_parse) */
        argv[k++] = "-e";
        argv[k++] = rq->env[i];
    }
    argv[k++] = "--";
    argv[k++] = (char *)image;
    for (size_t i = 0; i < n_argv; i++)
        argv[k++] = rq->argv[i];
    pid_t pid = spawn(argv, stdio);
    int e = errno;
    close_fds(stdio);
    free(argv);
    int code = 127 << 8;
    if (pid > 0) {
        struct rm_arg rm = {self, name};
        code = watch(conn, pid, NULL, kill_now, lim.deadline, remove_container, &rm, oom);
    }
    free(self);
    if (pid < 0)
        return sv_error(err, e, "fork");
    return code;
}

/* ---- one connection ------------------------------------------------------------------- */

/* The connection's child: run the handler, report how it ended. */
__attribute__((noreturn)) static void serve(int conn, const char *stack, const struct sv_service *s)
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
    int fds[3];
    size_t len = 0;
    bool more = false;
    char *header = receive(conn, fds, &len, &more);
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    struct sv_gateway_request rq;
    sv_error_t err = NULL;
    int code = -1;
    bool oom = false;
    if (header == NULL)
        sv_error(&err, EINVAL, "no request");
    else if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0)
        sv_error(&err, errno, "who is asking");
    else if (sv_gateway_parse(header, len, &rq, &err) == 0) {
        code = container_mode(s)
                   ? run_container(conn, cred.pid, stack, s, &rq, fds, more, &oom, &err)
                   : run_process(conn, cred.pid, s, &rq, fds, more, &oom, &err);
        sv_gateway_request_clear(&rq);
    }
    free(header);
    close_fds(fds);
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
static struct gw_runs {
    int lfd;
    pid_t pid[RUNS_MAX];
    size_t n;
} runs[64];

/* Still running (not exited: reaped or a zombie is gone)? */
static bool running(pid_t pid)
{
    siginfo_t si = {0};
    return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

static struct gw_runs *runs_of(int lfd)
{
    struct gw_runs *free_slot = NULL;
    for (size_t i = 0; i < SV_ARRAY_LEN(runs); i++) {
        if (runs[i].n > 0 && runs[i].lfd == lfd)
            return &runs[i];
        if (runs[i].n == 0 && free_slot == NULL)
            free_slot = &runs[i];
    }
    if (free_slot)
        free_slot->lfd = lfd;
    return free_slot;
}

void sv_gateway_accept(int lfd, const char *stack, const struct sv_service *s)
{
    int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0)
        return;
    struct gw_runs *r = runs_of(lfd);
    for (size_t i = 0; r && i < r->n;)
        if (running(r->pid[i]))
            i++;
        else
            r->pid[i] = r->pid[--r->n];
    if (r == NULL || r->n >= RUNS_MAX) {
        dprintf(conn, "error %d handler runs of this service are under way already\n", RUNS_MAX);
        close(conn);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* Keep only the connection: a copy of the supervisor's sockets
         * would keep them in its epoll sets after it closed them. */
        if (dup2(conn, 3) < 0)
            _exit(1);
        syscall(SYS_close_range, 4, ~0U, 0);
        serve(3, stack, s);
    }
    if (pid > 0)
        r->pid[r->n++] = pid;
    close(conn);
}

/* ---- service side ----------------------------------------------------------------------- */

int sv_gateway_start(char *const argv[], char *const env[], const char *cwd, const int stdio[3],
                     sv_error_t *err)
{
    json_t *a = json_array(), *e = json_array();
    for (size_t i = 0; argv[i]; i++)
        json_array_append_new(a, json_string(argv[i]));
    for (size_t i = 0; env && env[i]; i++)
        json_array_append_new(e, json_string(env[i]));
    json_t *h = json_pack("{s:o,s:o}", "argv", a, "env", e);
    if (cwd)
        json_object_set_new(h, "cwd", json_string(cwd));
    char *text = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    if (text == NULL)
        return sv_error(err, EINVAL, "the handler's command or environment is not UTF-8");
    char *line = sv_xasprintf("%s\n", text);
    free(text);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, SV_GATEWAY_PATH);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int en = errno;
        if (fd >= 0)
            close(fd);
        free(line);
        return sv_error(err, en, "cannot reach the supervisor's handler gateway %s",
                        SV_GATEWAY_PATH);
    }
    char cbuf[CMSG_SPACE(3 * sizeof(int))] = {0};
    size_t len = strlen(line), sent = 0;
    while (sent < len) {
        struct iovec iov = {line + sent, len - sent};
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
        if (n <= 0) {
            int en = errno;
            close(fd);
            free(line);
            return sv_error(err, en, "cannot talk to the handler gateway");
        }
        sent += (size_t)n;
    }
    free(line);
    return fd;
}
