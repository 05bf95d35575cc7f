/* servos run's options: each a small function that writes its value into
 * the container's spec (or says in one line what is wrong with it), found
 * through one table that getopt's long options are made from. */
#include "cli/cli.h"
#include "cli/cli_run_int.h"
#include "runtime/pty.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Append s to the NULL-terminated array *v of *n strings. */
static void strv_push(char ***v, size_t *n, char *s)
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
static int opt_volume(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    struct sv_run_spec *s = &o->spec;
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
        for (char *flag = strtok_r(mode, ",", &save); flag; flag = strtok_r(NULL, ",", &save)) {
            if (strcmp(flag, "ro") == 0 || strcmp(flag, "rw") == 0)
                ro = strcmp(flag, "ro") == 0;
            else if (strcmp(flag, "U") == 0)
                chown = true;
            else
                return sv_error(err, 0,
                                "volume \"%s\": unknown option \"%s\" (expected ro, rw or U, "
                                "comma-separated)",
                                arg, flag);
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
static int opt_tmpfs(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    struct sv_run_spec *s = &o->spec;
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

/* --device PATH[:PATH_IN][:rwm] (Docker's and podman's); whether PATH is
 * a device node is said when the container is made. */
static int opt_device(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    struct sv_run_spec *s = &o->spec;
    struct sv_device_spec d;
    if (sv_parse_device(arg, &d, err) < 0)
        return sv_error_wrap(err, "--device");
    struct sv_device_spec *v = sv_xrealloc((void *)s->devices, (s->n_devices + 1) * sizeof(*v));
    v[s->n_devices++] = d;
    s->devices = v;
    return 0;
}

/* -p [IP:][HOST:]CONTAINER[/tcp], each a port or a range. */
static int opt_publish(struct sv_runopts *o, char *arg, sv_error_t *err)
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
int sv_runopt_env_file(const char *path, char ***v, size_t *nv, sv_error_t *err)
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
            strv_push(v, nv, sv_xstrdup(p));
        else if (getenv(p))
            strv_push(v, nv, sv_xasprintf("%s=%s", p, getenv(p)));
    }
    return 0;
}

static int opt_env_file(struct sv_runopts *o, char *path, sv_error_t *err)
{
    return sv_runopt_env_file(path, &o->env_file, &o->n_env_file, err);
}

/* The name of a NAME=VALUE entry is the same as another's. */
static bool same_name(const char *a, const char *b)
{
    size_t n = strcspn(a, "=");
    return strncmp(a, b, n) == 0 && b[n] == '=';
}

/* The environment: --env-file's entries, then -e's; a later entry of a
 * name replaces an earlier one, and -e wins over any file (as Docker). */
static void merge_env(struct sv_runopts *o)
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
static int opt_label(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    if (arg[0] == '\0' || arg[0] == '=')
        return sv_error(err, 0, "--label \"%s\": expected KEY=VALUE (or KEY)", arg);
    for (const char *c = arg; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return sv_error(err, 0, "--label \"%s\": a control character", arg);
    strv_push(&o->labels, &o->n_labels,
              strchr(arg, '=') ? sv_xstrdup(arg) : sv_xasprintf("%s=", arg));
    return 0;
}

/* Options that make no sense together, each said in one line. */
static int check_options(struct sv_runopts *o, sv_error_t *err)
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

void sv_runopt_free(struct sv_runopts *o)
{
    for (size_t i = 0; i < o->spec.n_binds; i++) {
        free(o->spec.binds[i].source);
        free(o->spec.binds[i].target);
    }
    free(o->spec.binds);
    for (size_t i = 0; i < o->spec.n_devices; i++)
        sv_device_spec_clear((struct sv_device_spec *)&o->spec.devices[i]);
    free((void *)o->spec.devices);
    for (size_t i = 0; i < o->n_env; i++)
        free(o->env[i]);
    free(o->env);
    free(o->cap_add);
    free(o->cap_drop);
    free(o->ports);
    sv_strv_free(o->env_file);
    sv_strv_free(o->labels);
}

/* ---- one function per option ---------------------------------------------------- */

static int opt_name(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    o->spec.name = arg;
    return 0;
}

static int opt_hostname(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    if (sv_spec_hostname_check(arg, true, err) < 0)
        return sv_error_wrap(err, "--hostname");
    o->spec.hostname = arg;
    return 0;
}

static int opt_memory(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    if (sv_parse_size(arg, &o->spec.limits.memory, err) < 0)
        return sv_error_wrap(err, "--memory");
    return 0;
}

static int opt_cpus(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    if (sv_parse_cpus(arg, &o->spec.limits.cpus, err) < 0)
        return sv_error_wrap(err, "--cpus");
    return 0;
}

static int opt_pids(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    if (errno || *end || v < 1)
        return sv_error(err, 0, "--pids: expected a whole number >= 1, got \"%s\"", arg);
    o->spec.limits.pids = v;
    return 0;
}

static int opt_env(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    if (strchr(arg, '=') == NULL) { /* -e NAME passes the host's value */
        const char *v = getenv(arg);
        if (v != NULL)
            strv_push(&o->env, &o->n_env, sv_xasprintf("%s=%s", arg, v));
    } else {
        strv_push(&o->env, &o->n_env, sv_xstrdup(arg));
    }
    return 0;
}

static int opt_workdir(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    o->spec.workdir = arg;
    return 0;
}

static int opt_user(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    o->spec.user = arg;
    return 0;
}

static int opt_rm(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    o->remove = true;
    return 0;
}

static int opt_detach(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    o->detach = true;
    return 0;
}

static int opt_interactive(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    o->interactive = true;
    return 0;
}

static int opt_tty(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    o->spec.tty = true;
    return 0;
}

static int opt_init(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    o->spec.init = true;
    return 0;
}

static int opt_network(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    struct sv_run_spec *s = &o->spec;
    o->network_given = true;
    if (strcmp(arg, "none") == 0)
        s->network = SV_NET_NONE;
    else if (strcmp(arg, "host") == 0)
        s->network = SV_NET_HOST;
    else if (strcmp(arg, "joined") == 0) /* ours, not the host's (ProServe) */
        s->network = SV_NET_HOST, s->net_joined = true;
    else
        return sv_error(err, 0, "--network: expected none or host, got \"%s\"", arg);
    return 0;
}

static int opt_read_only(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    o->spec.read_only = true;
    return 0;
}

static int opt_cap_add(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    strv_push((char ***)&o->cap_add, &o->n_add, arg);
    return 0;
}

static int opt_cap_drop(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    strv_push((char ***)&o->cap_drop, &o->n_drop, arg);
    return 0;
}

static int opt_userns(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    if (strcmp(arg, "host") == 0)
        o->spec.userns_host = true;
    else if (strcmp(arg, "auto") != 0)
        return sv_error(err, 0, "--userns: expected auto or host, got \"%s\"", arg);
    return 0;
}

static int opt_security(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    if (strcmp(arg, "seccomp=unconfined") == 0)
        o->spec.no_seccomp = true;
    else if (strcmp(arg, "io_uring=allow") == 0)
        o->spec.io_uring = true;
    else
        return sv_error(err, 0, "--security-opt: seccomp=unconfined or io_uring=allow, got \"%s\"",
                        arg);
    return 0;
}

static int opt_entrypoint(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    o->entrypoint[0] = arg[0] ? arg : NULL; /* "" clears the image's */
    o->spec.entrypoint = o->entrypoint;
    return 0;
}

static int opt_layer_size(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    if (sv_parse_size(arg, &o->spec.layer_size, err) < 0)
        return sv_error_wrap(err, "--layer-size");
    if (o->spec.layer_size < (1 << 20))
        return sv_error(err, 0, "--layer-size must be at least 1 MB, got \"%s\"", arg);
    return 0;
}

static int opt_pull(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    if (strcmp(arg, "missing") && strcmp(arg, "always") && strcmp(arg, "never"))
        return sv_error(err, 0, "--pull: expected missing, always or never, got \"%s\"", arg);
    o->pull = arg;
    return 0;
}

static int opt_log_opt(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    if (sv_log_opt_parse(&o->log, arg, err) < 0) /* podman's and Docker's names */
        return sv_error_wrap(err, "--log-opt");
    return 0;
}

static int opt_help(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    return 1;
}

static int opt_restart(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    if (sv_parse_restart(arg, &o->restart, &o->restart_max, err) < 0)
        return sv_error_wrap(err, "--restart");
    snprintf(o->restart_text, sizeof(o->restart_text), "%s", sv_restart_name(o->restart));
    if (o->restart_max > 0)
        snprintf(o->restart_text, sizeof(o->restart_text), "on-failure:%d", o->restart_max);
    return 0;
}

static int opt_stop_signal(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    if (sv_parse_signal(arg, &o->spec.stop_signal, err) < 0)
        return sv_error_wrap(err, "--stop-signal");
    return 0;
}

static int opt_stop_timeout(struct sv_runopts *o, char *arg, sv_error_t *err)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || end == arg || *end || v < 0 || v > SV_STOP_TIMEOUT_MAX)
        return sv_error(err, 0, "--stop-timeout: expected whole seconds from 0 to %d, got \"%s\"",
                        SV_STOP_TIMEOUT_MAX, arg);
    o->spec.stop_timeout = (int)v;
    o->spec.stop_timeout_set = true;
    return 0;
}

