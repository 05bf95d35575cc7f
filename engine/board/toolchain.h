/* Toolchain images: one per board family (the `family` a board's table
 * names: avr, cortex-m, arm64, armhf, micropython), built by servos from
 * Debian packages with its own image builder (engine/build/) and kept in
 * the image store as localhost/servos-toolchain-FAMILY:RECIPE, where
 * RECIPE is a hash of what the family's Containerfile and files say: a
 * servos whose recipe changed builds anew, one with the same reuses.
 *
 * Every family starts FROM one Debian base (localhost/servos-toolchain-
 * base:bookworm, made by mmdebstrap or given with --base), so the base's
 * layer is stored once for all of them. The recipes and the helpers the
 * images carry (the AVR runner, the Arduino build script, the MicroPython
 * runner and its machine module, the Cortex-M start-up code) are files of
 * engine/board/files/, compiled into servos.
 *
 * A family Debian cannot build for (xtensa: ESP32, ESP8266) has no recipe
 * but the reason, which every verb that would need it says. x86_64 is the
 * host's own family: its programs run on the "host" image, no toolchain
 * image needed. */
#ifndef SV_TOOLCHAIN_H
#define SV_TOOLCHAIN_H

#include "core/digest.h"
#include "core/util.h"

#include <stdio.h>

struct sv_toolchain {
    const char *name;        /* the family: "avr" */
    const char *summary;     /* what it holds, for toolchain ls */
    const char *recipe;      /* the Containerfile's name in files/, NULL: none */
    const char *unavailable; /* why it cannot be built here, or NULL */
    bool host;               /* the host's own (x86_64): the "host" image */
};

/* The families in a stable order: the i-th, or NULL past the last. */
const struct sv_toolchain *sv_toolchain_at(size_t i);
/* A family by name, or NULL. */
const struct sv_toolchain *sv_toolchain_find(const char *name);
/* "localhost/servos-toolchain-NAME:RECIPE" for this servos' recipe; NULL
 * for families without one. */
char *sv_toolchain_image(const struct sv_toolchain *t);
/* The same, kept for the process's life (NULL without a recipe). */
const char *sv_toolchain_image_name(const struct sv_toolchain *t);

/* The image's manifest digest when it is built ("" when not), and
 * whether an image of an older recipe is still in the store. */
struct sv_toolchain_state {
    char digest[SV_DIGEST_LEN + 1];
    int64_t size; /* its layers' */
    bool older;
};
int sv_toolchain_state(const struct sv_toolchain *t, struct sv_toolchain_state *s, sv_error_t *err);

struct sv_toolchain_opts {
    const char *base; /* the base image to build FROM; NULL: servos' own */
    bool rebuild;     /* build even when it is there (--no-cache too) */
    FILE *progress;   /* a line per step, the steps' output; NULL: silent */
};

/* The family's image, built first when it is not in the store (what
 * isolate, board and a stack's board service call before they run):
 * *image is its name. A family that cannot be built says why. */
int sv_toolchain_ensure(const struct sv_toolchain *t, const struct sv_toolchain_opts *o,
                        char **image, sv_error_t *err);
/* Remove the family's images (every recipe's) but those a container
 * uses (in_use: their digests); *removed counts them. */
int sv_toolchain_remove(const struct sv_toolchain *t, const char *const *in_use, int *removed,
                        sv_error_t *err);

/* The base every family builds FROM, and the Debian mirror its apt uses
 * ($SERVOS_DEBIAN_MIRROR, else deb.debian.org). */
#define SV_TOOLCHAIN_BASE "localhost/servos-toolchain-base:bookworm"
const char *sv_toolchain_mirror(void);

#endif
