#include "manifests/interpolate.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* The text being built. It lives in the caller's *out all along: a lookup
 * may longjmp (a Lua error) and leave it to the caller to free. */
struct text_buf {
    char **p;
    size_t n, cap;
};

static void text_put(struct text_buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        *b->p = sv_xrealloc(*b->p, b->cap);
    }
    memcpy(*b->p + b->n, s, n);
    b->n += n;
    (*b->p)[b->n] = '\0';
}

static size_t name_len(const char *s)
{
    size_t n = 0;
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    while (isalnum((unsigned char)s[n]) || s[n] == '_')
        n++;
    return n;
}

/* Find the '}' closing a ${...} that starts at s (just after "${"), allowing
 * nested ${...} inside defaults. */
static const char *find_close(const char *s)
{
    int depth = 1;
    for (; *s; s++) {
        if (s[0] == '$' && s[1] == '{') {
            depth++;
            s++;
        } else if (*s == '}' && --depth == 0) {
            return s;
        }
    }
    return NULL;
}

static int expand(const char *s, size_t len, const struct sv_interp *ip, struct text_buf *b,
                  char **errmsg, int depth);

static int expand_braced(const char *body, size_t len, const struct sv_interp *ip,
                         struct text_buf *b, char **errmsg, int depth)
{
    size_t nl = name_len(body);
    if (nl == 0 || nl > 255) {
        *errmsg = sv_xasprintf("invalid interpolation \"${%.*s}\" (expected ${NAME}, "
                               "${NAME:-default} or ${NAME:?error})",
                               (int)len, body);
        return -1;
    }
    char name[256];
    memcpy(name, body, nl);
    name[nl] = '\0';
    const char *val = ip->lookup(ip->ud, name);
    const char *op = body + nl, *end = body + len;
    if (op == end) {
        if (val == NULL && ip->missing)
            ip->missing(ip->ud, name);
        if (val)
            text_put(b, val, strlen(val));
        return 0;
    }
    bool colon = *op == ':';
    if (colon)
        op++;
    if (op == end || (*op != '-' && *op != '?' && *op != '+')) {
        *errmsg =
            sv_xasprintf("invalid interpolation \"${%.*s}\" (unknown operator)", (int)len, body);
        return -1;
    }
    char kind = *op++;
    bool unset = val == NULL || (colon && val[0] == '\0');
    switch (kind) {
    case '-':
        if (unset)
            return expand(op, (size_t)(end - op), ip, b, errmsg, depth + 1);
        text_put(b, val, strlen(val));
        return 0;
    case '+':
        if (!unset)
            return expand(op, (size_t)(end - op), ip, b, errmsg, depth + 1);
        return 0;
    default: /* '?' */
        if (unset) {
            if (op == end)
                *errmsg = sv_xasprintf("required variable %s is %s", name,
                                       val == NULL ? "not set" : "empty");
            else
                *errmsg = sv_xasprintf("required variable %s is missing a value: %.*s", name,
                                       (int)(end - op), op);
            return -1;
        }
        text_put(b, val, strlen(val));
        return 0;
    }
}

static int expand(const char *s, size_t len, const struct sv_interp *ip, struct text_buf *b,
                  char **errmsg, int depth)
{
    if (depth > 16) {
        *errmsg = sv_xstrdup("interpolation nested too deeply");
        return -1;
    }
    const char *end = s + len;
    while (s < end) {
        const char *d = memchr(s, '$', (size_t)(end - s));
        if (d == NULL) {
            text_put(b, s, (size_t)(end - s));
            break;
        }
        text_put(b, s, (size_t)(d - s));
        if (d + 1 < end && d[1] == '$') {
            text_put(b, "$", 1);
            s = d + 2;
        } else if (d + 1 < end && d[1] == '{') {
            const char *close = find_close(d + 2);
            if (close == NULL || close >= end) {
                *errmsg = sv_xasprintf("unterminated \"${\" in \"%.*s\"", (int)(end - d), d);
                return -1;
            }
            if (expand_braced(d + 2, (size_t)(close - d - 2), ip, b, errmsg, depth) < 0)
                return -1;
            s = close + 1;
        } else {
            size_t nl = d + 1 < end ? name_len(d + 1) : 0;
            if (nl == 0 || nl > 255) { /* a lone '$' stays as it is */
                text_put(b, "$", 1);
                s = d + 1;
                continue;
            }
            char name[256];
            memcpy(name, d + 1, nl);
            name[nl] = '\0';
            const char *val = ip->lookup(ip->ud, name);
            if (val)
                text_put(b, val, strlen(val));
            else if (ip->keep_bare_unset)
                text_put(b, d, nl + 1);
            else if (ip->missing)
                ip->missing(ip->ud, name);
            s = d + 1 + nl;
        }
    }
    return 0;
}

int sv_interpolate(const char *s, const struct sv_interp *ip, char **out, char **errmsg)
{
    *out = NULL;
    *errmsg = NULL;
    if (strchr(s, '$') == NULL)
        return 0;
    struct text_buf b = {.p = out};
    text_put(&b, "", 0);
    if (expand(s, strlen(s), ip, &b, errmsg, 0) < 0) {
        free(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}