/* ---- the table, and the command line read through it ---------------------------- */

/* Values of the options that have no short name (above any character). */
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
    O_DEVICE,
};

/* The short names, as getopt reads them: "+" stops at IMAGE (what follows
 * is the command's), ":" tells a missing value from an unknown option. */
#define RUN_SHORT_OPTS "+:n:H:m:c:v:e:w:u:dhp:l:it"

/* Each option: its long name, whether it takes a value, its short name
 * (or O_...), and what it does. Kept in the order getopt_long has always
 * had them: an abbreviation (--det) resolves as it did. */
static const struct run_option {
    const char *name;
    int has_arg;
    int val;
    int (*set)(struct sv_runopts *o, char *arg, sv_error_t *err);
} run_options[] = {
    {"name", required_argument, 'n', opt_name},
    {"hostname", required_argument, 'H', opt_hostname},
    {"memory", required_argument, 'm', opt_memory},
    {"cpus", required_argument, 'c', opt_cpus},
    {"pids", required_argument, O_PIDS, opt_pids},
    {"volume", required_argument, 'v', opt_volume},
    {"env", required_argument, 'e', opt_env},
    {"workdir", required_argument, 'w', opt_workdir},
    {"user", required_argument, 'u', opt_user},
    {"rm", no_argument, O_RM, opt_rm},
    {"detach", no_argument, 'd', opt_detach},
    {"network", required_argument, O_NETWORK, opt_network},
    {"read-only", no_argument, O_READ_ONLY, opt_read_only},
    {"cap-add", required_argument, O_CAP_ADD, opt_cap_add},
    {"cap-drop", required_argument, O_CAP_DROP, opt_cap_drop},
    {"userns", required_argument, O_USERNS, opt_userns},
    {"security-opt", required_argument, O_SEC, opt_security},
    {"entrypoint", required_argument, O_ENTRYPOINT, opt_entrypoint},
    {"pull", required_argument, O_PULL, opt_pull},
    {"layer-size", required_argument, O_LAYER_SIZE, opt_layer_size},
    {"log-opt", required_argument, O_LOG_OPT, opt_log_opt},
    {"interactive", no_argument, 'i', opt_interactive},
    {"tty", no_argument, 't', opt_tty},
    {"init", no_argument, O_INIT, opt_init},
    {"help", no_argument, 'h', opt_help},
    {"publish", required_argument, 'p', opt_publish},
    {"tmpfs", required_argument, O_TMPFS, opt_tmpfs},
    {"env-file", required_argument, O_ENV_FILE, opt_env_file},
    {"label", required_argument, 'l', opt_label},
    {"restart", required_argument, O_RESTART, opt_restart},
    {"stop-signal", required_argument, O_STOP_SIGNAL, opt_stop_signal},
    {"stop-timeout", required_argument, O_STOP_TIMEOUT, opt_stop_timeout},
    {"device", required_argument, O_DEVICE, opt_device},
};

