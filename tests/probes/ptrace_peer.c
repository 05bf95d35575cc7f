/* One handler against another: find a process whose command line holds
 * MARKER, then try what an attacker would to read its memory (ptrace,
 * /proc/PID/mem) and to signal it, and look for SECRET in what it read.
 * Prints one JSON object; "found" is true only if the secret was read. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t find(const char *marker)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0 || pid == getpid())
            continue;
        char path[64], buf[4096];
        snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
        int fd = open(path, O_RDONLY);
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
        if (fd >= 0)
            close(fd);
        for (ssize_t i = 0; i < n; i++)
            buf[i] = buf[i] ? buf[i] : ' ';
        if (n > 0 && (buf[n] = '\0', strstr(buf, marker)))
            return pid;
    }
    return 0;
}

/* Read every readable mapping through /proc/PID/mem, looking for secret. */
static int scan(pid_t pid, const char *secret, int *mem_errno)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/mem", pid);
    int mem = open(path, O_RDONLY);
    *mem_errno = mem < 0 ? errno : 0;
    if (mem < 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%d/maps", pid);
    FILE *maps = fopen(path, "r");
    int found = 0;
    while (maps && !found && fgets(line, sizeof(line), maps)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3 || perms[0] != 'r' ||
            hi - lo > (64ul << 20))
            continue;
        char *buf = malloc(hi - lo);
        ssize_t n = pread(mem, buf, hi - lo, (off_t)lo);
        if (n < 0 && *mem_errno == 0)
            *mem_errno = errno;
        if (n > 0 && memmem(buf, (size_t)n, secret, strlen(secret)))
            found = 1;
        free(buf);
    }
    if (maps)
        fclose(maps);
    close(mem);
    return found;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MARKER SECRET\n", argv[0]);
        return 2;
    }
    pid_t pid = 0;
    for (int i = 0; i < 50 && pid == 0; i++, usleep(100000))
        pid = find(argv[1]);
    if (pid == 0) {
        printf("{\"victim\":0}");
        return 0;
    }
    int attach = ptrace(PTRACE_ATTACH, pid, 0, 0) == 0 ? 0 : errno;
    if (attach == 0) {
        waitpid(pid, NULL, __WALL);
    }
    int mem_errno = 0, found = scan(pid, argv[2], &mem_errno);
    if (attach == 0)
        ptrace(PTRACE_DETACH, pid, 0, 0);
    int sig = kill(pid, 0) == 0 ? 0 : errno;
    printf("{\"victim\":%d,\"ptrace\":\"%s\",\"mem\":\"%s\",\"signal\":\"%s\",\"found\":%s}",
           (int)pid, attach ? strerrorname_np(attach) : "attached",
           mem_errno ? strerrorname_np(mem_errno) : "read", sig ? strerrorname_np(sig) : "sent",
           found ? "true" : "false");
    return 0;
}
