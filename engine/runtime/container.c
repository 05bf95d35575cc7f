/* The parent's side of a container: create (check the spec, resolve the
 * image, record the row, make the cgroup), spawn (clone3 into the
 * namespaces, write the id maps, move it into its cgroup, hand it its
 * link and seccomp program, then wait for its exec), wait, reset,
 * remove. The child's side is child.c; stopping one is stop.c. */
#include "runtime/container_int.h"
#include "core/trace.h"

#include "image/imgstore.h"
#include "net/netlink.h"
#include "runtime/idmap.h"
#include "runtime/pty.h"
#include "runtime/rootfs.h"
#include "runtime/runnet.h"
#include "runtime/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void sv_container_free(struct sv_container *c)
{
    if (c == NULL)
        return;
    if (c->report_fd >= 0)
        close(c->report_fd);
    if (c->pty_sock >= 0)
        close(c->pty_sock);
    if (c->pty_master >= 0)
        close(c->pty_master);
    if (c->lower_fd >= 0)
        close(c->lower_fd);
    if (c->dev_fd >= 0)
        close(c->dev_fd);
    free(c->dev_rules);
    free(c->name);
    free(c->dir);
    free(c->lower);
    sv_cgroup_clear(&c->cg);
    struct sv_run_spec *s = &c->spec;
    free((char *)s->image);
    free((char *)s->hostname);
    free((char *)s->workdir);
    free((char *)s->user);
    free((char *)s->net.hosts);
    free((char *)s->net.name);
    for (size_t i = 0; i < s->net.n_more; i++)
        free((char *)s->net.more[i].name);
    sv_strv_free(s->sysctls);
    sv_strv_free(s->extra_hosts);
    sv_strv_free(s->entrypoint);
    sv_strv_free(s->argv);
    sv_strv_free(s->env);
    sv_strv_free((char **)s->cap_add);
    sv_strv_free((char **)s->cap_drop);
    sv_strv_free(s->labels);
    sv_strv_free(s->ports);
    free((char *)s->restart);
    free((char *)s->run_network);
    free((char *)s->build_lower);
    free((char *)s->build_upper);
    for (size_t i = 0; i < s->n_binds; i++) {
        free(s->binds[i].source);
        free(s->binds[i].target);
        if (s->binds[i].idmap_fd >= 0)
            close(s->binds[i].idmap_fd);
    }
    free(s->binds);
    for (size_t i = 0; i < s->n_devices; i++)
        sv_device_spec_clear((struct sv_device_spec *)&s->devices[i]);
    free((void *)s->devices);
    free(c);
}

/* A veth per network of the stack: eth0, then eth1... in the container. */
static int stack_links(struct sv_container *c, pid_t pid, sv_error_t *err)
{
    const struct sv_net_attach *n = &c->spec.net;
    char name[IFNAMSIZ];
    snprintf(name, sizeof(name), "sv%.12s", c->id);
    sv_nl_forget_neighbour(n->nl, n->bridge, n->addr);
    if (sv_nl_veth(n->nl, name, n->bridge, "eth0", pid, err) < 0)
        return -1;
    for (size_t i = 0; i < n->n_more; i++) {
        char peer[IFNAMSIZ];
        /* No hex id has an "x": never eth0's name, whatever the id. */
        snprintf(name, sizeof(name), "sv%.10sx%zu", c->id, i + 1);
        snprintf(peer, sizeof(peer), "eth%zu", i + 1);
        sv_nl_forget_neighbour(n->nl, n->more[i].bridge, n->more[i].addr);
        if (sv_nl_veth(n->nl, name, n->more[i].bridge, peer, pid, err) < 0)
            return -1;
    }
    return 0;
}

static void new_id(char id[65])
{
    unsigned char raw[32];
    if (getrandom(raw, sizeof(raw), 0) != sizeof(raw)) {
        struct timespec ts; /* never expected; still unique enough per host */
        clock_gettime(CLOCK_REALTIME, &ts);
        for (size_t i = 0; i < sizeof(raw); i++)
            raw[i] = (unsigned char)((ts.tv_nsec >> (i % 8)) ^ (getpid() * (int)i));
    }
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(id + 2 * i, 3, "%02x", raw[i]);
}

