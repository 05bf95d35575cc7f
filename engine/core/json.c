#include "core/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- strings that are not UTF-8 ------------------------------------------ */

/* The length of the UTF-8 sequence at p (at most n bytes), or 0 when it
 * is not one: the rules jansson checks (no overlong forms, no surrogates,
 * nothing past U+10FFFF), so what passes here jansson dumps. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    uint32_t cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* s with every byte that is not part of a UTF-8 sequence as U+EF80 +
 * (byte - 0x80); NULL when s is UTF-8 already. */
static char *utf8_mapped(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), i = 0, len;
    while (i < n && (len = utf8_seq(p + i, n - i)) != 0)
        i += len;
    if (i == n)
        return NULL;
    char *out = sv_xmalloc(3 * n + 1), *o = out + i;
    memcpy(out, s, i);
    while (i < n) {
        len = utf8_seq(p + i, n - i);
        if (len) {
            memcpy(o, p + i, len);
            o += len;
            i += len;
            continue;
        }
        uint32_t cp = 0xef00 + p[i++]; /* a stray byte is >= 0x80 */
        *o++ = (char)(0xe0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    *o = '\0';
    return out;
}

json_t *sv_json_string(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    cleanup_free char *mapped = utf8_mapped(s);
    return json_string_nocheck(mapped ? mapped : s);
}

json_t *sv_json_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

void sv_json_set(json_t *obj, const char *key, json_t *v)
{
    cleanup_free char *mapped = utf8_mapped(key);
    json_object_set_new_nocheck(obj, mapped ? mapped : key, v);
}

/* ---- the writer ------------------------------------------------------------ */

/* One open object or array. */
struct jw_level {
    bool object, has_members;
};

struct sv_jw {
    FILE *file; /* NULL: keep all of it in text */
    char *text;
    size_t len, cap;
    bool pretty, after_key;
    struct jw_level *levels; /* levels[0] is the top, outside any value */
    size_t depth, levels_cap;
};

/* Into the buffer; a file gets it 64 KB at a time, not a stdio call (and
 * its lock) per token. */
static void out_grow(struct sv_jw *w, size_t n)
{
    if (w->file && w->len) {
        fwrite(w->text, 1, w->len, w->file);
        w->len = 0;
    }
    if (w->len + n > w->cap) {
        w->cap = w->len + n > 2 * w->cap ? w->len + n : 2 * w->cap;
        w->text = sv_xrealloc(w->text, w->cap + 1);
    }
}

static inline void out_put(struct sv_jw *w, const char *s, size_t n)
{
    if (w->len + n > w->cap)
        out_grow(w, n);
    memcpy(w->text + w->len, s, n);
    w->len += n;
}

/* A line break and two spaces a level (pretty); nothing (compact). */
static void out_break(struct sv_jw *w, size_t level)
{
    static const char spaces[] = "                                ";
    if (!w->pretty)
        return;
    out_put(w, "\n", 1);
    for (size_t n = 2 * level; n > 0;) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        out_put(w, spaces, k);
        n -= k;
    }
}

/* A string with the escapes servos always wrote: \" \\ \n \r \t, every
 * other control character and DEL as lower-case \u00xx; the rest as it is
 * (UTF-8: the callers saw to that). */
