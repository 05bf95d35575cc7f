/* servos: the entry point. Dispatches to the verb functions in cli_*.c. */
#include "cli/cli.h"
#include "core/store.h"
#include "core/util.h"

#include <dlfcn.h>
#include <getopt.h>
#include <git2.h>
#include <jansson.h>
#include <limits.h>
#include <lua.h>
#include <seccomp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <yaml.h>

#ifndef SV_VERSION
#define SV_VERSION "0.1.0-dev"
#endif

const struct sv_verb sv_verbs[] = {
    {"config", sv_cmd_config, "print the evaluated, normalised service graph as JSON",
     "usage: servos config [-p STACK] [FILE|DIR]\n"
     "\n"
     "Evaluate an Envirofile.lua, a ProServe manifest or a Compose file (or a\n"
     "directory holding them) and print the service graph as JSON. Nothing is\n"
     "started. Without FILE|DIR, the current directory's Envirofile.lua,\n"
     "servos.yaml or compose.yaml is used.\n"
     "\n"
     "  -p, --project-name STACK   name the stack (default: stack \"...\", else the\n"
     "                             directory's name)\n"
     "  -q, --quiet                check only: print nothing, exit 0 when valid\n"
     "  -h, --help                 show this help\n"},
    {"detect", sv_cmd_detect, "show this host's platform, isolation features and boards",
     "usage: servos detect [-v] [--json]\n"
     "\n"
     "Print the platform (x86_64, arm64, rpi-arm, ...), architecture, OS and\n"
     "kernel, what isolation the host offers (cgroup mode, namespaces, user\n"
     "namespaces, seccomp, overlayfs), and boards found on USB.\n"
     "\n"
     "  -v, --verbose   also list every namespace and cgroup controller\n"
     "      --json      print JSON\n"
     "  -h, --help      show this help\n"},
    {"list-platforms", sv_cmd_list_platforms, "list the platforms and boards servos knows",
     "usage: servos list-platforms [--json]\n"
     "\n"
     "List every platform of platforms/ with its boards, toolchain packages and\n"
     "the USB ids servos detect recognises.\n"
     "\n"
     "      --json      print JSON\n"
     "  -h, --help      show this help\n"},
    {"run", sv_cmd_run, "run a command in a new isolated container",
     "usage: servos run [OPTIONS] IMAGE [COMMAND [ARG...]]\n"
     "\n"
     "Run COMMAND in a new container: its own pid, mount, uts, ipc, net, cgroup\n"
     "and user namespaces (container root is an unprivileged host uid), Docker's\n"
     "default capabilities, no_new_privs and a default seccomp filter. IMAGE is\n"
     "\"host\" (a read-only view of this host's /usr, with its own /etc, /tmp\n"
     "and /run), a root file system directory, a rootfs tarball, or an image\n"
     "reference (alpine:3.20, registry:5000/team/app:1.4, NAME@sha256:...),\n"
     "pulled when it is not in the store; its Entrypoint, Cmd, Env, WorkingDir\n"
     "and User apply where the command line is silent. Attached by\n"
     "default: output goes to the terminal and the exit code is the command's\n"
     "(128+N when killed by signal N; 125 when servos failed, 126 when COMMAND\n"
     "cannot be executed, 127 when it is not found).\n"
     "\n"
     "  -n, --name NAME          name the container (default servos-ID)\n"
     "  -H, --hostname NAME      hostname inside (default: the short id)\n"
     "  -m, --memory SIZE        memory limit, no swap beyond it (64m, 1G)\n"
     "  -c, --cpus N             cpu limit in cores (0.5)\n"
     "      --pids N             limit on processes and threads\n"
     "      --layer-size SIZE    what it may write outside volumes (its layer,\n"
     "                           /tmp, /run; kept in RAM): default the memory\n"
     "                           limit, else 1G\n"
     "  -v, --volume SRC:DST[:OPTS]  bind a host path (repeatable); OPTS: ro or rw,\n"
     "                           and U to hand SRC to the container's user first\n"
     "  -e, --env NAME=VALUE     set a variable (NAME alone: the host's value)\n"
     "  -w, --workdir DIR        working directory inside (created if missing)\n"
     "  -u, --user USER[:GID]    run as USER (a number or a name in the image)\n"
     "  -d, --detach             run in the background, output to 'servos logs'\n"
     "      --log-opt OPT        -d: max-size=SIZE per log file (10m), max-file=N kept (3)\n"
     "  -i, --interactive        pass stdin on (without -i it is /dev/null); with\n"
     "                           -d, keep it open for a command that reads it\n"
     "  -t, --tty                give the command a terminal of the container's\n"
     "                           own; with -i, yours is relayed to it in raw mode\n"
     "                           (Ctrl-C, Ctrl-Z, Ctrl-D and resizes reach the\n"
     "                           command); with -d, its output goes to the log\n"
     "      --init               servos' init as pid 1: signals go on to the\n"
     "                           command (sleep or a script stops at once) and\n"
     "                           orphans are reaped (no zombies)\n"
     "      --rm                 remove the container when it exits\n"
     "      --network none|host  none (default): only loopback; host: the host's\n"
     "      --read-only          mount the root file system read-only\n"
     "      --cap-add CAP        add a capability (NET_ADMIN, all, ...)\n"
     "      --cap-drop CAP       drop a capability\n"
     "      --userns auto|host   host: no user namespace (container root is root)\n"
     "      --security-opt seccomp=unconfined   no seccomp filter\n"
     "      --security-opt io_uring=allow       let io_uring through the filter\n"
     "      --entrypoint CMD     instead of the image's (\"\" clears it)\n"
     "      --pull WHEN          missing (default), always or never\n"
     "  -p, --publish [IP:][HOST:]PORT[/tcp]  publish a container port on the host\n"
     "                           (127.0.0.1 unless IP says 0.0.0.0; HOST left out:\n"
     "                           any free port, shown by 'servos ls --format json').\n"
     "                           The container gets a network of its own, as a\n"
     "                           one-service stack: an address on eth0, reached\n"
     "                           through the stacks' relay, never from 127.0.0.1;\n"
     "                           its loopback stays its own. TCP only\n"
     "      --tmpfs PATH[:OPTS]  a fresh tmpfs at PATH (noexec unless OPTS say exec;\n"
     "                           OPTS: size=, mode=, uid=, gid=, nr_inodes=, ro,\n"
     "                           exec; unsized: the --layer-size bound)\n"
     "      --env-file FILE      NAME=VALUE lines (Docker's format: # comments, no\n"
     "                           quotes; NAME alone: the host's value); -e wins\n"
     "  -l, --label KEY=VALUE    a label, shown and filtered by 'servos ls'\n"
     "      --restart POLICY     -d: no (default), always, on-failure[:N] or\n"
     "                           unless-stopped (the same here: there is no daemon\n"
     "                           to restart); back-off 100 ms doubling to 10 s;\n"
     "                           'servos stop' stops it for good\n"
     "      --stop-signal SIG    what 'servos stop' sends (TERM, USR1, 15; default:\n"
     "                           the image's StopSignal, else SIGTERM)\n"
     "      --stop-timeout SECS  from the stop signal to SIGKILL (default 10)\n"
     "  -h, --help               show this help\n"
     "\n"
     "State lives in /var/lib/servos (SERVOS_ROOT or 'servos --root DIR').\n"},
    {"ls", sv_cmd_ls, "list containers",
     "usage: servos ls [-q] [--format table|json] [--filter label=KEY[=VALUE]]\n"
     "\n"
     "List every container: id, name, image, command, status (running,\n"
     "restarting, exited with its code, OOM killed) and when it was created.\n"
     "JSON: one object per container with the fields id, name, image, command,\n"
     "state, status, created, restarts, labels, ports, pid, exit_code, oom,\n"
     "restart (and stack, service, replica for a stack's replica).\n"
     "\n"
     "  -q, --quiet        print only the ids\n"
     "      --format F     table (default) or json\n"
     "      --filter label=KEY[=VALUE]  only containers with that label (and value);\n"
     "                     repeated: all of them\n"
     "  -h, --help         show this help\n"},
    {"stop", sv_cmd_stop, "stop running containers",
     "usage: servos stop [-t SECS] CONTAINER...\n"
     "\n"
     "Send each container's stop signal (run --stop-signal, else the image's\n"
     "StopSignal, else SIGTERM) to its init process, then SIGKILL after SECS\n"
     "(run --stop-timeout, else 10). A container with a restart policy is\n"
     "stopped for good: its monitor starts it no more. CONTAINER is a name or\n"
     "a unique id prefix.\n"
     "\n"
     "  -t, --time SECS   seconds to wait before SIGKILL (for every one named)\n"
     "  -h, --help        show this help\n"},
    {"rm", sv_cmd_rm, "remove containers",
     "usage: servos rm [-f] CONTAINER...\n"
     "\n"
     "Remove stopped containers: their cgroups, files and state. A running one\n"
     "needs -f, which kills it first.\n"
     "\n"
     "  -f, --force   kill and remove a running container\n"
     "  -h, --help    show this help\n"},
    {"logs", sv_cmd_logs, "print the output of a stack's services or of a container",
     "usage: servos logs [-f] [-t] [--tail N] [-p STACK] [SERVICE[-N] | CONTAINER]\n"
     "\n"
     "Print what the stack's replicas wrote (each line prefixed with\n"
     "SERVICE-N |), or one service's, or what a container started with\n"
     "'servos run -d' wrote. Each log is capped as it is written: max-size per\n"
     "file (10 MB), max-file files kept (3); set them with Compose's logging\n"
     "options or 'servos run -d --log-opt'. Rotated files are read oldest first.\n"
     "\n"
     "  -f, --follow          keep printing new output (Ctrl-C ends)\n"
     "  -t, --timestamps      show when each line arrived (100 ms resolution)\n"
     "      --tail N          start with the last N lines of each log\n"
     "  -p, --project-name S  the stack (default: the one declared here)\n"
     "  -h, --help            show this help\n"},
    {"exec", sv_cmd_exec, "run a command inside a running container or service",
     "usage: servos exec [-i] [-t] [-p STACK] CONTAINER|SERVICE[-N] COMMAND [ARG...]\n"
     "\n"
     "Run COMMAND in a running container: every namespace, its cgroup, the same\n"
     "user, working directory, environment, capabilities and seccomp filter.\n"
     "The exit code is COMMAND's. 'servos exec -it web sh' is a shell in the\n"
     "stack's web-1.\n"
     "\n"
     "  -i, --interactive     pass stdin on (without -i it is /dev/null)\n"
     "  -t, --tty             a terminal of the container's own, yours relayed to\n"
     "                        it in raw mode (with -i)\n"
     "  -p, --project-name S  the stack of SERVICE (default: the one declared here)\n"
     "  -h, --help            show this help\n"},
    {"up", sv_cmd_up, "bring a stack up and follow its output",
     "usage: servos up [-d] [-p STACK] [FILE|DIR|GIT-SOURCE]\n"
     "\n"
     "Evaluate the Envirofile (or servos.yaml / compose.yaml, or a directory of\n"
     "them; or git+URL#REF:path, which fetches that repository's REF, a branch,\n"
     "tag or commit, the remote's HEAD by default) and make the stack match it:\n"
     "create missing replicas in dependency order (started, healthy, completed),\n"
     "recreate only services whose spec changed, remove services no longer\n"
     "declared. Up on an unchanged file changes nothing. A supervisor per stack\n"
     "keeps it running (restarts with back-off, health checks, logs). Attached,\n"
     "every replica's output is shown as SERVICE-N | line; Ctrl-C stops the\n"
     "stack (stop signal, grace period), a second Ctrl-C kills it.\n"
     "\n"
     "When a replica cannot start (its command, user, image or volume source is\n"
     "missing, say), up fails and says what is left: a stack of which nothing ran\n"
     "before is taken down again (no replica, port or supervisor remains); one\n"
     "that ran keeps running, and up names the services that run and those that\n"
     "do not.\n"
     "\n"
     "  -d, --detach          return once the stack converged\n"
     "  -p, --project-name S  name the stack (default: stack \"...\" in the file,\n"
     "                        else the directory's name)\n"
     "  -h, --help            show this help\n"},
    {"apply", sv_cmd_apply, "make a stack match a file, detached (up -d)",
     "usage: servos apply [-p STACK] [FILE|DIR|GIT-SOURCE]\n"
     "\n"
     "The same as 'servos up -d': converge the stack and return.\n"
     "\n"
     "  -p, --project-name S  name the stack\n"
     "  -h, --help            show this help\n"},
    {"down", sv_cmd_down, "stop and remove a stack",
     "usage: servos down [-v] [-t SECS] [-p STACK]\n"
     "\n"
     "Stop every replica in reverse dependency order (stop signal, then SIGKILL\n"
     "after the grace period) and remove them: no process, cgroup or state of\n"
     "the stack remains. Named volumes stay unless -v.\n"
     "\n"
     "  -v, --volumes         also delete the stack's named volumes\n"
     "  -t, --timeout SECS    grace period instead of each service's\n"
     "  -p, --project-name S  the stack (default: the one declared here)\n"
     "  -h, --help            show this help\n"},
    {"ps", sv_cmd_ps, "list a stack's replicas",
     "usage: servos ps [--format table|json] [-p STACK]\n"
     "\n"
     "One line per replica: service, replica, state, health, pid, uptime,\n"
     "restarts, exit code, address on the stack network, published ports; a\n"
     "stack from git first names its repository and commit.\n"
     "JSON: one object per replica with the fields service, replica, state,\n"
     "health, pid, uptime, restarts, exit_code, oom, address, ports, commit.\n"
     "\n"
     "      --format F        table (default) or json\n"
     "  -p, --project-name S  the stack (default: the one declared here)\n"
     "  -h, --help            show this help\n"},
    {"pull", sv_cmd_pull, "fetch a git stack's repositories and apply what changed",
     "usage: servos pull [-p STACK | STACK]\n"
     "\n"
     "For a stack brought up from git (servos up git+URL#REF:path) or importing\n"
     "modules from git: fetch every repository it reads, move each to the newest\n"
     "commit of the same REF, and apply the result. Only services whose spec\n"
     "changed are recreated. When a fetch or the evaluation fails, the running\n"
     "stack is left exactly as it was.\n"
     "\n"
     "  -p, --project-name S  the stack (default: the one declared here)\n"
     "  -h, --help            show this help\n"},
    {"image", sv_cmd_image, "list, import, pull and remove images",
     "usage: servos image ls|import|pull|rm|prune ... (servos image --help)\n"},
    {"scale", sv_cmd_scale, "set a service's number of replicas",
     "usage: servos scale [-p STACK] SERVICE=N\n"
     "\n"
     "Start or remove replicas, one at a time, until SERVICE has N. Holds until\n"
     "the next up or apply, which uses the file's replicas again.\n"
     "\n"
     "  -p, --project-name S  the stack (default: the one declared here)\n"
     "  -h, --help            show this help\n"},
    {"restart", sv_cmd_restart, "restart a service's replicas one at a time",
     "usage: servos restart [-p STACK] SERVICE\n"
     "\n"
     "Stop (stop signal, grace period) and start again each replica of SERVICE.\n"
     "\n"
     "  -p, --project-name S  the stack (default: the one declared here)\n"
     "  -h, --help            show this help\n"},
    {"proserve-host", sv_cmd_proserve_host, "serve a ProServe manifest (run by apply)",
     "usage: servos proserve-host MANIFEST.json\n"
     "\n"
     "The service host a ProServe service's container runs; `servos apply\n"
     "manifest.yaml` starts it with the manifest servos evaluated. It answers the\n"
     "endpoints (inline responses, script and shell handlers, static files,\n"
     "/health, /metrics) and runs the background tasks, each handler in a fresh\n"
     "unprivileged process with the manifest's isolation limits.\n"},
    {"proserve-lua", sv_cmd_proserve_lua, "run a ProServe Lua handler (run by proserve-host)",
     "usage: servos proserve-lua SCRIPT.lua < request.json\n"
     "\n"
     "Runs SCRIPT with the request as the global `request`; the chunk's return\n"
     "value (or handler(request) / main(request)) is printed as JSON.\n"},
    {"completion", sv_cmd_completion, "print the bash completion script",
     "usage: servos completion bash\n"
     "\n"
     "Print a bash completion script for servos: its commands, their options\n"
     "and the options' choices, as each command's --help lists them, and the\n"
     "names of containers, stacks, services and images at each <TAB>. Load it\n"
     "with 'source <(servos completion bash)'; 'make install' installs it. The\n"
     "manual page comes the same way from 'servos help --man'.\n"
     "\n"
     "  -h, --help    show this help\n"},
    {"version", sv_cmd_version, "print the version",
     "usage: servos version\n"
     "\n"
     "Print servos' version and the versions of its libraries: those built in,\n"
     "and those loaded only by the commands that need them (libarchive, libcurl,\n"
     "libcrypto, libmicrohttpd, libbpf), or \"not found\" with what each is for\n"
     "and the package that has it.\n"},
};
const size_t sv_verb_count = SV_ARRAY_LEN(sv_verbs);

