#include "git/gitrepo.h"

#include "core/digest.h"
#include "git/gitcred.h"
#include "git/url.h"
#include "core/fs.h"
#include "core/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <git2.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct sv_git_repo {
    char *dir; /* <root>/git/<key> */
    git_repository *repo;
    int lock_fd;
};

#define ORIGIN "refs/remotes/origin/"

static void libgit2_shutdown(void)
{
    git_libgit2_shutdown();
}

static void libgit2_init(void)
{
    static bool done;
    if (!done) {
        git_libgit2_init();
        atexit(libgit2_shutdown); /* frees its per-thread state */
        done = true;
    }
}

/* libgit2's last message, with secret (credentials in a URL) blanked. */
static char *git_message(const char *secret)
{
    const git_error *e = git_error_last();
    char *msg = sv_xstrdup(e && e->message ? e->message : "unknown libgit2 error");
    size_t sl = secret ? strlen(secret) : 0;
    for (char *p; sl && (p = strstr(msg, secret));)
        memset(p, '*', sl);
    return msg;
}

static int git_fail(sv_error_t *err, const char *secret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int git_fail(sv_error_t *err, const char *secret, const char *fmt, ...)
{
    cleanup_free char *msg = git_message(secret);
    char *what = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&what, fmt, ap) < 0)
        abort();
    va_end(ap);
    sv_error(err, 0, "%s: %s", what, msg);
    free(what);
    return -1;
}

int sv_git_repo_open(const char *url_key, struct sv_git_repo **out, sv_error_t *err)
{
    libgit2_init();
    char digest[SV_DIGEST_LEN + 1];
    if (sv_digest_mem(url_key, strlen(url_key), digest, err) < 0)
        return -1;
    struct sv_git_repo *r = sv_xcalloc(1, sizeof(*r));
    /* 16 hex digits of the URL's hash: short enough for paths in messages. */
    r->dir = sv_xasprintf("%s/git/%.16s", sv_state_root(), digest + 7);
    r->lock_fd = -1;
    cleanup_free char *lock = sv_xasprintf("%s/lock", r->dir);
    cleanup_free char *bare = sv_xasprintf("%s/repo", r->dir);
    cleanup_free char *url_file = sv_xasprintf("%s/url", r->dir);
    /* 0700: a cached private repository stays private. */
    if (sv_mkdir_p(r->dir, 0700, err) < 0)
        goto fail;
    r->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (r->lock_fd < 0 || flock(r->lock_fd, LOCK_EX) < 0) {
        sv_error(err, errno, "cannot lock %s", lock);
        goto fail;
    }
    if (access(url_file, F_OK) != 0) { /* for people looking at the cache */
        FILE *f = fopen(url_file, "we");
        if (f) {
            fprintf(f, "%s\n", url_key);
            fclose(f);
        }
    }
    int rc = access(bare, F_OK) == 0 ? git_repository_open_bare(&r->repo, bare)
                                     : git_repository_init(&r->repo, bare, 1);
    if (rc < 0) {
        git_fail(err, NULL, "cannot open the git cache %s", bare);
        goto fail;
    }
    *out = r;
    return 0;
fail:
    sv_git_repo_close(r);
    return -1;
}

void sv_git_repo_close(struct sv_git_repo *r)
{
    if (r == NULL)
        return;
    git_repository_free(r->repo);
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    free(r->dir);
    free(r);
}

bool sv_git_repo_fetched(const struct sv_git_repo *r)
{
    cleanup_free char *stamp = sv_xasprintf("%s/fetched", r->dir);
    return access(stamp, F_OK) == 0;
}

/* Remote-tracking branches the remote no longer has are deleted, so a
 * removed branch stops resolving instead of silently staying old. */
static void prune_branches(git_repository *repo, const git_remote_head **heads, size_t n)
{
    git_reference_iterator *it = NULL;
    if (git_reference_iterator_glob_new(&it, repo, ORIGIN "*") < 0)
        return;
    git_reference *ref;
    while (git_reference_next(&ref, it) == 0) {
        const char *branch = git_reference_name(ref) + strlen(ORIGIN);
        bool keep = strcmp(branch, "HEAD") == 0;
        for (size_t i = 0; i < n && !keep; i++)
            keep = strncmp(heads[i]->name, "refs/heads/", 11) == 0 &&
                   strcmp(heads[i]->name + 11, branch) == 0;
        if (!keep)
            git_reference_delete(ref);
        git_reference_free(ref);
    }
    git_reference_iterator_free(it);
}

/* Connected: download every branch and tag, drop branches the remote
 * lost, and point origin/HEAD where the remote's HEAD points. */
