/* What completes where, read from a verb's --help (cli_compspec.h). */
#include "cli/cli_compspec.h"
#include "core/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void sv_compspec_free(struct sv_compspec *cv)
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

void sv_compspec_list_add(char **list, const char *word, size_t n)
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

bool sv_compspec_shell_safe(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_=.:,/+@-", *s))
            return false;
    return true;
}

static struct sv_compspec_opt *comp_find_opt(struct sv_compspec *cv, const char *name, size_t n)
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
static void comp_add_opt(struct sv_compspec *cv, const char *spec)
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
            if (sv_compspec_shell_safe(name))
                sv_compspec_list_add(&names, s, w);
        } else if (arg == NULL && w > 0) {
            arg = sv_xstrndup(s, w);
        }
        s += n;
        s += strspn(s, " ");
    }
    if (names == NULL)
        return;
    struct sv_compspec_opt *o = NULL;
    for (const char *s = names; *s && o == NULL;) {
        size_t k = strcspn(s, " ");
        o = comp_find_opt(cv, s, k);
        s += k + (s[k] == ' ');
    }
    if (o == NULL) {
        cv->o = sv_xrealloc(cv->o, (cv->n_o + 1) * sizeof(*cv->o));
        o = &cv->o[cv->n_o++];
        *o = (struct sv_compspec_opt){NULL, NULL, sv_xstrdup("")};
    }
    for (const char *s = names; *s;) {
        size_t k = strcspn(s, " ");
        sv_compspec_list_add(&o->names, s, k);
        s += k + (s[k] == ' ');
    }
    if (arg == NULL)
        return;
    if (o->arg == NULL || sv_helptext_has_upper(arg, strlen(arg))) {
        free(o->arg);
        o->arg = sv_xstrdup(arg);
    }
    if (sv_helptext_has_lower(arg, strlen(arg)) && !sv_helptext_has_upper(arg, strlen(arg)))
        for (const char *s = arg; *s;) {
            size_t k = strcspn(s, "|");
            cleanup_free char *choice = sv_xstrndup(s, k);
            if (sv_compspec_shell_safe(choice))
                sv_compspec_list_add(&o->values, s, k);
            s += k + (s[k] == '|');
        }
}

const char *sv_compspec_kind(const char *w, size_t n, bool positional)
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
static void comp_synopsis(struct sv_compspec *cv, const char *verb, const char *line)
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
            bool lower = sv_helptext_has_lower(alt, wl) && !sv_helptext_has_upper(alt, wl);
            for (const char *s = alt; s < alt + wl;) {
                size_t k = strcspn(s, "|");
                if (s + k > alt + wl)
                    k = (size_t)(alt + wl - s);
                cleanup_free char *part = sv_xstrndup(s, k);
                if (lower && args == 0 && sv_compspec_shell_safe(part)) {
                    sv_compspec_list_add(&cv->subs, s, k);
                    literal = true;
                    if (wl == k && sub == NULL)
                        sub = sv_xstrndup(s, k);
                } else if (!lower) {
                    const char *kind = sv_compspec_kind(s, k, true);
                    if (strcmp(kind, "none") != 0 || kinds == NULL)
                        sv_compspec_list_add(&kinds, kind, strlen(kind));
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
    cv->l[cv->n_l++] = (struct sv_compspec_line){sv_steal(sub), pos ? pos : sv_xstrdup("")};
}

void sv_compspec_parse(struct sv_compspec *cv, const char *verb, const struct sv_helptext *h)
{
    *cv = (struct sv_compspec){0};
    /* Definitions first: they pair -x with --long. */
    for (size_t i = 0; i < h->n; i++)
        if (h->p[i].kind == SV_HELPTEXT_ITEM && h->p[i].text[0] == '-')
            comp_add_opt(cv, h->p[i].text);
    for (size_t i = 0; i < h->n; i++)
        if (h->p[i].kind == SV_HELPTEXT_USAGE)
            comp_synopsis(cv, verb, h->p[i].text);
}
