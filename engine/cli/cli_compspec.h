/* What completes where, for one verb: its options (with their values'
 * choices or kinds), its sub-commands, and what each argument takes, read
 * from its parsed --help (cli_helptext.h). The bash script (cli_completion.c)
 * is written from it. */
#ifndef SV_CLI_COMPSPEC_H
#define SV_CLI_COMPSPEC_H

#include "cli/cli_helptext.h"

#include <stdbool.h>
#include <stddef.h>

struct sv_compspec_opt {
    char *names;  /* "-n --name" */
    char *arg;    /* its value's placeholder; NULL for a flag */
    char *values; /* choices, space-separated ("" when none are listed) */
};

struct sv_compspec_line {
    char *sub; /* the sub-command the line is about, or NULL */
    char *pos; /* what completes at each argument: "containers+" ... */
};

struct sv_compspec {
    struct sv_compspec_opt *o;
    size_t n_o;
    struct sv_compspec_line *l;
    size_t n_l;
    char *subs; /* sub-commands, space-separated */
};

void sv_compspec_parse(struct sv_compspec *cv, const char *verb, const struct sv_helptext *h);
void sv_compspec_free(struct sv_compspec *cv);

/* What completes where an UPPERCASE placeholder stands: "containers",
 * "services" ("services=" for SERVICE=N), "stacks", "image" (what `run`
 * takes: an image name, "host" or a path), "images", "files", "command"
 * (what follows belongs to the command, not to servos) or "none".
 * positional: an argument (FILE|DIR, MANIFEST.json) rather than an option's
 * value: -w DIR is a path inside the container, nothing the host has. */
const char *sv_compspec_kind(const char *w, size_t n, bool positional);

/* Append word[0..n) to a space-separated list unless it is there. */
void sv_compspec_list_add(char **list, const char *word, size_t n);
/* The words the script writes in single quotes: nothing that quoting,
 * globbing or word splitting would change. */
bool sv_compspec_shell_safe(const char *s);

#endif
