/* What a COPY or ADD reads: its sources, from the build context or from
 * another stage's (or an image's) tree, each expanded (globs), walked
 * (a directory's content) and listed with the owners, modes and link
 * targets the layer will have. In the context, everything is looked up
 * beneath the context directory (openat2 RESOLVE_BENEATH): "../x", an
 * absolute path's link or a link that leads out is refused, not
 * followed; what .containerignore / .dockerignore exclude is not there.
 * Context sources are digested (names, modes, content) for the cache;
 * another stage's are named by that stage's key. */
#include "build/build_int.h"
#include "build/bsource.h"
#include "build/layerfs.h"

#include "core/safepath.h"
#include "core/store.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void sv_bsource_clear(struct bsources *bs)
{
    for (size_t i = 0; i < bs->n; i++) {
        struct bsrc *s = &bs->v[i];
        for (size_t k = 0; k < s->n; k++) {
            free(s->e[k].rel);
            free(s->e[k].link);
            free(s->e[k].path);
        }
        free(s->e);
        free(s->name);
        free(s->shown);
    }
    free(bs->v);
    memset(bs, 0, sizeof(*bs));
}

static bool has_glob(const char *p)
{
    return strpbrk(p, "*?[") != NULL;
}

/* openat2 beneath dir: no step out of it, by ".." or by a link. */
static int open_beneath(int dir, const char *rel, int flags, bool follow_links)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve =
            RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (follow_links ? 0 : RESOLVE_NO_SYMLINKS),
    };
    for (;;) {
        int fd = (int)syscall(SYS_openat2, dir, *rel ? rel : ".", &how, sizeof(how));
        if (fd >= 0 || errno != EAGAIN)
            return fd;
    }
}

static void add_entry(struct bsrc *s, const char *rel, const struct stat *st, const char *link,
                      const char *path)
{
    s->e = sv_xrealloc(s->e, (s->n + 1) * sizeof(*s->e));
    s->e[s->n++] = (struct bsrc_entry){.rel = sv_xstrdup(rel),
                                       .st = *st,
                                       .link = link ? sv_xstrdup(link) : NULL,
                                       .path = path ? sv_xstrdup(path) : NULL};
}

/* ---- the context ------------------------------------------------------------- */

/* Everything below directory dfd (ctx: its path in the context; rel: in
 * the source), links as links. */
static int walk_ctx(struct build *b, struct bsrc *s, int dfd, const char *ctx, const char *rel,
                    sv_error_t *err)
{
    int fd = dup(dfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return sv_error(err, errno, "%s", ctx);
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        cleanup_free char *c = sv_xasprintf("%s%s%s", ctx, *ctx ? "/" : "", e->d_name);
        cleanup_free char *r = sv_xasprintf("%s%s%s", rel, *rel ? "/" : "", e->d_name);
        if (sv_ignore_excluded(&b->ignore, c))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = sv_error(err, errno, "%s", c);
            break;
        }
        char link[4096] = "";
        ssize_t n =
            S_ISLNK(st.st_mode) ? readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1) : 0;
        if (n < 0) {
            rc = sv_error(err, errno, "%s", c);
            break;
        }
        link[n] = '\0';
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
            continue; /* sockets, fifos, devices: nothing an image takes */
        add_entry(s, r, &st, S_ISLNK(st.st_mode) ? link : NULL, c);
        if (S_ISDIR(st.st_mode)) {
            cleanup_close int sub =
                open_beneath(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY, false);
            rc = sub < 0 ? sv_error(err, errno, "%s", c) : walk_ctx(b, s, sub, c, r, err);
        }
    }
    closedir(d);
    return rc;
}

