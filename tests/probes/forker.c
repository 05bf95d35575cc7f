/* A handler that tries to leave processes behind: it forks up to N
 * children that sleep, then a daemon (double fork and setsid, the way a
 * process leaves its session and parent), then sleeps past any timeout.
 * Prints how many children it got to stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int want = argc > 1 ? atoi(argv[1]) : 1000, got = 0;
    for (; got < want; got++) {
        pid_t pid = fork();
        if (pid < 0)
            break; /* the pids limit */
        if (pid == 0) {
            for (;;)
                pause();
        }
    }
    fprintf(stderr, "forked %d of %d\n", got, want);
    if (fork() == 0) {
        setsid();
        if (fork() == 0)
            for (;;)
                pause();
        _exit(0);
    }
    if (argc > 2) /* "done": answer at once, leaving them all behind */
        return printf("{\"forked\":%d}", got) < 0;
    for (;;)
        pause();
}
