/* The document tree and its YAML (see xdoc.h). */
#include "export/xdoc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

struct sv_xdoc_chunk {
    struct sv_xdoc_chunk *prev;
    char data[];
};

#define XDOC_CHUNK ((size_t)64 << 10)

void sv_xdoc_init(struct sv_xdoc *d)
{
    memset(d, 0, sizeof(*d));
}

void sv_xdoc_free(struct sv_xdoc *d)
{
    while (d->chunks) {
        struct sv_xdoc_chunk *c = d->chunks;
        d->chunks = c->prev;
        free(c);
    }
    d->next = d->end = NULL;
}

void *sv_xdoc_alloc(struct sv_xdoc *d, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (d->next == NULL || (size_t)(d->end - d->next) < n) {
        size_t size = n > XDOC_CHUNK / 4 ? n : XDOC_CHUNK;
        struct sv_xdoc_chunk *c = sv_xmalloc(sizeof(*c) + size);
        c->prev = d->chunks;
        d->chunks = c;
        d->next = c->data;
        d->end = c->data + size;
    }
    void *p = d->next;
    d->next += n;
    memset(p, 0, n);
    return p;
}

const char *sv_xdoc_strdup(struct sv_xdoc *d, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = sv_xdoc_alloc(d, n);
    memcpy(p, s, n);
    return p;
}

const char *sv_xdoc_printf(struct sv_xdoc *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[256];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof(buf))
        return sv_xdoc_strdup(d, buf);
    char *p = sv_xdoc_alloc(d, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

static struct sv_xn *add(struct sv_xdoc *d, struct sv_xn *parent, const char *key,
                         enum sv_xn_kind kind)
{
    struct sv_xn *n = sv_xdoc_alloc(d, sizeof(*n));
    n->kind = kind;
    n->key = key;
    if (parent) {
        if (parent->tail)
            parent->tail->next = n;
        else
            parent->head = n;
        parent->tail = n;
        parent->n++;
    }
    return n;
}

struct sv_xn *sv_xn_map(struct sv_xdoc *d, struct sv_xn *parent, const char *key)
{
    return add(d, parent, key, SV_XN_MAP);
}

struct sv_xn *sv_xn_seq(struct sv_xdoc *d, struct sv_xn *parent, const char *key)
{
    return add(d, parent, key, SV_XN_SEQ);
}

void sv_xn_str(struct sv_xdoc *d, struct sv_xn *parent, const char *key, const char *s)
{
    add(d, parent, key, SV_XN_STR)->s = s;
}

void sv_xn_int(struct sv_xdoc *d, struct sv_xn *parent, const char *key, int64_t v)
{
    add(d, parent, key, SV_XN_SCALAR)->s = sv_xdoc_printf(d, "%" PRId64, v);
}

void sv_xn_bool(struct sv_xdoc *d, struct sv_xn *parent, const char *key, bool v)
{
    add(d, parent, key, SV_XN_SCALAR)->s = v ? "true" : "false";
}

void sv_xn_scalar(struct sv_xdoc *d, struct sv_xn *parent, const char *key, const char *text)
{
    add(d, parent, key, SV_XN_SCALAR)->s = text;
}

void sv_xn_append(struct sv_xn *parent, const char *key, struct sv_xn *node)
{
    node->key = key;
    node->next = NULL;
    if (parent->tail)
        parent->tail->next = node;
    else
        parent->head = node;
    parent->tail = node;
    parent->n++;
}

void sv_xn_strv(struct sv_xdoc *d, struct sv_xn *parent, const char *key, const char *const *v)
{
    struct sv_xn *seq = sv_xn_seq(d, parent, key);
    for (; v && *v; v++)
        sv_xn_str(d, seq, NULL, *v);
}

struct sv_xn *sv_xn_get(struct sv_xn *map, const char *key)
{
    for (struct sv_xn *n = map ? map->head : NULL; n; n = n->next)
        if (n->key && strcmp(n->key, key) == 0)
            return n;
    return NULL;
}

/* YAML 1.1 reads y, yes, on, off... as booleans and 1:30 as a number (base
 * 60); PyYAML (podman-compose) and Go's yaml.v2 still do. Anything that
 * starts like a number, and every such word, is quoted; the rest is left
 * to libyaml, which quotes what plain style cannot hold (": ", "#", ...). */
bool sv_xdoc_needs_quotes(const char *s)
{
    static const char *const words[] = {"y",   "n",    "yes", "no", "true", "false", "on",
                                        "off", "null", "~",   "<<", "=",    ".inf",  ".nan"};
    if (s[0] == '\0' || strchr("0123456789+-.~", s[0]))
        return true;
    for (size_t i = 0; i < SV_ARRAY_LEN(words); i++)
        if (strcasecmp(s, words[i]) == 0)
            return true;
    return false;
}

/* ---- writing --------------------------------------------------------------------------- */

struct sv_xw {
    yaml_emitter_t e;
    bool failed;
};

static int emit(struct sv_xw *w, yaml_event_t *ev, sv_error_t *err)
{
    if (w->failed || !yaml_emitter_emit(&w->e, ev)) {
        w->failed = true;
        return sv_error(err, errno, "cannot write YAML%s%s", w->e.problem ? ": " : "",
                        w->e.problem ? w->e.problem : "");
    }
    return 0;
}

static int emit_scalar(struct sv_xw *w, const char *s, bool string, sv_error_t *err)
{
    yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
    if (string && strchr(s, '\n'))
        style = YAML_LITERAL_SCALAR_STYLE;
    else if (string && sv_xdoc_needs_quotes(s))
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    yaml_event_t ev;
    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1, style);
    return emit(w, &ev, err);
}

