#include "stack/stack.h"

#include "core/statedir.h"

#include "lua/load.h"
#include "proserve/pgateway.h"

#include "runtime/rootfs.h"
#include "core/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

void sv_service_hash_hex(const struct sv_service *s, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)sv_service_hash(s));
}

/* ---- volumes ----------------------------------------------------------------
 *
 * A stack's volumes are one directory, <root>/volumes/stacks/<stack>: named
 * ones at <name> in it, anonymous ones at .anon/<service>/<replica>-<index>.
 * Names hold no "/" and start with a letter or digit, so no two (stack,
 * volume) pairs share a directory, and `down -v` removes exactly that one.
 *
 * Older versions joined the names: <root>/volumes/<stack>_<name> (and
 * <stack>_anon_<service>_<n>_<i>), which stack "va" with volume "b_c" and
 * stack "va_b" with volume "c" both read as volumes/va_b_c. "stacks" holds
 * no "_", so no such old directory can be mistaken for the new layout. An
 * old directory is moved into the new layout when the stack next uses it,
 * if no other stack here could have made it: every other split of its name
 * at a "_" must name a stack that has neither state nor new-layout volumes
 * on this host. Otherwise the stack refuses to start the service and says
 * where to move the directory. (A stack that was down, volumes kept, when
 * servos was updated leaves no trace but that directory: an old directory
 * whose name also splits into such a stack's is taken by the first of the
 * two to come up, as the old version would have shared it.) */

static char *anon_volume_dir(const char *stack, const char *service, int n, size_t i)
{
    cleanup_free char *d = sv_stack_volumes_dir(stack);
    return sv_xasprintf("%s/.anon/%s/%d-%zu", d, service, n, i);
}

static char *legacy_volume_dir(const char *stack, const char *service, const char *name, int n,
                               size_t i)
{
    if (name)
        return sv_xasprintf("%s/volumes/%s_%s", sv_state_root(), stack, name);
    return sv_xasprintf("%s/volumes/%s_anon_%s_%d_%zu", sv_state_root(), stack, service, n, i);
}

/* Another stack that could own the old-layout directory base, or NULL. */
static char *legacy_other_owner(const char *stack, const char *base)
{
    size_t sl = strlen(stack);
    for (const char *u = strchr(base, '_'); u; u = strchr(u + 1, '_')) {
        size_t len = (size_t)(u - base);
        if (len == sl && strncmp(base, stack, sl) == 0)
            continue;
        char *cand = sv_xstrndup(base, len);
        cleanup_free char *state = sv_stack_dir(cand);
        cleanup_free char *vols = sv_stack_volumes_dir(cand);
        if (sv_valid_stack_name(cand) && (access(state, F_OK) == 0 || access(vols, F_OK) == 0))
            return cand;
        free(cand);
    }
    return NULL;
}

/* dir (new layout) for a volume of stack: the old directory moved in when
 * it is unambiguously this stack's, an error when it is not. */
static int take_legacy_volume(const char *stack, const char *legacy, const char *dir,
                              sv_error_t *err)
{
    struct stat st;
    if (lstat(dir, &st) == 0 || lstat(legacy, &st) < 0 || !S_ISDIR(st.st_mode))
        return 0;
    const char *base = strrchr(legacy, '/') + 1;
    cleanup_free char *other = legacy_other_owner(stack, base);
    if (other)
        return sv_error(err, 0,
                        "%s was made by an older servos for stack \"%s\" or for stack \"%s\", "
                        "which cannot be told apart: move it to %s if it is %s's, or to "
                        "%s/volumes/stacks/%s/%s if it is %s's",
                        legacy, stack, other, dir, stack, sv_state_root(), other,
                        base + strlen(other) + 1, other);
    cleanup_free char *parent = sv_dirname(dir);
    if (sv_mkdir_p_mode(parent, 0711, err) < 0)
        return -1;
    if (rename(legacy, dir) < 0)
        return sv_error(err, errno, "cannot move %s to %s", legacy, dir);
    return 0;
}

