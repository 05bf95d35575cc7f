/* Finding a verb, reading its options, and what a verb says about its
 * own use: its --help, and a misuse in one line. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

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

/* The first line of v's usage, without "usage: ". */
static void usage_line(const struct sv_verb *v, const char **line, int *len)
{
    const char *u = v->usage;
    if (strncmp(u, "usage: ", 7) == 0)
        u += 7;
    *line = u;
    *len = (int)strcspn(u, "\n");
}

int sv_cli_usage(const struct sv_verb *v, bool error)
{
    if (!error) {
        fputs(v->usage, stdout);
        return 0;
    }
    /* A misuse whose caller could not say more: still one line, not the
     * whole help above the shell prompt. */
    const char *line;
    int len;
    usage_line(v, &line, &len);
    fprintf(stderr, "servos %s: usage: %.*s (servos %s --help explains)\n", v->name, len, line,
            v->name);
    return 2;
}

int sv_cli_misuse(const struct sv_verb *v, const char *fmt, ...)
{
    const char *line;
    int len;
    usage_line(v, &line, &len);
    fprintf(stderr, "servos %s: ", v->name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; usage: %.*s\n", len, line);
    return 2;
}

char *sv_cli_option_error(int c, char **argv)
{
    /* getopt leaves the option in optopt (a short one, or the long one's
     * value when it was given a value it takes none of or lacks its own),
     * and a long one in the element before optind. */
    const char *elem = optind > 0 ? argv[optind - 1] : "";
    bool is_long = strncmp(elem, "--", 2) == 0 && elem[2] != '\0';
    int name_len = is_long ? (int)strcspn(elem, "=") : 0;
    if (c == ':' && is_long)
        return sv_xasprintf("%.*s needs a value", name_len, elem);
    if (c == ':')
        return sv_xasprintf("-%c needs a value", optopt);
    if (is_long && optopt != 0 && elem[name_len] == '=')
        return sv_xasprintf("%.*s takes no value", name_len, elem);
    if (is_long && optopt == 0)
        return sv_xasprintf("unknown option \"%.*s\"", name_len, elem);
    if (optopt > ' ' && optopt < 127)
        return sv_xasprintf("unknown option \"-%c\"", optopt);
    return sv_xasprintf("unknown option \"%s\"", elem);
}

int sv_cli_bad_option(const struct sv_verb *v, int c, char **argv)
{
    cleanup_free char *what = sv_cli_option_error(c, argv);
    return sv_cli_misuse(v, "%s", what);
}

int sv_cli_parse_opts(const struct sv_verb *v, int argc, char **argv, const char *shortopts,
                      const struct option *longopts, sv_cli_opt_fn *on, void *args, int *code)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
        if (c == 'h') {
            *code = sv_cli_usage(v, false);
            return -1;
        }
        if (c == '?' || c == ':' || on == NULL) {
            *code = sv_cli_bad_option(v, c, argv);
            return -1;
        }
        int rc = on(args, c, optarg);
        if (rc == -2) { /* on() said what is wrong, in one line */
            *code = 2;
            return -1;
        }
        if (rc < 0) {
            const char *name = "";
            for (const struct option *o = longopts; o->name; o++)
                if (o->val == c)
                    name = o->name;
            *code = sv_cli_misuse(v, "bad value \"%s\" for --%s", optarg ? optarg : "", name);
            return -1;
        }
    }
    return optind;
}
