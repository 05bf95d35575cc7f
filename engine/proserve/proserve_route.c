/* Routing: a request in, an answer out, with no libmicrohttpd here (the
 * fuzz target drives it directly). Preflights, /health and /metrics, then
 * the manifest's endpoints in order ({name} segments, 405 with Allow when
 * only the method is wrong), then static files, then 404. */
#include "proserve/proserve_int.h"
#include "core/json.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- templates and paths ------------------------------------------------------------ */

/* v with every "{{name}}" in its strings replaced by the path parameter. */
static json_t *fill(json_t *v, json_t *params)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strstr(s, "{{"))
            return json_incref(v);
        cleanup_free char *out = sv_xstrdup("");
        while (*s) {
            const char *open = strstr(s, "{{"), *close = open ? strstr(open, "}}") : NULL;
            if (!close) {
                char *next = sv_xasprintf("%s%s", out, s);
                free(out);
                out = next;
                break;
            }
            cleanup_free char *key = sv_xstrndup(open + 2, (size_t)(close - open - 2));
            const char *val = json_string_value(json_object_get(params, key));
            char *next = sv_xasprintf("%s%.*s%s", out, (int)(open - s), s, val ? val : "");
            free(out);
            out = next;
            s = close + 2;
        }
        json_t *r = json_string(out);
        return r ? r : json_string("");
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) json_object_set_new(o, k, fill(x, params));
        return o;
    }
    if (json_is_array(v)) {
        json_t *o = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(o, fill(x, params));
        return o;
    }
    return json_incref(v);
}

/* Does path match pattern? Fills params with {name} segments. */
bool pf_route_match(const char *pattern, const char *path, json_t *params)
{
    while (*pattern && *path) {
        if (*pattern++ != '/' || *path++ != '/')
            return false;
        size_t pl = strcspn(pattern, "/"), ql = strcspn(path, "/");
        if (pl > 2 && pattern[0] == '{' && pattern[pl - 1] == '}') {
            if (ql == 0)
                return false;
            cleanup_free char *k = sv_xstrndup(pattern + 1, pl - 2);
            cleanup_free char *v = sv_xstrndup(path, ql);
            json_t *s = json_string(v);
            json_object_set_new(params, k, s ? s : json_stringn(v, 0));
        } else if (pl != ql || strncmp(pattern, path, pl) != 0) {
            return false;
        }
        pattern += pl;
        path += ql;
    }
    return *pattern == '\0' && (*path == '\0' || strcmp(path, "/") == 0);
}

static int hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decoding for paths and query arguments, except "%00": a NUL
 * would end the C string that every later step sees, so
 * "/static/a.txt%00.html" would serve a.txt. It stays as written (and
 * so matches no file and no route). Returns the new length. */
