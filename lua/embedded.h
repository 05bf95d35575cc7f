/* The Lua files of stdlib/ and platforms/, compiled into the binary by
 * lua/embedgen.c so servos runs from the build tree with no install step. */
#ifndef SV_EMBEDDED_H
#define SV_EMBEDDED_H

#include <stddef.h>

struct sv_embedded_file {
    const char *name; /* "stdlib/servos.lua", "platforms/arduino.lua" */
    const char *data;
    size_t len;
    const unsigned char *code; /* stdlib/: the module compiled (embedgen), else NULL */
    size_t code_len;
};

extern const struct sv_embedded_file sv_embedded_files[];
extern const size_t sv_embedded_count;

const struct sv_embedded_file *sv_embedded_find(const char *name);

#endif
