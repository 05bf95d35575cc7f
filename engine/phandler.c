#include "phandler.h"

#include "pgateway.h"
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOBODY        65534
#define ERR_KEEP      4096
#define OUT_MAX       (16u << 20)
#define MEM_SAMPLE_MS 5

static struct sock_fprog no_net; /* socket(AF_INET*, AF_PACKET, AF_NETLINK) -> EACCES */

int sv_handler_init(sv_error_t *err)
{
    if (no_net.filter)
        return 0;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (ctx == NULL)
        return sv_error(err, 0, "libseccomp: cannot create a filter");
    static const int families[] = {AF_INET, AF_INET6, AF_PACKET, AF_NETLINK};
    int rc = 0;
    for (size_t i = 0; i < SV_ARRAY_LEN(families) && rc == 0; i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
                              SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)families[i]));
    /* The filter as BPF, exported once: a forked child of a threaded
     * process may not allocate, so it only installs this. */
    int fd = rc == 0 ? memfd_create("seccomp", MFD_CLOEXEC) : -1;
    if (fd >= 0 && seccomp_export_bpf(ctx, fd) == 0) {
        off_t len = lseek(fd, 0, SEEK_END);
        struct sock_filter *prog = sv_xmalloc((size_t)len);
        if (pread(fd, prog, (size_t)len, 0) == len) {
            no_net.filter = prog;
            no_net.len = (unsigned short)(len / (off_t)sizeof(*prog));
        } else {
            free(prog);
        }
    }
    if (fd >= 0)
        close(fd);
    seccomp_release(ctx);
    return no_net.filter ? 0 : sv_error(err, 0, "cannot build the network isolation filter");
}

/* Resident bytes of pid (0 when gone). */
static int64_t rss_of(pid_t pid)
{
    char path[64], buf[128];
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long long size = 0, resident = 0;
    sscanf(buf, "%lld %lld", &size, &resident);
    return resident * sysconf(_SC_PAGESIZE);
}

/* In the child, between fork and exec: system calls only (the parent may
 * have threads, so no allocation). Never returns. */
static void child(char *const argv[], char *const env[], const char *cwd, const char *tmp,
                  const struct sv_handler_limits *lim, int in, int out, int errfd)
{
    setpgid(0, 0);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
        _exit(126);
    if (chdir(cwd) < 0 && chdir(tmp) < 0)
        _exit(126);
    struct rlimit core = {0, 0}, files = {1024, 1024};
    setrlimit(RLIMIT_CORE, &core);
    setrlimit(RLIMIT_NOFILE, &files);
    if (lim->memory > 0) {
        /* The address space backstops the RSS watch in the parent: far
         * enough above the limit that the watch is what kills. */
        rlim_t as = (rlim_t)lim->memory * 4 + (256u << 20);
        struct rlimit r = {as, as};
        setrlimit(RLIMIT_AS, &r);
    }
    if (lim->drop_privilege && getuid() == 0) {
        if (syscall(SYS_setgroups, 0, NULL) < 0 ||
            syscall(SYS_setresgid, NOBODY, NOBODY, NOBODY) < 0 ||
            syscall(SYS_setresuid, NOBODY, NOBODY, NOBODY) < 0)
            _exit(126);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        _exit(126);
    if (lim->no_network && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &no_net) < 0)
        _exit(126);
    execve(argv[0], argv, env);
    _exit(127);
}

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

/* The gateway's "exit CODE" line, within the time limit; closing the
 * connection early has the gateway remove the container. */
static void gateway_wait(int gw, double start, const struct sv_handler_limits *lim,
                         struct sv_handler_result *res, int *status)
{
    char line[64];
    size_t len = 0;
    while (!res->timed_out && len < sizeof(line) - 1) {
        double left = lim->timeout > 0 ? start + lim->timeout - sv_now_s() : 3600;
        struct pollfd p = {gw, POLLIN, 0};
        if (left <= 0 || poll(&p, 1, (int)(left * 1000) + 1) == 0) {
            res->timed_out = true;
            break;
        }
        ssize_t n = read(gw, line + len, sizeof(line) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(line, '\n', len))
            break;
    }
    line[len] = '\0';
    int code = 127;
    if (!res->timed_out && sscanf(line, "exit %d", &code) != 1)
        code = 127;
    close(gw);
    *status = (code & 0xff) << 8; /* as waitpid would say it */
    /* servos run says so when the container's memory limit killed it. */
    if (code == 137 && strstr(res->err, "was killed: out of memory"))
        res->out_of_memory = true;
}