int sv_stack_remove_volumes(const char *stack, const struct sv_graph *g, sv_error_t *err)
{
    int rc = 0;
    /* Old-layout directories of the graph's volumes (replicas that were
     * never restarted since the update) that are unambiguously ours. */
    for (size_t k = 0; g && k < g->n_services; k++) {
        const struct sv_service *s = &g->services[k];
        for (size_t i = 0; i < s->n_mounts; i++) {
            if (s->mounts[i].type != SV_MOUNT_VOLUME)
                continue;
            for (int n = 1; n <= (s->mounts[i].source ? 1 : s->replicas); n++) {
                cleanup_free char *legacy =
                    legacy_volume_dir(stack, s->name, s->mounts[i].source, n, i);
                cleanup_free char *other = legacy_other_owner(stack, strrchr(legacy, '/') + 1);
                if (other == NULL && access(legacy, F_OK) == 0 && sv_rmtree(legacy, err) < 0)
                    rc = -1;
            }
        }
    }
    cleanup_free char *dir = sv_stack_volumes_dir(stack);
    if (sv_rmtree(dir, err) < 0)
        rc = -1;
    return rc;
}

/* Container root must own a new named volume (it is an unprivileged uid).
 * volumes/ is root's and the containers' group's only (see
 * sv_rootfs_guard_dir), and the volume is handed over through its own
 * descriptor, never by a path a link could redirect. */
static int make_volume(const char *dir, const struct sv_service *s, sv_error_t *err)
{
    cleanup_free char *parent = sv_dirname(dir);
    cleanup_free char *top = sv_xasprintf("%s/volumes", sv_state_root());
    /* volumes/ is root's and the containers' group's; container root
     * traverses the stack's directory below it. */
    if (sv_rootfs_guard_dir(top, err) < 0 || sv_mkdir_p_mode(parent, 0711, err) < 0)
        return -1;
    if (mkdir(dir, 0755) < 0) {
        if (errno == EEXIST)
            return 0;
        return sv_error(err, errno, "cannot create volume %s", dir);
    }
    if (strcmp(s->userns, "host") != 0) {
        struct sv_idmap map;
        if (sv_userns_range(&map, err) < 0)
            return -1;
        cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fchown(fd, map.uid_base, map.gid_base) < 0)
            return sv_error(err, errno, "cannot hand volume %s to container root", dir);
    }
    return 0;
}

static char **argv_join(const char *const *a, const char *const *b)
{
    size_t n = 0, k = 0;
    for (const char *const *p = a; p && *p; p++)
        n++;
    for (const char *const *p = b; p && *p; p++)
        n++;
    char **v = sv_xcalloc(n + 1, sizeof(*v));
    for (const char *const *p = a; p && *p; p++)
        v[k++] = (char *)*p;
    for (const char *const *p = b; p && *p; p++)
        v[k++] = (char *)*p;
    return v;
}

/* A ProServe service runs servos' own service host in its container:
 * the binary, its manifest and the manifest's directory are bound in
 * read-only. */