static const struct run_option *run_option_of(int c)
{
    for (size_t i = 0; i < SV_ARRAY_LEN(run_options); i++)
        if (run_options[i].val == c)
            return &run_options[i];
    return NULL;
}

/* After the options: IMAGE and its command, what -t and -i mean here,
 * and the spec's fields gathered from the options. */
static int run_operands(int argc, char **argv, struct sv_runopts *o, sv_error_t *err)
{
    struct sv_run_spec *s = &o->spec;
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

int sv_runopt_parse(int argc, char **argv, struct sv_runopts *o, sv_error_t *err)
{
    struct option longopts[SV_ARRAY_LEN(run_options) + 1];
    for (size_t i = 0; i < SV_ARRAY_LEN(run_options); i++)
        longopts[i] =
            (struct option){run_options[i].name, run_options[i].has_arg, NULL, run_options[i].val};
    longopts[SV_ARRAY_LEN(run_options)] = (struct option){NULL, 0, NULL, 0};
    o->spec.limits = (struct sv_limits){-1, -1, -1};
    sv_log_opts_init(&o->log);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, RUN_SHORT_OPTS, longopts, NULL)) != -1) {
        const struct run_option *opt = run_option_of(c);
        if (opt == NULL) { /* '?' or ':' */
            cleanup_free char *what = sv_cli_option_error(c, argv);
            return sv_error(err, 0, "%s", what);
        }
        int rc = opt->set(o, optarg, err);
        if (rc != 0)
            return rc;
    }
    return run_operands(argc, argv, o, err);
}
