/* servos exec: a command run inside a running container. A process of
 * ours joins the container (its cgroup, then every namespace at once
 * through its init's pidfd) and forks the command there, which drops to
 * the container's user, capabilities and seccomp filter as its init did
 * (child.c) and execs; we pass signals on, relay a terminal of the
 * container's own (-t), and return the command's exit code. What the
 * container was started with comes from its recorded spec (spec.c). */
#include "runtime/container_int.h"

#include "runtime/init.h"
#include "runtime/pty.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char **json_strv(json_t *a)
{
    size_t n = json_array_size(a);
    char **v = sv_xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = sv_xstrdup(json_string_value(json_array_get(a, i)) ?: "");
    return v;
}

/* What servos exec is sent (a Ctrl-C, a kill) goes on to its command: the
 * command has a session of its own and gets none from the terminal. */
static volatile pid_t exec_target;
static const int exec_signals[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH};

static void exec_forward(int sig)
{
    if (exec_target > 0)
        kill(exec_target, sig);
}

static void exec_forward_signals(struct sigaction old[SV_ARRAY_LEN(exec_signals)])
{
    struct sigaction sa = {.sa_handler = exec_forward, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < SV_ARRAY_LEN(exec_signals); i++)
        sigaction(exec_signals[i], &sa, old ? &old[i] : NULL);
}

/* Die with the process that started us (a killed servos exec, a health
 * check the supervisor timed out) rather than live on in the container.
 * parent: who that is, or 0 when it lives outside our pid namespace. */
static void exec_die_with(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* gone already: we were handed to an init */
        _exit(125);
}

/* The command, forked inside the container's namespaces. sock: where a
 * terminal's master goes (spec.tty), else -1. */
__attribute__((noreturn)) static void exec_command_child(const struct sv_run_spec *s,
                                                         sv_capset_t caps, int report, int sock)
{
    sv_error_t e = NULL;
    /* Never the caller's terminal as controlling tty: with it, TIOCSTI
     * pushes keystrokes into the caller's shell, which runs them on the
     * host. A terminal it gets (-t) is one of the container's own. */
    if (setsid() < 0) {
        sv_error(&e, errno, "setsid");
        sv_child_fail(report, 125, &e);
    }
    sv_signals_default();
    if (sv_child_cloexec_from(3, &e) < 0)
        sv_child_fail(report, 125, &e);
    if (chdir(s->workdir ? s->workdir : "/") < 0) {
        sv_error(&e, errno, "working directory %s", s->workdir);
        sv_child_fail(report, 125, &e);
    }
    if (sv_child_drop_privileges(s, caps, -1, &e) < 0)
        sv_child_fail(report, 125, &e);
    exec_die_with(0); /* after the switch of user, which clears it */
    if (s->tty) {
        /* As the container's user, in its devpts: what the command could
         * have made itself, nothing more. */
        int master, slave;
        if (sv_pty_open(&master, &slave, s->tty_rows, s->tty_cols, &e) < 0 ||
            sv_pty_send_fd(sock, master, &e) < 0 || sv_pty_take(slave, &e) < 0)
            sv_child_fail(report, 125, &e);
        close(master); /* servos exec's now */
        close(sock);   /* its EOF tells servos exec nothing else comes */
    }
    sv_child_exec(s, report);
}

/* Between servos exec and its command: joins the container (the cgroup,
 * then every namespace at once through the init's pidfd), forks the
 * command there (a pid namespace applies to children) and passes signals
 * on to it. Holds nothing of the caller's but its pipe to it, its socket
 * for a terminal (sock), and the stdio io asks for (null: /dev/null). */