const struct sv_verb *sv_cli_find(const char *name)
{
    for (size_t i = 0; i < sv_verb_count; i++)
        if (strcmp(sv_verbs[i].name, name) == 0)
            return &sv_verbs[i];
    return NULL;
}

bool sv_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

/* The first line of v's usage, without "usage: ". */
static void usage_line(const struct sv_verb *v, const char **line, int *len)
{
    const char *u = v->usage;
    if (strncmp(u, "usage: ", 7) == 0)
        u += 7;
    *line = u;
    *len = (int)strcspn(u, "\n");
}

int sv_cli_usage(const struct sv_verb *v, bool error)
{
    if (!error) {
        fputs(v->usage, stdout);
        return 0;
    }
    /* A misuse whose caller could not say more: still one line, not the
     * whole help above the shell prompt. */
    const char *line;
    int len;
    usage_line(v, &line, &len);
    fprintf(stderr, "servos %s: usage: %.*s (servos %s --help explains)\n", v->name, len, line,
            v->name);
    return 2;
}

int sv_cli_misuse(const struct sv_verb *v, const char *fmt, ...)
{
    const char *line;
    int len;
    usage_line(v, &line, &len);
    fprintf(stderr, "servos %s: ", v->name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; usage: %.*s\n", len, line);
    return 2;
}

char *sv_cli_option_error(int c, char **argv)
{
    /* getopt leaves the option in optopt (a short one, or the long one's
     * value when it was given a value it takes none of or lacks its own),
     * and a long one in the element before optind. */
    const char *elem = optind > 0 ? argv[optind - 1] : "";
    bool is_long = strncmp(elem, "--", 2) == 0 && elem[2] != '\0';
    int name_len = is_long ? (int)strcspn(elem, "=") : 0;
    if (c == ':' && is_long)
        return sv_xasprintf("%.*s needs a value", name_len, elem);
    if (c == ':')
        return sv_xasprintf("-%c needs a value", optopt);
    if (is_long && optopt != 0 && elem[name_len] == '=')
        return sv_xasprintf("%.*s takes no value", name_len, elem);
    if (is_long && optopt == 0)
        return sv_xasprintf("unknown option \"%.*s\"", name_len, elem);
    if (optopt > ' ' && optopt < 127)
        return sv_xasprintf("unknown option \"-%c\"", optopt);
    return sv_xasprintf("unknown option \"%s\"", elem);
}

int sv_cli_bad_option(const struct sv_verb *v, int c, char **argv)
{
    cleanup_free char *what = sv_cli_option_error(c, argv);
    return sv_cli_misuse(v, "%s", what);
}

static void main_usage(FILE *out)
{
    fputs("usage: servos COMMAND [ARGS...]\n"
          "\n"
          "servos turns an Envirofile.lua, ProServe manifests or a Compose file into\n"
          "isolated Linux containers.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < sv_verb_count; i++)
        fprintf(out, "  %-16s %s\n", sv_verbs[i].name, sv_verbs[i].summary);
    fputs("\nRun 'servos COMMAND --help' for a command's options.\n", out);
}

/* ---- version ------------------------------------------------------------------ */

static void version_row(const char *lib, const char *version, const char *note)
{
    printf("  %-14s %-12s %s\n", lib, version, note);
}

/* The version of a library servos loads only when a command needs it
 * (dynlib.h): loaded here just to ask, or said to be missing, with what
 * it is for and the package that has it. */
static void version_loaded(const char *lib, const char *soname, const char *fn, const char *why)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        char note[256];
        snprintf(note, sizeof(note), "%s, %s", soname, why);
        version_row(lib, "not found", note);
        return;
    }
    const char *(*get)(int) = (const char *(*)(int))dlsym(h, fn);
    const char *v = get ? get(0) : NULL; /* OpenSSL_version(OPENSSL_VERSION) is 0 */
    char buf[64] = "?";
    if (v) {
        /* "libcurl/7.88.1 OpenSSL/...", "libarchive 3.6.2", "v1.1",
         * "OpenSSL 3.0.15 3 Sep 2024", "0.9.75": the number alone. */
        const char *p = v + strcspn(v, "0123456789");
        snprintf(buf, sizeof(buf), "%.*s", (int)strspn(p, "0123456789.abcdefghijklmnopqrstuvwxyz"),
                 p);
    }
    char note[256];
    snprintf(note, sizeof(note), "%s, loaded when needed", soname);
    version_row(lib, buf, note);
    dlclose(h);
}

