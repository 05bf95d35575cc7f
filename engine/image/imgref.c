#include "image/imgref.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static bool repo_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
           c == '/';
}

static bool valid_repo(const char *s)
{
    if (*s == '\0' || *s == '/' || s[strlen(s) - 1] == '/' || strstr(s, "//") || strstr(s, ".."))
        return false;
    for (; *s; s++)
        if (!repo_char(*s))
            return false;
    return true;
}

static bool valid_tag(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || *s == '.' || *s == '-')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '.' || *s == '-'))
            return false;
    return true;
}

int sv_imgref_parse(const char *s, struct sv_imgref *r, sv_error_t *err)
{
    memset(r, 0, sizeof(*r));
    cleanup_free char *name = sv_xstrdup(s);
    char *at = strchr(name, '@');
    if (at) {
        *at = '\0';
        if (!sv_digest_valid(at + 1))
            return sv_error(err, 0, "image \"%s\": the digest must be sha256:<64 hex digits>", s);
        strcpy(r->digest, at + 1);
    }
    /* A tag is after the last ":" that follows the last "/" (a ":" before
     * it is the registry's port). */
    char *slash = strrchr(name, '/');
    char *colon = strrchr(slash ? slash : name, ':');
    if (colon) {
        *colon = '\0';
        if (!valid_tag(colon + 1))
            return sv_error(err, 0, "image \"%s\": \"%s\" is not a valid tag", s, colon + 1);
        r->tag = sv_xstrdup(colon + 1);
    }
    char *first_slash = strchr(name, '/');
    if (first_slash) {
        size_t k = (size_t)(first_slash - name);
        if (memchr(name, '.', k) || memchr(name, ':', k) || strncmp(name, "localhost", k) == 0) {
            r->registry = sv_xstrndup(name, k);
            r->repo = sv_xstrdup(first_slash + 1);
        }
    }
    if (r->registry == NULL) {
        r->registry = sv_xstrdup("docker.io");
        r->repo = strchr(name, '/') ? sv_xstrdup(name) : sv_xasprintf("library/%s", name);
    }
    if (!valid_repo(r->repo)) {
        sv_imgref_clear(r);
        return sv_error(err, 0,
                        "\"%s\" is not an image reference: use lowercase letters, digits and "
                        "\"._-/\", as in \"alpine:3.20\" or \"registry:5000/team/app:1.4\"",
                        s);
    }
    if (r->tag == NULL && r->digest[0] == '\0')
        r->tag = sv_xstrdup("latest");
    return 0;
}

void sv_imgref_clear(struct sv_imgref *r)
{
    free(r->registry);
    free(r->repo);
    free(r->tag);
    memset(r, 0, sizeof(*r));
}

char *sv_imgref_name(const struct sv_imgref *r)
{
    if (r->digest[0] && r->tag == NULL)
        return sv_xasprintf("%s/%s@%s", r->registry, r->repo, r->digest);
    return sv_xasprintf("%s/%s:%s", r->registry, r->repo, r->tag);
}

const char *sv_imgref_api_host(const struct sv_imgref *r)
{
    return strcmp(r->registry, "docker.io") == 0 ? "registry-1.docker.io" : r->registry;
}

bool sv_imgref_loopback(const struct sv_imgref *r)
{
    const char *h = r->registry;
    return strncmp(h, "127.", 4) == 0 || strncmp(h, "localhost", 9) == 0 ||
           strncmp(h, "[::1]", 5) == 0;
}
