/* servos config: evaluate the inputs and print the graph. */
#include "lua/load.h"
#include "cli/cli.h"
#include "graph/graph.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void graph_freep(struct sv_graph **g)
{
    sv_graph_free(*g);
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
    const char *stack = NULL;
    bool quiet = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:p:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'p':
            stack = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            return sv_cli_usage(v, false);
        default:
            return sv_cli_bad_option(v, c, argv);
        }
    }
    if (argc - optind > 1)
        return sv_cli_misuse(v, "one FILE or DIR, not %d", argc - optind);
    sv_error_t err = NULL;
    __attribute__((cleanup(graph_freep))) struct sv_graph *g = NULL;
    if (sv_load_graph(optind < argc ? argv[optind] : NULL, stack, &g, &err) < 0)
        return sv_error_report(&err);
    if (!quiet) {
        static char buf[1 << 16];
        setvbuf(stdout, buf, _IOFBF, sizeof(buf));
        sv_graph_json_print(g, stdout);
        fflush(stdout);
    }
    return 0;
}
