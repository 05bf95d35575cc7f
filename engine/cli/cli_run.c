/* servos run: one container from the command line. */
#include "cli/cli.h"
#include "runtime/container.h"
#include "log/logfile.h"
#include "runtime/pty.h"
#include "image/registry.h"
#include "runtime/runnet.h"
#include "graph/units.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct run_opts {
    struct sv_run_spec spec;
    bool detach, remove, interactive;
    char **env;
    size_t n_env;
    const char **cap_add, **cap_drop;
    size_t n_add, n_drop;
    char *entrypoint[2];
    const char *pull;       /* missing (default), always, never */
    struct sv_log_opts log; /* -d: --log-opt max-size=, max-file= */
    /* -p, --env-file, --label, --restart */
    struct sv_port_spec *ports;
    size_t n_ports;
    char **env_file; /* its NAME=VALUE lines, in order; -e wins over them */
    size_t n_env_file;
    char **labels;
    size_t n_labels;
    enum sv_restart_policy restart;
    int restart_max; /* on-failure:N; 0: no limit */
    char restart_text[32];
    bool network_given;
};

static void push(char ***v, size_t *n, char *s)
{
    *v = sv_xrealloc(*v, (*n + 2) * sizeof(**v));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

/* SRC:DST[:OPTS]; SRC must exist (named volumes come with stacks). As
 * with docker and podman, and with a stack's volumes, SRC is a path only
 * when it starts with "/" or ".": "data:/x" never binds $PWD/data just
 * because such a directory happens to exist. OPTS: ro or rw, and U
 * (podman's: hand SRC to the container's user first), comma-separated. */
static int parse_volume(const char *arg, struct sv_run_spec *s, sv_error_t *err)
{
    cleanup_free char *copy = sv_xstrdup(arg);
    char *src = copy, *dst = strchr(copy, ':');
    if (dst == NULL)
        return sv_error(err, 0, "volume \"%s\": expected SRC:DST[:OPTIONS]", arg);
    *dst++ = '\0';
    if (src[0] != '/' && src[0] != '.')
        return sv_error(err, 0,
                        "volume \"%s\": \"%s\" is not a path (servos run has no named volumes; "
                        "they belong to stacks): write ./%s for a directory here",
                        arg, src, src);
    char *mode = strchr(dst, ':');
    bool ro = false, chown = false;
    if (mode) {
        *mode++ = '\0';
        char *save = NULL;
        for (char *o = strtok_r(mode, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
            if (strcmp(o, "ro") == 0 || strcmp(o, "rw") == 0)
                ro = strcmp(o, "ro") == 0;
            else if (strcmp(o, "U") == 0)
                chown = true;
            else
                return sv_error(err, 0,
                                "volume \"%s\": unknown option \"%s\" (expected ro, rw or U, "
                                "comma-separated)",
                                arg, o);
        }
    }
    if (*dst != '/')
        return sv_error(err, 0, "volume \"%s\": the container path must be absolute", arg);
    char real[4096];
    if (realpath(src, real) == NULL)
        return sv_error(err, errno, "volume \"%s\": the source %s", arg, src);
    s->binds = sv_xrealloc(s->binds, (s->n_binds + 1) * sizeof(*s->binds));
    s->binds[s->n_binds++] = (struct sv_bind){.source = sv_xstrdup(real),
                                              .target = sv_xstrdup(dst),
                                              .read_only = ro,
                                              .idmap_fd = -1,
                                              .chown = chown};
    return 0;
}

/* --tmpfs PATH[:OPTIONS]: noexec unless OPTIONS say exec, as Docker and
 * podman mount one; unsized, it gets the container's layer size (see
 * SV_LAYER_SIZE_DEFAULT). The options are checked with the spec. */
static int parse_tmpfs(const char *arg, struct sv_run_spec *s, sv_error_t *err)
{
    const char *colon = strchr(arg, ':');
    cleanup_free char *target = colon ? sv_xstrndup(arg, (size_t)(colon - arg)) : sv_xstrdup(arg);
    if (target[0] != '/')
        return sv_error(err, 0, "--tmpfs \"%s\": the path must be absolute", arg);
    char *opts = colon && colon[1] ? sv_xasprintf("noexec,%s", colon + 1) : sv_xstrdup("noexec");
    s->binds = sv_xrealloc(s->binds, (s->n_binds + 1) * sizeof(*s->binds));
    s->binds[s->n_binds++] =
        (struct sv_bind){.source = opts, .target = sv_steal(target), .idmap_fd = -1, .tmpfs = true};
    return 0;
}

/* -p [IP:][HOST:]CONTAINER[/tcp], each a port or a range. */
static int parse_publish(const char *arg, struct run_opts *o, sv_error_t *err)
{
    struct sv_port_spec ports[64];
    size_t n;
    if (sv_parse_ports(arg, ports, SV_ARRAY_LEN(ports), &n, err) < 0)
        return sv_error_wrap(err, "-p");
    if (strcmp(ports[0].protocol, "tcp") != 0)
        return sv_error(err, 0,
                        "-p %s: only TCP ports can be published (as in a stack: the relay "
                        "carries TCP)",
                        arg);
    o->ports = sv_xrealloc(o->ports, (o->n_ports + n) * sizeof(*o->ports));
    memcpy(o->ports + o->n_ports, ports, n * sizeof(*ports));
    o->n_ports += n;
    return 0;
}

/* --env-file: Docker's format. NAME=VALUE lines, the value taken as it is
 * (no quotes, no expansion); a line starting with # is a comment; blank
 * lines are skipped; a bare NAME passes the caller's value, or nothing
 * when the caller has none. Any file that reads (a pipe from <(...) too),
 * up to 1 MB: read with that bound, so /dev/zero is an error, not all of
 * the memory. */
#define ENV_FILE_MAX (1 << 20)
static int read_env_file(const char *path, struct run_opts *o, sv_error_t *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return sv_error(err, errno, "--env-file %s", path);
    cleanup_free char *text = sv_xmalloc(ENV_FILE_MAX + 1);
    size_t len = 0;
    for (ssize_t n; len <= ENV_FILE_MAX; len += (size_t)n) {
        n = read(fd, text + len, ENV_FILE_MAX + 1 - len);
        if (n < 0 && errno == EINTR)
            n = 0;
        else if (n < 0)
            return sv_error(err, errno, "--env-file %s", path);
        else if (n == 0)
            break;
    }
    if (len > ENV_FILE_MAX)
        return sv_error(err, 0, "--env-file %s: larger than 1 MB", path);
    text[len] = '\0';
    if (strlen(text) != len)
        return sv_error(err, 0, "--env-file %s: a NUL byte (not a text file?)", path);
    int no = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        else if (*line == '\0')
            break;
        no++;
        line[strcspn(line, "\r")] = '\0';
        char *p = line;
        if (no == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0) /* a UTF-8 byte order mark */
            p += 3;
        p += strspn(p, " \t\v\f");
        if (*p == '\0' || *p == '#')
            continue;
        size_t name_len = strcspn(p, "=");
        bool bare = p[name_len] == '\0';
        if (bare) /* trailing blanks are no part of a bare name */
            while (name_len > 0 && strchr(" \t\v\f", p[name_len - 1]))
                p[--name_len] = '\0';
        if (name_len == 0)
            return sv_error(err, 0, "--env-file %s:%d: no variable name before \"=\"", path, no);
        if (strcspn(p, " \t\v\f") < name_len)
            return sv_error(err, 0, "--env-file %s:%d: the name \"%.*s\" contains a blank", path,
                            no, (int)name_len, p);
        if (!bare)
            push(&o->env_file, &o->n_env_file, sv_xstrdup(p));
        else if (getenv(p))
            push(&o->env_file, &o->n_env_file, sv_xasprintf("%s=%s", p, getenv(p)));
    }
    return 0;
}

/* The name of a NAME=VALUE entry is the same as another's. */
static bool same_name(const char *a, const char *b)
{
    size_t n = strcspn(a, "=");
    return strncmp(a, b, n) == 0 && b[n] == '=';
}

/* The environment: --env-file's entries, then -e's; a later entry of a
 * name replaces an earlier one, and -e wins over any file (as Docker). */
static void merge_env(struct run_opts *o)
{
    char **all = sv_xcalloc(o->n_env_file + o->n_env + 1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; i < o->n_env_file + o->n_env; i++) {
        char *e = i < o->n_env_file ? o->env_file[i] : o->env[i - o->n_env_file];
        size_t k = 0;
        while (k < n && !same_name(all[k], e))
            k++;
        if (k == n)
            n++;
        else
            free(all[k]);
        all[k] = sv_xstrdup(e);
    }
    for (size_t i = 0; i < o->n_env; i++)
        free(o->env[i]);
    free(o->env);
    o->env = all;
    o->n_env = n;
}

/* --label KEY[=VALUE] (KEY alone: an empty value). */
static int add_label(const char *arg, struct run_opts *o, sv_error_t *err)
{
    if (arg[0] == '\0' || arg[0] == '=')
        return sv_error(err, 0, "--label \"%s\": expected KEY=VALUE (or KEY)", arg);
    for (const char *c = arg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return sv_error(err, 0, "--label \"%s\": a control character", arg);
    push(&o->labels, &o->n_labels, strchr(arg, '=') ? sv_xstrdup(arg) : sv_xasprintf("%s=", arg));
    return 0;
}

/* Options that make no sense together, each said in one line. */
static int check_options(struct run_opts *o, sv_error_t *err)
{
    struct sv_run_spec *s = &o->spec;
    if (o->n_ports && s->network == SV_NET_HOST)
        return sv_error(err, 0,
                        "-p with --network host: the container uses the host's ports already "
                        "(drop -p)");
    if (o->n_ports && o->network_given && s->network == SV_NET_NONE)
        return sv_error(err, 0,
                        "-p with --network none: a container without a network has no port to "
                        "publish");
    if (o->restart != SV_RESTART_NO && !o->detach)
        return sv_error(err, 0,
                        "--restart needs -d: its monitor restarts the container; an attached run "
                        "ends with its command");
    if (o->restart != SV_RESTART_NO && o->remove)
        return sv_error(err, 0,
                        "--restart and --rm cannot go together: --rm removes the container when "
                        "it exits");
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
    free(o->ports);
    sv_strv_free(o->env_file);
    sv_strv_free(o->labels);
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
        O_LOG_OPT,
        O_TMPFS,
        O_ENV_FILE,
        O_RESTART,
        O_STOP_SIGNAL,
        O_STOP_TIMEOUT,
        O_INIT,
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
        {"interactive", no_argument, NULL, 'i'},
        {"tty", no_argument, NULL, 't'},
        {"init", no_argument, NULL, O_INIT},
        {"help", no_argument, NULL, 'h'},
        {"publish", required_argument, NULL, 'p'},
        {"tmpfs", required_argument, NULL, O_TMPFS},
        {"env-file", required_argument, NULL, O_ENV_FILE},
        {"label", required_argument, NULL, 'l'},
        {"restart", required_argument, NULL, O_RESTART},
        {"stop-signal", required_argument, NULL, O_STOP_SIGNAL},
        {"stop-timeout", required_argument, NULL, O_STOP_TIMEOUT},
        {NULL, 0, NULL, 0},
    };
    struct sv_run_spec *s = &o->spec;
    s->limits = (struct sv_limits){-1, -1, -1};
    sv_log_opts_init(&o->log);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:n:H:m:c:v:e:w:u:dhp:l:it", opts, NULL)) != -1) {
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
        case 'i':
            o->interactive = true;
            break;
        case 't':
            s->tty = true;
            break;
        case O_INIT:
            s->init = true;
            break;
        case O_NETWORK:
            o->network_given = true;
            if (strcmp(optarg, "none") == 0)
                s->network = SV_NET_NONE;
            else if (strcmp(optarg, "host") == 0)
                s->network = SV_NET_HOST;
            else if (strcmp(optarg, "joined") == 0) /* ours, not the host's (ProServe) */
                s->network = SV_NET_HOST, s->net_joined = true;
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
        case 'p':
            if (parse_publish(optarg, o, err) < 0)
                return -1;
            break;
        case O_TMPFS:
            if (parse_tmpfs(optarg, s, err) < 0)
                return -1;
            break;
        case O_ENV_FILE:
            if (read_env_file(optarg, o, err) < 0)
                return -1;
            break;
        case 'l':
            if (add_label(optarg, o, err) < 0)
                return -1;
            break;
        case O_RESTART:
            if (sv_parse_restart(optarg, &o->restart, &o->restart_max, err) < 0)
                return sv_error_wrap(err, "--restart");
            snprintf(o->restart_text, sizeof(o->restart_text), "%s", sv_restart_name(o->restart));
            if (o->restart_max > 0)
                snprintf(o->restart_text, sizeof(o->restart_text), "on-failure:%d", o->restart_max);
            break;
        case O_STOP_SIGNAL:
            if (sv_parse_signal(optarg, &s->stop_signal, err) < 0)
                return sv_error_wrap(err, "--stop-signal");
            break;
        case O_STOP_TIMEOUT: {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 0 || v > SV_STOP_TIMEOUT_MAX)
                return sv_error(err, 0,
                                "--stop-timeout: expected whole seconds from 0 to %d, got \"%s\"",
                                SV_STOP_TIMEOUT_MAX, optarg);
            s->stop_timeout = (int)v;
            s->stop_timeout_set = true;
            break;
        }
        default: {
            cleanup_free char *what = sv_cli_option_error(c, argv);
            return sv_error(err, 0, "%s", what);
        }
        }
    }
    if (argc - optind < 1)
        return sv_error(err, 0, "which IMAGE? (host, a rootfs directory, alpine:3.20, ...)");
    /* Typing into a terminal needs one to type from (docker says the
     * same); -t alone only shows the command's output through one. */
    if (s->tty && o->interactive && !o->detach && !isatty(STDIN_FILENO))
        return sv_error(err, 0, "the input device is not a TTY (-t needs one with -i)");
    struct winsize ws;
    if (s->tty && !o->detach && sv_pty_user_size(&ws)) {
        s->tty_rows = ws.ws_row;
        s->tty_cols = ws.ws_col;
    }
    /* Detached, no one is there to type: stdin is kept open (by the
     * container's init) for a command that reads it, as docker run -di. */
    s->stdin_open = o->detach && o->interactive;
    s->image = argv[optind];
    s->argv = argv + optind + 1;
    merge_env(o);
    s->env = o->env;
    s->cap_add = o->cap_add;
    s->cap_drop = o->cap_drop;
    s->labels = o->labels;
    s->restart = o->restart != SV_RESTART_NO ? o->restart_text : NULL;
    return check_options(o, err);
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

