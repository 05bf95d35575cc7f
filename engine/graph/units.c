#include "graph/units.h"

#include "core/safepath.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* strtod that refuses "", "nan", "inf", hex and leading blanks. */
static int parse_decimal(const char *s, double *v, const char **end)
{
    if (!isdigit((unsigned char)s[0]) && !(s[0] == '.' && isdigit((unsigned char)s[1])))
        return -1;
    const char *p = s;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    char buf[64];
    size_t n = (size_t)(p - s);
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    *v = strtod(buf, NULL);
    *end = p;
    return 0;
}

int sv_parse_size(const char *s, int64_t *bytes, sv_error_t *err)
{
    double v;
    const char *u;
    if (parse_decimal(s, &v, &u) < 0)
        goto bad;
    double mult;
    switch (tolower((unsigned char)*u)) {
    case '\0':
        mult = 1;
        break;
    case 'b':
        mult = 1;
        u--;
        break; /* "100b": plain bytes */
    case 'k':
        mult = 1024.0;
        break;
    case 'm':
        mult = 1024.0 * 1024;
        break;
    case 'g':
        mult = 1024.0 * 1024 * 1024;
        break;
    case 't':
        mult = 1024.0 * 1024 * 1024 * 1024;
        break;
    default:
        goto bad;
    }
    if (*u) {
        u++;
        /* Accept K, KB, Ki, KiB (and lower case): all binary, as Docker. */
        if (*u == 'i')
            u++;
        if (tolower((unsigned char)*u) == 'b')
            u++;
        if (*u)
            goto bad;
    }
    double r = v * mult;
    if (r >= 9.2e18)
        return sv_error(err, 0, "\"%s\" is too large", s);
    if (mult == 1 && v != floor(v))
        goto bad;
    *bytes = (int64_t)r;
    return 0;
bad:
    return sv_error(err, 0,
                    "\"%s\" is not a size (expected bytes, or a number with K, M, G or "
                    "T, like \"512M\", \"1G\", \"8GB\", \"512Mi\")",
                    s);
}

int sv_parse_duration(const char *s, int64_t *ms, sv_error_t *err)
{
    const char *p = s;
    double total = 0;
    if (*p == '\0')
        goto bad;
    while (*p) {
        double v;
        const char *u;
        if (parse_decimal(p, &v, &u) < 0)
            goto bad;
        double mult;
        if (strncmp(u, "ms", 2) == 0) {
            mult = 1;
            u += 2;
        } else if (strncmp(u, "us", 2) == 0) {
            mult = 0.001;
            u += 2;
        } else if (*u == 's') {
            mult = 1000;
            u++;
        } else if (*u == 'm') {
            mult = 60000;
            u++;
        } else if (*u == 'h') {
            mult = 3600000;
            u++;
        } else if (*u == '\0' && p == s) {
            mult = 1000; /* a bare number means seconds */
        } else {
            goto bad;
        }
        total += v * mult;
        p = u;
    }
    if (total > 1e15)
        goto bad;
    *ms = (int64_t)(total + 0.5); /* total >= 0: llround's rounding, without libm */
    return 0;
bad:
    return sv_error(err, 0,
                    "\"%s\" is not a duration (expected e.g. \"500ms\", \"2s\", "
                    "\"1m30s\", \"1h\")",
                    s);
}

int sv_parse_cpus(const char *s, double *cpus, sv_error_t *err)
{
    double v;
    const char *end;
    if (parse_decimal(s, &v, &end) < 0 || *end)
        return sv_error(err, 0, "\"%s\" is not a CPU count (expected a number like 0.5 or 2)", s);
    if (v <= 0 || v > 1024)
        return sv_error(err, 0, "%s CPUs is out of range (expected more than 0, at most 1024)", s);
    *cpus = v;
    return 0;
}

static const char *const restart_names[] = {"no", "always", "on-failure", "unless-stopped"};

const char *sv_restart_name(enum sv_restart_policy p)
{
    return restart_names[p];
}

