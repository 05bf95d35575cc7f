/* RUN: the command in a servos container on the stage's layers, with the
 * isolation `servos run` gives (the runtime's own path: user namespace,
 * seccomp, Docker's capabilities, no_new_privs), the stage's environment,
 * user and working directory, and the host's network unless the build or
 * the step says none. Its output is streamed; the overlay's upper
 * directory, on disk, becomes the step's layer. The container is never
 * recorded (no `servos ls` row) and dies with the build. */
#include "build/build_int.h"
#include "build/tarw.h"

#include "core/fs.h"
#include "core/trace.h"
#include "core/store.h"
#include "runtime/container.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TAIL 4096 /* the output a failed step shows the end of */

struct tail {
    char buf[TAIL];
    size_t len; /* bytes kept, the newest at the end */
};

static void tail_add(struct tail *t, const char *s, size_t n)
{
    if (n >= TAIL) {
        memcpy(t->buf, s + n - TAIL, TAIL);
        t->len = TAIL;
        return;
    }
    if (t->len + n > TAIL) {
        size_t drop = t->len + n - TAIL;
        memmove(t->buf, t->buf + drop, t->len - drop);
        t->len -= drop;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
}

/* The last lines of the output, indented, at most ten. */
static char *tail_lines(const struct tail *t)
{
    size_t end = t->len;
    while (end && (t->buf[end - 1] == '\n' || t->buf[end - 1] == '\r'))
        end--;
    size_t start = end;
    for (int lines = 0; start > 0 && lines < 10; start--)
        if (t->buf[start - 1] == '\n' && ++lines == 10)
            break;
    if (start == end)
        return sv_xstrdup(" (no output)");
    char *out = sv_xcalloc(1, (end - start) * 2 + 32);
    strcpy(out, "; its output ended with:\n  ");
    char *o = out + strlen(out);
    for (size_t i = start; i < end; i++) {
        *o++ = t->buf[i] == '\r' ? '\n' : t->buf[i];
        if (t->buf[i] == '\n' || t->buf[i] == '\r') {
            *o++ = ' ';
            *o++ = ' ';
        }
    }
    *o = '\0';
    return out;
}

/* argv joined by spaces, as history shows a shell-form command. */
static char *argv_line(char *const *argv)
{
    size_t len = 1;
    for (char *const *a = argv; *a; a++)
        len += strlen(*a) + 1;
    char *out = sv_xcalloc(1, len);
    for (char *const *a = argv; *a; a++)
        sprintf(out + strlen(out), "%s%s", a == argv ? "" : " ", *a);
    return out;
}

/* The command: the exec form as it is, the shell form after SHELL. */
static char **run_argv(const struct bstage *st, const struct sv_df_inst *in)
{
    size_t n = 0, k = 0;
    char **src = in->json ? in->json : st->shell;
    while (src[n])
        n++;
    char **v = sv_xcalloc(n + 2, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        v[k++] = sv_xstrdup(src[i]);
    if (in->json == NULL)
        v[k++] = sv_xstrdup(in->args);
    return v;
}

static int run_network(const struct bstep *s, enum sv_netmode *net, sv_error_t *err)
{
    bool present;
    if (sv_dockerfile_flag(s->in, "mount", &present), present)
        return sv_builder_fail(s, 0,
                               "RUN --mount is not supported: COPY what the step "
                               "needs, or RUN the download");
    if (sv_dockerfile_flag(s->in, "security", &present), present)
        return sv_builder_fail(s, 0,
                               "RUN --security is not supported (steps run with the "
                               "isolation of servos run)");
    const char *flag = sv_dockerfile_flag(s->in, "network", NULL);
    *net = s->b->o->network_none ? SV_NET_NONE : SV_NET_HOST;
    if (flag == NULL || strcmp(flag, "default") == 0)
        return 0;
    if (strcmp(flag, "none") == 0)
        *net = SV_NET_NONE;
    else if (strcmp(flag, "host") == 0 && !s->b->o->network_none)
        *net = SV_NET_HOST;
    else if (strcmp(flag, "host") != 0)
        return sv_builder_fail(s, EINVAL, "RUN --network=%s: expected default, none or host", flag);
    return 0;
}

/* The overlay's lower layers, top first ("empty" for none). */
static int lowers(struct build *b, const struct bstage *st, char **lower, sv_error_t *err)
{
    cleanup_strv char **dirs = NULL;
    size_t n;
    if (sv_bstate_layer_dirs(b, st, &dirs, &n, err) < 0)
        return -1;
    if (n == 0)
        return sv_bwork_empty_dir(b, lower, err);
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(dirs[i]) + 1;
    char *s = sv_xcalloc(1, len);
    for (size_t i = 0; i < n; i++)
        sprintf(s + strlen(s), "%s%s", i ? ":" : "", dirs[i]);
    *lower = s;
    return 0;
}

/* Copy the container's output to the progress stream as it comes. */
static void stream(struct bstep *s, int fd, struct tail *t)
{
    char buf[8192];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        tail_add(t, buf, (size_t)n);
        if (s->b->out) {
            fwrite(buf, 1, (size_t)n, s->b->out);
            fflush(s->b->out);
        }
    }
}

static void container_freep(struct sv_container **c)
{
    sv_container_free(*c);
}

/* Run spec in a container, its output streamed; its exit code. */
static int run_container(struct bstep *s, struct sv_run_spec *spec, const char *tmp, int *code,
                         struct tail *t, sv_error_t *err)
{
    __attribute__((cleanup(container_freep))) struct sv_container *c = NULL;
    if (sv_container_create(NULL, spec, &c, err) < 0)
        return -1;
    sv_bwork_note_container(tmp, c->id);
    int p[2];
    cleanup_close int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null < 0 || pipe2(p, O_CLOEXEC) < 0) {
        sv_container_remove(NULL, c->id, NULL);
        return sv_error(err, errno, "pipe");
    }
    cleanup_close int rd = p[0];
    int fds[3] = {null, p[1], p[1]}, exec_status = 0;
    int rc = sv_container_start(NULL, c, fds, &exec_status, err);
    close(p[1]); /* the container's copy is the one that ends the stream */
    if (rc == 0) {
        sv_bwork_watch(c->pid);
        if (sv_bwork_interrupted()) /* before the watch began */
            kill(c->pid, SIGKILL);
        stream(s, rd, t);
        bool oom;
        sv_container_wait(c, code, &oom);
        sv_bwork_watch(0);
    } else if (exec_status == 127 && s->in->json == NULL) {
        sv_error_wrap(err,
                      "the image has no %s to run the shell form (on scratch, use the exec "
                      "form: RUN [\"/path/to/program\"])",
                      spec->argv[0]);
    } else if (exec_status) {
        sv_error_wrap(err, "the step's command cannot run");
    }
    sv_container_remove(NULL, c->id, NULL);
    return rc;
}