int sv_cmd_version(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("version");
    if (sv_cli_wants_help(argc, argv))
        return sv_cli_usage(v, false);
    if (argc > 1)
        return sv_cli_misuse(v, argv[1][0] == '-' ? "unknown option \"%s\"" : "unexpected \"%s\"",
                             argv[1]);
    printf("servos %s\n", SV_VERSION);
    /* Built in (linked statically): what was linked is what runs. */
    version_row("lua", LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "." LUA_VERSION_RELEASE, "built in");
    version_row("libyaml", yaml_get_version_string(), "built in");
    version_row("sqlite", sqlite3_libversion(), "built in");
    version_row("jansson", jansson_version_str(), "built in");
    const struct scmp_version *sc = seccomp_version();
    char buf[64];
    snprintf(buf, sizeof(buf), "%u.%u.%u", sc->major, sc->minor, sc->micro);
    version_row("libseccomp", buf, "built in");
    version_row("libcap", "-", "built in; it has no call that tells its version");
    /* Shared, linked: the copy the loader found. */
    int major = 0, minor = 0, rev = 0;
    git_libgit2_version(&major, &minor, &rev);
    snprintf(buf, sizeof(buf), "%d.%d.%d", major, minor, rev);
    version_row("libgit2", buf, "shared");
    Dl_info info;
    char real[PATH_MAX];
    void *mnl = dlsym(RTLD_DEFAULT, "mnl_socket_open");
    if (mnl && dladdr(mnl, &info) && info.dli_fname && realpath(info.dli_fname, real)) {
        char note[PATH_MAX + 64];
        snprintf(note, sizeof(note), "shared, %s; it has no call that tells its version", real);
        version_row("libmnl", "-", note);
    }
    /* Loaded with dlopen by the commands that need them. */
    version_loaded("libarchive", "libarchive.so.13", "archive_version_string",
                   "to unpack images (apt install libarchive13)");
    version_loaded("libcurl", "libcurl.so.4", "curl_version",
                   "to pull images (apt install libcurl4)");
    version_loaded("libcrypto", "libcrypto.so.3", "OpenSSL_version",
                   "to verify image digests (apt install libssl3)");
    version_loaded("libmicrohttpd", "libmicrohttpd.so.12", "MHD_get_version",
                   "to serve ProServe manifests (apt install libmicrohttpd12)");
    version_loaded("libbpf", "libbpf.so.1", "libbpf_version_string",
                   "for the fast path of published ports (apt install libbpf1)");
    return 0;
}

