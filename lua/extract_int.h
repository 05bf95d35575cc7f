/* The parts of the graph extraction (extract.h is its face): extract.c
 * holds the table of service keys and walks each declared service through
 * it; each key's reader lives with the keys it belongs with:
 *   extract_read.c       typed readers every key uses, and ex_fail
 *   extract_env.c        env, labels, env_file
 *   extract_mounts.c     volumes, tmpfs, devices
 *   extract_net.c        ports, network, networks, extra_hosts
 *   extract_lifecycle.c  depends_on, healthcheck, restart, stop_*
 *   extract_resources.c  replicas, memory, cpus, pids, logging
 *   extract_process.c    image, command, user, capabilities, userns,
 *                        container_name, sysctls, ...
 *   extract_platform.c   platform, board, toolchain
 *   extract_build.c      build (the image built at up)
 *   extract_proserve.c   proserve (a ProServe manifest's body)
 *   extract_files.c      secrets, configs
 *   extract_decl.c       the stack's networks, secrets and configs (top level)
 * All of it runs inside sv_lua_protected: a Lua call may raise and longjmp
 * past cleanup attributes, so C memory is freed before any Lua call that
 * follows it (the graph's arena needs nothing: sv_extract_graph frees the
 * graph on failure). */
#ifndef SV_EXTRACT_INT_H
#define SV_EXTRACT_INT_H

#include "lua/extract.h"

#include <lua.h>

/* One service being read from its spec table into the graph. Lua stack
 * slots are absolute. */
struct service_reader {
    lua_State *L;
    struct sv_graph *g;
    sv_error_t *err;
    struct sv_service *svc;
    int spec, lines; /* lines: table of key -> "file:line", or 0 */
    const char *dir; /* directory of the declaring file */
    const char *cwd;
    size_t value_budget; /* nodes left for generic values (alias bombs) */
};

/* A key's reader: the value at idx into rd->svc; 0, or -1 with the error
 * set. */
typedef int (*ex_key_fn)(struct service_reader *rd, int idx, const char *key);

/* ---- extract_read.c ---- */

