/* servos detect, servos list-platforms */
#include "cli/cli.h"
#include "runtime/cgroup.h"
#include "host/detect.h"
#include "core/json.h"

#include <getopt.h>
#include <string.h>

struct host_args {
    bool json, verbose;
    bool verbose_ok; /* detect has -v; list-platforms none */
    const struct sv_verb *v;
    char **argv;
};

static int host_opt(void *args, int c, const char *arg)
{
    struct host_args *a = args;
    if (c == 'j') {
        a->json = true;
    } else if (a->verbose_ok) {
        a->verbose = true;
    } else { /* --verbose of list-platforms */
        sv_cli_misuse(a->v, "unknown option \"%s\"", a->argv[optind - 1]);
        return -2;
    }
    return 0;
}

/* What detect and list-platforms start with: their options into a, and
 * the platform tables. -1 when the verb goes on, else its exit code. */
static int host_verb_start(int argc, char **argv, const char *verb, struct host_args *a,
                           struct sv_platforms **pl)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    a->v = sv_cli_find(verb);
    a->argv = argv;
    int code, first = sv_cli_parse_opts(a->v, argc, argv, a->verbose_ok ? "+:vh" : "+:h", opts,
                                        host_opt, a, &code);
    if (first < 0)
        return code;
    if (first < argc)
        return sv_cli_misuse(a->v, "unexpected argument \"%s\"", argv[first]);
    sv_error_t err = NULL;
    if (sv_platforms_load(pl, &err) < 0)
        return sv_error_report(&err);
    return -1;
}

static void ns_list(const struct sv_host_info *h, char *out, size_t size)
{
    const struct {
        bool on;
        const char *name;
    } ns[] = {{h->ns_user, "user"},     {h->ns_pid, "pid"},  {h->ns_mnt, "mount"},
              {h->ns_uts, "uts"},       {h->ns_ipc, "ipc"},  {h->ns_net, "net"},
              {h->ns_cgroup, "cgroup"}, {h->ns_time, "time"}};
    out[0] = '\0';
    for (size_t i = 0; i < SV_ARRAY_LEN(ns); i++)
        if (ns[i].on)
            snprintf(out + strlen(out), size - strlen(out), "%s%s", out[0] ? " " : "", ns[i].name);
}

static json_t *usb_json(const struct sv_usb_device *u)
{
    char id[16];
    snprintf(id, sizeof(id), "%04x:%04x", u->vid, u->pid);
    json_t *o = json_object();
    sv_json_set(o, "id", json_string(id));
    sv_json_set(o, "path", json_string(u->path));
    sv_json_set(o, "product", sv_json_string(u->product));
    /* board and platform only when the id tells; candidates always. */
    bool one = u->n_boards == 1;
    sv_json_set(o, "board", sv_json_string(one ? u->board->id : NULL));
    sv_json_set(o, "platform", sv_json_string(one ? u->platform->name : NULL));
    json_t *cands = json_array();
    for (size_t i = 0; i < u->n_boards; i++)
        json_array_append_new(cands, json_pack("{s:s, s:s}", "board", u->boards[i]->id, "platform",
                                               u->platforms[i]->name));
    sv_json_set(o, "candidates", cands);
    json_t *ttys = json_array(), *by_id = json_array();
    for (size_t i = 0; i < u->n_tty; i++) {
        json_array_append_new(ttys, json_string(u->tty[i]));
        json_array_append_new(by_id, u->by_id[i][0] ? json_string(u->by_id[i]) : json_null());
    }
    sv_json_set(o, "tty", ttys);
    sv_json_set(o, "by_id", by_id);
    return o;
}

/* "/dev/ttyUSB0" (or several), or what to check when sysfs shows none. */
static void usb_ports(const struct sv_usb_device *u, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = 0; i < u->n_tty; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s%s%s%s", i ? ", " : "", u->tty[i],
                 u->by_id[i][0] ? " (" : "", u->by_id[i], u->by_id[i][0] ? ")" : "");
    if (u->n_tty == 0)
        snprintf(out, size, "no serial port (no tty driver bound: cdc_acm, ftdi_sio, ch341?)");
}

/* One line per board; an id several tables list gives each candidate a
 * line of its own: only the user can tell a Nano from an ESP32 behind the
 * same USB serial chip. */
static void usb_text(const struct sv_usb_device *u)
{
    char ports[1024];
    usb_ports(u, ports, sizeof(ports));
    if (u->n_boards == 1) {
        printf("board:           %s (%s, platform %s) on %s, usb %s [%04x:%04x]\n", u->board->id,
               u->board->name, u->platform->name, ports, u->path, u->vid, u->pid);
        return;
    }
    printf("board:           one of %zu on %s, usb %s [%04x:%04x]%s%s (a USB id these boards "
           "share):\n",
           u->n_boards, ports, u->path, u->vid, u->pid, u->product[0] ? " " : "", u->product);
    for (size_t i = 0; i < u->n_boards; i++)
        printf("                   %-18s %s, platform %s\n", u->boards[i]->id, u->boards[i]->name,
               u->platforms[i]->name);
}

