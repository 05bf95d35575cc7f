/* COPY and ADD: their sources (bsource.c) written as a layer of their
 * own, placed as Docker places them: a directory's content into the
 * destination, a file at the destination or, when the destination is a
 * directory (a trailing "/", several sources, a pattern, or one that
 * exists), into it. The destination is resolved in the stage's own tree
 * (layerfs.h), links included, so "COPY x /bin/" on an image whose /bin
 * is a link to usr/bin lands in /usr/bin, as it would in a container, and
 * the layer never shadows a link with a directory. Each directory above
 * the destination is in the layer with the attributes it has in the image
 * (a new one: 0755, root's or --chown's). ADD unpacks a local tar archive
 * (plain, gzip, bzip2, xz) into the destination; URLs are refused. */
#include "build/build_int.h"
#include "build/bsource.h"
#include "build/bdir.h"
#include "build/dfword.h"
#include "build/layerfs.h"
#include "build/tarw.h"

#include "core/fs.h"
#include "core/safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct copy {
    struct bstep *s;
    struct bsources bs;
    char **words; /* the sources then the destination, expanded */
    size_t n_src;
    const struct bstage *from; /* COPY --from: the stage (or image) read from */
    struct bstage image;       /* ...when it is an image */
    int64_t uid, gid;          /* --chown, else -1 */
    int chmod;                 /* --chmod, else -1 */
    struct sv_layerfs fs;      /* the stage's own tree */
    struct sv_tarw *w;         /* the layer's tar (NULL: a stage no image takes gets none) */
    struct sv_bdir *dir;       /* ...and its unpacked directory, made as it is written */
    bool dir_ok;               /* the directory holds the whole layer (not so after ADD's unpack) */
    char *tmp;
    json_t *made; /* the directories already in the layer */
    int ctx;
};

static void copy_clear(struct copy *c)
{
    sv_bsource_clear(&c->bs);
    sv_strv_free(c->words);
    sv_bstate_clear(&c->image);
    free(c->image.label);
    sv_layerfs_clear(&c->fs);
    sv_tarw_free(c->w);
    sv_bdir_free(c->dir);
    if (c->tmp)
        sv_rmtree(c->tmp, NULL);
    free(c->tmp);
    json_decref(c->made);
    if (c->ctx >= 0)
        close(c->ctx);
}

/* ---- the instruction ---------------------------------------------------------- */

static int check_flags(struct bstep *s, sv_error_t *err)
{
    static const char *const refused[] = {"parents", "exclude", "checksum", "keep-git-dir"};
    for (size_t i = 0; i < SV_ARRAY_LEN(refused); i++) {
        bool present;
        if (sv_dockerfile_flag(s->in, refused[i], &present), present)
            return sv_builder_fail(s, 0, "--%s is not supported", refused[i]);
    }
    return 0;
}

static int expand_words(struct copy *c, sv_error_t *err)
{
    struct bstep *s = c->s;
    char esc = s->b->df.escape;
    if (s->in->json) {
        size_t n = 0;
        while (s->in->json[n])
            n++;
        c->words = sv_xcalloc(n + 1, sizeof(char *));
        for (size_t i = 0; i < n; i++)
            if (sv_dfword_expand(s->in->json[i], esc, sv_bstate_lookup, s->st, &c->words[i], err) <
                0)
                return sv_builder_fail(s, 0, "%s", (*err)->msg);
    } else if (sv_dfword_split(s->in->args, esc, sv_bstate_lookup, s->st, &c->words, err) < 0) {
        return sv_builder_fail(s, 0, "%s", (*err)->msg);
    }
    size_t n = 0;
    while (c->words[n])
        n++;
    if (n < 2)
        return sv_builder_fail(s, 0, "expected SOURCE... DESTINATION");
    c->n_src = n - 1;
    return 0;
}

