/* The embedded Lua interpreter that evaluates Envirofiles and schema
 * mappings. One state per evaluation, with a memory cap and an instruction
 * budget so a bad Envirofile is an error, never a hang or an OOM of servos. */
#ifndef SV_SANDBOX_H
#define SV_SANDBOX_H

#include "core/bulkmem.h"
#include "core/util.h"
#include "lua/inputs.h"

#include <lua.h>

struct sv_lua {
    lua_State *L;
    size_t mem_used, mem_limit;
    uint64_t instructions, instr_limit;
    char last_where[256]; /* last user file:line the hook saw, for memory errors */
    int stdlib_ref;       /* registry ref of stdlib/servos.lua's table */
    int host_ref;         /* registry ref of the host-function table */
    struct sv_pool pool;  /* the Lua heap (see engine/core/bulkmem.h) */
    char **roots;         /* repository trees whose files may not reach outside (roots.h) */
    char **labels;        /* how each root reads in messages */
    size_t n_roots;
    bool confine_all;        /* the evaluation itself comes from a repository */
    struct sv_inputs inputs; /* what it read from the host (lua/inputs.h) */
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
/* The sandbox a state belongs to. */
static inline struct sv_lua *sv_lua_of(lua_State *L)
{
    return *(struct sv_lua **)lua_getextraspace(L);
}

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
