/* The files of an image archive (a tar, compressed or not) or directory,
 * by name, each staged in a temporary blob file with its digest (see
 * imgsrc.c): what image load reads archives through. */
#ifndef SV_IMGSRC_H
#define SV_IMGSRC_H

#include "core/digest.h"
#include "image/imgblob.h"
#include "core/util.h"

struct sv_imgsrc_entry {
    char *name; /* "blobs/sha256/...", "manifest.json": no "./", no leading "/" */
    char *link; /* another entry's name (a symbolic or hard link), or NULL */
    struct sv_blob_tmp tmp;
    char digest[SV_DIGEST_LEN + 1]; /* of tmp's content */
    bool adopted;                   /* moved into the store (or already there) */
};

struct sv_imgsrc {
    const char *path;
    int dir; /* a directory, read file by file; -1: an archive, read whole */
    struct sv_imgsrc_entry **e;
    size_t n;
    struct sv_imgsrc_entry *cur; /* the entry being read */
};

/* Open path: a directory, or an archive read whole now (a truncated or
 * corrupt one fails here). */
int sv_imgsrc_open(struct sv_imgsrc *src, const char *path, sv_error_t *err);
/* Every temporary file not moved into the store is removed. */
void sv_imgsrc_close(struct sv_imgsrc *src);
/* The entry rel names, links followed; NULL (and an error) when none. */
struct sv_imgsrc_entry *sv_imgsrc_get(struct sv_imgsrc *src, const char *rel, sv_error_t *err);
bool sv_imgsrc_has(struct sv_imgsrc *src, const char *rel);
/* rel parsed as JSON. */
json_t *sv_imgsrc_doc(struct sv_imgsrc *src, const char *rel, sv_error_t *err);

#endif
