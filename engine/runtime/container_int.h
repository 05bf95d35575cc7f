/* The runtime's internals, shared by the files behind container.h and
 * nothing outside engine/runtime/:
 *   container.c  the parent: create, spawn and start, wait, remove, stop
 *   spec.c       the spec: checks, own copies, the image's config, JSON
 *   user.c       the container's user, and its volumes' owners (:U)
 *   child.c      the child after clone3, up to the command's execve
 *   exec.c       servos exec: a command joined to a running container
 * A child reports to the parent over a pipe: nothing when its exec
 * succeeded (the pipe is close-on-exec), else "STATUS message". */
#ifndef SV_CONTAINER_INT_H
#define SV_CONTAINER_INT_H

#include "runtime/container.h"

#include <stdio.h>
#include <unistd.h>

/* Close *fd now and forget it, so that its cleanup_close does nothing:
 * for the ends of a pipe that must go at a precise moment (the other side
 * sees EOF only once every copy of an end is closed). */
static inline void sv_fd_close_now(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- spec.c ---------------------------------------------------------------- */

struct sv_image_config;
/* What sv_container_create refuses before anything is made. */
int sv_spec_check(const struct sv_run_spec *s, sv_error_t *err);
/* The container's own copies of spec (hostname: the short id if unset). */
void sv_spec_copy(struct sv_container *c, const struct sv_run_spec *spec);
/* What the spec leaves unset, from the image's config (Docker's rules). */
int sv_spec_apply_image(struct sv_container *c, const struct sv_image_config *cfg, sv_error_t *err);
/* The seccomp filter's flags (seccomp.h) the spec asks for. */
unsigned sv_spec_seccomp_flags(const struct sv_run_spec *s);
/* argv joined by spaces, as `servos ls` shows the command. */
char *sv_spec_command_line(char *const *argv);
/* The spec as JSON: recorded with the container for exec, stop and ls. */
char *sv_spec_to_json(const struct sv_container *c);

/* ---- user.c ---------------------------------------------------------------- */

/* The highest id a container can switch to (see user.c). */
unsigned long sv_user_max_id(bool userns_host);
/* The numeric parts of "uid[:gid]", before anything runs. */
int sv_user_check(const char *user, bool userns_host, sv_error_t *err);
/* "uid[:gid]" or a name from passwd (an /etc/passwd, or NULL), each id at
 * most max. */
int sv_user_resolve(const char *user, unsigned long max, FILE *passwd, uid_t *uid, gid_t *gid,
                    sv_error_t *err);
/* The container's user as host ids, when the image tells (user_known). */
void sv_user_find_host(struct sv_container *c);
/* :U volumes to the container's user, before anything runs. */
int sv_user_chown_volumes(struct sv_container *c, sv_error_t *err);
/* Warn of each read-write volume the container's user cannot write. */
void sv_user_warn_unwritable(const struct sv_container *c);

/* ---- child.c --------------------------------------------------------------- */

/* The child of sv_container_spawn: reads the parent's 'g' and 'c' on
 * gofd, builds its root, drops privileges and execs; errors go to errfd. */
__attribute__((noreturn)) void sv_child_main(struct sv_container *c, const int fds[3], int gofd,
                                             int errfd, int bpffd, int ptysock);
/* Report err to the parent on errfd and exit with status. */
__attribute__((noreturn)) void sv_child_fail(int errfd, int status, sv_error_t *err);
/* Every descriptor from lowfd up closed on exec. */
int sv_child_cloexec_from(int lowfd, sv_error_t *err);
/* The container's user, capabilities, no_new_privs and seccomp (the
 * program from bpf_fd, else built here). */
int sv_child_drop_privileges(const struct sv_run_spec *s, sv_capset_t caps, int bpf_fd,
                             sv_error_t *err);
/* execvp the command with the container's environment; on failure report
 * 127 (not found) or 126 on errfd. */
__attribute__((noreturn)) void sv_child_exec(const struct sv_run_spec *s, int errfd);
/* The parent's end: 0 when the child exec'd, else -1 with the child's
 * message in err and its status (126, 127, 125) in *exec_status. */
int sv_child_report_read(int errfd, int *exec_status, sv_error_t *err);

#endif
