/* The Containerfile parser (see dockerfile.h): directives, then logical
 * lines (continuations joined, comments dropped), each one an
 * instruction with its flags and exec form checked against what that
 * instruction takes. */
#include "build/dockerfile.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    enum sv_df_kind kind;
    const char *flags; /* the flags it takes, space-separated */
    bool exec_form;    /* may be written as a JSON array */
} keywords[] = {
    {"FROM", SV_DF_FROM, "platform", false},
    {"RUN", SV_DF_RUN, "mount network security", true},
    {"CMD", SV_DF_CMD, "", true},
    {"LABEL", SV_DF_LABEL, "", false},
    {"MAINTAINER", SV_DF_MAINTAINER, "", false},
    {"EXPOSE", SV_DF_EXPOSE, "", false},
    {"ENV", SV_DF_ENV, "", false},
    {"ADD", SV_DF_ADD, "chown chmod link checksum keep-git-dir exclude", true},
    {"COPY", SV_DF_COPY, "from chown chmod link parents exclude", true},
    {"ENTRYPOINT", SV_DF_ENTRYPOINT, "", true},
    {"VOLUME", SV_DF_VOLUME, "", true},
    {"USER", SV_DF_USER, "", false},
    {"WORKDIR", SV_DF_WORKDIR, "", false},
    {"ARG", SV_DF_ARG, "", false},
    {"ONBUILD", SV_DF_ONBUILD, "", false},
    {"STOPSIGNAL", SV_DF_STOPSIGNAL, "", false},
    {"HEALTHCHECK", SV_DF_HEALTHCHECK, "interval timeout start-period start-interval retries",
     false},
    {"SHELL", SV_DF_SHELL, "", true},
};

const char *sv_dockerfile_keyword(enum sv_df_kind kind)
{
    for (size_t i = 0; i < SV_ARRAY_LEN(keywords); i++)
        if (keywords[i].kind == kind)
            return keywords[i].name;
    return "?";
}

const char *sv_dockerfile_flag(const struct sv_df_inst *in, const char *name, bool *present)
{
    if (present)
        *present = false;
    for (size_t i = 0; i < in->n_flags; i++)
        if (strcmp(in->flags[i].name, name) == 0) {
            if (present)
                *present = true;
            return in->flags[i].value;
        }
    return NULL;
}

static void inst_clear(struct sv_df_inst *in)
{
    free(in->text);
    free(in->args);
    sv_strv_free(in->json);
    for (size_t i = 0; i < in->n_flags; i++) {
        free(in->flags[i].name);
        free(in->flags[i].value);
    }
    free(in->flags);
}

void sv_dockerfile_clear(struct sv_dockerfile *df)
{
    for (size_t i = 0; i < df->n; i++)
        inst_clear(&df->insts[i]);
    free(df->insts);
    free(df->path);
    free(df->syntax);
    memset(df, 0, sizeof(*df));
}

/* ---- directives -------------------------------------------------------- */

/* "# name = value" at the top of the file: 1 and name/value set when line
 * is one, 0 when it is not (and directives end there). */
static int directive(const char *line, char **name, char **value)
{
    const char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p++ != '#')
        return 0;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *n = p;
    while (isalnum((unsigned char)*p))
        p++;
    size_t nlen = (size_t)(p - n);
    while (*p == ' ' || *p == '\t')
        p++;
    if (nlen == 0 || !isalpha((unsigned char)*n) || *p++ != '=')
        return 0;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t vlen = strlen(p);
    while (vlen && isspace((unsigned char)p[vlen - 1]))
        vlen--;
    *name = sv_xstrndup(n, nlen);
    for (char *c = *name; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    *value = sv_xstrndup(p, vlen);
    return 1;
}

static int apply_directive(struct sv_dockerfile *df, const char *name, const char *value, int line,
                           bool *seen_escape, sv_error_t *err)
{
    if (strcmp(name, "escape") == 0) {
        if (*seen_escape)
            return sv_error(err, 0, "%s:%d: only one escape directive may be given", df->path,
                            line);
        if (strcmp(value, "\\") != 0 && strcmp(value, "`") != 0)
            return sv_error(err, 0, "%s:%d: escape must be \\ or ` (got \"%s\")", df->path, line,
                            value);
        df->escape = value[0];
        *seen_escape = true;
    } else if (strcmp(name, "syntax") == 0 && df->syntax == NULL) {
        df->syntax = sv_xstrdup(value);
    }
    /* Other directives ("check", unknown ones) are comments to us. */
    return 0;
}

/* ---- instructions -------------------------------------------------------- */

static int find_keyword(const char *word, size_t len)
{
    for (size_t i = 0; i < SV_ARRAY_LEN(keywords); i++)
        if (strlen(keywords[i].name) == len && strncasecmp(keywords[i].name, word, len) == 0)
            return (int)i;
    return -1;
}