/* Where key was set: its own line when known, else the declaration. */
const char *ex_where(struct service_reader *rd, const char *key);
/* "file:line: service "NAME": key: message"; returns -1. */
int ex_fail(struct service_reader *rd, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A units.c parser failed: its message under file:line and key. Frees
 * *perr (before it reads Lua, which may raise). */
int ex_fail_parse(struct service_reader *rd, const char *key, sv_error_t *perr);
/* The value's type for messages ("null" for the YAML null). */
const char *ex_type_of(lua_State *L, int idx);
/* A string, or a number written as text ("user = 1000"). */
int ex_want_string(struct service_reader *rd, int idx, const char *key, const char **out);
int ex_want_int(struct service_reader *rd, int idx, const char *key, int64_t lo, int64_t hi,
                int64_t *out);
int ex_want_bool(struct service_reader *rd, int idx, const char *key, bool *out);
/* Is the table at idx a list 1..n (n may be 0)? */
bool ex_is_list(lua_State *L, int idx, size_t *n);
/* A list of strings (numbers allowed) as a NULL-terminated array; with
 * allow_single, a lone string too. */
int ex_want_string_list(struct service_reader *rd, int idx, const char *key, bool allow_single,
                        const char ***out);
/* command/entrypoint: a list, or a string run by /bin/sh -c. */
int ex_want_argv(struct service_reader *rd, int idx, const char *key, const char ***out);
/* A path from the user's file, made absolute and clean. */
const char *ex_resolve_path(struct service_reader *rd, const char *p);
/* fn on each item of the list at idx (with allow_single, on a lone item). */
int ex_for_each(struct service_reader *rd, int idx, const char *key, bool allow_single,
                int (*fn)(struct service_reader *, const char *, int, void *), void *ud);
/* One of n words; *out points into choices. */
int ex_want_choice(struct service_reader *rd, int idx, const char *key, const char *const *choices,
                   size_t n, const char **out);

/* { K = V } or { "K=V", "K" } (env's form), merged into *out. */
int ex_want_kv(struct service_reader *rd, int idx, const char *key, struct sv_kv **out, size_t *n);

/* ---- the keys' readers, by file ---- */

/* extract_build.c */
int ex_key_build(struct service_reader *rd, int idx, const char *key);

/* extract_env.c */
int ex_key_env(struct service_reader *rd, int idx, const char *key);
int ex_key_labels(struct service_reader *rd, int idx, const char *key);
int ex_key_env_file(struct service_reader *rd, int idx, const char *key);
/* extract_mounts.c */
int ex_key_volumes(struct service_reader *rd, int idx, const char *key);
int ex_key_tmpfs(struct service_reader *rd, int idx, const char *key);
int ex_key_devices(struct service_reader *rd, int idx, const char *key);
/* extract_net.c */
int ex_key_ports(struct service_reader *rd, int idx, const char *key);
int ex_key_network(struct service_reader *rd, int idx, const char *key);
int ex_key_networks(struct service_reader *rd, int idx, const char *key);
int ex_key_extra_hosts(struct service_reader *rd, int idx, const char *key);
/* extract_lifecycle.c */
int ex_key_depends_on(struct service_reader *rd, int idx, const char *key);
int ex_key_healthcheck(struct service_reader *rd, int idx, const char *key);
int ex_key_restart(struct service_reader *rd, int idx, const char *key);
int ex_key_stop_signal(struct service_reader *rd, int idx, const char *key);
int ex_key_stop_grace_period(struct service_reader *rd, int idx, const char *key);
/* extract_resources.c */
int ex_key_replicas(struct service_reader *rd, int idx, const char *key);
int ex_key_memory(struct service_reader *rd, int idx, const char *key);
int ex_key_cpus(struct service_reader *rd, int idx, const char *key);
int ex_key_pids(struct service_reader *rd, int idx, const char *key);
int ex_key_logging(struct service_reader *rd, int idx, const char *key);
/* extract_process.c */
int ex_key_image(struct service_reader *rd, int idx, const char *key);
int ex_key_command(struct service_reader *rd, int idx, const char *key);
int ex_key_entrypoint(struct service_reader *rd, int idx, const char *key);
int ex_key_working_dir(struct service_reader *rd, int idx, const char *key);
int ex_key_user(struct service_reader *rd, int idx, const char *key);
int ex_key_hostname(struct service_reader *rd, int idx, const char *key);
int ex_key_read_only(struct service_reader *rd, int idx, const char *key);
int ex_key_init(struct service_reader *rd, int idx, const char *key);
int ex_key_tty(struct service_reader *rd, int idx, const char *key);
int ex_key_stdin_open(struct service_reader *rd, int idx, const char *key);
int ex_key_cap_add(struct service_reader *rd, int idx, const char *key);
int ex_key_cap_drop(struct service_reader *rd, int idx, const char *key);
int ex_key_userns(struct service_reader *rd, int idx, const char *key);
int ex_key_container_name(struct service_reader *rd, int idx, const char *key);
int ex_key_sysctls(struct service_reader *rd, int idx, const char *key);
/* extract_platform.c */
int ex_key_platform(struct service_reader *rd, int idx, const char *key);
int ex_key_board(struct service_reader *rd, int idx, const char *key);
int ex_key_toolchain(struct service_reader *rd, int idx, const char *key);
/* After every key: platform, board and toolchain must agree. */
int ex_check_platform(struct service_reader *rd);
/* extract_proserve.c */
int ex_key_proserve(struct service_reader *rd, int idx, const char *key);
/* extract_files.c */
int ex_key_secrets(struct service_reader *rd, int idx, const char *key);
int ex_key_configs(struct service_reader *rd, int idx, const char *key);

/* extract_decl.c: decl.networks and decl.files (decl: the table's slot)
 * into g; cwd: where relative paths start. */
int ex_decl_read(lua_State *L, int decl, struct sv_graph *g, const char *cwd, sv_error_t *err);

#endif
