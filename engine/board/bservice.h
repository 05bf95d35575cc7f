/* A stack's board service (board = "uno" with build = its sources): its
 * container is the board's toolchain image, the sources bound read-only
 * at /src, the family's build cache at /cache, and a command that copies
 * the sources into the container's own /work, builds them with the
 * board's build (arduino-build for a sketch, the board's template for C)
 * and execs the board's emulator (simavr through avr-run, qemu, the
 * MicroPython runtime): the firmware is the service's process, so servos
 * logs shows its serial output (and its pin changes), servos down stops
 * it, and a firmware that ends is restarted as its restart policy says.
 * By default the emulator keeps to the wall clock (emulate.realtime). */
#ifndef SV_BSERVICE_H
#define SV_BSERVICE_H

#include "graph/graph.h"

#include <stdio.h>

struct sv_bservice {
    const char *image; /* the toolchain image ("host" for x86_64), kept for the process's life */
    char *script;      /* what /bin/sh runs: copy the sources, build, exec the emulator */
    char **env;        /* SERVOS_REALTIME, SERVOS_TIME */
    char *src;         /* the sources on the host */
    char *src_target;  /* where they are bound: /src/NAME */
    char *cache;       /* the family's build cache on the host, or NULL */
};

/* The container of service s (s->board and s->build set). */
int sv_bservice_make(const struct sv_service *s, struct sv_bservice *out, sv_error_t *err);
void sv_bservice_clear(struct sv_bservice *b);

/* Before up: the toolchain images the graph's board services need,
 * built now when missing (progress: a line per step). */
int sv_bservice_prepare(const struct sv_graph *g, FILE *progress, sv_error_t *err);

/* A stamp of s's sources (names, sizes, times of their files): part of
 * the service's spec hash, so changed sources make a new replica. */
uint64_t sv_bservice_stamp(const struct sv_service *s);

#endif
