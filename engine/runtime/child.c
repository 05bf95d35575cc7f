/* The child of sv_container_spawn, from clone3 to the command's execve:
 * in its new namespaces it waits for its id maps, takes stdio, builds its
 * root (mounts.c), brings its network up, enters its cgroup namespace,
 * drops privileges and execs, through servos' init when someone must
 * hold its terminal or stdin. What fails is reported to the parent over
 * the report pipe (its two ends are here: sv_child_fail writes, the
 * parent's sv_child_report_read reads). servos exec's command (exec.c)
 * shares the last steps. */
#include "runtime/container_int.h"
#include "core/trace.h"

#include "runtime/init.h"
#include "runtime/mounts.h"
#include "runtime/pty.h"
#include "runtime/seccomp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <net/route.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char default_path[] =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/* Report err (or errno of the failed exec) to the parent and exit. */
void sv_child_fail(int errfd, int status, sv_error_t *err)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf), "%d %s", status, *err ? (*err)->msg : "unknown error");
    if (write(errfd, buf, n > (int)sizeof(buf) ? sizeof(buf) : (size_t)n) < 0) {
        /* nothing left to tell anyone */
    }
    _exit(status);
}

/* The command gets stdio and nothing else of its caller's: a descriptor
 * left open (a directory, a socket, a lock) is a way out of the container,
 * e.g. openat(fd, "..") walks up to the host's root. Close-on-exec rather
 * than close: the setup still uses its pipes until the exec. */
int sv_child_cloexec_from(int lowfd, sv_error_t *err)
{
    if (syscall(SYS_close_range, lowfd, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    long max = sysconf(_SC_OPEN_MAX); /* before Linux 5.11: one at a time */
    if (max < 0)
        return sv_error(err, errno, "cannot close the caller's descriptors");
    for (int fd = lowfd; fd < max; fd++)
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 && errno != EBADF)
            return sv_error(err, errno, "cannot close descriptor %d", fd);
    return 0;
}

static int loopback_up(sv_error_t *err)
{
    cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sv_error(err, errno, "socket");
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return sv_error(err, errno, "reading the flags of lo");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        return sv_error(err, errno, "bringing lo up");
    return 0;
}

static void sockaddr_ip4(struct sockaddr *sa, uint32_t addr)
{
    struct sockaddr_in *in = (struct sockaddr_in *)sa;
    memset(in, 0, sizeof(*in));
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(addr);
}

/* Our end of a stack network: its address (the subnet's route comes
 * with it), then up. ioctls: the interface is in our namespace. */
static int eth_address(int fd, const char *name, uint32_t addr, int prefix, sv_error_t *err)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    sockaddr_ip4(&ifr.ifr_addr, addr);
    if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
        return sv_error(err, errno, "cannot give %s its address", name);
    sockaddr_ip4(&ifr.ifr_netmask, prefix ? ~0u << (32 - prefix) : 0);
    if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
        return sv_error(err, errno, "cannot set %s's netmask", name);
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return sv_error(err, errno, "reading the flags of %s", name);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        return sv_error(err, errno, "bringing %s up", name);
    return 0;
}

/* eth0 and, on a stack with networks of its own, eth1...; and the route
 * to the published ports' transit address when eth0's subnet lacks it. */
static int stack_addresses(const struct sv_net_attach *n, sv_error_t *err)
{
    cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return sv_error(err, errno, "socket");
    if (eth_address(fd, "eth0", n->addr, n->prefix, err) < 0)
        return -1;
    for (size_t i = 0; i < n->n_more; i++) {
        char name[IFNAMSIZ];
        snprintf(name, sizeof(name), "eth%zu", i + 1);
        if (eth_address(fd, name, n->more[i].addr, n->more[i].prefix, err) < 0)
            return -1;
    }
    if (n->route_to == 0)
        return 0;
    struct rtentry rt = {0};
    sockaddr_ip4(&rt.rt_dst, n->route_to);
    sockaddr_ip4(&rt.rt_genmask, ~0u);
    rt.rt_flags = RTF_UP | RTF_HOST;
    rt.rt_dev = (char *)"eth0";
    if (ioctl(fd, SIOCADDRT, &rt) < 0)
        return sv_error(err, errno, "cannot add eth0's route to the published ports");
    return 0;
}

