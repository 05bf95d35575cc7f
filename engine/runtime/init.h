/* servos' init: pid 1 of a container run with --init (init = true, Compose
 * init: true), and of one whose terminal or open stdin servos keeps with no
 * one attached (a replica with tty = true or stdin_open = true, run -d -t or
 * -d -i).
 *
 * A command that is pid 1 of its namespace gets no signal it has no handler
 * for, so `sleep` or a shell script ignores SIGTERM and is killed only
 * after the grace period; and orphans are reparented to pid 1, which must
 * reap them or they stay zombies. This init is servos' own code, forked in
 * the container after its privileges are dropped (same user, capabilities,
 * no_new_privs and seccomp filter as the command): it needs no binary in the
 * image, so it works with any image. It forks the command, passes every
 * signal it gets on to it, reaps every child, and exits with the command's
 * code once the command exits (the kernel then ends the rest). */
#ifndef SV_INIT_H
#define SV_INIT_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

/* Block what init reads from its signalfd (all but the faults); before
 * forking the command, whose exec must unblock them again. */
void sv_init_block_signals(sigset_t *set);
/* What an init that never execs still carries of the servos process it was
 * forked from: its memory is closed to the container (non-dumpable, before
 * the command exists to look), every descriptor but keep[] is closed (a
 * supervisor's sockets and locks must not live on in a container), and the
 * command line and the environment strings are blanked (/proc/1/cmdline
 * would show servos' own, say a git URL with a token, to anyone; environ,
 * the user's, to what can trace the init). Before forking the command,
 * which gets its environment anew (build_env). */
void sv_init_shed(const int *keep, size_t n);
/* Be pid 1 until the command (child) exits, copying what master (a
 * terminal's master, or -1) gives to out. Returns the exit code to leave
 * with: the command's, 128+N when signal N killed it. */
int sv_init_run(pid_t child, const sigset_t *set, int master, int out);

/* close_range over everything from 3 up but keep[] (unsorted, -1s
 * ignored). */
void sv_init_close_fds_except(const int *keep, size_t n);

#endif
