/* Platforms and boards, read from the embedded Lua tables of platforms/. */
#ifndef SV_PLATFORM_H
#define SV_PLATFORM_H

#include "core/util.h"

struct sv_usb_id {
    unsigned vid, pid;
};

struct sv_board {
    char *id, *name, *mcu, *arch, *model;
    char **aliases; /* other names it goes by (ProServe's arduino_uno); NULL-terminated */
    struct sv_usb_id *usb;
    size_t n_usb;
    char **packages; /* NULL-terminated */
    char *family;    /* the toolchain that builds for it (avr, cortex-m, ...) */
    char *build, *flash, *emulate, *note;
    char *no_build, *no_flash; /* why there is no build or flash template */
};

struct sv_platform {
    char *name, *arch, *description;
    char **aliases; /* NULL-terminated */
    struct sv_board *boards;
    size_t n_boards;
};

struct sv_platforms {
    struct sv_platform *v;
    size_t n;
};

int sv_platforms_load(struct sv_platforms **out, sv_error_t *err);
/* Why board b cannot do step ("build", "flash" or "emulate"): NULL when it
 * has a template for it, else the tables' reason, or a plain "no
 * template". */
const char *sv_platforms_missing(const struct sv_board *b, const char *step);
void sv_platforms_free(struct sv_platforms *p);
static inline void sv_platforms_freep(struct sv_platforms **p)
{
    sv_platforms_free(*p);
}
#define cleanup_platforms __attribute__((cleanup(sv_platforms_freep)))

#endif