/* The service's sysctls, by the descriptor of /proc/sys that mounts.c
 * kept writable; closed afterwards, before the command could see it. */
static int write_sysctls(char **sysctls, int dir, sv_error_t *err)
{
    for (char **kv = sysctls; kv && *kv; kv++) {
        size_t klen = strcspn(*kv, "=");
        cleanup_free char *path = sv_xstrndup(*kv, klen);
        for (char *p = path; *p; p++)
            if (*p == '.')
                *p = '/';
        cleanup_close int fd = openat(dir, path, O_WRONLY | O_CLOEXEC);
        const char *v = *kv + klen + ((*kv)[klen] == '=');
        if (fd < 0 || write(fd, v, strlen(v)) < 0)
            return sv_error(err, errno, "sysctl %.*s", (int)klen, *kv);
    }
    return 0;
}

/* Drop to the container's user, capabilities, no_new_privs and seccomp:
 * the same for the init process and for exec. */
int sv_child_drop_privileges(const struct sv_run_spec *s, sv_capset_t caps, int bpf_fd,
                             sv_error_t *err)
{
    uid_t uid;
    gid_t gid;
    cleanup_fclose FILE *passwd = fopen("/etc/passwd", "re");
    if (sv_user_resolve(s->user, sv_user_max_id(s->userns_host), passwd, &uid, &gid, err) < 0)
        return -1;
    if (sv_caps_apply_bounding(caps, err) < 0)
        return -1;
    if (setgroups(0, NULL) < 0 && errno != EPERM)
        return sv_error(err, errno, "setgroups");
    if (setresgid(gid, gid, gid) < 0)
        return sv_error(err, errno, "setgid %u", (unsigned)gid);
    if (setresuid(uid, uid, uid) < 0)
        return sv_error(err, errno, "setuid %u", (unsigned)uid);
    /* root keeps the set; another user has none, as with Docker. */
    if (uid == 0 && sv_caps_apply(caps, err) < 0)
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return sv_error(err, errno, "no_new_privs");
    if (!s->no_seccomp &&
        (bpf_fd >= 0 ? sv_seccomp_load_fd(bpf_fd, err)
                     : sv_seccomp_load_default(sv_spec_seccomp_flags(s), err)) < 0)
        return -1;
    return 0;
}

static char **build_env(const struct sv_run_spec *s)
{
    size_t n = 0;
    while (s->env && s->env[n])
        n++;
    char **env = sv_xcalloc(n + 4, sizeof(*env));
    size_t k = 0;
    bool has_path = false, has_home = false;
    for (size_t i = 0; i < n; i++) {
        has_path |= strncmp(s->env[i], "PATH=", 5) == 0;
        has_home |= strncmp(s->env[i], "HOME=", 5) == 0;
    }
    if (!has_path)
        env[k++] = sv_xstrdup(default_path);
    env[k++] = sv_xasprintf("HOSTNAME=%s", s->hostname);
    if (!has_home)
        env[k++] = sv_xstrdup("HOME=/root");
    for (size_t i = 0; i < n; i++)
        env[k++] = s->env[i];
    env[k] = NULL;
    return env;
}

extern char **environ;

void sv_child_exec(const struct sv_run_spec *s, int errfd)
{
    environ = build_env(s); /* execvp searches PATH from environ */
    execvp(s->argv[0], s->argv);
    int e = errno;
    sv_error_t err = NULL;
    if (e == ENOENT)
        sv_error(&err, 0, "%s: command not found", s->argv[0]);
    else
        sv_error(&err, e, "%s: cannot execute", s->argv[0]);
    sv_child_fail(errfd, e == ENOENT ? 127 : 126, &err);
}

