#include "graph/jsonfmt.h"

#include <ctype.h>
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

json_t *sv_jsonfmt_string(const char *s)
{
    if (s == NULL)
        return json_null();
    json_t *j = json_string(s);
    if (j)
        return j;
    cleanup_free char *mapped = utf8_mapped(s);
    return json_string_nocheck(mapped ? mapped : s);
}

json_t *sv_jsonfmt_real(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

void sv_jsonfmt_set(json_t *obj, const char *key, json_t *v)
{
    cleanup_free char *mapped = utf8_mapped(key);
    json_object_set_new_nocheck(obj, mapped ? mapped : key, v);
}

/* ---- jansson's output, in servos' forms ---------------------------------- */

/* Where the text goes, and where jansson's output stands. */
struct jsonfmt_out {
    FILE *file; /* NULL: keep all of it in text */
    char *text;
    size_t len, cap;
    bool in_string;
    int depth; /* levels the dumped value sits below the top (streams) */
};

/* Into the buffer; a file gets it 64 KB at a time: jansson hands over a few
 * bytes per call, and a stdio call per piece (each taking the stream's
 * lock) made printing a 10,000-service graph cost more than evaluating it. */
static void out_grow(struct jsonfmt_out *o, size_t n)
{
    if (o->file && o->len) {
        fwrite(o->text, 1, o->len, o->file);
        o->len = 0;
    }
    if (o->len + n > o->cap) {
        o->cap = o->len + n > 2 * o->cap ? o->len + n : 2 * o->cap;
        o->text = sv_xrealloc(o->text, o->cap + 1);
    }
}

static inline void out_put(struct jsonfmt_out *o, const char *s, size_t n)
{
    if (o->len + n > o->cap)
        out_grow(o, n);
    memcpy(o->text + o->len, s, n);
    o->len += n;
}

static void out_indent(struct jsonfmt_out *o, int depth)
{
    static const char spaces[] = "                                ";
    for (size_t n = 2 * (size_t)depth; n > 0;) {
        size_t k = n < sizeof(spaces) - 1 ? n : sizeof(spaces) - 1;
        out_put(o, spaces, k);
        n -= k;
    }
}

/* A real as servos always wrote it: integral values with ".0", else the
 * fewer of 15 or 17 digits that read back as the same double (0.1, not
 * 0.10000000000000001), exponents as printf writes them (1e+20). jansson
 * wrote s with 17 digits, so strtod gives back the very double. */
static void out_real(struct jsonfmt_out *o, const char *s, size_t n)
{
    char text[64], buf[40];
    n = n < sizeof(text) - 1 ? n : sizeof(text) - 1;
    memcpy(text, s, n);
    text[n] = '\0';
    double v = strtod(text, NULL);
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, sizeof(buf), "%.1f", v);
    } else {
        snprintf(buf, sizeof(buf), "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, sizeof(buf), "%.17g", v);
    }
    out_put(o, buf, strlen(buf));
}

/* A piece of a string: an escape (it starts with a backslash) or a run of
 * text. Control characters as \u00xx in lower case and DEL escaped too,
 * as servos always wrote them (jansson writes \b, \f, \u001B, a raw DEL). */
