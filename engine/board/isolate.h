/* servos isolate: one script or program run isolated for a platform, as
 * the original Servos promised. Python and shell run on this host (its
 * own x86_64, on the "host" image); a MicroPython script on the
 * MicroPython runtime; C sources or an Arduino sketch are built for an
 * AVR or Cortex-M board and run in its emulator; an aarch64 or armhf
 * program runs under qemu-user. The build and the run are each a step of
 * bjob.h in the family's toolchain image (built on first use): no
 * network, the limits asked for, the output streamed as it comes; at the
 * end a verdict: ok, failed (exit N), timeout, oom, build failed. */
#ifndef SV_ISOLATE_H
#define SV_ISOLATE_H

#include "board/bjob.h"

#include <stdio.h>

struct sv_isolate_opts {
    const char *script;      /* a file, or a sketch's directory */
    char **args;             /* for the program; NULL-terminated or NULL */
    const char *platform;    /* -p, or NULL */
    const char *board;       /* --board, or NULL */
    char **env;              /* "K=V" for the program; NULL-terminated or NULL */
    struct sv_limits limits; /* --memory, --cpus; pids */
    double timeout;          /* wall-clock seconds for the run; <= 0: none */
    double sim_time;         /* simulated seconds an emulated board runs; 0: no bound */
    bool realtime;           /* the emulator keeps to the wall clock (AVR) */
    bool interactive;        /* stdin goes to the program (else /dev/null) */
    FILE *progress;          /* toolchain builds and the build step's output */
    /* board flash: the flash step instead of the run, through the host's
     * device (given to the step) at port in the container. */
    bool flash;
    const char *device, *port;
    bool build_only; /* board build: no run step planned */
};

enum sv_isolate_verdict {
    SV_VERDICT_OK,
    SV_VERDICT_FAILED, /* the program's own non-zero exit */
    SV_VERDICT_TIMEOUT,
    SV_VERDICT_OOM,
    SV_VERDICT_BUILD_FAILED,
    SV_VERDICT_INTERRUPTED,
};

struct sv_isolate_result {
    enum sv_isolate_verdict verdict;
    int code;       /* the program's (or the build's) exit code */
    double seconds; /* the run's */
    char what[160]; /* the board and how it ran: "uno (avr, simavr)" */
};

/* Plan, build, run. -1 when servos could not do it (a bad input, a
 * toolchain that cannot be built): err says what. */
int sv_isolate_run(const struct sv_isolate_opts *o, struct sv_isolate_result *r, sv_error_t *err);
/* "ok", "failed", "timeout", "oom", "build failed", "interrupted". */
const char *sv_isolate_verdict_name(enum sv_isolate_verdict v);

#endif
