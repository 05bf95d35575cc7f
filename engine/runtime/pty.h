/* Pseudo-terminals for containers (servos run -t, exec -t, tty = true).
 *
 * The command's terminal is made in the container's own devpts (mounts.c
 * mounts a new instance at /dev/pts), so `tty` names a /dev/pts path the
 * container can see, and the user's terminal never reaches the container:
 * servos holds the user's side and relays between it and the master, in
 * raw mode, so Ctrl-C, Ctrl-Z and Ctrl-D go through the container's line
 * discipline to the command's foreground process group. */
#ifndef SV_PTY_H
#define SV_PTY_H

#include "core/util.h"

#include <stdbool.h>
#include <sys/ioctl.h>

/* A new pair from the devpts mounted at /dev/pts, called inside the
 * container as its user: the path is walked without following links
 * (container root may have replaced /dev/ptmx with one) and the result must
 * be a devpts ptmx. The slave comes from the master (TIOCGPTPEER), not by
 * its name. Both close-on-exec, the master non-blocking; rows x cols (0:
 * 24x80) is its size. */
int sv_pty_open(int *master, int *slave, unsigned short rows, unsigned short cols, sv_error_t *err);
/* Make slave the controlling terminal of the caller, who must lead a
 * session of its own, the foreground group its own, and stdin, stdout and
 * stderr. Does not close slave. */
int sv_pty_take(int slave, sv_error_t *err);
/* The size of the user's terminal (stdin, else stdout, else stderr);
 * false when none is a terminal. */
bool sv_pty_user_size(struct winsize *ws);

/* One descriptor over a unix socket (SCM_RIGHTS). recv: *fd is -1 when the
 * other end closed without sending one. */
int sv_pty_send_fd(int sock, int fd, sv_error_t *err);
int sv_pty_recv_fd(int sock, int *fd, sv_error_t *err);

/* Relay between the user's terminal (stdin, stdout) and master until the
 * process behind watch (a pidfd) has exited, or the terminal's other side
 * is closed by everything in the container. input: stdin is copied to the
 * master, and, when it is a terminal, it is in raw mode meanwhile,
 * restored on every way out (a fatal signal too; SIGTSTP puts it back
 * before servos stops, SIGCONT takes raw mode again). Window size changes
 * (SIGWINCH) are copied to the master, which signals the container's
 * foreground group. When the user's terminal goes away, the relay ends so
 * that the caller's close of master hangs up the container's terminal. */
int sv_pty_relay(int master, bool input, int watch, sv_error_t *err);

#endif