static int fetch_connected(struct sv_git_repo *r, git_remote *remote,
                           const git_remote_callbacks *cbs, const git_strarray *headers,
                           const char *display, sv_error_t *err)
{
    git_buf head = {0};
    bool has_head = git_remote_default_branch(&head, remote) == 0;
    char *specs[] = {"+refs/heads/*:" ORIGIN "*", "+refs/tags/*:refs/tags/*"};
    git_strarray refspecs = {specs, 2};
    git_fetch_options fo;
    git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
    fo.callbacks = *cbs;
    fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE; /* the refspec takes them all */
    fo.update_fetchhead = 0;
    fo.custom_headers = *headers;
    int rc = -1;
    const git_remote_head **heads = NULL;
    size_t nheads = 0;
    if (git_remote_download(remote, &refspecs, &fo) < 0 ||
        git_remote_update_tips(remote, cbs, 0, GIT_REMOTE_DOWNLOAD_TAGS_NONE, NULL) < 0) {
        rc = 1; /* the caller words it */
    } else if (git_remote_ls(&heads, &nheads, remote) == 0) {
        prune_branches(r->repo, heads, nheads);
        rc = 0;
    }
    if (rc == 0 && has_head && strncmp(head.ptr, "refs/heads/", 11) == 0) {
        cleanup_free char *target = sv_xasprintf(ORIGIN "%s", head.ptr + 11);
        git_reference *sym = NULL;
        if (git_reference_symbolic_create(&sym, r->repo, ORIGIN "HEAD", target, 1, NULL) < 0)
            rc = git_fail(err, NULL, "cannot record the HEAD of %s", display);
        git_reference_free(sym);
    }
    git_buf_dispose(&head);
    return rc;
}

int sv_git_repo_fetch(struct sv_git_repo *r, const char *url, const char *display,
                      const char *secret, sv_error_t *err)
{
    struct sv_git_cred_state creds = {0};
    git_remote_callbacks cbs;
    git_remote_init_callbacks(&cbs, GIT_REMOTE_CALLBACKS_VERSION);
    cbs.credentials = sv_git_credential_cb;
    cbs.certificate_check = sv_git_certificate_cb;
    cbs.payload = &creds;
    struct sv_url_parts u;
    if (sv_url_split(url, &u)) {
        const char *colon = strrchr(u.hostport, ':');
        if (colon && !strchr(colon, ']'))
            creds.port = atoi(colon + 1);
        sv_url_parts_free(&u);
    }
    git_remote *remote = NULL;
    if (git_remote_create_anonymous(&remote, r->repo, url) < 0)
        return git_fail(err, secret, "%s is not a URL git understands", display);
    char *auth = sv_git_basic_auth(url);
    git_strarray headers = {&auth, auth ? 1 : 0};
    creds.sent_basic = auth != NULL;
    int rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &cbs, NULL, &headers) < 0
                 ? 1
                 : fetch_connected(r, remote, &cbs, &headers, display, err);
    if (auth) {
        explicit_bzero(auth, strlen(auth));
        free(auth);
    }
    if (rc > 0 && creds.host_error)
        sv_error(err, 0, "cannot fetch %s: %s", display, creds.host_error);
    else if (rc > 0 && creds.exhausted)
        sv_error(err, 0,
                 "authentication failed for %s (tried the URL's credentials, ssh-agent, "
                 "~/.ssh/id_*, and ~/.git-credentials)",
                 display);
    else if (rc > 0)
        git_fail(err, secret, "cannot fetch %s", display);
    free(creds.host_error);
    git_remote_disconnect(remote);
    git_remote_free(remote);
    if (rc == 0) {
        cleanup_free char *stamp = sv_xasprintf("%s/fetched", r->dir);
        close(open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    }
    return rc == 0 ? 0 : -1;
}

static bool is_hex(const char *s, size_t min, size_t max)
{
    size_t n = strspn(s, "0123456789abcdefABCDEF");
    return s[n] == '\0' && n >= min && n <= max;
}

static void oid_hex(const git_oid *oid, char out[41])
{
    git_oid_tostr(out, 41, oid);
}

/* refs/<name> peeled to a commit. */
static bool ref_commit(git_repository *repo, const char *name, git_oid *out)
{
    git_reference *ref = NULL;
    git_object *obj = NULL;
    bool ok = git_reference_lookup(&ref, repo, name) == 0 &&
              git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT) == 0;
    if (ok)
        git_oid_cpy(out, git_object_id(obj));
    git_object_free(obj);
    git_reference_free(ref);
    return ok;
}

