/* JSON the way servos writes it, through jansson (the one JSON library of
 * the project): strings that are not UTF-8 still come out, and the text
 * keeps the forms servos wrote before it used jansson, which the service
 * hashes are made of. */
#ifndef SV_JSONFMT_H
#define SV_JSONFMT_H

#include "core/util.h"

#include <jansson.h>

/* Dump flags: pretty (what users read) and compact (files, hashes). */
#define SV_JSONFMT_PRETTY  JSON_INDENT(2)
#define SV_JSONFMT_COMPACT JSON_COMPACT

/* A string, or null for NULL. Bytes that are not UTF-8 (a Latin-1 file, a
 * host variable), which jansson refuses, become U+EF80 + (byte - 0x80)
 * each (MirBSD's OPTU-8): the text stays valid JSON and distinct values
 * stay distinct, which the service hash needs. */
json_t *sv_jsonfmt_string(const char *s);
/* A real, or null for infinities and NaN (JSON has neither). */
json_t *sv_jsonfmt_real(double v);
/* obj[key] = v, stealing v; a key that is not UTF-8 is mapped as above. */
void sv_jsonfmt_set(json_t *obj, const char *key, json_t *v);

/* doc as text in the forms servos wrote before it used jansson: reals with
 * the fewer of 15 or 17 digits that read back exactly (0.1, 4.0,
 * 0.33333333333333331), control characters and DEL as lower-case \u00xx.
 * Pretty output ends with a newline, like a text file. */
void sv_jsonfmt_print(const json_t *doc, FILE *out, size_t flags);
char *sv_jsonfmt_dumps(const json_t *doc, size_t flags);

/* A pretty object written member by member, for a document too big to
 * hold as jansson values (a 10,000-service graph would take 70 MB and
 * three times as long): jansson writes each member's value, the stream
 * the braces and commas around them, as jansson would have. */
struct sv_jsonfmt_stream;
struct sv_jsonfmt_stream *sv_jsonfmt_stream_new(FILE *out);
/* "key": v, stealing v. */
void sv_jsonfmt_stream_put(struct sv_jsonfmt_stream *st, const char *key, json_t *v);
/* "key": { ... } around the members put until the matching close. */
void sv_jsonfmt_stream_open(struct sv_jsonfmt_stream *st, const char *key);
void sv_jsonfmt_stream_close(struct sv_jsonfmt_stream *st);
/* Close the top object, end the line, write out and free st. */
void sv_jsonfmt_stream_end(struct sv_jsonfmt_stream *st);

#endif
