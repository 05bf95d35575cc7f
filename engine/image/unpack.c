#include "image/unpack.h"

#include "core/digest.h"
#include "core/dynlib.h"
#include "core/fs.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

/* The libarchive calls we make, resolved at run time. */
static struct {
    struct archive *(*read_new)(void);
    struct archive *(*write_disk_new)(void);
    int (*read_support_filter_all)(struct archive *);
    int (*read_support_format_all)(struct archive *);
    int (*write_disk_set_options)(struct archive *, int);
    int (*read_open_filename)(struct archive *, const char *, size_t);
    int (*read_open_fd)(struct archive *, int, size_t);
    const char *(*error_string)(struct archive *);
    int (*read_next_header)(struct archive *, struct archive_entry **);
    const char *(*entry_pathname)(struct archive_entry *);
    void (*entry_set_pathname)(struct archive_entry *, const char *);
    const char *(*entry_hardlink)(struct archive_entry *);
    void (*entry_set_hardlink)(struct archive_entry *, const char *);
    int (*write_header)(struct archive *, struct archive_entry *);
    int (*read_data_block)(struct archive *, const void **, size_t *, la_int64_t *);
    la_ssize_t (*write_data_block)(struct archive *, const void *, size_t, la_int64_t);
    int (*write_finish_entry)(struct archive *);
    int (*read_free)(struct archive *);
    int (*write_free)(struct archive *);
    la_int64_t (*entry_uid)(struct archive_entry *);
    la_int64_t (*entry_gid)(struct archive_entry *);
    void (*entry_set_uid)(struct archive_entry *, la_int64_t);
    void (*entry_set_gid)(struct archive_entry *, la_int64_t);
    void (*entry_set_uname)(struct archive_entry *, const char *);
    void (*entry_set_gname)(struct archive_entry *, const char *);
    __LA_MODE_T (*entry_filetype)(struct archive_entry *);
    int (*read_data_skip)(struct archive *);
    int (*read_support_format_raw)(struct archive *);
    int (*filter_code)(struct archive *, int);
    const char *(*entry_symlink)(struct archive_entry *);
} libarchive;

static int load_libarchive(sv_error_t *err)
{
    static void *lib;
    static const char *const names[] = {
        "archive_read_new",
        "archive_write_disk_new",
        "archive_read_support_filter_all",
        "archive_read_support_format_all",
        "archive_write_disk_set_options",
        "archive_read_open_filename",
        "archive_read_open_fd",
        "archive_error_string",
        "archive_read_next_header",
        "archive_entry_pathname",
        "archive_entry_set_pathname",
        "archive_entry_hardlink",
        "archive_entry_set_hardlink",
        "archive_write_header",
        "archive_read_data_block",
        "archive_write_data_block",
        "archive_write_finish_entry",
        "archive_read_free",
        "archive_write_free",
        "archive_entry_uid",
        "archive_entry_gid",
        "archive_entry_set_uid",
        "archive_entry_set_gid",
        "archive_entry_set_uname",
        "archive_entry_set_gname",
        "archive_entry_filetype",
        "archive_read_data_skip",
        "archive_read_support_format_raw",
        "archive_filter_code",
        "archive_entry_symlink",
    };
    _Static_assert(sizeof(libarchive) == sizeof(names) / sizeof(names[0]) * sizeof(void *),
                   "one name per libarchive function");
    return sv_dynlib_load(&lib, "libarchive.so.13", names, (void **)&libarchive,
                          SV_ARRAY_LEN(names), "to unpack an image (apt install libarchive13)",
                          err);
}

/* libarchive's objects, freed at scope exit (through the table: the
 * library is loaded, not linked). */
static void archive_read_freep(struct archive **a)
{
    if (*a)
        libarchive.read_free(*a);
}
static void archive_write_freep(struct archive **a)
{
    if (*a)
        libarchive.write_free(*a);
}
#define cleanup_archive_read  __attribute__((cleanup(archive_read_freep)))
#define cleanup_archive_write __attribute__((cleanup(archive_write_freep)))

/* Every component of rel below root is a real directory (no symlink a
 * layer planted could lead a whiteout out of the tree). */