static void set_rlimits(void)
{
    /* A high open-file limit as container runtimes give, within the hard
     * limit (root here may lack CAP_SYS_RESOURCE). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max < 1048576 ? rl.rlim_max : 1048576;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The command's stdio beyond what the caller gave: a terminal, or a stdin
 * kept open. */
struct child_stdio {
    int master, slave; /* spec.tty */
    int hold;          /* stdin_open: the write end of stdin, for init to keep */
};

static int child_stdio_prepare(const struct sv_run_spec *s, struct child_stdio *io, sv_error_t *err)
{
    *io = (struct child_stdio){-1, -1, -1};
    if (s->tty) {
        /* Made as the container's user, after the switch: the terminal is
         * theirs, as one they made themselves would be. */
        return sv_pty_open(&io->master, &io->slave, s->tty_rows, s->tty_cols, err);
    }
    if (s->stdin_open) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return sv_error(err, errno, "pipe");
        cleanup_close int rd = p[0]; /* stdin's copy is the one that stays */
        io->hold = p[1];
        if (dup2(rd, 0) < 0)
            return sv_error(err, errno, "dup2");
    }
    return 0;
}

/* pid 1 as servos' init (see init.h): the command is forked, and takes the
 * terminal with a session of its own. */
__attribute__((noreturn)) static void child_init(const struct sv_run_spec *s,
                                                 struct child_stdio *io, int errfd)
{
    sv_error_t err = NULL;
    int keep[] = {errfd, io->master, io->slave, io->hold};
    sv_init_shed(keep, SV_ARRAY_LEN(keep));
    sigset_t set;
    sv_init_block_signals(&set);
    pid_t pid = fork();
    if (pid < 0) {
        sv_error(&err, errno, "fork");
        sv_child_fail(errfd, 125, &err);
    }
    if (pid == 0) {
        /* The command holds neither: init keeps them, and the terminal's
         * hang-up and stdin's EOF come when init ends. */
        if (io->master >= 0)
            close(io->master);
        if (io->hold >= 0)
            close(io->hold);
        if (io->slave >= 0 && (setsid() < 0 || sv_pty_take(io->slave, &err) < 0)) {
            if (err == NULL)
                sv_error(&err, errno, "setsid");
            sv_child_fail(errfd, 125, &err);
        }
        if (io->slave > 2)
            close(io->slave);
        sv_signals_default();
        sv_child_exec(s, errfd);
    }
    /* The command's copies are the ones that count: the parent reads the
     * report to EOF (its exec), and the terminal hangs up when the
     * command's side is gone. */
    close(errfd);
    if (io->slave >= 0)
        close(io->slave);
    _exit(sv_init_run(pid, &set, io->master, STDOUT_FILENO));
}

