/* The `host` table: what stdlib/ (and through it an Envirofile) may ask of
 * servos' C side. */
#ifndef SV_HOSTLIB_H
#define SV_HOSTLIB_H

#include "lua/sandbox.h"

/* Push the host table (registering what its functions need). */
void sv_hostlib_push(lua_State *L);
/* Load path as a text chunk named "@path" (so errors say path:line);
 * precompiled chunks are refused. Pushes the function, or raises. */
void sv_hostlib_load(lua_State *L, const char *path);

#endif
