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
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct sv_gitrepo {
    char *dir; /* <root>/git/<key> */
    git_repository *repo;
    int lock_fd;
};

#define ORIGIN "refs/remotes/origin/"

/* libgit2's objects, freed at scope exit (never called for NULL: before
 * libgit2 is loaded, its functions are not there to call). */
#define GIT_CLEANUP(type, fn)                                                                      \
    static inline void type##_freep(type **p)                                                      \
    {                                                                                              \
        if (*p)                                                                                    \
            fn(*p);                                                                                \
    }
GIT_CLEANUP(git_reference, git_reference_free)
GIT_CLEANUP(git_reference_iterator, git_reference_iterator_free)
GIT_CLEANUP(git_object, git_object_free)
GIT_CLEANUP(git_commit, git_commit_free)
GIT_CLEANUP(git_tree, git_tree_free)
GIT_CLEANUP(git_blob, git_blob_free)
GIT_CLEANUP(git_remote, git_remote_free)
#define cleanup_git(type) __attribute__((cleanup(type##_freep))) type

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
    cleanup_free char *what = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&what, fmt, ap) < 0)
        abort();
    va_end(ap);
    return sv_error(err, 0, "%s: %s", what, msg);
}

int sv_gitrepo_open(const char *url_key, struct sv_gitrepo **out, sv_error_t *err)
{
    if (sv_git2_load(err) < 0) /* every other entry point takes an open repository */
        return -1;
    char digest[SV_DIGEST_LEN + 1];
    if (sv_digest_mem(url_key, strlen(url_key), digest, err) < 0)
        return -1;
    cleanup_gitrepo struct sv_gitrepo *r = sv_xcalloc(1, sizeof(*r));
    /* 16 hex digits of the URL's hash: short enough for paths in messages. */
    r->dir = sv_xasprintf("%s/git/%.16s", sv_state_root(), digest + 7);
    r->lock_fd = -1;
    cleanup_free char *lock = sv_xasprintf("%s/lock", r->dir);
    cleanup_free char *bare = sv_xasprintf("%s/repo", r->dir);
    cleanup_free char *url_file = sv_xasprintf("%s/url", r->dir);
    /* 0700: a cached private repository stays private. */
    if (sv_mkdir_p(r->dir, 0700, err) < 0)
        return -1;
    r->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (r->lock_fd < 0 || flock(r->lock_fd, LOCK_EX) < 0)
        return sv_error(err, errno, "cannot lock %s", lock);
    if (access(url_file, F_OK) != 0) { /* for people looking at the cache */
        cleanup_fclose FILE *f = fopen(url_file, "we");
        if (f)
            fprintf(f, "%s\n", url_key);
    }
    int rc = access(bare, F_OK) == 0 ? git_repository_open_bare(&r->repo, bare)
                                     : git_repository_init(&r->repo, bare, 1);
    if (rc < 0)
        return git_fail(err, NULL, "cannot open the git cache %s", bare);
    *out = sv_steal(r);
    return 0;
}

void sv_gitrepo_close(struct sv_gitrepo *r)
{
    if (r == NULL)
        return;
    if (r->repo)
        git_repository_free(r->repo);
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    free(r->dir);
    free(r);
}

bool sv_gitrepo_fetched(const struct sv_gitrepo *r)
{
    cleanup_free char *stamp = sv_xasprintf("%s/fetched", r->dir);
    return access(stamp, F_OK) == 0;
}

/* Remote-tracking branches the remote no longer has are deleted, so a
 * removed branch stops resolving instead of silently staying old. */
static void prune_branches(git_repository *repo, const git_remote_head **heads, size_t n)
{
    cleanup_git(git_reference_iterator) *it = NULL;
    if (git_reference_iterator_glob_new(&it, repo, ORIGIN "*") < 0)
        return;
    git_reference *next;
    while (git_reference_next(&next, it) == 0) {
        cleanup_git(git_reference) *ref = next;
        const char *branch = git_reference_name(ref) + strlen(ORIGIN);
        bool keep = strcmp(branch, "HEAD") == 0;
        for (size_t i = 0; i < n && !keep; i++)
            keep = strncmp(heads[i]->name, "refs/heads/", 11) == 0 &&
                   strcmp(heads[i]->name + 11, branch) == 0;
        if (!keep)
            git_reference_delete(ref);
    }
}

/* Connected: download every branch and tag, drop branches the remote
 * lost, and point origin/HEAD where the remote's HEAD points. */