static int parse_chmod(struct copy *c, sv_error_t *err)
{
    const char *m = sv_dockerfile_flag(c->s->in, "chmod", NULL);
    c->chmod = -1;
    if (m == NULL)
        return 0;
    char *end;
    long v = strtol(m, &end, 8);
    if (*m == '\0' || *end || v < 0 || v > 07777)
        return sv_builder_fail(c->s, 0, "--chmod=%s: expected an octal mode (0755)", m);
    c->chmod = (int)v;
    return 0;
}

/* The stage COPY --from names (by name or number), else an image. */
static int find_from(struct copy *c, const char *from, sv_error_t *err)
{
    struct build *b = c->s->b;
    char *end;
    long idx = strtol(from, &end, 10);
    for (size_t i = 0; i < b->n_stages; i++) {
        const struct bstage *st = &b->stages[i];
        bool named = st->name && strcasecmp(st->name, from) == 0;
        if (!named && !(*end == '\0' && *from && (size_t)idx == i))
            continue;
        if (st == c->s->st || !st->done)
            return sv_builder_fail(c->s, 0, "--from=%s: a stage can only copy from one before it",
                                   from);
        c->from = st;
        return 0;
    }
    c->image.label = sv_xstrdup(from);
    if (sv_bstate_from_image(b, &c->image, from, err) < 0)
        return sv_builder_fail(c->s, 0, "--from=%s: no such stage, and %s", from, (*err)->msg);
    c->from = &c->image;
    return 0;
}

/* ---- --chown ------------------------------------------------------------------- */

/* The id of name in the stage's /etc/passwd or /etc/group. */
static int lookup_id(struct copy *c, const char *file, const char *name, int64_t *id,
                     sv_error_t *err)
{
    cleanup_free char *text = NULL;
    int rc = sv_layerfs_read(&c->fs, file, 4 << 20, &text, err);
    if (rc < 0)
        return -1;
    for (char *line = rc == 0 ? text : NULL, *save = NULL;
         rc == 0 && (line = strtok_r(line, "\n", &save)); line = NULL) {
        char *f[4] = {0};
        char *p = line;
        for (int i = 0; i < 4 && p; i++)
            f[i] = strsep(&p, ":");
        if (f[0] && f[2] && strcmp(f[0], name) == 0) {
            *id = strtoll(f[2], NULL, 10);
            return 0;
        }
    }
    return sv_builder_fail(c->s, 0, "--chown: no \"%s\" in the image's %s", name, file);
}

static int resolve_chown(struct copy *c, sv_error_t *err)
{
    c->uid = c->gid = -1;
    const char *raw = sv_dockerfile_flag(c->s->in, "chown", NULL);
    if (raw == NULL)
        return 0;
    cleanup_free char *spec = NULL;
    if (sv_dfword_expand(raw, c->s->b->df.escape, sv_bstate_lookup, c->s->st, &spec, err) < 0)
        return sv_builder_fail(c->s, 0, "%s", (*err)->msg);
    char *colon = strchr(spec, ':');
    if (colon)
        *colon = '\0';
    const char *parts[2] = {spec, colon ? colon + 1 : NULL};
    int64_t *ids[2] = {&c->uid, &c->gid};
    const char *files[2] = {"/etc/passwd", "/etc/group"};
    for (int i = 0; i < 2 && parts[i]; i++) {
        char *end;
        long long v = strtoll(parts[i], &end, 10);
        if (*parts[i] == '\0')
            return sv_builder_fail(c->s, 0, "--chown=%s: expected USER[:GROUP]", raw);
        if (*end == '\0')
            *ids[i] = v;
        else if (lookup_id(c, files[i], parts[i], ids[i], err) < 0)
            return -1;
    }
    /* Docker: a user alone gives the group of the same number. */
    if (c->gid < 0)
        c->gid = c->uid;
    return 0;
}

/* ---- the layer ----------------------------------------------------------------------- */

/* One entry into the tar and the directory (fd: a file's data). */
static int emit(struct copy *c, const char *name, const struct stat *st, const char *link, int fd,
                sv_error_t *err)
{
    if (c->w && sv_tarw_entry(c->w, name, st, link, false, fd, NULL, 0, err) < 0)
        return -1;
    return c->dir_ok ? sv_bdir_entry(c->dir, name, st, link, fd, err) : 0;
}