static int proserve_spec(const struct sv_graph *g, const struct sv_service *s,
                         struct sv_run_spec *spec, sv_error_t *err)
{
    cleanup_free char *dir = sv_stack_binds_dir(g->stack);
    cleanup_free char *manifest = sv_xasprintf("%s/proserve-%s.json", dir, s->name);
    cleanup_free char *tmp = sv_xasprintf("%s.tmp", manifest);
    /* The manifest holds the service's environment: readable by its
     * container's root (who runs the service host) and no one else. */
    uid_t uid;
    gid_t gid;
    if (sv_userns_root_ids(s->userns, &uid, &gid, err) < 0)
        return -1;
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        if (fd >= 0)
            close(fd);
        return sv_error(err, errno, "cannot write %s", tmp);
    }
    sv_value_print_json(s->proserve, f);
    if (fflush(f) != 0 || fchown(fd, uid, gid) < 0 || fchmod(fd, 0440) < 0) {
        int e = errno;
        fclose(f);
        return sv_error(err, e, "cannot write %s", tmp);
    }
    if (fclose(f) != 0 || rename(tmp, manifest) < 0)
        return sv_error(err, errno, "cannot write %s", manifest);
    char *self = realpath("/proc/self/exe", NULL);
    if (self == NULL)
        return sv_error(err, errno, "cannot find the servos binary");
    const char *base = NULL;
    const struct sv_value *body = s->proserve;
    for (size_t i = 0; body->kind == SV_OBJECT && i < body->u.list.n; i++)
        if (strcmp(body->u.list.keys[i], "base_dir") == 0 && body->u.list.items[i].kind == SV_STR)
            base = body->u.list.items[i].u.s;
    struct sv_bind add[] = {
        {.source = self, .target = "/.servos/servos", .read_only = true, .idmap_fd = -1},
        {.source = sv_xstrdup(manifest),
         .target = "/.servos/manifest.json",
         .read_only = true,
         .idmap_fd = -1},
        {.source = base ? sv_xstrdup(base) : NULL,
         .target = (char *)base,
         .read_only = true,
         .idmap_fd = -1},
    };
    size_t n_add = SV_ARRAY_LEN(add);
    spec->binds = sv_xrealloc(spec->binds, (spec->n_binds + n_add + 2) * sizeof(*spec->binds));
    /* A private /tmp (writable under read_only) goes first: binds below it,
     * a manifest directory under /tmp too, land on it, not under it. */
    memmove(spec->binds + 1, spec->binds, spec->n_binds * sizeof(*spec->binds));
    spec->binds[0] = (struct sv_bind){.tmpfs = true, .target = "/tmp", .idmap_fd = -1};
    spec->n_binds++;
    for (size_t i = 0; i < n_add; i++)
        if (add[i].source)
            spec->binds[spec->n_binds++] = add[i];
    /* Containers per handler: the supervisor's gateway socket's directory
     * (a directory, so a new supervisor's socket shows up in it). */
    if (sv_gateway_wanted(s)) {
        spec->binds = sv_xrealloc(spec->binds, (spec->n_binds + 1) * sizeof(*spec->binds));
        spec->binds[spec->n_binds++] = (struct sv_bind){
            .source = sv_gateway_dir(g->stack, s->name), .target = SV_GATEWAY_DIR, .idmap_fd = -1};
    }
    if (spec->entrypoint == NULL && (spec->argv == NULL || spec->argv[0] == NULL)) {
        free(spec->argv);
        spec->entrypoint = argv_join(
            (const char *[]){"/.servos/servos", "proserve-host", "/.servos/manifest.json", NULL},
            NULL);
        spec->argv = sv_xcalloc(1, sizeof(char *));
    }
    return 0;
}

