/* Process mode (isolation.mode process, none): a handler run is a process
 * in the service container's namespaces, in a cgroup of its own under the
 * service's (servos/<id>/h<N>: memory_limit, a pids limit, killed as a
 * whole), as a uid of its own (SV_GATEWAY_UID_BASE + N), with a private
 * /tmp, no capabilities, no_new_privs and the default seccomp filter; with
 * network_isolation, in a network namespace of its own holding only
 * loopback. */
#include "proserve/pgateway_int.h"

#include "proserve/phandler.h"
#include "runtime/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

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
 * the claim, so concurrent runs never share N, nor the uid made from it).
 * On failure cg is cleared. */
static int claim_slot(const char *id, const struct gw_limits *l, struct sv_cgroup *cg, int *slot,
                      sv_error_t *err)
{
    int start = (int)(getpid() % SV_GATEWAY_SLOTS);
    for (int i = 0; i < SV_GATEWAY_SLOTS; i++) {
        int n = (start + i) % SV_GATEWAY_SLOTS;
        cleanup_free char *name = sv_xasprintf("%s/h%d", id, n);
        if (sv_cgroup_init(cg, name, err) < 0) {
            sv_cgroup_clear(cg);
            return -1;
        }
        if (sv_cgroup_claim(cg, err) == 0) {
            *slot = n;
            struct sv_limits lim = {l->memory, -1, l->pids};
            if (sv_cgroup_create(cg, &lim, err) < 0) {
                sv_cgroup_destroy(cg, NULL);
                sv_cgroup_clear(cg);
                return -1;
            }
            if (cg->v2) { /* an OOM kill takes the whole run, as gw_watch does for v1 */
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
struct proc_child {
    const struct sv_gateway_request *rq;
    const struct gw_limits *lim;
    int pidfd;             /* the service host */
    pid_t peer;            /* its pid, as we see it */
    int procs[SV_CG_DIRS]; /* the handler cgroup's cgroup.procs */
    const int *stdio;      /* the handler's stdin, stdout, stderr */
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
    cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        die("loopback", errno);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        die("loopback", errno);
}

/* Nothing to regain, even by a file capability or a set-uid program. */
static void drop_privileges(unsigned id)
{
    struct rlimit core = {0, 0}, files = {1024, 1024};
    setrlimit(RLIMIT_CORE, &core);
    setrlimit(RLIMIT_NOFILE, &files);
    for (int c = 0; c <= 63; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            die("capabilities", errno);
    if (setgroups(0, NULL) < 0 || setresgid(id, id, id) < 0 || setresuid(id, id, id) < 0)
        die("its uid", errno);
    cap_t none = cap_init();
    if (none == NULL || cap_set_proc(none) < 0 ||
        prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        die("capabilities", errno);
    cap_free(none);
}

/* The handler itself: in its cgroup, its session, its uid, nothing more. */
__attribute__((noreturn)) static void handler_exec(const struct proc_child *c)
{
    /* Ignored dispositions and the blocked mask survive execve: the
     * handler would start with ours (the connection's child ignores
     * SIGPIPE to write to its connection), and write to a closed pipe
     * where any other program dies quietly. */
    sv_signals_default();
    if (sv_cgroup_enter_self(c->procs) < 0)
        die("its cgroup", errno);
    setsid();
    /* Its directory is a tmpfs of its own, in a mount namespace of its
     * own: no other handler sees it, and it goes when the run goes. */
    unsigned id = SV_GATEWAY_UID_BASE + (unsigned)c->slot;
    char opts[64];
    snprintf(opts, sizeof(opts), "mode=0700,uid=%u,gid=%u", id, id);
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", c->home, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        die(c->home, errno);
    for (int i = 0; i < 3; i++)
        if (dup2(c->stdio[i], i) < 0)
            _exit(125);
    syscall(SYS_close_range, 3, ~0U, 0);
    drop_privileges(id);
    if (c->rq->cwd == NULL || chdir(c->rq->cwd) < 0)
        if (chdir(c->home) < 0)
            die("its working directory", errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        die("no_new_privs", errno);
    sv_error_t e = NULL;
    if (sv_seccomp_load_default(0, &e) < 0)
        die(e->msg, e->status);
    char *prog = sv_handler_find_program(c->rq->argv[0]);
    execve(prog, c->rq->argv, c->env);
    int en = errno;
    if (en == ENOENT)
        dprintf(2, "%s: command not found\n", c->rq->argv[0]);
    else
        dprintf(2, "%s: cannot execute: %s\n", c->rq->argv[0], strerror(en));
    _exit(en == ENOENT ? 127 : 126);
}

/* Between the supervisor and the handler: enter the service's namespaces
 * (a network namespace of its own with network_isolation), become the
 * container's root, fork the handler into the service's pid namespace,
 * wait for it and remove its directory's mount point. */
__attribute__((noreturn)) static void handler_parent(const struct proc_child *c)
{
    struct rlimit core = {0, 0};
    setrlimit(RLIMIT_CORE, &core);
    dup2(c->stdio[2], 2); /* what goes wrong is the handler's stderr (the 500's detail) */
    int ns = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWCGROUP |
             (c->lim->no_network ? 0 : CLONE_NEWNET);
    /* A service with userns: host shares ours, which setns refuses to join. */
    struct stat mine, its;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)c->peer);
    if (stat("/proc/self/ns/user", &mine) < 0 || stat(path, &its) < 0 ||
        mine.st_ino != its.st_ino || mine.st_dev != its.st_dev)
        ns |= CLONE_NEWUSER;
    if (setns(c->pidfd, ns) < 0)
        die("the service's namespaces", errno);
    /* Root of the container and nothing more, before touching a file. */
    if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        die("the container's root", errno);
    if (c->lim->no_network) {
        if (unshare(CLONE_NEWNET) < 0)
            die("a network namespace", errno);
        loopback_up();
    }
    /* A name no handler can guess and make first (/tmp may be 1777). */
    if (mkdir(c->home, 0700) < 0)
        die(c->home, errno);
    pid_t pid = fork();
    if (pid < 0)
        die("fork", errno);
    if (pid == 0)
        handler_exec(c);
    /* Closed here, not at exit: the handler's stdout and stderr reach
     * their EOF only when no copy but the handler's is left. */
    for (int i = 0; i < 3; i++)
        close(c->stdio[i]);
    close(2);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            _exit(125);
    rmdir(c->home);            /* its tmpfs lives in its own namespace only */
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

/* env plus TMPDIR and HOME in the private directory, unless set. The
 * strings of env are shared, the two added are the caller's to free. */
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

static void close_procs(int procs[SV_CG_DIRS])
{
    for (int i = 0; i < SV_CG_DIRS && procs[i] >= 0; i++)
        close(procs[i]);
}

/* The service host's process, opened while it is the one connected:
 * SO_PEERPIDFD where the kernel has it, else by pid. */
static int open_peer(const struct gw_run *run, sv_error_t *err)
{
    int pidfd = -1;
    socklen_t sl = sizeof(pidfd);
    static bool told;
    if (getsockopt(run->conn, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &sl) < 0) {
        /* Before Linux 6.5: by pid, which the peer could in theory have
         * given up between its connect and this (it waits for our answer). */
        if (!told)
            fprintf(stderr, "servos: handler gateway: no SO_PEERPIDFD (Linux 6.5): the service "
                            "host's process is found by its pid\n");
        told = true;
        pidfd = (int)syscall(SYS_pidfd_open, run->peer, 0);
    }
    if (pidfd < 0)
        return sv_error(err, errno, "cannot open the service host's process");
    return pidfd;
}

/* Fork handler_parent with c; the stdio and the cgroup's descriptors are
 * closed here once it holds them. */
static pid_t start_child(struct gw_run *run, struct proc_child *c)
{
    size_t n_env = 0;
    while (run->rq->env[n_env])
        n_env++;
    c->env = handler_env(run->rq->env, c->home);
    pid_t pid = fork();
    if (pid == 0)
        handler_parent(c);
    int e = errno;
    gw_close_stdio(run->stdio); /* only the handler holds them now: its end is their EOF */
    close_procs(c->procs);
    for (size_t i = n_env; c->env[i]; i++)
        free(c->env[i]);
    free(c->env);
    errno = e;
    return pid;
}

int gw_proc_run(struct gw_run *run, sv_error_t *err)
{
    struct gw_limits lim;
    gw_spec_limits(run->s, &lim);
    struct proc_child c = {.rq = run->rq, .lim = &lim, .peer = run->peer, .stdio = run->stdio};
    cleanup_close int pidfd = open_peer(run, err);
    if (pidfd < 0)
        return -1;
    c.pidfd = pidfd;
    /* Its container, read while the pidfd shows it alive: the pid was
     * not someone else's meanwhile. */
    char id[65];
    if (container_of(run->peer, id, err) < 0 ||
        syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
        return sv_error(err, ESRCH, "the service host is gone");
    struct sv_cgroup cg;
    if (claim_slot(id, &lim, &cg, &c.slot, err) < 0)
        return -1;
    if (sv_cgroup_open_procs(&cg, c.procs, err) < 0) {
        kill_cgroup(&cg);
        sv_cgroup_clear(&cg);
        return -1;
    }
    uint32_t nonce = 0;
    if (getrandom(&nonce, sizeof(nonce), 0) != sizeof(nonce))
        nonce = (uint32_t)getpid() ^ (uint32_t)(sv_now_ms() * 2654435761u);
    snprintf(c.home, sizeof(c.home), "/tmp/proserve-h%d-%08x", c.slot, nonce);
    pid_t pid = start_child(run, &c);
    int e = errno;
    int code = 125 << 8;
    if (pid > 0)
        code = gw_watch(run, pid, lim.memory > 0 ? &cg : NULL, lim.deadline, kill_cgroup, &cg);
    /* The kernel's kill of its first process may be all there was. */
    run->oom = run->oom || sv_cgroup_oom_killed(&cg);
    kill_cgroup(&cg); /* whatever it left behind goes with it */
    sv_cgroup_clear(&cg);
    if (pid < 0)
        return sv_error(err, e, "fork");
    return code;
}