int sv_git_repo_resolve(struct sv_git_repo *r, const char *ref, char commit[41],
                        enum sv_git_ref_kind *kind, sv_error_t *err)
{
    git_oid oid;
    if (ref == NULL) {
        *kind = SV_GIT_REF_BRANCH;
        if (!ref_commit(r->repo, ORIGIN "HEAD", &oid))
            return sv_error(err, 0, "the remote has no default branch (HEAD)");
        oid_hex(&oid, commit);
        return 0;
    }
    bool only_tag = strncmp(ref, "refs/tags/", 10) == 0;
    bool only_branch = strncmp(ref, "refs/heads/", 11) == 0;
    const char *name = only_tag ? ref + 10 : only_branch ? ref + 11 : ref;
    cleanup_free char *branch = sv_xasprintf(ORIGIN "%s", name);
    cleanup_free char *tag = sv_xasprintf("refs/tags/%s", name);
    int valid = 0;
    if (git_reference_name_is_valid(&valid, tag) < 0 || !valid || *name == '\0')
        return sv_error(err, 0, "\"%s\" is not a valid branch, tag or commit name", ref);
    if (!only_tag && ref_commit(r->repo, branch, &oid)) {
        *kind = SV_GIT_REF_BRANCH;
    } else if (!only_branch && ref_commit(r->repo, tag, &oid)) {
        *kind = SV_GIT_REF_TAG;
    } else if (!only_tag && !only_branch && is_hex(name, 4, GIT_OID_HEXSZ)) {
        git_oid prefix;
        git_object *obj = NULL, *peeled = NULL;
        size_t len = strlen(name);
        if (git_oid_fromstrn(&prefix, name, len) < 0)
            return sv_error(err, 0, "\"%s\" is not a commit id", name);
        int rc = git_object_lookup_prefix(&obj, r->repo, &prefix, len, GIT_OBJECT_ANY);
        if (rc == GIT_EAMBIGUOUS)
            return sv_error(err, 0, "commit id \"%s\" is ambiguous; give more digits", name);
        if (rc < 0 || git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0) {
            git_object_free(obj);
            return sv_error(err, 0, "no branch, tag or commit \"%s\"", ref);
        }
        git_oid_cpy(&oid, git_object_id(peeled));
        git_object_free(peeled);
        git_object_free(obj);
        *kind = SV_GIT_REF_COMMIT;
    } else {
        return sv_error(err, 0, "no branch, tag or commit \"%s\"", ref);
    }
    oid_hex(&oid, commit);
    return 0;
}

bool sv_git_repo_has_commit(struct sv_git_repo *r, const char *commit)
{
    git_oid oid;
    git_commit *c = NULL;
    if (git_oid_fromstr(&oid, commit) < 0 || git_commit_lookup(&c, r->repo, &oid) < 0)
        return false;
    git_commit_free(c);
    return true;
}

/* ---- export ------------------------------------------------------------------ */

struct export
{
    git_repository *repo;
    int root_fd;
    sv_error_t *err;
};

/* The directory rel (inside the export) without following any symlink
 * and without leaving it: a crafted tree cannot write through a link it
 * planted earlier. */
static int open_beneath(int root_fd, const char *rel)
{
    if (*rel == '\0')
        return fcntl(root_fd, F_DUPFD_CLOEXEC, 0);
    struct open_how how = {
        .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
    };
    return (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
}

static int write_blob(struct export *x, int dfd, const char *name, const git_oid *id, int mode)
{
    git_blob *blob = NULL;
    if (git_blob_lookup(&blob, x->repo, id) < 0)
        return git_fail(x->err, NULL, "cannot read %s from the repository", name);
    const char *data = git_blob_rawcontent(blob);
    size_t len = (size_t)git_blob_rawsize(blob);
    int rc = 0;
    if (mode == GIT_FILEMODE_LINK) {
        cleanup_free char *target = sv_xstrndup(data, len);
        if (symlinkat(target, dfd, name) < 0)
            rc = sv_error(x->err, errno, "cannot create %s", name);
    } else {
        cleanup_close int fd =
            openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644);
        for (size_t off = 0; fd >= 0 && off < len;) {
            ssize_t w = write(fd, data + off, len - off);
            if (w < 0 && errno != EINTR)
                break;
            off += w > 0 ? (size_t)w : 0;
            if (off == len)
                break;
        }
        if (fd < 0 || (len > 0 && lseek(fd, 0, SEEK_CUR) != (off_t)len))
            rc = sv_error(x->err, errno, "cannot write %s", name);
    }
    git_blob_free(blob);
    return rc;
}