int sv_stack_spec(const struct sv_graph *g, const struct sv_service *s, int n,
                  struct sv_run_spec *spec, sv_error_t *err)
{
    memset(spec, 0, sizeof(*spec));
    spec->stack = g->stack;
    spec->service = s->name;
    spec->replica = n;
    spec->image = s->image;
    /* Unset ones come from the image's config when the replica is made. */
    spec->entrypoint = s->entrypoint ? argv_join(s->entrypoint, NULL) : NULL;
    spec->argv = argv_join(s->command, NULL);
    spec->env = sv_xcalloc(s->n_env + 1, sizeof(char *));
    for (size_t i = 0; i < s->n_env; i++)
        spec->env[i] = sv_xasprintf("%s=%s", s->env[i].key, s->env[i].value);
    spec->workdir = s->working_dir;
    spec->user = s->user;
    spec->limits = (struct sv_limits){s->memory, s->cpus, s->pids};
    spec->cap_add = s->cap_add;
    spec->cap_drop = s->cap_drop;
    spec->read_only = s->read_only;
    /* No one attaches to a replica: its init keeps the terminal's master
     * (copied to the log) or the stdin pipe (see container.h). */
    spec->tty = s->tty;
    spec->stdin_open = s->stdin_open;
    spec->init = s->init;
    spec->userns_host = strcmp(s->userns, "host") == 0;
    /* The supervisor fills in spec->net (address, bridge) for "stack". */
    spec->network = strcmp(s->network, "host") == 0   ? SV_NET_HOST
                    : strcmp(s->network, "none") == 0 ? SV_NET_NONE
                                                      : SV_NET_STACK;
    spec->binds = sv_xcalloc(s->n_mounts + 1, sizeof(*spec->binds));
    for (size_t i = 0; i < s->n_mounts; i++) {
        const struct sv_mount *m = &s->mounts[i];
        struct sv_bind *b = &spec->binds[spec->n_binds++];
        b->target = (char *)m->target;
        b->read_only = m->read_only;
        b->chown = m->chown;
        b->idmap_fd = -1;
        if (m->type == SV_MOUNT_TMPFS) {
            b->tmpfs = true;
            b->source = m->options ? sv_xstrdup(m->options) : NULL;
        } else if (m->type == SV_MOUNT_VOLUME) {
            b->source = m->source ? sv_volume_dir(g->stack, m->source)
                                  : anon_volume_dir(g->stack, s->name, n, i);
            cleanup_free char *legacy = legacy_volume_dir(g->stack, s->name, m->source, n, i);
            if (take_legacy_volume(g->stack, legacy, b->source, err) < 0 ||
                make_volume(b->source, s, err) < 0) {
                sv_stack_spec_free(spec);
                return -1;
            }
        } else {
            b->source = sv_xstrdup(m->source);
        }
    }
    if (s->proserve && proserve_spec(g, s, spec, err) < 0) {
        sv_stack_spec_free(spec);
        return -1;
    }
    return 0;
}

void sv_stack_spec_free(struct sv_run_spec *spec)
{
    for (size_t i = 0; spec->env && spec->env[i]; i++)
        free(spec->env[i]);
    free(spec->env);
    free(spec->argv);
    free(spec->entrypoint);
    for (size_t i = 0; i < spec->n_binds; i++)
        free(spec->binds[i].source);
    free(spec->binds);
    memset(spec, 0, sizeof(*spec));
}

char *sv_stack_socket(const char *stack)
{
    cleanup_free char *d = sv_stack_dir(stack);
    return sv_xasprintf("%s/sock", d);
}

int sv_stack_connect(const char *stack)
{
    cleanup_free char *path = sv_stack_socket(stack);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(addr.sun_path))
        return -1;
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int sv_stack_request(int fd, const char *request, FILE *out, sv_error_t *err)
{
    size_t n = strlen(request);
    /* A supervisor that closed already (it is going down) is ECONNRESET
     * for the caller, not a SIGPIPE. */
    if (send(fd, request, n, MSG_NOSIGNAL) != (ssize_t)n || send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
        sv_error(err, 0, "the stack's supervisor closed the connection");
        (*err)->status = ECONNRESET;
        return -1;
    }
    FILE *f = fdopen(dup(fd), "r");
    if (f == NULL)
        return sv_error(err, errno, "fdopen");
    char *line = NULL;
    size_t cap = 0;
    int rc = sv_error(err, 0, "the stack's supervisor closed the connection");
    (*err)->status = ECONNRESET; /* it went away: see converge() in cli_stack.c */
    while (getline(&line, &cap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        if (strcmp(line, "ok") == 0) {
            sv_error_free(err);
            rc = 0;
            break;
        }
        if (strncmp(line, "error: ", 7) == 0) {
            sv_error_free(err);
            rc = sv_error(err, 0, "%s", line + 7);
            break;
        }
        if (out)
            fprintf(out, "%s\n", line);
    }
    free(line);
    fclose(f);
    return rc;
}

/* Write text to path through a temporary file and a rename. */
static int write_atomic(const char *path, const char *text, size_t len, sv_error_t *err)
{
    cleanup_free char *tmp = sv_xasprintf("%s.tmp", path);
    /* 0600: a request holds the caller's environment and source URL. */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        if (fd >= 0)
            close(fd);
        return sv_error(err, errno, "cannot write %s", tmp);
    }
    fwrite(text, 1, len, f);
    if (fclose(f) != 0 || rename(tmp, path) < 0)
        return sv_error(err, errno, "cannot write %s", path);
    return 0;
}

