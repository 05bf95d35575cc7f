/* servos config: evaluate the inputs and print the graph. */
#include "lua/load.h"
#include "cli/cli.h"
#include "graph/graph.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

struct config_args {
    const char *stack;
    bool quiet;
};

static int config_opt(void *args, int c, const char *arg)
{
    struct config_args *a = args;
    if (c == 'q')
        a->quiet = true;
    else
        a->stack = arg;
    return 0;
}

int sv_cmd_config(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("config");
    static const struct option opts[] = {
        {"project-name", required_argument, NULL, 'p'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct config_args a = {0};
    int code, first = sv_cli_parse_opts(v, argc, argv, "+:p:qh", opts, config_opt, &a, &code);
    if (first < 0)
        return code;
    if (argc - first > 1)
        return sv_cli_misuse(v, "one FILE or DIR, not %d", argc - first);
    sv_error_t err = NULL;
    cleanup_graph struct sv_graph *g = NULL;
    if (sv_load_graph(first < argc ? argv[first] : NULL, a.stack, &g, &err) < 0)
        return sv_error_report(&err);
    if (!a.quiet) {
        static char buf[1 << 16];
        setvbuf(stdout, buf, _IOFBF, sizeof(buf));
        sv_graph_json_print(g, stdout);
        fflush(stdout);
    }
    return 0;
}
