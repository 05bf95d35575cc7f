/* What the daemon remembers of running containers between requests, so
 * that GET /v1/stacks/NAME of a hundred replicas does not read a hundred
 * /proc/PID/stat files and parse a hundred recorded specs each time:
 *   - whether a process still runs: a pidfd, opened once the pid and its
 *     start time matched the row (sv_pid_alive's check), polled after
 *     (readable once the process ended; it can never name another one);
 *   - its address on the stack network: from the spec, which never
 *     changes for a container id.
 * Entries not asked about for a minute go (their pidfds closed). */
#include "api/api_int.h"
#include "net/stacknet.h"
#include "stack/ps.h"

#include <poll.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BUCKETS 1024
#define IDLE_MS 60000

struct entry {
    struct entry *next;
    char id[65];
    pid_t pid;
    uint64_t start;
    int pidfd; /* -1: not running (or unknown) */
    bool dead;
    uint32_t addr;
    bool addr_known;
    int64_t used;
};

static struct entry *table[BUCKETS];

static struct entry *entry_of(const struct sv_ctr_row *r)
{
    size_t b = sv_fnv1a(r->id, strlen(r->id)) % BUCKETS;
    for (struct entry *e = table[b]; e; e = e->next)
        if (strcmp(e->id, r->id) == 0) {
            e->used = sv_now_ms();
            return e;
        }
    struct entry *e = sv_xcalloc(1, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", r->id);
    e->pidfd = -1;
    e->used = sv_now_ms();
    e->next = table[b];
    table[b] = e;
    return e;
}

static void forget_process(struct entry *e)
{
    if (e->pidfd >= 0)
        close(e->pidfd);
    e->pidfd = -1;
    e->dead = false;
}

static bool running(void *ud, const struct sv_ctr_row *r)
{
    (void)ud;
    if (r->status != SV_CTR_RUNNING || r->pid <= 0)
        return false;
    struct entry *e = entry_of(r);
    if (e->pid != r->pid || e->start != r->pid_start) { /* restarted: another process */
        forget_process(e);
        e->pid = r->pid;
        e->start = r->pid_start;
    }
    if (e->dead)
        return false;
    if (e->pidfd >= 0) {
        struct pollfd p = {.fd = e->pidfd, .events = POLLIN};
        if (poll(&p, 1, 0) == 1) { /* it ended */
            forget_process(e);
            e->dead = true;
            return false;
        }
        return true;
    }
    if (!sv_pid_alive(r->pid, r->pid_start))
        return false;
    int fd = (int)syscall(SYS_pidfd_open, r->pid, 0);
    /* The same process still, now that the pidfd holds it? */
    if (fd >= 0 && sv_pid_start_time(r->pid) == r->pid_start)
        e->pidfd = fd;
    else if (fd >= 0)
        close(fd);
    return true;
}

static uint32_t address(void *ud, const struct sv_ctr_row *r)
{
    (void)ud;
    struct entry *e = entry_of(r);
    if (!e->addr_known) {
        e->addr = sv_stacknet_address_of(r->spec_json);
        e->addr_known = true;
    }
    return e->addr;
}

static void sweep(void *ud)
{
    (void)ud;
    int64_t now = sv_now_ms();
    for (size_t b = 0; b < BUCKETS; b++)
        for (struct entry **p = &table[b]; *p;) {
            struct entry *e = *p;
            if (now - e->used < IDLE_MS) {
                p = &e->next;
                continue;
            }
            *p = e->next;
            forget_process(e);
            free(e);
        }
}

const struct sv_ps_known *pscache_known(void)
{
    static const struct sv_ps_known known = {running, address, NULL};
    static bool swept;
    if (!swept) {
        loop_every(10000, sweep, NULL);
        swept = true;
    }
    return &known;
}
