/* A step of board work in a container of its own (bjob.h). */
#include "board/bjob.h"

#include "core/fs.h"
#include "core/store.h"
#include "host/userns.h"
#include "runtime/container.h"
#include "graph/units.h"
#include "runtime/monitor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void container_freep(struct sv_container **c)
{
    sv_container_free(*c);
}

/* Wait for the container's init, the deadline or a signal; kill it at
 * the deadline or the signal. */
static void wait_end(struct sv_container *c, int sigfd, double timeout, struct sv_bjob_result *r)
{
    cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    double end = timeout > 0 ? sv_now_s() + timeout : 0;
    for (;;) {
        int ms = -1;
        if (end > 0) {
            double left = end - sv_now_s();
            ms = left > 0 ? (int)(left * 1000) + 1 : 0;
        }
        struct pollfd p[2] = {{pidfd, POLLIN, 0}, {sigfd, POLLIN, 0}};
        int n = poll(p, 2, ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || p[0].revents)
            return;
        if (p[1].revents) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                r->interrupted = true;
        } else if (n == 0) {
            r->timed_out = true;
        } else {
            continue;
        }
        /* pid 1 of the container: its namespace's every process goes too. */
        kill(c->pid, SIGKILL);
        return;
    }
}

static void spec_from(const struct sv_bjob *j, struct sv_run_spec *spec, struct sv_bind binds[2],
                      struct sv_device_spec *dev)
{
    size_t n = 0;
    binds[n++] = (struct sv_bind){.source = (char *)j->work, .target = "/work", .idmap_fd = -1};
    if (j->cache)
        binds[n++] =
            (struct sv_bind){.source = (char *)j->cache, .target = "/cache", .idmap_fd = -1};
    *spec = (struct sv_run_spec){
        .image = j->image,
        .argv = j->argv,
        .env = j->env,
        .workdir = "/work",
        .limits = j->limits,
        .binds = binds,
        .n_binds = n,
        .network = j->network ? SV_NET_HOST : SV_NET_NONE,
        /* A board's port, at the same path: the flash template names it. */
        .devices = j->device ? dev : NULL,
        .n_devices = j->device ? 1 : 0,
        /* The step runs to its end and is waited for: nothing to hand
         * signals to but the command itself. */
        .init = false,
    };
}

int sv_bjob_run(const struct sv_bjob *j, struct sv_bjob_result *r, sv_error_t *err)
{
    memset(r, 0, sizeof(*r));
    struct sv_bind binds[2];
    struct sv_run_spec spec;
    struct sv_device_spec dev = {
        .source = j->device, .target = j->device_in ? j->device_in : j->device, .access = "rw"};
    spec_from(j, &spec, binds, &dev);
    cleanup_store struct sv_store *st = NULL;
    if (sv_store_open(&st, err) < 0)
        return -1;
    /* Ctrl-C while the step runs ends the step, not servos: the container
     * is then removed like any that ended. */
    sigset_t mask, old;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, &old);
    cleanup_close int sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    __attribute__((cleanup(container_freep))) struct sv_container *c = NULL;
    double t0 = sv_now_s();
    int exec_status = 0, rc = sv_container_create(st, &spec, &c, err);
    if (rc == 0 && sv_container_start(st, c, j->stdio, &exec_status, err) < 0) {
        r->code = exec_status ? exec_status : 125;
        sv_container_remove(st, c->id, NULL);
        rc = -1;
    }
    if (rc == 0) {
        wait_end(c, sigfd, j->timeout, r);
        sv_container_wait(c, &r->code, &r->oom);
        r->oom = r->oom && !r->timed_out && !r->interrupted;
        r->seconds = sv_now_s() - t0;
        sv_monitor_record_end(st, c, true, r->code, false);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ---- work directories ------------------------------------------------------------------ */

static int root_ids(uid_t *uid, gid_t *gid, sv_error_t *err)
{
    return sv_userns_root_ids("auto", uid, gid, err);
}

/* Work directories of servos processes that are gone. */
static void remove_stale(const char *dir)
{
    cleanup_closedir DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        const char *dash = strchr(e->d_name, '-');
        long pid = dash ? strtol(dash + 1, NULL, 10) : 0;
        if (pid <= 0 || (kill((pid_t)pid, 0) < 0 && errno == ESRCH)) {
            cleanup_free char *p = sv_xasprintf("%s/%s", dir, e->d_name);
            sv_rmtree(p, NULL);
        }
    }
}

int sv_bjob_workdir(const char *kind, char **path, sv_error_t *err)
{
    *path = NULL;
    cleanup_free char *dir = sv_xasprintf("%s/boards/work", sv_state_root());
    if (sv_mkdir_p_mode(dir, 0711, err) < 0)
        return -1;
    remove_stale(dir);
    cleanup_free char *p = sv_xasprintf("%s/%s-%d-XXXXXX", dir, kind, (int)getpid());
    uid_t uid;
    gid_t gid;
    if (root_ids(&uid, &gid, err) < 0)
        return -1;
    if (mkdtemp(p) == NULL || chown(p, uid, gid) < 0 || chmod(p, 0700) < 0)
        return sv_error(err, errno, "cannot make %s", p);
    *path = sv_steal(p);
    return 0;
}

