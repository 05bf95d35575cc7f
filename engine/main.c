/* servos: the entry point. Dispatches to the verb functions in cli_*.c. */
#include "cli.h"
#include "util.h"

#include <string.h>

#ifndef SV_VERSION
#define SV_VERSION "0.1.0-dev"
#endif

const struct sv_verb sv_verbs[] = {
    {"config", sv_cmd_config, "print the evaluated, normalised service graph as JSON",
     "usage: servos config [-p STACK] [FILE|DIR]\n"
     "\n"
     "Evaluate an Envirofile.lua, a ProServe manifest or a Compose file (or a\n"
     "directory holding them) and print the service graph as JSON. Nothing is\n"
     "started. Without FILE|DIR, the current directory's Envirofile.lua,\n"
     "servos.yaml or compose.yaml is used.\n"
     "\n"
     "  -p, --project-name STACK   name the stack (default: stack \"...\", else the\n"
     "                             directory's name)\n"
     "  -q, --quiet                check only: print nothing, exit 0 when valid\n"
     "  -h, --help                 show this help\n"},
    {"detect", sv_cmd_detect, "show this host's platform, isolation features and boards",
     "usage: servos detect [-v] [--json]\n"
     "\n"
     "Print the platform (x86_64, arm64, rpi-arm, ...), architecture, OS and\n"
     "kernel, what isolation the host offers (cgroup mode, namespaces, user\n"
     "namespaces, seccomp, overlayfs), and boards found on USB.\n"
     "\n"
     "  -v, --verbose   also list every namespace and cgroup controller\n"
     "      --json      print JSON\n"
     "  -h, --help      show this help\n"},
    {"list-platforms", sv_cmd_list_platforms, "list the platforms and boards servos knows",
     "usage: servos list-platforms [--json]\n"
     "\n"
     "List every platform of platforms/ with its boards, toolchain packages and\n"
     "the USB ids servos detect recognises.\n"
     "\n"
     "      --json      print JSON\n"
     "  -h, --help      show this help\n"},
    {"version", sv_cmd_version, "print the version",
     "usage: servos version\n\nPrint servos' version and the versions of its libraries.\n"},
};
const size_t sv_verb_count = SV_ARRAY_LEN(sv_verbs);

const struct sv_verb *sv_cli_find(const char *name)
{
    for (size_t i = 0; i < sv_verb_count; i++)
        if (strcmp(sv_verbs[i].name, name) == 0)
            return &sv_verbs[i];
    return NULL;
}

bool sv_cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

int sv_cli_usage(const struct sv_verb *v, bool error)
{
    fputs(v->usage, error ? stderr : stdout);
    return error ? 2 : 0;
}

static void main_usage(FILE *out)
{
    fputs("usage: servos COMMAND [ARGS...]\n"
          "\n"
          "servos turns an Envirofile.lua, ProServe manifests or a Compose file into\n"
          "isolated Linux containers.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < sv_verb_count; i++)
        fprintf(out, "  %-16s %s\n", sv_verbs[i].name, sv_verbs[i].summary);
    fputs("\nRun 'servos COMMAND --help' for a command's options.\n", out);
}

int sv_cmd_version(int argc, char **argv)
{
    if (sv_cli_wants_help(argc, argv))
        return sv_cli_usage(sv_cli_find("version"), false);
    if (argc > 1)
        return sv_cli_usage(sv_cli_find("version"), true);
    printf("servos %s\n", SV_VERSION);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        main_usage(stderr);
        return 2;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0 || strcmp(verb, "help") == 0) {
        if (argc > 2 && sv_cli_find(argv[2]))
            return sv_cli_usage(sv_cli_find(argv[2]), false);
        main_usage(stdout);
        return 0;
    }
    if (strcmp(verb, "--version") == 0 || strcmp(verb, "-V") == 0)
        verb = "version";
    const struct sv_verb *v = sv_cli_find(verb);
    if (v == NULL) {
        const char *names[64];
        for (size_t i = 0; i < sv_verb_count && i < 64; i++)
            names[i] = sv_verbs[i].name;
        const char *s = sv_suggest(verb, names, sv_verb_count);
        fprintf(stderr, "servos: unknown command \"%s\"%s%s%s; see 'servos --help'\n", verb,
                s ? " (did you mean \"" : "", s ? s : "", s ? "\"?)" : "");
        return 2;
    }
    return v->run(argc - 1, argv + 1);
}
