/* What both exporters share: warnings and errors that name the service and
 * the key, the objects planned, images as the other engine must name them,
 * and writing the result (a stream, or one file per object). */
#include "export/export_int.h"
#include "image/imgref.h"
#include "image/imgstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The first line of every file -o DIR writes: how a later export knows
 * its own files (and removes those of objects that are gone). */
#define EXPORT_MARK "# Written by servos export"

void sv_export_clear(struct sv_export *x)
{
    sv_xdoc_free(&x->doc);
    free(x->objs);
    for (size_t i = 0; i < x->n_warnings; i++)
        free(x->warnings[i]);
    free(x->warnings);
    memset(x, 0, sizeof(*x));
}

static char *vmessage(struct xp *p, const struct sv_service *s, const char *key, const char *fmt,
                      va_list ap)
{
    cleanup_free char *what = NULL;
    if (vasprintf(&what, fmt, ap) < 0)
        sv_oom();
    if (s)
        return sv_xasprintf("%s: service \"%s\": %s%s%s", s->where, s->name, key ? key : "",
                            key ? ": " : "", what);
    return sv_xasprintf("stack %s: %s%s%s", p->g->stack, key ? key : "", key ? ": " : "", what);
}

void sv_export_warn(struct xp *p, const struct sv_service *s, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = vmessage(p, s, key, fmt, ap);
    va_end(ap);
    struct sv_export *x = p->x;
    x->warnings = sv_xrealloc(x->warnings, (x->n_warnings + 1) * sizeof(*x->warnings));
    x->warnings[x->n_warnings++] = msg;
}

int sv_export_fail(struct xp *p, const struct sv_service *s, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cleanup_free char *msg = vmessage(p, s, key, fmt, ap);
    va_end(ap);
    return sv_error(p->err, 0, "%s", msg);
}

struct sv_export_obj *sv_export_add(struct xp *p, const char *kind, const char *name,
                                    const char *file)
{
    struct sv_export *x = p->x;
    x->objs = sv_xrealloc(x->objs, (x->n_objs + 1) * sizeof(*x->objs));
    struct sv_export_obj *o = &x->objs[x->n_objs++];
    memset(o, 0, sizeof(*o));
    o->kind = kind;
    o->name = name;
    o->file = file;
    o->root = sv_xn_map(p->d, NULL, NULL);
    return o;
}