static bool plain_dirs(const char *root, const char *rel)
{
    cleanup_free char *p = sv_xasprintf("%s/%s", root, rel);
    size_t base = strlen(root);
    for (char *s = p + base + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        struct stat st;
        bool ok = lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
        *s = c;
        if (!ok)
            return false;
        if (c == '\0')
            return true;
    }
}

static bool has_dotdot(const char *path)
{
    for (const char *s = path; (s = strstr(s, "..")); s += 2)
        if ((s == path || s[-1] == '/') && (s[2] == '/' || s[2] == '\0'))
            return true;
    return false;
}

struct layer_state {
    char **opaque; /* directories to mark opaque once the layer is written */
    size_t n_opaque;
};

static void layer_state_clear(struct layer_state *ls)
{
    for (size_t i = 0; i < ls->n_opaque; i++)
        free(ls->opaque[i]);
    free(ls->opaque);
}

/* An OCI whiteout: ".wh.NAME" hides NAME of the layers below (overlayfs
 * spells that as a 0/0 character device), ".wh..wh..opq" hides everything
 * below in its directory (an "opaque" xattr, set after the layer is written
 * as the directory's own entry may come later). */
static int whiteout(const char *tmp, const char *name, const char *src,
                    const struct sv_idmap *shift, struct layer_state *ls, sv_error_t *err)
{
    cleanup_free char *dir = sv_dirname(name);
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    if (has_dotdot(name))
        return sv_error(err, EINVAL, "layer %s: whiteout %s leaves the layer", src, name);
    if (strcmp(dir, ".") != 0 && !plain_dirs(tmp, dir)) {
        cleanup_free char *d = sv_xasprintf("%s/%s", tmp, dir);
        /* The directory may have no entry of its own in this layer. */
        for (char *s = d + strlen(tmp) + 1;; s++) {
            if (*s != '/' && *s != '\0')
                continue;
            char c = *s;
            *s = '\0';
            if (mkdir(d, 0755) == 0 && shift->size)
                lchown(d, shift->uid_base, shift->gid_base);
            *s = c;
            if (c == '\0')
                break;
        }
        if (!plain_dirs(tmp, dir))
            return sv_error(err, EINVAL, "layer %s: whiteout %s is not under a directory", src,
                            name);
    }
    if (strcmp(base, ".wh..wh..opq") == 0) {
        ls->opaque = sv_xrealloc(ls->opaque, (ls->n_opaque + 1) * sizeof(char *));
        ls->opaque[ls->n_opaque++] = sv_xasprintf("%s/%s", tmp, dir);
        return 0;
    }
    cleanup_free char *path = sv_xasprintf("%s/%s/%s", tmp, dir, base + 4);
    unlink(path);
    if (mknod(path, S_IFCHR | 0, makedev(0, 0)) < 0)
        return sv_error(err, errno, "layer %s: cannot create the whiteout for %s", src, name);
    if (shift->size)
        lchown(path, shift->uid_base, shift->gid_base);
    return 0;
}

static int mark_opaque(struct layer_state *ls, sv_error_t *err)
{
    for (size_t i = 0; i < ls->n_opaque; i++) {
        /* trusted.* for overlays mounted by real root, user.* for the
         * ones mounted inside a user namespace (the "userxattr" option). */
        if (setxattr(ls->opaque[i], "trusted.overlay.opaque", "y", 1, 0) < 0 ||
            setxattr(ls->opaque[i], "user.overlay.opaque", "y", 1, 0) < 0)
            return sv_error(err, errno, "cannot mark %s opaque", ls->opaque[i]);
    }
    return 0;
}

/* Names of the device nodes left out, so hard links to them are too. */
struct skipped {
    char **names;
    size_t n;
};

/* "./dev/null", "/dev/null" and "dev/null" are one entry. */
static const char *bare(const char *name)
{
    while (*name == '/' || (name[0] == '.' && name[1] == '/'))
        name += name[0] == '/' ? 1 : 2;
    return name;
}

static void skipped_clear(struct skipped *sk)
{
    for (size_t i = 0; i < sk->n; i++)
        free(sk->names[i]);
    free(sk->names);
}