/* The state row: status created, the spec as JSON for exec, stop and ls. */
static int record_row(struct sv_store *st, struct sv_container *c, sv_error_t *err)
{
    cleanup_free char *cmd = sv_spec_command_line(c->spec.argv);
    cleanup_free char *json = sv_spec_to_json(c);
    struct sv_ctr_row row = {.name = c->name,
                             .image = (char *)c->spec.image,
                             .command = cmd,
                             .spec_json = json,
                             .created = time(NULL),
                             .stack = (char *)c->spec.stack,
                             .service = (char *)c->spec.service,
                             .replica = c->spec.replica,
                             .hash = (char *)c->spec.hash};
    memcpy(row.id, c->id, sizeof(row.id));
    if (sv_store_insert(st, &row, err) < 0) {
        if ((*err)->status == EEXIST) { /* lost a race for the name */
            sv_error_free(err);
            return sv_error(err, EEXIST, "the name \"%s\" is in use", c->name);
        }
        return -1;
    }
    return 0;
}

static int create_steps(struct sv_store *st, struct sv_container *c, const struct sv_run_spec *spec,
                        sv_error_t *err)
{
    new_id(c->id);
    c->name = spec->name ? sv_xstrdup(spec->name) : sv_xasprintf("servos-%.12s", c->id);
    bool taken = false;
    if (st && sv_store_name_taken(st, c->name, &taken, err) < 0)
        return -1;
    if (taken)
        return sv_error(err, EEXIST, "the name \"%s\" is in use (servos rm %s frees it)", c->name,
                        c->name);
    if (sv_caps_compute(spec->userns_host, spec->cap_add, spec->cap_drop, &c->caps, err) < 0)
        return -1;
    sv_spec_copy(c, spec);
    /* The devices before anything slow (an image to pull): a board not
     * plugged in is said at once. */
    c->dev_rules = sv_xcalloc(c->spec.n_devices + 1, sizeof(*c->dev_rules));
    if (sv_devices_resolve((struct sv_device_spec *)c->spec.devices, c->spec.n_devices,
                           c->dev_rules, err) < 0)
        return -1;
    if (!c->spec.userns_host && sv_userns_range(&c->map, err) < 0)
        return -1;
    sv_trace("create: id range");
    struct sv_image_config cfg = {0};
    int rc = 0;
    /* A build step's layers come resolved: the builder says what to run. */
    if (c->spec.build_lower)
        c->lower = sv_xstrdup(c->spec.build_lower);
    else
        rc = sv_rootfs_resolve(c->spec.image, &c->map, &c->lower, &c->image_kind, &cfg,
                               c->image_digest, err);
    if (rc == 0)
        rc = sv_spec_apply_image(c, &cfg, err);
    /* The user may come from the image's config: checked after it. */
    if (rc == 0)
        rc = sv_user_check(c->spec.user, c->spec.userns_host, err);
    sv_image_config_clear(&cfg);
    if (rc < 0)
        return -1;
    sv_trace("create: root resolved");
    bool host_paths = c->spec.n_devices > 0; /* whose access the warnings judge */
    for (size_t i = 0; i < c->spec.n_binds; i++)
        host_paths |= !c->spec.binds[i].tmpfs;
    if (host_paths)
        sv_user_find_host(c);
    if (sv_user_chown_volumes(c, err) < 0)
        return -1;
    cleanup_free char *containers = sv_xasprintf("%s/containers", sv_state_root());
    if (mkdir(containers, 0711) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cannot create %s", containers);
    /* The container's root (an unprivileged uid) must traverse these. */
    chmod(sv_state_root(), 0711);
    c->dir = sv_xasprintf("%s/%s", containers, c->id); /* made by sv_container_log_path */
    if (st && record_row(st, c, err) < 0)
        return -1;
    sv_trace("create: row recorded");
    int rc_cg = sv_cgroup_init(&c->cg, c->id, err);
    c->cg.devices = c->dev_rules;
    c->cg.n_devices = c->spec.n_devices;
    if (rc_cg < 0 || sv_cgroup_create(&c->cg, &c->spec.limits, err) < 0) {
        sv_container_remove(st, c->id, NULL);
        return -1;
    }
    sv_trace("create: cgroup made");
    return 0;
}

int sv_container_create(struct sv_store *st, const struct sv_run_spec *spec,
                        struct sv_container **out, sv_error_t *err)
{
    if (sv_spec_check(spec, err) < 0)
        return -1;
    struct sv_container *c = sv_xcalloc(1, sizeof(*c));
    c->report_fd = c->pty_sock = c->pty_master = -1;
    c->lower_fd = c->dev_fd = -1;
    if (create_steps(st, c, spec, err) < 0) {
        sv_container_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

int sv_container_log_path(const struct sv_container *c, char **path, sv_error_t *err)
{
    if (mkdir(c->dir, 0700) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cannot create %s", c->dir);
    *path = sv_xasprintf("%s/log", c->dir);
    return 0;
}

/* cgfd >= 0: the child starts in that cgroup (v2, Linux 5.7+), so nothing
 * moves it there after: a move waits for an RCU grace period in the
 * kernel (cgroup_threadgroup_rwsem), the longest step of a start where it
 * happens. *entered says whether it did; a kernel that refuses the flag
 * gets a plain clone, and the caller moves the child. */
static pid_t clone3_fork(uint64_t flags, int cgfd, bool *entered)
{
    struct clone_args args = {.flags = flags, .exit_signal = SIGCHLD};
    *entered = false;
    if (cgfd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = (uint64_t)cgfd;
        pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
        if (pid >= 0) {
            *entered = true;
            return pid;
        }
        if (errno != EINVAL && errno != E2BIG && errno != ENOSYS && errno != EOPNOTSUPP)
            return -1;
        args.flags = flags;
        args.cgroup = 0;
    }
    return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/* The descriptors between the parent and the child (-1: none): go carries
 * the parent's 'g' and 'c', report the child's error or, closed by its
 * exec, its success; bpf the seccomp program; pty the terminal's master
 * (tty_attach). Each side closes the other's ends as soon as it runs: a
 * copy left open would hide the other side's end. */
struct spawn_fds {
    int go[2], report[2], bpf[2], pty[2];
};

static void spawn_fds_close(struct spawn_fds *f)
{
    int *pairs[] = {f->go, f->report, f->bpf, f->pty};
    for (size_t i = 0; i < SV_ARRAY_LEN(pairs); i++)
        for (int k = 0; k < 2; k++)
            sv_fd_close_now(&pairs[i][k]);
}

static int spawn_fds_open(const struct sv_container *c, struct spawn_fds *f, sv_error_t *err)
{
    if (pipe2(f->go, O_CLOEXEC) < 0 || pipe2(f->report, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    /* The seccomp program comes down its own pipe (see sv_container_spawn). */
    if (!c->spec.no_seccomp && pipe2(f->bpf, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    /* The terminal's master comes back over a socket (see tty_attach). */
    if (c->spec.tty && c->tty_attach &&
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, f->pty) < 0)
        return sv_error(err, errno, "socketpair");
    return 0;
}

/* The start failed on our side (err): the child, ended or killed, is
 * reaped, and its own story replaces ours when it has one. */
static void spawn_failed(struct sv_container *c, pid_t pid, int report, sv_error_t *err)
{
    /* Did it end by itself? Then that, not our pipe, is the story. A
     * broken pipe means it has (only its exit or its exec, which
     * needs our 'c' first, closes its ends): wait for it to be gone. */
    int wstatus = 0;
    bool piped = *err && (*err)->status == EPIPE;
    bool died = waitpid(pid, &wstatus, piped ? 0 : WNOHANG) == pid;
    if (!died) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    c->pid = 0;
    /* The child may have failed first (a mount, an unknown user) and
     * closed its ends, which is what broke our pipe: its reason, left
     * in the report pipe before it died, is the one to give. */
    int status = 0;
    sv_error_t child = NULL;
    if (sv_child_report_read(report, &status, &child) < 0) {
        sv_error_free(err);
        *err = child;
    } else if (died) {
        /* Gone without a word (a signal, the OOM killer): "Broken
         * pipe" would say nothing a user can act on. */
        sv_error_free(err);
        if (WIFSIGNALED(wstatus))
            sv_error(err, 0,
                     "the container's process was killed by signal %d (%s) while it built "
                     "its root file system%s",
                     WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)),
                     sv_cgroup_oom_killed(&c->cg) ? ": out of memory" : "");
        else
            sv_error(err, 0,
                     "the container's process exited with status %d while it built its "
                     "root file system, without saying why",
                     WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
    }
}

int sv_container_spawn(struct sv_container *c, const int fds[3], sv_error_t *err)
{
    c->report_fd = -1;
    __attribute__((cleanup(spawn_fds_close))) struct spawn_fds f = {
        {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1}};
    if (spawn_fds_open(c, &f, err) < 0)
        return -1;
    /* A root file system directory, opened by us (see sv_idmap_rootfs),
     * and idmapped copies of user-owned volumes: made here so the child
     * only has to attach them (see idmap.h). */
    if (c->image_kind == SV_ROOTFS_DIR && c->lower_fd < 0) {
        c->lower_fd =
            sv_idmap_rootfs(c->lower, c->spec.userns_host ? NULL : &c->map, &c->lower_shifted, err);
        if (c->lower_fd < 0)
            return -1;
        sv_trace("spawn: root idmapped");
    }
    for (size_t i = 0; i < c->spec.n_binds; i++)
        if (!c->spec.userns_host && !c->spec.binds[i].tmpfs && c->spec.binds[i].idmap_fd < 0)
            c->spec.binds[i].idmap_fd = sv_idmap_open(c->spec.binds[i].source, &c->map);
    /* The devices' nodes, made anew at each start (the child attaches its
     * copy of the descriptor; ours goes after the clone). */
    if (c->spec.n_devices && c->dev_fd < 0) {
        int fd = sv_devices_make_nodes(c->dev_rules, c->spec.n_devices, err);
        if (fd == -1)
            return -1;
        c->dev_fd = fd >= 0 ? fd : -1; /* -2: only pseudo-terminals, bound as they are */
    }
    c->host_netns = c->spec.network == SV_NET_HOST && !c->spec.net_joined;
    uint64_t flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
    if (!c->spec.userns_host)
        flags |= CLONE_NEWUSER;
    if (c->spec.network != SV_NET_HOST)
        flags |= CLONE_NEWNET;
    cleanup_close int cgfd = sv_cgroup_clone_target(&c->cg);
    bool entered;
    pid_t pid = clone3_fork(flags, cgfd, &entered);
    if (pid < 0)
        return sv_error(err, errno, "cannot create the container's namespaces");
    sv_trace(pid ? "spawn: cloned" : "child: cloned");
    if (pid == 0) { /* the parent's ends are not the child's to hold */
        close(f.go[1]);
        close(f.report[0]);
        if (f.bpf[1] >= 0)
            close(f.bpf[1]);
        if (f.pty[0] >= 0)
            close(f.pty[0]);
        sv_child_main(c, fds, f.go[0], f.report[1], f.bpf[0], f.pty[1]);
    }
    sv_fd_close_now(&f.go[0]);
    sv_fd_close_now(&f.report[1]);
    sv_fd_close_now(&f.bpf[0]);
    sv_fd_close_now(&f.pty[1]);
    c->pty_sock = sv_steal_fd(f.pty[0]);
    c->pid = pid;
    int rc = 0;
    if (!c->spec.userns_host)
        rc = sv_userns_write_maps(pid, &c->map, err);
    /* The child's copy of the descriptor is the same mount: mapped now,
     * before 'g' lets it go on to mount it. */
    if (rc == 0 && c->lower_fd >= 0 && c->lower_shifted)
        rc = sv_idmap_rootfs_map(c->lower_fd, pid, c->lower, err);
    if (c->lower_fd >= 0) /* the child's copy is the one it mounts */
        close(c->lower_fd), c->lower_fd = -1;
    if (c->dev_fd >= 0)
        close(c->dev_fd), c->dev_fd = -1;
    if (rc == 0 && write(f.go[1], "g", 1) != 1)
        rc = sv_error(err, errno, "cannot start the container");
    sv_trace("spawn: id maps written");
    if (rc == 0) {
        rc = sv_cgroup_enter(&c->cg, pid, entered, err);
        sv_trace("spawn: in its cgroup");
    }
    /* Its veth, while it builds its root on the other core. */
    if (rc == 0 && c->spec.network == SV_NET_STACK)
        rc = stack_links(c, pid, err);
    /* A broken pipe: the child gave up while building its root, and its
     * report (read below) says why. */
    if (rc == 0 && write(f.go[1], "c", 1) != 1)
        rc = sv_error(err, errno, "cannot start the container");
    sv_fd_close_now(&f.go[1]);
    /* Build the seccomp filter while the child sets up its root. */
    if (f.bpf[1] >= 0) {
        if (rc == 0 &&
            sv_seccomp_export_default(f.bpf[1], sv_spec_seccomp_flags(&c->spec), err) < 0)
            rc = -1;
        sv_fd_close_now(&f.bpf[1]);
        sv_trace("spawn: seccomp filter sent");
    }
    if (rc < 0) {
        spawn_failed(c, pid, f.report[0], err);
        return -1;
    }
    c->report_fd = sv_steal_fd(f.report[0]);
    return 0;
}

int sv_container_spawned(struct sv_store *st, struct sv_container *c, int *exec_status,
                         sv_error_t *err)
{
    *exec_status = 0;
    int rc = sv_child_report_read(c->report_fd, exec_status, err);
    close(c->report_fd);
    c->report_fd = -1;
    if (rc < 0) {
        kill(c->pid, SIGKILL);
        waitpid(c->pid, NULL, 0);
        c->pid = 0;
        return -1;
    }
    if (c->pty_sock >= 0) { /* sent before the exec we were told of */
        rc = sv_pty_recv_fd(c->pty_sock, &c->pty_master, err);
        close(c->pty_sock);
        c->pty_sock = -1;
        if (rc == 0 && c->pty_master < 0)
            rc = sv_error(err, EPROTO, "the container's terminal did not come");
        if (rc < 0) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, NULL, 0);
            c->pid = 0;
            return -1;
        }
    }
    sv_trace("spawned: exec reported");
    c->pid_start = sv_pid_start_time(c->pid);
    sv_user_warn_unwritable(c); /* once it runs: a start that fails has its own error to give */
    return st ? sv_store_set_running(st, c->id, c->pid, c->pid_start, getpid(), err) : 0;
}

int sv_container_start(struct sv_store *st, struct sv_container *c, const int fds[3],
                       int *exec_status, sv_error_t *err)
{
    *exec_status = 0;
    if (sv_container_spawn(c, fds, err) < 0)
        return -1;
    return sv_container_spawned(st, c, exec_status, err);
}

int sv_container_wait(struct sv_container *c, int *exit_code, bool *oom)
{
    int status;
    while (waitpid(c->pid, &status, 0) < 0)
        if (errno != EINTR) {
            *exit_code = 255;
            *oom = false;
            return -1;
        }
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    *oom = sv_cgroup_oom_killed(&c->cg);
    return 0;
}

/* The -p network a container recorded, if any (runnet.h). */
static char *recorded_run_network(struct sv_store *st, const char *id)
{
    struct sv_ctr_row row;
    sv_error_t e = NULL;
    if (st == NULL || sv_store_find(st, id, &row, &e) < 0) {
        sv_error_free(&e);
        return NULL;
    }
    cleanup_json json_t *o = row.spec_json ? json_loads(row.spec_json, 0, NULL) : NULL;
    const char *key = json_string_value(json_object_get(o, "run_network"));
    char *out = key && sv_runnet_key_valid(key) ? sv_xstrdup(key) : NULL;
    sv_ctr_row_clear(&row);
    return out;
}

int sv_container_remove(struct sv_store *st, const char *id, sv_error_t *err)
{
    cleanup_cgroup struct sv_cgroup cg = {0};
    int rc = 0;
    /* Its monitor removes the network when the container ends; this is
     * for a monitor that died first. */
    cleanup_free char *net = recorded_run_network(st, id);
    if (net && sv_runnet_destroy(net, err) < 0)
        rc = -1;
    if (rc == 0 && sv_cgroup_init(&cg, id, err) == 0)
        rc = sv_cgroup_destroy(&cg, err);
    cleanup_free char *dir = sv_xasprintf("%s/containers/%s", sv_state_root(), id);
    /* Mounts and the writable layer lived in the container's mount
     * namespace and died with it; on the host only the log may be left. */
    if (rc == 0 && sv_rmtree(dir, err) < 0)
        rc = -1;
    if (rc == 0 && st && sv_store_delete(st, id, err) < 0)
        rc = -1;
    return rc;
}

int sv_container_reset(struct sv_container *c, sv_error_t *err)
{
    for (size_t i = 0; i < c->spec.n_binds; i++)
        if (c->spec.binds[i].idmap_fd >= 0) {
            close(c->spec.binds[i].idmap_fd);
            c->spec.binds[i].idmap_fd = -1;
        }
    if (sv_cgroup_destroy(&c->cg, err) < 0)
        return -1;
    return sv_cgroup_create(&c->cg, &c->spec.limits, err);
}
