/* `servos help --man`: the manual page, written from the text `servos
 * --help` and each `servos VERB --help` print (cli_helptext.h), so an
 * option documented there is in the page with nothing else to keep in
 * step, and a verb whose help lives in its own file (image) is covered
 * like the rest. */
#include "cli/cli.h"
#include "cli/cli_helptext.h"
#include "core/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Text as roff reads it literally. Every "-" is \- (help2man's habit): a
 * hyphen would render as U+2010, and an option copied from the page would
 * not work; quotes likewise stay ASCII. */
static void roff_text(FILE *out, const char *s, bool line_start)
{
    for (; *s; s++, line_start = false) {
        switch (*s) {
        case '\\':
            fputs("\\e", out);
            break;
        case '-':
            fputs("\\-", out);
            break;
        case '\'':
            fputs("\\(aq", out);
            break;
        case '`':
            fputs("\\(ga", out);
            break;
        case '.':
            fputs(line_start ? "\\&." : ".", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

/* One word of a definition's term: options and literal words bold, the
 * UPPERCASE words that stand for a value italic. */
static void roff_word(FILE *out, const char *w, size_t n)
{
    bool literal = w[0] == '-' || (sv_helptext_has_lower(w, n) && !sv_helptext_has_upper(w, n));
    cleanup_free char *word = sv_xstrndup(w, n);
    fputs(literal ? "\\fB" : "\\fI", out);
    roff_text(out, word, false);
    fputs("\\fR", out);
}

static void roff_term(FILE *out, const char *term)
{
    bool first = true;
    for (const char *s = term; *s;) {
        size_t n = strcspn(s, " ");
        size_t w = n;
        while (w > 0 && s[w - 1] == ',')
            w--;
        if (!first)
            fputc(' ', out);
        if (first && *s == '.')
            fputs("\\&", out);
        first = false;
        if (w > 0)
            roff_word(out, s, w);
        fwrite(s + w, 1, n - w, out);
        s += n;
        s += strspn(s, " ");
    }
    fputc('\n', out);
}

/* A synopsis line: "servos" and the verb (and a sub-command) bold. */
static void roff_synopsis(FILE *out, const char *line)
{
    const char *s = line;
    fputs("\\fB", out);
    bool first = true;
    while (*s) {
        size_t n = strcspn(s, " ");
        if (!first && (!sv_helptext_has_lower(s, n) || sv_helptext_has_upper(s, n) ||
                       !isalpha((unsigned char)*s)))
            break;
        cleanup_free char *word = sv_xstrndup(s, n);
        fputs(first ? "" : " ", out);
        roff_text(out, word, false);
        first = false;
        s += n;
        s += strspn(s, " ");
    }
    fputs("\\fR", out);
    if (*s) {
        fputc(' ', out);
        roff_text(out, s, false);
    }
    fputc('\n', out);
}

/* The pieces of one help text, paragraphs filled, definitions as .TP. */
static void roff_help(FILE *out, const struct sv_helptext *h, bool with_usage)
{
    enum { S_START, S_USAGE, S_TEXT, S_ITEM, S_BREAK } st = S_START;
    for (size_t i = 0; i < h->n; i++) {
        const struct sv_helptext_piece *p = &h->p[i];
        if (p->kind == SV_HELPTEXT_USAGE && !with_usage)
            continue;
        if (st == S_USAGE && p->kind != SV_HELPTEXT_USAGE)
            fputs(".fi\n", out);
        switch (p->kind) {
        case SV_HELPTEXT_USAGE:
            if (st != S_USAGE)
                fputs(st == S_START ? ".nf\n" : ".PP\n.nf\n", out);
            roff_synopsis(out, p->text);
            st = S_USAGE;
            break;
        case SV_HELPTEXT_BREAK:
            if (st != S_START)
                st = S_BREAK;
            break;
        case SV_HELPTEXT_TEXT:
            if (st != S_TEXT && st != S_START)
                fputs(".PP\n", out);
            roff_text(out, p->text, true);
            fputc('\n', out);
            st = S_TEXT;
            break;
        case SV_HELPTEXT_ITEM:
            fputs(".TP\n", out);
            roff_term(out, p->text);
            if (p->desc[0])
                roff_text(out, p->desc, true);
            else
                fputs("\\&", out);
            fputc('\n', out);
            st = S_ITEM;
            break;
        }
    }
    if (st == S_USAGE)
        fputs(".fi\n", out);
}

/* The NAME line: the first sentence of the main help's first paragraph,
 * less its leading "servos " ("servos turns ... into ..." reads as
 * "servos \- turns ... into ..."). */
static char *man_name_line(const struct sv_helptext *h)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (mem == NULL)
        sv_oom();
    bool started = false;
    for (size_t i = 0; i < h->n; i++) {
        if (h->p[i].kind == SV_HELPTEXT_TEXT) {
            fprintf(mem, "%s%s", started ? " " : "", h->p[i].text);
            started = true;
        } else if (started) {
            break;
        }
    }
    fclose(mem); /* by hand: it is what sets buf */
    char *dot = strstr(buf, ". ");
    if (dot)
        dot[0] = '\0';
    len = strlen(buf);
    if (len > 0 && buf[len - 1] == '.')
        buf[len - 1] = '\0';
    if (strncmp(buf, "servos ", 7) == 0)
        memmove(buf, buf + 7, strlen(buf + 7) + 1);
    return buf;
}

/* The page's head: title, NAME, SYNOPSIS and DESCRIPTION, from the main
 * help (top). */
static void man_head(FILE *out, const struct sv_helptext *top)
{
    cleanup_free char *version = sv_helptext_version_line();
    cleanup_free char *name = man_name_line(top);
    fputs(".\\\" Written by `servos help --man` from the text of servos --help.\n", out);
    fputs(".TH SERVOS 1 \"\" \"", out);
    roff_text(out, version, false);
    /* No hyphenation (a hyphen inserted into servos.yaml or an option would
     * read as part of it) and a ragged right edge, so a narrow terminal
     * gets no warnings about lines that cannot be stretched to it. */
    fputs("\" \"User Commands\"\n.nh\n.ad l\n.SH NAME\nservos \\- ", out);
    roff_text(out, name[0] ? name : "containers", false);
    fputs("\n.SH SYNOPSIS\n.nf\n", out);
    for (size_t i = 0; i < top->n; i++)
        if (top->p[i].kind == SV_HELPTEXT_USAGE)
            roff_synopsis(out, top->p[i].text);
    fputs(".fi\n.SH DESCRIPTION\n", out);
    roff_help(out, top, false);
}

int sv_man_print(void (*main_usage)(FILE *out))
{
    cleanup_free char *main_text = NULL;
    size_t main_len = 0;
    FILE *mem = open_memstream(&main_text, &main_len);
    if (mem == NULL)
        sv_oom();
    main_usage(mem);
    fclose(mem); /* by hand: it is what sets main_text */
    struct sv_helptext top;
    sv_helptext_parse(main_text, &top);
    FILE *out = stdout;
    man_head(out, &top);
    sv_helptext_free(&top);

    fputs(".SH COMMANDS\n", out);
    for (size_t i = 0; i < sv_verb_count; i++) {
        cleanup_free char *text = sv_helptext_read(&sv_verbs[i]);
        struct sv_helptext h;
        sv_helptext_parse(text, &h);
        fprintf(out, ".SS \"servos %s\"\n", sv_verbs[i].name);
        roff_help(out, &h, true);
        sv_helptext_free(&h);
    }
    return fflush(out) == 0 && !ferror(out) ? 0 : 1;
}
