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

/* A network of the stack's own (top-level `networks`, `network "x"`): a
 * bridge of its own in the stack's namespace. "default" always exists;
 * an internal one is reached by no published port. */
#define SV_NET_DEFAULT "default"
/* The most networks a service joins (each is an interface: eth0...). */
#define SV_NET_PER_SERVICE 8
struct sv_network {
    const char *name;
    const char *where;
    bool internal;
};

/* A service on a network, with the extra names it answers to there. */
struct sv_net_ref {
    const char *network;
    const char **aliases; /* NULL-terminated; never NULL */
};

/* A secret or config (top-level): its content is read when the file is
 * evaluated and never printed; what `servos config` shows is where it
 * came from. */
struct sv_filedef {
    const char *name;
    const char *where;
    bool config;
    const char *file; /* the source path, or NULL */
    const char *env;  /* the variable it came from, or NULL (content:) */
    const char *data;
    size_t len;
};

/* A service's use of a secret or config: a read-only file at target. */
struct sv_file_ref {
    const char *source; /* the secret's or config's name */
    bool config;
    const char *target; /* absolute */
    int64_t uid, gid;   /* inside the container */
    int mode;
    const struct sv_filedef *def; /* set by sv_graph_finish */
};

/* A board service's firmware in its emulator (board = "uno" with build =
 * its sources): emulate = true, or { time = "10s", realtime = false }. */
struct sv_emulate {
    double sim_time; /* seconds of simulated time, then the firmware stops; 0: no bound */
    bool realtime;   /* kept to the wall clock (the default), else as fast as it goes */
};

/* A board service's firmware flashed to a real board instead (flash =
 * "/dev/ttyACM0", or { port = ..., baud = 115200 }): its port is one of
 * the service's devices, and once flashed the service's process is the
 * port's monitor, so servos logs shows what the board prints. */
struct sv_flash {
    const char *port;   /* the host's node (a by-id link is fine) */
    const char *inside; /* where it is in the container: its /dev name, else /dev/ttyBOARD */
    int baud;           /* the monitor's speed */
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
    /* board with build: the sources built for the board and run in its
     * emulator (engine/board/); NULL: emulate's defaults. */
    struct sv_emulate *emulate;
    struct sv_flash *flash; /* NULL: the firmware is emulated */
    /* Compose as projects write it (all empty when unset). */
    const char *container_name;  /* the replica's container name and hostname */
    struct sv_net_ref *networks; /* sorted by name; none: the default network */
    size_t n_networks;
    struct sv_file_ref *files; /* secrets and configs, in the order given */
    size_t n_files;
    struct sv_kv *sysctls; /* "net.core.somaxconn" = "1024", sorted */
    size_t n_sysctls;
    struct sv_kv *extra_hosts; /* NAME = IP, in the order given */
    size_t n_extra_hosts;
    struct sv_device_spec *devices; /* host device nodes passed in, in the order given */
    size_t n_devices;
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
    struct sv_network *networks; /* declared ones, sorted; "default" is implied */
    size_t n_networks;
    struct sv_filedef *files; /* secrets and configs, sorted (secrets first) */
    size_t n_files;
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
/* graph_refs.c, for sv_graph_finish: networks and secrets/configs sorted,
 * every service's references to them resolved, container names checked. */
int sv_graph_check_refs(struct sv_graph *g, sv_error_t *err);
/* graph_ports.c, for sv_graph_finish: no two services publish one host
 * port; a ProServe service's api_proxy_rules name services of the stack
 * (or loopback). */
int sv_graph_check_ports(const struct sv_graph *g, sv_error_t *err);
int sv_graph_check_upstreams(const struct sv_graph *g, sv_error_t *err);
/* No two services called alike on the stack network (a service, a replica's
 * SERVICE-N, a hostname, a container_name): again after a scale. */
int sv_graph_check_names(const struct sv_graph *g, sv_error_t *err);
/* A declared network (NULL for an undeclared "default": not internal). */
const struct sv_network *sv_graph_network(const struct sv_graph *g, const char *name);
/* The networks service s is on: its own list, or the default network.
 * Empty for network = "none" or "host". */
size_t sv_graph_service_networks(const struct sv_service *s, const struct sv_net_ref **out);
/* Is s on network (by name)? */
bool sv_graph_on_network(const struct sv_service *s, const char *network);

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