struct sv_xn *sv_export_object(struct xp *p, const char *api, const char *kind, const char *name)
{
    char lower[64];
    snprintf(lower, sizeof(lower), "%s", kind);
    for (char *c = lower; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    struct sv_export_obj *o =
        sv_export_add(p, kind, name, sv_xdoc_printf(p->d, "%s-%s.yaml", name, lower));
    sv_xn_str(p->d, o->root, "apiVersion", api);
    sv_xn_str(p->d, o->root, "kind", kind);
    struct sv_xn *meta = sv_xn_map(p->d, o->root, "metadata");
    sv_xn_str(p->d, meta, "name", name);
    if (p->o->namespace)
        sv_xn_str(p->d, meta, "namespace", p->o->namespace);
    struct sv_xn *labels = sv_xn_map(p->d, meta, "labels");
    sv_xn_str(p->d, labels, "app.kubernetes.io/part-of", p->stack);
    sv_xn_str(p->d, labels, "app.kubernetes.io/managed-by", "servos");
    if (p->g->commit) { /* an environment repository: which one, and where it stood */
        struct sv_xn *ann = sv_xn_map(p->d, meta, "annotations");
        sv_xn_str(p->d, ann, "servos/source", p->g->source);
        sv_xn_str(p->d, ann, "servos/commit", p->g->commit);
    }
    return o->root;
}

struct sv_xn *sv_export_meta(struct xp *p, struct sv_xn *root, const char *which)
{
    /* labels come first: sv_export_object makes them with the metadata */
    struct sv_xn *meta = sv_xn_get(root, "metadata");
    struct sv_xn *m = sv_xn_get(meta, which);
    return m ? m : sv_xn_map(p->d, meta, which);
}

const char *sv_export_label(const struct sv_service *s, const char *key)
{
    for (size_t i = 0; i < s->n_labels; i++)
        if (strcmp(s->labels[i].key, key) == 0)
            return s->labels[i].value;
    return NULL;
}

/* Is ref (parsed) an image of this host's store only: localhost/NAME, or a
 * bare NAME that the store holds as localhost/NAME (as imports name it)? */
static bool image_local(const char *given, const struct sv_imgref *r)
{
    if (strcmp(r->registry, "localhost") == 0)
        return true;
    if (strchr(given, '/') || r->digest[0] || strncmp(r->repo, "library/", 8) != 0)
        return false;
    cleanup_free char *local = sv_xasprintf("localhost/%s:%s", r->repo + 8, r->tag);
    char digest[SV_DIGEST_LEN + 1];
    return sv_image_lookup(local, digest, NULL) == 0;
}

int sv_export_image(struct xp *p, const struct sv_service *s, const char **out)
{
    const char *img = s->image;
    if (s->board && s->build)
        return sv_export_fail(p, s, "board",
                              "\"%s\" is a board service (its firmware runs in an emulator here, "
                              "or on a board at this host's port): nothing a cluster can run; "
                              "leave it out of the export with a profile",
                              s->board);
    if (strcmp(img, "host") == 0) {
        if (p->o->host_image) {
            *out = p->o->host_image;
            return 0;
        }
        return sv_export_fail(p, s, "image",
                              "\"host\" (this host's own root file system) cannot run elsewhere: "
                              "give the service an image, or --host-image REF for every such "
                              "service");
    }
    if (img[0] == '/')
        return sv_export_fail(p, s, "image",
                              "%s is a root file system on this host: import it (servos image "
                              "import %s NAME), push it (servos image push NAME "
                              "REGISTRY/NAME) and name that image",
                              img, img);
    cleanup_imgref struct sv_imgref r = {0};
    sv_error_t perr = NULL;
    if (sv_imgref_parse(img, &r, &perr) < 0) {
        sv_error_free(&perr);
        return sv_export_fail(p, s, "image", "\"%s\" is not an image reference", img);
    }
    /* an image servos builds (build:) is this host's, built or not yet */
    if (s->build == NULL && !image_local(img, &r)) {
        *out = img;
        return 0;
    }
    const char *repo = strncmp(r.repo, "library/", 8) == 0 ? r.repo + 8 : r.repo;
    if (p->o->image_registry == NULL)
        return sv_export_fail(p, s, "image",
                              "\"%s\" is %s this host's image store only: push it to a registry "
                              "the cluster pulls from (servos image push %s HOST/%s) and give "
                              "--image-registry HOST",
                              img, s->build ? "built into" : "in", img, repo);
    *out = r.digest[0] ? sv_xdoc_printf(p->d, "%s/%s@%s", p->o->image_registry, repo, r.digest)
                       : sv_xdoc_printf(p->d, "%s/%s:%s", p->o->image_registry, repo, r.tag);
    return 0;
}

const char *sv_export_servos_image(struct xp *p)
{
    if (p->o->servos_image)
        return p->o->servos_image;
    if (p->o->image_registry)
        return sv_xdoc_printf(p->d, "%s/servos:%s", p->o->image_registry, p->o->version);
    return NULL;
}

/* ---- writing ----------------------------------------------------------------------------- */

static int write_stream(const struct sv_export *x, sv_error_t *err)
{
    static char buf[1 << 16];
    setvbuf(stdout, buf, _IOFBF, sizeof(buf));
    for (size_t i = 0; i < x->n_objs; i++)
        if (sv_xdoc_write_doc(stdout, x->objs[i].root, err) < 0)
            return -1;
    if (fflush(stdout) != 0)
        return sv_error(err, errno, "cannot write the export");
    return 0;
}

/* One object's file, whole or not at all (a temporary file, renamed). */
static int write_one(int dfd, const char *dir, const struct sv_export_obj *o, sv_error_t *err)
{
    cleanup_free char *tmp = sv_xasprintf(".%s.tmp", o->file);
    unlinkat(dfd, tmp, 0);
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, o->secret ? 0600 : 0644);
    if (fd < 0)
        return sv_error(err, errno, "cannot write %s/%s", dir, tmp);
    cleanup_fclose FILE *f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return sv_error(err, errno, "cannot write %s/%s", dir, tmp);
    }
    fprintf(f, "%s: %s %s%s\n", EXPORT_MARK, o->kind, o->name,
            o->secret ? " (secret data: keep this file private)" : "");
    int rc = sv_xdoc_write_doc(f, o->root, err);
    if (rc == 0 && (fflush(f) != 0 || fsync(fileno(f)) < 0))
        rc = sv_error(err, errno, "cannot write %s/%s", dir, tmp);
    if (rc == 0 && renameat(dfd, tmp, dfd, o->file) < 0)
        rc = sv_error(err, errno, "cannot write %s/%s", dir, o->file);
    if (rc < 0)
        unlinkat(dfd, tmp, 0);
    return rc;
}

/* A file an earlier export wrote (its first line says so)? */
static bool ours(int dfd, const char *name)
{
    cleanup_close int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char buf[sizeof(EXPORT_MARK)] = {0};
    return fd >= 0 && read(fd, buf, sizeof(buf) - 1) == (ssize_t)sizeof(buf) - 1 &&
           strcmp(buf, EXPORT_MARK) == 0;
}

/* Files of objects an earlier export had and this one has not: applied
 * with the rest (kubectl apply -f DIR), they would bring them back. */
static void remove_stale(int dfd, const struct sv_export *x)
{
    cleanup_closedir DIR *d = fdopendir(dup(dfd));
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 6 || strcmp(de->d_name + n - 5, ".yaml") != 0)
            continue;
        bool keep = false;
        for (size_t i = 0; i < x->n_objs && !keep; i++)
            keep = strcmp(x->objs[i].file, de->d_name) == 0;
        if (!keep && ours(dfd, de->d_name))
            unlinkat(dfd, de->d_name, 0);
    }
}

int sv_export_write(const struct sv_export *x, const char *dir, sv_error_t *err)
{
    if (strcmp(dir, "-") == 0)
        return write_stream(x, err);
    if (sv_mkdir_p(dir, 0755, err) < 0)
        return -1;
    cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return sv_error(err, errno, "%s", dir);
    for (size_t i = 0; i < x->n_objs; i++)
        if (write_one(dfd, dir, &x->objs[i], err) < 0)
            return -1;
    remove_stale(dfd, x);
    return 0;
}

int sv_export_write_file(const struct sv_export *x, const char *path, sv_error_t *err)
{
    cleanup_free char *dir = sv_dirname(path);
    const char *slash = strrchr(path, '/');
    cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return sv_error(err, errno, "%s", dir);
    struct sv_export_obj o = x->objs[0];
    o.file = slash ? slash + 1 : path;
    return write_one(dfd, dir, &o, err);
}
