/* The default seccomp filter, equal in spirit to Docker's default profile:
 * everything a normal program needs works; calls that reach into the
 * kernel's global state (modules, kexec, bpf, perf, keyrings, mounts and
 * the mount listing, swap, reboot, clocks), new user namespaces, io_uring
 * (unless allowed) and the terminal ioctls TIOCSTI and TIOCLINUX fail with
 * EPERM. Calls from other ABIs (i386, x32) are refused so the filter
 * cannot be bypassed. A filter is a second wall: what must not happen at
 * all (a network for a network-less process) is the namespaces' job. */
#ifndef SV_SECCOMP_H
#define SV_SECCOMP_H

#include "core/util.h"

/* Flags: what the default filter lets through on request. */
#define SV_SECCOMP_ALLOW_IO_URING 1u /* --security-opt io_uring=allow */
/* A build's RUN step: fsync, fdatasync, syncfs, sync and sync_file_range
 * return 0 at once (apt's dpkg asks for thousands; the builder makes the
 * step's layer durable as a whole). Nothing more is allowed by it. */
#define SV_SECCOMP_NO_SYNC 2u
#define SV_SECCOMP_FLAGS   (SV_SECCOMP_ALLOW_IO_URING | SV_SECCOMP_NO_SYNC)

/* Load the filter into the calling process (needs no_new_privs or
 * CAP_SYS_ADMIN); the last step before execve. */
int sv_seccomp_load_default(unsigned flags, sv_error_t *err);
/* Build the filter and write it to fd as raw BPF: the parent does this
 * while the child builds its root file system, on the other core. */
int sv_seccomp_export_default(int fd, unsigned flags, sv_error_t *err);
/* Read a BPF program from fd (until EOF) and load it. */
int sv_seccomp_load_fd(int fd, sv_error_t *err);

#endif
