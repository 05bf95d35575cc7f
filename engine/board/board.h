/* Board work, planned: which board a command means (from the tables of
 * platforms/), what kind of source it was given, and the commands that
 * build it and run what was built, inside the board family's toolchain
 * image (toolchain.h), each a step of bjob.h.
 *
 * The commands are the board's own templates (build, emulate, flash:
 * "avr-gcc -mmcu=atmega328p ... -o {out}.elf {src}"), with {src}, {out}
 * and {port} filled in, run by sh in the step's container; an Arduino
 * sketch is built by the AVR image's arduino-build (Debian's Arduino
 * core, the IDE's flags), which the templates cannot say. */
#ifndef SV_BOARD_H
#define SV_BOARD_H

#include "board/toolchain.h"
#include "host/platform.h"

/* A board the user named (--board, -p), with what the tables say of it. */
struct sv_board_pick {
    struct sv_platforms *tables;
    const struct sv_platform *platform;
    const struct sv_board *board;
    const struct sv_toolchain *family;
};

/* Pick by board id (or alias) and/or platform name: a platform alone
 * means its first board that can be emulated (uno for arduino); both must
 * agree; neither means this host (x86_64). */
int sv_board_pick(const char *platform, const char *board, struct sv_board_pick *p,
                  sv_error_t *err);
void sv_board_pick_clear(struct sv_board_pick *p);
#define cleanup_board_pick __attribute__((cleanup(sv_board_pick_clear)))

/* What a file (or directory) given to isolate or board is. */
enum sv_board_src {
    SV_SRC_PYTHON, /* .py */
    SV_SRC_SHELL,  /* .sh */
    SV_SRC_C,      /* .c, .cpp, .cc, .S */
    SV_SRC_SKETCH, /* .ino, or a directory holding one */
    SV_SRC_ELF,    /* a program or firmware already built (ELF) */
    SV_SRC_HEX,    /* Intel hex firmware */
    SV_SRC_OTHER,  /* anything else: run as it is (a #! script) */
};
/* The kind of path; -1 when it cannot be read. */
int sv_board_src_kind(const char *path, enum sv_board_src *kind, sv_error_t *err);
/* For SV_SRC_ELF: the ELF machine (EM_AARCH64, EM_AVR, ...). */
int sv_board_elf_machine(const char *path);

/* The steps for one source on one board. Paths are the container's
 * (/work/...). */
struct sv_board_plan {
    const char *image;   /* the family's toolchain image name, or "host" */
    char **build;        /* the build's argv, or NULL: nothing to build */
    char **run;          /* the run's argv (emulator, interpreter, program) */
    char *out;           /* the build's output base, in /work ("/work/blink") */
    const char *outs[4]; /* its files' suffixes worth keeping (".elf", ".hex"), NULL-ended */
    char *name;          /* the source's base name without its suffix */
};
struct sv_board_plan_in {
    const char *src; /* the source as it is in /work ("/work/blink.ino") */
    enum sv_board_src kind;
    char **args;      /* for the program, NULL-terminated; may be NULL */
    const char *port; /* flash: the device's path in the container */
    const char *out;  /* the build's output base; NULL: /work/NAME */
    bool build_only;  /* no run step (board build, flash): no emulate template needed */
};
/* Plan what building and running src takes; an error names what the
 * board cannot do (no build template, a sketch for an ARM board, ...). */
int sv_board_plan(const struct sv_board_pick *p, const struct sv_board_plan_in *in,
                  struct sv_board_plan *plan, sv_error_t *err);
/* The flash step instead of the run. */
int sv_board_plan_flash(const struct sv_board_pick *p, const struct sv_board_plan_in *in,
                        struct sv_board_plan *plan, sv_error_t *err);
void sv_board_plan_clear(struct sv_board_plan *plan);
#define cleanup_board_plan __attribute__((cleanup(sv_board_plan_clear)))

/* A stamp of a source file or tree (names, sizes, times of its files, a
 * few levels deep): a changed source has another. */
uint64_t sv_board_src_stamp(const char *path);

/* The family a board's toolchain is (its table's, else by its platform). */
const struct sv_toolchain *sv_board_family(const struct sv_platform *pl, const struct sv_board *b);

#endif