static int fetch_connected(struct sv_gitrepo *r, git_remote *remote,
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
        cleanup_git(git_reference) *sym = NULL;
        if (git_reference_symbolic_create(&sym, r->repo, ORIGIN "HEAD", target, 1, NULL) < 0)
            rc = git_fail(err, NULL, "cannot record the HEAD of %s", display);
    }
    git_buf_dispose(&head);
    return rc;
}

/* The fetch failed (rc > 0): say why, the host key or the login first. */
static void fetch_error(const struct sv_gitcred_state *creds, const char *display,
                        const char *secret, sv_error_t *err)
{
    if (creds->host_error)
        sv_error(err, 0, "cannot fetch %s: %s", display, creds->host_error);
    else if (creds->exhausted)
        sv_error(err, 0,
                 "authentication failed for %s (tried the URL's credentials, ssh-agent, "
                 "~/.ssh/id_*, and ~/.git-credentials)",
                 display);
    else
        git_fail(err, secret, "cannot fetch %s", display);
}

int sv_gitrepo_fetch(struct sv_gitrepo *r, const char *url, const char *display, const char *secret,
                     sv_error_t *err)
{
    cleanup_gitcred_state struct sv_gitcred_state creds = {0};
    git_remote_callbacks cbs;
    git_remote_init_callbacks(&cbs, GIT_REMOTE_CALLBACKS_VERSION);
    cbs.credentials = sv_gitcred_credential_cb;
    cbs.certificate_check = sv_gitcred_certificate_cb;
    cbs.payload = &creds;
    cleanup_url_parts struct sv_url_parts u = {0};
    if (sv_url_split(url, &u)) {
        const char *colon = strrchr(u.hostport, ':');
        if (colon && !strchr(colon, ']'))
            creds.port = atoi(colon + 1);
    }
    cleanup_git(git_remote) *remote = NULL;
    if (git_remote_create_anonymous(&remote, r->repo, url) < 0)
        return git_fail(err, secret, "%s is not a URL git understands", display);
    cleanup_secret char *auth = sv_gitcred_basic_auth(url);
    git_strarray headers = {&auth, auth ? 1 : 0};
    creds.sent_basic = auth != NULL;
    int rc = git_remote_connect(remote, GIT_DIRECTION_FETCH, &cbs, NULL, &headers) < 0
                 ? 1
                 : fetch_connected(r, remote, &cbs, &headers, display, err);
    if (rc > 0)
        fetch_error(&creds, display, secret, err);
    git_remote_disconnect(remote);
    if (rc != 0)
        return -1;
    cleanup_free char *stamp = sv_xasprintf("%s/fetched", r->dir);
    cleanup_close int fd = open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    return 0;
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
    cleanup_git(git_reference) *ref = NULL;
    cleanup_git(git_object) *obj = NULL;
    bool ok = git_reference_lookup(&ref, repo, name) == 0 &&
              git_reference_peel(&obj, ref, GIT_OBJECT_COMMIT) == 0;
    if (ok)
        git_oid_cpy(out, git_object_id(obj));
    return ok;
}

/* The commit an abbreviated id (of 4 digits or more) names; ref is the
 * name as given, for the message. */
static int commit_by_prefix(git_repository *repo, const char *name, const char *ref, git_oid *out,
                            sv_error_t *err)
{
    git_oid prefix;
    cleanup_git(git_object) *obj = NULL;
    cleanup_git(git_object) *peeled = NULL;
    size_t len = strlen(name);
    if (git_oid_fromstrn(&prefix, name, len) < 0)
        return sv_error(err, 0, "\"%s\" is not a commit id", name);
    int rc = git_object_lookup_prefix(&obj, repo, &prefix, len, GIT_OBJECT_ANY);
    if (rc == GIT_EAMBIGUOUS)
        return sv_error(err, 0, "commit id \"%s\" is ambiguous; give more digits", name);
    if (rc < 0 || git_object_peel(&peeled, obj, GIT_OBJECT_COMMIT) < 0)
        return sv_error(err, 0, "no branch, tag or commit \"%s\"", ref);
    git_oid_cpy(out, git_object_id(peeled));
    return 0;
}

int sv_gitrepo_resolve(struct sv_gitrepo *r, const char *ref, char commit[41],
                       enum sv_gitrepo_ref_kind *kind, sv_error_t *err)
{
    git_oid oid;
    if (ref == NULL) {
        *kind = SV_GITREPO_BRANCH;
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
        *kind = SV_GITREPO_BRANCH;
    } else if (!only_branch && ref_commit(r->repo, tag, &oid)) {
        *kind = SV_GITREPO_TAG;
    } else if (!only_tag && !only_branch && is_hex(name, 4, GIT_OID_HEXSZ)) {
        if (commit_by_prefix(r->repo, name, ref, &oid, err) < 0)
            return -1;
        *kind = SV_GITREPO_COMMIT;
    } else {
        return sv_error(err, 0, "no branch, tag or commit \"%s\"", ref);
    }
    oid_hex(&oid, commit);
    return 0;
}

