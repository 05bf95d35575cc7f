/* Paying the cgroup move's grace period while other work runs.
 *
 * Moving a process into a cgroup (a write to cgroup.procs) takes the
 * kernel's cgroup_threadgroup_rwsem for writing, a per-cpu rwsem whose
 * writer first waits for an RCU grace period unless another writer held
 * it within the last one (rcu_sync: GP_IDLE -> GP_ENTER -> GP_PASSED, and
 * back to idle only one grace period after the last writer left). Measured
 * with `perf trace` on the v1 hybrid host this was the longest single step
 * of `servos run`: the first cgroup.procs write of a start took 5-18 ms,
 * the three after it 40 us each. (Pure v2 hosts with the favordynmods
 * mount option, and clone3's CLONE_INTO_CGROUP, do not take this path.)
 *
 * So a start begins with a thread that moves servos into the cgroup it is
 * already in: nothing moves, but it takes the same lock, pays the grace
 * period while the state database is read, the image resolved and the
 * child cloned, and keeps taking it every 0.3 ms so that the lock never
 * goes idle before the container's first process is moved in (the one
 * move that must happen before the container runs anything): the lock
 * stays fast for a grace period after its last writer, and that move
 * comes well under a millisecond after the thread ends.
 *
 * The thread is ended and joined before the container's clone3: a raw
 * clone3 copies glibc's list of threads but not the threads, and the
 * child's setresuid (which glibc broadcasts to every listed thread) would
 * wait forever for one that is not there. */
#include "runtime/cgroup.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static atomic_bool warm_stop;
static bool warm_running;
static pthread_t warm_thread;

/* The cgroup.procs of the group this process is in, in the first
 * hierarchy found: v1 pids, else the unified one. */
static bool own_procs_file(char *out, size_t len)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f == NULL)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        const char *path = strchr(strchr(line, ':') ? strchr(line, ':') + 1 : line, ':');
        if (path == NULL)
            continue;
        path++;
        if (strstr(line, ":pids:"))
            snprintf(out, len, "/sys/fs/cgroup/pids%s/cgroup.procs", path);
        else if (strncmp(line, "0::", 3) == 0)
            snprintf(out, len, "/sys/fs/cgroup%s%s/cgroup.procs",
                     access("/sys/fs/cgroup/unified", F_OK) == 0 ? "/unified" : "", path);
        else
            continue;
        found = access(out, W_OK) == 0;
    }
    fclose(f);
    return found;
}

static void *warm_loop(void *arg)
{
    int fd = (int)(intptr_t)arg;
    const struct timespec pause = {0, 300 * 1000};
    /* At most 2 s: a start that never reaches its move stops paying. */
    for (int i = 0; i < 6000 && !atomic_load(&warm_stop); i++) {
        if (write(fd, "0", 1) != 1)
            break;
        nanosleep(&pause, NULL);
    }
    close(fd);
    return NULL;
}

void sv_cgroup_warm_start(void)
{
    char procs[600];
    if (warm_running || !own_procs_file(procs, sizeof(procs)))
        return;
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    atomic_store(&warm_stop, false);
    if (pthread_create(&warm_thread, &attr, warm_loop, (void *)(intptr_t)fd) == 0)
        warm_running = true;
    else
        close(fd);
    pthread_attr_destroy(&attr);
}

void sv_cgroup_warm_stop(void)
{
    if (warm_running) {
        atomic_store(&warm_stop, true);
        pthread_join(warm_thread, NULL);
        warm_running = false;
    }
}