static int unknown_keyword(const struct sv_dockerfile *df, int line, const char *word, size_t len,
                           sv_error_t *err)
{
    cleanup_free char *w = sv_xstrndup(word, len);
    for (char *c = w; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    const char *names[SV_ARRAY_LEN(keywords)];
    for (size_t i = 0; i < SV_ARRAY_LEN(keywords); i++)
        names[i] = keywords[i].name;
    const char *s = sv_suggest(w, names, SV_ARRAY_LEN(names));
    return sv_error(err, 0, "%s:%d: unknown instruction \"%s\"%s%s%s", df->path, line, w,
                    s ? " (did you mean \"" : "", s ? s : "", s ? "\"?)" : "");
}

static bool takes_flag(int k, const char *name, size_t len)
{
    const char *f = keywords[k].flags;
    while (*f) {
        size_t n = strcspn(f, " ");
        if (n == len && strncmp(f, name, len) == 0)
            return true;
        f += n + (f[n] == ' ');
    }
    return false;
}

/* The leading --name[=value] words of *rest into in's flags. */
static int read_flags(const struct sv_dockerfile *df, int k, struct sv_df_inst *in,
                      const char **rest, sv_error_t *err)
{
    const char *p = *rest;
    while (p[0] == '-' && p[1] == '-') {
        size_t wlen = strcspn(p, " \t");
        const char *eq = memchr(p, '=', wlen);
        size_t nlen = (size_t)((eq ? eq : p + wlen) - (p + 2));
        if (nlen == 0 || !takes_flag(k, p + 2, nlen))
            return sv_error(err, 0, "%s:%d: %s does not take the flag %.*s", df->path, in->line,
                            keywords[k].name, (int)(eq ? (size_t)(eq - p) : wlen), p);
        in->flags = sv_xrealloc(in->flags, (in->n_flags + 1) * sizeof(*in->flags));
        in->flags[in->n_flags].name = sv_xstrndup(p + 2, nlen);
        in->flags[in->n_flags].value = eq ? sv_xstrndup(eq + 1, wlen - (size_t)(eq + 1 - p)) : NULL;
        in->n_flags++;
        p += wlen;
        while (*p == ' ' || *p == '\t')
            p++;
    }
    *rest = p;
    return 0;
}

/* ["a", "b"]: an array of strings, else NULL (then it is the shell form,
 * as Docker falls back to it). */
static char **json_form(const char *args)
{
    if (args[0] != '[')
        return NULL;
    cleanup_json json_t *a = json_loads(args, JSON_DECODE_ANY, NULL);
    if (!json_is_array(a))
        return NULL;
    char **v = sv_xcalloc(json_array_size(a) + 1, sizeof(char *));
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (s == NULL) {
            sv_strv_free(v);
            return NULL;
        }
        v[i] = sv_xstrdup(s);
    }
    return v;
}

/* "<<EOF", "<<-EOF", "<<'EOF'": a heredoc, which BuildKit reads as the
 * lines that follow; a shell would not, so it is refused, not guessed. */
static bool has_heredoc(const char *args)
{
    for (const char *p = strstr(args, "<<"); p; p = strstr(p + 2, "<<")) {
        if (p > args && !isspace((unsigned char)p[-1]))
            continue; /* $((1<<n)) */
        const char *w = p + 2;
        if (*w == '-')
            w++;
        if (*w == '"' || *w == '\'')
            w++;
        if (isalpha((unsigned char)*w) || *w == '_')
            return true;
    }
    return false;
}

static int check_args(const struct sv_dockerfile *df, int k, struct sv_df_inst *in, sv_error_t *err)
{
    const char *kw = keywords[k].name;
    if (in->args[0] == '\0')
        return sv_error(err, 0, "%s:%d: %s needs %s", df->path, in->line, kw,
                        in->kind == SV_DF_RUN ? "a command" : "arguments");
    if ((in->kind == SV_DF_RUN || in->kind == SV_DF_COPY || in->kind == SV_DF_ADD) &&
        in->json == NULL && has_heredoc(in->args))
        return sv_error(err, 0,
                        "%s:%d: %s with a heredoc (<<EOF) is not supported: put the lines in a "
                        "file of the context, COPY it and RUN it",
                        df->path, in->line, kw);
    if (in->kind == SV_DF_SHELL && in->json == NULL)
        return sv_error(err, 0, "%s:%d: SHELL takes the JSON form: SHELL [\"/bin/bash\", \"-c\"]",
                        df->path, in->line);
    if (in->json && in->json[0] == NULL && in->kind != SV_DF_CMD && in->kind != SV_DF_ENTRYPOINT)
        return sv_error(err, 0, "%s:%d: %s [] is empty", df->path, in->line, kw);
    if (in->kind == SV_DF_ONBUILD) {
        size_t n = strcspn(in->args, " \t");
        int sub = find_keyword(in->args, n);
        if (sub < 0)
            return unknown_keyword(df, in->line, in->args, n, err);
        if (keywords[sub].kind == SV_DF_ONBUILD || keywords[sub].kind == SV_DF_FROM ||
            keywords[sub].kind == SV_DF_MAINTAINER)
            return sv_error(err, 0, "%s:%d: ONBUILD %s is not allowed", df->path, in->line,
                            keywords[sub].name);
    }
    return 0;
}

