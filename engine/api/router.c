/* The route table: every module's routes in one list, matched segment by
 * segment. A pattern's "{name}" takes one segment, a last "{name*}" the
 * rest of the path (image references hold slashes). */
#include "api/api_int.h"

#include <string.h>

static struct {
    const struct sv_api_route **v;
    size_t n;
} routes;

void sv_api_routes_add(const struct sv_api_route *r, size_t n)
{
    routes.v = sv_xrealloc(routes.v, (routes.n + n) * sizeof(*routes.v));
    for (size_t i = 0; i < n; i++)
        routes.v[routes.n++] = &r[i];
}

json_t *route_list(void)
{
    json_t *a = json_array();
    for (size_t i = 0; i < routes.n; i++) {
        cleanup_free char *s = sv_xasprintf("%s %s", routes.v[i]->method, routes.v[i]->pattern);
        json_array_append_new(a, json_string(s));
    }
    return a;
}

static void clear_params(struct sv_api_req *rq)
{
    for (size_t i = 0; i < rq->n_params; i++) {
        free(rq->params[i].name);
        free(rq->params[i].value);
    }
    rq->n_params = 0;
}

/* Does path match pattern? Its parameters go into rq. */
static bool match(const char *pattern, const char *path, struct sv_api_req *rq)
{
    clear_params(rq);
    const char *p = pattern, *u = path;
    while (*p && *u) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            bool rest = close && close > p + 1 && close[-1] == '*';
            size_t seg = rest ? strlen(u) : strcspn(u, "/");
            if (close == NULL || seg == 0 || rq->n_params == SV_ARRAY_LEN(rq->params))
                return false;
            /* libmicrohttpd decoded the path already: once is enough
             * (twice would make "%252F" a "/"). */
            char *v = sv_xstrndup(u, seg);
            char *name = sv_xstrndup(p + 1, (size_t)(close - p - 1 - rest));
            rq->params[rq->n_params++] = (struct api_param){name, v};
            p = close + 1;
            u += seg;
            continue;
        }
        if (*p != *u)
            return false;
        p++, u++;
    }
    /* A trailing slash is the same path. */
    return *p == '\0' && (*u == '\0' || (u[0] == '/' && u[1] == '\0'));
}

const struct sv_api_route *route_find(struct sv_api_req *rq, char *allow, size_t allow_size)
{
    size_t qlen = strcspn(rq->path, "?");
    cleanup_free char *path = sv_xstrndup(rq->path, qlen);
    allow[0] = '\0';
    for (size_t i = 0; i < routes.n; i++) {
        const struct sv_api_route *r = routes.v[i];
        if (!match(r->pattern, path, rq))
            continue;
        if (strcmp(r->method, rq->method) == 0)
            return r;
        if (!strstr(allow, r->method)) {
            size_t len = strlen(allow);
            snprintf(allow + len, allow_size - len, "%s%s", len ? ", " : "", r->method);
        }
    }
    clear_params(rq);
    return NULL;
}

const char *sv_api_param(const struct sv_api_req *rq, const char *name)
{
    for (size_t i = 0; i < rq->n_params; i++)
        if (strcmp(rq->params[i].name, name) == 0)
            return rq->params[i].value;
    return NULL;
}
