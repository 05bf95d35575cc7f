#include "git/url.h"

#include <stdlib.h>
#include <string.h>

bool sv_url_split(const char *url, struct sv_url_parts *p)
{
    memset(p, 0, sizeof(*p));
    const char *sep = strstr(url, "://");
    if (sep == NULL || sep == url)
        return false;
    p->scheme = sv_xstrndup(url, (size_t)(sep - url));
    const char *auth = sep + 3;
    const char *path = auth + strcspn(auth, "/");
    const char *at = memrchr(auth, '@', (size_t)(path - auth));
    if (at) {
        p->userinfo = sv_xstrndup(auth, (size_t)(at - auth));
        auth = at + 1;
    }
    p->hostport = sv_xstrndup(auth, (size_t)(path - auth));
    p->path = sv_xstrdup(path);
    return true;
}

void sv_url_parts_free(struct sv_url_parts *p)
{
    free(p->scheme);
    free(p->userinfo);
    free(p->hostport);
    free(p->path);
    memset(p, 0, sizeof(*p));
}
