/* Platforms and boards, read from the embedded Lua tables of platforms/. */
#ifndef SV_PLATFORM_H
#define SV_PLATFORM_H

#include "core/util.h"

struct sv_usb_id {
    unsigned vid, pid;
};

struct sv_board {
    char *id, *name, *mcu, *arch, *model;
    struct sv_usb_id *usb;
    size_t n_usb;
    char **packages; /* NULL-terminated */
    char *build, *flash, *emulate, *note;
};

struct sv_platform {
    char *name, *arch, *description;
    struct sv_board *boards;
    size_t n_boards;
};

struct sv_platforms {
    struct sv_platform *v;
    size_t n;
};

int sv_platforms_load(struct sv_platforms **out, sv_error_t *err);
void sv_platforms_free(struct sv_platforms *p);
static inline void sv_platforms_freep(struct sv_platforms **p)
{
    sv_platforms_free(*p);
}
#define cleanup_platforms __attribute__((cleanup(sv_platforms_freep)))

#endif
