/* .dockerignore patterns (see ignore.h). Patterns and paths are matched
 * segment by segment, so "*" never crosses a "/"; "**" spans any number
 * of segments; a pattern matching a leading part of a path matches the
 * whole (a directory excludes what it holds). */
#include "build/ignore.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

/* "./a//b/../c/" -> "a/c": Go's filepath.Clean, then no leading "/". */
static char *clean(const char *p)
{
    char *out = sv_xcalloc(1, strlen(p) + 2);
    size_t n = 0;
    for (const char *s = p; *s;) {
        while (*s == '/')
            s++;
        size_t len = strcspn(s, "/");
        if (len == 0)
            break;
        if (len == 1 && s[0] == '.') {
            /* nothing */
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else {
            if (n)
                out[n++] = '/';
            memcpy(out + n, s, len);
            n += len;
        }
        s += len;
    }
    out[n] = '\0';
    return out;
}

void sv_ignore_parse(const char *text, struct sv_ignore *ig)
{
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, "\n");
        cleanup_free char *line = sv_xstrndup(p, len);
        p += len + (p[len] == '\n');
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t l = strlen(s);
        while (l && (s[l - 1] == ' ' || s[l - 1] == '\t' || s[l - 1] == '\r'))
            s[--l] = '\0';
        if (*s == '\0' || *s == '#')
            continue;
        bool neg = *s == '!';
        if (neg)
            s++;
        cleanup_free char *c = clean(s);
        if (*c == '\0')
            continue;
        ig->pats = sv_xrealloc(ig->pats, (ig->n + 1) * sizeof(char *));
        ig->negate = sv_xrealloc(ig->negate, (ig->n + 1) * sizeof(bool));
        ig->pats[ig->n] = sv_steal(c);
        ig->negate[ig->n] = neg;
        ig->any_negate |= neg;
        ig->n++;
    }
}

int sv_ignore_load(const char *path, struct sv_ignore *ig, sv_error_t *err)
{
    cleanup_free char *text = NULL;
    sv_error_t e = NULL;
    if (sv_read_file(path, 4 << 20, &text, NULL, &e) < 0) {
        bool missing = e->status == ENOENT;
        sv_error_free(&e);
        if (missing)
            return 0;
        return sv_error(err, 0, "cannot read %s", path);
    }
    sv_ignore_parse(text, ig);
    return 0;
}

void sv_ignore_clear(struct sv_ignore *ig)
{
    for (size_t i = 0; i < ig->n; i++)
        free(ig->pats[i]);
    free(ig->pats);
    free(ig->negate);
    memset(ig, 0, sizeof(*ig));
}

bool sv_ignore_glob(const char *glob, const char *name)
{
    /* Within one segment, fnmatch is Go's Match: no "/" to care about. */
    return fnmatch(glob, name, 0) == 0;
}

/* Does pattern pat (segments from pi) match a leading part of path
 * (segments from si)? */
static bool match_from(char **pat, size_t np, size_t pi, char **seg, size_t ns, size_t si)
{
    if (pi == np)
        return si > 0; /* the pattern is used up: it matched path[0..si) */
    if (strcmp(pat[pi], "**") == 0) {
        for (size_t k = si; k <= ns; k++)
            if (match_from(pat, np, pi + 1, seg, ns, k))
                return true;
        return false;
    }
    if (si == ns || !sv_ignore_glob(pat[pi], seg[si]))
        return false;
    return match_from(pat, np, pi + 1, seg, ns, si + 1);
}

static char **segments(char *s, size_t *n)
{
    size_t cap = 8;
    char **v = sv_xcalloc(cap, sizeof(char *));
    *n = 0;
    for (char *save = NULL, *t = strtok_r(s, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (*n + 1 >= cap)
            v = sv_xrealloc(v, (cap *= 2) * sizeof(char *));
        v[(*n)++] = t;
    }
    return v;
}

static bool pattern_matches(const char *pattern, char **seg, size_t ns)
{
    cleanup_free char *copy = sv_xstrdup(pattern);
    size_t np;
    cleanup_free char **pat = segments(copy, &np);
    return match_from(pat, np, 0, seg, ns, 0);
}

bool sv_ignore_excluded(const struct sv_ignore *ig, const char *rel)
{
    if (ig->n == 0)
        return false;
    cleanup_free char *copy = clean(rel);
    size_t ns;
    cleanup_free char **seg = segments(copy, &ns);
    if (ns == 0)
        return false;
    bool out = false;
    for (size_t i = 0; i < ig->n; i++)
        if (out != !ig->negate[i] && pattern_matches(ig->pats[i], seg, ns))
            out = !ig->negate[i];
    return out;
}
