/* Container mode (isolation.mode container, docker, sandbox): a handler run
 * is a servos container of its own (`servos run --rm`), on the service's
 * network (the stack's) or, with network_isolation, none. Everything but
 * the command, its environment and its working directory comes from the
 * graph. */
#include "proserve/pgateway_int.h"

#include "board/bproserve.h"
#include "core/statedir.h"
#include "core/store.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>

/* Handler containers are containers of their own, outside the service's
 * cgroup and its pids limit: at most CONTAINERS_MAX of a service run at
 * once (so CONTAINERS_MAX times the pids limit in all); a run waits for a
 * turn, one of as many locks, held until this process ends. */
#define CONTAINERS_MAX 64

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

/* The container to remove when the run must end. */
struct ctr_name {
    char *self; /* the servos binary */
    const char *name;
};

static void remove_container(void *arg)
{
    const struct ctr_name *c = arg;
    char *rm[] = {c->self, "--root", (char *)sv_state_root(), "rm", "-f", (char *)c->name, NULL};
    cleanup_close int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    int nul[3] = {devnull, devnull, devnull};
    pid_t r = spawn(rm, nul);
    while (r > 0 && waitpid(r, NULL, 0) < 0 && errno == EINTR)
        ;
}

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
            cleanup_close int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
            if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) {
                fd = -1; /* kept open, never closed: the turn is ours until we exit */
                return 0;
            }
        }
        struct pollfd p = {conn, POLLIN, 0}; /* a kill, or the service host gone */
        if (sv_now_s() > end || poll(&p, 1, tries < 50 ? 2 : 20) > 0)
            return sv_error(err, EAGAIN, "%d handler containers of this service run already",
                            CONTAINERS_MAX);
    }
}

/* Without network_isolation the handler joins the service's network (the
 * stack's): servos run --network joined, started in the service's network
 * namespace, makes none of its own (and gets no host /sys). Sets *hosts to
 * the stack's hosts file when there is one. */
static int join_network(const struct gw_run *run, char **hosts, sv_error_t *err)
{
    cleanup_close int netfd = (int)syscall(SYS_pidfd_open, run->peer, 0);
    if (netfd < 0 || setns(netfd, CLONE_NEWNET) < 0)
        return sv_error(err, errno, "cannot enter the service's network");
    cleanup_free char *dir = sv_statedir_stack(run->stack);
    *hosts = sv_xasprintf("%s/hosts", dir);
    if (access(*hosts, R_OK) < 0) {
        free(*hosts);
        *hosts = NULL;
    }
    return 0;
}

/* The strings servos run's command line points into. */
struct ctr_args {
    char name[128], memory[32], pids[32], cpus[32];
    char *vol_base, *vol_self, *vol_hosts, *vol_cache;
    const char *image; /* a board mode's toolchain image, else NULL */
};

static void ctr_args_clear(struct ctr_args *a)
{
    free(a->vol_base);
    free(a->vol_self);
    free(a->vol_hosts);
    free(a->vol_cache);
}

/* A board mode's handler runs in the board's toolchain image, with the
 * family's build cache (arduino keeps its firmware there). */
static int board_target(const struct gw_run *run, struct ctr_args *a, sv_error_t *err)
{
    if (!gw_spec_board_mode(run->s))
        return 0;
    cleanup_free char *cache = NULL;
    if (sv_bproserve_target(gw_spec_mode(run->s), run->s->platform, run->s->board, &a->image,
                            &cache, err) < 0)
        return -1;
    a->vol_cache = sv_xasprintf("%s:/cache", cache);
    return 0;
}

/* servos run -i --rm ... IMAGE COMMAND: the graph's image, limits, network
 * and mounts, the request's command and environment. */
static char **run_argv(const struct gw_run *run, const struct gw_limits *lim, char *self,
                       const char *hosts, struct ctr_args *a)
{
    const char *base = gw_spec_base_dir(run->s);
    const char *image = a->image                ? a->image
                        : gw_spec_image(run->s) ? gw_spec_image(run->s)
                                                : "host";
    size_t n_env = 0, n_argv = 0;
    while (run->rq->env[n_env])
        n_env++;
    while (run->rq->argv[n_argv])
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
    argv[k++] = a->name;
    argv[k++] = "--network";
    argv[k++] = lim->no_network ? "none" : "joined"; /* the service's, entered before */
    if (lim->private_fs)
        argv[k++] = "--read-only";
    if (lim->memory > 0) {
        snprintf(a->memory, sizeof(a->memory), "%lld", (long long)lim->memory);
        argv[k++] = "--memory";
        argv[k++] = a->memory;
    }
    snprintf(a->pids, sizeof(a->pids), "%lld", (long long)lim->pids);
    argv[k++] = "--pids";
    argv[k++] = a->pids;
    if (gw_spec_cpus(run->s, a->cpus, sizeof(a->cpus))) {
        argv[k++] = "--cpus";
        argv[k++] = a->cpus;
    }
    a->vol_base = base ? sv_xasprintf("%s:%s:ro", base, base) : NULL;
    a->vol_self = sv_xasprintf("%s:/.servos/servos:ro", self);
    a->vol_hosts = hosts ? sv_xasprintf("%s:/etc/hosts:ro", hosts) : NULL;
    if (a->vol_base) {
        argv[k++] = "-v";
        argv[k++] = a->vol_base;
        argv[k++] = "-w";
        argv[k++] = (char *)base;
    }
    argv[k++] = "-v";
    argv[k++] = a->vol_self;
    if (a->vol_cache) {
        argv[k++] = "-v";
        argv[k++] = a->vol_cache;
    }
    if (a->vol_hosts) {
        argv[k++] = "-v";
        argv[k++] = a->vol_hosts;
    }
    for (size_t i = 0; i < n_env; i++) { /* each NAME=VALUE (sv_gateway_parse) */
        argv[k++] = "-e";
        argv[k++] = run->rq->env[i];
    }
    argv[k++] = "--";
    argv[k++] = (char *)image;
    for (size_t i = 0; i < n_argv; i++)
        argv[k++] = run->rq->argv[i];
    return argv;
}

int gw_ctr_run(struct gw_run *run, sv_error_t *err)
{
    struct gw_limits lim;
    gw_spec_limits(run->s, &lim);
    if (run->kill_now)
        return sv_error(err, ECANCELED, "the run was ended before it began");
    if (take_turn(run->conn, run->stack, run->s->name, lim.deadline - 10, err) < 0)
        return -1;
    cleanup_free char *self = realpath("/proc/self/exe", NULL);
    if (self == NULL)
        return sv_error(err, errno, "cannot find the servos binary");
    cleanup_free char *hosts = NULL;
    if (!lim.no_network && join_network(run, &hosts, err) < 0)
        return -1;
    struct ctr_args a = {0};
    if (board_target(run, &a, err) < 0) {
        ctr_args_clear(&a);
        return -1;
    }
    snprintf(a.name, sizeof(a.name), "%s-%s-h%d", run->stack, run->s->name, (int)getpid());
    cleanup_free char **argv = run_argv(run, &lim, self, hosts, &a);
    pid_t pid = spawn(argv, run->stdio);
    int e = errno;
    gw_close_stdio(run->stdio); /* only the container holds them now: its end is their EOF */
    int code = 127 << 8;
    if (pid > 0) {
        struct ctr_name rm = {self, a.name};
        code = gw_watch(run, pid, NULL, lim.deadline, remove_container, &rm);
    }
    ctr_args_clear(&a);
    if (pid < 0)
        return sv_error(err, e, "fork");
    return code;
}
