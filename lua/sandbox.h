/* The embedded Lua interpreter that evaluates Envirofiles and schema
 * mappings. One state per evaluation, with a memory cap and an instruction
 * budget so a bad Envirofile is an error, never a hang or an OOM of servos. */
#ifndef SV_SANDBOX_H
#define SV_SANDBOX_H

#include "core/bulkmem.h"
#include "core/util.h"

#include <lua.h>

struct sv_lua {
    lua_State *L;
    size_t mem_used, mem_limit;
    uint64_t instructions, instr_limit;
    char last_where[256]; /* last user file:line the hook saw, for memory errors */
    int stdlib_ref;       /* registry ref of stdlib/servos.lua's table */
    int host_ref;         /* registry ref of the host-function table */
    struct sv_pool pool;  /* the Lua heap (see engine/core/bulkmem.h) */
    char **roots;         /* repository trees whose files may not reach outside */
    char **labels;        /* how each root reads in messages */
    size_t n_roots;
    bool confine_all; /* the evaluation itself comes from a repository */
};

#define SV_LUA_MEMORY_LIMIT      (256u << 20)
#define SV_LUA_INSTRUCTION_LIMIT 500000000ULL
#define SV_MAX_INPUT_BYTES       (16u << 20)

/* Limits for new states; the fuzzers lower them to keep iterations fast. */
extern uint64_t sv_lua_instruction_limit;
extern size_t sv_lua_memory_limit;
/* Warnings (unset variables, unsupported keys) go to stderr unless off. */
extern bool sv_lua_warnings;

int sv_lua_new(struct sv_lua **out, sv_error_t *err);
void sv_lua_free(struct sv_lua *s);

/* Files under root (a real path: a repository's exported tree) may
 * include, import and read only files under root. Messages name them as
 * label + path inside (see sv_lua_relabel). */
void sv_lua_add_root(struct sv_lua *s, const char *root, const char *label);
/* True when path (symlinks followed) is inside one of the roots. */
bool sv_lua_inside_roots(struct sv_lua *s, const char *path);
/* Rewrite "<root>/" in err's message to the root's label, so an error in a
 * repository's file reads git+URL#COMMIT:path:line, not a cache path. */
void sv_lua_relabel(struct sv_lua *s, sv_error_t *err);

/* Evaluate an Envirofile in the sandbox. */
int sv_lua_run_envirofile(struct sv_lua *s, const char *path, sv_error_t *err);
/* Hand a YAML file to stdlib/yamlfile.lua, which detects Compose or ProServe. */
int sv_lua_run_yaml(struct sv_lua *s, const char *path, sv_error_t *err);

/* Call f(L, ud) under lua_pcall with the sandbox's error handling. */
int sv_lua_protected(struct sv_lua *s, lua_CFunction f, void *ud, sv_error_t *err);

/* Push stdlib module NAME (stdlib/NAME.lua, embedded), loading it once. */
int sv_lua_push_stdlib(lua_State *L, const char *name);

/* Whether the value at idx is the YAML null sentinel (manifests/yaml.h). */
bool sv_lua_isnull(lua_State *L, int idx);

#endif