static void out_string_piece(struct jsonfmt_out *o, const char *s, size_t n)
{
    if (s[0] == '\\') {
        char esc[7];
        if (n == 2 && (s[1] == 'b' || s[1] == 'f')) {
            snprintf(esc, sizeof(esc), "\\u%04x", s[1] == 'b' ? '\b' : '\f');
            s = esc;
            n = 6;
        } else if (n == 6 && s[1] == 'u') {
            for (size_t i = 0; i < n; i++)
                esc[i] = (char)tolower((unsigned char)s[i]);
            s = esc;
        }
        out_put(o, s, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (s[i] == 0x7f) {
            out_put(o, s, i);
            out_put(o, "\\u007f", 6);
            s += i + 1, n -= i + 1, i = (size_t)-1;
        }
    out_put(o, s, n);
}

/* jansson's dump callback. jansson writes a string as a lone '"', pieces
 * of text and escapes, and a lone '"'; a number in one piece; a line break
 * as a lone "\n" before the indentation. */
static int out_piece(const char *s, size_t n, void *ud)
{
    struct jsonfmt_out *o = ud;
    if (n == 1 && (s[0] == '"' || s[0] == '\n')) {
        out_put(o, s, 1);
        if (s[0] == '"')
            o->in_string = !o->in_string;
        else if (!o->in_string && o->depth)
            out_indent(o, o->depth);
    } else if (o->in_string) {
        out_string_piece(o, s, n);
    } else if ((s[0] == '-' || (unsigned)(s[0] - '0') < 10) &&
               (memchr(s, '.', n) || memchr(s, 'e', n))) {
        out_real(o, s, n);
    } else {
        out_put(o, s, n);
    }
    return 0;
}

static void out_dump(struct jsonfmt_out *o, const json_t *doc, size_t flags)
{
    json_dump_callback(doc, out_piece, o, flags | JSON_ENCODE_ANY);
}

char *sv_jsonfmt_dumps(const json_t *doc, size_t flags)
{
    struct jsonfmt_out o = {.cap = 256};
    o.text = sv_xmalloc(o.cap + 1);
    out_dump(&o, doc, flags);
    o.text[o.len] = '\0';
    return o.text;
}

void sv_jsonfmt_print(const json_t *doc, FILE *out, size_t flags)
{
    struct jsonfmt_out o = {.file = out, .cap = 1 << 16};
    o.text = sv_xmalloc(o.cap + 1);
    out_dump(&o, doc, flags);
    if (flags & JSON_MAX_INDENT)
        out_put(&o, "\n", 1);
    fwrite(o.text, 1, o.len, out);
    free(o.text);
}

/* ---- streams --------------------------------------------------------------- */

#define STREAM_MAX_DEPTH 8

struct sv_jsonfmt_stream {
    struct jsonfmt_out out;
    bool has_members[STREAM_MAX_DEPTH]; /* per open object */
};

struct sv_jsonfmt_stream *sv_jsonfmt_stream_new(FILE *out)
{
    struct sv_jsonfmt_stream *st = sv_xcalloc(1, sizeof(*st));
    st->out.file = out;
    st->out.cap = 1 << 16;
    st->out.text = sv_xmalloc(st->out.cap + 1);
    out_put(&st->out, "{", 1);
    st->out.depth = 1;
    return st;
}

/* ",\n    "key": ", as jansson writes a member at this depth. */
static void stream_key(struct sv_jsonfmt_stream *st, const char *key)
{
    struct jsonfmt_out *o = &st->out;
    if (st->has_members[o->depth])
        out_put(o, ",", 1);
    st->has_members[o->depth] = true;
    out_put(o, "\n", 1);
    out_indent(o, o->depth);
    cleanup_json json_t *k = sv_jsonfmt_string(key);
    out_dump(o, k, SV_JSONFMT_PRETTY);
    out_put(o, ": ", 2);
}

void sv_jsonfmt_stream_put(struct sv_jsonfmt_stream *st, const char *key, json_t *v)
{
    stream_key(st, key);
    out_dump(&st->out, v, SV_JSONFMT_PRETTY);
    json_decref(v);
}

void sv_jsonfmt_stream_open(struct sv_jsonfmt_stream *st, const char *key)
{
    stream_key(st, key);
    out_put(&st->out, "{", 1);
    if (st->out.depth + 1 >= STREAM_MAX_DEPTH)
        abort(); /* a caller's bug: streams are for the top levels only */
    st->has_members[++st->out.depth] = false;
}

void sv_jsonfmt_stream_close(struct sv_jsonfmt_stream *st)
{
    struct jsonfmt_out *o = &st->out;
    bool had = st->has_members[o->depth];
    o->depth--;
    if (had) { /* an empty object stays "{}", as jansson writes it */
        out_put(o, "\n", 1);
        out_indent(o, o->depth);
    }
    out_put(o, "}", 1);
}

void sv_jsonfmt_stream_end(struct sv_jsonfmt_stream *st)
{
    sv_jsonfmt_stream_close(st);
    out_put(&st->out, "\n", 1);
    fwrite(st->out.text, 1, st->out.len, st->out.file);
    free(st->out.text);
    free(st);
}
