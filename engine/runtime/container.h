/* The runtime: one container spec in, one isolated process tree out. The
 * CLI's run/exec/stop/rm, the stack supervisor and the code-execution
 * service all go through this boundary.
 *
 * Plan, then execute (bubblewrap's lesson): sv_container_create checks the
 * spec and prepares everything that can fail cheaply on the host side (the
 * image, the state row, directories, the cgroup); sv_container_start clones
 * the process into its namespaces, where it builds its root file system,
 * drops privileges and execs. Errors inside the child come back over a
 * pipe as text, so a bad command is a clear message, not a silent 127. */
#ifndef SV_CONTAINER_H
#define SV_CONTAINER_H

#include "runtime/caps.h"
#include "runtime/cgroup.h"
#include "core/store.h"
#include "host/userns.h"

struct sv_bind {
    char *source; /* absolute host path */
    char *target; /* absolute path in the container */
    bool read_only;
    int idmap_fd; /* set by sv_container_start: an idmapped copy, or -1 */
    bool tmpfs;   /* a fresh tmpfs at target; source holds its options or NULL */
    bool chown;   /* :U: hand source to the container's user first (sv_idmap_volume_chown) */
};

enum sv_netmode { SV_NET_NONE, SV_NET_HOST, SV_NET_STACK };

struct sv_nl;
/* A replica on more networks of its stack than one: eth1, eth2, ... on
 * those networks' bridges. */
#define SV_NET_LINKS_MAX 8
struct sv_net_link {
    int bridge;    /* ifindex of the network's bridge */
    uint32_t addr; /* host byte order */
    int prefix;
    const char *name; /* the network's, recorded with the container */
};
/* SV_NET_STACK: a veth on the stack's bridge (see stacknet.h). The netlink
 * socket is the supervisor's, inside the stack's namespace (borrowed). */
struct sv_net_attach {
    struct sv_nl *nl;
    int bridge;    /* ifindex of the bridge there */
    uint32_t addr; /* the replica's address, host byte order */
    int prefix;
    const char *hosts; /* the stack's hosts file, bound at /etc/hosts */
    /* A stack with networks of its own (Compose's): eth0's network's name
     * (NULL: the default network, and no more links), the others, and a
     * route to route_to out of eth0 when eth0's subnet does not hold it
     * (the published ports' transit address, pubnat.h). */
    const char *name;
    struct sv_net_link more[SV_NET_LINKS_MAX - 1];
    size_t n_more;
    uint32_t route_to;
};

