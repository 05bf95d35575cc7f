/* The one way servos writes JSON: values are built with jansson (the one
 * JSON library of the project, which also parses), and written as text by
 * the printer here, never by jansson's dump or by printf. Strings that are
 * not UTF-8 still come out, and the text keeps the forms servos always
 * wrote, which the service hashes are made of. */
#ifndef SV_JSON_H
#define SV_JSON_H

#include "core/util.h"

#include <jansson.h>

/* Layout: pretty (what users read: a member a line, two spaces a level)
 * or compact (files, hashes: no spaces at all); or'ed with SORTED, members
 * sorted by key, for text that must not depend on the order of the code
 * that built the value (a spec's hash, an index file). */
#define SV_JSON_PRETTY  0u
#define SV_JSON_COMPACT 1u
#define SV_JSON_SORTED  2u

/* Jansson values that are sure to be built (jansson refuses what is not
 * UTF-8): a string, or null for NULL; bytes that are not UTF-8 (a Latin-1
 * file, a host variable) become U+EF80 + (byte - 0x80) each (MirBSD's
 * OPTU-8), so the text stays valid JSON and distinct values stay distinct,
 * which the service hash needs. The writer below maps strings the same
 * way. */
json_t *sv_json_string(const char *s);
/* A real, or null for infinities and NaN (JSON has neither). */
json_t *sv_json_real(double v);
/* obj[key] = v, stealing v; a key that is not UTF-8 is mapped as above. */
void sv_json_set(json_t *obj, const char *key, json_t *v);

/* doc as text (malloc'd), or printed to out (pretty text ends with a
 * newline, like a text file). Reals with the fewer of 15 or 17 digits that
 * read back exactly (0.1, 4.0, 0.33333333333333331), control characters
 * and DEL as lower-case \u00xx. */
char *sv_json_dumps(const json_t *doc, unsigned flags);
void sv_json_print(const json_t *doc, FILE *out, unsigned flags);

/* The writer under both: tokens straight to text, for a document too big
 * or too hot to build as jansson values first (`servos config` of a
 * 10,000-service graph; every service's hash). Commas, line breaks and
 * indentation come from the nesting. */
struct sv_jw;
/* Into out, or into a buffer that sv_jw_end returns when out is NULL. */
struct sv_jw *sv_jw_new(FILE *out, unsigned flags);
/* A member's key; its value is whatever is written next. */
void sv_jw_key(struct sv_jw *w, const char *key);
/* Open an object or an array; sv_jw_close closes the innermost. */
void sv_jw_object(struct sv_jw *w);
void sv_jw_array(struct sv_jw *w);
void sv_jw_close(struct sv_jw *w);
/* Values. A NULL string and a real that is not finite are written null. */
void sv_jw_string(struct sv_jw *w, const char *s);
void sv_jw_int(struct sv_jw *w, long long v);
void sv_jw_real(struct sv_jw *w, double v);
void sv_jw_bool(struct sv_jw *w, bool v);
void sv_jw_null(struct sv_jw *w);
/* A jansson value, its members sorted by key when asked. */
void sv_jw_value(struct sv_jw *w, const json_t *v, bool sorted);
/* Finish and free w: the text (malloc'd) when it wrote to a buffer, else
 * NULL once everything is written to the file. */
char *sv_jw_end(struct sv_jw *w);

#endif