int sv_parse_restart(const char *s, enum sv_restart_policy *p, int *max_retries, sv_error_t *err)
{
    *max_retries = 0;
    if (strcmp(s, "no") == 0 || strcmp(s, "never") == 0) {
        *p = SV_RESTART_NO;
        return 0;
    }
    if (strcmp(s, "always") == 0) {
        *p = SV_RESTART_ALWAYS;
        return 0;
    }
    if (strcmp(s, "unless-stopped") == 0) {
        *p = SV_RESTART_UNLESS_STOPPED;
        return 0;
    }
    if (strncmp(s, "on-failure", 10) == 0) {
        *p = SV_RESTART_ON_FAILURE;
        if (s[10] == '\0')
            return 0;
        if (s[10] == ':' && isdigit((unsigned char)s[11])) {
            char *end;
            long n = strtol(s + 11, &end, 10);
            if (*end == '\0' && n >= 0 && n <= 1000000) {
                *max_retries = (int)n;
                return 0;
            }
        }
    }
    const char *sugg = sv_suggest(s, restart_names, SV_ARRAY_LEN(restart_names));
    return sv_error(err, 0,
                    "\"%s\" is not a restart policy (expected no, always, on-failure[:N] or "
                    "unless-stopped)%s%s%s",
                    s, sugg ? " (did you mean \"" : "", sugg ? sugg : "", sugg ? "\"?)" : "");
}

