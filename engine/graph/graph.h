/* The service graph: what every input (Envirofile, ProServe manifest, Compose
 * file) becomes, validated, and what the engine reconciles. All memory hangs
 * off the graph's arena, so one sv_graph_free releases everything. */
#ifndef SV_GRAPH_H
#define SV_GRAPH_H

#include "graph/units.h"
#include "core/util.h"

/* A plain JSON-like value, for data servos keeps but does not interpret here
 * (a ProServe manifest's endpoints, tasks, isolation block). */
enum sv_value_kind { SV_NULL, SV_BOOL, SV_INT, SV_NUM, SV_STR, SV_ARRAY, SV_OBJECT };
struct sv_value {
    enum sv_value_kind kind;
    union {
        bool b;
        int64_t i;
        double d;
        const char *s;
        struct {
            size_t n;
            struct sv_value *items; /* arrays */
            const char **keys;      /* objects: keys sorted, items parallel */
        } list;
    } u;
};

struct sv_kv {
    const char *key, *value;
};

enum sv_mount_type { SV_MOUNT_VOLUME, SV_MOUNT_BIND, SV_MOUNT_TMPFS };
struct sv_mount {
    enum sv_mount_type type;
    const char *source; /* volume name, absolute host path, or NULL (anonymous, tmpfs) */
    const char *target;
    bool read_only;
    bool chown;          /* ":U": hand the source to the container's user at start */
    const char *options; /* tmpfs options, e.g. "size=64m"; NULL when none */
};

enum sv_dep_condition { SV_DEP_STARTED, SV_DEP_HEALTHY, SV_DEP_COMPLETED };
struct sv_dep {
    const char *service;
    enum sv_dep_condition condition;
};

struct sv_health {
    const char **test; /* argv, NULL-terminated */
    int64_t interval_ms, timeout_ms, start_period_ms;
    int retries;
};

/* build: (Compose's, or the Envirofile's build = {...}): the image is
 * built from a Containerfile at up (engine/build/), then named image. */
struct sv_build_spec {
    const char *context;    /* absolute */
    const char *dockerfile; /* absolute, or NULL: the context's Containerfile/Dockerfile */
    const char *target;     /* NULL: the last stage */
    struct sv_kv *args;
    size_t n_args;
    bool image_default; /* no image given: named "STACK-SERVICE" (sv_graph_name_builds) */
};

struct sv_service {
    const char *name;
    const char *where;                  /* "file:line" of the declaration, for errors */
    const char *image;                  /* "host", a reference, or a path */
    const char **command, **entrypoint; /* argv, NULL-terminated; NULL when unset */
    struct sv_kv *env;
    size_t n_env;
    int replicas;
    int64_t memory; /* bytes; -1 when unset */
    double cpus;    /* < 0 when unset */
    int64_t pids;   /* -1 when unset */
    struct sv_mount *mounts;
    size_t n_mounts;
    struct sv_port_spec *ports;
    size_t n_ports;
    struct sv_dep *deps;
    size_t n_deps;
    enum sv_restart_policy restart;
    int restart_max;
    struct sv_health *health; /* NULL when none */
    const char *working_dir, *user, *hostname;
    bool read_only;
    bool init, tty, stdin_open;       /* servos' init as pid 1; a terminal; stdin kept open */
    const char **cap_add, **cap_drop; /* NULL-terminated; never NULL */
    int stop_signal;                  /* 0 when unset (SIGTERM) */
    int64_t stop_grace_ms;            /* -1 when unset (10 s) */
    struct sv_kv *labels;
    size_t n_labels;
    const char *network; /* "stack", "none", "host" */
    const char *userns;  /* "auto", "host" */
    const char *platform, *board, *toolchain;
    const char **profiles;       /* NULL-terminated; never NULL */
    int64_t log_max_size;        /* logging max-size in bytes; <= 0 when unset */
    int log_max_files;           /* logging max-file; <= 0 when unset */
    struct sv_value *proserve;   /* the ProServe manifest body, or NULL */
    struct sv_build_spec *build; /* NULL unless the image is built */
};

struct sv_volume {
    const char *name;
    const char *where;
};

struct sv_graph {
    const char *stack;
    const char *source;          /* what it was built from, for ps/config */
    const char *commit;          /* the git commit of source, or NULL */
    struct sv_service *services; /* sorted by name after sv_graph_finish */
    size_t n_services;
    struct sv_volume *volumes;
    size_t n_volumes;
    struct sv_arena *arena;
};

struct sv_graph *sv_graph_new(void);
void sv_graph_free(struct sv_graph *g);
static inline void sv_graph_freep(struct sv_graph **g)
{
    sv_graph_free(*g);
}
#define cleanup_graph __attribute__((cleanup(sv_graph_freep)))

/* Arena allocation tied to the graph's lifetime. */
void *sv_graph_alloc(struct sv_graph *g, size_t n);
const char *sv_graph_strdup(struct sv_graph *g, const char *s);
const char *sv_graph_strndup(struct sv_graph *g, const char *s, size_t n);

/* Sort, check cross-references (depends_on targets, named volumes, unique
 * names), reject dependency cycles naming the cycle. */
int sv_graph_finish(struct sv_graph *g, sv_error_t *err);

const struct sv_service *sv_graph_find(const struct sv_graph *g, const char *name);

/* Services built without an image: given names, "STACK-SERVICE" in lower
 * case (Compose's), once the stack's name is final. */
void sv_graph_name_builds(struct sv_graph *g);

/* graph_json.c: the normalised graph as pretty JSON, keys in a stable
 * order (`servos config`). */
void sv_graph_json_print(const struct sv_graph *g, FILE *out);
/* FNV-1a of the service's compact JSON minus replicas: a change in it
 * forces a recreate, a change in replicas only scales. Computed on demand
 * (the reconciler needs it; `servos config` does not). */
uint64_t sv_graph_json_hash(const struct sv_service *s);
/* A free-form value (a ProServe body) as compact JSON. */
void sv_graph_json_print_value(const struct sv_value *v, FILE *out);

const char *sv_graph_dep_condition_name(enum sv_dep_condition c);

#endif
