/* Where Lua source nests too deeply. The Lua parser stops at ~200 C levels
 * with "C stack overflow" and no position; this finds the line to blame. */
#ifndef SV_NESTING_H
#define SV_NESTING_H

#include <stddef.h>

/* The line where bracket and block nesting first passes limit levels, or
 * the line of the deepest nesting when it never does (1 for empty text).
 * A rough lexer: strings, long strings and comments are skipped; ( { [
 * and function/do/then/repeat open, ) } ] and end/until close. */
int sv_nesting_deepest_line(const char *src, size_t len, int limit);

#endif
