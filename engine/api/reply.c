/* Answers and what a request carries: JSON bodies in and out, errors as
 * {"error": {"code", "message"}}, query arguments and headers. */
#include "api/api_int.h"
#include "core/json.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <string.h>

const char *sv_api_method(const struct sv_api_req *rq)
{
    return rq->method;
}

const char *sv_api_path(const struct sv_api_req *rq)
{
    return rq->path;
}

const char *sv_api_query(const struct sv_api_req *rq, const char *name)
{
    return httpd_lookup((struct sv_api_req *)rq, MHD_GET_ARGUMENT_KIND, name);
}

const char *sv_api_header(const struct sv_api_req *rq, const char *name)
{
    return httpd_lookup((struct sv_api_req *)rq, MHD_HEADER_KIND, name);
}

const char *sv_api_body(const struct sv_api_req *rq, size_t *len)
{
    if (len)
        *len = rq->len;
    return rq->body ? rq->body : "";
}

bool sv_api_query_flag(const struct sv_api_req *rq, const char *name)
{
    const char *v = sv_api_query(rq, name);
    return v && (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0);
}

void sv_api_reply_bytes(struct sv_api_req *rq, unsigned status, const char *type, char *body,
                        size_t len)
{
    struct MHD_Response *r = httpd_response_buffer(body, len, type);
    httpd_add_header(r, "Cache-Control", "no-store");
    httpd_answer(rq, status, r);
}

void sv_api_reply_header(struct sv_api_req *rq, const char *name, const char *value)
{
    if (rq->resp)
        httpd_add_header(rq->resp, name, value);
}

void sv_api_reply_json(struct sv_api_req *rq, unsigned status, json_t *body)
{
    bool pretty = sv_api_query_flag(rq, "pretty");
    char *text = sv_json_dumps(body, pretty ? SV_JSON_PRETTY : SV_JSON_COMPACT);
    json_decref(body);
    size_t len = strlen(text);
    if (!pretty) { /* a line, as curl users expect */
        text = sv_xrealloc(text, len + 2);
        text[len++] = '\n';
        text[len] = '\0';
    }
    sv_api_reply_bytes(rq, status, "application/json", text, len);
}

void sv_api_reply_error(struct sv_api_req *rq, unsigned status, const char *code, const char *fmt,
                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        sv_oom();
    va_end(ap);
    json_t *e = json_object();
    sv_json_set(e, "code", sv_json_string(code));
    sv_json_set(e, "message", sv_json_string(msg));
    free(msg);
    json_t *doc = json_object();
    json_object_set_new(doc, "error", e);
    sv_api_reply_json(rq, status, doc);
}

json_t *sv_api_body_object(struct sv_api_req *rq, const char *const *allowed)
{
    size_t len;
    const char *body = sv_api_body(rq, &len);
    if (len == 0 || strspn(body, " \t\r\n") == len)
        return json_object();
    json_error_t je;
    json_t *doc = json_loadb(body, len, 0, &je);
    if (doc == NULL) {
        sv_api_reply_error(rq, 400, "bad_json", "the body is not JSON: line %d, column %d: %s",
                           je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(doc)) {
        json_decref(doc);
        sv_api_reply_error(rq, 400, "bad_json", "the body must be a JSON object");
        return NULL;
    }
    size_t n = 0;
    while (allowed && allowed[n])
        n++;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(allowed[i], key) == 0;
        if (known)
            continue;
        const char *near = sv_suggest(key, (const char *const *)allowed, n);
        cleanup_free char *list = sv_xstrdup("");
        for (size_t i = 0; i < n; i++) {
            char *next = sv_xasprintf("%s%s%s", list, i ? ", " : "", allowed[i]);
            free(list);
            list = next;
        }
        sv_api_reply_error(rq, 400, "unknown_field", "unknown field \"%s\"%s%s%s (known: %s)", key,
                           near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "",
                           n ? list : "none");
        json_decref(doc);
        return NULL;
    }
    return doc;
}

json_t *rjson_str(const char *s)
{
    return s ? sv_json_string(s) : json_null();
}