int sv_handler_run(char *const argv[], char *const env[], const char *cwd, const char *input,
                   size_t input_len, const struct sv_handler_limits *lim,
                   struct sv_handler_result *res, sv_error_t *err)
{
    memset(res, 0, sizeof(*res));
    res->out = sv_xstrdup("");
    res->err = sv_xstrdup("");
    /* A handler container has a /tmp of its own; a process gets this. */
    char tmp[] = "/tmp/proserve-XXXXXX";
    if (!lim->container && mkdtemp(tmp) == NULL)
        return sv_error(err, errno, "cannot make a temporary directory for the handler");
    if (!lim->container && lim->drop_privilege && getuid() == 0 && chown(tmp, NOBODY, NOBODY) < 0) {
        sv_rmtree(tmp, NULL);
        return sv_error(err, errno, "cannot hand %s to the handler", tmp);
    }
    /* TMPDIR and HOME point into the private directory. */
    size_t n_env = 0;
    while (env && env[n_env])
        n_env++;
    char **full_env = sv_xcalloc(n_env + 3, sizeof(char *));
    memcpy(full_env, env, n_env * sizeof(char *));
    full_env[n_env] = sv_xasprintf("TMPDIR=%s", tmp);
    full_env[n_env + 1] = sv_xasprintf("HOME=%s", tmp);

    int pin[2], pout[2], perr[2];
    if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
        free(full_env[n_env]);
        free(full_env[n_env + 1]);
        free(full_env);
        sv_rmtree(tmp, NULL);
        return sv_error(err, errno, "pipe");
    }
    double start = sv_now_s();
    pid_t pid = 0;
    int gw = -1;
    if (lim->container) {
        /* The handler's own container: its ends of the pipes go with the
         * request; the connection reports its exit. */
        gw = sv_gateway_start(argv, env, (int[]){pin[0], pout[1], perr[1]}, err);
        pid = gw < 0 ? -1 : 0;
    } else {
        pid = fork();
        if (pid == 0)
            child(argv, full_env, cwd, tmp, lim, pin[0], pout[1], perr[1]);
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    free(full_env[n_env]);
    free(full_env[n_env + 1]);
    free(full_env);
    if (pid < 0) {
        close(pin[1]);
        close(pout[0]);
        close(perr[0]);
        sv_rmtree(tmp, NULL);
        return lim->container ? -1 : sv_error(err, errno, "fork");
    }
    fcntl(pin[1], F_SETFL, O_NONBLOCK);
    size_t written = 0;
    if (input_len == 0) {
        close(pin[1]);
        pin[1] = -1;
    }
    bool out_open = true, err_open = true;
    char buf[65536];
    while (out_open || err_open) {
        struct pollfd fds[3] = {{pout[0], out_open ? POLLIN : 0, 0},
                                {perr[0], err_open ? POLLIN : 0, 0},
                                {pin[1], POLLOUT, 0}};
        int wait_ms = pid > 0 && lim->memory > 0 ? MEM_SAMPLE_MS : 100;
        if (lim->timeout > 0) {
            double left = start + lim->timeout - sv_now_s();
            if (left <= 0) {
                res->timed_out = true;
                break;
            }
            wait_ms = left * 1000 < wait_ms ? (int)(left * 1000) + 1 : wait_ms;
        }
        int r = poll(fds, pin[1] >= 0 ? 3 : 2, wait_ms);
        if (r < 0 && errno != EINTR)
            break;
        if (pid > 0 && lim->memory > 0 && rss_of(pid) > lim->memory) {
            res->out_of_memory = true;
            break;
        }
        if (pin[1] >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = write(pin[1], input + written, input_len - written);
            if (w > 0)
                written += (size_t)w;
            if (w < 0 && errno != EAGAIN) /* it stopped reading: fine */
                written = input_len;
            if (written == input_len) {
                close(pin[1]);
                pin[1] = -1;
            }
        }
        for (int i = 0; i < 2; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t got = read(fds[i].fd, buf, sizeof(buf));
            if (got <= 0) {
                *(i ? &err_open : &out_open) = false;
                continue;
            }
            if (i == 0 && res->out_len + (size_t)got > OUT_MAX) {
                out_open = false; /* an answer this big is a failure */
                res->wait_status = -1;
                continue;
            }
            if (i == 0)
                append(&res->out, &res->out_len, buf, (size_t)got, 0);
            else
                append(&res->err, &res->err_len, buf, (size_t)got, ERR_KEEP);
        }
    }
    int status = 0;
    if (gw >= 0) {
        gateway_wait(gw, start, lim, res, &status);
        goto done;
    }
    if (res->timed_out || res->out_of_memory)
        kill(-pid, SIGKILL);
    /* It closed its output but may still run: the time limit holds. */
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        if (lim->timeout > 0 && sv_now_s() > start + lim->timeout && !res->timed_out) {
            res->timed_out = true;
            kill(-pid, SIGKILL);
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    /* Whatever the handler left behind in its process group goes too. */
    kill(-pid, SIGKILL);
done:
    if (res->wait_status == 0)
        res->wait_status = status;
    res->seconds = sv_now_s() - start;
    if (pin[1] >= 0)
        close(pin[1]);
    close(pout[0]);
    close(perr[0]);
    if (!lim->container)
        sv_rmtree(tmp, NULL);
    return 0;
}

void sv_handler_result_free(struct sv_handler_result *res)
{
    free(res->out);
    free(res->err);
    memset(res, 0, sizeof(*res));
}
