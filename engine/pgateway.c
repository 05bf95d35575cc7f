#include "pgateway.h"

#include "idmap.h"
#include "stack.h"
#include "store.h"
#include "userns.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEADER_MAX (1u << 20)

static const struct sv_value *get(const struct sv_value *o, const char *key)
{
    for (size_t i = 0; o && o->kind == SV_OBJECT && i < o->u.list.n; i++)
        if (strcmp(o->u.list.keys[i], key) == 0)
            return &o->u.list.items[i];
    return NULL;
}

static const char *get_str(const struct sv_value *o, const char *key)
{
    const struct sv_value *v = get(o, key);
    return v && v->kind == SV_STR ? v->u.s : NULL;
}

static bool get_true(const struct sv_value *o, const char *key)
{
    const struct sv_value *v = get(o, key);
    return v && v->kind == SV_BOOL && v->u.b;
}

bool sv_gateway_wanted(const struct sv_service *s)
{
    const char *mode = s->proserve ? get_str(get(s->proserve, "isolation"), "mode") : NULL;
    return mode && (strcmp(mode, "container") == 0 || strcmp(mode, "docker") == 0 ||
                    strcmp(mode, "sandbox") == 0);
}

const char *sv_gateway_image(const struct sv_service *s)
{
    return sv_gateway_wanted(s) ? get_str(get(s->proserve, "isolation"), "image") : NULL;
}

char *sv_gateway_dir(const char *stack, const char *service)
{
    cleanup_free char *dir = sv_stack_dir(stack);
    return sv_xasprintf("%s/gateway-%s", dir, service);
}

int sv_gateway_listen(const char *stack, const struct sv_service *s, sv_error_t *err)
{
    cleanup_free char *dir = sv_gateway_dir(stack, s->name);
    cleanup_free char *path = sv_xasprintf("%s/sock", dir);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return sv_error(err, ENAMETOOLONG, "socket path %s is too long", path);
    strcpy(addr.sun_path, path);
    /* Only the service's container root may connect. */
    uid_t uid = 0;
    gid_t gid = 0;
    if (strcmp(s->userns, "host") != 0) {
        struct sv_idmap map;
        if (sv_userns_range(&map, err) < 0)
            return -1;
        uid = map.uid_base;
        gid = map.gid_base;
    }
    if (sv_mkdir_p(dir, 0700, err) < 0 || chown(dir, uid, gid) < 0)
        return sv_error(err, errno, "cannot prepare %s", dir);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    /* The directory is bound writable into the service's container, whose
     * root may put a link where the socket was: never follow one (a chown
     * through "sock -> /dev/null" would hand the host's node over). */
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 64) < 0 ||
        fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
        fchmodat(AT_FDCWD, path, 0600, AT_SYMLINK_NOFOLLOW) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return sv_error(err, e, "cannot listen on %s", path);
    }
    return fd;
}

/* Read the header line and the three descriptors that come with it. */
static json_t *receive(int conn, int fds[3])
{
    char *buf = sv_xmalloc(HEADER_MAX + 1);
    size_t len = 0;
    fds[0] = fds[1] = fds[2] = -1;
    while (len < HEADER_MAX && !memchr(buf, '\n', len)) {
        char cbuf[CMSG_SPACE(3 * sizeof(int))];
        struct iovec iov = {buf + len, HEADER_MAX - len};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        if (fds[0] < 0) {
            msg.msg_control = cbuf;
            msg.msg_controllen = sizeof(cbuf);
        }
        ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
        if (n <= 0)
            break;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (fds[0] < 0 && c && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len == CMSG_LEN(3 * sizeof(int)))
            memcpy(fds, CMSG_DATA(c), 3 * sizeof(int));
        len += (size_t)n;
    }
    json_t *j = fds[2] >= 0 ? json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
    free(buf);
    return j;
}

static pid_t spawn(char **argv, const int stdio[3])
{
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 3; i++)
            if (dup2(stdio[i], i) < 0)
                _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

/* The connection's child: run the handler's container; kill it when the
 * service host hangs up first; report the exit code. */
