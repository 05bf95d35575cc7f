/* What the endpoints share: a job whose end answers the request, and a
 * failed command's words as an error. */
#include "api/api_int.h"
#include "core/json.h"

#include <string.h>

struct rjob {
    struct sv_api_req *rq;
    job_answer_fn *answer;
};

/* "servos: x\nservos run: y\n" -> "x; y": the CLI's lines, its prefixes
 * off. */
char *rjob_message(const char *err, size_t len)
{
    char *out = sv_xstrdup("");
    for (const char *l = err; l < err + len;) {
        const char *end = memchr(l, '\n', (size_t)(err + len - l));
        size_t n = end ? (size_t)(end - l) : (size_t)(err + len - l);
        const char *p = l;
        if (n > 7 && strncmp(p, "servos", 6) == 0) {
            const char *colon = memchr(p, ':', n);
            if (colon && colon - p < 24 && colon[1] == ' ') {
                n -= (size_t)(colon + 2 - p);
                p = colon + 2;
            }
        }
        if (n > 0) {
            char *next = sv_xasprintf("%s%s%.*s", out, *out ? "; " : "", (int)n, p);
            free(out);
            out = next;
        }
        l += (end ? (size_t)(end - l) + 1 : n);
        if (!end)
            break;
    }
    return out;
}

void rjob_error(struct sv_api_req *rq, int code, const char *err, size_t len)
{
    cleanup_free char *msg = rjob_message(err, len);
    if (*msg == '\0') {
        free(msg);
        msg = sv_xasprintf("the command failed (exit code %d)", code);
    }
    /* 2 is the CLI's misuse; so is a failure that ends with the usage
     * (`servos run` says a bad value so, with 125): the client's to fix. */
    char *usage = strstr(msg, "; usage: servos");
    if (usage)
        *usage = '\0';
    if (code == 2 || usage)
        sv_api_reply_error(rq, 400, "bad_request", "%s", msg);
    else if (strstr(msg, "no such") || strstr(msg, "no container") || strstr(msg, "no image") ||
             strstr(msg, "not in the store") || strstr(msg, "no service") ||
             strstr(msg, "no replicas of"))
        sv_api_reply_error(rq, 404, "not_found", "%s", msg);
    else if (strstr(msg, "does not come from git") || strstr(msg, "is not up"))
        sv_api_reply_error(rq, 409, "conflict", "%s", msg);
    else
        sv_api_reply_error(rq, 500, "failed", "%s", msg);
}

static void rjob_done(void *ud, int code, const char *out, size_t out_len, const char *err,
                      size_t err_len)
{
    struct rjob *j = ud;
    if (code != 0) {
        rjob_error(j->rq, code, err, err_len);
    } else if (j->answer) {
        json_t *doc = j->answer(j->rq, out, out_len);
        if (doc)
            sv_api_reply_json(j->rq, 200, doc);
    } else {
        json_t *doc = json_object();
        cleanup_free char *text = sv_xstrndup(out, out_len);
        sv_json_set(doc, "output", sv_json_string(text));
        sv_api_reply_json(j->rq, 200, doc);
    }
    sv_api_release(j->rq);
    free(j);
}

static const struct sv_api_job_ops rjob_ops = {NULL, rjob_done};

void rjob_run(struct sv_api_req *rq, char *const argv[], const char *input, char *const env[],
              job_answer_fn *answer)
{
    struct rjob *j = sv_xcalloc(1, sizeof(*j));
    j->rq = rq;
    j->answer = answer;
    sv_api_hold(rq);
    sv_error_t err = NULL;
    if (sv_api_job_start(argv, input, env, &rjob_ops, j, &err) < 0) {
        sv_api_reply_error(rq, 500, "failed", "%s", err->msg);
        sv_error_free(&err);
        sv_api_release(rq);
        free(j);
    }
}