struct sv_run_spec {
    const char *name;     /* NULL: generated */
    const char *image;    /* "host", a directory, or a rootfs tarball */
    const char *hostname; /* NULL: the short id */
    char **entrypoint;    /* NULL-terminated; NULL: the image's */
    char **argv;          /* the command, NULL-terminated; NULL or empty:
                           * the image's (unless entrypoint is set) */
    char **env;           /* "K=V", NULL-terminated; may be NULL */
    const char *workdir;  /* NULL: / */
    const char *user;     /* "uid[:gid]" or a name in the image; NULL: root */
    struct sv_limits limits;
    struct sv_bind *binds;
    size_t n_binds;
    const char **cap_add, **cap_drop; /* NULL-terminated or NULL */
    enum sv_netmode network;
    struct sv_net_attach net; /* SV_NET_STACK only */
    bool read_only;
    bool userns_host; /* --userns=host: no user namespace */
    bool no_seccomp;  /* --security-opt seccomp=unconfined */
    /* A terminal of the container's own (see pty.h) on the command's stdio,
     * of this size (0: 24x80). Whoever holds its master: see tty_attach. */
    bool tty;
    unsigned short tty_rows, tty_cols;
    /* Keep stdin open with nothing attached (Compose's stdin_open, run -d
     * -i): a pipe servos' init holds and never writes to. With tty, the
     * terminal is stdin already. */
    bool stdin_open;
    bool init; /* servos' init as pid 1 (see init.h) */
    /* Sysctls of the container's own namespaces, "net.core.somaxconn=1024"
     * (checked by the graph: net.*, kernel.shm*, ...); NULL-terminated or
     * NULL. */
    char **sysctls;
    /* More /etc/hosts lines ("IP\tNAME") where servos writes that file (no
     * stack network: that one's comes from the supervisor); or NULL. */
    char **extra_hosts;
    /* Bytes the container may write outside its volumes (its writable
     * layer, /tmp and /run, all in RAM); 0: the memory limit, else
     * SV_LAYER_SIZE_DEFAULT. */
    int64_t layer_size;
    bool net_joined; /* SV_NET_HOST in a namespace servos was started in, not the host's */
    bool io_uring;   /* --security-opt io_uring=allow (denied by default) */
    /* A stack's replica: recorded with the container (borrowed strings,
     * used only while creating). */
    const char *stack, *service, *hash;
    int replica;
    /* servos run, recorded with the container for ls, stop and rm. */
    char **labels;         /* "KEY=VALUE", NULL-terminated; may be NULL */
    int stop_signal;       /* 0: the image's StopSignal, else SIGTERM */
    int stop_timeout;      /* seconds from the stop signal to SIGKILL... */
    bool stop_timeout_set; /* ...when set; else 10 */
    /* The -d monitor's restart policy, as recorded ("no" when NULL): a
     * container that has one is stopped for good through a mark its
     * monitor reads (sv_stop_mark, stop.h). */
    const char *restart;
    const char *run_network; /* -p: the container's own network (runnet.h) */
    char **ports;            /* -p as published, "IP:PORT->PORT/tcp"; may be NULL */
    /* servos build's RUN steps (engine/build/): the layers the builder
     * unpacked, as an overlay lowerdir list (top first), used instead of
     * resolving image (then only a name to show); the overlay's upper and
     * work directories in build_upper ("upper", "work") on disk, where
     * they outlive the container as the step's new layer, rather than on
     * the scratch tmpfs; and a container that dies with the process that
     * started it (a killed build leaves no step running). */
    const char *build_lower, *build_upper;
    bool die_with_parent;
    bool no_sync; /* fsync and friends return at once (seccomp.h's SV_SECCOMP_NO_SYNC) */
    /* Host device nodes passed in (--device, a service's devices): each a
     * node of the container's own at its target, which the device policy
     * allows with its access (devices.h). */
    const struct sv_device_spec *devices;
    size_t n_devices;
};

/* The writable space of a container without a memory limit or
 * --layer-size: it lives in RAM, so a bound keeps one container from
 * filling the host's memory (a tmpfs left unsized takes half of RAM). */
#define SV_LAYER_SIZE_DEFAULT (1LL << 30)

/* Seconds from the stop signal to SIGKILL, as Docker's default; the most
 * servos stop -t and --stop-timeout take. */
#define SV_STOP_TIMEOUT_DEFAULT 10
#define SV_STOP_TIMEOUT_MAX     86400

/* Where a container's root file system comes from (see sv_rootfs_resolve). */
enum sv_rootfs_kind { SV_ROOTFS_STORE, SV_ROOTFS_HOST, SV_ROOTFS_DIR, SV_ROOTFS_TARBALL };

