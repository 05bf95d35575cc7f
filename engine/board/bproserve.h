/* ProServe's board modes (isolation.mode micropython and arduino): each
 * handler run is a container of the board family's toolchain image (the
 * stack's supervisor starts it, as for mode container: pgateway.h), with
 * no network, running
 *   micropython: the handler script on the MicroPython runtime, its
 *     main(request) (or handler) called with the request, its result
 *     printed as JSON (a background task's script runs as it is);
 *   arduino: the handler sketch (a .ino, a sketch's directory) or C file
 *     built for the board once (the firmware is kept in the family's cache
 *     by the sources' stamp) and run in simavr, the request sent as one
 *     JSON line to its serial port, what it prints back the response,
 *     until it halts (exit()) or a simulated time has passed.
 * The board is isolation.board (or platform, as ProServe names boards),
 * else rp2040 or uno. When the board's toolchain image is missing and
 * cannot be built, isolation.fallback_on_platform_failure (true unless
 * false, as ProServe falls back) runs handlers as mode process instead. */
#ifndef SV_BPROSERVE_H
#define SV_BPROSERVE_H

#include "core/util.h"

#include <stdio.h>

/* Is mode one of the board modes? */
bool sv_bproserve_is_board_mode(const char *mode);
/* The board the mode runs on: its toolchain image (kept for the process's
 * life) and the family's cache directory (made; to free); -1 when the
 * board is unknown, of another family, or cannot be built for here. */
int sv_bproserve_target(const char *mode, const char *platform, const char *board,
                        const char **image, char **cache, sv_error_t *err);
/* Build the image when it is missing (progress: a line per step). */
int sv_bproserve_ensure(const char *mode, const char *platform, const char *board, FILE *progress,
                        sv_error_t *err);
/* Is the image there (0), missing (1), or the board unusable (-1)? */
int sv_bproserve_ready(const char *mode, const char *platform, const char *board, sv_error_t *err);
/* The handler's command in the board's image: target is the script's or
 * sketch's path (the manifest's directory is bound at the same path);
 * request: it answers a request (else a background task); sim_time: the
 * simulated seconds a sketch may run. */
int sv_bproserve_argv(const char *mode, const char *platform, const char *board, const char *target,
                      bool request, double sim_time, char ***argv, sv_error_t *err);

#endif
