/* servos run: one container from the command line. */
#include "cli.h"
#include "registry.h"
#include "container.h"
#include "logfile.h"
#include "units.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct run_opts {
    struct sv_run_spec spec;
    bool detach, remove;
    char **env;
    size_t n_env;
    const char **cap_add, **cap_drop;
    size_t n_add, n_drop;
    char *entrypoint[2];
    const char *pull;       /* missing (default), always, never */
    struct sv_log_opts log; /* -d: --log-opt max-size=, max-file= */
};

static void push(char ***v, size_t *n, char *s)
{
    *v = sv_xrealloc(*v, (*n + 2) * sizeof(**v));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

/* SRC:DST[:ro|rw]; SRC must exist (named volumes come with stacks). As
 * with docker and podman, and with a stack's volumes, SRC is a path only
 * when it starts with "/" or ".": "data:/x" never binds $PWD/data just
 * because such a directory happens to exist. */
static int parse_volume(const char *arg, struct sv_run_spec *s, sv_error_t *err)
{
    cleanup_free char *copy = sv_xstrdup(arg);
    char *src = copy, *dst = strchr(copy, ':');
    if (dst == NULL)
        return sv_error(err, 0, "volume \"%s\": expected SRC:DST[:ro]", arg);
    *dst++ = '\0';
    if (src[0] != '/' && src[0] != '.')
        return sv_error(err, 0,
                        "volume \"%s\": \"%s\" is not a path (servos run has no named volumes; "
                        "they belong to stacks): write ./%s for a directory here",
                        arg, src, src);
    char *mode = strchr(dst, ':');
    bool ro = false;
    if (mode) {
        *mode++ = '\0';
        if (strcmp(mode, "ro") == 0)
            ro = true;
        else if (strcmp(mode, "rw") != 0)
            return sv_error(err, 0, "volume \"%s\": the mode must be ro or rw, got \"%s\"", arg,
                            mode);
    }
    if (*dst != '/')
        return sv_error(err, 0, "volume \"%s\": the container path must be absolute", arg);
    char real[4096];
    if (realpath(src, real) == NULL)
        return sv_error(err, errno, "volume \"%s\": the source %s", arg, src);
    s->binds = sv_xrealloc(s->binds, (s->n_binds + 1) * sizeof(*s->binds));
    s->binds[s->n_binds++] = (struct sv_bind){sv_xstrdup(real), sv_xstrdup(dst), ro, -1, false};
    return 0;
}

static void free_opts(struct run_opts *o)
{
    for (size_t i = 0; i < o->spec.n_binds; i++) {
        free(o->spec.binds[i].source);
        free(o->spec.binds[i].target);
    }
    free(o->spec.binds);
    for (size_t i = 0; i < o->n_env; i++)
        free(o->env[i]);
    free(o->env);
    free(o->cap_add);
    free(o->cap_drop);
}

static int parse(int argc, char **argv, struct run_opts *o, sv_error_t *err)
{
    enum {
        O_CAP_ADD = 256,
        O_CAP_DROP,
        O_USERNS,
        O_NETWORK,
        O_READ_ONLY,
        O_RM,
        O_PIDS,
        O_SEC,
        O_ENTRYPOINT,
        O_PULL,
        O_LAYER_SIZE,
        O_LOG_OPT
    };
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"hostname", required_argument, NULL, 'H'},
        {"memory", required_argument, NULL, 'm'},
        {"cpus", required_argument, NULL, 'c'},
        {"pids", required_argument, NULL, O_PIDS},
        {"volume", required_argument, NULL, 'v'},
        {"env", required_argument, NULL, 'e'},
        {"workdir", required_argument, NULL, 'w'},
        {"user", required_argument, NULL, 'u'},
        {"rm", no_argument, NULL, O_RM},
        {"detach", no_argument, NULL, 'd'},
        {"network", required_argument, NULL, O_NETWORK},
        {"read-only", no_argument, NULL, O_READ_ONLY},
        {"cap-add", required_argument, NULL, O_CAP_ADD},
        {"cap-drop", required_argument, NULL, O_CAP_DROP},
        {"userns", required_argument, NULL, O_USERNS},
        {"security-opt", required_argument, NULL, O_SEC},
        {"entrypoint", required_argument, NULL, O_ENTRYPOINT},
        {"pull", required_argument, NULL, O_PULL},
        {"layer-size", required_argument, NULL, O_LAYER_SIZE},
        {"log-opt", required_argument, NULL, O_LOG_OPT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sv_run_spec *s = &o->spec;
    s->limits = (struct sv_limits){-1, -1, -1};
    sv_log_opts_init(&o->log);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:n:H:m:c:v:e:w:u:dh", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            s->name = optarg;
            break;
        case 'H':
            if (sv_hostname_check(optarg, true, err) < 0)
                return sv_error_wrap(err, "--hostname");
            s->hostname = optarg;
            break;
        case 'm':
            if (sv_parse_size(optarg, &s->limits.memory, err) < 0)
                return sv_error_wrap(err, "--memory");
            break;
        case 'c':
            if (sv_parse_cpus(optarg, &s->limits.cpus, err) < 0)
                return sv_error_wrap(err, "--cpus");
            break;
        case O_PIDS: {
            char *end;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || *end || v < 1)
                return sv_error(err, 0, "--pids: expected a whole number >= 1, got \"%s\"", optarg);
            s->limits.pids = v;
            break;
        }
        case 'v':
            if (parse_volume(optarg, s, err) < 0)
                return -1;
            break;
        case 'e':
            if (strchr(optarg, '=') == NULL) { /* -e NAME passes the host's value */
                const char *v = getenv(optarg);
                if (v == NULL)
                    break;
                push(&o->env, &o->n_env, sv_xasprintf("%s=%s", optarg, v));
            } else {
                push(&o->env, &o->n_env, sv_xstrdup(optarg));
            }
            break;
        case 'w':
            s->workdir = optarg;
            break;
        case 'u':
            s->user = optarg;
            break;
        case O_RM:
            o->remove = true;
            break;
        case 'd':
            o->detach = true;
            break;
        case O_NETWORK:
            if (strcmp(optarg, "none") == 0)
                s->network = SV_NET_NONE;
            else if (strcmp(optarg, "host") == 0)
                s->network = SV_NET_HOST;
            else
                return sv_error(err, 0, "--network: expected none or host, got \"%s\"", optarg);
            break;
        case O_READ_ONLY:
            s->read_only = true;
            break;
        case O_CAP_ADD:
            push((char ***)&o->cap_add, &o->n_add, optarg);
            break;
        case O_CAP_DROP:
            push((char ***)&o->cap_drop, &o->n_drop, optarg);
            break;
        case O_USERNS:
            if (strcmp(optarg, "host") == 0)
                s->userns_host = true;
            else if (strcmp(optarg, "auto") != 0)
                return sv_error(err, 0, "--userns: expected auto or host, got \"%s\"", optarg);
            break;
        case O_SEC:
            if (strcmp(optarg, "seccomp=unconfined") == 0)
                s->no_seccomp = true;
            else if (strcmp(optarg, "io_uring=allow") == 0)
                s->io_uring = true;
            else
                return sv_error(err, 0,
                                "--security-opt: seccomp=unconfined or io_uring=allow, got \"%s\"",
                                optarg);
            break;
        case O_ENTRYPOINT: /* "" clears the image's */
            o->entrypoint[0] = optarg[0] ? optarg : NULL;
            s->entrypoint = o->entrypoint;
            break;
        case O_LAYER_SIZE:
            if (sv_parse_size(optarg, &s->layer_size, err) < 0)
                return sv_error_wrap(err, "--layer-size");
            if (s->layer_size < (1 << 20))
                return sv_error(err, 0, "--layer-size must be at least 1 MB, got \"%s\"", optarg);
            break;
        case O_PULL:
            if (strcmp(optarg, "missing") && strcmp(optarg, "always") && strcmp(optarg, "never"))
                return sv_error(err, 0, "--pull: expected missing, always or never, got \"%s\"",
                                optarg);
            o->pull = optarg;
            break;
        case O_LOG_OPT: /* podman's and Docker's names */
            if (sv_log_opt_parse(&o->log, optarg, err) < 0)
                return sv_error_wrap(err, "--log-opt");
            break;
        case 'h':
            return 1;
        default: {
            cleanup_free char *what = sv_cli_option_error(c, argv);
            return sv_error(err, 0, "%s", what);
        }
        }
    }
    if (argc - optind < 1)
        return sv_error(err, 0, "which IMAGE? (host, a rootfs directory, alpine:3.20, ...)");
    s->image = argv[optind];
    s->argv = argv + optind + 1;
    s->env = o->env;
    s->cap_add = o->cap_add;
    s->cap_drop = o->cap_drop;
    return 0;
}

