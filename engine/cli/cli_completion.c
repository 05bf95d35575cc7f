/* `servos help --man` and `servos completion bash`: the manual page and the
 * bash completion script, both written from the text `servos VERB --help`
 * prints. Each verb's help is read back from the verb itself, as a user
 * would see it, so an option documented there is in the page and completes
 * with nothing else to keep in step, and a verb whose help lives in its own
 * file (image) is covered like the rest.
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
 * there), a lowercase word a sub-command, and a|b|c lowercase choices.
 *
 * `servos __complete KIND` (hidden) lists what the completion offers at the
 * time of the <TAB>: containers, stacks, a stack's services, images. It only
 * reads the state root, and prints nothing where there is none. */
#include "lua/load.h"
#include "cli/cli.h"
#include "image/imgstore.h"
#include "stack/stack.h"
#include "core/store.h"
#include "core/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- reading --help back -------------------------------------------------------- */

/* What `servos ARGV...` prints on stdout, from a child that runs the verb
 * as the command line would (its getopt state, globals and exit stay its
 * own); NULL when it fails or prints nothing. */
static char *verb_output(const struct sv_verb *v, int argc, char **argv)
{
    int fd[2];
    if (pipe2(fd, O_CLOEXEC) < 0)
        return NULL;
    fflush(NULL); /* the child must not print what this process buffered */
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return NULL;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(fd[1], STDOUT_FILENO) < 0 ||
            dup2(null, STDERR_FILENO) < 0)
            _exit(127);
        /* A verb that ignored --help and went to work must not hold up
         * `make install`: it gets 10 s. */
        alarm(10);
        int rc = v->run(argc, argv);
        fflush(stdout);
        _exit(rc);
    }
    close(fd[1]);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (mem == NULL)
        sv_oom();
    char chunk[4096];
    ssize_t r;
    while ((r = read(fd[0], chunk, sizeof(chunk))) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            break;
        fwrite(chunk, 1, (size_t)r, mem);
    }
    fclose(mem);
    close(fd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || len == 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* What `servos VERB --help` prints; the table's text when that fails (it
 * is the same text, but for verbs that print their own). */
static char *verb_help(const struct sv_verb *v)
{
    char *argv[] = {(char *)v->name, "--help", NULL};
    char *text = verb_output(v, 2, argv);
    return text ? text : sv_xstrdup(v->usage);
}

/* The first line of `servos version` ("servos 0.1.0-dev"). */
static char *version_line(void)
{
    const struct sv_verb *v = sv_cli_find("version");
    char *argv[] = {"version", NULL};
    char *text = v ? verb_output(v, 1, argv) : NULL;
    if (text == NULL || text[0] == '\n') {
        free(text);
        return sv_xstrdup("servos");
    }
    text[strcspn(text, "\n")] = '\0';
    return text;
}

/* ---- the help text, parsed ------------------------------------------------------ */

enum piece_kind {
    P_USAGE, /* a synopsis line, without "usage: " */
    P_TEXT,  /* a line of a paragraph */
    P_BREAK, /* a blank line */
    P_ITEM,  /* a definition: text is the term, desc what it does */
};

struct piece {
    enum piece_kind kind;
    char *text;
    char *desc;
};

struct help {
    struct piece *p;
    size_t n;
};

/* Deeper than this, an indented line continues the definition above it. */
#define TERM_MAX_INDENT 6

static void help_push(struct help *h, enum piece_kind kind, char *text, char *desc)
{
    h->p = sv_xrealloc(h->p, (h->n + 1) * sizeof(*h->p));
    h->p[h->n++] = (struct piece){kind, text, desc};
}

static void help_free(struct help *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->p[i].text);
        free(h->p[i].desc);
    }
    free(h->p);
    *h = (struct help){0};
}

static size_t indent_of(const char *s)
{
    size_t n = 0;
    while (s[n] == ' ')
        n++;
    return n;
}

static void help_parse(const char *txt, struct help *h)
{
    bool in_usage = false;
    size_t item = SIZE_MAX; /* the definition continuation lines extend */
    *h = (struct help){0};
    for (const char *s = txt; *s;) {
        size_t len = strcspn(s, "\n");
        cleanup_free char *line = sv_xstrndup(s, len);
        s += len + (s[len] == '\n');
        size_t end = strlen(line);
        while (end > 0 && isspace((unsigned char)line[end - 1]))
            line[--end] = '\0';
        size_t ind = indent_of(line);
        if (strncmp(line, "usage: ", 7) == 0) {
            help_push(h, P_USAGE, sv_xstrdup(line + 7 + indent_of(line + 7)), NULL);
            in_usage = true;
            item = SIZE_MAX;
            continue;
        }
        if (in_usage && ind > 0 && strncmp(line + ind, "servos ", 7) == 0) {
            help_push(h, P_USAGE, sv_xstrdup(line + ind), NULL);
            continue;
        }
        in_usage = false;
        if (line[0] == '\0') {
            help_push(h, P_BREAK, NULL, NULL);
            item = SIZE_MAX;
        } else if (ind == 0) {
            help_push(h, P_TEXT, sv_xstrdup(line), NULL);
            item = SIZE_MAX;
        } else if (ind > TERM_MAX_INDENT && item != SIZE_MAX) {
            char *d = h->p[item].desc;
            h->p[item].desc = sv_xasprintf("%s%s%s", d, d[0] ? " " : "", line + ind);
            free(d);
        } else if (ind > TERM_MAX_INDENT) {
            help_push(h, P_TEXT, sv_xstrdup(line + ind), NULL);
        } else {
            const char *term = line + ind;
            const char *gap = strstr(term, "  ");
            help_push(h, P_ITEM, sv_xstrndup(term, gap ? (size_t)(gap - term) : strlen(term)),
                      sv_xstrdup(gap ? gap + indent_of(gap) : ""));
            item = h->n - 1;
        }
    }
}

