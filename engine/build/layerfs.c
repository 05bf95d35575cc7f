/* The merged view of unpacked layers (see layerfs.h). A directory's
 * content comes from a list of layers, top first: those where it is a
 * directory, down to the first where it is opaque, stopped by a whiteout
 * or a non-directory. Each lookup stats one name in each of those
 * layers, so every host path it forms has only real directories above
 * the name (links are the tree's, resolved here). */
#include "build/layerfs.h"

#include "core/safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MAX_LINKS 40

void sv_layerfs_init(struct sv_layerfs *fs, char *const *dirs, size_t n)
{
    fs->dirs = sv_xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        fs->dirs[i] = sv_xstrdup(dirs[i]);
    fs->n = n;
}

void sv_layerfs_clear(struct sv_layerfs *fs)
{
    sv_strv_free(fs->dirs);
    fs->dirs = NULL;
    fs->n = 0;
}

/* The layers a directory merges, top first (indexes into fs->dirs). */
struct contrib {
    size_t *idx;
    size_t n;
};

static bool is_whiteout(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

static bool is_opaque(const char *path)
{
    char v[2];
    return (lgetxattr(path, "user.overlay.opaque", v, 1) == 1 && v[0] == 'y') ||
           (lgetxattr(path, "trusted.overlay.opaque", v, 1) == 1 && v[0] == 'y');
}

struct found {
    bool found;
    size_t top; /* the layer of the topmost entry */
    struct stat st;
};

/* name in directory dir (canonical, "" for the root) whose layers are c:
 * its topmost entry in f, and when a directory, its own layers in next. */
static int entry(const struct sv_layerfs *fs, const struct contrib *c, const char *dir,
                 const char *name, struct found *f, struct contrib *next, sv_error_t *err)
{
    f->found = false;
    next->n = 0;
    next->idx = sv_xrealloc(next->idx, (c->n + 1) * sizeof(size_t));
    for (size_t i = 0; i < c->n; i++) {
        cleanup_free char *p = sv_xasprintf("%s%s/%s", fs->dirs[c->idx[i]], dir, name);
        struct stat st;
        if (lstat(p, &st) < 0) {
            if (errno == ENOENT)
                continue;
            return sv_error(err, errno, "%s", p);
        }
        if (is_whiteout(&st))
            break;
        if (!f->found) {
            f->found = true;
            f->top = c->idx[i];
            f->st = st;
        }
        if (!S_ISDIR(st.st_mode) || !S_ISDIR(f->st.st_mode))
            break;
        next->idx[next->n++] = c->idx[i];
        if (is_opaque(p))
            break;
    }
    return 0;
}

/* Where a walk is: the canonical path so far and its directory's layers. */
struct walk {
    char *canon;
    struct contrib c, next;
    struct found f;
};

static void walk_clear(struct walk *w)
{
    free(w->canon);
    free(w->c.idx);
    free(w->next.idx);
}

static void walk_start(const struct sv_layerfs *fs, struct walk *w)
{
    walk_clear(w);
    memset(w, 0, sizeof(*w));
    w->canon = sv_xstrdup("");
    w->c.idx = sv_xcalloc(fs->n + 1, sizeof(size_t));
    for (size_t i = 0; i < fs->n; i++)
        w->c.idx[i] = i;
    w->c.n = fs->n;
    w->f.found = true; /* the root */
    w->f.st.st_mode = S_IFDIR | 0755;
    if (fs->n)
        lstat(fs->dirs[0], &w->f.st);
}

/* A link's target, read from the layer that holds it. */
static char *link_target(const struct sv_layerfs *fs, const struct walk *w, const char *name)
{
    cleanup_free char *p = sv_xasprintf("%s%s/%s", fs->dirs[w->f.top], w->canon, name);
    char buf[4096];
    ssize_t n = readlink(p, buf, sizeof(buf) - 1);
    if (n < 0)
        return NULL;
    buf[n] = '\0';
    return sv_xstrdup(buf);
}

/* Resolve path into w (w->f: the last entry). */
static int locate(const struct sv_layerfs *fs, const char *path, bool follow, struct walk *w,
                  sv_error_t *err)
{
    cleanup_free char *cur = sv_path_clean(path[0] == '/' ? path : "/");
    if (path[0] != '/') {
        free(cur);
        cur = sv_xasprintf("/%s", path);
        char *c = sv_path_clean(cur);
        free(cur);
        cur = c;
    }
    int links = 0;
restart:
    walk_start(fs, w);
    for (const char *p = cur + 1; *p;) {
        size_t len = strcspn(p, "/");
        cleanup_free char *name = sv_xstrndup(p, len);
        const char *rest = p + len + (p[len] == '/');
        bool last = *rest == '\0';
        if (!S_ISDIR(w->f.st.st_mode))
            return sv_error(err, ENOTDIR, "%s: %s is not a directory in the image", path,
                            *w->canon ? w->canon : "/");
        if (!w->f.found) { /* below a missing directory: nothing to resolve */
            char *c = sv_xasprintf("%s/%s", w->canon, name);
            free(w->canon);
            w->canon = c;
            p = rest;
            continue;
        }
        if (entry(fs, &w->c, w->canon, name, &w->f, &w->next, err) < 0)
            return -1;
        if (w->f.found && S_ISLNK(w->f.st.st_mode) && (!last || follow)) {
            cleanup_free char *target = link_target(fs, w, name);
            if (target == NULL || ++links > MAX_LINKS)
                return sv_error(err, ELOOP,
                                "%s: too many links (or an unreadable one) in the image", path);
            char *joined = target[0] == '/' ? sv_xasprintf("%s/%s", target, rest)
                                            : sv_xasprintf("%s/%s/%s", w->canon, target, rest);
            free(cur);
            cur = sv_path_clean(joined[0] == '/' ? joined : "/");
            free(joined);
            goto restart;
        }
        char *c = sv_xasprintf("%s/%s", w->canon, name);
        free(w->canon);
        w->canon = c;
        struct contrib t = w->c;
        w->c = w->next;
        w->next = t;
        if (!w->f.found)
            w->f.st.st_mode = S_IFDIR; /* what is below it is missing too */
        p = rest;
    }
    return 0;
}

int sv_layerfs_resolve(const struct sv_layerfs *fs, const char *path, bool follow, char **canon,
                       bool *found, struct stat *st, sv_error_t *err)
{
    __attribute__((cleanup(walk_clear))) struct walk w = {0};
    if (locate(fs, path, follow, &w, err) < 0)
        return -1;
    *found = w.f.found;
    if (st)
        *st = w.f.st;
    *canon = *w.canon ? sv_steal(w.canon) : sv_xstrdup("/");
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sv_layerfs_list(const struct sv_layerfs *fs, const char *canon, char ***names, sv_error_t *err)
{
    __attribute__((cleanup(walk_clear))) struct walk w = {0};
    if (locate(fs, canon, true, &w, err) < 0)
        return -1;
    if (!w.f.found || !S_ISDIR(w.f.st.st_mode))
        return sv_error(err, ENOTDIR, "%s: not a directory in the image", canon);
    cleanup_json json_t *seen = json_object();
    size_t n = 0;
    char **v = sv_xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < w.c.n; i++) {
        cleanup_free char *dir = sv_xasprintf("%s%s", fs->dirs[w.c.idx[i]], w.canon);
        cleanup_closedir DIR *d = opendir(dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
                json_object_get(seen, e->d_name))
                continue;
            json_object_set_new(seen, e->d_name, json_true());
            struct stat st;
            if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || is_whiteout(&st))
                continue;
            v = sv_xrealloc(v, (n + 2) * sizeof(char *));
            v[n++] = sv_xstrdup(e->d_name);
            v[n] = NULL;
        }
    }
    qsort(v, n, sizeof(char *), cmp_names);
    *names = v;
    return 0;
}

char *sv_layerfs_host_path(const struct sv_layerfs *fs, const char *canon)
{
    __attribute__((cleanup(walk_clear))) struct walk w = {0};
    if (locate(fs, canon, false, &w, NULL) < 0 || !w.f.found || fs->n == 0)
        return NULL;
    return sv_xasprintf("%s%s", fs->dirs[w.f.top], w.canon);
}

int sv_layerfs_read(const struct sv_layerfs *fs, const char *path, size_t max, char **data,
                    sv_error_t *err)
{
    __attribute__((cleanup(walk_clear))) struct walk w = {0};
    if (locate(fs, path, true, &w, err) < 0)
        return -1;
    if (!w.f.found)
        return 1;
    if (!S_ISREG(w.f.st.st_mode))
        return sv_error(err, EINVAL, "%s: not a file in the image", path);
    cleanup_free char *p = sv_xasprintf("%s%s", fs->dirs[w.f.top], w.canon);
    cleanup_close int fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return sv_error(err, errno, "%s", path);
    cleanup_free char *proc = sv_xasprintf("/proc/self/fd/%d", fd);
    return sv_read_file(proc, max, data, NULL, err);
}