static int parse_port_num(const char *s, size_t n, int *out)
{
    if (n == 0 || n > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *out = v;
    return 0;
}

/* "80" or "8000-8002" */
static int parse_port_range(const char *s, size_t n, int *lo, int *hi)
{
    const char *dash = memchr(s, '-', n);
    if (dash == NULL) {
        if (parse_port_num(s, n, lo) < 0)
            return -1;
        *hi = *lo;
        return 0;
    }
    if (parse_port_num(s, (size_t)(dash - s), lo) < 0 ||
        parse_port_num(dash + 1, n - (size_t)(dash - s) - 1, hi) < 0 || *hi < *lo)
        return -1;
    return 0;
}

int sv_parse_ports(const char *s, struct sv_port_spec *out, size_t max, size_t *n, sv_error_t *err)
{
    char buf[256];
    if (strlen(s) >= sizeof(buf))
        goto bad;
    strcpy(buf, s);
    char proto[4] = "tcp";
    char *slash = strchr(buf, '/');
    if (slash) {
        *slash = '\0';
        if (strcmp(slash + 1, "tcp") != 0 && strcmp(slash + 1, "udp") != 0)
            return sv_error(err, 0, "port \"%s\": protocol \"%s\" is not tcp or udp", s, slash + 1);
        strcpy(proto, slash + 1);
    }
    /* Split from the right: [ip:][host:]container; ip may be [v6]. */
    char *ip = NULL, *host = NULL, *cont = buf;
    char *last = strrchr(buf, ':');
    if (last) {
        *last = '\0';
        cont = last + 1;
        host = buf;
        char *prev = buf[0] == '[' ? strstr(buf, "]:") : strrchr(buf, ':');
        if (prev) {
            if (buf[0] == '[') {
                prev++;
                ip = buf + 1;
                prev[-1] = '\0';
            } else {
                ip = buf;
            }
            *prev = '\0';
            host = prev + 1;
        }
    }
    int clo, chi, hlo = 0, hhi = 0;
    if (parse_port_range(cont, strlen(cont), &clo, &chi) < 0)
        goto bad;
    if (host && !*host && !ip)
        goto bad; /* ":80" — "IP::80" (any host port on IP) is fine */
    if (host && *host) {
        if (parse_port_range(host, strlen(host), &hlo, &hhi) < 0)
            goto bad;
        if (hhi - hlo != chi - clo)
            return sv_error(err, 0, "port \"%s\": host and container ranges differ in size", s);
    }
    if (ip && (strlen(ip) == 0 || strlen(ip) >= sizeof(out->host_ip)))
        goto bad;
    size_t count = (size_t)(chi - clo + 1);
    if (count > max)
        return sv_error(err, 0, "port \"%s\": range too large (at most %zu ports)", s, max);
    for (size_t i = 0; i < count; i++) {
        struct sv_port_spec *p = &out[i];
        memset(p, 0, sizeof(*p));
        const char *addr = ip ? ip : "127.0.0.1";
        memcpy(p->host_ip, addr, strlen(addr) + 1); /* length checked above */
        p->container = clo + (int)i;
        p->host = hlo ? hlo + (int)i : 0;
        strcpy(p->protocol, proto);
    }
    *n = count;
    return 0;
bad:
    return sv_error(err, 0,
                    "\"%s\" is not a port mapping (expected \"PORT\", "
                    "\"HOST:CONTAINER\" or \"IP:HOST:CONTAINER\", optionally /tcp or /udp)",
                    s);
}

static const struct {
    const char *name;
    int signo;
} signals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
    {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
    {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

const char *sv_signal_name(int signo)
{
    static char buf[16];
    for (size_t i = 0; i < SV_ARRAY_LEN(signals); i++)
        if (signals[i].signo == signo) {
            snprintf(buf, sizeof(buf), "SIG%s", signals[i].name);
            return buf;
        }
    snprintf(buf, sizeof(buf), "%d", signo);
    return buf;
}

int sv_parse_signal(const char *s, int *signo, sv_error_t *err)
{
    if (isdigit((unsigned char)s[0])) {
        char *end;
        long v = strtol(s, &end, 10);
        if (*end == '\0' && v >= 1 && v <= 64) {
            *signo = (int)v;
            return 0;
        }
    } else {
        const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
        for (size_t i = 0; i < SV_ARRAY_LEN(signals); i++)
            if (strcasecmp(name, signals[i].name) == 0) {
                *signo = signals[i].signo;
                return 0;
            }
    }
    return sv_error(err, 0, "\"%s\" is not a signal (expected e.g. \"SIGTERM\", \"INT\" or 15)", s);
}

/* r, w and m, each at most once, in any order: normalised to "rwm"'s. */
static bool device_access(const char *s, char out[4])
{
    bool r = false, w = false, m = false;
    for (const char *p = s; *p; p++) {
        bool *bit = *p == 'r' ? &r : *p == 'w' ? &w : *p == 'm' ? &m : NULL;
        if (bit == NULL || *bit)
            return false;
        *bit = true;
    }
    if (!r && !w && !m)
        return false;
    snprintf(out, 4, "%s%s%s", r ? "r" : "", w ? "w" : "", m ? "m" : "");
    return true;
}

/* Where a device may not show: the runtime's own mounts under /dev too
 * (a file made in devpts or mqueue is not a mount point). */
static const char *device_target_refused(const char *clean)
{
    const char *why = sv_path_refused_target(clean);
    if (why)
        return why;
    static const char *const own[] = {"/dev/pts", "/dev/mqueue", "/dev/shm"};
    for (size_t i = 0; i < SV_ARRAY_LEN(own); i++) {
        size_t n = strlen(own[i]);
        if (strncmp(clean, own[i], n) == 0 && (clean[n] == '\0' || clean[n] == '/'))
            return "the container's own file system is mounted there";
    }
    return NULL;
}

void sv_device_spec_clear(struct sv_device_spec *d)
{
    free((char *)d->source);
    free((char *)d->target);
    memset(d, 0, sizeof(*d));
}

int sv_parse_device(const char *s, struct sv_device_spec *out, sv_error_t *err)
{
    memset(out, 0, sizeof(*out));
    cleanup_free char *copy = sv_xstrdup(s);
    char *parts[4] = {copy, NULL, NULL, NULL};
    size_t n = 1;
    for (char *c = copy; *c; c++)
        if (*c == ':') {
            if (n == 3)
                return sv_error(err, 0, "\"%s\": expected PATH[:PATH_IN][:PERMISSIONS]", s);
            *c = '\0';
            parts[n++] = c + 1;
        }
    if (parts[0][0] != '/') {
        if (strchr(parts[0], '=') && strchr(parts[0], '/'))
            return sv_error(err, 0,
                            "\"%s\": CDI device names are not supported; give the device "
                            "node's path (/dev/...)",
                            s);
        return sv_error(err, 0, "\"%s\": the device must be an absolute path (/dev/...)", s);
    }
    snprintf(out->access, sizeof(out->access), "rwm");
    const char *target = parts[0];
    if (n == 3 && !device_access(parts[2], out->access))
        return sv_error(err, 0,
                        "\"%s\": permissions \"%s\": expected r, w and m (read, write, mknod), "
                        "e.g. rw",
                        s, parts[2]);
    if (n >= 2 && !(n == 2 && device_access(parts[1], out->access)))
        target = parts[1];
    if (target[0] != '/')
        return sv_error(err, 0,
                        "\"%s\": the path inside the container must be absolute, got "
                        "\"%s\"",
                        s, target);
    cleanup_free char *clean = sv_path_clean(target);
    const char *why = device_target_refused(clean);
    if (why)
        return sv_error(err, 0,
                        "\"%s\": the device cannot go to %s: %s (say where it goes inside: "
                        "%s:/dev/ttyUSB0)",
                        s, clean, why, parts[0]);
    out->source = sv_path_clean(parts[0]);
    out->target = sv_steal(clean);
    return 0;
}