static int emit_node(struct sv_xw *w, const struct sv_xn *n, sv_error_t *err)
{
    yaml_event_t ev;
    switch (n->kind) {
    case SV_XN_STR:
        return emit_scalar(w, n->s ? n->s : "", true, err);
    case SV_XN_SCALAR:
        return emit_scalar(w, n->s, false, err);
    case SV_XN_MAP:
        yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
        if (emit(w, &ev, err) < 0)
            return -1;
        for (const struct sv_xn *c = n->head; c; c = c->next)
            if (emit_scalar(w, c->key, true, err) < 0 || emit_node(w, c, err) < 0)
                return -1;
        yaml_mapping_end_event_initialize(&ev);
        return emit(w, &ev, err);
    case SV_XN_SEQ:
        yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE);
        if (emit(w, &ev, err) < 0)
            return -1;
        for (const struct sv_xn *c = n->head; c; c = c->next)
            if (emit_node(w, c, err) < 0)
                return -1;
        yaml_sequence_end_event_initialize(&ev);
        return emit(w, &ev, err);
    }
    return 0;
}

int sv_xw_open(FILE *out, struct sv_xw **wp, sv_error_t *err)
{
    struct sv_xw *w = sv_xcalloc(1, sizeof(*w));
    if (!yaml_emitter_initialize(&w->e)) {
        free(w);
        return sv_error(err, ENOMEM, "cannot start a YAML writer");
    }
    yaml_emitter_set_output_file(&w->e, out);
    yaml_emitter_set_unicode(&w->e, 1);
    yaml_emitter_set_width(&w->e, -1); /* no folding: a long command stays one line */
    yaml_emitter_set_indent(&w->e, 2);
    yaml_event_t ev;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    if (emit(w, &ev, err) < 0) {
        yaml_emitter_delete(&w->e);
        free(w);
        return -1;
    }
    *wp = w;
    return 0;
}

int sv_xw_doc(struct sv_xw *w, const struct sv_xn *root, sv_error_t *err)
{
    yaml_event_t ev;
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0);
    if (emit(w, &ev, err) < 0 || emit_node(w, root, err) < 0)
        return -1;
    yaml_document_end_event_initialize(&ev, 1);
    return emit(w, &ev, err);
}

int sv_xw_close(struct sv_xw *w, sv_error_t *err)
{
    yaml_event_t ev;
    yaml_stream_end_event_initialize(&ev);
    int rc = emit(w, &ev, err);
    if (rc == 0 && !yaml_emitter_flush(&w->e))
        rc = sv_error(err, errno, "cannot write YAML");
    yaml_emitter_delete(&w->e);
    free(w);
    return rc;
}

int sv_xdoc_write(FILE *out, const struct sv_xn *root, sv_error_t *err)
{
    struct sv_xw *w;
    if (sv_xw_open(out, &w, err) < 0)
        return -1;
    if (sv_xw_doc(w, root, err) < 0) {
        sv_xw_close(w, NULL);
        return -1;
    }
    return sv_xw_close(w, err);
}
