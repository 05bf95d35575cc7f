/* What is not a resource of its own: the events stream's route, the
 * API's description (GET /v1, /v1/openapi.json), and the dashboard's
 * files (engine/api/web/, compiled into the binary as stdlib/ is). */
#include "api/api_int.h"
#include "core/json.h"
#include "lua/embedded.h"

#include <string.h>

#ifndef SV_VERSION
#define SV_VERSION "0.1.0-dev"
#endif

static void events(struct sv_api_req *rq)
{
    evfeed_serve(rq);
}

static void info(struct sv_api_req *rq)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "servos", json_string(SV_VERSION));
    json_object_set_new(doc, "api", json_string("v1"));
    sv_json_set(doc, "root", sv_json_string(sv_state_root()));
    json_object_set_new(doc, "read_only", json_boolean(rq->read_only));
    json_object_set_new(doc, "openapi", json_string("/v1/openapi.json"));
    json_object_set_new(doc, "endpoints", route_list());
    sv_api_reply_json(rq, 200, doc);
}

/* An embedded file, by its name under engine/api/web/. */
static void file(struct sv_api_req *rq, const char *name, const char *type)
{
    char path[128];
    snprintf(path, sizeof(path), "engine/api/web/%s", name);
    const struct sv_embedded_file *f = sv_embedded_find(path);
    if (f == NULL) {
        sv_api_reply_error(rq, 404, "not_found", "no %s in this build", name);
        return;
    }
    char *copy = sv_xmalloc(f->len + 1);
    memcpy(copy, f->data, f->len);
    sv_api_reply_bytes(rq, 200, type, copy, f->len);
    /* The page loads nothing but its own files and talks only to us:
     * should a log line ever reach it as markup, no script of it runs. */
    sv_api_reply_header(rq, "Content-Security-Policy",
                        "default-src 'none'; script-src 'self'; style-src 'self'; "
                        "connect-src 'self'; img-src 'self'; frame-ancestors 'none'; "
                        "base-uri 'none'; form-action 'self'");
    sv_api_reply_header(rq, "X-Content-Type-Options", "nosniff");
    sv_api_reply_header(rq, "Referrer-Policy", "no-referrer");
}

static void openapi(struct sv_api_req *rq)
{
    file(rq, "openapi.json", "application/json");
}

static void page(struct sv_api_req *rq)
{
    file(rq, "index.html", "text/html; charset=utf-8");
}

static void script(struct sv_api_req *rq)
{
    file(rq, "app.js", "text/javascript; charset=utf-8");
}

static void style(struct sv_api_req *rq)
{
    file(rq, "style.css", "text/css; charset=utf-8");
}

static const struct sv_api_route routes[] = {
    {"GET", "/v1", info, 0, 0},
    {"GET", "/v1/events", events, 0, 0},
    {"GET", "/v1/openapi.json", openapi, SV_API_PUBLIC, 0},
    {"GET", "/", page, SV_API_PUBLIC, 0},
    {"GET", "/app.js", script, SV_API_PUBLIC, 0},
    {"GET", "/style.css", style, SV_API_PUBLIC, 0},
};

void r_misc_register(void)
{
    sv_api_routes_add(routes, SV_ARRAY_LEN(routes));
}