int sv_bjob_cachedir(const char *name, char **path, sv_error_t *err)
{
    *path = NULL;
    cleanup_free char *dir = sv_xasprintf("%s/boards/cache", sv_state_root());
    if (sv_mkdir_p_mode(dir, 0711, err) < 0)
        return -1;
    cleanup_free char *p = sv_xasprintf("%s/%s", dir, name);
    uid_t uid;
    gid_t gid;
    if (root_ids(&uid, &gid, err) < 0)
        return -1;
    if ((mkdir(p, 0700) < 0 && errno != EEXIST) || chown(p, uid, gid) < 0)
        return sv_error(err, errno, "cannot make %s", p);
    *path = sv_steal(p);
    return 0;
}

/* ---- copying in and out ------------------------------------------------------------------ */

#define COPY_MAX   (64LL << 20)
#define COPY_DEPTH 8

static int copy_fd(int in, int out, const char *what, sv_error_t *err)
{
    char buf[65536];
    for (ssize_t n; (n = read(in, buf, sizeof(buf))) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(out, buf, (size_t)n) != n)
            return sv_error(err, errno, "cannot copy %s", what);
    }
    return 0;
}

struct copy {
    uid_t uid;
    gid_t gid;
    int64_t left; /* bytes still allowed */
};

static int copy_tree(struct copy *cp, int srcdir, const char *name, const char *src,
                     const char *dst, int depth, sv_error_t *err);

static int copy_file(struct copy *cp, int in, const struct stat *st, const char *src,
                     const char *dst, sv_error_t *err)
{
    if ((cp->left -= st->st_size) < 0)
        return sv_error(err, 0, "%s: more than 64 MB to copy in", src);
    cleanup_close int out =
        open(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st->st_mode & 0755);
    if (out < 0)
        return sv_error(err, errno, "cannot write %s", dst);
    if (copy_fd(in, out, src, err) < 0)
        return -1;
    if (fchown(out, cp->uid, cp->gid) < 0)
        return sv_error(err, errno, "cannot hand %s to the container", dst);
    return 0;
}

static int copy_dir(struct copy *cp, int in, const char *src, const char *dst, int depth,
                    sv_error_t *err)
{
    if (depth > COPY_DEPTH)
        return 0;
    if ((mkdir(dst, 0755) < 0 && errno != EEXIST) || chown(dst, cp->uid, cp->gid) < 0)
        return sv_error(err, errno, "cannot make %s", dst);
    cleanup_closedir DIR *d = fdopendir(dup(in));
    if (d == NULL)
        return sv_error(err, errno, "cannot read %s", src);
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        cleanup_free char *s = sv_xasprintf("%s/%s", src, e->d_name);
        cleanup_free char *t = sv_xasprintf("%s/%s", dst, e->d_name);
        if (copy_tree(cp, in, e->d_name, s, t, depth + 1, err) < 0)
            return -1;
    }
    return 0;
}

/* Regular files and directories; links and the rest are left out (a link
 * could lead out of what the user named). */
static int copy_tree(struct copy *cp, int srcdir, const char *name, const char *src,
                     const char *dst, int depth, sv_error_t *err)
{
    cleanup_close int in = openat(srcdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (in < 0 && errno == ELOOP)
        return 0;
    if (in < 0 || fstat(in, &st) < 0)
        return sv_error(err, errno, "cannot read %s", src);
    if (S_ISDIR(st.st_mode))
        return copy_dir(cp, in, src, dst, depth, err);
    if (S_ISREG(st.st_mode))
        return copy_file(cp, in, &st, src, dst, err);
    return 0;
}

int sv_bjob_copy_in(const char *src, const char *dst, sv_error_t *err)
{
    struct copy cp = {.left = COPY_MAX};
    if (root_ids(&cp.uid, &cp.gid, err) < 0)
        return -1;
    return copy_tree(&cp, AT_FDCWD, src, src, dst, 0, err);
}

int sv_bjob_copy_out(const char *src, const char *dst, sv_error_t *err)
{
    /* The step's file, owned by the container: opened without following
     * a link it may have put there. */
    cleanup_close int in = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st, dir;
    if (in < 0 || fstat(in, &st) < 0)
        return sv_error(err, errno, "cannot read %s", src);
    if (!S_ISREG(st.st_mode))
        return sv_error(err, 0, "%s is not a regular file", src);
    cleanup_free char *parent = sv_dirname(dst);
    if (stat(parent, &dir) < 0)
        return sv_error(err, errno, "%s", parent);
    cleanup_free char *tmp = sv_xasprintf("%s.servos-%d", dst, (int)getpid());
    cleanup_close int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        return sv_error(err, errno, "cannot write %s", tmp);
    if (copy_fd(in, out, src, err) < 0 || fchown(out, dir.st_uid, dir.st_gid) < 0 ||
        fchmod(out, (st.st_mode & 0111) ? 0755 : 0644) < 0 || rename(tmp, dst) < 0) {
        int e = errno;
        unlink(tmp);
        return sv_error(err, e, "cannot write %s", dst);
    }
    return 0;
}