/* One source (its path in the context, cleaned) into bs. */
static int ctx_source(struct build *b, struct bsources *bs, int ctx, const char *path,
                      const char *shown, sv_error_t *err)
{
    if (*path && sv_ignore_excluded(&b->ignore, path))
        return sv_error(err, 0,
                        "%s: excluded by the context's .containerignore / "
                        ".dockerignore",
                        shown);
    cleanup_close int fd = open_beneath(ctx, path, O_PATH, true);
    if (fd < 0 && (errno == EXDEV || errno == ELOOP))
        return sv_error(err, 0, "%s: a link leads out of the build context", shown);
    if (fd < 0 && errno == ENOENT)
        return sv_error(err, 0, "%s: not found in the build context", shown);
    if (fd < 0)
        return sv_error(err, errno, "%s", shown);
    /* Where a link led, as a path in the context (what walking uses). */
    char real[4096];
    cleanup_free char *proc = sv_xasprintf("/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, real, sizeof(real) - 1);
    size_t clen = strlen(b->context);
    if (n >= 0)
        real[n] = '\0';
    if (n < 0 || (size_t)n < clen || strncmp(real, b->context, clen) != 0 ||
        (real[clen] != '/' && real[clen] != '\0' && clen > 1))
        return sv_error(err, 0, "%s: a link leads out of the build context", shown);
    const char *rel = real + clen + (real[clen] == '/');
    struct stat st;
    if (fstat(fd, &st) < 0)
        return sv_error(err, errno, "%s", shown);
    bs->v = sv_xrealloc(bs->v, (bs->n + 1) * sizeof(*bs->v));
    struct bsrc *s = &bs->v[bs->n++];
    memset(s, 0, sizeof(*s));
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    s->name = sv_xstrdup(*base ? base : ".");
    s->shown = sv_xstrdup(shown);
    s->is_dir = S_ISDIR(st.st_mode);
    add_entry(s, "", &st, NULL, rel);
    if (!s->is_dir)
        return S_ISREG(st.st_mode) ? 0
                                   : sv_error(err, EINVAL, "%s: not a file or a directory", shown);
    cleanup_close int dir = open_beneath(ctx, rel, O_RDONLY | O_DIRECTORY, false);
    if (dir < 0)
        return sv_error(err, errno, "%s", shown);
    return walk_ctx(b, s, dir, rel, "", err);
}

/* The context's paths that glob matches, segment by segment. */
static int ctx_glob(struct build *b, int ctx, const char *dir, const char *pattern, char ***out,
                    size_t *n, sv_error_t *err)
{
    size_t seg = strcspn(pattern, "/");
    cleanup_free char *first = sv_xstrndup(pattern, seg);
    const char *rest = pattern[seg] ? pattern + seg + 1 : NULL;
    cleanup_close int dfd = open_beneath(ctx, dir, O_RDONLY | O_DIRECTORY, false);
    if (dfd < 0)
        return 0;
    DIR *d = fdopendir(dfd);
    if (d == NULL)
        return 0;
    dfd = -1; /* the stream's now */
    cleanup_strv char **names = sv_xcalloc(1, sizeof(char *));
    size_t k = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* As Go's Match, which Docker uses: "*" matches dot files too. */
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            !sv_ignore_glob(first, e->d_name))
            continue;
        names = sv_xrealloc(names, (k + 2) * sizeof(char *));
        names[k++] = sv_xstrdup(e->d_name);
        names[k] = NULL;
    }
    closedir(d);
    for (size_t i = 0; i < k; i++) {
        cleanup_free char *p = sv_xasprintf("%s%s%s", dir, *dir ? "/" : "", names[i]);
        if (sv_ignore_excluded(&b->ignore, p))
            continue;
        if (rest && ctx_glob(b, ctx, p, rest, out, n, err) < 0)
            return -1;
        if (!rest) {
            *out = sv_xrealloc(*out, (*n + 2) * sizeof(char *));
            (*out)[(*n)++] = sv_steal(p);
            (*out)[*n] = NULL;
        }
    }
    return 0;
}

