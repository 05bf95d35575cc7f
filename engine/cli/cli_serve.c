/* servos serve: the control API and the dashboard (engine/api). */
#include "api/api.h"
#include "cli/cli.h"

#include <getopt.h>

static int serve_opt(void *args, int c, const char *arg)
{
    struct sv_api_opts *o = args;
    switch (c) {
    case 'd':
        o->detach = true;
        return 0;
    case 'l':
        o->listen = arg;
        return 0;
    case 'T':
        o->token_file = arg;
        return 0;
    case 'R':
        o->ro_token_file = arg;
        return 0;
    case 'C':
        o->tls_cert = arg;
        return 0;
    case 'K':
        o->tls_key = arg;
        return 0;
    }
    return -1;
}

int sv_cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"detach", no_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"token-file", required_argument, NULL, 'T'},
        {"read-only-token-file", required_argument, NULL, 'R'},
        {"tls-cert", required_argument, NULL, 'C'},
        {"tls-key", required_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const struct sv_verb *v = sv_cli_find("serve");
    struct sv_api_opts o = {0};
    int code, first = sv_cli_parse_opts(v, argc, argv, "+:dh", opts, serve_opt, &o, &code);
    if (first < 0)
        return code;
    if (first < argc)
        return sv_cli_misuse(v, "unexpected \"%s\"", argv[first]);
    return sv_api_serve(&o);
}