__attribute__((noreturn)) static void exec_join(const struct sv_run_spec *s, sv_capset_t caps,
                                                const struct sv_cgroup *cg, int pidfd, int report,
                                                pid_t caller, int sock, int null)
{
    sv_error_t e = NULL;
    /* Closed to the container until the command's execve (which makes it
     * dumpable again): under --userns host, container root has our uid and,
     * once we drop to its set, our capabilities, and could otherwise write
     * our memory through /proc/PID/mem before the filter is loaded
     * (runc's CVE-2016-9962). Inherited by the fork below. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    exec_die_with(caller);
    /* Out of the terminal's process group: a Ctrl-C reaches the command
     * once, through the caller. */
    setpgid(0, 0);
    int keep[] = {pidfd, report, sock, null};
    sv_init_close_fds_except(keep, SV_ARRAY_LEN(keep));
    /* With a terminal of its own the command gets none of the caller's
     * stdio; without -i, no stdin. */
    for (int fd = 0; null >= 0 && fd < (s->tty ? 3 : 1); fd++)
        if (dup2(null, fd) < 0) {
            sv_error(&e, errno, "dup2");
            sv_child_fail(report, 125, &e);
        }
    if (null >= 0)
        close(null); /* it is where it goes */
    if (sv_cgroup_enter(cg, getpid(), false, &e) < 0)
        sv_child_fail(report, 125, &e);
    int nsflags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID |
                  CLONE_NEWCGROUP | (s->userns_host ? 0 : CLONE_NEWUSER);
    if (setns(pidfd, nsflags) < 0) {
        sv_error(&e, errno, "cannot enter the container's namespaces");
        sv_child_fail(report, 125, &e);
    }
    close(pidfd);          /* joined: nothing the command may hold */
    exec_die_with(caller); /* again: entering a user namespace may clear it */
    /* Signals wait (blocked) until the command's pid is known; SIGCHLD as
     * waitpid needs it, whatever the caller had. */
    signal(SIGCHLD, SIG_DFL);
    exec_target = 0;
    exec_forward_signals(NULL);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &all, NULL);
    pid_t inner = fork();
    if (inner < 0) {
        sv_error(&e, errno, "fork");
        sv_child_fail(report, 125, &e);
    }
    if (inner == 0)
        exec_command_child(s, caps, report, sock);
    close(report); /* the command's copy is the one to tell its exec */
    if (sock >= 0) /* so that a command that failed before sending is seen */
        close(sock);
    exec_target = inner;
    sigprocmask(SIG_SETMASK, &none, NULL);
    int status;
    while (waitpid(inner, &status, 0) < 0)
        if (errno != EINTR)
            _exit(125);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* The command's terminal, relayed to ours until the command (through the
 * process between us, pid) is done. */
static int exec_relay(int sock, pid_t pid, bool input, sv_error_t *err)
{
    int master;
    if (sv_pty_recv_fd(sock, &master, err) < 0)
        return -1;
    if (master < 0)
        return 0; /* it failed before: its report says why */
    cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int rc = sv_pty_relay(master, input, pidfd, err);
    close(master); /* now: hangs up what a command left running holds */
    return rc;
}

/* What exec needs of the container's recorded spec o, into s (strings
 * borrowed from o; s->env is s's own). */
static int exec_spec_load(const struct sv_ctr_row *row, json_t *o, struct sv_run_spec *s,
                          sv_capset_t *caps, sv_error_t *err)
{
    json_error_t jerr;
    json_int_t recorded_caps = 0;
    int userns_host = 0, no_seccomp = 0;
    const char *workdir = NULL, *user = NULL, *hostname = NULL;
    json_t *env = NULL;
    if (json_unpack_ex(o, &jerr, 0, "{s?s, s?s, s:s, s:I, s:b, s:b, s:o}", "workdir", &workdir,
                       "user", &user, "hostname", &hostname, "caps", &recorded_caps, "userns_host",
                       &userns_host, "no_seccomp", &no_seccomp, "env", &env) < 0)
        return sv_error(err, EINVAL, "container %s: its recorded spec is incomplete: %s", row->name,
                        jerr.text);
    s->workdir = workdir;
    s->user = user;
    s->hostname = hostname ? hostname : "";
    s->env = json_strv(env);
    s->userns_host = userns_host;
    s->no_seccomp = no_seccomp;
    s->io_uring = json_is_true(json_object_get(o, "io_uring"));
    *caps = (sv_capset_t)recorded_caps;
    return 0;
}