/* The command line as the kernel shows it (/proc/PID/cmdline, ps). */
static char *args_start, *args_end;

void sv_main_hide_args(const char *title)
{
    /* A long-lived process of ours (a -d container's monitor) would show
     * its caller's -e NAME=SECRET to every local user for the container's
     * life: write a title over the arguments instead. */
    if (args_start == NULL)
        return;
    size_t room = (size_t)(args_end - args_start);
    memset(args_start, 0, room);
    snprintf(args_start, room, "%s", title);
}

void sv_main_stdio_writeonly(void)
{
    /* Our stdout and stderr, when they are the user's terminal, are
     * usually read-write: a container given them could read what the user
     * types next, even after servos returns (a child left behind). A
     * write-only description of the same terminal shows output as well and
     * reads nothing. (-t gives the command a terminal of its own instead.) */
    for (int fd = 1; fd <= 2; fd++) {
        if (!isatty(fd) || (fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY)
            continue;
        char path[32];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int w = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (w >= 0 && dup2(w, fd) < 0)
            perror("servos: dup2");
        if (w >= 0)
            close(w);
    }
}

int main(int argc, char **argv)
{
    args_start = argv[0];
    args_end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
    /* A container that dies early closes pipes servos still writes to: that
     * is an error to report (EPIPE), not a reason for servos to die. */
    signal(SIGPIPE, SIG_IGN);
    /* Global options come before the verb: --root DIR. */
    while (argc > 1 && strncmp(argv[1], "--root", 6) == 0) {
        if (argv[1][6] == '=') {
            sv_set_state_root(sv_xstrdup(argv[1] + 7)); /* argv may be overwritten */
        } else if (argv[1][6] == '\0' && argc > 2) {
            sv_set_state_root(sv_xstrdup(argv[2]));
            argc--, argv++;
        } else if (argv[1][6] == '\0') {
            fprintf(stderr, "servos: --root needs a directory: servos --root DIR COMMAND ...\n");
            return 2;
        } else {
            break;
        }
        argc--, argv++;
        if (sv_state_root()[0] != '/') {
            fprintf(stderr, "servos: --root needs an absolute path\n");
            return 2;
        }
    }
    if (argc < 2) {
        main_usage(stderr);
        return 2;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0 || strcmp(verb, "help") == 0) {
        if (argc == 3 && strcmp(argv[2], "--man") == 0)
            return sv_man_print(main_usage);
        if (argc > 2 && sv_cli_find(argv[2]))
            return sv_cli_usage(sv_cli_find(argv[2]), false);
        main_usage(stdout);
        return 0;
    }
    if (strcmp(verb, "--version") == 0 || strcmp(verb, "-V") == 0)
        verb = "version";
    if (strcmp(verb, "__complete") == 0) /* hidden: names for the completion */
        return sv_cmd_complete(argc - 1, argv + 1);
    const struct sv_verb *v = sv_cli_find(verb);
    if (v == NULL) {
        const char *names[64];
        for (size_t i = 0; i < sv_verb_count && i < 64; i++)
            names[i] = sv_verbs[i].name;
        const char *s = sv_suggest(verb, names, sv_verb_count);
        fprintf(stderr, "servos: unknown command \"%s\"%s%s%s; see 'servos --help'\n", verb,
                s ? " (did you mean \"" : "", s ? s : "", s ? "\"?)" : "");
        return 2;
    }
    return v->run(argc - 1, argv + 1);
}
