/* Where a build works, and what it leaves when it is killed. Under
 * <state root>/images/build:
 *   locks/PID     held (flock) by build PID while it runs
 *   tmp/PID-N/    a RUN step's upper and work directories, and the id of
 *                 its container ("id"), until the step's layer is moved
 *                 into the store
 *   empty-UID/    an empty lower layer, for RUN on scratch
 * A build that starts removes what builds whose lock no one holds left:
 * their directories, and their containers' cgroups (a killed build's
 * container died with it, see container.h's die_with_parent; its mounts
 * were in its own namespace). The store is on the same file system, so a
 * step's upper directory becomes a layer by a rename. */
#include "build/build_int.h"

#include "core/fs.h"
#include "core/store.h"
#include "runtime/container.h"
#include "runtime/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;
static volatile pid_t watched;

void sv_build_interrupt(void)
{
    interrupted = 1;
    pid_t p = watched;
    if (p > 0)
        kill(p, SIGKILL); /* async-signal-safe; its removal is the builder's */
}

bool sv_bwork_interrupted(void)
{
    return interrupted != 0;
}

void sv_bwork_watch(pid_t pid)
{
    watched = pid;
}

/* Is the build of pid still running (its lock held)? */
static bool alive(const char *work, long pid)
{
    if (pid == (long)getpid())
        return true;
    cleanup_free char *p = sv_xasprintf("%s/locks/%ld", work, pid);
    cleanup_close int fd = open(p, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return false;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0)
        return errno == EWOULDBLOCK ? true : false;
    return false;
}

/* A dead build's step: its container's remains, then its directory. */
static void remove_step(const char *dir)
{
    cleanup_free char *idfile = sv_xasprintf("%s/id", dir);
    cleanup_free char *id = NULL;
    if (sv_read_file(idfile, 128, &id, NULL, NULL) == 0 && strlen(id) == 64 &&
        strspn(id, "0123456789abcdef") == 64)
        sv_container_remove(NULL, id, NULL);
    sv_rmtree(dir, NULL);
}

static void remove_stale(struct build *b)
{
    cleanup_free char *tmp = sv_xasprintf("%s/tmp", b->work);
    cleanup_closedir DIR *d = opendir(tmp);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || alive(b->work, strtol(e->d_name, NULL, 10)))
            continue;
        cleanup_free char *p = sv_xasprintf("%s/%s", tmp, e->d_name);
        remove_step(p);
    }
    cleanup_free char *locks = sv_xasprintf("%s/locks", b->work);
    cleanup_closedir DIR *l = opendir(locks);
    while (l && (e = readdir(l))) {
        if (e->d_name[0] == '.' || alive(b->work, strtol(e->d_name, NULL, 10)))
            continue;
        cleanup_free char *p = sv_xasprintf("%s/%s", locks, e->d_name);
        unlink(p);
    }
}

int sv_bwork_begin(struct build *b, sv_error_t *err)
{
    b->lock_fd = -1;
    cleanup_free char *images = sv_xasprintf("%s/images", sv_state_root());
    /* images/: root's and the containers' group's only (rootfs.h). */
    if (sv_rootfs_guard_dir(images, err) < 0)
        return -1;
    b->work = sv_xasprintf("%s/build", images);
    cleanup_free char *locks = sv_xasprintf("%s/locks", b->work);
    cleanup_free char *tmp = sv_xasprintf("%s/tmp", b->work);
    if (sv_mkdir_p_mode(locks, 0700, err) < 0 || sv_mkdir_p_mode(tmp, 0711, err) < 0 ||
        chmod(b->work, 0711) < 0)
        return sv_error(err, errno, "cannot create %s", b->work);
    cleanup_free char *mine = sv_xasprintf("%s/%d", locks, (int)getpid());
    b->lock_fd = open(mine, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (b->lock_fd < 0 || flock(b->lock_fd, LOCK_EX) < 0)
        return sv_error(err, errno, "cannot lock %s", mine);
    remove_stale(b);
    return 0;
}

void sv_bwork_end(struct build *b)
{
    if (b->work == NULL)
        return;
    cleanup_free char *mine = sv_xasprintf("%s/locks/%d", b->work, (int)getpid());
    unlink(mine);
    if (b->lock_fd >= 0)
        close(b->lock_fd);
    b->lock_fd = -1;
}

static int make_owned(const char *path, mode_t mode, const struct sv_idmap *m, sv_error_t *err)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return sv_error(err, errno, "cannot create %s", path);
    if (chown(path, m->uid_base, m->gid_base) < 0 || chmod(path, mode) < 0)
        return sv_error(err, errno, "cannot hand %s to the containers' root", path);
    return 0;
}

int sv_bwork_tmpdir(struct build *b, char **dir, sv_error_t *err)
{
    *dir = sv_xasprintf("%s/tmp/%d-%u", b->work, (int)getpid(), b->seq++);
    sv_rmtree(*dir, NULL);
    cleanup_free char *upper = sv_xasprintf("%s/upper", *dir);
    cleanup_free char *work = sv_xasprintf("%s/work", *dir);
    /* The overlay is mounted by the container's root, inside its user
     * namespace: it must own them. */
    if (make_owned(*dir, 0700, &b->map, err) < 0 || make_owned(upper, 0755, &b->map, err) < 0 ||
        make_owned(work, 0700, &b->map, err) < 0) {
        sv_rmtree(*dir, NULL);
        free(*dir);
        *dir = NULL;
        return -1;
    }
    return 0;
}

void sv_bwork_note_container(const char *tmpdir, const char *id)
{
    cleanup_free char *p = sv_xasprintf("%s/id", tmpdir);
    cleanup_close int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0 && write(fd, id, strlen(id)) < 0) {
        /* best effort: without it a killed step's empty cgroup stays */
    }
}

int sv_bwork_empty_dir(struct build *b, char **dir, sv_error_t *err)
{
    *dir = sv_xasprintf("%s/empty-%u", b->work, (unsigned)b->map.uid_base);
    if (make_owned(*dir, 0755, &b->map, err) < 0) {
        free(*dir);
        *dir = NULL;
        return -1;
    }
    return 0;
}

int sv_bwork_keep(struct build *b, const char *dir, const struct blayer *l, sv_error_t *err)
{
    cleanup_free char *layers = sv_xasprintf("%s/images/layers", sv_state_root());
    cleanup_free char *dst = sv_bstate_layer_path(b, l);
    if (sv_mkdir_p(layers, 0711, err) < 0)
        return -1;
    /* Taken already (the same step, built by another build meanwhile):
     * that one is as good. */
    if (rename(dir, dst) < 0 && errno != EEXIST && errno != ENOTEMPTY)
        return sv_error(err, errno, "cannot move the layer to %s", dst);
    cleanup_close int fd = open(layers, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) < 0)
        return sv_error(err, errno, "cannot write the layer to disk");
    return 0;
}
