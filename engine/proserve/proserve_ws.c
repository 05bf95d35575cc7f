/* WebSocket routes and the opening handshake (RFC 6455 4.2), with no
 * libmicrohttpd here: proserve.c asks, then upgrades the connection and
 * hands the socket to wsconn.h. */
#include "proserve/proserve_int.h"

#include "proserve/wsframe.h"

#include <string.h>
#include <strings.h>

const struct pf_ws_route *pf_ws_find(const char *url, json_t *params)
{
    for (size_t i = 0; i < pf_service.n_ws_routes; i++)
        if (pf_route_match(pf_service.ws_routes[i].path, url, params))
            return &pf_service.ws_routes[i];
    return NULL;
}

/* Does the comma-separated header value hold token (any case)? */
static bool has_token(const char *value, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = value; p && *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == tl && strncasecmp(p, token, tl) == 0)
            return true;
        p += n;
    }
    return false;
}

bool pf_ws_wanted(const struct pf_ws_hello *h)
{
    return h->upgrade && has_token(h->upgrade, "websocket");
}

/* The origins the manifest allows (cors_origins), when it names some: a
 * browser page from elsewhere must not open a socket with the user's
 * cookies (cross-site WebSocket hijacking). */
static bool origin_allowed(const char *origin)
{
    json_t *list = json_object_get(pf_service.manifest, "cors_origins");
    if (origin == NULL || !json_is_true(json_object_get(pf_service.manifest, "enable_cors")) ||
        !json_is_array(list) || json_array_size(list) == 0)
        return true;
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o)
    {
        const char *s = json_string_value(o);
        if (s && (strcmp(s, "*") == 0 || strcasecmp(s, origin) == 0))
            return true;
    }
    return false;
}

int pf_ws_check(const struct pf_ws_hello *h, char accept[29], struct pf_answer *a)
{
    if (strcmp(h->method, "GET") != 0) {
        pf_answer_error(a, 400, "a WebSocket opens with GET", h->method);
        return -1;
    }
    if (h->connection == NULL || !has_token(h->connection, "upgrade")) {
        pf_answer_error(a, 400, "a WebSocket handshake needs Connection: Upgrade", NULL);
        return -1;
    }
    if (h->version == NULL || strcmp(h->version, "13") != 0) {
        /* 426 with the version we speak (the caller adds the header). */
        pf_answer_error(a, 426, "WebSocket version 13 only (RFC 6455)", h->version);
        return -1;
    }
    if (!pf_wsframe_key_valid(h->key)) {
        pf_answer_error(a, 400, "Sec-WebSocket-Key must be 16 bytes in base64", NULL);
        return -1;
    }
    if (!origin_allowed(h->origin)) {
        pf_answer_error(a, 403, "this Origin is not in cors_origins", h->origin);
        return -1;
    }
    sv_error_t err = NULL;
    if (pf_wsframe_accept(h->key, accept, &err) < 0) {
        pf_answer_error(a, 500, "cannot answer the handshake", err->msg);
        sv_error_free(&err);
        return -1;
    }
    return 0;
}