char *sv_stack_pins(const char *stack)
{
    cleanup_free char *dir = sv_stack_dir(stack);
    cleanup_free char *path = sv_xasprintf("%s/git.pins", dir);
    char *pins = NULL;
    sv_error_t err = NULL;
    if (sv_read_file(path, 1 << 20, &pins, NULL, &err) < 0)
        sv_error_free(&err); /* not from git */
    return pins;
}

int sv_stack_save_pins(const char *stack, const char *pins, sv_error_t *err)
{
    if (sv_stack_dir_make(stack, err) < 0)
        return -1;
    cleanup_free char *dir = sv_stack_dir(stack);
    cleanup_free char *path = sv_xasprintf("%s/git.pins", dir);
    if (pins)
        return write_atomic(path, pins, strlen(pins), err);
    if (unlink(path) < 0 && errno != ENOENT)
        return sv_error(err, errno, "cannot remove %s", path);
    return 0;
}

int sv_stack_save_request(const char *stack, const char *path, const char *project,
                          const char *pins, sv_error_t *err)
{
    if (sv_stack_dir_make(stack, err) < 0)
        return -1;
    cleanup_free char *dir = sv_stack_dir(stack);
    cleanup_free char *final = sv_xasprintf("%s/request", dir);
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return sv_error(err, errno, "getcwd");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return sv_error(err, errno, "open_memstream");
    fprintf(f, "%s%c%s%c%s%c", path ? path : "", 0, project ? project : "", 0, cwd, 0);
    extern char **environ;
    for (char **e = environ; e && *e; e++)
        fprintf(f, "%s%c", *e, 0);
    fclose(f);
    /* The commits first: a supervisor reading the new request must find
     * the commits it was evaluated with. */
    int rc = sv_stack_save_pins(stack, pins, err);
    if (rc == 0)
        rc = write_atomic(final, buf, len, err);
    free(buf);
    return rc;
}

int sv_stack_load_request(const char *stack, enum sv_git_policy policy, struct sv_graph **g,
                          sv_error_t *err)
{
    cleanup_free char *dir = sv_stack_dir(stack);
    cleanup_free char *path = sv_xasprintf("%s/request", dir);
    char *buf = NULL;
    size_t len = 0;
    if (sv_read_file(path, 1 << 20, &buf, &len, err) < 0)
        return -1;
    /* path \0 project \0 cwd \0 env... (NUL-separated) */
    const char *f[3];
    size_t k = 0, i = 0;
    for (; k < 3 && i < len; k++) {
        f[k] = buf + i;
        i += strlen(buf + i) + 1;
    }
    if (k < 3) {
        free(buf);
        return sv_error(err, EINVAL, "%s is damaged", path);
    }
    char **env = NULL;
    size_t n = 0;
    while (i < len) {
        env = sv_xrealloc(env, (n + 2) * sizeof(*env));
        env[n++] = buf + i;
        env[n] = NULL;
        i += strlen(buf + i) + 1;
    }
    cleanup_free char *pins = sv_stack_pins(stack);
    sv_git_set_policy(policy, pins);
    extern char **environ;
    char **saved = environ;
    environ = env ? env : (char *[]){NULL};
    int rc = -1;
    if (chdir(f[2]) < 0)
        sv_error(err, errno, "cannot enter %s", f[2]);
    else
        rc = sv_load_graph(*f[0] ? f[0] : NULL, *f[1] ? f[1] : NULL, g, err);
    environ = saved;
    if (chdir("/") < 0) {
        /* stays where it was */
    }
    free(env);
    free(buf);
    return rc;
}
