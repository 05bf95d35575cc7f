/* /v1/images: `servos image ls`, `pull` (its progress streamed as events)
 * and `rm`. */
#include "api/api_int.h"
#include "core/json.h"
#include "image/imgstore.h"

#include <string.h>

static void list_images(struct sv_api_req *rq)
{
    struct sv_image_entry *e = NULL;
    size_t n = 0;
    sv_error_t err = NULL;
    if (sv_image_list(&e, &n, &err) < 0) {
        sv_api_reply_error(rq, 500, "failed", "%s", err->msg);
        sv_error_free(&err);
        return;
    }
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++) {
        cleanup_image struct sv_image img = {0};
        sv_error_t e2 = NULL;
        if (sv_image_load(e[i].digest, &img, &e2) < 0) {
            sv_error_free(&e2); /* a damaged image: shown without its sizes */
        }
        json_t *names = json_array();
        for (char **p = e[i].names; p && *p; p++)
            json_array_append_new(names, sv_json_string(*p));
        json_t *o = json_object();
        sv_json_set(o, "digest", sv_json_string(e[i].digest));
        json_object_set_new(o, "names", names);
        json_object_set_new(o, "layers", json_integer((json_int_t)img.n_layers));
        json_object_set_new(o, "size", json_integer((json_int_t)img.size));
        json_object_set_new(o, "created", json_integer((json_int_t)e[i].created));
        json_array_append_new(out, o);
    }
    sv_image_entries_free(e, n);
    sv_api_reply_json(rq, 200, out);
}

struct pull {
    struct sv_api_req *rq;
    struct sv_api_stream *s;
    char *ref;
    bool done;
};

static void pull_free(struct pull *p)
{
    free(p->ref);
    free(p);
}

static void pull_line(void *ud, int fd, const char *text, size_t len)
{
    struct pull *p = ud;
    if (p->s == NULL || fd != 2 || len == 0)
        return;
    /* A terminal's progress bar redraws with \r: each redraw an event. */
    cleanup_free char *l = sv_xstrndup(text, len);
    char *last = strrchr(l, '\r');
    json_t *j = sv_json_string(last ? last + 1 : l);
    cleanup_free char *data = sv_json_dumps(j, SV_JSON_COMPACT);
    json_decref(j);
    sv_api_sse_send(p->s, NULL, "progress", data);
}

static void pull_done(void *ud, int code, const char *out, size_t out_len, const char *err,
                      size_t err_len)
{
    struct pull *p = ud;
    json_t *doc = json_object();
    if (code == 0) {
        cleanup_free char *digest = sv_xstrndup(out, strcspn(out, "\n"));
        sv_json_set(doc, "ref", sv_json_string(p->ref));
        sv_json_set(doc, "digest", sv_json_string(digest));
    }
    if (p->s == NULL && !p->rq->stream) { /* not streamed */
        json_decref(doc);
        if (code == 0) {
            doc = json_object();
            cleanup_free char *digest = sv_xstrndup(out, strcspn(out, "\n"));
            sv_json_set(doc, "ref", sv_json_string(p->ref));
            sv_json_set(doc, "digest", sv_json_string(digest));
            sv_api_reply_json(p->rq, 200, doc);
        } else {
            rjob_error(p->rq, code, err, err_len);
        }
        sv_api_release(p->rq);
        pull_free(p);
        return;
    }
    if (code != 0) {
        cleanup_free char *msg = rjob_message(err, err_len);
        sv_json_set(doc, "code", sv_json_string("failed"));
        sv_json_set(doc, "message", sv_json_string(msg));
    }
    cleanup_free char *text = sv_json_dumps(doc, SV_JSON_COMPACT);
    json_decref(doc);
    sv_api_sse_send(p->s, NULL, code == 0 ? "done" : "error", text);
    sv_api_sse_end(p->s);
    sv_api_release(p->rq);
    if (p->s == NULL)
        pull_free(p);
    else
        p->done = true; /* freed with the stream */
}

static void pull_gone(void *ud)
{
    struct pull *p = ud;
    p->s = NULL;
    if (p->done)
        pull_free(p);
}

static const struct sv_api_job_ops pull_ops = {pull_line, pull_done};

static void pull_image(struct sv_api_req *rq)
{
    static const char *const keys[] = {"ref", NULL};
    cleanup_json json_t *b = sv_api_body_object(rq, keys);
    if (b == NULL)
        return;
    const char *ref = json_string_value(json_object_get(b, "ref"));
    if (ref == NULL || *ref == '\0' || *ref == '-') {
        sv_api_reply_error(rq, 400, "bad_request",
                           "pull wants {\"ref\": \"registry:5000/team/app:1.4\"}");
        return;
    }
    struct pull *p = sv_xcalloc(1, sizeof(*p));
    p->rq = rq;
    p->ref = sv_xstrdup(ref);
    sv_api_hold(rq);
    char *argv[] = {"image", "pull", p->ref, NULL};
    sv_error_t err = NULL;
    if (sv_api_job_start(argv, NULL, NULL, &pull_ops, p, &err) < 0) {
        sv_api_reply_error(rq, 500, "failed", "%s", err->msg);
        sv_error_free(&err);
        sv_api_release(rq);
        pull_free(p);
        return;
    }
    const char *stream = sv_api_query(rq, "stream");
    if (stream == NULL || sv_api_query_flag(rq, "stream"))
        p->s = sv_api_sse_open(rq, pull_gone, p);
}

static void rm_image(struct sv_api_req *rq)
{
    char *argv[] = {"image", "rm", (char *)sv_api_param(rq, "ref"), NULL};
    rjob_run(rq, argv, NULL, NULL, NULL);
}

static const struct sv_api_route routes[] = {
    {"GET", "/v1/images", list_images, 0, 0},
    {"POST", "/v1/images/pull", pull_image, SV_API_WRITE, 0},
    {"DELETE", "/v1/images/{ref*}", rm_image, SV_API_WRITE, 0},
};

void r_images_register(void)
{
    sv_api_routes_add(routes, SV_ARRAY_LEN(routes));
}