/* Record how the container ended and clean up after it. */
static void record_end(struct sv_store *st, struct sv_container *c, bool remove, const int *code,
                       bool oom)
{
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

/* Wait for the container, record how it ended, and clean up after it. */
static void finish(struct sv_store *st, struct sv_container *c, bool remove, int *code)
{
    bool oom = false;
    sv_container_wait(c, code, &oom);
    record_end(st, c, remove, code, oom);
}

/* -t: the container's terminal, relayed to ours until its init ends. */
static void relay_terminal(struct sv_container *c, bool input)
{
    sv_error_t err = NULL;
    int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    if (sv_pty_relay(c->pty_master, input, pidfd, &err) < 0)
        sv_error_report(&err);
    /* Closing it hangs up the container's terminal: a shell whose user's
     * window closed sees the end of its input. */
    close(c->pty_master);
    c->pty_master = -1;
    if (pidfd >= 0)
        close(pidfd);
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
    /* Without -i, stdin is /dev/null, as with docker; with -t, the
     * command's stdio is its terminal and none of ours reaches it. */
    cleanup_close int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (!o->spec.tty)
        sv_cli_stdio_writeonly();
    int fds[3] = {o->interactive ? 0 : null, 1, 2}, exec_status = 0;
    if (o->spec.tty)
        fds[0] = fds[1] = fds[2] = null;
    c->tty_attach = o->spec.tty;
    if (null < 0 || sv_container_start(st, c, fds, &exec_status, &err) < 0) {
        if (null < 0)
            sv_error(&err, errno, "/dev/null");
        sv_error_report(&err);
        sv_container_remove(st, c->id, NULL); /* a failed start leaves nothing */
        sv_container_free(c);
        return exec_status ? exec_status : 125;
    }
    forward_to = c->pid;
    if (c->pty_master >= 0)
        relay_terminal(c, o->interactive);
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

/* A line from servos itself in the container's log. */
static void log_note(struct sv_log *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void log_note(struct sv_log *log, const char *fmt, ...)
{
    sv_error_t err = NULL;
    int fd = sv_log_writer(log, &err);
    if (fd < 0) {
        sv_error_free(&err);
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    dprintf(fd, "servos: ");
    vdprintf(fd, fmt, ap);
    dprintf(fd, "\n");
    va_end(ap);
    close(fd);
    if (sv_log_pump(log, &err) < 0)
        sv_error_free(&err);
}

static bool stop_marked(const struct sv_container *c)
{
    cleanup_free char *mark = sv_container_stop_mark(c->id);
    return access(mark, F_OK) == 0;
}

/* Does the policy start the container again after it ended with code? */
static bool restart_wanted(const struct run_opts *o, int code, int restarts)
{
    switch (o->restart) {
    case SV_RESTART_ALWAYS:
    case SV_RESTART_UNLESS_STOPPED:
        return true;
    case SV_RESTART_ON_FAILURE:
        return code != 0 && (o->restart_max <= 0 || restarts < o->restart_max);
    default:
        return false;
    }
}

/* The back-off before the next start, as a stack's supervisor waits: 100
 * ms doubling to 10 s, from 100 ms again after a run of 10 s. Cut short
 * by `servos stop`'s mark; false then. */
static bool back_off(const struct sv_container *c, int restarts, int64_t ran_ms)
{
    int shift = ran_ms > 10000 ? 0 : (restarts < 7 ? restarts : 7);
    int64_t delay = 100LL << shift, until = sv_now_ms() + (delay > 10000 ? 10000 : delay);
    while (!stop_marked(c)) {
        int64_t left = until - sv_now_ms();
        if (left <= 0)
            return true;
        struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* Start c with its output into log; false (and a note in the log) when
 * it could not be started. */
static bool start_logged(struct sv_store *st, struct sv_container *c, struct sv_log *log,
                         struct sv_runnet *rn, int null, int *code)
{
    sv_error_t err = NULL;
    int out = -1, exec_status = 0;
    if (rn)
        sv_runnet_prepare(rn, c->id);
    if (sv_container_reset(c, &err) < 0 || (out = sv_log_writer(log, &err)) < 0 ||
        sv_container_start(st, c, (int[3]){null, out, out}, &exec_status, &err) < 0) {
        log_note(log, "cannot start %s again: %s", c->name, err->msg);
        sv_error_free(&err);
        if (out >= 0)
            close(out);
        *code = exec_status ? exec_status : 125;
        return false;
    }
    close(out);
    return true;
}

/* The monitor's life after the container started: copy its output, and
 * start it again while its restart policy says so and nobody stopped it
 * for good; then close its ports and record the end. */
static void monitor_loop(struct sv_store *st, struct sv_container *c, struct run_opts *o,
                         struct sv_log *log, struct sv_runnet *rn, int null)
{
    int code = 0, restarts = 0;
    bool oom = false, running = true;
    for (;;) {
        int64_t started = sv_now_ms();
        if (running) {
            copy_output(c, log);
            sv_container_wait(c, &code, &oom);
        }
        if (!restart_wanted(o, code, restarts) || stop_marked(c))
            break;
        sv_error_t err = NULL;
        if (sv_store_set_exited(st, c->id, code, oom, &err) < 0)
            sv_error_free(&err);
        if (!back_off(c, restarts, running ? sv_now_ms() - started : 0))
            break;
        restarts++;
        if (sv_store_set_restarts(st, c->id, restarts, &err) < 0)
            sv_error_free(&err);
        oom = false;
        running = start_logged(st, c, log, rn, null, &code);
        /* Started just as `servos stop` marked it: it goes at once. */
        if (running && stop_marked(c))
            kill(c->pid, SIGKILL);
    }
    /* The ports close before the end is recorded: once `servos stop`
     * returns, nothing answers on them. */
    sv_runnet_close(rn);
    record_end(st, c, o->remove, &code, oom);
}

/* -d: a monitor process (ours, forked) creates and starts the container,
 * tells the CLI the id or the error, then copies its output, restarts it
 * by its policy and records its end. With -p it makes the container's
 * network and the process that holds its ports first (runnet.h), so a
 * port in use is the CLI's error. */
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
        struct sv_runnet *rn = NULL;
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (o->n_ports && sv_runnet_open(o->ports, o->n_ports, &rn, &err) == 0)
            sv_runnet_attach(rn, &o->spec);
        if (err || sv_store_open(&st, &err) < 0 ||
            sv_container_create(st, &o->spec, &c, &err) < 0) {
            dprintf(pfd[1], "125 %s", err->msg);
            sv_runnet_close(rn);
            _exit(125);
        }
        /* The container writes into its log's FIFO; we copy that into
         * capped, rotated files while it runs (logfile.h). */
        cleanup_free char *logpath = NULL;
        struct sv_log *log = NULL;
        int out = sv_container_log_path(c, &logpath, &err) < 0 ||
                          sv_container_monitor_lock(c, &err) < 0 ||
                          sv_log_open(logpath, &o->log, false, &log, &err) < 0
                      ? -1
                      : sv_log_writer(log, &err);
        int fds[3] = {null, out, out}, exec_status = 0;
        if (out < 0 || sv_container_start(st, c, fds, &exec_status, &err) < 0) {
            dprintf(pfd[1], "%d %s", exec_status ? exec_status : 125,
                    err ? err->msg : "cannot open the log");
            sv_container_remove(st, c->id, NULL);
            sv_runnet_close(rn);
            _exit(125);
        }
        close(out);
        dprintf(pfd[1], "0 %s", c->id);
        close(pfd[1]);
        char title[128];
        snprintf(title, sizeof(title), "servos: monitor of container %.12s", c->id);
        sv_cli_hide_args(title);
        for (int fd = 0; fd < 3; fd++)
            dup2(null, fd);
        monitor_loop(st, c, o, log, rn, null);
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
        /* -p: the container's network and the process that holds its ports,
         * before the container is made (runnet.h). */
        struct sv_runnet *rn = NULL;
        struct sv_store *st = NULL;
        if (o.n_ports && sv_runnet_open(o.ports, o.n_ports, &rn, &err) == 0)
            sv_runnet_attach(rn, &o.spec);
        if (err || sv_store_open(&st, &err) < 0) {
            sv_runnet_close(rn);
            free_opts(&o);
            sv_error_report(&err);
            return 125;
        }
        rc = run_attached(st, &o);
        sv_runnet_close(rn);
        sv_store_close(st);
    }
    free_opts(&o);
    return rc;
}
