/* What an evaluation read from the host: the files (with a hash of their
 * bytes, or that they were missing) and environment variables (a hash of
 * their value, or unset) it looked at, and whether it used anything whose
 * answer can change with nothing of that changing (the clock, random
 * numbers, files opened with io.open, git). An evaluation whose inputs are
 * all recorded gives the same graph while they are unchanged: the name
 * memo (lua/memo.h) relies on that to skip evaluations. */
#ifndef SV_INPUTS_H
#define SV_INPUTS_H

#include <lua.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sv_inputs {
    char *lines; /* "file PATH HASH\n", "nofile PATH\n", "env NAME HASH\n", "noenv NAME\n" */
    size_t len, cap;
    bool volatile_; /* something unrecordable was used: never memoize */
};

/* 64-bit FNV-1a with the length folded in, as 16 hex digits: a change
 * detector, not a secret (values of variables never reach the disk). */
void sv_inputs_hash(const void *data, size_t len, char out[17]);

void sv_inputs_file(struct sv_inputs *in, const char *path, const char *text, size_t len);
void sv_inputs_missing_file(struct sv_inputs *in, const char *path);
void sv_inputs_env(struct sv_inputs *in, const char *name, const char *value);
void sv_inputs_volatile(struct sv_inputs *in);
void sv_inputs_free(struct sv_inputs *in);

/* Replace os.getenv, os.time, os.clock, os.date, math.random, io.open and
 * io.lines in L's globals by recording wrappers (before the stdlib takes
 * its own copies of them). */
void sv_inputs_wrap_stdlib(lua_State *L);

#endif
