/* The calls the default seccomp filter must refuse, each tried the way an
 * attacker would, with its errno printed: "TIOCSTI=EPERM TIOCLINUX=EPERM
 * statmount=EPERM listmount=EPERM open_tree_attr=EPERM io_uring_setup=EPERM". Without the
 * filter they fail otherwise (ENOTTY on a pipe, EINVAL, EFAULT) or work. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void say(const char *name, long rc, const char *end)
{
    printf("%s=%s%s", name, rc < 0 ? strerrorname_np(errno) : "allowed", end);
}

int main(void)
{
    char c = 'x';
    say("TIOCSTI", ioctl(0, TIOCSTI, &c), " ");     /* types into the terminal */
    say("TIOCLINUX", ioctl(0, TIOCLINUX, &c), " "); /* drives the virtual console */
    say("statmount", syscall(457, 0, 0, 0, 0), " ");
    say("listmount", syscall(458, 0, 0, 0, 0), " ");
    /* open_tree with attributes (Linux 6.15): a detached copy of a mount */
    say("open_tree_attr", syscall(467, -100, "/proc", 1, NULL, 0), " ");
    say("io_uring_setup", syscall(SYS_io_uring_setup, 1, NULL), "\n");
    return 0;
}