/* Until the command (through the process between us, pid) is done:
 * signals passed on, its terminal relayed (io->tty, over sock), its report
 * read; its exit code, or the exec's failure. */
static int exec_wait(pid_t pid, int report, int sock, const struct sv_exec_io *io, int *exit_code,
                     sv_error_t *err)
{
    setpgid(pid, pid); /* as the child does: whichever runs first */
    struct sigaction old[SV_ARRAY_LEN(exec_signals)];
    exec_target = pid;
    exec_forward_signals(old);
    int exec_status = 0, status;
    sv_error_t relay_err = NULL;
    /* The master is sent just before the command's exec, whose report
     * follows. */
    int relayed = io->tty ? exec_relay(sock, pid, io->interactive, &relay_err) : 0;
    int r = sv_child_report_read(report, &exec_status, err);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    exec_target = 0;
    for (size_t i = 0; i < SV_ARRAY_LEN(exec_signals); i++)
        sigaction(exec_signals[i], &old[i], NULL);
    if (r < 0) {
        sv_error_free(&relay_err);
        *exit_code = exec_status ? exec_status : 1;
        return -1;
    }
    if (relayed < 0)
        sv_error_report(&relay_err);
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return 0;
}

int sv_exec_run(const struct sv_ctr_row *row, char **argv, int *exit_code, sv_error_t *err)
{
    struct sv_exec_io io = {.interactive = true};
    return sv_exec_run_io(row, argv, &io, exit_code, err);
}

int sv_exec_run_io(const struct sv_ctr_row *row, char **argv, const struct sv_exec_io *io,
                   int *exit_code, sv_error_t *err)
{
    if (!sv_pid_alive(row->pid, row->pid_start))
        return sv_error(err, ESRCH, "container %s is not running", row->name);
    json_error_t jerr;
    cleanup_json json_t *o = json_loads(row->spec_json, 0, &jerr);
    if (o == NULL)
        return sv_error(err, EINVAL, "container %s: its recorded spec is unreadable: %s", row->name,
                        jerr.text);
    struct sv_run_spec s = {0};
    sv_capset_t caps = 0;
    if (exec_spec_load(row, o, &s, &caps, err) < 0)
        return -1;
    cleanup_strv char **env = s.env; /* s.env's owner */
    s.argv = argv;
    s.tty = io->tty;
    s.tty_rows = io->rows;
    s.tty_cols = io->cols;
    cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, row->pid, 0);
    if (pidfd < 0)
        return sv_error(err, errno, "container %s: cannot open its init process", row->name);
    cleanup_cgroup struct sv_cgroup cg = {0};
    if (sv_cgroup_init(&cg, row->id, err) < 0)
        return -1;
    int pair[2] = {-1, -1};
    if (pipe2(pair, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    cleanup_close int report_rd = pair[0], report_wr = pair[1];
    pair[0] = pair[1] = -1;
    if (io->tty && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return sv_error(err, errno, "socketpair");
    cleanup_close int sock_ours = pair[0], sock_theirs = pair[1];
    cleanup_close int null = -1;
    if ((io->tty || !io->interactive) && (null = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
        return sv_error(err, errno, "/dev/null");
    pid_t caller = getpid();
    pid_t pid = fork();
    if (pid == 0) { /* our ends are not its to hold */
        close(report_rd);
        if (sock_ours >= 0)
            close(sock_ours);
        exec_join(&s, caps, &cg, pidfd, report_wr, caller, sock_theirs, null);
    }
    if (pid < 0)
        return sv_error(err, errno, "fork");
    /* Its ends are its own: their EOF says it is done (or exec'd). */
    sv_fd_close_now(&report_wr);
    sv_fd_close_now(&sock_theirs);
    return exec_wait(pid, report_rd, sock_ours, io, exit_code, err);
}
