/* servos run: one container from the command line. The options are read
 * in cli_run_opts.c; a -d container lives under a monitor process
 * (runtime/monitor.h); an attached one is run, waited for and relayed here. */
#include "cli/cli.h"
#include "core/trace.h"
#include "cli/cli_run_int.h"
#include "image/registry.h"
#include "runtime/monitor.h"
#include "runtime/pty.h"
#include "runtime/runnet.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile pid_t forward_to;
static volatile int interrupts;

/* pid 1 of a namespace ignores signals it has no handler for, so a third
 * Ctrl-C kills it, as users expect of a foreground command. */
static void forward(int sig)
{
    if (forward_to <= 0)
        return;
    if (sig == SIGINT && ++interrupts >= 3)
        sig = SIGKILL;
    kill(forward_to, sig);
}

static void runnet_closep(struct sv_runnet **rn)
{
    sv_runnet_close(*rn);
}

static void container_freep(struct sv_container **c)
{
    sv_container_free(*c);
}

/* -t: the container's terminal, relayed to ours until its init ends. */
static void relay_terminal(struct sv_container *c, bool input)
{
    sv_error_t err = NULL;
    cleanup_close int pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
    if (sv_pty_relay(c->pty_master, input, pidfd, &err) < 0)
        sv_error_report(&err);
    /* Closing it now hangs up the container's terminal: a shell whose
     * user's window closed sees the end of its input. */
    close(c->pty_master);
    c->pty_master = -1;
}

static int run_attached(struct sv_store *st, struct sv_runopts *o)
{
    sv_error_t err = NULL;
    __attribute__((cleanup(container_freep))) struct sv_container *c = NULL;
    if (sv_container_create(st, &o->spec, &c, &err) < 0) {
        sv_error_report(&err);
        return 125;
    }
    struct sigaction sa = {.sa_handler = forward, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < SV_ARRAY_LEN(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
    /* Without -i, stdin is /dev/null, as with docker; with -t, the
     * command's stdio is its terminal and none of ours reaches it. */
    cleanup_close int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) {
        sv_error(&err, errno, "/dev/null"); /* errno now, before other calls change it */
        sv_error_report(&err);
        sv_container_remove(st, c->id, NULL); /* a failed start leaves nothing */
        return 125;
    }
    if (!o->spec.tty)
        sv_main_stdio_writeonly();
    int fds[3] = {o->interactive ? 0 : null, 1, 2}, exec_status = 0;
    if (o->spec.tty)
        fds[0] = fds[1] = fds[2] = null;
    c->tty_attach = o->spec.tty;
    if (sv_container_start(st, c, fds, &exec_status, &err) < 0) {
        sv_error_report(&err);
        sv_container_remove(st, c->id, NULL); /* a failed start leaves nothing */
        return exec_status ? exec_status : 125;
    }
    forward_to = c->pid;
    if (c->pty_master >= 0)
        relay_terminal(c, o->interactive);
    int code;
    bool oom = false;
    sv_container_wait(c, &code, &oom);
    sv_trace("run: exited");
    sv_monitor_record_end(st, c, o->remove, code, oom);
    sv_trace("run: ended (recorded or removed)");
    forward_to = 0;
    return code;
}

/* IMAGE, pulled when it is a reference the store lacks (--pull: or always,
 * or never). */
static int run_pull(const struct sv_runopts *o, sv_error_t *err)
{
    const char *img = o->spec.image;
    bool ref = strcmp(img, "host") && img[0] != '/' && img[0] != '.' && access(img, F_OK) < 0;
    if (ref && o->pull && strcmp(o->pull, "always") == 0) {
        char digest[SV_DIGEST_LEN + 1];
        return sv_registry_pull(img, false, digest, err);
    }
    if (ref && !(o->pull && strcmp(o->pull, "never") == 0))
        return sv_registry_ensure(img, false, err);
    return 0;
}

/* -d: the container under its monitor; its id printed, or what failed. */
static int run_detached(struct sv_runopts *o)
{
    const struct sv_monitor_opts m = {
        .spec = &o->spec,
        .remove = o->remove,
        .restart = o->restart,
        .restart_max = o->restart_max,
        .log = o->log,
        .ports = o->ports,
        .n_ports = o->n_ports,
    };
    sv_error_t err = NULL;
    cleanup_free char *id = NULL;
    int code;
    if (sv_monitor_detach(&m, &id, &code, &err) < 0) {
        sv_error_report(&err);
        return code;
    }
    printf("%s\n", id);
    return 0;
}

int sv_cmd_run(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("run");
    cleanup_runopts struct sv_runopts o = {0};
    sv_error_t err = NULL;
    int rc = sv_runopt_parse(argc, argv, &o, &err);
    if (rc == 1)
        return sv_cli_usage(v, false);
    if (rc < 0) {
        sv_cli_misuse(v, "%s", err->msg);
        sv_error_free(&err);
        return 125;
    }
    if (run_pull(&o, &err) < 0) {
        sv_error_report(&err);
        return 125;
    }
    if (o.detach)
        return run_detached(&o);
    /* -p: the container's network and the process that holds its ports,
     * before the container is made (runnet.h). */
    cleanup_store struct sv_store *st = NULL;
    /* Declared after st, so closed before it, in the order run always
     * closed them. */
    __attribute__((cleanup(runnet_closep))) struct sv_runnet *rn = NULL;
    if (o.n_ports && sv_runnet_open(o.ports, o.n_ports, &rn, &err) == 0)
        sv_runnet_attach(rn, &o.spec);
    if (err || sv_store_open(&st, &err) < 0) {
        sv_error_report(&err);
        return 125;
    }
    sv_trace("run: state open");
    return run_attached(st, &o);
}
