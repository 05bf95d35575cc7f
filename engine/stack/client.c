#include "stack/client.h"
#include "stack/rows.h"
#include "stack/supervisor.h"
#include "core/statedir.h"
#include "image/registry.h"
#include "proserve/pgateway.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

char *sv_client_socket_path(const char *stack)
{
    cleanup_free char *d = sv_statedir_stack(stack);
    return sv_xasprintf("%s/sock", d);
}

int sv_client_connect(const char *stack)
{
    cleanup_free char *path = sv_client_socket_path(stack);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return -1;
    strcpy(addr.sun_path, path);
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return -1;
    int connected = fd;
    fd = -1; /* the caller's now */
    return connected;
}

/* The supervisor closed the connection without an answer: ECONNRESET,
 * which sv_client_up takes for a supervisor going down. */
static int closed_on_us(sv_error_t *err)
{
    sv_error(err, 0, "the stack's supervisor closed the connection");
    (*err)->status = ECONNRESET;
    return -1;
}

int sv_client_send(int fd, const char *request, FILE *out, sv_error_t *err)
{
    size_t n = strlen(request);
    /* A supervisor that closed already (it is going down) is ECONNRESET
     * for the caller, not a SIGPIPE. */
    if (send(fd, request, n, MSG_NOSIGNAL) != (ssize_t)n || send(fd, "\n", 1, MSG_NOSIGNAL) != 1)
        return closed_on_us(err);
    int dupfd = dup(fd);
    if (dupfd < 0)
        return sv_error(err, errno, "dup");
    cleanup_fclose FILE *f = fdopen(dupfd, "r");
    if (f == NULL) {
        int e = errno;
        close(dupfd); /* fdopen took no ownership */
        return sv_error(err, e, "fdopen");
    }
    cleanup_free char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, "ok") == 0)
            return 0;
        if (strncmp(line, "error: ", 7) == 0)
            return sv_error(err, 0, "%s", line + 7);
        if (out)
            fprintf(out, "%s\n", line);
    }
    return closed_on_us(err);
}

int sv_client_request(const char *stack, const char *request, sv_error_t *err)
{
    cleanup_close int fd = -1;
    for (int tries = 0; tries < 100 && fd < 0; tries++) {
        fd = sv_client_connect(stack);
        if (fd < 0)
            sleep_ms(50);
    }
    if (fd < 0)
        return sv_error(err, 0, "stack %s is not up: no supervisor answers (servos up starts it)",
                        stack);
    return sv_client_send(fd, request, stdout, err);
}

bool sv_client_supervisor_alive(const char *stack)
{
    cleanup_free char *dir = sv_statedir_stack(stack);
    cleanup_free char *path = sv_xasprintf("%s/supervisor.lock", dir);
    cleanup_close int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        return true;
    flock(fd, LOCK_UN);
    return false;
}

bool sv_client_wait_gone(const char *stack, int ms)
{
    for (int t = 0; t < ms; t += 20) {
        if (!sv_client_supervisor_alive(stack))
            return true;
        sleep_ms(20);
    }
    return !sv_client_supervisor_alive(stack);
}

int sv_client_ensure_supervisor(const char *stack, sv_error_t *err)
{
    cleanup_close int fd = sv_client_connect(stack);
    if (fd >= 0)
        return 0;
    cleanup_rows struct sv_rows rows = {0};
    if (sv_rows_list(NULL, stack, &rows, err) < 0)
        return -1;
    if (rows.n == 0)
        return 0;
    if (sv_supervisor_spawn(stack, NULL, err) < 0 && (*err)->status != EBUSY)
        return -1;
    sv_error_free(err);
    return 0;
}

int sv_client_lock(const char *stack, sv_error_t *err)
{
    if (sv_statedir_stack_make(stack, err) < 0)
        return -1;
    cleanup_free char *dir = sv_statedir_stack(stack);
    cleanup_free char *path = sv_xasprintf("%s/up.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "servos: stack %s is being changed by another servos; waiting\n", stack);
        flock(fd, LOCK_EX);
    }
    return fd;
}

/* Missing images are pulled here, where the user sees the progress. */
static int pull_images(const struct sv_graph *g, sv_error_t *err)
{
    for (size_t i = 0; i < g->n_services; i++) {
        const char *handlers = sv_gateway_image(&g->services[i]); /* ProServe's */
        if ((g->services[i].image && sv_registry_ensure(g->services[i].image, false, err) < 0) ||
            (handlers && sv_registry_ensure(handlers, false, err) < 0))
            return -1;
    }
    return 0;
}

int sv_client_up(const char *stack, struct sv_graph *g, sv_error_t *err)
{
    if (pull_images(g, err) < 0)
        return -1;
    /* The supervisor that answers takes the request. One that is going
     * down (a `down` that was interrupted goes on) no longer listens, and
     * one that took the request as it went down closes without an answer:
     * then wait until it is gone and start a new one. A supervisor still
     * starting up (another command's) listens soon. */
    bool told = false;
    int64_t t0 = sv_now_ms();
    for (;;) {
        cleanup_close int fd = sv_client_connect(stack);
        if (fd >= 0) {
            int rc = sv_client_send(fd, "up", stdout, err);
            if (rc == 0 || (*err)->status != ECONNRESET)
                return rc;
            sv_error_free(err);
        } else if (!sv_client_supervisor_alive(stack)) {
            if (sv_supervisor_spawn(stack, g, err) == 0)
                return 0;
            if ((*err)->status != EBUSY)
                return -1;
            sv_error_free(err);
        }
        if (sv_now_ms() - t0 > 10 * 60 * 1000)
            return sv_error(err, ETIMEDOUT,
                            "stack %s: its supervisor neither answers nor exits (see %s/stacks/%s/"
                            "supervisor.log)",
                            stack, sv_state_root(), stack);
        if (!told && sv_now_ms() - t0 > 1000) {
            fprintf(stderr, "servos: stack %s: waiting for its previous supervisor to finish\n",
                    stack);
            told = true;
        }
        sleep_ms(50);
    }
}