bool sv_gitrepo_has_commit(struct sv_gitrepo *r, const char *commit)
{
    git_oid oid;
    cleanup_git(git_commit) *c = NULL;
    return git_oid_fromstr(&oid, commit) == 0 && git_commit_lookup(&c, r->repo, &oid) == 0;
}

/* ---- export ------------------------------------------------------------------ */

/* One commit's tree being written out beneath root_fd. */
struct tree_export {
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

/* All of data to fd; 0, or -1 with errno set. */
static int write_all(int fd, const char *data, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno != EINTR)
            return -1;
        off += w > 0 ? (size_t)w : 0;
    }
    return 0;
}

static int write_blob(struct tree_export *x, int dfd, const char *name, const git_oid *id, int mode)
{
    cleanup_git(git_blob) *blob = NULL;
    if (git_blob_lookup(&blob, x->repo, id) < 0)
        return git_fail(x->err, NULL, "cannot read %s from the repository", name);
    const char *data = git_blob_rawcontent(blob);
    size_t len = (size_t)git_blob_rawsize(blob);
    if (mode == GIT_FILEMODE_LINK) {
        cleanup_free char *target = sv_xstrndup(data, len);
        if (symlinkat(target, dfd, name) < 0)
            return sv_error(x->err, errno, "cannot create %s", name);
        return 0;
    }
    cleanup_close int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                  mode == GIT_FILEMODE_BLOB_EXECUTABLE ? 0755 : 0644);
    if (fd < 0 || write_all(fd, data, len) < 0)
        return sv_error(x->err, errno, "cannot write %s", name);
    return 0;
}

static int export_entry(const char *parent, const git_tree_entry *e, void *payload)
{
    struct tree_export *x = payload;
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

/* commit's tree written out into the empty directory tmp. */
static int export_tree(struct sv_gitrepo *r, const char *commit, const char *tmp, sv_error_t *err)
{
    git_oid oid;
    cleanup_git(git_commit) *c = NULL;
    cleanup_git(git_tree) *tree = NULL;
    if (git_oid_fromstr(&oid, commit) < 0 || git_commit_lookup(&c, r->repo, &oid) < 0 ||
        git_commit_tree(&tree, c) < 0)
        return git_fail(err, NULL, "commit %s is not in the cache", commit);
    cleanup_close int root_fd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root_fd < 0)
        return sv_error(err, errno, "cannot open %s", tmp);
    struct tree_export x = {.repo = r->repo, .root_fd = root_fd, .err = err};
    if (git_tree_walk(tree, GIT_TREEWALK_PRE, export_entry, &x) < 0)
        return sv_error(err, 0, "cannot export commit %s", commit); /* keeps export_entry's */
    return 0;
}

int sv_gitrepo_export(struct sv_gitrepo *r, const char *commit, char **dir, sv_error_t *err)
{
    cleanup_free char *trees = sv_xasprintf("%s/trees", r->dir);
    cleanup_free char *final = sv_xasprintf("%s/%s", trees, commit);
    if (access(final, F_OK) == 0) {
        /* In use again: pruning goes by this time (sv_gitrepo_prune). */
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
    int rc = export_tree(r, commit, tmp, err);
    /* EEXIST, ENOTEMPTY: another servos exported it first (the same files). */
    if (rc == 0 && rename(tmp, final) < 0 && errno != EEXIST && errno != ENOTEMPTY)
        rc = sv_error(err, errno, "cannot move %s into place", tmp);
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
    cleanup_closedir DIR *d = opendir(stacks);
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
    return found;
}

/* Remove the trees of one cached repository idle for idle_seconds. */
static void prune_trees(const char *trees, time_t now, int idle_seconds)
{
    cleanup_closedir DIR *t = opendir(trees);
    struct dirent *te;
    while (t && (te = readdir(t)) != NULL) {
        if (te->d_name[0] == '.')
            continue;
        cleanup_free char *tree = sv_xasprintf("%s/%s", trees, te->d_name);
        struct stat st;
        if (stat(tree, &st) == 0 && now - st.st_mtime >= idle_seconds && !pinned(te->d_name))
            sv_rmtree(tree, NULL);
    }
}

void sv_gitrepo_prune(int idle_seconds)
{
    cleanup_free char *root = sv_xasprintf("%s/git", sv_state_root());
    cleanup_closedir DIR *d = opendir(root);
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
        prune_trees(trees, now, idle_seconds);
    }
}
