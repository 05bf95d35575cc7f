/* Libraries servos needs only for some commands (libarchive to unpack,
 * libcurl and libcrypto to pull) are loaded with dlopen when first used:
 * linking them would make every servos command start slower, `servos run`
 * above all, for work most commands never do. */
#ifndef SV_DYNLIB_H
#define SV_DYNLIB_H

#include "core/util.h"

/* Load soname once and fill slots[i] with names[i] (n of them). why says
 * what the library is for and which package has it, for the error. */
int sv_dynlib_load(void **handle, const char *soname, const char *const *names, void **slots,
                   size_t n, const char *why, sv_error_t *err);

#endif