size_t pf_route_unescape(char *s)
{
    char *w = s;
    for (const char *r = s; *r;) {
        int hi = r[0] == '%' ? hex(r[1]) : -1, lo = hi >= 0 ? hex(r[2]) : -1;
        if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* A JSON string of s, or "" when s is not UTF-8 (a path or a method is
 * the client's choice). */
static json_t *json_text(const char *s, size_t len)
{
    json_t *j = json_stringn(s ? s : "", s ? len : 0);
    return j ? j : json_string("");
}

json_t *pf_route_request_json(struct pf_request *rq, json_t *params)
{
    pf_request_values(rq);
    json_t *r = json_object();
    json_t *body = json_loadb(rq->body ? rq->body : "", rq->body_len, JSON_DECODE_ANY, NULL);
    json_object_set_new(r, "method", json_text(rq->method, strlen(rq->method)));
    json_object_set_new(r, "path", json_text(rq->url, strlen(rq->url)));
    json_object_set(r, "path_params", params);
    json_object_set_new(r, "query", rq->query ? json_incref(rq->query) : json_object());
    json_object_set_new(r, "headers", rq->headers ? json_incref(rq->headers) : json_object());
    json_object_set_new(r, "body", json_text(rq->body, rq->body_len));
    json_object_set_new(r, "json", body ? body : json_null());
    return r;
}

static const char *content_type(const char *path)
{
    static const char *const types[][2] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".css", "text/css"},
        {".js", "application/javascript"},
        {".mjs", "application/javascript"},
        {".json", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},
        {".gif", "image/gif"},
        {".ico", "image/x-icon"},
        {".webp", "image/webp"},
        {".txt", "text/plain; charset=utf-8"},
        {".md", "text/markdown; charset=utf-8"},
        {".xml", "application/xml"},
        {".wasm", "application/wasm"},
        {".woff", "font/woff"},
        {".woff2", "font/woff2"},
        {".pdf", "application/pdf"},
        {".map", "application/json"},
    };
    for (size_t i = 0; i < SV_ARRAY_LEN(types); i++)
        if (pf_ends_with(path, types[i][0]))
            return types[i][1];
    return "application/octet-stream";
}

/* A regular file (real path) as the answer; false when it cannot be read. */
static bool answer_file(struct pf_answer *a, const char *real, const char *route)
{
    sv_error_t err = NULL;
    if (sv_read_file(real, 64u << 20, &a->body, &a->len, &err) < 0) {
        sv_error_free(&err);
        return false;
    }
    a->status = 200;
    a->type = content_type(real);
    a->route = route;
    a->cache = pf_service.cache_control;
    return true;
}

/* want, when it is a regular file inside dir (links followed: no escape). */
static bool inside(const char *dir, const char *want, char real[PATH_MAX])
{
    size_t dl = strlen(dir);
    struct stat st;
    return realpath(want, real) && strncmp(real, dir, dl) == 0 && real[dl] == '/' &&
           stat(real, &st) == 0 && S_ISREG(st.st_mode);
}

static bool answer_static_file(struct pf_answer *a, const char *url, const char *method)
{
    for (size_t i = 0; i < pf_service.n_static_files; i++)
        if (strcmp(url, pf_service.static_files[i].url) == 0 &&
            answer_file(a, pf_service.static_files[i].file, pf_service.static_files[i].url))
            return true;
    for (size_t i = 0; i < pf_service.n_static_dirs; i++) {
        const struct pf_static_dir *s = &pf_service.static_dirs[i];
        size_t pl = strlen(s->prefix);
        if (strncmp(url, s->prefix, pl) != 0 || (url[pl] != '/' && url[pl] != '\0'))
            continue;
        const char *rest = url[pl] ? url + pl : "/";
        const char *index = s->index ? s->index : "index.html";
        cleanup_free char *want =
            sv_xasprintf("%s%s%s", s->dir, rest, rest[strlen(rest) - 1] == '/' ? index : "");
        char real[PATH_MAX];
        const char *route = s->prefix[0] ? s->prefix : "/";
        if (inside(s->dir, want, real) && answer_file(a, real, route))
            return true;
        /* A single-page app: a path that is no file is the app's to route
         * (GET only, and not a file name such as /missing.js). */
        cleanup_free char *idx = sv_xasprintf("%s/%s", s->dir, index);
        const char *last = strrchr(url, '/');
        if (s->spa && strcmp(method, "GET") == 0 && !strchr(last ? last : url, '.') &&
            inside(s->dir, idx, real) && answer_file(a, real, route))
            return true;
    }
    return false;
}

static void answer_from_handler(const struct pf_endpoint *r, struct pf_request *rq, json_t *params,
                                struct pf_answer *a)
{
    cleanup_json json_t *req = pf_route_request_json(rq, params);
    cleanup_free char *input = sv_json_dumps(req, SV_JSON_COMPACT);
    struct sv_handler_result res;
    sv_error_t err = NULL;
    if (pf_run_handler(&r->run, "request", input, &res, &err) < 0) {
        pf_metrics_bump(PF_HANDLER_FAILURES);
        pf_answer_error(a, 500, "cannot start the handler", err->msg);
        sv_error_free(&err);
        sv_handler_result_free(&res);
    } else {
        pf_answer_handler(a, &res, r->kind == PF_SHELL, r->run.convert);
        sv_handler_result_free(&res);
    }
}

/* The first endpoint whose path and method match answers; *allowed
 * collects the methods of those whose path alone matched. */
static bool answer_endpoint(struct pf_request *rq, struct pf_answer *a, unsigned *allowed)
{
    unsigned bit = (unsigned)pf_service_method_bit(rq->method);
    for (size_t i = 0; i < pf_service.n_endpoints; i++) {
        const struct pf_endpoint *r = &pf_service.endpoints[i];
        cleanup_json json_t *params = json_object();
        if (!pf_route_match(r->path, rq->url, params))
            continue;
        if (!(r->methods & bit)) {
            if (!*allowed)
                a->route = r->path; /* a 405 counts for the route */
            *allowed |= r->methods;
            continue;
        }
        a->route = r->path;
        if (r->kind == PF_RESPONSE)
            pf_answer_json(a, 200, fill(r->response, params));
        else
            answer_from_handler(r, rq, params, a);
        return true;
    }
    return false;
}

/* 405, with the methods the path takes in Allow. */
static void method_not_allowed(struct pf_answer *a, unsigned allowed, const char *method)
{
    char *p = a->allow;
    for (size_t i = 0; i < SV_ARRAY_LEN(pf_service_method_names); i++)
        if (allowed & (1u << i))
            p += snprintf(p, sizeof(a->allow) - (size_t)(p - a->allow), "%s%s",
                          p == a->allow ? "" : ", ", pf_service_method_names[i]);
    pf_answer_error(a, 405, "method not allowed", method);
}

void pf_route(struct pf_request *rq, struct pf_answer *a)
{
    const char *url = rq->url, *method = rq->method;
    a->route = "unmatched";
    if (pf_service.cors && strcmp(method, "OPTIONS") == 0) { /* a browser's preflight */
        a->status = 204;
        a->type = "text/plain";
        a->body = sv_xstrdup("");
        a->route = "preflight";
        return;
    }
    if (pf_service.enable_health && strcmp(url, "/health") == 0) {
        a->route = "/health";
        pf_answer_json(a, 200,
                       json_pack("{s:s,s:s,s:s,s:I}", "status", "healthy", "service",
                                 pf_service.name, "version", pf_service.version, "uptime",
                                 (json_int_t)(time(NULL) - pf_service.started)));
        return;
    }
    if (pf_service.enable_metrics && strcmp(url, "/metrics") == 0) {
        a->route = "/metrics";
        pf_metrics_answer(a);
        return;
    }
    unsigned allowed = 0;
    if (answer_endpoint(rq, a, &allowed))
        return;
    if (allowed) {
        method_not_allowed(a, allowed, method);
        return;
    }
    const struct pf_proxy_rule *proxy = pf_proxy_find(url);
    if (proxy) {
        pf_proxy_answer(proxy, rq, a);
        return;
    }
    if (answer_static_file(a, url, method))
        return;
    pf_answer_error(a, 404, "not found", url);
}
