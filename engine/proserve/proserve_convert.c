/* A shell command's output made JSON by its converter (the manifest's
 * converters, or a built-in name): json parses it; lines is a list of its
 * non-empty lines; csv a list of objects keyed by the header row (quotes
 * as RFC 4180 has them); table the same for whitespace columns (df, ps:
 * the last column takes the rest of the line); keyvalue an object of
 * "key=value" or "key: value" lines. text stays text (pf_answer_handler). */
#include "proserve/proserve_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static json_t *str(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    return j ? j : json_string(""); /* not UTF-8: jansson refuses it */
}

/* The next line of *p (without its "\r\n"), advancing *p; false at the end. */
static bool next_line(const char **p, const char *end, const char **line, size_t *n)
{
    if (*p >= end)
        return false;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *stop = nl ? nl : end;
    *line = *p;
    *n = (size_t)(stop - *p);
    while (*n > 0 && ((*line)[*n - 1] == '\r' || (*line)[*n - 1] == ' ' || (*line)[*n - 1] == '\t'))
        (*n)--;
    *p = nl ? nl + 1 : end;
    return true;
}

/* One CSV record's fields (quotes: "a,b", "say ""hi"""). */
static json_t *csv_fields(const char *s, size_t n, char delim)
{
    json_t *a = json_array();
    size_t i = 0;
    for (;;) {
        char *buf = sv_xmalloc(n + 1);
        size_t k = 0;
        if (i < n && s[i] == '"') {
            for (i++; i < n; i++) {
                if (s[i] == '"' && i + 1 < n && s[i + 1] == '"')
                    buf[k++] = '"', i++;
                else if (s[i] == '"')
                    break;
                else
                    buf[k++] = s[i];
            }
            i++;
            while (i < n && s[i] != delim)
                i++;
        } else {
            while (i < n && s[i] != delim)
                buf[k++] = s[i++];
        }
        json_array_append_new(a, str(buf, k));
        free(buf);
        if (i >= n)
            break;
        i++; /* the delimiter */
    }
    return a;
}

/* Whitespace columns: at most max fields, the last taking the rest. */
static json_t *columns(const char *s, size_t n, size_t max)
{
    json_t *a = json_array();
    size_t i = 0;
    while (i < n) {
        while (i < n && isspace((unsigned char)s[i]))
            i++;
        if (i >= n)
            break;
        size_t start = i;
        if (max && json_array_size(a) + 1 == max)
            i = n;
        else
            while (i < n && !isspace((unsigned char)s[i]))
                i++;
        json_array_append_new(a, str(s + start, i - start));
    }
    return a;
}

/* Rows (after the header row) as objects keyed by the header's fields. */
static json_t *records(const char *out, size_t len, bool csv, char delim)
{
    const char *p = out, *end = out + len, *line;
    size_t n;
    json_t *head = NULL, *rows = json_array();
    while (next_line(&p, end, &line, &n)) {
        if (n == 0)
            continue;
        if (head == NULL) {
            head = csv ? csv_fields(line, n, delim) : columns(line, n, 0);
            continue;
        }
        json_t *f = csv ? csv_fields(line, n, delim) : columns(line, n, json_array_size(head));
        json_t *row = json_object();
        size_t i;
        json_t *h;
        json_array_foreach(head, i, h) json_object_set(
            row, json_string_value(h), i < json_array_size(f) ? json_array_get(f, i) : json_null());
        json_array_append_new(rows, row);
        json_decref(f);
    }
    json_decref(head);
    return rows;
}

static json_t *keyvalue(const char *out, size_t len, const char *delim)
{
    const char *p = out, *end = out + len, *line;
    size_t n;
    json_t *o = json_object();
    while (next_line(&p, end, &line, &n)) {
        size_t at = n, dl = 1;
        if (delim && *delim) {
            dl = strlen(delim);
            for (size_t i = 0; i + dl <= n; i++)
                if (memcmp(line + i, delim, dl) == 0) {
                    at = i;
                    break;
                }
        } else {
            at = strcspn(line, "=:");
            at = at < n ? at : n;
        }
        if (at >= n)
            continue;
        size_t kl = at, vs = at + dl;
        while (kl > 0 && isspace((unsigned char)line[kl - 1]))
            kl--;
        while (vs < n && isspace((unsigned char)line[vs]))
            vs++;
        cleanup_free char *key = sv_xstrndup(line, kl);
        json_t *v = str(line + vs, n - vs);
        if (json_object_set_new(o, key, v) < 0)
            json_decref(v);
    }
    return o;
}

json_t *pf_convert(const json_t *convert, const char *out, size_t len)
{
    const char *type = json_string_value(json_object_get(convert, "type"));
    const char *delim = json_string_value(json_object_get(convert, "delimiter"));
    if (type == NULL || strcmp(type, "json") == 0)
        return json_loadb(out, len, JSON_DECODE_ANY, NULL);
    if (strcmp(type, "lines") == 0) {
        const char *p = out, *end = out + len, *line;
        size_t n;
        json_t *a = json_array();
        while (next_line(&p, end, &line, &n))
            if (n)
                json_array_append_new(a, str(line, n));
        return a;
    }
    if (strcmp(type, "csv") == 0)
        return records(out, len, true, delim && *delim ? delim[0] : ',');
    if (strcmp(type, "table") == 0)
        return records(out, len, false, 0);
    if (strcmp(type, "keyvalue") == 0)
        return keyvalue(out, len, delim);
    return str(out, len); /* text */
}
