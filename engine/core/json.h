/* A tiny streaming JSON writer: servos prints graphs, ps tables and API
 * answers with it. Keys are written in the order the caller gives, so output
 * is stable. Pretty (2-space indent) or compact. */
#ifndef SV_JSON_H
#define SV_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SV_JSON_MAX_DEPTH 128

struct sv_json {
    FILE *out; /* NULL: keep everything in buf (for hashing) */
    char *buf;
    size_t len, cap;
    bool pretty;
    int depth;
    bool has_items[SV_JSON_MAX_DEPTH];
    bool after_key;
};

void sv_json_init(struct sv_json *w, FILE *out, bool pretty);
/* Write out what is buffered (when out is set) and release the buffer. */
void sv_json_flush(struct sv_json *w);
void sv_json_free(struct sv_json *w);
void sv_json_object_begin(struct sv_json *w);
void sv_json_object_end(struct sv_json *w);
void sv_json_array_begin(struct sv_json *w);
void sv_json_array_end(struct sv_json *w);
void sv_json_key(struct sv_json *w, const char *key);
void sv_json_str(struct sv_json *w, const char *s); /* NULL prints null */
void sv_json_int(struct sv_json *w, int64_t v);
void sv_json_num(struct sv_json *w, double v);
void sv_json_bool(struct sv_json *w, bool v);
void sv_json_null(struct sv_json *w);
/* Finish with a newline (pretty) so the output ends like a text file. */
void sv_json_end(struct sv_json *w);

#endif