static void detect_json(const struct sv_host_info *h)
{
    char nsbuf[128];
    ns_list(h, nsbuf, sizeof(nsbuf));
    cleanup_json json_t *o = json_object();
    sv_json_set(o, "platform", sv_json_string(h->platform));
    sv_json_set(o, "arch", sv_json_string(h->arch));
    sv_json_set(o, "os", sv_json_string(h->os));
    sv_json_set(o, "kernel", sv_json_string(h->kernel));
    sv_json_set(o, "cgroup", sv_json_string(sv_detect_cgroup_mode_name(h->cgroup)));
    sv_json_set(o, "cgroup_controllers", sv_json_string(h->cgroup_controllers));
    sv_json_set(o, "cgroup_parent", sv_json_string(sv_cgroup_parent()));
    sv_json_set(o, "namespaces", sv_json_string(nsbuf));
    sv_json_set(o, "user_namespaces", json_boolean(h->ns_user && h->max_user_namespaces != 0));
    sv_json_set(o, "seccomp", json_boolean(h->seccomp && h->seccomp_filter));
    sv_json_set(o, "overlayfs", json_boolean(h->overlayfs));
    json_t *usb = json_array();
    for (size_t i = 0; i < h->n_usb; i++)
        json_array_append_new(usb, usb_json(&h->usb[i]));
    sv_json_set(o, "usb", usb);
    sv_json_print(o, stdout, SV_JSON_PRETTY);
}

int sv_cmd_detect(int argc, char **argv)
{
    struct host_args a = {.verbose_ok = true};
    cleanup_platforms struct sv_platforms *pl = NULL;
    int rc = host_verb_start(argc, argv, "detect", &a, &pl);
    if (rc >= 0)
        return rc;
    static struct sv_host_info h;
    sv_detect_host(&h, pl);
    if (a.json) {
        detect_json(&h);
        return 0;
    }
    char nsbuf[128];
    ns_list(&h, nsbuf, sizeof(nsbuf));
    printf("platform:        %s\n", h.platform);
    printf("arch:            %s\n", h.arch);
    printf("os:              %s\n", h.os[0] ? h.os : "unknown");
    printf("kernel:          %s\n", h.kernel);
    if (h.model[0])
        printf("model:           %s\n", h.model);
    switch (h.cgroup) {
    case SV_CGROUP_HYBRID:
        printf("cgroups:         hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)\n");
        break;
    case SV_CGROUP_V2:
        printf("cgroups:         v2 (unified)\n");
        break;
    case SV_CGROUP_V1:
        printf("cgroups:         v1\n");
        break;
    default:
        printf("cgroups:         none found (limits unavailable)\n");
    }
    if (a.verbose)
        printf("  controllers:   %s\n", h.cgroup_controllers);
    printf("namespaces:      %s\n", nsbuf);
    if (h.ns_user && h.max_user_namespaces != 0)
        printf("user namespaces: yes (at most %ld)\n", h.max_user_namespaces);
    else
        printf("user namespaces: no (containers run with --userns=host)\n");
    printf("seccomp:         %s\n", h.seccomp && h.seccomp_filter ? "yes (filter mode)"
                                    : h.seccomp                   ? "strict mode only"
                                                                  : "no");
    printf("overlayfs:       %s\n", h.overlayfs ? "yes" : "no (containers copy their root)");
    size_t known = 0;
    for (size_t i = 0; i < h.n_usb; i++)
        known += h.usb[i].board != NULL;
    if (known == 0)
        printf("boards:          none found on USB\n");
    for (size_t i = 0; i < h.n_usb; i++) {
        const struct sv_usb_device *u = &h.usb[i];
        if (u->board) {
            usb_text(u);
        } else if (a.verbose) {
            char ports[1024];
            usb_ports(u, ports, sizeof(ports));
            printf("usb device:      %04x:%04x %s at usb %s (no board table knows it)%s%s\n",
                   u->vid, u->pid, u->product, u->path, u->n_tty ? " on " : "",
                   u->n_tty ? ports : "");
        }
    }
    return 0;
}

/* "2341:0043 2341:0001": a board's USB ids, as one string. */
static void board_usb(const struct sv_board *b, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t k = 0; k < b->n_usb; k++)
        snprintf(out + strlen(out), size - strlen(out), "%s%04x:%04x", k ? " " : "", b->usb[k].vid,
                 b->usb[k].pid);
}

