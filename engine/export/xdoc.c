/* The document tree and its YAML (see xdoc.h). */
#include "export/xdoc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
 * starts like a number, and every such word, is quoted. */
bool sv_xdoc_needs_quotes(const char *s)
{
    static const char *const words[] = {"y",   "n",    "yes", "no", "true", "false", "on",
                                        "off", "null", "~",   "<<", "=",    ".inf",  ".nan"};
    if (s[0] == '\0' || strchr("0123456789+-.~", s[0]))
        return true;
    if (strlen(s) > 5 || !strchr("yYnNtTfFoO<=", s[0])) /* no word is longer, or starts so */
        return false;
    for (size_t i = 0; i < SV_ARRAY_LEN(words); i++)
        if (strcasecmp(s, words[i]) == 0)
            return true;
    return false;
}

/* ---- writing ---------------------------------------------------------------------------
 *
 * Block style only, as libyaml's emitter writes it (2 spaces a level, a
 * list under a key at the key's own indentation, a map in a list from its
 * "- "), by hand: the emitter's event per scalar, each copied and freed,
 * was most of a big export's time. What a plain scalar may hold is
 * decided here, conservatively: anything doubtful is double-quoted. */

/* Can s be written plain (it is a string already known to need no
 * quotes for its type)? */
static bool plain_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) || s[n - 1] == ' ' || s[n - 1] == ':')
        return false;
    for (const char *c = s; *c; c++) {
        unsigned char ch = (unsigned char)*c;
        if (ch < 0x20 || ch == 0x7f || (c[0] == ':' && c[1] == ' ') || (c[0] == ' ' && c[1] == '#'))
            return false;
    }
    return true;
}

/* A literal block (|) holds lines as they are: no other control
 * character, no leading space (that would need an indentation digit), and
 * some text. */
static bool literal_ok(const char *s)
{
    if (s[0] == ' ' || s[strspn(s, "\n")] == '\0')
        return false;
    for (const char *c = s; *c; c++)
        if (((unsigned char)*c < 0x20 && *c != '\n') || *c == 0x7f)
            return false;
    return true;
}

static void put_indent(FILE *out, int indent)
{
    static const char spaces[] = "                                                                ";
    while (indent > 0) {
        int k = indent < 64 ? indent : 64;
        fwrite(spaces, 1, (size_t)k, out);
        indent -= k;
    }
}

static void put_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        default:
            if (*c < 0x20 || *c == 0x7f)
                fprintf(out, "\\x%02x", *c);
            else
                fputc(*c, out);
        }
    }
    fputc('"', out);
}

/* A literal block: its header, then each line at indent. */
static void put_literal(FILE *out, const char *s, int indent)
{
    size_t n = strlen(s), nl = 0;
    while (nl < n && s[n - 1 - nl] == '\n')
        nl++;
    fputs(nl == 0 ? "|-" : nl == 1 ? "|" : "|+", out);
    for (const char *line = s; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        fputc('\n', out);
        if (len) {
            put_indent(out, indent);
            fwrite(line, 1, len, out);
        }
        if (end == NULL)
            break;
        line = end + 1; /* an empty line of |+ is a line too; the last newline is the caller's */
    }
}

/* A scalar where it stands (after "key: " or "- "); indent: that of a
 * literal block's lines. */
static void put_scalar(FILE *out, const struct sv_xn *n, int indent)
{
    const char *s = n->s ? n->s : "";
    if (n->kind == SV_XN_SCALAR)
        fputs(s, out);
    else if (strchr(s, '\n') && literal_ok(s))
        put_literal(out, s, indent);
    else if (!sv_xdoc_needs_quotes(s) && plain_ok(s))
        fputs(s, out);
    else
        put_quoted(out, s);
}

static bool is_collection(const struct sv_xn *n)
{
    return n->kind == SV_XN_MAP || n->kind == SV_XN_SEQ;
}

static void put_node(FILE *out, const struct sv_xn *n, int indent, bool inline_first);

/* What follows "key:" or "- ": a scalar or an empty collection on the
 * same line, else a new line and the collection. */
static void put_value(FILE *out, const struct sv_xn *v, int indent, bool in_seq)
{
    if (!is_collection(v)) {
        fputc(' ', out);
        put_scalar(out, v, indent + 2);
        fputc('\n', out);
    } else if (v->head == NULL) {
        fputs(v->kind == SV_XN_MAP ? " {}\n" : " []\n", out);
    } else if (in_seq) {
        fputc(' ', out); /* "- key: ..." or "- - ...": the first line goes on */
        put_node(out, v, indent + 2, true);
    } else {
        fputc('\n', out);
        /* a list under a key at the key's indentation, a map two deeper */
        put_node(out, v, v->kind == SV_XN_SEQ ? indent : indent + 2, false);
    }
}

static void put_node(FILE *out, const struct sv_xn *n, int indent, bool inline_first)
{
    bool first = true;
    for (const struct sv_xn *c = n->head; c; c = c->next, first = false) {
        if (!(first && inline_first))
            put_indent(out, indent);
        if (n->kind == SV_XN_MAP) {
            struct sv_xn key = {.kind = SV_XN_STR, .s = c->key};
            put_scalar(out, &key, indent);
            fputc(':', out);
            put_value(out, c, indent, false);
        } else {
            fputc('-', out);
            put_value(out, c, indent, true);
        }
    }
}

int sv_xdoc_write_doc(FILE *out, const struct sv_xn *root, sv_error_t *err)
{
    fputs("---\n", out);
    if (!is_collection(root)) {
        put_scalar(out, root, 0);
        fputc('\n', out);
    } else if (root->head == NULL) {
        fputs(root->kind == SV_XN_MAP ? "{}\n" : "[]\n", out);
    } else {
        put_node(out, root, 0, false);
    }
    if (ferror(out))
        return sv_error(err, errno ? errno : EIO, "cannot write YAML");
    return 0;
}
