#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sv_json_init(struct sv_json *w, FILE *out, bool pretty)
{
    memset(w, 0, sizeof(*w));
    w->out = out;
    w->pretty = pretty;
}

static void newline(struct sv_json *w)
{
    if (!w->pretty)
        return;
    putc('\n', w->out);
    for (int i = 0; i < w->depth; i++)
        fputs("  ", w->out);
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
        putc(',', w->out);
    w->has_items[w->depth] = true;
    newline(w);
}

static void open(struct sv_json *w, char c)
{
    before_item(w);
    putc(c, w->out);
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
    putc(c, w->out);
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

void sv_json_write_string(FILE *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    putc('"', out);
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;
    for (; *p; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\' && *p != 0x7f)
            continue;
        fwrite(run, 1, (size_t)(p - run), out);
        run = p + 1;
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\t': fputs("\\t", out); break;
        case '\r': fputs("\\r", out); break;
        default:
            fputs("\\u00", out);
            putc(hex[*p >> 4], out);
            putc(hex[*p & 15], out);
        }
    }
    fwrite(run, 1, (size_t)(p - run), out);
    putc('"', out);
}

void sv_json_key(struct sv_json *w, const char *key)
{
    before_item(w);
    sv_json_write_string(w->out, key);
    fputs(w->pretty ? ": " : ":", w->out);
    w->after_key = true;
}

void sv_json_str(struct sv_json *w, const char *s)
{
    if (s == NULL) {
        sv_json_null(w);
        return;
    }
    before_item(w);
    sv_json_write_string(w->out, s);
}

void sv_json_int(struct sv_json *w, int64_t v)
{
    before_item(w);
    fprintf(w->out, "%lld", (long long)v);
}

void sv_json_num(struct sv_json *w, double v)
{
    before_item(w);
    if (!isfinite(v))
        fputs("null", w->out);
    else if (v == floor(v) && fabs(v) < 1e15)
        fprintf(w->out, "%.1f", v); /* keep it visibly a number with a fraction: 4.0 */
    else {
        /* Shortest text that reads back as the same double: 0.1, not 0.10000000000000001. */
        char buf[40];
        snprintf(buf, sizeof(buf), "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, sizeof(buf), "%.17g", v);
        fputs(buf, w->out);
    }
}

void sv_json_bool(struct sv_json *w, bool v)
{
    before_item(w);
    fputs(v ? "true" : "false", w->out);
}

void sv_json_null(struct sv_json *w)
{
    before_item(w);
    fputs("null", w->out);
}

void sv_json_end(struct sv_json *w)
{
    if (w->pretty)
        putc('\n', w->out);
}
