/* A verb's --help text, read back from the verb as a user would see it and
 * parsed into its pieces: what the manual page (cli_man.c) and the bash
 * completion (cli_compspec.c) are both written from, so neither has a
 * list of options of its own to keep in step.
 *
 * The help text's shape is the contract read here:
 *   usage: servos VERB ...        the synopsis (more lines may follow,
 *          servos VERB ...         indented, each starting with "servos")
 *   text at column 0              paragraphs, split by blank lines
 *     -x, --long ARG   what it does    a definition: the term indented at
 *                         most 6 columns, two spaces, the description;
 *                         deeper-indented lines continue the description
 * In a synopsis, [-x ARG] is an option, an UPPERCASE word an argument
 * (CONTAINER, SERVICE, STACK, IMAGE, REF, FILE|DIR... say what completes
 * there), a lowercase word a sub-command, and a|b|c lowercase choices. */
#ifndef SV_CLI_HELPTEXT_H
#define SV_CLI_HELPTEXT_H

#include "cli/cli.h"

#include <stdbool.h>
#include <stddef.h>

enum sv_helptext_kind {
    SV_HELPTEXT_USAGE, /* a synopsis line, without "usage: " */
    SV_HELPTEXT_TEXT,  /* a line of a paragraph */
    SV_HELPTEXT_BREAK, /* a blank line */
    SV_HELPTEXT_ITEM,  /* a definition: text is the term, desc what it does */
};

struct sv_helptext_piece {
    enum sv_helptext_kind kind;
    char *text;
    char *desc;
};

struct sv_helptext {
    struct sv_helptext_piece *p;
    size_t n;
};

/* What `servos VERB --help` prints; the table's text when that fails (it
 * is the same text, but for verbs that print their own). */
char *sv_helptext_read(const struct sv_verb *v);
/* The first line of `servos version` ("servos 0.1.0-dev"). */
char *sv_helptext_version_line(void);

void sv_helptext_parse(const char *txt, struct sv_helptext *h);
void sv_helptext_free(struct sv_helptext *h);

/* Does s[0..n) hold an upper-case (a placeholder's) or a lower-case (a
 * literal word's) letter? */
bool sv_helptext_has_upper(const char *s, size_t n);
bool sv_helptext_has_lower(const char *s, size_t n);

#endif