void sv_child_main(struct sv_container *c, const int fds[3], int gofd, int errfd, int bpffd,
                   int ptysock)
{
    sv_error_t err = NULL;
    const struct sv_run_spec *s = &c->spec;
    /* Dispositions set to "ignore" and the blocked mask survive execve:
     * the command would start with servos' own (SIGPIPE ignored by the
     * CLI, SIGINT and SIGHUP by a detached monitor, SIGTERM and SIGINT
     * blocked by a stack's supervisor, which reads them from a signalfd),
     * deaf to the signals meant to stop it. */
    sv_signals_default();
    /* Two bytes from the parent: 'g' once our id maps are written, 'c'
     * once we are in the container's cgroup (written while we build our
     * root, on the other core). */
    char go;
    if (read(gofd, &go, 1) != 1)
        _exit(1); /* the parent gave up */
    sv_trace("child: id maps in");
    for (int i = 0; i < 3; i++)
        if (fds[i] != i && dup2(fds[i], i) < 0) {
            sv_error(&err, errno, "dup2");
            sv_child_fail(errfd, 125, &err);
        }
    /* Whatever else the caller had open (a supervisor's sockets, a CLI's
     * locks, a directory) must not reach the container. */
    if (sv_child_cloexec_from(3, &err) < 0)
        sv_child_fail(errfd, 125, &err);
    /* A session of its own: the caller's terminal is never the container's
     * controlling tty (TIOCSTI into the caller's shell needs that). */
    if (setsid() < 0) {
        sv_error(&err, errno, "setsid");
        sv_child_fail(errfd, 125, &err);
    }
    if (!s->userns_host && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
        sv_error(&err, errno, "becoming root in the user namespace");
        sv_child_fail(errfd, 125, &err);
    }
    if (sethostname(s->hostname, strlen(s->hostname)) < 0) {
        sv_error(&err, errno, "sethostname");
        sv_child_fail(errfd, 125, &err);
    }
    int sysctl_dir = -1;
    if (sv_mounts_setup(c, &sysctl_dir, &err) < 0)
        sv_child_fail(errfd, 125, &err);
    sv_trace("child: root built");
    if (s->network != SV_NET_HOST && loopback_up(&err) < 0)
        sv_child_fail(errfd, 125, &err);
    set_rlimits();
    if (chdir(s->workdir ? s->workdir : "/") < 0) {
        sv_error(&err, errno, "working directory %s", s->workdir);
        sv_child_fail(errfd, 125, &err);
    }
    if (read(gofd, &go, 1) != 1)
        _exit(1);
    sv_trace("child: in its cgroup");
    close(gofd); /* nothing more comes: not the command's to keep */
    /* The parent made our eth0 before sending 'c'. */
    if (s->network == SV_NET_STACK && stack_addresses(&s->net, &err) < 0)
        sv_child_fail(errfd, 125, &err);
    if (sysctl_dir >= 0 && write_sysctls(s->sysctls, sysctl_dir, &err) < 0)
        sv_child_fail(errfd, 125, &err);
    if (sysctl_dir >= 0)
        close(sysctl_dir);
    /* In the cgroup now, so it becomes the namespace's root. */
    if (unshare(CLONE_NEWCGROUP) < 0 && errno != EINVAL) {
        sv_error(&err, errno, "cgroup namespace");
        sv_child_fail(errfd, 125, &err);
    }
    if (sv_child_drop_privileges(s, c->caps, bpffd, &err) < 0)
        sv_child_fail(errfd, 125, &err);
    sv_trace("child: privileges dropped, seccomp on");
    /* Set after the switch of ids, which clears it; no set-id exec clears
     * it later (no_new_privs). pid 1 takes a SIGKILL from outside. */
    if (s->die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL) < 0) {
        sv_error(&err, errno, "PR_SET_PDEATHSIG");
        sv_child_fail(errfd, 125, &err);
    }
    struct child_stdio io;
    if (child_stdio_prepare(s, &io, &err) < 0)
        sv_child_fail(errfd, 125, &err);
    if (ptysock >= 0) { /* servos run -t: the caller relays the terminal */
        if (sv_pty_send_fd(ptysock, io.master, &err) < 0)
            sv_child_fail(errfd, 125, &err);
        close(io.master); /* the caller's now */
        close(ptysock);
        io.master = -1;
    }
    /* Someone must hold what no caller holds: a terminal's master, a
     * stdin's write end. */
    if (s->init || io.master >= 0 || io.hold >= 0)
        child_init(s, &io, errfd);
    /* We lead a session of our own already (above). */
    if (io.slave >= 0 && sv_pty_take(io.slave, &err) < 0)
        sv_child_fail(errfd, 125, &err);
    sv_trace("child: exec");
    sv_child_exec(s, errfd);
}

/* The parent's end of the report: nothing when the exec succeeded, else
 * "STATUS message". */
int sv_child_report_read(int errfd, int *exec_status, sv_error_t *err)
{
    char buf[1100];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 && (n = read(errfd, buf + len, sizeof(buf) - 1 - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        len += (size_t)n;
    }
    if (len == 0)
        return 0;
    buf[len] = '\0';
    char *msg = strchr(buf, ' ');
    *exec_status = atoi(buf);
    return sv_error(err, 0, "%s", msg ? msg + 1 : buf);
}
