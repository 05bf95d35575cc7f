/* servos export kubernetes|compose: evaluate the input as `config` does,
 * hand the graph to export/, print its warnings, write what it planned. */
#include "cli/cli.h"
#include "export/export.h"
#include "lua/load.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct export_args {
    const char *stack, *output;
    bool keys;
    struct sv_export_opts o;
    const char **sts;
    size_t n_sts;
};

enum {
    OPT_REGISTRY = 256,
    OPT_HOST_IMAGE,
    OPT_SERVOS_IMAGE,
    OPT_WAIT_IMAGE,
    OPT_CLUSTER_DOMAIN,
    OPT_PUBLISH,
    OPT_STATEFULSET,
    OPT_VOLUME_SIZE,
    OPT_HOSTPATH,
    OPT_STRICT,
    OPT_KEYS,
};

static int export_opt(void *args, int c, const char *arg)
{
    struct export_args *a = args;
    switch (c) {
    case 'p':
        a->stack = arg;
        break;
    case 'o':
        a->output = arg;
        break;
    case 'n':
        a->o.namespace = arg;
        break;
    case OPT_REGISTRY:
        a->o.image_registry = arg;
        break;
    case OPT_HOST_IMAGE:
        a->o.host_image = arg;
        break;
    case OPT_SERVOS_IMAGE:
        a->o.servos_image = arg;
        break;
    case OPT_WAIT_IMAGE:
        a->o.wait_image = arg;
        break;
    case OPT_CLUSTER_DOMAIN:
        a->o.cluster_domain = arg;
        break;
    case OPT_PUBLISH:
        if (strcmp(arg, "loadbalancer") == 0)
            a->o.publish = SV_PUBLISH_LOADBALANCER;
        else if (strcmp(arg, "nodeport") == 0)
            a->o.publish = SV_PUBLISH_NODEPORT;
        else if (strcmp(arg, "hostport") == 0)
            a->o.publish = SV_PUBLISH_HOSTPORT;
        else
            return -1;
        break;
    case OPT_STATEFULSET:
        a->sts = sv_xrealloc(a->sts, (a->n_sts + 2) * sizeof(*a->sts));
        a->sts[a->n_sts++] = arg;
        a->sts[a->n_sts] = NULL;
        break;
    case OPT_VOLUME_SIZE:
        a->o.volume_size = arg;
        break;
    case OPT_HOSTPATH:
        a->o.allow_hostpath = true;
        break;
    case OPT_STRICT:
        a->o.strict = true;
        break;
    case OPT_KEYS:
        a->keys = true;
        break;
    }
    return 0;
}

/* The warnings: said as warnings, or under --strict as errors. */
static int report(const struct sv_export *x, bool strict)
{
    for (size_t i = 0; i < x->n_warnings; i++)
        fprintf(stderr, "servos: %s%s\n", strict ? "" : "warning: ", x->warnings[i]);
    if (strict && x->n_warnings) {
        fprintf(stderr, "servos: %zu warning%s, and --strict: nothing written\n", x->n_warnings,
                x->n_warnings == 1 ? "" : "s");
        return 1;
    }
    return 0;
}

static int run_export(const struct sv_verb *v, bool compose, int argc, char **argv)
{
    static const struct option opts[] = {
        {"project-name", required_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'},
        {"namespace", required_argument, NULL, 'n'},
        {"image-registry", required_argument, NULL, OPT_REGISTRY},
        {"host-image", required_argument, NULL, OPT_HOST_IMAGE},
        {"servos-image", required_argument, NULL, OPT_SERVOS_IMAGE},
        {"wait-image", required_argument, NULL, OPT_WAIT_IMAGE},
        {"cluster-domain", required_argument, NULL, OPT_CLUSTER_DOMAIN},
        {"publish", required_argument, NULL, OPT_PUBLISH},
        {"statefulset", required_argument, NULL, OPT_STATEFULSET},
        {"volume-size", required_argument, NULL, OPT_VOLUME_SIZE},
        {"allow-hostpath", no_argument, NULL, OPT_HOSTPATH},
        {"strict", no_argument, NULL, OPT_STRICT},
        {"keys", no_argument, NULL, OPT_KEYS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct export_args a = {.output = "-",
                            .o = {.wait_image = "busybox:1.36",
                                  .cluster_domain = "cluster.local",
                                  .volume_size = "1Gi",
                                  .version = sv_cli_version}};
    int code, first = sv_cli_parse_opts(v, argc, argv, "+:p:o:n:h", opts, export_opt, &a, &code);
    cleanup_free const char **sts = a.sts;
    if (first < 0)
        return code;
    if (a.keys) {
        sv_xkeys_print(stdout, compose);
        return 0;
    }
    if (argc - first > 1)
        return sv_cli_misuse(v, "one FILE, DIR or GIT-SOURCE, not %d", argc - first);
    a.o.statefulsets = sts;
    sv_error_t err = NULL;
    cleanup_graph struct sv_graph *g = NULL;
    if (sv_load_graph(first < argc ? argv[first] : NULL, a.stack, &g, &err) < 0)
        return sv_error_report(&err);
    cleanup_export struct sv_export x = {0};
    int rc = compose ? sv_xcompose_export(g, &a.o, &x, &err) : sv_kube_export(g, &a.o, &x, &err);
    if (rc < 0) {
        report(&x, false);
        return sv_error_report(&err);
    }
    if (report(&x, a.o.strict) != 0)
        return 1;
    struct stat st;
    bool one_file =
        compose && strcmp(a.output, "-") != 0 && !(stat(a.output, &st) == 0 && S_ISDIR(st.st_mode));
    if ((one_file ? sv_export_write_file(&x, a.output, &err)
                  : sv_export_write(&x, a.output, &err)) < 0)
        return sv_error_report(&err);
    return 0;
}

int sv_cmd_export(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("export");
    if (argc < 2)
        return sv_cli_misuse(v, "which? kubernetes or compose");
    if (argv[1][0] == '-') /* --help, or an option before the sub-command */
        return run_export(v, false, argc, argv);
    bool compose = strcmp(argv[1], "compose") == 0;
    if (!compose && strcmp(argv[1], "kubernetes") != 0 && strcmp(argv[1], "k8s") != 0 &&
        strcmp(argv[1], "kube") != 0) {
        const char *names[] = {"kubernetes", "compose"};
        const char *near = sv_suggest(argv[1], names, 2);
        fprintf(stderr, "servos export: unknown format \"%s\"%s%s%s; it is kubernetes or compose\n",
                argv[1], near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
        return 2;
    }
    return run_export(v, compose, argc - 1, argv + 1);
}