struct sv_container {
    char id[65];
    char *name;
    char *dir;   /* <root>/containers/<id> */
    char *lower; /* the image's root directory (or overlay lowerdir list) */
    enum sv_rootfs_kind image_kind;
    /* SV_ROOTFS_DIR, between sv_container_spawn's clone and the child's
     * overlay: the directory as a detached read-only mount, idmapped when
     * lower_shifted (see sv_idmap_rootfs); else -1. */
    int lower_fd;
    bool lower_shifted;
    char image_digest[72]; /* a store image's manifest digest, else "" */
    int stop_signal;       /* the image's StopSignal, 0: none */
    struct sv_cgroup cg;
    struct sv_idmap map;
    sv_capset_t caps;
    /* The container's user as host ids, for :U and the volume warning
     * (known: --user was numeric, or the image's /etc/passwd named it). */
    bool user_known;
    uid_t host_uid;
    gid_t host_gid;
    pid_t pid;
    uint64_t pid_start;
    int report_fd;   /* between sv_container_spawn and sv_container_spawned */
    bool host_netns; /* --network host and truly the host's (see rootfs' /sys) */
    /* spec.tty: set tty_attach before starting to get the terminal's
     * master in pty_master once started (servos run -t relays it), the
     * command then having no stdio of the caller's; else the container's
     * init keeps the master and copies it to the stdout it was given. */
    bool tty_attach;
    int pty_sock, pty_master;
    /* spec.devices as policy rules (the cgroup's extra ones), and, between
     * sv_container_spawn's clone and the child's mounts, the tmpfs that
     * holds their nodes (devices.h), else -1. */
    struct sv_device_rule *dev_rules;
    int dev_fd;
    struct sv_run_spec spec; /* copies owned by the container */
};

/* Check the spec, resolve the image, record the container (status
 * created), make its directories and cgroup. st NULL: a container that
 * is not recorded, and so not listed (a build step's, whose builder
 * removes it: the same st NULL for start and remove). */
int sv_container_create(struct sv_store *st, const struct sv_run_spec *spec,
                        struct sv_container **out, sv_error_t *err);
/* Start it with stdio on fds (stdin, stdout, stderr); returns once the
 * command was exec'd (or failed to be: then err says why and the exit
 * code a shell would give is in *exec_status, 126 or 127). */
int sv_container_start(struct sv_store *st, struct sv_container *c, const int fds[3],
                       int *exec_status, sv_error_t *err);
/* sv_container_start in two halves, so a caller can start many containers
 * and let their setups overlap: spawn returns once the child runs in its
 * namespaces and cgroup; spawned waits for its exec and records it. */
int sv_container_spawn(struct sv_container *c, const int fds[3], sv_error_t *err);
int sv_container_spawned(struct sv_store *st, struct sv_container *c, int *exec_status,
                         sv_error_t *err);
/* Where a detached container's output goes (the directory is made now). */
int sv_container_log_path(const struct sv_container *c, char **path, sv_error_t *err);
/* Wait for the init process; exit code (128+N for signal N) and OOM. */
int sv_container_wait(struct sv_container *c, int *exit_code, bool *oom);
void sv_container_free(struct sv_container *c);

/* Remove what a container left on the host: processes (SIGKILL), cgroup,
 * directories, the state row. Safe to repeat. */
int sv_container_remove(struct sv_store *st, const char *id, sv_error_t *err);

/* Run argv inside a running container (every namespace, the cgroup, the
 * same user, capabilities and seccomp), with stdio inherited. Returns the
 * exit code like a shell would. */
int sv_exec_run(const struct sv_ctr_row *row, char **argv, int *exit_code, sv_error_t *err);

/* How servos exec attaches the command. */
struct sv_exec_io {
    bool interactive; /* stdin passed on, else /dev/null; stdout and stderr always are */
    bool tty;         /* a terminal of the container's own, relayed to ours */
    unsigned short rows, cols;
};
int sv_exec_run_io(const struct sv_ctr_row *row, char **argv, const struct sv_exec_io *io,
                   int *exit_code, sv_error_t *err);

/* A host name fit for /etc/hosts and the kernel; rfc1123: also made of
 * RFC 1123 labels (for one the user gives; a replica's, after its service,
 * may have any of the service name's characters). */
int sv_spec_hostname_check(const char *h, bool rfc1123, sv_error_t *err);

/* Make an exited container ready to be started again (its monitor's
 * restart policy): a fresh cgroup, so its OOM count is this run's, and new
 * idmapped copies of its volumes (the last run's went with its mounts). */
int sv_container_reset(struct sv_container *c, sv_error_t *err);

#endif
