/* The control socket: <stack dir>/sock, root's only. A client sends one
 * line, the verb and its arguments separated by tabs; the answer is lines,
 * the last one "ok" or "error: MESSAGE" (client.h reads them). One client
 * at a time, from the main loop: a request may stop and start replicas,
 * which pumps events itself. */
#include "stack/supervisor_int.h"
#include "stack/client.h"
#include "stack/lastup.h"
#include "stack/volumes.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

int control_listen(struct supervisor *sup, sv_error_t *err)
{
    cleanup_free char *path = sv_client_socket_path(sup->stack);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return sv_error(err, ENAMETOOLONG, "socket path %s is too long", path);
    strcpy(addr.sun_path, path);
    unlink(path);
    sup->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sup->listen_fd < 0 || bind(sup->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(sup->listen_fd, 16) < 0)
        return sv_error(err, errno, "cannot listen on %s", path);
    chmod(path, 0600);
    sup_watch(sup, sup->listen_fd);
    return 0;
}

/* Down has begun: a client connecting from now on finds no supervisor
 * (and `up` waits for this one to finish) instead of a socket that takes
 * its request and then closes. */
void control_stop_listening(struct supervisor *sup)
{
    if (sup->listen_fd < 0)
        return;
    sup_unwatch(sup, sup->listen_fd);
    close(sup->listen_fd);
    sup->listen_fd = -1;
    cleanup_free char *path = sv_client_socket_path(sup->stack);
    unlink(path);
}

static void reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(int fd, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (n > (int)sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    if (write(fd, buf, (size_t)n) < 0) {
        /* the CLI went away; nothing to tell */
    }
}

/* "ok" when rc is 0, else the error; our log keeps any error. */
static void reply_rc(int fd, int rc, sv_error_t *err)
{
    if (rc == 0)
        reply(fd, "ok");
    else
        reply(fd, "error: %s", *err ? (*err)->msg : "failed");
    sup_report(err);
}

/* ---- the verbs --------------------------------------------------------------- */

static void do_ping(struct supervisor *sup, int fd, int argc, char **argv)
{
    reply(fd, "ok");
}

/* The saved request evaluated again (its git sources at their pins). */
static void do_up(struct supervisor *sup, int fd, int argc, char **argv)
{
    sv_error_t err = NULL;
    struct sv_graph *g = NULL, *before = sup->g;
    sv_store_burst_begin(sup->st);
    int rc = sv_lastup_load(sup->stack, SV_GIT_PINNED, &g, &err) < 0 ? -1 : reconcile(sup, g, &err);
    /* reconcile re-points every replica into the new graph first thing,
     * so the previous one is no longer referenced. */
    if (g && before != g)
        sv_graph_free(before);
    reply_rc(fd, rc, &err);
    sv_store_burst_end(sup->st);
}

/* down [GRACE-MS [volumes|keep]] */
static void do_down(struct supervisor *sup, int fd, int argc, char **argv)
{
    sv_error_t err = NULL;
    int64_t grace = argc > 1 ? strtoll(argv[1], NULL, 10) : -1;
    int rc = reconcile_take_down(sup, grace, &err);
    /* Volumes only once nothing of the stack is left to use them. */
    if (rc == 0 && argc > 2 && strcmp(argv[2], "volumes") == 0 &&
        sv_volumes_remove(sup->stack, sup->g, &err) < 0)
        rc = -1;
    reply_rc(fd, rc, &err);
}

/* scale SERVICE N */
static void do_scale(struct supervisor *sup, int fd, int argc, char **argv)
{
    sv_error_t err = NULL;
    struct sv_service *s = (struct sv_service *)sv_graph_find(sup->g, argv[1]);
    if (s == NULL) {
        reply(fd, "error: no service \"%s\" in stack %s", argv[1], sup->stack);
        return;
    }
    if (s->container_name && atoi(argv[2]) > 1) {
        reply(fd,
              "error: service \"%s\" has container_name \"%s\", which names one container: "
              "it cannot have %s replicas",
              s->name, s->container_name, argv[2]);
        return;
    }
    int before = s->replicas;
    s->replicas = atoi(argv[2]);
    if (sv_graph_check_names(sup->g, &err) < 0) {
        s->replicas = before; /* refused: nothing changed */
        reply_rc(fd, -1, &err);
        return;
    }
    reply_rc(fd, reconcile(sup, sup->g, &err), &err);
}

/* restart SERVICE: every replica of it, stopped and started again. */
static void do_restart(struct supervisor *sup, int fd, int argc, char **argv)
{
    sv_error_t err = NULL;
    bool any = false;
    for (int n = 1;; n++) {
        struct replica *r = replica_find(sup, argv[1], n);
        if (r == NULL)
            break;
        any = true;
        replica_stop(sup, r, replica_grace(r, -1));
        r->restarts++;
        sv_error_t e = NULL;
        /* The new incarnation's row says how often (ps, and the
         * container.restart event), as after a restart by policy. */
        if (replica_start(sup, r, &e) == 0) {
            sv_store_set_restarts(sup->st, r->id, r->restarts, &e);
            sup_report(&e);
        } else {
            /* Stopped, and it cannot start now (a full disk, say): it is
             * not left down, but retried with the back-off, as a replica
             * that crashed would be. */
            replica_retry_later(r);
            sv_error(&err, 0,
                     "%s-%d was stopped but cannot start again (the supervisor keeps "
                     "trying): %s",
                     r->service, r->n, e->msg);
            sup_report(&e);
        }
    }
    if (!any)
        reply(fd, "error: no replicas of \"%s\" in stack %s", argv[1], sup->stack);
    else
        reply_rc(fd, err ? -1 : 0, &err);
}

static const struct control_verb {
    const char *name;
    int argc;         /* with the verb; 0: any */
    bool needs_graph; /* refused before the first reconcile */
    void (*run)(struct supervisor *sup, int fd, int argc, char **argv);
} control_verbs[] = {
    {"ping", 0, false, do_ping},  {"up", 0, false, do_up},           {"down", 0, false, do_down},
    {"scale", 3, true, do_scale}, {"restart", 2, false, do_restart},
};

static void control_dispatch(struct supervisor *sup, int fd, char *line)
{
    char *argv[8] = {0};
    int argc = 0;
    for (char *save = NULL, *p = strtok_r(line, "\t", &save); p && argc < 8;
         p = strtok_r(NULL, "\t", &save))
        argv[argc++] = p;
    if (argc == 0) {
        reply(fd, "error: empty request");
        return;
    }
    for (size_t i = 0; i < SV_ARRAY_LEN(control_verbs); i++) {
        const struct control_verb *v = &control_verbs[i];
        if (strcmp(argv[0], v->name) == 0 && (v->argc == 0 || v->argc == argc) &&
            (!v->needs_graph || sup->g)) {
            v->run(sup, fd, argc, argv);
            return;
        }
    }
    reply(fd, "error: unknown request \"%s\"", argv[0]);
}

void control_accept(struct supervisor *sup)
{
    cleanup_close int fd = accept4(sup->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    char line[4096];
    size_t len = 0;
    ssize_t n;
    struct timeval tv = {5, 0}; /* a client that never finishes its line */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    while (len < sizeof(line) - 1 && (n = read(fd, line + len, sizeof(line) - 1 - len)) > 0) {
        len += (size_t)n;
        if (memchr(line, '\n', len))
            break;
    }
    line[len] = '\0';
    line[strcspn(line, "\n")] = '\0';
    control_dispatch(sup, fd, line);
}
