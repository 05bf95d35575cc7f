/* `servos build`: the options, then build/build.h. Progress goes to
 * stderr, the image's digest to stdout (as `podman build` prints its
 * id), so `id=$(servos build -q .)` works. */
#include "cli/cli.h"
#include "build/build.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct build_args {
    struct sv_build_opts o;
    size_t n_tags, n_args;
    bool quiet;
};

static void push(char ***v, size_t *n, const char *s)
{
    *v = sv_xrealloc(*v, (*n + 2) * sizeof(char *));
    (*v)[(*n)++] = sv_xstrdup(s);
    (*v)[*n] = NULL;
}

static int build_opt(void *args, int c, const char *arg)
{
    struct build_args *a = args;
    switch (c) {
    case 't': {
        sv_error_t err = NULL;
        char *name = sv_build_image_name(arg, &err);
        if (name == NULL) {
            fprintf(stderr, "servos build: -t %s: %s\n", arg, err->msg);
            sv_error_free(&err);
            return -2;
        }
        free(name);
        push(&a->o.tags, &a->n_tags, arg);
        return 0;
    }
    case 'f':
        a->o.file = arg;
        return 0;
    case 'A':
        push(&a->o.build_args, &a->n_args, arg);
        return 0;
    case 'T':
        a->o.target = arg;
        return 0;
    case 'N':
        a->o.no_cache = true;
        return 0;
    case 'n':
        if (strcmp(arg, "none") != 0 && strcmp(arg, "host") != 0 && strcmp(arg, "default") != 0)
            return -1;
        a->o.network_none = strcmp(arg, "none") == 0;
        return 0;
    case 'P':
        return strcmp(arg, "auto") == 0 || strcmp(arg, "plain") == 0 ? 0 : -1;
    case 'q':
        a->quiet = true;
        return 0;
    }
    return -1;
}

static void on_signal(int sig)
{
    (void)sig;
    sv_build_interrupt();
}

int sv_cmd_build(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("build");
    static const struct option opts[] = {
        {"tag", required_argument, NULL, 't'},
        {"file", required_argument, NULL, 'f'},
        {"build-arg", required_argument, NULL, 'A'},
        {"target", required_argument, NULL, 'T'},
        {"no-cache", no_argument, NULL, 'N'},
        {"network", required_argument, NULL, 'n'},
        {"progress", required_argument, NULL, 'P'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct build_args a = {0};
    int code, first = sv_cli_parse_opts(v, argc, argv, ":t:f:qh", opts, build_opt, &a, &code);
    cleanup_strv char **tags = a.o.tags;
    cleanup_strv char **bargs = a.o.build_args;
    if (first < 0)
        return code;
    if (argc == first)
        return sv_cli_misuse(v, "name the build context (a directory; . for this one)");
    if (argc - first > 1)
        return sv_cli_misuse(v, "one build context, not %d", argc - first);
    a.o.context = argv[first];
    a.o.progress = a.quiet ? NULL : stderr;
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < SV_ARRAY_LEN(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
    sv_error_t err = NULL;
    char digest[SV_DIGEST_LEN + 1];
    if (sv_build_run(&a.o, digest, &err) < 0) {
        bool interrupted = err->status == EINTR;
        if (interrupted)
            fprintf(stderr, "servos build: interrupted; nothing of this build was kept\n");
        else
            sv_error_report(&err);
        sv_error_free(&err);
        return interrupted ? 130 : 1;
    }
    printf("%s\n", digest);
    return 0;
}