/* "gcc-avr avr-libc": a board's toolchain packages, as one string. */
static void board_packages(const struct sv_board *b, char *out, size_t size)
{
    out[0] = '\0';
    for (char **k = b->packages; *k; k++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", k == b->packages ? "" : " ", *k);
}

static json_t *strv_json(char **v)
{
    json_t *a = json_array();
    for (; v && *v; v++)
        json_array_append_new(a, json_string(*v));
    return a;
}

/* "arduino_uno, ...": a name list as one string ("" when empty). */
static void names_text(char **v, char *out, size_t size)
{
    out[0] = '\0';
    for (char **k = v; k && *k; k++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", k == v ? "" : ", ", *k);
}

static json_t *board_json(const struct sv_board *b)
{
    char usb[256], pkgs[256];
    board_usb(b, usb, sizeof(usb));
    board_packages(b, pkgs, sizeof(pkgs));
    json_t *o = json_object();
    sv_json_set(o, "id", sv_json_string(b->id));
    sv_json_set(o, "name", sv_json_string(b->name));
    sv_json_set(o, "mcu", sv_json_string(b->mcu));
    sv_json_set(o, "usb", sv_json_string(usb));
    sv_json_set(o, "packages", sv_json_string(pkgs));
    sv_json_set(o, "toolchain", sv_json_string(b->family));
    sv_json_set(o, "aliases", strv_json(b->aliases));
    sv_json_set(o, "build", sv_json_string(b->build));
    sv_json_set(o, "flash", sv_json_string(b->flash));
    sv_json_set(o, "emulate", sv_json_string(b->emulate));
    /* Why a step has no template: for the build and flash a board lacks. */
    json_t *missing = json_object();
    static const char *const steps[] = {"build", "flash"};
    for (size_t i = 0; i < SV_ARRAY_LEN(steps); i++)
        if (sv_platforms_missing(b, steps[i]))
            sv_json_set(missing, steps[i], json_string(sv_platforms_missing(b, steps[i])));
    sv_json_set(o, "missing", missing);
    return o;
}

static void platforms_json(const struct sv_platforms *pl)
{
    cleanup_json json_t *all = json_array();
    for (size_t i = 0; i < pl->n; i++) {
        const struct sv_platform *p = &pl->v[i];
        json_t *o = json_object();
        sv_json_set(o, "name", sv_json_string(p->name));
        sv_json_set(o, "arch", sv_json_string(p->arch));
        sv_json_set(o, "description", sv_json_string(p->description));
        sv_json_set(o, "aliases", strv_json(p->aliases));
        json_t *boards = json_array();
        for (size_t j = 0; j < p->n_boards; j++)
            json_array_append_new(boards, board_json(&p->boards[j]));
        sv_json_set(o, "boards", boards);
        json_array_append_new(all, o);
    }
    sv_json_print(all, stdout, SV_JSON_PRETTY);
}

static void platforms_text(const struct sv_platforms *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        const struct sv_platform *p = &pl->v[i];
        char aliases[256];
        names_text(p->aliases, aliases, sizeof(aliases));
        printf("%s%s (%s): %s%s%s%s\n", i ? "\n" : "", p->name, p->arch, p->description,
               aliases[0] ? " (also " : "", aliases, aliases[0] ? ")" : "");
        for (size_t j = 0; j < p->n_boards; j++) {
            const struct sv_board *b = &p->boards[j];
            char usb[256], pkgs[256];
            board_usb(b, usb, sizeof(usb));
            board_packages(b, pkgs, sizeof(pkgs));
            names_text(b->aliases, aliases, sizeof(aliases));
            printf("  %-22s %s%s%s%s%s%s\n", b->id, b->name, b->mcu ? ", " : "",
                   b->mcu ? b->mcu : "", aliases[0] ? " (also " : "", aliases,
                   aliases[0] ? ")" : "");
            if (usb[0])
                printf("  %-22s usb %s\n", "", usb);
            if (pkgs[0])
                printf("  %-22s toolchain %s: %s\n", "", b->family ? b->family : "?", pkgs);
            static const char *const steps[] = {"build", "flash"};
            for (size_t k = 0; k < SV_ARRAY_LEN(steps); k++)
                if (sv_platforms_missing(b, steps[k]))
                    printf("  %-22s no %s: %s\n", "", steps[k], sv_platforms_missing(b, steps[k]));
        }
    }
}

int sv_cmd_list_platforms(int argc, char **argv)
{
    struct host_args a = {0};
    cleanup_platforms struct sv_platforms *pl = NULL;
    int rc = host_verb_start(argc, argv, "list-platforms", &a, &pl);
    if (rc >= 0)
        return rc;
    if (a.json)
        platforms_json(pl);
    else
        platforms_text(pl);
    return 0;
}