static void serve(int conn, const char *stack, const struct sv_service *s)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the supervisor's mask is not theirs */
    signal(SIGPIPE, SIG_IGN);
    int fds[3];
    json_t *h = receive(conn, fds);
    json_t *hargv = json_object_get(h, "argv");
    if (!json_is_array(hargv) || json_array_size(hargv) == 0)
        _exit(1);
    const struct sv_value *iso = get(s->proserve, "isolation");
    const char *base = get_str(s->proserve, "base_dir");
    const char *image = get_str(iso, "image") ? get_str(iso, "image") : "host";
    char *self = realpath("/proc/self/exe", NULL);
    char name[128];
    snprintf(name, sizeof(name), "%s-%s-h%d", stack, s->name, (int)getpid());
    size_t n_env = json_array_size(json_object_get(h, "env"));
    char **argv = sv_xcalloc(32 + 2 * n_env + json_array_size(hargv), sizeof(char *));
    size_t k = 0;
    argv[k++] = self;
    argv[k++] = "--root";
    argv[k++] = (char *)sv_state_root();
    argv[k++] = "run";
    argv[k++] = "-i"; /* the request comes on stdin */
    argv[k++] = "--rm";
    argv[k++] = "--name";
    argv[k++] = name;
    /* A one-off container has no stack network: the host's, or none. */
    argv[k++] = "--network";
    argv[k++] = get_true(iso, "network_isolation") ? "none" : "host";
    if (get_true(iso, "filesystem_isolation"))
        argv[k++] = "--read-only";
    const struct sv_value *mem = get(iso, "memory_limit");
    if (!mem || (mem->kind != SV_STR && mem->kind != SV_INT))
        mem = get(get(iso, "resources"), "memory");
    char memory[32];
    if (mem && (mem->kind == SV_STR || mem->kind == SV_INT)) {
        if (mem->kind == SV_STR)
            snprintf(memory, sizeof(memory), "%s", mem->u.s);
        else
            snprintf(memory, sizeof(memory), "%lld", (long long)mem->u.i);
        argv[k++] = "--memory";
        argv[k++] = memory;
    }
    const struct sv_value *res = get(iso, "resources");
    const struct sv_value *cpu = get(iso, "cpu_limit");
    if (!cpu || (cpu->kind != SV_NUM && cpu->kind != SV_INT && cpu->kind != SV_STR))
        cpu = get(res, "cpu") ? get(res, "cpu") : get(res, "cpus");
    char cpus[32];
    if (cpu && (cpu->kind == SV_NUM || cpu->kind == SV_INT || cpu->kind == SV_STR)) {
        if (cpu->kind == SV_STR)
            snprintf(cpus, sizeof(cpus), "%s", cpu->u.s);
        else
            snprintf(cpus, sizeof(cpus), "%g", cpu->kind == SV_NUM ? cpu->u.d : (double)cpu->u.i);
        argv[k++] = "--cpus";
        argv[k++] = cpus;
    }
    char *vol_base = base ? sv_xasprintf("%s:%s:ro", base, base) : NULL;
    char *vol_self = sv_xasprintf("%s:/.servos/servos:ro", self);
    if (vol_base) {
        argv[k++] = "-v";
        argv[k++] = vol_base;
        argv[k++] = "-w";
        argv[k++] = (char *)base;
    }
    argv[k++] = "-v";
    argv[k++] = vol_self;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(h, "env"), i, v)
    {
        if (!json_is_string(v))
            continue;
        argv[k++] = "-e";
        argv[k++] = (char *)json_string_value(v);
    }
    argv[k++] = (char *)image;
    json_array_foreach(hargv, i, v) argv[k++] = (char *)json_string_value(v);
    pid_t pid = spawn(argv, fds);
    for (int f = 0; f < 3; f++)
        close(fds[f]);
    int status = 0;
    bool killed = false;
    while (pid > 0) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        struct pollfd p = {conn, POLLIN, 0};
        if (!killed && poll(&p, 1, 10) > 0) { /* the service host gave up */
            char rm_self[4096];
            snprintf(rm_self, sizeof(rm_self), "%s", self);
            char *rm[] = {rm_self, "--root", (char *)sv_state_root(), "rm", "-f", name, NULL};
            int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
            int nul[3] = {devnull, devnull, devnull};
            pid_t r = spawn(rm, nul);
            while (r > 0 && waitpid(r, NULL, 0) < 0 && errno == EINTR)
                ;
            close(devnull);
            killed = true;
        } else if (killed) {
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    dprintf(conn, "exit %d\n", pid > 0 ? code : 127);
    _exit(0);
}

void sv_gateway_accept(int lfd, const char *stack, const struct sv_service *s)
{
    int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        /* Keep only the connection: a copy of the supervisor's sockets
         * would keep them in its epoll sets after it closed them. */
        if (dup2(conn, 3) < 0)
            _exit(1);
        syscall(SYS_close_range, 4, ~0U, 0);
        serve(3, stack, s);
    }
    close(conn);
}

int sv_gateway_start(char *const argv[], char *const env[], const int stdio[3], sv_error_t *err)
{
    json_t *a = json_array(), *e = json_array();
    for (size_t i = 0; argv[i]; i++)
        json_array_append_new(a, json_string(argv[i]));
    for (size_t i = 0; env && env[i]; i++)
        json_array_append_new(e, json_string(env[i]));
    json_t *h = json_pack("{s:o,s:o}", "argv", a, "env", e);
    char *text = json_dumps(h, JSON_COMPACT);
    json_decref(h);
    char *line = sv_xasprintf("%s\n", text);
    free(text);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, SV_GATEWAY_PATH);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int en = errno;
        if (fd >= 0)
            close(fd);
        free(line);
        return sv_error(err, en, "cannot reach the container gateway %s", SV_GATEWAY_PATH);
    }
    char cbuf[CMSG_SPACE(3 * sizeof(int))] = {0};
    size_t len = strlen(line), sent = 0;
    while (sent < len) {
        struct iovec iov = {line + sent, len - sent};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        if (sent == 0) {
            msg.msg_control = cbuf;
            msg.msg_controllen = sizeof(cbuf);
            struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(3 * sizeof(int));
            memcpy(CMSG_DATA(c), stdio, 3 * sizeof(int));
        }
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n <= 0) {
            int en = errno;
            close(fd);
            free(line);
            return sv_error(err, en, "cannot talk to the container gateway");
        }
        sent += (size_t)n;
    }
    free(line);
    return fd;
}
