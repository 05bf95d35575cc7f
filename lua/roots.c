/* Repositories an evaluation reads from: files from a repository's tree
 * read only inside that tree, and messages name them by URL and commit
 * rather than by their place in the cache. */
#include "lua/roots.h"

#include <lauxlib.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sv_roots_add(struct sv_lua *s, const char *root, const char *label)
{
    for (size_t i = 0; i < s->n_roots; i++)
        if (strcmp(s->roots[i], root) == 0)
            return;
    s->roots = sv_xrealloc(s->roots, (s->n_roots + 1) * sizeof(*s->roots));
    s->labels = sv_xrealloc(s->labels, (s->n_roots + 1) * sizeof(*s->labels));
    s->labels[s->n_roots] = sv_xstrdup(label);
    s->roots[s->n_roots++] = sv_xstrdup(root);
}

void sv_roots_relabel(struct sv_lua *s, sv_error_t *err)
{
    if (err == NULL || *err == NULL)
        return;
    for (size_t i = 0; i < s->n_roots; i++) {
        /* "<root>/path" reads "git+URL#COMMIT:path"; "<root>" alone, the
         * label without its ":". */
        size_t rl = strlen(s->roots[i]), ll = strlen(s->labels[i]);
        char *p;
        while ((p = strstr((*err)->msg, s->roots[i])) != NULL) {
            bool sub = p[rl] == '/';
            char *msg = sv_xasprintf("%.*s%.*s%s", (int)(p - (*err)->msg), (*err)->msg,
                                     (int)(sub ? ll : ll - 1), s->labels[i], p + rl + sub);
            free((*err)->msg);
            (*err)->msg = msg;
        }
    }
}

/* The root whose tree holds path, or NULL. */
static const char *root_of(struct sv_lua *s, const char *path)
{
    for (size_t i = 0; i < s->n_roots; i++) {
        size_t rl = strlen(s->roots[i]);
        if (strncmp(path, s->roots[i], rl) == 0 && (path[rl] == '/' || path[rl] == '\0'))
            return s->roots[i];
    }
    return NULL;
}

/* path made absolute with "." and ".." folded away, without asking the
 * file system (for paths that do not exist). */
static char *lexical_abs(const char *path)
{
    char cwd[PATH_MAX] = "/";
    if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) == NULL)
        strcpy(cwd, "/");
    char *joined = path[0] == '/' ? sv_xstrdup(path) : sv_xasprintf("%s/%s", cwd, path);
    char *out = sv_xmalloc(strlen(joined) + 2);
    size_t n = 0;
    for (char *save = NULL, *c = strtok_r(joined, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            while (n > 0 && out[--n] != '/')
                ;
            continue;
        }
        out[n++] = '/';
        size_t l = strlen(c);
        memcpy(out + n, c, l);
        n += l;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    free(joined);
    return out;
}

bool sv_roots_inside(struct sv_lua *s, const char *path)
{
    char real[PATH_MAX];
    char *target = realpath(path, real) ? sv_xstrdup(real) : lexical_abs(path);
    bool inside = root_of(s, target) != NULL;
    free(target);
    return inside;
}

/* host.confine(path) -> boolean: may the running code read path? Code
 * from a repository's tree reads only inside that tree (symlinks
 * followed); when the evaluation itself comes from a repository, or a tail
 * call hides who is asking, every read stays inside the repositories. */
int sv_roots_confine(lua_State *L)
{
    struct sv_lua *s = sv_lua_of(L);
    const char *path = luaL_checkstring(L, 1);
    if (s->n_roots == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    const char *caller = NULL;
    bool hidden = false;
    lua_Debug ar;
    for (int level = 1; caller == NULL && !hidden && lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "St", &ar))
            continue;
        if (ar.source[0] == '@')
            caller = ar.source + 1;
        else
            hidden = ar.istailcall;
    }
    const char *root = caller ? root_of(s, caller) : NULL;
    char real[PATH_MAX];
    char *target = realpath(path, real) ? sv_xstrdup(real) : lexical_abs(path);
    const char *in = root_of(s, target);
    free(target);
    bool ok = root ? in == root : (s->confine_all || hidden) ? in != NULL : true;
    lua_pushboolean(L, ok);
    return 1;
}

/* host.git(spec) -> file, commit | nil, message | nil (not a git source):
 * fetch (or take from the cache) the repository and commit spec names. */
