/* sv_api_serve: one daemon per state root (serve.lock), in the
 * foreground or detached (-d: it says it listens, or why not, before the
 * command returns), listening on <root>/servos.sock and, when asked, on
 * TCP with a bearer token (and TLS). */
#include "api/api_int.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int check_opts(const struct sv_api_opts *o, sv_error_t *err)
{
    if (o->listen && o->token_file == NULL)
        return sv_error(err, 0,
                        "--listen needs --token-file: on TCP every request must carry a "
                        "bearer token (openssl rand -hex 32 > token; chmod 600 token)");
    if (o->listen == NULL && (o->token_file || o->ro_token_file || o->tls_cert || o->tls_key))
        return sv_error(err, 0,
                        "tokens and TLS are for the TCP listener: add --listen "
                        "127.0.0.1:PORT (the unix socket needs none)");
    if (!o->tls_cert != !o->tls_key)
        return sv_error(err, 0, "TLS needs both --tls-cert and --tls-key");
    return 0;
}

/* serve.lock, held for as long as the daemon lives. */
static int take_lock(sv_error_t *err)
{
    const char *root = sv_state_root();
    if (mkdir(root, 0711) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cannot create the state root %s", root);
    cleanup_free char *path = sv_xasprintf("%s/serve.lock", root);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return sv_error(err, errno, "cannot open %s", path);
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return fd;
    close(fd);
    cleanup_free char *pidfile = sv_xasprintf("%s/serve.pid", root);
    cleanup_free char *pid = NULL;
    if (sv_read_file(pidfile, 64, &pid, NULL, NULL) == 0)
        pid[strcspn(pid, "\n")] = '\0';
    return sv_error(err, EBUSY, "servos serve already runs for %s%s%s%s", root, pid ? " (pid " : "",
                    pid ? pid : "", pid ? ")" : "");
}

/* Group servos may use the socket only if it can reach it: the state
 * root must let others traverse (it does when servos made it). */
static void warn_unreachable(void)
{
    struct stat st;
    if (getgrnam("servos") && stat(sv_state_root(), &st) == 0 && !(st.st_mode & 0011))
        fprintf(stderr,
                "servos serve: group servos cannot reach %s/servos.sock: %s is %04o (chmod 711 "
                "%s lets it through; root's files there stay root's)\n",
                sv_state_root(), sv_state_root(), (unsigned)(st.st_mode & 07777), sv_state_root());
}

static void more_descriptors(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* -d: the daemon goes on in a grandchild; the command waits for its word
 * ("ok", or the error) on a pipe and exits with it. Returns in the
 * daemon with *report set; exits in the command. */
static void detach(int *report)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        perror("servos serve: pipe");
        exit(1);
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("servos serve: fork");
        exit(1);
    }
    if (pid > 0) {
        close(p[1]);
        waitpid(pid, NULL, 0);
        char buf[4096];
        size_t n = sv_read_pipe(p[0], buf, sizeof(buf));
        if (n >= 2 && strncmp(buf, "ok", 2) == 0) {
            printf("%s", buf + 2);
            exit(0);
        }
        fprintf(stderr, "servos serve: %s\n", n ? buf : "the daemon died while starting");
        exit(1);
    }
    close(p[0]);
    setsid();
    if (fork() != 0)
        _exit(0);
    *report = p[1];
    cleanup_free char *logpath = sv_xasprintf("%s/serve.log", sv_state_root());
    int log = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    dup2(null, 0);
    if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
        close(log);
    }
    close(null);
}

static int start(const struct sv_api_opts *o, char *where, size_t size, sv_error_t *err)
{
    cleanup_free char *cert = NULL, *key = NULL;
    if (o->token_file && auth_load(o->token_file, o->ro_token_file, err) < 0)
        return -1;
    if (o->tls_cert && (sv_read_file(o->tls_cert, 1 << 20, &cert, NULL, err) < 0 ||
                        sv_read_file(o->tls_key, 1 << 20, &key, NULL, err) < 0))
        return -1;
    if (loop_init(err) < 0 || logfeed_init(err) < 0 || evfeed_init(err) < 0)
        return -1;
    route_register_builtin();
    cleanup_free char *sock = sv_xasprintf("%s/servos.sock", sv_state_root());
    if (httpd_listen_unix(sock, err) < 0)
        return -1;
    snprintf(where, size, "unix:%s", sock);
    if (o->listen) {
        if (httpd_listen_tcp(o->listen, cert, key, err) < 0)
            return -1;
        size_t n = strlen(where);
        snprintf(where + n, size - n, " and %s://%s", cert ? "https" : "http", o->listen);
    }
    loop_every(15000, stream_heartbeat_all, NULL);
    return 0;
}

int sv_api_serve(const struct sv_api_opts *o)
{
    sv_error_t err = NULL;
    if (check_opts(o, &err) < 0)
        return sv_error_report(&err) + 1; /* 2: a misuse */
    cleanup_close int lock = take_lock(&err);
    if (lock < 0)
        return sv_error_report(&err);
    int report = -1;
    if (o->detach)
        detach(&report);
    umask(077);
    more_descriptors();
    /* The access log, a line a request, goes out with the watchdog's
     * flush (every 250 ms), not a write each. */
    static char logbuf[1 << 16];
    setvbuf(stderr, logbuf, _IOFBF, sizeof(logbuf));
    warn_unreachable();
    char where[512];
    if (start(o, where, sizeof(where), &err) < 0) {
        if (report >= 0) {
            dprintf(report, "%s", err->msg);
            _exit(1);
        }
        return sv_error_report(&err);
    }
    cleanup_free char *pidfile = sv_xasprintf("%s/serve.pid", sv_state_root());
    FILE *pf = sv_fopen_mode(pidfile, O_TRUNC, 0644);
    if (pf) {
        fprintf(pf, "%d\n", (int)getpid());
        fclose(pf);
    }
    if (chdir("/") < 0) {
        /* stays where it was */
    }
    fprintf(stderr, "servos serve: listening on %s (pid %d)\n", where, (int)getpid());
    if (report >= 0) { /* the command prints it, and returns */
        dprintf(report, "okservos serve: listening on %s (pid %d)\n", where, (int)getpid());
        close(report);
    }
    loop_run();
    fprintf(stderr, "servos serve: stopping\n");
    httpd_stop();
    cleanup_free char *sock = sv_xasprintf("%s/servos.sock", sv_state_root());
    unlink(sock);
    unlink(pidfile);
    return 0;
}

void route_register_builtin(void)
{
    r_stacks_register();
    r_containers_register();
    r_images_register();
    r_metrics_register();
    r_misc_register();
}
