/* POST /v1/containers/{id}/exec: a command in a running container, as
 * `servos exec` runs it (no terminal), its output answered at the end
 * ({"exit_code", "stdout", "stderr"}) or, with "stream": true (or
 * ?stream=1), as events while it runs: "stdout" and "stderr" per line,
 * then "exit" with the code. The command's own exit code is never an
 * HTTP error: a failed exec of servos' is (125 with its message). */
#include "api/api_int.h"
#include "core/json.h"

#include <errno.h>
#include <string.h>

struct exec {
    struct sv_api_req *rq;
    struct sv_api_stream *s; /* streamed: x then goes with the stream */
    bool done;
};

static bool servos_failed(int code, const char *err, size_t len)
{
    return code == 125 && len > 7 && strncmp(err, "servos", 6) == 0;
}

static void line(void *ud, int fd, const char *text, size_t len)
{
    struct exec *x = ud;
    if (x->s == NULL)
        return;
    cleanup_free char *l = sv_xstrndup(text, len);
    json_t *j = sv_json_string(l);
    cleanup_free char *data = sv_json_dumps(j, SV_JSON_COMPACT);
    json_decref(j);
    sv_api_sse_send(x->s, NULL, fd == 1 ? "stdout" : "stderr", data);
}

static void done(void *ud, int code, const char *out, size_t out_len, const char *err,
                 size_t err_len)
{
    struct exec *x = ud;
    if (x->s) {
        json_t *d = json_object();
        json_object_set_new(d, "exit_code", json_integer(code));
        cleanup_free char *text = sv_json_dumps(d, SV_JSON_COMPACT);
        json_decref(d);
        sv_api_sse_send(x->s, NULL, "exit", text);
        sv_api_sse_end(x->s);
        x->done = true;
        sv_api_release(x->rq);
        return; /* freed when the stream is (stream_gone) */
    } else if (servos_failed(code, err, err_len)) {
        rjob_error(x->rq, code, err, err_len);
    } else {
        json_t *doc = json_object();
        cleanup_free char *o = sv_xstrndup(out, out_len);
        cleanup_free char *e = sv_xstrndup(err, err_len);
        json_object_set_new(doc, "exit_code", json_integer(code));
        sv_json_set(doc, "stdout", sv_json_string(o));
        sv_json_set(doc, "stderr", sv_json_string(e));
        sv_api_reply_json(x->rq, 200, doc);
    }
    sv_api_release(x->rq);
    free(x);
}

static const struct sv_api_job_ops exec_ops = {line, done};

static void stream_gone(void *ud)
{
    struct exec *x = ud;
    x->s = NULL; /* the command runs on to its end; its output is not wanted */
    if (x->done)
        free(x);
}

void r_exec(struct sv_api_req *rq)
{
    static const char *const keys[] = {"command", "stdin", "stream", NULL};
    cleanup_json json_t *b = sv_api_body_object(rq, keys);
    if (b == NULL)
        return;
    cleanup_row struct sv_ctr_row r = {0};
    sv_error_t err = NULL;
    if (sv_store_find(loop_store(), sv_api_param(rq, "id"), &r, &err) < 0) {
        bool missing = err->status == ENOENT;
        if (missing)
            sv_api_reply_error(rq, 404, "not_found", "no container \"%s\"", sv_api_param(rq, "id"));
        else
            sv_api_reply_error(rq, 400, "bad_request", "%s", err->msg);
        sv_error_free(&err);
        return;
    }
    if (!sv_ctr_row_running(&r)) {
        sv_api_reply_error(rq, 409, "not_running", "container %s is not running", r.name);
        return;
    }
    json_t *cmd = json_object_get(b, "command");
    json_t *in = json_object_get(b, "stdin");
    size_t n = json_array_size(cmd);
    if (n == 0 || (in && !json_is_string(in))) {
        sv_api_reply_error(rq, 400, "bad_request",
                           "exec wants {\"command\": [\"ARG\", ...]} (and \"stdin\" a string)");
        return;
    }
    cleanup_free char **argv = sv_xcalloc(n + 5, sizeof(*argv));
    size_t k = 0;
    argv[k++] = "exec";
    if (in)
        argv[k++] = "-i";
    argv[k++] = r.id;
    for (size_t i = 0; i < n; i++) {
        const char *a = json_string_value(json_array_get(cmd, i));
        if (a == NULL) {
            sv_api_reply_error(rq, 400, "bad_request", "\"command\" must be a list of strings");
            return;
        }
        argv[k++] = (char *)a;
    }
    struct exec *x = sv_xcalloc(1, sizeof(*x));
    x->rq = rq;
    sv_api_hold(rq);
    bool stream = json_is_true(json_object_get(b, "stream")) || sv_api_query_flag(rq, "stream");
    if (sv_api_job_start(argv, in ? json_string_value(in) : NULL, NULL, &exec_ops, x, &err) < 0) {
        sv_api_reply_error(rq, 500, "failed", "%s", err->msg);
        sv_error_free(&err);
        sv_api_release(rq);
        free(x);
        return;
    }
    if (stream) /* the job's lines come from the loop, after this */
        x->s = sv_api_sse_open(rq, stream_gone, x);
}
