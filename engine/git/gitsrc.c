#include "git/gitsrc.h"

#include "git/gitcred.h"
#include "git/url.h"
#include "git/gitrepo.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- parsing ---------------------------------------------------------------- */

static bool exists_in(const char *dir, const char *name, bool want_dir)
{
    cleanup_free char *p = sv_xasprintf("%s/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode));
}

/* A bare repository: HEAD, objects/ and refs/ with no working tree. */
static bool is_bare_repo(const char *dir)
{
    return exists_in(dir, "HEAD", false) && exists_in(dir, "objects", true) &&
           exists_in(dir, "refs", true);
}

static bool is_repo(const char *dir)
{
    return is_bare_repo(dir) || exists_in(dir, ".git", true) || exists_in(dir, ".git", false);
}

/* The path inside the repository, without "./", "//" and trailing "/";
 * NULL when it is absolute or climbs out with "..". */
static char *clean_repo_path(const char *p)
{
    if (*p == '/')
        return NULL;
    cleanup_free char *out = sv_xmalloc(strlen(p) + 1);
    size_t n = 0;
    while (*p) {
        size_t len = strcspn(p, "/");
        if (len == 2 && strncmp(p, "..", 2) == 0)
            return NULL;
        if (len > 0 && !(len == 1 && *p == '.')) {
            if (n > 0)
                out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
        }
        p += len;
        p += *p == '/';
    }
    out[n] = '\0';
    return sv_steal(out);
}

int sv_git_source_parse(const char *arg, struct sv_git_source *src, sv_error_t *err)
{
    memset(src, 0, sizeof(*src));
    const char *hash = strchr(arg, '#');
    size_t upto = hash ? (size_t)(hash - arg) : strlen(arg);
    bool prefixed = strncmp(arg, "git+", 4) == 0;
    cleanup_free char *url = NULL;
    if (prefixed) {
        url = sv_xstrndup(arg + 4, upto - 4);
    } else if (strncmp(arg, "git://", 6) == 0) {
        url = sv_xstrndup(arg, upto);
    } else {
        /* A local repository: PATH#REF[:path], or a bare repository's
         * directory. A working tree without #REF is read from disk. */
        cleanup_free char *dir = sv_xstrndup(arg, upto);
        if (!(hash ? is_repo(dir) : is_bare_repo(dir)))
            return 0;
        url = realpath(dir, NULL);
        if (url == NULL)
            return sv_error(err, errno, "%s", dir);
    }
    if (*url == '\0')
        return sv_error(err, 0, "\"%s\": a git source needs a URL (git+URL#REF:path)", arg);
    const char *frag = hash ? hash + 1 : "";
    const char *colon = strchr(frag, ':');
    size_t ref_len = colon ? (size_t)(colon - frag) : strlen(frag);
    char *path = clean_repo_path(colon ? colon + 1 : "");
    if (path == NULL)
        return sv_error(err, 0, "\"%s\": the path \"%s\" leaves the repository", arg, colon + 1);
    src->path = path;
    src->ref = ref_len ? sv_xstrndup(frag, ref_len) : NULL;

    /* Credentials in the URL stay in url (libgit2 needs them) and out of
     * everything shown or stored as a name. */
    cleanup_url_parts struct sv_url_parts u = {0};
    cleanup_free char *clean = NULL;
    if (sv_url_split(url, &u) && u.userinfo &&
        (strchr(u.userinfo, ':') || strncmp(u.scheme, "http", 4) == 0)) {
        src->secret = sv_xstrdup(u.userinfo);
        clean = sv_xasprintf("%s://%s%s", u.scheme, u.hostport, u.path);
    } else {
        clean = sv_xstrdup(url);
    }
    src->url = sv_steal(url);
    src->key = sv_xasprintf("%s#%s", clean, src->ref ? src->ref : "HEAD");
    src->display =
        sv_xasprintf("%s%s%s%s%s%s", prefixed ? "git+" : "", clean, src->ref || *path ? "#" : "",
                     src->ref ? src->ref : "", *path ? ":" : "", path);
    return 1;
}

void sv_git_source_free(struct sv_git_source *src)
{
    if (src->secret)
        explicit_bzero(src->secret, strlen(src->secret));
    free(src->url);
    free(src->ref);
    free(src->path);
    free(src->display);
    free(src->key);
    free(src->secret);
    memset(src, 0, sizeof(*src));
}

/* ---- policy and pins ---------------------------------------------------------- */

/* How this process resolves a source, and what it resolved. */
static struct {
    enum sv_git_policy policy;
    char *pins_in;  /* what the stack recorded */
    char *pins_out; /* what this process resolved */
} resolution;

void sv_git_set_policy(enum sv_git_policy policy, const char *pins)
{
    resolution.policy = policy;
    free(resolution.pins_in);
    free(resolution.pins_out);
    resolution.pins_in = pins ? sv_xstrdup(pins) : NULL;
    resolution.pins_out = NULL;
}

bool sv_git_pin_lookup(const char *pins, const char *key, char commit[41])
{
    size_t kl = strlen(key);
    for (const char *l = pins; l && *l;) {
        const char *end = l + strcspn(l, "\n");
        const char *k = memchr(l, '\t', (size_t)(end - l));
        if (k && (size_t)(end - k) > kl + 2 && strncmp(k + 1, key, kl) == 0 && k[1 + kl] == '\t' &&
            end - (k + 2 + kl) == 40) {
            memcpy(commit, k + 2 + kl, 40);
            commit[40] = '\0';
            return true;
        }
        l = *end ? end + 1 : end;
    }
    return false;
}

static void pin_record(const char *role, const char *key, const char *commit)
{
    char had[41];
    if (sv_git_pin_lookup(resolution.pins_out, key, had))
        return;
    char *next = sv_xasprintf("%s%s\t%s\t%s\n", resolution.pins_out ? resolution.pins_out : "",
                              role, key, commit);
    free(resolution.pins_out);
    resolution.pins_out = next;
}

char *sv_git_pins(void)
{
    return resolution.pins_out ? sv_xstrdup(resolution.pins_out) : NULL;
}

bool sv_git_pins_source(const char *pins, char *key_out, size_t key_size, char commit_out[41])
{
    for (const char *l = pins; l && *l;) {
        const char *end = l + strcspn(l, "\n");
        const char *k = l + 7;
        const char *c = end - 41;
        if (strncmp(l, "source\t", 7) == 0 && c > k && *c == '\t') {
            snprintf(key_out, key_size, "%.*s", (int)(c - k), k);
            memcpy(commit_out, c + 1, 40);
            commit_out[40] = '\0';
            return true;
        }
        l = *end ? end + 1 : end;
    }
    return false;
}

/* ---- checkout ------------------------------------------------------------------- */

/* The commit src means under this process's policy. */
static int pick_commit(struct sv_gitrepo *r, const struct sv_git_source *src, char commit[41],
                       sv_error_t *err)
{
    char pinned[41];
    if (resolution.policy == SV_GIT_PINNED &&
        sv_git_pin_lookup(resolution.pins_in, src->key, pinned)) {
        /* The stack runs this commit; fetch only when the cache lost it. */
        if (!sv_gitrepo_has_commit(r, pinned) &&
            sv_gitrepo_fetch(r, src->url, src->display, src->secret, err) < 0)
            return sv_error_wrap(err, "commit %.12s of %s is not cached", pinned, src->display);
        if (!sv_gitrepo_has_commit(r, pinned))
            return sv_error(err, 0, "%s: commit %.12s is gone from the repository", src->display,
                            pinned);
        memcpy(commit, pinned, 41);
        return 0;
    }
    enum sv_gitrepo_ref_kind kind = SV_GITREPO_BRANCH;
    sv_error_t local = NULL;
    bool known =
        sv_gitrepo_fetched(r) && sv_gitrepo_resolve(r, src->ref, commit, &kind, &local) == 0;
    sv_error_free(&local);
    /* Tags and commits do not move: the cache answers them offline. */
    if (known && kind != SV_GITREPO_BRANCH && resolution.policy != SV_GIT_UPDATE)
        return 0;
    sv_error_t ferr = NULL;
    if (sv_gitrepo_fetch(r, src->url, src->display, src->secret, &ferr) < 0) {
        if (!known || resolution.policy == SV_GIT_UPDATE) {
            *err = ferr;
            return -1;
        }
        fprintf(stderr, "servos: warning: %s; using the cached commit %.12s\n", ferr->msg, commit);
        sv_error_free(&ferr);
        return 0;
    }
    if (sv_gitrepo_resolve(r, src->ref, commit, &kind, err) < 0)
        return sv_error_wrap(err, "%s", src->display);
    return 0;
}

/* co->commit and co->root: the commit src means, exported, with the
 * cache locked meanwhile. */
static int resolve_and_export(const struct sv_git_source *src, struct sv_git_checkout *co,
                              sv_error_t *err)
{
    cleanup_free char *url_key = sv_xstrndup(src->key, (size_t)(strrchr(src->key, '#') - src->key));
    cleanup_gitrepo struct sv_gitrepo *r = NULL;
    if (sv_gitrepo_open(url_key, &r, err) < 0 || pick_commit(r, src, co->commit, err) < 0)
        return -1;
    return sv_gitrepo_export(r, co->commit, &co->root, err);
}

int sv_git_checkout(const struct sv_git_source *src, const char *role, struct sv_git_checkout *co,
                    sv_error_t *err)
{
    memset(co, 0, sizeof(*co));
    if (resolve_and_export(src, co, err) < 0)
        return -1;
    int rc = 0;
    co->path = *src->path ? sv_xasprintf("%s/%s", co->root, src->path) : sv_xstrdup(co->root);
    co->label =
        sv_xasprintf("%.*s#%.12s:", (int)strcspn(src->display, "#"), src->display, co->commit);
    /* The path may not exist, or be a symlink out of the repository. */
    char real[PATH_MAX];
    size_t rl = strlen(co->root);
    if (realpath(co->path, real) == NULL) {
        rc = sv_error(err, 0, "%s: no %s in commit %.12s", src->display, src->path, co->commit);
    } else if (strncmp(real, co->root, rl) != 0 || (real[rl] != '/' && real[rl] != '\0')) {
        rc = sv_error(err, 0, "%s: %s leads out of the repository", src->display, src->path);
    }
    if (rc < 0) {
        sv_git_checkout_free(co);
        return -1;
    }
    pin_record(role, src->key, co->commit);
    return 0;
}

void sv_git_checkout_free(struct sv_git_checkout *co)
{
    free(co->root);
    free(co->path);
    free(co->label);
    memset(co, 0, sizeof(*co));
}