static id_t unshift(const struct build *b, id_t id, id_t base)
{
    return id >= base && id - base < b->map.size ? id - base : id;
}

/* Every directory from the root down to canon (included) in the layer,
 * once: as the image has it, or new. */
static int make_dirs(struct copy *c, const char *canon, sv_error_t *err)
{
    cleanup_free char *path = sv_xstrdup(canon);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char was = *p;
        *p = '\0';
        if (path[1] && !json_object_get(c->made, path)) {
            json_object_set_new(c->made, path, json_true());
            cleanup_free char *r = NULL;
            bool found;
            struct stat st;
            if (sv_layerfs_resolve(&c->fs, path, false, &r, &found, &st, err) < 0)
                return -1;
            if (found && !S_ISDIR(st.st_mode))
                return sv_builder_fail(c->s, 0, "%s is not a directory in the image", path);
            if (found) {
                st.st_uid = unshift(c->s->b, st.st_uid, c->s->b->map.uid_base);
                st.st_gid = unshift(c->s->b, st.st_gid, c->s->b->map.gid_base);
            } else {
                st = (struct stat){.st_mode = S_IFDIR | 0755,
                                   .st_uid = c->uid >= 0 ? (uid_t)c->uid : 0,
                                   .st_gid = c->gid >= 0 ? (gid_t)c->gid : 0};
                st.st_mtim.tv_sec = time(NULL);
            }
            if (emit(c, path + 1, &st, NULL, -1, err) < 0)
                return -1;
        }
        if (was == '\0')
            return 0;
        *p = was;
    }
}