static int execute(struct bstep *s, char **argv, enum sv_netmode net, struct bcache_entry *e,
                   sv_error_t *err)
{
    struct build *b = s->b;
    struct bstage *st = s->st;
    sv_builder_progress(s, NULL);
    cleanup_free char *lower = NULL, *tmp = NULL;
    if (lowers(b, st, &lower, err) < 0 || sv_bwork_tmpdir(b, &tmp, err) < 0)
        return -1;
    cleanup_strv char **env = sv_bstate_run_env(st);
    const char *user = json_string_value(json_object_get(st->config, "User"));
    const char *wd = json_string_value(json_object_get(st->config, "WorkingDir"));
    struct sv_run_spec spec = {
        .image = st->base ? st->base : "scratch",
        .argv = argv,
        .env = env,
        .workdir = wd && *wd ? wd : NULL,
        .user = user && *user ? user : NULL,
        .limits = {-1, -1, -1},
        .network = net,
        .build_lower = lower,
        .build_upper = tmp,
        .die_with_parent = true,
        .no_sync = true,
    };
    struct tail t = {.len = 0};
    int code = 0;
    sv_trace("build: run: layers ready");
    int rc = run_container(s, &spec, tmp, &code, &t, err);
    sv_trace("build: run: the step's command ended");
    cleanup_free char *upper = sv_xasprintf("%s/upper", tmp);
    struct sv_tarw_out out = {0};
    if (rc == 0 && sv_bwork_interrupted())
        rc = sv_error(err, EINTR, "interrupted");
    if (rc == 0 && code != 0) {
        cleanup_free char *lines = tail_lines(&t);
        rc = sv_builder_fail(s, 0, "exit code %d%s", code, lines);
    }
    /* A stage the image does not take (a build stage COPY --from reads)
     * keeps its layer as a directory only: no tar, no gzip (bimage.c
     * writes the blob should an image take it later). */
    if (rc == 0)
        rc = sv_differ_commit(upper, &b->map, true, st->in_image ? &out : NULL, &e->empty, err);
    sv_trace("build: run: layer written");
    if (rc == 0 && st->in_image) {
        memcpy(e->layer.digest, out.digest, sizeof(out.digest));
        memcpy(e->layer.diff_id, out.diff_id, sizeof(out.diff_id));
        e->layer.size = out.size;
        e->layer.media_type = (char *)out.media_type;
    }
    snprintf(e->layer.dir, sizeof(e->layer.dir), "%s", st->in_image ? out.digest + 7 : st->key + 7);
    if (rc == 0 && !e->empty)
        rc = sv_bwork_keep(b, upper, &e->layer, err);
    sv_trace("build: run: layer kept");
    sv_rmtree(tmp, NULL);
    if (rc < 0)
        return -1;
    e->created = time(NULL);
    return sv_bcache_put(st->key, e, err);
}

int sv_brun_step(struct bstep *s, sv_error_t *err)
{
    struct bstage *st = s->st;
    enum sv_netmode net = SV_NET_HOST;
    if (run_network(s, &net, err) < 0)
        return -1;
    cleanup_strv char **argv = run_argv(st, s->in);
    cleanup_json json_t *cmd = json_array();
    for (char **a = argv; *a; a++)
        json_array_append_new(cmd, json_string(*a));
    cleanup_free char *cmd_text = json_dumps(cmd, JSON_COMPACT);
    if (sv_bstate_chain(st, err, "RUN", cmd_text, net == SV_NET_NONE ? "none" : "host", NULL) < 0)
        return -1;
    struct bcache_entry e = {0};
    bool hit = !s->b->o->no_cache && sv_bcache_get(st->key, &s->b->map, &e) == 0;
    if (!hit && execute(s, argv, net, &e, err) < 0)
        return -1;
    st->created = e.created;
    if (!e.empty)
        sv_bstate_add_layer(st, &e.layer);
    cleanup_free char *line = argv_line(argv);
    cleanup_free char *by = sv_xasprintf("RUN %s", s->in->json ? cmd_text : line);
    sv_bstate_history(st, by, e.empty);
    sv_builder_step_end(s, hit);
    return 0;
}
