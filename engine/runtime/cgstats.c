#include "runtime/cgstats.h"
#include "runtime/cgroup.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The groups' parents, found once (sv_cgroup_init reads mountinfo). */
static struct sv_cgroup bases;
static bool bases_known;

static char *dir_of(const char *base, const char *id)
{
    if (base == NULL)
        return NULL;
    size_t n = strlen(base) - 1; /* base ends with the placeholder "X" */
    char *d = sv_xasprintf("%.*s%s", (int)n, base, id);
    if (access(d, F_OK) == 0)
        return d;
    free(d);
    return NULL;
}

static int64_t read_number(const char *dir, const char *file)
{
    cleanup_free char *path = sv_xasprintf("%s/%s", dir, file);
    cleanup_free char *text = NULL;
    if (sv_read_file(path, 4096, &text, NULL, NULL) < 0)
        return -1;
    char *end;
    long long v = strtoll(text, &end, 10);
    return end == text ? -1 : v;
}

/* Lines of file in dir and every group below it (a tree's tasks). */
static int64_t count_lines(const char *dir, const char *file)
{
    cleanup_free char *path = sv_xasprintf("%s/%s", dir, file);
    cleanup_free char *text = NULL;
    size_t len = 0;
    int64_t n = 0;
    if (sv_read_file(path, 1 << 22, &text, &len, NULL) == 0)
        for (size_t i = 0; i < len; i++)
            n += text[i] == '\n';
    cleanup_closedir DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_type == DT_DIR && e->d_name[0] != '.') {
            cleanup_free char *sub = sv_xasprintf("%s/%s", dir, e->d_name);
            n += count_lines(sub, file);
        }
    return n;
}

/* Resident bytes of every process in the tree under dir. */
static int64_t resident(const char *dir)
{
    cleanup_free char *path = sv_xasprintf("%s/cgroup.procs", dir);
    cleanup_fclose FILE *f = fopen(path, "re");
    int64_t bytes = 0, page = sysconf(_SC_PAGESIZE);
    long pid;
    while (f && fscanf(f, "%ld", &pid) == 1) {
        char statm[64];
        snprintf(statm, sizeof(statm), "/proc/%ld/statm", pid);
        cleanup_fclose FILE *s = fopen(statm, "re");
        long size, rss;
        if (s && fscanf(s, "%ld %ld", &size, &rss) == 2)
            bytes += rss * page;
    }
    cleanup_closedir DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_type == DT_DIR && e->d_name[0] != '.') {
            cleanup_free char *sub = sv_xasprintf("%s/%s", dir, e->d_name);
            bytes += resident(sub);
        }
    return bytes;
}

void sv_cgstats_read(const char *id, struct sv_cgstats *out)
{
    out->cpu_s = -1;
    out->memory = out->tasks = -1;
    if (!bases_known) {
        sv_cgroup_init(&bases, "X", NULL);
        bases_known = true;
    }
    cleanup_free char *v2 = dir_of(bases.v2 ? bases.v2 : bases.unified, id);
    cleanup_free char *mem = dir_of(bases.dir[SV_CG_MEMORY], id);
    cleanup_free char *acct = dir_of(bases.dir[SV_CG_CPUACCT], id);
    cleanup_free char *pids = dir_of(bases.dir[SV_CG_PIDS], id);
    if (v2) {
        int64_t usec = sv_cgroup_read_key(v2, "cpu.stat", "usage_usec");
        if (usec >= 0)
            out->cpu_s = (double)usec / 1e6;
        out->memory = read_number(v2, "memory.current");
        out->tasks = read_number(v2, "pids.current");
    }
    if (out->cpu_s < 0 && acct) {
        int64_t ns = read_number(acct, "cpuacct.usage");
        if (ns >= 0)
            out->cpu_s = (double)ns / 1e9;
    }
    if (out->memory < 0 && mem)
        out->memory = read_number(mem, "memory.usage_in_bytes");
    if (out->tasks < 0 && pids)
        out->tasks = read_number(pids, "pids.current");
    if (out->memory < 0 && v2)
        out->memory = resident(v2);
    if (out->tasks < 0 && v2)
        out->tasks = count_lines(v2, "cgroup.threads");
}
