#include "unpack.h"

#include "rootfs.h"

#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The libarchive calls we make, resolved at run time. */
static struct {
    struct archive *(*read_new)(void);
    struct archive *(*write_disk_new)(void);
    int (*read_support_filter_all)(struct archive *);
    int (*read_support_format_all)(struct archive *);
    int (*write_disk_set_options)(struct archive *, int);
    int (*read_open_filename)(struct archive *, const char *, size_t);
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
} ar;

static int load_libarchive(sv_error_t *err)
{
    static void *lib;
    if (lib)
        return 0;
    void *h = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return sv_error(err, 0,
                        "cannot load libarchive to unpack an image: %s (apt install "
                        "libarchive13)",
                        dlerror());
    static const char *const names[] = {
        "archive_read_new",
        "archive_write_disk_new",
        "archive_read_support_filter_all",
        "archive_read_support_format_all",
        "archive_write_disk_set_options",
        "archive_read_open_filename",
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
    };
    void **slots = (void **)&ar;
    _Static_assert(sizeof(ar) == sizeof(names) / sizeof(names[0]) * sizeof(void *),
                   "one name per libarchive function");
    for (size_t i = 0; i < SV_ARRAY_LEN(names); i++) {
        slots[i] = dlsym(h, names[i]);
        if (slots[i] == NULL) {
            dlclose(h);
            return sv_error(err, 0, "libarchive lacks %s", names[i]);
        }
    }
    lib = h;
    return 0;
}

static int copy_entries(struct archive *a, struct archive *w, const char *tarball, const char *tmp,
                        const struct sv_idmap *shift, sv_error_t *err)
{
    struct archive_entry *e;
    int r;
    while ((r = ar.read_next_header(a, &e)) == ARCHIVE_OK) {
        const char *name = ar.entry_pathname(e);
        cleanup_free char *shown = sv_xstrdup(name);
        cleanup_free char *full = sv_xasprintf("%s/%s", tmp, name);
        ar.entry_set_pathname(e, full);
        const char *hl = ar.entry_hardlink(e);
        cleanup_free char *hfull = hl ? sv_xasprintf("%s/%s", tmp, hl) : NULL;
        if (hfull)
            ar.entry_set_hardlink(e, hfull);
        /* Owners shifted into the containers' id range, so container root
         * owns what the image's root owned (names would be looked up on the
         * host: drop them). */
        la_int64_t uid = ar.entry_uid(e), gid = ar.entry_gid(e);
        if (shift->size == 0) /* --userns host: owners as they are */
            ;
        else if (uid >= shift->size || gid >= shift->size)
            return sv_error(err, 0,
                            "image %s: %s: owner %lld:%lld is outside the %u ids a "
                            "container maps",
                            tarball, shown, (long long)uid, (long long)gid, shift->size);
        else {
            ar.entry_set_uid(e, uid + shift->uid_base);
            ar.entry_set_gid(e, gid + shift->gid_base);
            ar.entry_set_uname(e, NULL);
            ar.entry_set_gname(e, NULL);
        }
        if (ar.write_header(w, e) != ARCHIVE_OK)
            return sv_error(err, 0, "image %s: %s: %s", tarball, shown, ar.error_string(w));
        const void *buf;
        size_t size;
        la_int64_t off;
        while ((r = ar.read_data_block(a, &buf, &size, &off)) == ARCHIVE_OK)
            if (ar.write_data_block(w, buf, size, off) < 0)
                return sv_error(err, 0, "image %s: %s", tarball, ar.error_string(w));
        if (r != ARCHIVE_EOF)
            return sv_error(err, 0, "image %s: %s", tarball, ar.error_string(a));
        ar.write_finish_entry(w);
    }
    if (r != ARCHIVE_EOF)
        return sv_error(err, 0, "image %s: %s", tarball, ar.error_string(a));
    return 0;
}

int sv_unpack_tarball(const char *tarball, const char *dest, const struct sv_idmap *shift,
                      sv_error_t *err)
{
    if (load_libarchive(err) < 0)
        return -1;
    cleanup_free char *tmp = sv_xasprintf("%s.tmp.%d", dest, (int)getpid());
    sv_rmtree(tmp, NULL);
    if (mkdir(tmp, 0755) < 0)
        return sv_error(err, errno, "cannot create %s", tmp);
    if (shift->size && chown(tmp, shift->uid_base, shift->gid_base) < 0) {
        int e = errno;
        sv_rmtree(tmp, NULL);
        return sv_error(err, e, "cannot create %s", tmp);
    }
    struct archive *a = ar.read_new();
    struct archive *w = ar.write_disk_new();
    ar.read_support_filter_all(a);
    ar.read_support_format_all(a);
    /* Keep owners and modes (it is a root file system); refuse entries
     * that would escape the destination. */
    ar.write_disk_set_options(w, ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM |
                                     ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                                     ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                     ARCHIVE_EXTRACT_SECURE_SYMLINKS);
    int rc;
    if (ar.read_open_filename(a, tarball, 1 << 16) != ARCHIVE_OK)
        rc = sv_error(err, 0, "image %s: %s", tarball, ar.error_string(a));
    else
        rc = copy_entries(a, w, tarball, tmp, shift, err);
    ar.read_free(a);
    ar.write_free(w);
    if (rc == 0 && rename(tmp, dest) < 0 && errno != EEXIST && errno != ENOTEMPTY)
        rc = sv_error(err, errno, "cannot move %s into place", dest);
    sv_rmtree(tmp, NULL);
    return rc;
}
