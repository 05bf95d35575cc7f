/* Documents for another engine (Kubernetes objects, a Compose file): a
 * small tree of maps, lists and scalars, built in an arena in the order
 * the fields should read, then written as block-style YAML. The
 * tree keeps the writer apart from what is written: the exporters plan
 * every object (and every warning) first and write only when the plan
 * holds, so a refused export leaves no half-written file. */
#ifndef SV_XDOC_H
#define SV_XDOC_H

#include "core/util.h"

#include <stdint.h>
#include <stdio.h>

enum sv_xn_kind { SV_XN_MAP, SV_XN_SEQ, SV_XN_STR, SV_XN_SCALAR };

/* One node: a map's entry carries its key. SV_XN_SCALAR is written as it
 * is (numbers, true/false); SV_XN_STR is a string, quoted wherever a YAML
 * reader (YAML 1.1's included: PyYAML, Go's yaml.v2) could take it for
 * anything else. */
struct sv_xn {
    enum sv_xn_kind kind;
    const char *key;
    const char *s;
    struct sv_xn *head, *tail, *next;
    size_t n; /* children */
};

struct sv_xdoc_chunk;
/* The arena every node and string of one export lives in. */
struct sv_xdoc {
    struct sv_xdoc_chunk *chunks;
    char *next, *end;
};

void sv_xdoc_init(struct sv_xdoc *d);
void sv_xdoc_free(struct sv_xdoc *d);
static inline void sv_xdoc_freep(struct sv_xdoc *d)
{
    sv_xdoc_free(d);
}
#define cleanup_xdoc __attribute__((cleanup(sv_xdoc_freep)))

void *sv_xdoc_alloc(struct sv_xdoc *d, size_t n);
const char *sv_xdoc_strdup(struct sv_xdoc *d, const char *s);
const char *sv_xdoc_printf(struct sv_xdoc *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A new map or list: at the top (parent NULL), under key in a map, or as
 * an item of a list (key NULL). */
struct sv_xn *sv_xn_map(struct sv_xdoc *d, struct sv_xn *parent, const char *key);
struct sv_xn *sv_xn_seq(struct sv_xdoc *d, struct sv_xn *parent, const char *key);
/* Scalars; the string is not copied (it must outlive the document: the
 * graph's, a literal, or sv_xdoc_strdup'ed). */
void sv_xn_str(struct sv_xdoc *d, struct sv_xn *parent, const char *key, const char *s);
void sv_xn_int(struct sv_xdoc *d, struct sv_xn *parent, const char *key, int64_t v);
void sv_xn_bool(struct sv_xdoc *d, struct sv_xn *parent, const char *key, bool v);
/* A scalar written as it is (a number as text: "0440"). */
void sv_xn_scalar(struct sv_xdoc *d, struct sv_xn *parent, const char *key, const char *text);
/* A list of strings (argv, NULL-terminated). */
void sv_xn_strv(struct sv_xdoc *d, struct sv_xn *parent, const char *key, const char *const *v);
/* Hang node, made without a parent (parent NULL), under parent as key. */
void sv_xn_append(struct sv_xn *parent, const char *key, struct sv_xn *node);
/* The entry under key in map, or NULL. */
struct sv_xn *sv_xn_get(struct sv_xn *map, const char *key);

/* Does s need quotes to stay a string for every YAML reader? */
bool sv_xdoc_needs_quotes(const char *s);

/* One document ("---" and its tree) to out, in block style. */
int sv_xdoc_write_doc(FILE *out, const struct sv_xn *root, sv_error_t *err);

#endif
