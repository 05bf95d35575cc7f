/* The files of an image archive or directory, by name: an archive (tar,
 * compressed or not) is read whole, each regular entry into a temporary
 * blob file, hashed as it is written (no entry ever becomes a path of its
 * own, so no link or name in it can reach the host); a directory's files
 * are read on first use, resolved inside it. Links in an archive are
 * followed to the entry they name. */
#include "image/imgsrc.h"

#include "core/safepath.h"
#include "image/unpack.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DOC   (4 << 20)
#define MAX_LINKS 8

void sv_imgsrc_close(struct sv_imgsrc *src)
{
    for (size_t i = 0; i < src->n; i++) {
        sv_blob_tmp_discard(&src->e[i]->tmp);
        free(src->e[i]->name);
        free(src->e[i]->link);
        free(src->e[i]);
    }
    free(src->e);
    if (src->dir >= 0)
        close(src->dir);
}

/* A name as its archive wrote it ("./x", "/x", "a//b"), as one form. */
static char *normalise(const char *name)
{
    cleanup_free char *abs = sv_xasprintf("/%s", name);
    char *clean = sv_path_clean(abs);
    memmove(clean, clean + 1, strlen(clean));
    return clean;
}

static struct sv_imgsrc_entry *add_entry(struct sv_imgsrc *src, const char *name)
{
    cleanup_free char *n = normalise(name);
    for (size_t i = 0; i < src->n; i++) /* a later entry of the same name wins */
        if (strcmp(src->e[i]->name, n) == 0) {
            sv_blob_tmp_discard(&src->e[i]->tmp);
            free(src->e[i]->link);
            src->e[i]->link = NULL;
            return src->e[i];
        }
    src->e = sv_xrealloc(src->e, (src->n + 1) * sizeof(*src->e));
    struct sv_imgsrc_entry *e = src->e[src->n++] = sv_xcalloc(1, sizeof(*e));
    e->name = sv_steal(n);
    e->tmp.fd = -1;
    return e;
}

static int scan_begin(void *ud, const char *name, char kind, const char *link, sv_error_t *err)
{
    struct sv_imgsrc *src = ud;
    src->cur = NULL;
    if (kind == 'o')
        return 0;
    struct sv_imgsrc_entry *e = add_entry(src, name);
    if (kind == 'l') { /* relative to its own directory */
        cleanup_free char *dir = sv_dirname(e->name);
        cleanup_free char *t = link[0] == '/' ? sv_xstrdup(link) : sv_xasprintf("%s/%s", dir, link);
        e->link = normalise(t);
    } else if (kind == 'h') {
        e->link = normalise(link);
    } else {
        src->cur = e;
        return sv_blob_tmp_open(&e->tmp, err);
    }
    return 0;
}

static int scan_data(void *ud, const void *buf, size_t len, sv_error_t *err)
{
    struct sv_imgsrc *src = ud;
    return src->cur ? sv_blob_tmp_write(&src->cur->tmp, buf, len, err) : 0;
}

static int scan_end(void *ud, sv_error_t *err)
{
    struct sv_imgsrc *src = ud;
    return src->cur ? sv_blob_tmp_close(&src->cur->tmp, src->cur->digest, err) : 0;
}

/* The entry rel names, links followed; from a directory, read now. NULL
 * (and an error) when there is none. */
struct sv_imgsrc_entry *sv_imgsrc_get(struct sv_imgsrc *src, const char *rel, sv_error_t *err)
{
    cleanup_free char *name = normalise(rel);
    for (int hops = 0; hops <= MAX_LINKS; hops++) {
        struct sv_imgsrc_entry *e = NULL;
        for (size_t i = 0; i < src->n && !e; i++)
            if (strcmp(src->e[i]->name, name) == 0)
                e = src->e[i];
        if (e && e->link == NULL)
            return e;
        if (e) {
            free(name);
            name = sv_xstrdup(e->link);
            continue;
        }
        if (src->dir < 0)
            break;
        /* Resolved inside the directory: its links cannot reach a host file. */
        cleanup_close int fd = sv_path_openat_in(src->dir, name, O_RDONLY, 0);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
            break;
        e = add_entry(src, name);
        if (sv_blob_tmp_from_fd(&e->tmp, fd, e->digest, err) < 0)
            return NULL;
        return e;
    }
    sv_error(err, 0, "%s: no %s in it", src->path, rel);
    return NULL;
}

bool sv_imgsrc_has(struct sv_imgsrc *src, const char *rel)
{
    return sv_imgsrc_get(src, rel, NULL) != NULL;
}

json_t *sv_imgsrc_doc(struct sv_imgsrc *src, const char *rel, sv_error_t *err)
{
    struct sv_imgsrc_entry *e = sv_imgsrc_get(src, rel, err);
    cleanup_free char *doc = NULL;
    size_t len;
    if (e == NULL || sv_read_file(e->tmp.path, MAX_DOC, &doc, &len, err) < 0)
        return NULL;
    json_error_t je;
    json_t *j = json_loadb(doc, len, 0, &je);
    if (j == NULL)
        sv_error(err, 0, "%s: %s: %s", src->path, rel, je.text);
    return j;
}

int sv_imgsrc_open(struct sv_imgsrc *src, const char *path, sv_error_t *err)
{
    memset(src, 0, sizeof(*src));
    bool in = strcmp(path, "-") == 0;
    src->path = in ? "standard input" : path;
    src->dir = -1;
    struct stat st;
    if (!in && stat(path, &st) < 0)
        return sv_error(err, errno, "%s", path);
    if (!in && S_ISDIR(st.st_mode)) {
        src->dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return src->dir < 0 ? sv_error(err, errno, "%s", path) : 0;
    }
    struct sv_unpack_scan cb = {scan_begin, scan_data, scan_end, src};
    return sv_unpack_scan(in ? NULL : path, &cb, err);
}