static int open_source(struct copy *c, const struct bsrc_entry *e)
{
    if (c->from)
        return open(e->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct open_how how = {.flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
    return (int)syscall(SYS_openat2, c->ctx, e->path, &how, sizeof(how));
}

static int put_entry(struct copy *c, const char *name, const struct bsrc_entry *e, sv_error_t *err)
{
    struct stat st = e->st;
    const struct build *b = c->s->b;
    if (c->uid >= 0) {
        st.st_uid = (uid_t)c->uid;
        st.st_gid = (gid_t)c->gid;
    } else if (c->from) {
        st.st_uid = unshift(b, st.st_uid, b->map.uid_base);
        st.st_gid = unshift(b, st.st_gid, b->map.gid_base);
    } else {
        st.st_uid = st.st_gid = 0; /* a context's files are root's, as Docker makes them */
    }
    if (c->chmod >= 0 && !S_ISLNK(st.st_mode))
        st.st_mode = (st.st_mode & S_IFMT) | (mode_t)c->chmod;
    if (!S_ISREG(st.st_mode))
        return emit(c, name, &st, e->link, -1, err);
    cleanup_close int fd = open_source(c, e);
    if (fd < 0)
        return sv_error(err, errno, "cannot read %s", e->path);
    return emit(c, name, &st, NULL, fd, err);
}

/* ADD of a tar archive: its entries into dir. 1: not an archive. */
static int add_archive(struct copy *c, const struct bsrc *src, const char *dir, sv_error_t *err)
{
    if (c->s->in->kind != SV_DF_ADD || c->from || src->is_dir)
        return 1;
    cleanup_close int fd = open_source(c, &src->e[0]);
    if (fd < 0)
        return sv_error(err, errno, "cannot read %s", src->shown);
    cleanup_free char *proc = sv_xasprintf("/proc/self/fd/%d", fd);
    if (make_dirs(c, dir, err) < 0)
        return -1;
    int rc = sv_tarw_add_archive(c->w, proc, src->shown, dir + 1, c->uid, c->gid, err);
    if (rc == 0) /* in the tar only: the directory is unpacked from it when needed */
        c->dir_ok = false;
    return rc;
}

/* One source at dest (absolute), as Docker places it. */
static int place(struct copy *c, const struct bsrc *src, const char *dest, bool into,
                 sv_error_t *err)
{
    cleanup_free char *canon = NULL;
    bool found;
    struct stat st;
    if (sv_layerfs_resolve(&c->fs, dest, true, &canon, &found, &st, err) < 0)
        return sv_builder_fail(c->s, 0, "%s", (*err)->msg);
    bool dir_dest = into || src->is_dir || (found && S_ISDIR(st.st_mode));
    int rc = dir_dest ? add_archive(c, src, canon, err) : 1;
    if (rc <= 0)
        return rc;
    if (src->is_dir) {
        if (make_dirs(c, canon, err) < 0)
            return -1;
        for (size_t k = 1; k < src->n; k++) {
            cleanup_free char *name = sv_xasprintf("%s/%s", canon + 1, src->e[k].rel);
            if (put_entry(c, name[0] == '/' ? name + 1 : name, &src->e[k], err) < 0)
                return -1;
        }
        return 0;
    }
    cleanup_free char *file =
        dir_dest ? sv_xasprintf("%s/%s", strcmp(canon, "/") ? canon : "", src->name)
                 : sv_xstrdup(canon);
    cleanup_free char *parent = sv_dirname(file);
    if (strcmp(parent, "/") != 0 && make_dirs(c, parent, err) < 0)
        return -1;
    return put_entry(c, file + 1, &src->e[0], err);
}

static int write_layer(struct copy *c, struct bcache_entry *e, sv_error_t *err)
{
    struct bstep *s = c->s;
    cleanup_strv char **dirs = NULL;
    size_t n;
    if (sv_bstate_layer_dirs(s->b, s->st, &dirs, &n, err) < 0)
        return -1;
    sv_layerfs_init(&c->fs, dirs, n);
    if (resolve_chown(c, err) < 0)
        return -1;
    const char *dest = c->words[c->n_src];
    const char *wd = json_string_value(json_object_get(s->st->config, "WorkingDir"));
    cleanup_free char *abs =
        dest[0] == '/' ? sv_xstrdup(dest) : sv_xasprintf("%s/%s", wd && *wd ? wd : "", dest);
    /* "dir/", ".", "dir/." and ".." name a directory, as in Docker. */
    const char *last = strrchr(dest, '/') ? strrchr(dest, '/') + 1 : dest;
    bool dir_named = *last == '\0' || strcmp(last, ".") == 0 || strcmp(last, "..") == 0;
    bool into = dir_named || c->bs.n > 1 || c->bs.glob;
    if ((c->bs.n > 1 || c->bs.glob) && !dir_named)
        return sv_builder_fail(s, 0,
                               "with several sources the destination must be a directory "
                               "ending in \"/\" (%s/)",
                               dest);
    c->made = json_object();
    /* An image's layer is a gzip'ed blob; ADD may need one to unpack an
     * archive from; a COPY of a stage no image takes needs none. */
    bool tar = s->st->in_image || s->in->kind == SV_DF_ADD;
    cleanup_free char *upper = NULL;
    if (sv_bwork_tmpdir(s->b, &c->tmp, err) < 0)
        return -1;
    upper = sv_xasprintf("%s/upper", c->tmp);
    if ((tar && sv_tarw_new(&c->w, s->st->in_image, err) < 0) ||
        sv_bdir_new(upper, &s->b->map, &c->dir, err) < 0)
        return -1;
    c->dir_ok = true;
    for (size_t i = 0; i < c->bs.n; i++)
        if (place(c, &c->bs.v[i], abs, into, err) < 0)
            return -1;
    if (c->dir_ok && sv_bdir_finish(c->dir, err) < 0)
        return -1;
    struct sv_tarw_out out;
    if (tar && sv_tarw_finish(sv_steal(c->w), &out, err) < 0)
        return -1;
    *e = (struct bcache_entry){.created = time(NULL)};
    if (tar) {
        memcpy(e->layer.digest, out.digest, sizeof(out.digest));
        memcpy(e->layer.diff_id, out.diff_id, sizeof(out.diff_id));
        e->layer.size = out.size;
        e->layer.media_type = (char *)out.media_type;
    }
    snprintf(e->layer.dir, sizeof(e->layer.dir), "%s", tar ? out.digest + 7 : s->st->key + 7);
    return c->dir_ok ? sv_bwork_keep(s->b, upper, &e->layer, err) : 0;
}

/* The sources, and what names them for the cache. */
static int gather(struct copy *c, const char **extra, sv_error_t *err)
{
    struct bstep *s = c->s;
    const char *from = sv_dockerfile_flag(s->in, "from", NULL);
    for (size_t i = 0; i < c->n_src && s->in->kind == SV_DF_ADD; i++)
        if (strstr(c->words[i], "://") || strncmp(c->words[i], "git@", 4) == 0)
            return sv_builder_fail(s, 0,
                                   "ADD %s: servos build does not download: fetch it in a RUN "
                                   "step, or put the file in the build context",
                                   c->words[i]);
    if (from) {
        cleanup_free char *f = NULL;
        if (sv_dfword_expand(from, s->b->df.escape, sv_bstate_lookup, s->st, &f, err) < 0)
            return sv_builder_fail(s, 0, "%s", (*err)->msg);
        if (find_from(c, f, err) < 0)
            return -1;
        *extra = c->from->key;
        return 0;
    }
    if (sv_bsource_context(s->b, c->words, c->n_src, &c->bs, err) < 0 ||
        sv_bsource_digest(s->b, &c->bs, err) < 0)
        return sv_builder_fail(s, 0, "%s", (*err)->msg);
    *extra = c->bs.digest;
    return 0;
}

/* On a miss: what --from names, read now (its layers unpacked). */
static int gather_tree(struct copy *c, sv_error_t *err)
{
    cleanup_strv char **dirs = NULL;
    size_t n;
    if (sv_bstate_layer_dirs(c->s->b, c->from, &dirs, &n, err) < 0)
        return -1;
    struct sv_layerfs fs;
    sv_layerfs_init(&fs, dirs, n);
    int rc = sv_bsource_tree(&fs, c->words, c->n_src, &c->bs, err);
    sv_layerfs_clear(&fs);
    if (rc < 0)
        return sv_builder_fail(c->s, 0, "--from=%s: %s", c->from->label, (*err)->msg);
    return 0;
}

int sv_bcopy_step(struct bstep *s, sv_error_t *err)
{
    __attribute__((cleanup(copy_clear))) struct copy c = {.s = s, .ctx = -1};
    const char *extra = NULL;
    if (check_flags(s, err) < 0 || expand_words(&c, err) < 0 || parse_chmod(&c, err) < 0 ||
        gather(&c, &extra, err) < 0)
        return -1;
    cleanup_json json_t *text = json_array();
    for (char **w = c.words; *w; w++)
        json_array_append_new(text, json_string(*w));
    const char *chown = sv_dockerfile_flag(s->in, "chown", NULL);
    const char *chmod = sv_dockerfile_flag(s->in, "chmod", NULL);
    json_array_append_new(text, json_pack("{s:s?, s:s?}", "chown", chown, "chmod", chmod));
    cleanup_free char *t = json_dumps(text, JSON_COMPACT);
    const char *kw = sv_dockerfile_keyword(s->in->kind);
    if (sv_bstate_chain(s->st, err, kw, t, extra, NULL) < 0)
        return -1;
    struct bcache_entry e = {0};
    bool hit = !s->b->o->no_cache && sv_bcache_get(s->st->key, &s->b->map, &e) == 0;
    if (!hit) {
        c.ctx = open(s->b->context, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (c.ctx < 0)
            return sv_error(err, errno, "build context %s", s->b->context);
        if ((c.from && gather_tree(&c, err) < 0) || write_layer(&c, &e, err) < 0 ||
            sv_bcache_put(s->st->key, &e, err) < 0)
            return -1;
    }
    s->st->created = e.created;
    sv_bstate_add_layer(s->st, &e.layer);
    cleanup_free char *by = sv_xasprintf("%s %s", kw, s->in->args);
    sv_bstate_history(s->st, by, false);
    sv_builder_step_end(s, hit);
    return 0;
}