/* ---- the manual page ------------------------------------------------------------ */

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

static bool has_upper(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isupper((unsigned char)s[i]))
            return true;
    return false;
}

static bool has_lower(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (islower((unsigned char)s[i]))
            return true;
    return false;
}

/* One word of a definition's term: options and literal words bold, the
 * UPPERCASE words that stand for a value italic. */
static void roff_word(FILE *out, const char *w, size_t n)
{
    bool literal = w[0] == '-' || (has_lower(w, n) && !has_upper(w, n));
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
        if (!first && (!has_lower(s, n) || has_upper(s, n) || !isalpha((unsigned char)*s)))
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
static void roff_help(FILE *out, const struct help *h, bool with_usage)
{
    enum { S_START, S_USAGE, S_TEXT, S_ITEM, S_BREAK } st = S_START;
    for (size_t i = 0; i < h->n; i++) {
        const struct piece *p = &h->p[i];
        if (p->kind == P_USAGE && !with_usage)
            continue;
        if (st == S_USAGE && p->kind != P_USAGE)
            fputs(".fi\n", out);
        switch (p->kind) {
        case P_USAGE:
            if (st != S_USAGE)
                fputs(st == S_START ? ".nf\n" : ".PP\n.nf\n", out);
            roff_synopsis(out, p->text);
            st = S_USAGE;
            break;
        case P_BREAK:
            if (st != S_START)
                st = S_BREAK;
            break;
        case P_TEXT:
            if (st != S_TEXT && st != S_START)
                fputs(".PP\n", out);
            roff_text(out, p->text, true);
            fputc('\n', out);
            st = S_TEXT;
            break;
        case P_ITEM:
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
static char *man_name_line(const struct help *h)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (mem == NULL)
        sv_oom();
    bool started = false;
    for (size_t i = 0; i < h->n; i++) {
        if (h->p[i].kind == P_TEXT) {
            fprintf(mem, "%s%s", started ? " " : "", h->p[i].text);
            started = true;
        } else if (started) {
            break;
        }
    }
    fclose(mem);
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

int sv_cli_man(void (*main_usage)(FILE *out))
{
    char *main_text = NULL;
    size_t main_len = 0;
    FILE *mem = open_memstream(&main_text, &main_len);
    if (mem == NULL)
        sv_oom();
    main_usage(mem);
    fclose(mem);
    struct help top;
    help_parse(main_text, &top);
    free(main_text);

    cleanup_free char *version = version_line();
    cleanup_free char *name = man_name_line(&top);
    FILE *out = stdout;
    fputs(".\\\" Written by `servos help --man` from the text of servos --help.\n", out);
    fputs(".TH SERVOS 1 \"\" \"", out);
    roff_text(out, version, false);
    /* No hyphenation (a hyphen inserted into servos.yaml or an option would
     * read as part of it) and a ragged right edge, so a narrow terminal
     * gets no warnings about lines that cannot be stretched to it. */
    fputs("\" \"User Commands\"\n.nh\n.ad l\n.SH NAME\nservos \\- ", out);
    roff_text(out, name[0] ? name : "containers", false);
    fputs("\n.SH SYNOPSIS\n.nf\n", out);
    for (size_t i = 0; i < top.n; i++)
        if (top.p[i].kind == P_USAGE)
            roff_synopsis(out, top.p[i].text);
    fputs(".fi\n.SH DESCRIPTION\n", out);
    roff_help(out, &top, false);
    help_free(&top);

    fputs(".SH COMMANDS\n", out);
    for (size_t i = 0; i < sv_verb_count; i++) {
        cleanup_free char *text = verb_help(&sv_verbs[i]);
        struct help h;
        help_parse(text, &h);
        fprintf(out, ".SS \"servos %s\"\n", sv_verbs[i].name);
        roff_help(out, &h, true);
        help_free(&h);
    }
    return fflush(out) == 0 && !ferror(out) ? 0 : 1;
}

/* ---- what completes where ------------------------------------------------------- */

struct comp_opt {
    char *names;  /* "-n --name" */
    char *arg;    /* its value's placeholder; NULL for a flag */
    char *values; /* choices, space-separated ("" when none are listed) */
};

struct comp_line {
    char *sub; /* the sub-command the line is about, or NULL */
    char *pos; /* what completes at each argument: "containers+" ... */
};

struct comp_verb {
    struct comp_opt *o;
    size_t n_o;
    struct comp_line *l;
    size_t n_l;
    char *subs; /* sub-commands, space-separated */
};

static void comp_verb_free(struct comp_verb *cv)
{
    for (size_t i = 0; i < cv->n_o; i++) {
        free(cv->o[i].names);
        free(cv->o[i].arg);
        free(cv->o[i].values);
    }
    for (size_t i = 0; i < cv->n_l; i++) {
        free(cv->l[i].sub);
        free(cv->l[i].pos);
    }
    free(cv->o);
    free(cv->l);
    free(cv->subs);
}

/* Append word to a space-separated list unless it is there. */
static void list_add(char **list, const char *word, size_t n)
{
    cleanup_free char *w = sv_xstrndup(word, n);
    if (w[0] == '\0')
        return;
    for (const char *s = *list ? *list : ""; *s;) {
        size_t k = strcspn(s, " ");
        if (k == strlen(w) && strncmp(s, w, k) == 0)
            return;
        s += k + (s[k] == ' ');
    }
    char *old = *list;
    *list = sv_xasprintf("%s%s%s", old ? old : "", old && old[0] ? " " : "", w);
    free(old);
}

/* The words the script writes in single quotes: nothing that quoting,
 * globbing or word splitting would change. */
static bool shell_safe(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_=.:,/+@-", *s))
            return false;
    return true;
}

static struct comp_opt *comp_find_opt(struct comp_verb *cv, const char *name, size_t n)
{
    for (size_t i = 0; i < cv->n_o; i++)
        for (const char *s = cv->o[i].names; *s;) {
            size_t k = strcspn(s, " ");
            if (k == n && strncmp(s, name, n) == 0)
                return &cv->o[i];
            s += k + (s[k] == ' ');
        }
    return NULL;
}

/* An option as "-x, --long ARG" (a definition's term) or "-x ARG" (in a
 * synopsis): names starting with "-", then at most one placeholder. A
 * placeholder in lowercase lists the choices ("none|host"); an option on
 * several lines ("--security-opt seccomp=unconfined") gathers them. */
static void comp_add_opt(struct comp_verb *cv, const char *spec)
{
    cleanup_free char *names = NULL;
    cleanup_free char *arg = NULL;
    for (const char *s = spec; *s;) {
        size_t n = strcspn(s, " ");
        size_t w = n;
        while (w > 0 && s[w - 1] == ',')
            w--;
        if (s[0] == '-' && arg == NULL) {
            cleanup_free char *name = sv_xstrndup(s, w);
            if (shell_safe(name))
                list_add(&names, s, w);
        } else if (arg == NULL && w > 0) {
            arg = sv_xstrndup(s, w);
        }
        s += n;
        s += strspn(s, " ");
    }
    if (names == NULL)
        return;
    struct comp_opt *o = NULL;
    for (const char *s = names; *s && o == NULL;) {
        size_t k = strcspn(s, " ");
        o = comp_find_opt(cv, s, k);
        s += k + (s[k] == ' ');
    }
    if (o == NULL) {
        cv->o = sv_xrealloc(cv->o, (cv->n_o + 1) * sizeof(*cv->o));
        o = &cv->o[cv->n_o++];
        *o = (struct comp_opt){NULL, NULL, sv_xstrdup("")};
    }
    for (const char *s = names; *s;) {
        size_t k = strcspn(s, " ");
        list_add(&o->names, s, k);
        s += k + (s[k] == ' ');
    }
    if (arg == NULL)
        return;
    if (o->arg == NULL || has_upper(arg, strlen(arg))) {
        free(o->arg);
        o->arg = sv_xstrdup(arg);
    }
    if (has_lower(arg, strlen(arg)) && !has_upper(arg, strlen(arg)))
        for (const char *s = arg; *s;) {
            size_t k = strcspn(s, "|");
            cleanup_free char *choice = sv_xstrndup(s, k);
            if (shell_safe(choice))
                list_add(&o->values, s, k);
            s += k + (s[k] == '|');
        }
}

/* What completes where an UPPERCASE placeholder stands: "containers",
 * "services" ("services=" for SERVICE=N), "stacks", "image" (what `run`
 * takes: an image name, "host" or a path), "images", "files", "command"
 * (what follows belongs to the command, not to servos) or "none".
 * positional: an argument (FILE|DIR, MANIFEST.json) rather than an option's
 * value: -w DIR is a path inside the container, nothing the host has. */
static const char *placeholder_kind(const char *w, size_t n, bool positional)
{
    cleanup_free char *p = sv_xstrndup(w, n);
    size_t len = strlen(p);
    if (len > 3 && strcmp(p + len - 3, "...") == 0)
        p[len - 3] = '\0';
    if (strstr(p, "CONTAINER"))
        return "containers";
    if (strstr(p, "SERVICE"))
        return strchr(p, '=') ? "services=" : "services";
    if (strstr(p, "STACK"))
        return "stacks";
    if (strcmp(p, "IMAGE") == 0)
        return "image";
    if (strcmp(p, "REF") == 0)
        return "images";
    if (strstr(p, "COMMAND"))
        return "command";
    if (strstr(p, "FILE") || strstr(p, "SRC") || strstr(p, "PATH"))
        return "files";
    if (positional && (strstr(p, "DIR") || strchr(p, '.')))
        return "files";
    return "none";
}

/* A synopsis' elements: its words, each [...] group whole. */
static char **syn_elements(const char *s)
{
    char **v = sv_xcalloc(1, sizeof(char *));
    size_t n = 0;
    while (*s) {
        s += strspn(s, " ");
        if (*s == '\0')
            break;
        const char *start = s;
        int depth = 0;
        for (; *s && (depth > 0 || *s != ' '); s++) {
            if (*s == '[')
                depth++;
            else if (*s == ']' && depth > 0)
                depth--;
        }
        v = sv_xrealloc(v, (n + 2) * sizeof(char *));
        v[n++] = sv_xstrndup(start, (size_t)(s - start));
        v[n] = NULL;
    }
    return v;
}

/* One synopsis line: its options, its sub-command (a lowercase word right
 * after the verb) and what completes at each of its arguments. */
static void comp_synopsis(struct comp_verb *cv, const char *verb, const char *line)
{
    char **el = syn_elements(line);
    size_t i = 0;
    if (el[i] && strcmp(el[i], "servos") == 0)
        i++;
    if (el[i] && strcmp(el[i], verb) == 0)
        i++;
    cleanup_free char *sub = NULL;
    char *pos = NULL;
    size_t args = 0; /* arguments and sub-commands seen */
    for (; el[i]; i++) {
        const char *e = el[i];
        size_t n = strlen(e);
        if (strchr("<>|", e[0])) /* "< request.json": the shell's, not servos' */
            break;
        bool optional = n >= 2 && e[0] == '[' && e[n - 1] == ']';
        cleanup_free char *inner = optional ? sv_xstrndup(e + 1, n - 2) : sv_xstrdup(e);
        bool repeat = strstr(inner, "...") != NULL;
        cleanup_free char *kinds = NULL;
        bool literal = false;
        /* Alternatives: "-p STACK | STACK", "SERVICE[-N] | CONTAINER". */
        for (char *alt = inner; alt && *alt;) {
            char *bar = strstr(alt, " | ");
            if (bar)
                *bar = '\0';
            alt += strspn(alt, " ");
            char *next = bar ? bar + 3 : NULL;
            if (alt[0] == '-') {
                comp_add_opt(cv, alt);
                alt = next;
                continue;
            }
            size_t wl = strcspn(alt, " [");
            if (wl == 0 || (wl == 7 && strncmp(alt, "OPTIONS", 7) == 0)) {
                alt = next;
                continue;
            }
            bool lower = has_lower(alt, wl) && !has_upper(alt, wl);
            for (const char *s = alt; s < alt + wl;) {
                size_t k = strcspn(s, "|");
                if (s + k > alt + wl)
                    k = (size_t)(alt + wl - s);
                cleanup_free char *part = sv_xstrndup(s, k);
                if (lower && args == 0 && shell_safe(part)) {
                    list_add(&cv->subs, s, k);
                    literal = true;
                    if (wl == k && sub == NULL)
                        sub = sv_xstrndup(s, k);
                } else if (!lower) {
                    const char *kind = placeholder_kind(s, k, true);
                    if (strcmp(kind, "none") != 0 || kinds == NULL)
                        list_add(&kinds, kind, strlen(kind));
                }
                s += k + (s[k] == '|');
            }
            alt = next;
        }
        if (kinds) {
            /* "none" comes first or not at all: FILE|DIR|GIT-SOURCE is
             * "files", what is known wins. */
            if (strncmp(kinds, "none ", 5) == 0)
                memmove(kinds, kinds + 5, strlen(kinds + 5) + 1);
            for (char *c = kinds; *c; c++)
                if (*c == ' ')
                    *c = ',';
            char *old = pos;
            pos =
                sv_xasprintf("%s%s%s%s", old ? old : "", old ? " " : "", kinds, repeat ? "+" : "");
            free(old);
        }
        if (kinds || literal)
            args++;
    }
    sv_strv_free(el);
    cv->l = sv_xrealloc(cv->l, (cv->n_l + 1) * sizeof(*cv->l));
    cv->l[cv->n_l++] = (struct comp_line){sv_steal(sub), pos ? pos : sv_xstrdup("")};
}

static void comp_parse(struct comp_verb *cv, const char *verb, const struct help *h)
{
    *cv = (struct comp_verb){0};
    /* Definitions first: they pair -x with --long. */
    for (size_t i = 0; i < h->n; i++)
        if (h->p[i].kind == P_ITEM && h->p[i].text[0] == '-')
            comp_add_opt(cv, h->p[i].text);
    for (size_t i = 0; i < h->n; i++)
        if (h->p[i].kind == P_USAGE)
            comp_synopsis(cv, verb, h->p[i].text);
}

/* The script's part that never changes: how a command line is read and
 * what each kind of argument completes with. */
static const char completion_body[] =
    "# The words of $1 that start with what is being completed.\n"
    "_servos_add()\n"
    "{\n"
    "    local IFS=$' \\t\\n' w\n"
    "    local -a ws\n"
    "    read -r -d '' -a ws <<<\"$1\"\n"
    "    for w in \"${ws[@]}\"; do\n"
    "        [[ $w == \"$_servos_cur\"* ]] && COMPREPLY+=(\"$w\")\n"
    "    done\n"
    "    return 0\n"
    "}\n"
    "\n"
    "_servos_files()\n"
    "{\n"
    "    local -a fs\n"
    "    compopt -o filenames 2>/dev/null\n"
    "    mapfile -t fs < <(compgen -f -- \"$_servos_cur\")\n"
    "    COMPREPLY+=(\"${fs[@]}\")\n"
    "}\n"
    "\n"
    "# Names the state holds now: containers, stacks, services [STACK], images.\n"
    "_servos_names()\n"
    "{\n"
    "    \"${_servos_cmd[@]}\" __complete \"$@\" 2>/dev/null\n"
    "}\n"
    "\n"
    "# Complete one argument of the kinds in $1 (comma-separated).\n"
    "_servos_kind()\n"
    "{\n"
    "    local k s IFS=$' \\t\\n'\n"
    "    for k in ${1//,/ }; do\n"
    "        case $k in\n"
    "        files) _servos_files ;;\n"
    "        image)\n"
    "            _servos_add host\n"
    "            _servos_add \"$(_servos_names images)\"\n"
    "            _servos_files\n"
    "            ;;\n"
    "        containers | stacks | images) _servos_add \"$(_servos_names \"$k\")\" ;;\n"
    "        services) _servos_add \"$(_servos_names services \"$_servos_stack\")\" ;;\n"
    "        services=)\n"
    "            for s in $(_servos_names services \"$_servos_stack\"); do\n"
    "                [[ $s= == \"$_servos_cur\"* ]] && COMPREPLY+=(\"$s=\")\n"
    "            done\n"
    "            compopt -o nospace 2>/dev/null\n"
    "            ;;\n"
    "        esac\n"
    "    done\n"
    "    return 0\n"
    "}\n"
    "\n"
    "# Sets _servos_k: the kinds the argument at index $1 takes ($pos).\n"
    "_servos_at()\n"
    "{\n"
    "    local IFS=$' \\t\\n'\n"
    "    local -a p=($pos)\n"
    "    local n=${#p[@]}\n"
    "    _servos_k=\n"
    "    if (($1 < n)); then\n"
    "        _servos_k=${p[$1]}\n"
    "    elif ((n > 0)) && [[ ${p[n - 1]} == *+ ]]; then\n"
    "        _servos_k=${p[n - 1]}\n"
    "    fi\n"
    "    _servos_k=${_servos_k%+}\n"
    "}\n"
    "\n"
    "# Readline replaces only what follows the last word-break character (\":\"\n"
    "# in alpine:3.20, \"=\" in --network=host): the candidates lose that prefix.\n"
    "_servos_trim()\n"
    "{\n"
    "    local wb=${COMP_WORDBREAKS-$' \\t\\n\"\\'@><=;|&(:'} pre= k\n"
    "    for ((k = 0; k < ${#_servos_cur}; k++)); do\n"
    "        [[ $wb == *\"${_servos_cur:k:1}\"* ]] && pre=${_servos_cur:0:k+1}\n"
    "    done\n"
    "    [[ -n $pre ]] && COMPREPLY=(\"${COMPREPLY[@]#\"$pre\"}\")\n"
    "    return 0\n"
    "}\n"
    "\n"
    "_servos()\n"
    "{\n"
    "    local IFS=$' \\t\\n' _servos_cur _servos_stack= _servos_want= _servos_k= line\n"
    "    local verb= sub= npos=0 i w n opts= argopts= stackopts= subs= pos=\n"
    "    local -a words _servos_cmd\n"
    "    COMPREPLY=()\n"
    "    # The line up to the cursor, split at blanks only (bash's own words\n"
    "    # also split at \":\" and \"=\").\n"
    "    if [[ -n ${COMP_LINE+set} && -n ${COMP_POINT+set} ]]; then\n"
    "        line=${COMP_LINE:0:COMP_POINT}\n"
    "        read -r -a words <<<\"$line\"\n"
    "        [[ -z $line || $line == *[[:space:]] ]] && words+=(\"\")\n"
    "    else\n"
    "        words=(\"${COMP_WORDS[@]:0:COMP_CWORD+1}\")\n"
    "    fi\n"
    "    n=$((${#words[@]} - 1))\n"
    "    ((n >= 1)) || return 0\n"
    "    _servos_cur=${words[n]}\n"
    "    _servos_cmd=(\"${words[0]}\")\n"
    "    for ((i = 1; i < n; i++)); do\n"
    "        w=${words[i]}\n"
    "        if [[ -z $verb ]]; then\n"
    "            case $w in\n"
    "            --root)\n"
    "                if ((i + 1 < n)); then\n"
    "                    _servos_cmd+=(--root \"${words[i + 1]}\")\n"
    "                    ((i++))\n"
    "                else\n"
    "                    _servos_want=--root\n"
    "                fi\n"
    "                ;;\n"
    "            --root=*) _servos_cmd+=(\"$w\") ;;\n"
    "            -*) ;;\n"
    "            *)\n"
    "                verb=$w\n"
    "                _servos_spec \"$verb\"\n"
    "                ;;\n"
    "            esac\n"
    "            continue\n"
    "        fi\n"
    "        case $w in\n"
    "        --*=*) [[ \" $stackopts \" == *\" ${w%%=*} \"* ]] && _servos_stack=${w#*=} ;;\n"
    "        -?*)\n"
    "            if [[ \" $argopts \" == *\" $w \"* ]]; then\n"
    "                if ((i + 1 < n)); then\n"
    "                    [[ \" $stackopts \" == *\" $w \"* ]] && _servos_stack=${words[i + 1]}\n"
    "                    ((i++))\n"
    "                else\n"
    "                    _servos_want=$w\n"
    "                fi\n"
    "            fi\n"
    "            ;;\n"
    "        *)\n"
    "            if [[ -n $subs && -z $sub ]]; then\n"
    "                sub=$w\n"
    "                _servos_spec \"$verb $sub\"\n"
    "            else\n"
    "                # After the command a container runs, the words are its own.\n"
    "                _servos_at \"$npos\"\n"
    "                [[ $_servos_k == command ]] && return 0\n"
    "                ((npos++))\n"
    "            fi\n"
    "            ;;\n"
    "        esac\n"
    "    done\n"
    "    if [[ -z $verb ]]; then\n"
    "        if [[ $_servos_want == --root ]]; then\n"
    "            _servos_files\n"
    "        elif [[ $_servos_cur == -* ]]; then\n"
    "            _servos_add \"$_servos_global\"\n"
    "        else\n"
    "            _servos_add \"$_servos_verbs\"\n"
    "        fi\n"
    "    elif [[ -n $_servos_want ]]; then\n"
    "        _servos_value \"$verb\" \"$_servos_want\"\n"
    "    elif [[ $_servos_cur == --*=* ]]; then\n"
    "        w=${_servos_cur%%=*}\n"
    "        _servos_cur=${_servos_cur#*=}\n"
    "        [[ \" $argopts \" == *\" $w \"* ]] && _servos_value \"$verb\" \"$w\"\n"
    "    else\n"
    "        _servos_at \"$npos\"\n"
    "        if [[ $_servos_k == command ]]; then\n"
    "            return 0\n"
    "        elif [[ $_servos_cur == -* ]]; then\n"
    "            _servos_add \"$opts\"\n"
    "        elif [[ -n $subs && -z $sub ]]; then\n"
    "            _servos_add \"$subs\"\n"
    "        else\n"
    "            _servos_kind \"$_servos_k\"\n"
    "        fi\n"
    "    fi\n"
    "    _servos_trim\n"
    "}\n"
    "\n"
    "complete -F _servos servos\n";

/* What main() reads before the verb, whatever the verbs' help says. */
static const char global_options[] = "--root --help -h --version -V";

static void emit_list(FILE *out, const char *var, const char *list)
{
    fprintf(out, "        %s='%s'\n", var, list ? list : "");
}

/* The case entries of _servos_value for one verb: an option's choices, or
 * the kind of name its value is. */
static void emit_values(FILE *out, const char *verb, const struct comp_verb *cv)
{
    for (size_t i = 0; i < cv->n_o; i++) {
        const struct comp_opt *o = &cv->o[i];
        if (o->arg == NULL)
            continue;
        const char *kind = strstr(o->names, "--project-name") ? "stacks"
                           : has_upper(o->arg, strlen(o->arg))
                               ? placeholder_kind(o->arg, strlen(o->arg), false)
                               : "none";
        if (o->values[0] == '\0' && strcmp(kind, "none") == 0)
            continue;
        fputs("    ", out);
        bool first = true;
        for (const char *s = o->names; *s;) {
            size_t k = strcspn(s, " ");
            fprintf(out, "%s'%s %.*s'", first ? "" : " | ", verb, (int)k, s);
            first = false;
            s += k + (s[k] == ' ');
        }
        fputs(")", out);
        if (o->values[0])
            fprintf(out, " _servos_add '%s'%s", o->values, strcmp(kind, "none") ? ";" : "");
        if (strcmp(kind, "none") != 0)
            fprintf(out, " _servos_kind %s", kind);
        fputs(" ;;\n", out);
    }
}

static int completion_bash(void)
{
    FILE *out = stdout;
    struct comp_verb *cvs = sv_xcalloc(sv_verb_count, sizeof(*cvs));
    char *verbs = NULL;
    for (size_t i = 0; i < sv_verb_count; i++) {
        const char *name = sv_verbs[i].name;
        if (!shell_safe(name))
            continue;
        cleanup_free char *text = verb_help(&sv_verbs[i]);
        struct help h;
        help_parse(text, &h);
        comp_parse(&cvs[i], name, &h);
        help_free(&h);
        list_add(&verbs, name, strlen(name));
    }
    list_add(&verbs, "help", 4);

    fputs("# bash completion for servos(1), written by `servos completion bash` from\n"
          "# the text each command's --help prints: the verbs, their options and the\n"
          "# options' choices. Container, stack, service and image names come from\n"
          "# `servos __complete` at each <TAB>. Load it with\n"
          "#   source <(servos completion bash)\n"
          "# or install it as share/bash-completion/completions/servos (make install).\n"
          "\n",
          out);
    fprintf(out, "_servos_verbs='%s'\n", verbs);
    fprintf(out, "_servos_global='%s'\n\n", global_options);
    fputs("# Sets opts, argopts (those that take a value), stackopts (whose value is\n"
          "# a stack), subs (sub-commands) and pos (what each argument takes) for\n"
          "# \"VERB\" or \"VERB SUB-COMMAND\".\n"
          "_servos_spec()\n{\n    case $1 in\n",
          out);
    for (size_t i = 0; i < sv_verb_count; i++) {
        const struct comp_verb *cv = &cvs[i];
        const char *name = sv_verbs[i].name;
        if (!shell_safe(name))
            continue;
        cleanup_free char *opts = NULL;
        cleanup_free char *argopts = NULL;
        cleanup_free char *stackopts = NULL;
        for (size_t k = 0; k < cv->n_o; k++) {
            const struct comp_opt *o = &cv->o[k];
            list_add(&opts, o->names, strlen(o->names));
            if (o->arg)
                list_add(&argopts, o->names, strlen(o->names));
            if (o->arg && (strstr(o->names, "--project-name") ||
                           strcmp(placeholder_kind(o->arg, strlen(o->arg), false), "stacks") == 0))
                list_add(&stackopts, o->names, strlen(o->names));
        }
        const char *pos = "";
        for (size_t k = 0; k < cv->n_l; k++)
            if (cv->l[k].sub == NULL)
                pos = cv->l[k].pos;
        fprintf(out, "    '%s')\n", name);
        emit_list(out, "opts", opts);
        emit_list(out, "argopts", argopts);
        emit_list(out, "stackopts", stackopts);
        emit_list(out, "subs", cv->subs);
        emit_list(out, "pos", pos);
        fputs("        ;;\n", out);
        for (size_t k = 0; k < cv->n_l; k++)
            if (cv->l[k].sub)
                fprintf(out, "    '%s %s') pos='%s' ;;\n", name, cv->l[k].sub, cv->l[k].pos);
    }
    fputs("    'help')\n", out);
    emit_list(out, "opts", "--man");
    fputs("        subs=$_servos_verbs\n        ;;\n    esac\n}\n\n", out);

    fputs("# Completes the value of option $2 of verb $1.\n"
          "_servos_value()\n{\n    case \"$1 $2\" in\n",
          out);
    for (size_t i = 0; i < sv_verb_count; i++)
        if (shell_safe(sv_verbs[i].name))
            emit_values(out, sv_verbs[i].name, &cvs[i]);
    fputs("    esac\n    return 0\n}\n\n", out);
    fputs(completion_body, out);

    for (size_t i = 0; i < sv_verb_count; i++)
        comp_verb_free(&cvs[i]);
    free(cvs);
    free(verbs);
    return fflush(out) == 0 && !ferror(out) ? 0 : 1;
}

int sv_cmd_completion(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("completion");
    if (sv_cli_wants_help(argc, argv))
        return sv_cli_usage(v, false);
    if (argc > 1 && argv[1][0] == '-')
        return sv_cli_misuse(v, "unknown option \"%s\"", argv[1]);
    if (argc != 2 || strcmp(argv[1], "bash") != 0)
        return sv_cli_misuse(v, "which shell? only bash is known");
    return completion_bash();
}

/* ---- servos __complete: names for the completion -------------------------------- */

/* Does the state root hold rel? The completion never creates state. */
static bool state_has(const char *rel)
{
    cleanup_free char *p = sv_xasprintf("%s/%s", sv_state_root(), rel);
    return access(p, R_OK) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void words_add(char ***v, size_t *n, const char *w)
{
    if (w == NULL || w[0] == '\0' || !shell_safe(w))
        return;
    *v = sv_xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = sv_xstrdup(w);
}

/* Print the words sorted, each once, and free them. */
static void words_print(char **v, size_t n)
{
    if (n > 0)
        qsort(v, n, sizeof(*v), cmp_str);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
            puts(v[i]);
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Every container's row; none where there is no store yet. */
static void store_rows(struct sv_ctr_row **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    if (!state_has("state.db"))
        return;
    struct sv_store *st = NULL;
    sv_error_t err = NULL;
    if (sv_store_open(&st, &err) < 0 || sv_store_list(st, rows, n, &err) < 0) {
        sv_error_free(&err);
        *rows = NULL;
        *n = 0;
    }
    sv_store_close(st);
}

/* The directory a stack was brought up from, as a real path: its saved
 * request (sv_stack_save_request: path, project and cwd, NUL-separated)
 * names what `up` read and where it ran. NULL for a git source or a path
 * that is gone. */
static char *stack_home(const char *stack)
{
    cleanup_free char *dir = sv_stack_dir(stack);
    cleanup_free char *req = sv_xasprintf("%s/request", dir);
    cleanup_free char *buf = NULL;
    size_t len = 0;
    sv_error_t err = NULL;
    if (sv_read_file(req, 1 << 20, &buf, &len, &err) < 0) {
        sv_error_free(&err);
        return NULL;
    }
    size_t project = strnlen(buf, len) + 1;
    if (project >= len)
        return NULL;
    size_t cwd = project + strnlen(buf + project, len - project) + 1;
    if (cwd >= len)
        return NULL;
    const char *path = buf;
    cleanup_free char *full = path[0] == '\0'  ? sv_xstrdup(buf + cwd)
                              : path[0] == '/' ? sv_xstrdup(path)
                                               : sv_xasprintf("%s/%s", buf + cwd, path);
    char real[PATH_MAX];
    struct stat st;
    if (realpath(full, real) == NULL || stat(real, &st) < 0)
        return NULL;
    if (!S_ISDIR(st.st_mode)) {
        char *slash = strrchr(real, '/');
        if (slash == real)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
    }
    return sv_xstrdup(real);
}

/* Stacks the state knows: those with replicas, and those `up` recorded. */
static void stack_names(const struct sv_ctr_row *rows, size_t n, char ***v, size_t *k)
{
    for (size_t i = 0; i < n; i++)
        words_add(v, k, rows[i].stack);
    cleanup_free char *dir = sv_xasprintf("%s/stacks", sv_state_root());
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!sv_valid_stack_name(de->d_name))
            continue;
        cleanup_free char *req = sv_xasprintf("stacks/%s/request", de->d_name);
        if (state_has(req))
            words_add(v, k, de->d_name);
    }
    closedir(d);
}

/* Without -p, a stack command is about the stack declared where it runs:
 * the completion takes the stacks brought up from this directory, which
 * needs no evaluation of the Envirofile (and no fetch of its imports). */
static bool stack_is_here(const char *stack, const char *here)
{
    cleanup_free char *home = stack_home(stack);
    return home && here && strcmp(home, here) == 0;
}

int sv_cmd_complete(int argc, char **argv)
{
    if (argc < 2 || argc > 3)
        return 2;
    const char *kind = argv[1];
    char **v = NULL;
    size_t k = 0;
    struct sv_ctr_row *rows;
    size_t n;
    if (strcmp(kind, "images") == 0) {
        struct sv_image_entry *e = NULL;
        size_t m = 0;
        sv_error_t err = NULL;
        if (state_has("images/index.json") && sv_image_list(&e, &m, &err) == 0) {
            for (size_t i = 0; i < m; i++)
                for (char **name = e[i].names; name && *name; name++)
                    words_add(&v, &k, *name);
            sv_image_entries_free(e, m);
        }
        sv_error_free(&err);
        words_print(v, k);
        return 0;
    }
    store_rows(&rows, &n);
    if (strcmp(kind, "containers") == 0) {
        for (size_t i = 0; i < n; i++)
            words_add(&v, &k, rows[i].name);
    } else if (strcmp(kind, "stacks") == 0) {
        stack_names(rows, n, &v, &k);
    } else if (strcmp(kind, "services") == 0) {
        const char *stack = argc > 2 && argv[2][0] ? argv[2] : NULL;
        char here[PATH_MAX];
        bool have_here = stack == NULL && realpath(".", here) != NULL;
        cleanup_free char *checked = NULL; /* stacks already found here */
        cleanup_free char *elsewhere = NULL;
        for (size_t i = 0; i < n; i++) {
            const char *s = rows[i].stack;
            if (s == NULL || s[0] == '\0' || !shell_safe(s))
                continue;
            bool take;
            if (stack) {
                take = strcmp(s, stack) == 0;
            } else {
                cleanup_free char *pad = sv_xasprintf(" %s ", s);
                cleanup_free char *in = sv_xasprintf(" %s ", checked ? checked : "");
                cleanup_free char *out = sv_xasprintf(" %s ", elsewhere ? elsewhere : "");
                if (strstr(in, pad))
                    take = true;
                else if (strstr(out, pad))
                    take = false;
                else
                    take = have_here && stack_is_here(s, here);
                list_add(take ? &checked : &elsewhere, s, strlen(s));
            }
            if (take)
                words_add(&v, &k, rows[i].service);
        }
    } else {
        sv_ctr_rows_free(rows, n);
        return 2;
    }
    sv_ctr_rows_free(rows, n);
    words_print(v, k);
    return 0;
}
