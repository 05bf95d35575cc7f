#include "core/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sv_json_init(struct sv_json *w, FILE *out, bool pretty)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->pretty = pretty;
}

void sv_json_flush(struct sv_json *w)
{
    if (w->out && w->len) {
        fwrite(w->buf, 1, w->len, w->out);
        w->len = 0;
    }
}

void sv_json_free(struct sv_json *w)
{
    sv_json_flush(w);
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

/* Our own buffer: stdio's per-call locking made printing a 10,000-service
 * graph cost more than evaluating it. */
static void put(struct sv_json *w, const char *s, size_t n)
{
    if (w->len + n > w->cap) {
        if (w->out && w->len > 0 && n < 65536) {
            sv_json_flush(w);
        }
        if (w->len + n > w->cap) {
            w->cap = (w->len + n) * 2 + 4096;
            w->buf = realloc(w->buf, w->cap);
            if (w->buf == NULL)
                abort();
        }
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
}

static void putch(struct sv_json *w, char c)
{
    if (w->len < w->cap)
        w->buf[w->len++] = c;
    else
        put(w, &c, 1);
}

static void puts_(struct sv_json *w, const char *s)
{
    put(w, s, strlen(s));
}

static void newline(struct sv_json *w)
{
    static const char spaces[] =
        "\n                                                                ";
    if (!w->pretty)
        return;
    size_t n = 1 + 2 * (size_t)w->depth;
    if (n < sizeof(spaces)) {
        put(w, spaces, n);
        return;
    }
    putch(w, '\n');
    for (int i = 0; i < w->depth; i++)
        put(w, "  ", 2);
}

/* Separator and indentation before a value or a key. */
static void before_item(struct sv_json *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0)
        return;
    if (w->has_items[w->depth])
        putch(w, ',');
    w->has_items[w->depth] = true;
    newline(w);
}

static void open(struct sv_json *w, char c)
{
    before_item(w);
    putch(w, c);
    if (w->depth + 1 < SV_JSON_MAX_DEPTH)
        w->depth++;
    w->has_items[w->depth] = false;
}

static void close_(struct sv_json *w, char c)
{
    bool had = w->has_items[w->depth];
    w->depth--;
    if (had)
        newline(w);
    putch(w, c);
}

void sv_json_object_begin(struct sv_json *w)
{
    open(w, '{');
}

void sv_json_object_end(struct sv_json *w)
{
    close_(w, '}');
}

void sv_json_array_begin(struct sv_json *w)
{
    open(w, '[');
}

void sv_json_array_end(struct sv_json *w)
{
    close_(w, ']');
}

static void write_string(struct sv_json *w, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    putch(w, '"');
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;
    for (; *p; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\' && *p != 0x7f)
            continue;
        put(w, (const char *)run, (size_t)(p - run));
        run = p + 1;
        switch (*p) {
        case '"':
            puts_(w, "\\\"");
            break;
        case '\\':
            puts_(w, "\\\\");
            break;
        case '\n':
            puts_(w, "\\n");
            break;
        case '\t':
            puts_(w, "\\t");
            break;
        case '\r':
            puts_(w, "\\r");
            break;
        default:
            puts_(w, "\\u00");
            putch(w, hex[*p >> 4]);
            putch(w, hex[*p & 15]);
        }
    }
    put(w, (const char *)run, (size_t)(p - run));
    putch(w, '"');
}

void sv_json_key(struct sv_json *w, const char *key)
{
    before_item(w);
    write_string(w, key);
    put(w, ": ", w->pretty ? 2 : 1);
    w->after_key = true;
}

void sv_json_str(struct sv_json *w, const char *s)
{
    if (s == NULL) {
        sv_json_null(w);
        return;
    }
    before_item(w);
    write_string(w, s);
}

void sv_json_int(struct sv_json *w, int64_t v)
{
    before_item(w);
    char buf[24], *p = buf + sizeof(buf); /* by hand: snprintf showed in profiles */
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    put(w, p, (size_t)(buf + sizeof(buf) - p));
}

void sv_json_num(struct sv_json *w, double v)
{
    before_item(w);
    if (!isfinite(v))
        puts_(w, "null");
    else if (v == floor(v) && fabs(v) < 1e15) {
        char buf[32]; /* keep it visibly a number with a fraction: 4.0 */
        put(w, buf, (size_t)snprintf(buf, sizeof(buf), "%.1f", v));
    } else {
        /* Shortest text that reads back as the same double: 0.1, not 0.10000000000000001. */
        char buf[40];
        snprintf(buf, sizeof(buf), "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, sizeof(buf), "%.17g", v);
        puts_(w, buf);
    }
}

void sv_json_bool(struct sv_json *w, bool v)
{
    before_item(w);
    puts_(w, v ? "true" : "false");
}

void sv_json_null(struct sv_json *w)
{
    before_item(w);
    puts_(w, "null");
}

void sv_json_end(struct sv_json *w)
{
    if (w->pretty)
        putch(w, '\n');
    sv_json_free(w);
}