static int export_entry(const char *parent, const git_tree_entry *e, void *payload)
{
    struct export *x = payload;
    const char *name = git_tree_entry_name(e);
    if (*name == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strchr(name, '/')) {
        sv_error(x->err, 0, "the repository has a malformed file name \"%s%s\"", parent, name);
        return -1;
    }
    cleanup_close int dfd = open_beneath(x->root_fd, parent);
    if (dfd < 0) {
        sv_error(x->err, errno, "cannot export %s%s", parent, name);
        return -1;
    }
    int mode = git_tree_entry_filemode(e);
    int rc = 0;
    switch (mode) {
    case GIT_FILEMODE_TREE:
    case GIT_FILEMODE_COMMIT: /* a submodule: an empty directory, as git leaves it */
        if (mkdirat(dfd, name, 0755) < 0)
            rc = sv_error(x->err, errno, "cannot create %s%s", parent, name);
        return rc < 0 ? -1 : mode == GIT_FILEMODE_COMMIT ? 1 : 0;
    case GIT_FILEMODE_BLOB:
    case GIT_FILEMODE_BLOB_EXECUTABLE:
    case GIT_FILEMODE_LINK:
        return write_blob(x, dfd, name, git_tree_entry_id(e), mode) < 0 ? -1 : 0;
    default:
        return 0;
    }
}

int sv_git_repo_export(struct sv_git_repo *r, const char *commit, char **dir, sv_error_t *err)
{
    cleanup_free char *trees = sv_xasprintf("%s/trees", r->dir);
    cleanup_free char *final = sv_xasprintf("%s/%s", trees, commit);
    if (access(final, F_OK) == 0) {
        /* In use again: pruning goes by this time (sv_git_prune). */
        utimensat(AT_FDCWD, final, NULL, 0);
        *dir = realpath(final, NULL);
        return *dir ? 0 : sv_error(err, errno, "%s", final);
    }
    cleanup_free char *tmp = sv_xasprintf("%s/.tmp-%s-%d", trees, commit, (int)getpid());
    sv_rmtree(tmp, NULL);
    if (sv_mkdir_p(trees, 0700, err) < 0)
        return -1;
    if (mkdir(tmp, 0755) < 0)
        return sv_error(err, errno, "cannot create %s", tmp);
    git_oid oid;
    git_commit *c = NULL;
    git_tree *tree = NULL;
    struct export x = {
        .repo = r->repo, .root_fd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC), .err = err};
    int rc = -1;
    if (git_oid_fromstr(&oid, commit) < 0 || git_commit_lookup(&c, r->repo, &oid) < 0 ||
        git_commit_tree(&tree, c) < 0)
        git_fail(err, NULL, "commit %s is not in the cache", commit);
    else if (x.root_fd < 0)
        sv_error(err, errno, "cannot open %s", tmp);
    else if (git_tree_walk(tree, GIT_TREEWALK_PRE, export_entry, &x) < 0)
        sv_error(err, 0, "cannot export commit %s", commit); /* keeps export_entry's error */
    else if (rename(tmp, final) == 0 || errno == EEXIST || errno == ENOTEMPTY)
        rc = 0; /* (another servos exported it first: same files) */
    else
        sv_error(err, errno, "cannot move %s into place", tmp);
    if (x.root_fd >= 0)
        close(x.root_fd);
    git_tree_free(tree);
    git_commit_free(c);
    sv_rmtree(tmp, NULL);
    if (rc == 0 && (*dir = realpath(final, NULL)) == NULL)
        rc = sv_error(err, errno, "%s", final);
    return rc;
}

/* ---- pruning --------------------------------------------------------------------- */

/* Is commit named in any stack's recorded commits? */
static bool pinned(const char *commit)
{
    cleanup_free char *stacks = sv_xasprintf("%s/stacks", sv_state_root());
    DIR *d = opendir(stacks);
    struct dirent *de;
    bool found = false;
    while (d && !found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        cleanup_free char *pins = sv_xasprintf("%s/%s/git.pins", stacks, de->d_name);
        cleanup_free char *text = NULL;
        sv_error_t err = NULL;
        if (sv_read_file(pins, 1 << 20, &text, NULL, &err) < 0)
            sv_error_free(&err);
        found = text && strstr(text, commit);
    }
    if (d)
        closedir(d);
    return found;
}

void sv_git_prune(int idle_seconds)
{
    cleanup_free char *root = sv_xasprintf("%s/git", sv_state_root());
    DIR *d = opendir(root);
    struct dirent *de;
    time_t now = time(NULL);
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        cleanup_free char *lock = sv_xasprintf("%s/%s/lock", root, de->d_name);
        cleanup_close int lfd = open(lock, O_RDWR | O_CLOEXEC);
        /* A checkout under way holds the lock: skip this repository now. */
        if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) < 0)
            continue;
        cleanup_free char *trees = sv_xasprintf("%s/%s/trees", root, de->d_name);
        DIR *t = opendir(trees);
        struct dirent *te;
        while (t && (te = readdir(t)) != NULL) {
            if (te->d_name[0] == '.')
                continue;
            cleanup_free char *tree = sv_xasprintf("%s/%s", trees, te->d_name);
            struct stat st;
            if (stat(tree, &st) == 0 && now - st.st_mtime >= idle_seconds && !pinned(te->d_name))
                sv_rmtree(tree, NULL);
        }
        if (t)
            closedir(t);
    }
    if (d)
        closedir(d);
}