static void out_string(struct sv_jw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    out_put(w, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
            continue;
        out_put(w, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', (char)c};
        size_t len = 2;
        if (c == '\n' || c == '\r' || c == '\t') {
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (c != '"' && c != '\\') {
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            len = 6;
        }
        out_put(w, esc, len);
    }
    out_put(w, s + run, n - run);
    out_put(w, "\"", 1);
}

/* Whatever a value needs before it: nothing after a key, else (in an
 * array) the comma and the line break. */
static void before_value(struct sv_jw *w)
{
    struct jw_level *l = &w->levels[w->depth];
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0)
        return;
    if (l->has_members)
        out_put(w, ",", 1);
    l->has_members = true;
    out_break(w, w->depth);
}

struct sv_jw *sv_jw_new(FILE *out, unsigned flags)
{
    struct sv_jw *w = sv_xcalloc(1, sizeof(*w));
    w->file = out;
    w->pretty = !(flags & SV_JSON_COMPACT);
    w->cap = out ? 1 << 16 : 256;
    w->text = sv_xmalloc(w->cap + 1);
    w->levels_cap = 8;
    w->levels = sv_xcalloc(w->levels_cap, sizeof(*w->levels));
    return w;
}

void sv_jw_key(struct sv_jw *w, const char *key)
{
    struct jw_level *l = &w->levels[w->depth];
    if (l->has_members)
        out_put(w, ",", 1);
    l->has_members = true;
    out_break(w, w->depth);
    cleanup_free char *mapped = utf8_mapped(key);
    out_string(w, mapped ? mapped : key, strlen(mapped ? mapped : key));
    out_put(w, ": ", w->pretty ? 2 : 1);
    w->after_key = true;
}

static void jw_open(struct sv_jw *w, bool object)
{
    before_value(w);
    out_put(w, object ? "{" : "[", 1);
    if (++w->depth == w->levels_cap) {
        w->levels_cap *= 2;
        w->levels = sv_xrealloc(w->levels, w->levels_cap * sizeof(*w->levels));
    }
    w->levels[w->depth] = (struct jw_level){.object = object};
}

void sv_jw_object(struct sv_jw *w)
{
    jw_open(w, true);
}

void sv_jw_array(struct sv_jw *w)
{
    jw_open(w, false);
}

void sv_jw_close(struct sv_jw *w)
{
    struct jw_level l = w->levels[w->depth--];
    if (l.has_members) /* an empty one stays "{}" or "[]" */
        out_break(w, w->depth);
    out_put(w, l.object ? "}" : "]", 1);
}

void sv_jw_string(struct sv_jw *w, const char *s)
{
    if (s == NULL) {
        sv_jw_null(w);
        return;
    }
    before_value(w);
    cleanup_free char *mapped = utf8_mapped(s);
    out_string(w, mapped ? mapped : s, strlen(mapped ? mapped : s));
}

void sv_jw_int(struct sv_jw *w, long long v)
{
    char buf[24], *p = buf + sizeof(buf);
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    before_value(w);
    out_put(w, p, (size_t)(buf + sizeof(buf) - p));
}

/* Integral values with ".0", else the fewer of 15 or 17 digits that read
 * back as the same double (0.1, not 0.10000000000000001), exponents as
 * printf writes them (1e+20); null for infinities and NaN. */
void sv_jw_real(struct sv_jw *w, double v)
{
    char buf[40];
    int n;
    if (!isfinite(v)) {
        sv_jw_null(w);
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) {
        n = snprintf(buf, sizeof(buf), "%.1f", v);
    } else {
        n = snprintf(buf, sizeof(buf), "%.15g", v);
        if (strtod(buf, NULL) != v)
            n = snprintf(buf, sizeof(buf), "%.17g", v);
    }
    before_value(w);
    out_put(w, buf, (size_t)n);
}

void sv_jw_bool(struct sv_jw *w, bool v)
{
    before_value(w);
    out_put(w, v ? "true" : "false", v ? 4 : 5);
}

void sv_jw_null(struct sv_jw *w)
{
    before_value(w);
    out_put(w, "null", 4);
}

/* ---- jansson values ------------------------------------------------------------ */

struct jw_member {
    const char *key;
    const json_t *value;
};

static int member_cmp(const void *a, const void *b)
{
    return strcmp(((const struct jw_member *)a)->key, ((const struct jw_member *)b)->key);
}

static void jw_members(struct sv_jw *w, const json_t *v, bool sorted)
{
    size_t n = json_object_size(v), i = 0;
    const char *key;
    json_t *member;
    if (!sorted) {
        json_object_foreach((json_t *)v, key, member)
        {
            sv_jw_key(w, key);
            sv_jw_value(w, member, false);
        }
        return;
    }
    cleanup_free struct jw_member *m = sv_xcalloc(n ? n : 1, sizeof(*m));
    json_object_foreach((json_t *)v, key, member)
    {
        m[i++] = (struct jw_member){key, member};
    }
    qsort(m, n, sizeof(*m), member_cmp);
    for (i = 0; i < n; i++) {
        sv_jw_key(w, m[i].key);
        sv_jw_value(w, m[i].value, true);
    }
}

void sv_jw_value(struct sv_jw *w, const json_t *v, bool sorted)
{
    switch (v ? json_typeof(v) : JSON_NULL) { /* NULL: what a failed json_* call left */
    case JSON_OBJECT:
        sv_jw_object(w);
        jw_members(w, v, sorted);
        sv_jw_close(w);
        break;
    case JSON_ARRAY:
        sv_jw_array(w);
        for (size_t i = 0; i < json_array_size(v); i++)
            sv_jw_value(w, json_array_get(v, i), sorted);
        sv_jw_close(w);
        break;
    case JSON_STRING:
        before_value(w); /* jansson holds UTF-8 only, and may hold a NUL */
        out_string(w, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        sv_jw_int(w, json_integer_value(v));
        break;
    case JSON_REAL:
        sv_jw_real(w, json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        sv_jw_bool(w, json_is_true(v));
        break;
    case JSON_NULL:
        sv_jw_null(w);
        break;
    }
}

char *sv_jw_end(struct sv_jw *w)
{
    char *text = NULL;
    if (w->pretty && w->file)
        out_put(w, "\n", 1); /* a text file ends its last line */
    if (w->file) {
        fwrite(w->text, 1, w->len, w->file);
        free(w->text);
    } else {
        text = w->text;
        text[w->len] = '\0';
    }
    free(w->levels);
    free(w);
    return text;
}

char *sv_json_dumps(const json_t *doc, unsigned flags)
{
    struct sv_jw *w = sv_jw_new(NULL, flags);
    sv_jw_value(w, doc, flags & SV_JSON_SORTED);
    return sv_jw_end(w);
}

void sv_json_print(const json_t *doc, FILE *out, unsigned flags)
{
    struct sv_jw *w = sv_jw_new(out, flags);
    sv_jw_value(w, doc, flags & SV_JSON_SORTED);
    sv_jw_end(w);
}
