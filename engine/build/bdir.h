/* An unpacked layer written entry by entry (bdir.c): what COPY puts in
 * its tar, made at the same time as the directory the next RUN mounts. */
#ifndef SV_BDIR_H
#define SV_BDIR_H

#include "core/util.h"
#include "host/userns.h"

#include <sys/stat.h>

struct sv_bdir;

/* Write below path (an empty directory owned by the containers' root). */
int sv_bdir_new(const char *path, const struct sv_idmap *map, struct sv_bdir **d, sv_error_t *err);
/* name relative to the root, st as the image sees it (owners shifted
 * here), a link's target, a regular file's data from fd (read again from
 * its start). Parents come first (a directory's entry before what it
 * holds). */
int sv_bdir_entry(struct sv_bdir *d, const char *name, const struct stat *st, const char *link,
                  int fd, sv_error_t *err);
/* The directories' times, now that nothing is added to them. */
int sv_bdir_finish(struct sv_bdir *d, sv_error_t *err);
void sv_bdir_free(struct sv_bdir *d);

#endif