static volatile pid_t forward_to;
static volatile int interrupts;

/* pid 1 of a namespace ignores signals it has no handler for, so a third
 * Ctrl-C kills it, as users expect of a foreground command. */
static void forward(int sig)
{
    if (forward_to <= 0)
        return;
    if (sig == SIGINT && ++interrupts >= 3)
        sig = SIGKILL;
    kill(forward_to, sig);
}

/* Wait for the container, record how it ended, and clean up after it. */
static void finish(struct sv_store *st, struct sv_container *c, bool remove, int *code)
{
    bool oom = false;
    sv_container_wait(c, code, &oom);
    sv_error_t err = NULL;
    /* Nothing runs any more: the cgroup goes now, not at rm (the OOM
     * verdict was read above). */
    if (sv_cgroup_destroy(&c->cg, &err) < 0)
        sv_error_report(&err);
    if (sv_store_set_exited(st, c->id, *code, oom, &err) < 0)
        sv_error_report(&err);
    if (oom)
        fprintf(stderr, "servos: %s was killed: out of memory (limit %lld MB)\n", c->name,
                (long long)(c->spec.limits.memory >> 20));
    if (remove && sv_container_remove(st, c->id, &err) < 0)
        sv_error_report(&err);
}

static int run_attached(struct sv_store *st, struct run_opts *o)
{
    sv_error_t err = NULL;
    struct sv_container *c = NULL;
    if (sv_container_create(st, &o->spec, &c, &err) < 0)
        return sv_error_report(&err) ? 125 : 125;
    struct sigaction sa = {.sa_handler = forward, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < SV_ARRAY_LEN(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
    int fds[3] = {0, 1, 2}, exec_status;
    if (sv_container_start(st, c, fds, &exec_status, &err) < 0) {
        sv_error_report(&err);
        sv_container_remove(st, c->id, NULL); /* a failed start leaves nothing */
        sv_container_free(c);
        return exec_status ? exec_status : 125;
    }
    forward_to = c->pid;
    int code;
    finish(st, c, o->remove, &code);
    forward_to = 0;
    sv_container_free(c);
    return code;
}

/* Until the container's init exits: copy its output into its log. A
 * full disk drops output rather than stalling the container. */
static void copy_output(struct sv_container *c, struct sv_log *log)
{
    int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    for (;;) {
        struct pollfd p[2] = {{sv_log_fd(log), POLLIN, 0}, {pidfd, POLLIN, 0}};
        int n = poll(p, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 100);
        if (n < 0 && errno != EINTR)
            break;
        sv_error_t err = NULL;
        if (sv_log_pump(log, &err) < 0)
            sv_error_free(&err);
        siginfo_t si = {0};
        if (p[1].revents ||
            (pidfd < 0 && waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
             si.si_pid == c->pid))
            break;
    }
    sv_error_t err = NULL; /* what it wrote last */
    if (sv_log_pump(log, &err) < 0)
        sv_error_free(&err);
    if (pidfd >= 0)
        close(pidfd);
}

/* -d: a monitor process (ours, forked) creates and starts the container,
 * tells the CLI the id or the error, then waits to record the exit. */
static int run_detached(struct run_opts *o)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        perror("servos: pipe");
        return 125;
    }
    fflush(NULL);
    pid_t m = fork();
    if (m < 0) {
        perror("servos: fork");
        return 125;
    }
    if (m == 0) {
        close(pfd[0]);
        setsid();
        signal(SIGINT, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        /* Reap the container even when it is not our direct child any more. */
        sv_error_t err = NULL;
        struct sv_store *st = NULL;
        struct sv_container *c = NULL;
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (sv_store_open(&st, &err) < 0 || sv_container_create(st, &o->spec, &c, &err) < 0) {
            dprintf(pfd[1], "125 %s", err->msg);
            _exit(125);
        }
        /* The container writes into its log's FIFO; we copy that into
         * capped, rotated files while it runs (logfile.h). */
        cleanup_free char *logpath = NULL;
        struct sv_log *log = NULL;
        int out = sv_container_log_path(c, &logpath, &err) < 0 ||
                          sv_log_open(logpath, &o->log, false, &log, &err) < 0
                      ? -1
                      : sv_log_writer(log, &err);
        int fds[3] = {null, out, out}, exec_status = 0;
        if (out < 0 || sv_container_start(st, c, fds, &exec_status, &err) < 0) {
            dprintf(pfd[1], "%d %s", exec_status ? exec_status : 125,
                    err ? err->msg : "cannot open the log");
            sv_container_remove(st, c->id, NULL);
            _exit(125);
        }
        close(out);
        dprintf(pfd[1], "0 %s", c->id);
        close(pfd[1]);
        for (int fd = 0; fd < 3; fd++)
            dup2(null, fd);
        copy_output(c, log);
        int code;
        finish(st, c, o->remove, &code);
        sv_log_close(log);
        sv_store_close(st);
        _exit(0);
    }
    close(pfd[1]);
    char buf[1200];
    size_t len = 0;
    ssize_t n;
    while (len < sizeof(buf) - 1 && (n = read(pfd[0], buf + len, sizeof(buf) - 1 - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        len += (size_t)n;
    }
    close(pfd[0]);
    buf[len] = '\0';
    char *msg = strchr(buf, ' ');
    int status = len ? atoi(buf) : 125;
    if (status == 0 && msg) {
        printf("%s\n", msg + 1);
        return 0;
    }
    fprintf(stderr, "servos: %s\n", msg ? msg + 1 : "the container monitor died");
    waitpid(m, NULL, WNOHANG);
    return status;
}

int sv_cmd_run(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("run");
    struct run_opts o = {0};
    sv_error_t err = NULL;
    int rc = parse(argc, argv, &o, &err);
    if (rc == 1) {
        free_opts(&o);
        return sv_cli_usage(v, false);
    }
    if (rc < 0) {
        sv_cli_misuse(v, "%s", err->msg);
        sv_error_free(&err);
        free_opts(&o);
        return 125;
    }
    const char *img = o.spec.image;
    bool ref = strcmp(img, "host") && img[0] != '/' && img[0] != '.' && access(img, F_OK) < 0;
    if (ref && o.pull && strcmp(o.pull, "always") == 0) {
        char digest[SV_DIGEST_LEN + 1];
        rc = sv_registry_pull(img, false, digest, &err);
    } else if (ref && !(o.pull && strcmp(o.pull, "never") == 0)) {
        rc = sv_image_ensure(img, false, &err);
    }
    if (rc < 0) {
        sv_error_report(&err);
        free_opts(&o);
        return 125;
    }
    if (o.detach) {
        rc = run_detached(&o);
    } else {
        struct sv_store *st = NULL;
        if (sv_store_open(&st, &err) < 0) {
            free_opts(&o);
            sv_error_report(&err);
            return 125;
        }
        rc = run_attached(st, &o);
        sv_store_close(st);
    }
    free_opts(&o);
    return rc;
}
