/* servos: the entry point. Reads the global options (--root), then hands
 * the command line to the verb's function (the table: cli_verbs.c). */
#include "cli/cli.h"
#include "core/trace.h"
#include "core/store.h"
#include "core/util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

void sv_main_stdio_writeonly(void)
{
    /* Our stdout and stderr, when they are the user's terminal, are
     * usually read-write: a container given them could read what the user
     * types next, even after servos returns (a child left behind). A
     * write-only description of the same terminal shows output as well and
     * reads nothing. (-t gives the command a terminal of its own instead.) */
    for (int fd = 1; fd <= 2; fd++) {
        if (!isatty(fd) || (fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY)
            continue;
        char path[32];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        cleanup_close int w = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (w >= 0 && dup2(w, fd) < 0)
            perror("servos: dup2");
    }
}

int main(int argc, char **argv)
{
    /* A container that dies early closes pipes servos still writes to: that
     * is an error to report (EPIPE), not a reason for servos to die. */
    signal(SIGPIPE, SIG_IGN);
    sv_trace_init();
    /* Global options come before the verb: --root DIR. */
    while (argc > 1 && strncmp(argv[1], "--root", 6) == 0) {
        if (argv[1][6] == '=') {
            sv_set_state_root(sv_xstrdup(argv[1] + 7)); /* argv may be overwritten */
        } else if (argv[1][6] == '\0' && argc > 2) {
            sv_set_state_root(sv_xstrdup(argv[2]));
            argc--, argv++;
        } else if (argv[1][6] == '\0') {
            fprintf(stderr, "servos: --root needs a directory: servos --root DIR COMMAND ...\n");
            return 2;
        } else {
            break;
        }
        argc--, argv++;
        if (sv_state_root()[0] != '/') {
            fprintf(stderr, "servos: --root needs an absolute path\n");
            return 2;
        }
    }
    if (argc < 2) {
        main_usage(stderr);
        return 2;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0 || strcmp(verb, "help") == 0) {
        if (argc == 3 && strcmp(argv[2], "--man") == 0)
            return sv_man_print(main_usage);
        if (argc > 2 && sv_cli_find(argv[2]))
            return sv_cli_usage(sv_cli_find(argv[2]), false);
        main_usage(stdout);
        return 0;
    }
    if (strcmp(verb, "--version") == 0 || strcmp(verb, "-V") == 0)
        verb = "version";
    if (strcmp(verb, "__complete") == 0) /* hidden: names for the completion */
        return sv_cmd_complete(argc - 1, argv + 1);
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