int sv_bsource_context(struct build *b, char *const *srcs, size_t n, struct bsources *bs,
                       sv_error_t *err)
{
    cleanup_close int ctx = open(b->context, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (ctx < 0)
        return sv_error(err, errno, "build context %s", b->context);
    for (size_t i = 0; i < n; i++) {
        cleanup_free char *abs = sv_xasprintf("/%s", srcs[i]);
        cleanup_free char *clean = sv_path_clean(abs);
        /* Cleaning "/../x" gives "/x": whether a source steps out of
         * the context is judged on its text, by counting. */
        int depth = 0;
        bool out = false;
        for (const char *p = srcs[i]; *p && !out;) {
            size_t len = strcspn(p, "/");
            if (len == 2 && p[0] == '.' && p[1] == '.')
                out = --depth < 0;
            else if (len && !(len == 1 && p[0] == '.'))
                depth++;
            p += len + (p[len] == '/');
        }
        if (out)
            return sv_error(err, 0, "%s: outside the build context", srcs[i]);
        const char *path = clean + 1;
        if (!has_glob(path)) {
            if (ctx_source(b, bs, ctx, path, srcs[i], err) < 0)
                return -1;
            continue;
        }
        cleanup_strv char **found = sv_xcalloc(1, sizeof(char *));
        size_t nf = 0;
        if (ctx_glob(b, ctx, "", path, &found, &nf, err) < 0)
            return -1;
        if (nf == 0)
            return sv_error(err, 0, "%s: no file in the build context matches", srcs[i]);
        for (size_t k = 0; k < nf; k++)
            if (ctx_source(b, bs, ctx, found[k], found[k], err) < 0)
                return -1;
        bs->glob = true;
    }
    return 0;
}

/* ---- the digest of what was read --------------------------------------------- */

/* The context's files' digests from the last builds, by path, with
 * what the file's inode said then (size, times, inode): a file that says
 * the same is not read again. A file changed less than two seconds ago is
 * not remembered (its next change could keep its size and, on a coarse
 * clock, its times). */
static char *file_cache_path(const struct build *b)
{
    char d[SV_DIGEST_LEN + 1];
    if (sv_digest_mem(b->context, strlen(b->context), d, NULL) < 0)
        return NULL;
    return sv_xasprintf("%s/images/buildcache/context-%.16s.json", sv_state_root(), d + 7);
}

static json_t *file_stamp(const struct stat *st)
{
    return json_pack("[I, I, I, I, I]", (json_int_t)st->st_size, (json_int_t)st->st_ino,
                     (json_int_t)st->st_dev,
                     (json_int_t)(st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec),
                     (json_int_t)(st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec));
}

void sv_bsource_cache_save(struct build *b)
{
    if (b->file_cache == NULL || !b->file_cache_dirty)
        return;
    cleanup_free char *path = file_cache_path(b);
    cleanup_free char *tmp = path ? sv_xasprintf("%s.%d", path, (int)getpid()) : NULL;
    cleanup_free char *dir = path ? sv_dirname(path) : NULL;
    if (dir)
        sv_mkdir_p(dir, 0700, NULL);
    if (tmp && json_dump_file(b->file_cache, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0)
        return;
    if (tmp) /* only slower next time */
        unlink(tmp);
}

/* The file's own digest (hex), from the cache or its content. */
static int file_digest(struct build *b, int ctx, const struct bsrc_entry *e, char hex[65],
                       sv_error_t *err)
{
    cleanup_json json_t *stamp = file_stamp(&e->st);
    json_t *known = json_object_get(b->file_cache, e->path);
    const char *d = json_string_value(json_array_get(known, 1));
    if (d && strlen(d) == 64 && json_equal(json_array_get(known, 0), stamp)) {
        memcpy(hex, d, 65);
        return 0;
    }
    cleanup_close int fd = open_beneath(ctx, e->path, O_RDONLY, false);
    cleanup_sha256 struct sv_sha256 *h = NULL;
    if (fd < 0 || sv_sha256_new(&h, err) < 0)
        return sv_error(err, errno, "%s", e->path);
    char buf[1 << 16];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        sv_sha256_update(h, buf, (size_t)n);
    if (n < 0)
        return sv_error(err, errno, "%s", e->path);
    char full[SV_DIGEST_LEN + 1];
    sv_sha256_final(sv_steal(h), full);
    memcpy(hex, full + 7, 65);
    if (time(NULL) - e->st.st_mtim.tv_sec >= 2 && time(NULL) - e->st.st_ctim.tv_sec >= 2) {
        json_object_set_new(b->file_cache, e->path, json_pack("[O, s]", stamp, hex));
        b->file_cache_dirty = true;
    }
    return 0;
}

int sv_bsource_digest(struct build *b, struct bsources *bs, sv_error_t *err)
{
    cleanup_close int ctx = open(b->context, O_PATH | O_DIRECTORY | O_CLOEXEC);
    cleanup_sha256 struct sv_sha256 *h = NULL;
    if (b->file_cache == NULL) {
        cleanup_free char *path = file_cache_path(b);
        b->file_cache = path ? json_load_file(path, 0, NULL) : NULL;
        if (!json_is_object(b->file_cache)) {
            json_decref(b->file_cache);
            b->file_cache = json_object();
        }
    }
    if (ctx < 0 || sv_sha256_new(&h, err) < 0)
        return sv_error(err, errno, "build context %s", b->context);
    for (size_t i = 0; i < bs->n; i++) {
        struct bsrc *s = &bs->v[i];
        for (size_t k = 0; k < s->n; k++) {
            const struct bsrc_entry *e = &s->e[k];
            char head[128];
            int len = snprintf(head, sizeof(head), "%zu\n%o\n%lld\n", i, (unsigned)e->st.st_mode,
                               (long long)e->st.st_size);
            sv_sha256_update(h, head, (size_t)len);
            sv_sha256_update(h, e->rel, strlen(e->rel) + 1);
            if (k == 0)
                sv_sha256_update(h, s->name, strlen(s->name) + 1);
            if (e->link)
                sv_sha256_update(h, e->link, strlen(e->link) + 1);
            char hex[65];
            if (S_ISREG(e->st.st_mode)) {
                if (file_digest(b, ctx, e, hex, err) < 0)
                    return -1;
                sv_sha256_update(h, hex, 64);
            }
        }
    }
    sv_sha256_final(sv_steal(h), bs->digest);
    return 0;
}

/* ---- another stage's tree ------------------------------------------------------- */

static int walk_tree(const struct sv_layerfs *fs, struct bsrc *s, const char *canon,
                     const char *rel, sv_error_t *err)
{
    cleanup_strv char **names = NULL;
    if (sv_layerfs_list(fs, canon, &names, err) < 0)
        return -1;
    for (char **nm = names; *nm; nm++) {
        cleanup_free char *c = sv_xasprintf("%s/%s", strcmp(canon, "/") ? canon : "", *nm);
        cleanup_free char *r = sv_xasprintf("%s%s%s", rel, *rel ? "/" : "", *nm);
        cleanup_free char *resolved = NULL;
        bool found;
        struct stat st;
        if (sv_layerfs_resolve(fs, c, false, &resolved, &found, &st, err) < 0)
            return -1;
        if (!found || (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)))
            continue;
        cleanup_free char *host = sv_layerfs_host_path(fs, resolved);
        char link[4096] = "";
        if (S_ISLNK(st.st_mode)) {
            ssize_t n = host ? readlink(host, link, sizeof(link) - 1) : -1;
            link[n < 0 ? 0 : n] = '\0';
        }
        add_entry(s, r, &st, S_ISLNK(st.st_mode) ? link : NULL, host);
        if (S_ISDIR(st.st_mode) && walk_tree(fs, s, resolved, r, err) < 0)
            return -1;
    }
    return 0;
}

static int tree_source(const struct sv_layerfs *fs, struct bsources *bs, const char *path,
                       sv_error_t *err)
{
    cleanup_free char *canon = NULL;
    bool found;
    struct stat st;
    if (sv_layerfs_resolve(fs, path, true, &canon, &found, &st, err) < 0)
        return -1;
    if (!found)
        return sv_error(err, 0, "%s: not found", path);
    bs->v = sv_xrealloc(bs->v, (bs->n + 1) * sizeof(*bs->v));
    struct bsrc *s = &bs->v[bs->n++];
    memset(s, 0, sizeof(*s));
    const char *base = strrchr(canon, '/') ? strrchr(canon, '/') + 1 : canon;
    s->name = sv_xstrdup(*base ? base : ".");
    s->shown = sv_xstrdup(path);
    s->is_dir = S_ISDIR(st.st_mode);
    cleanup_free char *host = sv_layerfs_host_path(fs, canon);
    add_entry(s, "", &st, NULL, host);
    if (!s->is_dir)
        return S_ISREG(st.st_mode) ? 0
                                   : sv_error(err, EINVAL, "%s: not a file or a directory", path);
    return walk_tree(fs, s, canon, "", err);
}

/* Glob matches in the tree: each segment against a directory's names. */
static int tree_glob(const struct sv_layerfs *fs, const char *dir, const char *pattern,
                     struct bsources *bs, size_t *matched, sv_error_t *err)
{
    size_t seg = strcspn(pattern, "/");
    cleanup_free char *first = sv_xstrndup(pattern, seg);
    const char *rest = pattern[seg] ? pattern + seg + 1 : NULL;
    cleanup_strv char **names = NULL;
    sv_error_t ignored = NULL;
    if (sv_layerfs_list(fs, *dir ? dir : "/", &names, &ignored) < 0) {
        sv_error_free(&ignored);
        return 0;
    }
    for (char **nm = names; *nm; nm++) {
        if (!sv_ignore_glob(first, *nm))
            continue;
        cleanup_free char *p = sv_xasprintf("%s/%s", dir, *nm);
        int rc = rest ? tree_glob(fs, p, rest, bs, matched, err) : tree_source(fs, bs, p, err);
        if (rc < 0)
            return -1;
        *matched += rest == NULL;
    }
    return 0;
}

int sv_bsource_tree(const struct sv_layerfs *fs, char *const *srcs, size_t n, struct bsources *bs,
                    sv_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        cleanup_free char *abs = sv_xasprintf("/%s", srcs[i]);
        cleanup_free char *clean = sv_path_clean(abs);
        if (!has_glob(clean)) {
            if (tree_source(fs, bs, clean, err) < 0)
                return -1;
            continue;
        }
        size_t matched = 0;
        if (tree_glob(fs, "", clean + 1, bs, &matched, err) < 0)
            return -1;
        if (matched == 0)
            return sv_error(err, 0, "%s: nothing matches", srcs[i]);
        bs->glob = true;
    }
    return 0;
}
