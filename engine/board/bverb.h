/* servos board build | flash | monitor, the engine's side (emulate is
 * isolate's run with a bound on simulated time: isolate.h).
 *
 * build: the sources (a sketch directory, a .ino, C files) built for the
 * board in its toolchain image, and what the build made (.elf, .hex,
 * .bin; a Linux board's program) copied next to the sources, owned as
 * they are. flash: built when given sources, then the board's flash
 * template (avrdude, st-flash, mpremote) run in the toolchain image with
 * the board's serial port passed in, and nothing else of /dev. monitor:
 * a serial port's bytes to stdout, stdin's to it. */
#ifndef SV_BVERB_H
#define SV_BVERB_H

#include "board/isolate.h"

/* Build; *written: the files written (host paths), NULL-terminated. */
int sv_bverb_build(const struct sv_isolate_opts *o, char ***written, sv_error_t *err);
/* Flash o->script (sources or a firmware) through o->device; r's verdict
 * as isolate's. */
int sv_bverb_flash(const struct sv_isolate_opts *o, struct sv_isolate_result *r, sv_error_t *err);

/* Monitor port at baud until Ctrl-C, the port's hang-up, or timeout
 * seconds (<= 0: none). */
int sv_bverb_monitor(const char *port, unsigned baud, double timeout, sv_error_t *err);

#endif
