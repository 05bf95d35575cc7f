/* servos detect, servos list-platforms */
#include "cli/cli.h"
#include "runtime/cgroup.h"
#include "host/detect.h"
#include "core/json.h"

#include <getopt.h>
#include <string.h>

static int parse_flags(int argc, char **argv, const char *verb, bool *json, bool *verbose)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const struct sv_verb *v = sv_cli_find(verb);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, verbose ? "+:vh" : "+:h", opts, NULL)) != -1) {
        if (c == 'j')
            *json = true;
        else if (c == 'v' && verbose)
            *verbose = true;
        else if (c == 'h')
            return sv_cli_usage(v, false) + 100;
        else if (c == 'v') /* --verbose of list-platforms */
            return sv_cli_misuse(v, "unknown option \"%s\"", argv[optind - 1]) + 100;
        else
            return sv_cli_bad_option(v, c, argv) + 100;
    }
    if (optind < argc)
        return sv_cli_misuse(v, "unexpected argument \"%s\"", argv[optind]) + 100;
    return 0;
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

static void detect_json(const struct sv_host_info *h)
{
    struct sv_json w;
    char nsbuf[128];
    ns_list(h, nsbuf, sizeof(nsbuf));
    sv_json_init(&w, stdout, true);
    sv_json_object_begin(&w);
    sv_json_key(&w, "platform"), sv_json_str(&w, h->platform);
    sv_json_key(&w, "arch"), sv_json_str(&w, h->arch);
    sv_json_key(&w, "os"), sv_json_str(&w, h->os);
    sv_json_key(&w, "kernel"), sv_json_str(&w, h->kernel);
    sv_json_key(&w, "cgroup"), sv_json_str(&w, sv_cgroup_mode_name(h->cgroup));
    sv_json_key(&w, "cgroup_controllers"), sv_json_str(&w, h->cgroup_controllers);
    sv_json_key(&w, "cgroup_parent"), sv_json_str(&w, sv_cgroup_parent());
    sv_json_key(&w, "namespaces"), sv_json_str(&w, nsbuf);
    sv_json_key(&w, "user_namespaces"), sv_json_bool(&w, h->ns_user && h->max_user_namespaces != 0);
    sv_json_key(&w, "seccomp"), sv_json_bool(&w, h->seccomp && h->seccomp_filter);
    sv_json_key(&w, "overlayfs"), sv_json_bool(&w, h->overlayfs);
    sv_json_key(&w, "usb");
    sv_json_array_begin(&w);
    for (size_t i = 0; i < h->n_usb; i++) {
        const struct sv_usb_device *u = &h->usb[i];
        char id[16];
        snprintf(id, sizeof(id), "%04x:%04x", u->vid, u->pid);
        sv_json_object_begin(&w);
        sv_json_key(&w, "id"), sv_json_str(&w, id);
        sv_json_key(&w, "product"), sv_json_str(&w, u->product);
        sv_json_key(&w, "board"), sv_json_str(&w, u->board ? u->board->id : NULL);
        sv_json_key(&w, "platform"), sv_json_str(&w, u->platform ? u->platform->name : NULL);
        sv_json_object_end(&w);
    }
    sv_json_array_end(&w);
    sv_json_object_end(&w);
    sv_json_end(&w);
}

int sv_cmd_detect(int argc, char **argv)
{
    bool json = false, verbose = false;
    int rc = parse_flags(argc, argv, "detect", &json, &verbose);
    if (rc)
        return rc - 100;
    sv_error_t err = NULL;
    struct sv_platforms *pl = NULL;
    if (sv_platforms_load(&pl, &err) < 0)
        return sv_error_report(&err);
    static struct sv_host_info h;
    sv_detect_host(&h, pl);
    if (json) {
        detect_json(&h);
        sv_platforms_free(pl);
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
    if (verbose)
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
        if (u->board)
            printf("board:           %s (%s, platform %s) at usb %s [%04x:%04x]\n", u->board->id,
                   u->board->name, u->platform->name, u->path, u->vid, u->pid);
        else if (verbose)
            printf("usb device:      %04x:%04x %s (no board table knows it)\n", u->vid, u->pid,
                   u->product);
    }
    sv_platforms_free(pl);
    return 0;
}

int sv_cmd_list_platforms(int argc, char **argv)
{
    bool json = false;
    int rc = parse_flags(argc, argv, "list-platforms", &json, NULL);
    if (rc)
        return rc - 100;
    sv_error_t err = NULL;
    struct sv_platforms *pl = NULL;
    if (sv_platforms_load(&pl, &err) < 0)
        return sv_error_report(&err);
    struct sv_json w;
    sv_json_init(&w, stdout, true);
    if (json)
        sv_json_array_begin(&w);
    for (size_t i = 0; i < pl->n; i++) {
        const struct sv_platform *p = &pl->v[i];
        if (json) {
            sv_json_object_begin(&w);
            sv_json_key(&w, "name"), sv_json_str(&w, p->name);
            sv_json_key(&w, "arch"), sv_json_str(&w, p->arch);
            sv_json_key(&w, "description"), sv_json_str(&w, p->description);
            sv_json_key(&w, "boards");
            sv_json_array_begin(&w);
        } else {
            printf("%s%s (%s): %s\n", i ? "\n" : "", p->name, p->arch, p->description);
        }
        for (size_t j = 0; j < p->n_boards; j++) {
            const struct sv_board *b = &p->boards[j];
            char usb[256] = "";
            for (size_t k = 0; k < b->n_usb; k++)
                snprintf(usb + strlen(usb), sizeof(usb) - strlen(usb), "%s%04x:%04x", k ? " " : "",
                         b->usb[k].vid, b->usb[k].pid);
            char pkgs[256] = "";
            for (char **k = b->packages; *k; k++)
                snprintf(pkgs + strlen(pkgs), sizeof(pkgs) - strlen(pkgs), "%s%s",
                         k == b->packages ? "" : " ", *k);
            if (json) {
                sv_json_object_begin(&w);
                sv_json_key(&w, "id"), sv_json_str(&w, b->id);
                sv_json_key(&w, "name"), sv_json_str(&w, b->name);
                sv_json_key(&w, "mcu"), sv_json_str(&w, b->mcu);
                sv_json_key(&w, "usb"), sv_json_str(&w, usb);
                sv_json_key(&w, "packages"), sv_json_str(&w, pkgs);
                sv_json_key(&w, "build"), sv_json_str(&w, b->build);
                sv_json_key(&w, "flash"), sv_json_str(&w, b->flash);
                sv_json_key(&w, "emulate"), sv_json_str(&w, b->emulate);
                sv_json_object_end(&w);
            } else {
                printf("  %-22s %s%s%s\n", b->id, b->name, b->mcu ? ", " : "",
                       b->mcu ? b->mcu : "");
                if (usb[0])
                    printf("  %-22s usb %s\n", "", usb);
                if (pkgs[0])
                    printf("  %-22s packages: %s\n", "", pkgs);
            }
        }
        if (json) {
            sv_json_array_end(&w);
            sv_json_object_end(&w);
        }
    }
    if (json) {
        sv_json_array_end(&w);
        sv_json_end(&w);
    }
    sv_platforms_free(pl);
    return 0;
}