static bool was_skipped(const struct skipped *sk, const char *name)
{
    for (size_t i = 0; i < sk->n; i++)
        if (strcmp(bare(sk->names[i]), bare(name)) == 0)
            return true;
    return false;
}

/* Runs chrooted into the destination (see extract_confined): tmp is "". */
static int copy_entries(struct archive *a, struct archive *w, const char *tarball, const char *tmp,
                        const struct sv_idmap *shift, struct layer_state *ls, struct skipped *sk,
                        sv_error_t *err)
{
    struct archive_entry *e;
    int r;
    while ((r = libarchive.read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = libarchive.entry_pathname(e);
        cleanup_free char *shown = sv_xstrdup(name);
        if (ls) {
            const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
            if (strncmp(base, ".wh.", 4) == 0) {
                if (whiteout(tmp, name, tarball, shift, ls, err) < 0)
                    return -1;
                continue;
            }
        }
        /* Device nodes are no image's to create: a container's /dev is
         * made at start, and its mounts are nodev anyway. On the host they
         * would be real: a block device owned by container root, or mode
         * 0666, under the state root. */
        __LA_MODE_T t = libarchive.entry_filetype(e);
        const char *hl = libarchive.entry_hardlink(e);
        if (t == AE_IFCHR || t == AE_IFBLK || (hl && was_skipped(sk, hl))) {
            sk->names = sv_xrealloc(sk->names, (sk->n + 1) * sizeof(char *));
            sk->names[sk->n++] = sv_steal(shown);
            continue;
        }
        cleanup_free char *full = sv_xasprintf("%s/%s", tmp, name);
        libarchive.entry_set_pathname(e, full);
        cleanup_free char *hfull = hl ? sv_xasprintf("%s/%s", tmp, hl) : NULL;
        if (hfull)
            libarchive.entry_set_hardlink(e, hfull);
        /* Owners shifted into the containers' id range, so container root
         * owns what the image's root owned (names would be looked up on the
         * host: drop them). */
        la_int64_t uid = libarchive.entry_uid(e), gid = libarchive.entry_gid(e);
        if (shift->size == 0) /* --userns host: owners as they are */
            ;
        else if (uid >= shift->size || gid >= shift->size)
            return sv_error(err, 0,
                            "image %s: %s: owner %lld:%lld is outside the %u ids a "
                            "container maps",
                            tarball, shown, (long long)uid, (long long)gid, shift->size);
        else {
            libarchive.entry_set_uid(e, uid + shift->uid_base);
            libarchive.entry_set_gid(e, gid + shift->gid_base);
            libarchive.entry_set_uname(e, NULL);
            libarchive.entry_set_gname(e, NULL);
        }
        /* A warning (an xattr this file system refuses) is not fatal. */
        if (libarchive.write_header(w, e) < ARCHIVE_WARN)
            return sv_error(err, 0, "image %s: %s: %s", tarball, shown, libarchive.error_string(w));
        const void *buf;
        size_t size;
        la_int64_t off;
        while ((r = libarchive.read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
            if (libarchive.write_data_block(w, buf, size, off) < 0)
                return sv_error(err, 0, "image %s: %s", tarball, libarchive.error_string(w));
        if (r != ARCHIVE_EOF)
            return sv_error(err, 0, "image %s: %s", tarball, libarchive.error_string(a));
        libarchive.write_finish_entry(w);
    }
    if (r != ARCHIVE_EOF)
        return sv_error(err, 0, "image %s: %s", tarball, libarchive.error_string(a));
    return ls ? mark_opaque(ls, err) : 0;
}

/* The child's half: chrooted into the destination, so every path the
 * archive gives (absolute names, links planted by earlier entries, hard
 * links through them, whiteouts below them) resolves inside it. libarchive
 * and the whiteout code work by path as root; without the chroot one
 * entry "d -> /dev" and the next through it would write on the host. */
static int extract_confined(int in, const char *tarball, const char *tmp,
                            const struct sv_idmap *shift, bool layer, sv_error_t *err)
{
    if (chroot(tmp) < 0 || chdir("/") < 0)
        return sv_error(err, errno, "cannot enter %s", tmp);
    cleanup_archive_read struct archive *a = libarchive.read_new();
    cleanup_archive_write struct archive *w = libarchive.write_disk_new();
    libarchive.read_support_filter_all(a);
    libarchive.read_support_format_all(a);
    /* Keep owners and modes (it is a root file system); libarchive's own
     * checks stay as a second wall. */
    libarchive.write_disk_set_options(w, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM |
                                             ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                                             ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                             ARCHIVE_EXTRACT_SECURE_SYMLINKS);
    __attribute__((cleanup(layer_state_clear))) struct layer_state ls = {0};
    __attribute__((cleanup(skipped_clear))) struct skipped sk = {0};
    if (libarchive.read_open_fd(a, in, 1 << 16) != ARCHIVE_OK)
        return sv_error(err, 0, "image %s: %s", tarball, libarchive.error_string(a));
    return copy_entries(a, w, tarball, "", shift, layer ? &ls : NULL, &sk, err);
}

/* Unpack in a child process (the chroot must not be ours), its error
 * coming back over a pipe. */
static int extract(const char *tarball, const char *tmp, const struct sv_idmap *shift, bool layer,
                   sv_error_t *err)
{
    cleanup_close int in = open(tarball, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return sv_error(err, errno, "image %s", tarball);
    cleanup_close int report_r = -1;
    cleanup_close int report_w = -1;
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0)
        return sv_error(err, errno, "pipe");
    report_r = report[0], report_w = report[1];
    pid_t pid = fork();
    if (pid < 0)
        return sv_error(err, errno, "fork");
    if (pid == 0) {
        sv_error_t e = NULL;
        if (extract_confined(in, tarball, tmp, shift, layer, &e) == 0)
            _exit(0);
        size_t n = strlen(e->msg);
        if (write(report_w, e->msg, n) != (ssize_t)n)
            _exit(2);
        _exit(1);
    }
    /* Closed now, not at return: the child's exit must be the pipe's EOF. */
    close(report_w);
    report_w = -1;
    char msg[2048];
    size_t len = sv_read_pipe(report_r, msg, sizeof(msg));
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (len)
        return sv_error(err, 0, "%s", msg);
    return sv_error(err, 0, "image %s: unpacking failed (status %d)", tarball, status);
}

static int unpack(const char *tarball, const char *dest, const struct sv_idmap *shift, bool layer,
                  sv_error_t *err)
{
    if (load_libarchive(err) < 0)
        return -1;
    cleanup_free char *tmp = sv_xasprintf("%s.tmp.%d", dest, (int)getpid());
    sv_rmtree(tmp, NULL);
    if (mkdir(tmp, 0755) < 0)
        return sv_error(err, errno, "cannot create %s", tmp);
    int rc = 0;
    if (shift->size) {
        cleanup_close int fd = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fchown(fd, shift->uid_base, shift->gid_base) < 0)
            rc = sv_error(err, errno, "cannot create %s", tmp);
    }
    if (rc == 0)
        rc = extract(tarball, tmp, shift, layer, err);
    if (rc == 0 && rename(tmp, dest) < 0 && errno != EEXIST && errno != ENOTEMPTY)
        rc = sv_error(err, errno, "cannot move %s into place", dest);
    sv_rmtree(tmp, NULL);
    return rc;
}

int sv_unpack_tarball(const char *tarball, const char *dest, const struct sv_idmap *shift,
                      sv_error_t *err)
{
    return unpack(tarball, dest, shift, false, err);
}

int sv_unpack_layer(const char *blob, const char *dest, const struct sv_idmap *shift,
                    sv_error_t *err)
{
    return unpack(blob, dest, shift, true, err);
}

int sv_unpack_has_entry(const char *tarball, const char *name, bool *found, sv_error_t *err)
{
    *found = false;
    if (load_libarchive(err) < 0)
        return -1;
    cleanup_archive_read struct archive *a = libarchive.read_new();
    libarchive.read_support_filter_all(a);
    libarchive.read_support_format_all(a);
    if (libarchive.read_open_filename(a, tarball, 1 << 16) != ARCHIVE_OK)
        return sv_error(err, 0, "%s: %s", tarball, libarchive.error_string(a));
    struct archive_entry *e;
    int r;
    while (!*found && (r = libarchive.read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *p = libarchive.entry_pathname(e);
        if (strncmp(p, "./", 2) == 0)
            p += 2;
        *found = strcmp(p, name) == 0;
        libarchive.read_data_skip(a);
    }
    if (!*found && r != ARCHIVE_EOF)
        return sv_error(err, 0, "%s: %s", tarball, libarchive.error_string(a));
    return 0;
}

/* The stream of bytes inside any compression libarchive reads, hashed
 * (and written to out when out >= 0). */
int sv_unpack_diff_id(const char *path, char digest[SV_DIGEST_LEN + 1],
                      enum sv_unpack_compression *comp, int out, sv_error_t *err)
{
    if (load_libarchive(err) < 0)
        return -1;
    cleanup_archive_read struct archive *a = libarchive.read_new();
    cleanup_sha256 struct sv_sha256 *h = NULL;
    libarchive.read_support_filter_all(a);
    libarchive.read_support_format_raw(a);
    struct archive_entry *e;
    if (sv_sha256_new(&h, err) < 0)
        return -1;
    if (libarchive.read_open_filename(a, path, 1 << 16) != ARCHIVE_OK ||
        libarchive.read_next_header(a, &e) != ARCHIVE_OK)
        return sv_error(err, 0, "%s: %s", path, libarchive.error_string(a));
    int code = libarchive.filter_code(a, 0);
    *comp = code == ARCHIVE_FILTER_NONE   ? SV_UNPACK_PLAIN
            : code == ARCHIVE_FILTER_GZIP ? SV_UNPACK_GZIP
            : code == ARCHIVE_FILTER_ZSTD ? SV_UNPACK_ZSTD
                                          : SV_UNPACK_OTHER;
    const void *buf;
    size_t size;
    la_int64_t off;
    int r;
    while ((r = libarchive.read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK) {
        sv_sha256_update(h, buf, size);
        if (out >= 0 && write(out, buf, size) != (ssize_t)size)
            return sv_error(err, errno, "%s: cannot write its uncompressed copy", path);
    }
    if (r != ARCHIVE_EOF)
        return sv_error(err, 0, "%s: %s", path, libarchive.error_string(a));
    sv_sha256_final(sv_steal(h), digest);
    return 0;
}

static int scan_entry(struct archive *a, struct archive_entry *e, const struct sv_unpack_scan *cb,
                      const char *path, sv_error_t *err)
{
    __LA_MODE_T t = libarchive.entry_filetype(e);
    const char *hl = libarchive.entry_hardlink(e);
    const char *sl = t == AE_IFLNK ? libarchive.entry_symlink(e) : NULL;
    char kind = hl ? 'h' : sl ? 'l' : t == AE_IFREG ? 'f' : 'o';
    if (cb->begin(cb->ud, libarchive.entry_pathname(e), kind, hl ? hl : sl, err) < 0)
        return -1;
    if (kind != 'f')
        return 0;
    const void *buf;
    size_t size;
    la_int64_t off;
    int r;
    while ((r = libarchive.read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
        if (cb->data(cb->ud, buf, size, err) < 0)
            return -1;
    if (r != ARCHIVE_EOF)
        return sv_error(err, 0, "%s: %s", path, libarchive.error_string(a));
    return cb->end(cb->ud, err);
}

int sv_unpack_scan(const char *path, const struct sv_unpack_scan *cb, sv_error_t *err)
{
    if (load_libarchive(err) < 0)
        return -1;
    cleanup_archive_read struct archive *a = libarchive.read_new();
    libarchive.read_support_filter_all(a);
    libarchive.read_support_format_all(a);
    const char *shown = path ? path : "standard input";
    if (libarchive.read_open_filename(a, path, 1 << 16) != ARCHIVE_OK)
        return sv_error(err, 0, "%s: %s", shown, libarchive.error_string(a));
    struct archive_entry *e;
    int r;
    while ((r = libarchive.read_next_header(a, &e)) == ARCHIVE_OK)
        if (scan_entry(a, e, cb, shown, err) < 0)
            return -1;
    if (r != ARCHIVE_EOF)
        return sv_error(err, 0, "%s: %s", shown, libarchive.error_string(a));
    return 0;
}
