/* Docker's shell lexer for Containerfile words (see dfword.h): one pass
 * that removes quotes, resolves escapes and expands variables, stopping at
 * unquoted whitespace when splitting, or at the "}" that closes a
 * ${NAME:-word} being read. */
#include "build/dfword.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct buf {
    char *s;
    size_t len, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->s = sv_xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void buf_addc(struct buf *b, char c)
{
    buf_add(b, &c, 1);
}

struct lexer {
    const char *p;
    const char *text; /* the whole, for errors */
    char esc;
    sv_dfword_lookup_fn *lookup;
    void *ctx;
};

bool sv_dfword_valid_name(const char *name, size_t len)
{
    if (len == 0 || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)name[i]) || name[i] == '_'))
            return false;
    return true;
}

static int lex_word(struct lexer *lx, bool split, char stop, struct buf *out, bool *any,
                    sv_error_t *err);

/* ${NAME<op>word}: what is left after NAME, from the operator on. */
static int braced_op(struct lexer *lx, const char *name, const char *val, struct buf *out,
                     sv_error_t *err)
{
    bool colon = *lx->p == ':';
    if (colon)
        lx->p++;
    char op = *lx->p;
    if (op == '\0')
        return sv_error(err, 0, "missing \"}\" in \"%s\"", lx->text);
    if (op != '-' && op != '+' && op != '?')
        return sv_error(err, 0,
                        "bad substitution in \"%s\": ${%s%s%c...} (expected :-, :+, :?, -, "
                        "+ or ? after the name)",
                        lx->text, name, colon ? ":" : "", op ? op : ' ');
    lx->p++;
    struct buf word = {0};
    bool any = false;
    int rc = lex_word(lx, false, '}', &word, &any, err);
    cleanup_free char *w = word.s ? word.s : sv_xstrdup("");
    if (rc < 0)
        return -1;
    if (*lx->p != '}')
        return sv_error(err, 0, "missing \"}\" in \"%s\"", lx->text);
    lx->p++;
    bool set = val != NULL, full = val && *val;
    bool have = colon ? full : set;
    if (op == '-')
        buf_add(out, have ? val : w, strlen(have ? val : w));
    else if (op == '+')
        buf_add(out, have ? w : "", have ? strlen(w) : 0);
    else if (!have)
        return sv_error(err, 0, "%s: %s", name, *w ? w : "is not set");
    else
        buf_add(out, val, strlen(val));
    return 0;
}

/* At "$": a variable, or a plain "$" when no name follows. */
static int dollar(struct lexer *lx, struct buf *out, sv_error_t *err)
{
    lx->p++;
    bool braced = *lx->p == '{';
    const char *n = lx->p + braced;
    size_t len = 0;
    while (isalnum((unsigned char)n[len]) || n[len] == '_')
        len++;
    if (!sv_dfword_valid_name(n, len)) {
        if (braced)
            return sv_error(err, 0, "bad substitution in \"%s\": ${ needs a variable name",
                            lx->text);
        buf_addc(out, '$');
        return 0;
    }
    cleanup_free char *name = sv_xstrndup(n, len);
    const char *val = lx->lookup ? lx->lookup(lx->ctx, name) : NULL;
    lx->p = n + len;
    if (!braced) {
        if (val)
            buf_add(out, val, strlen(val));
        return 0;
    }
    if (*lx->p == '}') {
        lx->p++;
        if (val)
            buf_add(out, val, strlen(val));
        return 0;
    }
    return braced_op(lx, name, val, out, err);
}

static int single_quoted(struct lexer *lx, struct buf *out, sv_error_t *err)
{
    const char *end = strchr(lx->p + 1, '\'');
    if (end == NULL)
        return sv_error(err, 0, "unterminated single quote in \"%s\"", lx->text);
    buf_add(out, lx->p + 1, (size_t)(end - lx->p - 1));
    lx->p = end + 1;
    return 0;
}

/* Inside "...": the escape character escapes only ", $ and itself. */
static int double_quoted(struct lexer *lx, struct buf *out, sv_error_t *err)
{
    lx->p++;
    for (;;) {
        char c = *lx->p;
        if (c == '\0')
            return sv_error(err, 0, "unterminated double quote in \"%s\"", lx->text);
        if (c == '"') {
            lx->p++;
            return 0;
        }
        if (c == '$') {
            if (dollar(lx, out, err) < 0)
                return -1;
            continue;
        }
        if (c == lx->esc && (lx->p[1] == '"' || lx->p[1] == '$' || lx->p[1] == lx->esc)) {
            buf_addc(out, lx->p[1]);
            lx->p += 2;
            continue;
        }
        buf_addc(out, c);
        lx->p++;
    }
}

static int lex_word(struct lexer *lx, bool split, char stop, struct buf *out, bool *any,
                    sv_error_t *err)
{
    for (;;) {
        char c = *lx->p;
        if (c == '\0' || (stop && c == stop) || (split && isspace((unsigned char)c)))
            return 0;
        *any = true;
        int rc = 0;
        if (c == '\'')
            rc = single_quoted(lx, out, err);
        else if (c == '"')
            rc = double_quoted(lx, out, err);
        else if (c == '$')
            rc = dollar(lx, out, err);
        else if (c == lx->esc && lx->p[1] != '\0') {
            buf_addc(out, lx->p[1]);
            lx->p += 2;
        } else {
            buf_addc(out, c);
            lx->p++;
        }
        if (rc < 0)
            return -1;
    }
}

int sv_dfword_expand(const char *text, char escape, sv_dfword_lookup_fn *lookup, void *ctx,
                     char **out, sv_error_t *err)
{
    struct lexer lx = {.p = text, .text = text, .esc = escape, .lookup = lookup, .ctx = ctx};
    struct buf b = {0};
    bool any = false;
    if (lex_word(&lx, false, 0, &b, &any, err) < 0) {
        free(b.s);
        return -1;
    }
    *out = b.s ? b.s : sv_xstrdup("");
    return 0;
}

int sv_dfword_split(const char *text, char escape, sv_dfword_lookup_fn *lookup, void *ctx,
                    char ***out, sv_error_t *err)
{
    struct lexer lx = {.p = text, .text = text, .esc = escape, .lookup = lookup, .ctx = ctx};
    size_t n = 0;
    char **v = sv_xcalloc(1, sizeof(char *));
    for (;;) {
        while (isspace((unsigned char)*lx.p))
            lx.p++;
        if (*lx.p == '\0')
            break;
        struct buf b = {0};
        bool any = false;
        if (lex_word(&lx, true, 0, &b, &any, err) < 0) {
            free(b.s);
            sv_strv_free(v);
            return -1;
        }
        v = sv_xrealloc(v, (n + 2) * sizeof(char *));
        v[n++] = b.s ? b.s : sv_xstrdup("");
        v[n] = NULL;
    }
    *out = v;
    return 0;
}