/* One logical line into an instruction. */
static int parse_inst(struct sv_dockerfile *df, const char *line, int lineno, sv_error_t *err)
{
    const char *p = line;
    while (isspace((unsigned char)*p))
        p++;
    size_t klen = strcspn(p, " \t");
    int k = find_keyword(p, klen);
    if (k < 0)
        return unknown_keyword(df, lineno, p, klen, err);
    struct sv_df_inst in = {.kind = keywords[k].kind, .line = lineno};
    in.text = sv_xstrdup(p);
    size_t tl = strlen(in.text);
    while (tl && isspace((unsigned char)in.text[tl - 1]))
        in.text[--tl] = '\0';
    const char *rest = p + klen;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (read_flags(df, k, &in, &rest, err) < 0) {
        inst_clear(&in);
        return -1;
    }
    in.args = sv_xstrdup(rest);
    size_t al = strlen(in.args);
    while (al && isspace((unsigned char)in.args[al - 1]))
        in.args[--al] = '\0';
    if (keywords[k].exec_form)
        in.json = json_form(in.args);
    if (check_args(df, k, &in, err) < 0) {
        inst_clear(&in);
        return -1;
    }
    df->insts = sv_xrealloc(df->insts, (df->n + 1) * sizeof(*df->insts));
    df->insts[df->n++] = in;
    return 0;
}

/* ---- lines ----------------------------------------------------------------- */

static bool blank(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

static bool comment(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return *s == '#';
}

/* Does the line go on (its last non-blank character the escape)? Then
 * the escape and what follows it are cut off. */
static bool continues(char *s, char escape)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0 || s[n - 1] != escape)
        return false;
    s[n - 1] = '\0';
    return true;
}

struct reader {
    char **lines;
    size_t n, i;
};

static void reader_split(struct reader *r, const char *text, size_t len)
{
    size_t cap = 16;
    r->lines = sv_xcalloc(cap, sizeof(char *));
    for (size_t start = 0; start < len || (start == len && r->n == 0);) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t l = end - start;
        if (l && text[start + l - 1] == '\r')
            l--;
        if (r->n + 1 >= cap)
            r->lines = sv_xrealloc(r->lines, (cap *= 2) * sizeof(char *));
        r->lines[r->n++] = sv_xstrndup(text + start, l);
        start = end + 1;
        if (!nl)
            break;
    }
    r->lines[r->n] = NULL;
}

static int parse_lines(struct sv_dockerfile *df, struct reader *r, sv_error_t *err)
{
    while (r->i < r->n) {
        char *line = r->lines[r->i++];
        int lineno = (int)r->i;
        if (blank(line) || comment(line))
            continue;
        cleanup_free char *joined = sv_xstrdup(line);
        bool more = continues(joined, df->escape);
        while (more && r->i < r->n) {
            char *next = r->lines[r->i++];
            if (comment(next) || blank(next))
                continue; /* dropped inside a continuation too */
            more = continues(next, df->escape);
            char *j = sv_xasprintf("%s%s", joined, next);
            free(joined);
            joined = j;
        }
        if (blank(joined))
            continue;
        if (parse_inst(df, joined, lineno, err) < 0)
            return -1;
    }
    return 0;
}

/* Only ARG may come before the first FROM. */
static int check_order(const struct sv_dockerfile *df, sv_error_t *err)
{
    for (size_t i = 0; i < df->n; i++) {
        if (df->insts[i].kind == SV_DF_FROM)
            return 0;
        if (df->insts[i].kind != SV_DF_ARG)
            return sv_error(err, 0, "%s:%d: %s before the first FROM (only ARG may come first)",
                            df->path, df->insts[i].line, sv_dockerfile_keyword(df->insts[i].kind));
    }
    return sv_error(err, 0, "%s: no FROM instruction", df->path);
}

int sv_dockerfile_parse(const char *path, const char *text, size_t len, struct sv_dockerfile *df,
                        sv_error_t *err)
{
    memset(df, 0, sizeof(*df));
    df->path = sv_xstrdup(path);
    df->escape = '\\';
    if (memchr(text, '\0', len)) {
        sv_dockerfile_clear(df);
        return sv_error(err, 0, "%s: not a text file (it holds a NUL byte)", path);
    }
    struct reader r = {0};
    reader_split(&r, text, len);
    int rc = 0;
    bool seen_escape = false;
    /* Directives: comment-like lines at the very top. */
    while (rc == 0 && r.i < r.n) {
        char *name = NULL, *value = NULL;
        if (!directive(r.lines[r.i], &name, &value))
            break;
        rc = apply_directive(df, name, value, (int)r.i + 1, &seen_escape, err);
        free(name);
        free(value);
        r.i++;
    }
    if (rc == 0)
        rc = parse_lines(df, &r, err);
    if (rc == 0)
        rc = check_order(df, err);
    sv_strv_free(r.lines);
    if (rc < 0) {
        sv_dockerfile_clear(df);
        return -1;
    }
    return 0;
}
