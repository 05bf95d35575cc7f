/* Answers as the HTTP front sends them: JSON bodies, errors as
 * {"error", "detail"}, a handler's outcome (its JSON, its text, or what
 * went wrong: 500, 504), and a client's text made fit for the log. */
#include "proserve/proserve_int.h"
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

void pf_answer_json(struct pf_answer *a, unsigned status, json_t *j)
{
    a->status = status;
    a->type = "application/json";
    a->body = sv_json_dumps(j, SV_JSON_COMPACT);
    a->len = strlen(a->body);
    json_decref(j);
}

void pf_answer_error(struct pf_answer *a, unsigned status, const char *msg, const char *detail)
{
    json_t *j = json_pack("{s:s}", "error", msg);
    if (detail && *detail)
        json_object_set_new(j, "detail", json_string(detail));
    pf_answer_json(a, status, j);
}

/* A handler's outcome as an HTTP answer. */
void pf_answer_handler(struct pf_answer *a, const struct sv_handler_result *res, bool shell,
                       const json_t *convert)
{
    const char *type = json_string_value(json_object_get(convert, "type"));
    bool text = shell && (type == NULL || strcmp(type, "text") == 0);
    char msg[160];
    if (res->timed_out) {
        pf_metrics_bump(PF_HANDLER_TIMEOUTS);
        snprintf(msg, sizeof(msg), "handler timed out after %gs and was killed",
                 pf_service.limits.timeout);
        pf_answer_error(a, 504, msg, NULL);
        return;
    }
    if (res->out_of_memory) {
        pf_metrics_bump(PF_HANDLER_OOM_KILLS);
        snprintf(msg, sizeof(msg), "handler exceeded memory_limit (%lld MiB) and was killed",
                 (long long)(pf_service.limits.memory >> 20));
        pf_answer_error(a, 500, msg, NULL);
        return;
    }
    if (!WIFEXITED(res->wait_status) || WEXITSTATUS(res->wait_status) != 0) {
        pf_metrics_bump(PF_HANDLER_FAILURES);
        if (WIFSIGNALED(res->wait_status))
            snprintf(msg, sizeof(msg), "handler killed by signal %d", WTERMSIG(res->wait_status));
        else
            snprintf(msg, sizeof(msg), "handler failed with exit code %d",
                     WIFEXITED(res->wait_status) ? WEXITSTATUS(res->wait_status) : -1);
        pf_answer_error(a, 500, msg, res->err);
        return;
    }
    if (text) {
        a->status = 200;
        a->type = "text/plain; charset=utf-8";
        a->body = sv_xstrdup(res->out);
        a->len = res->out_len;
        return;
    }
    json_t *j = pf_convert(convert, res->out, res->out_len);
    if (j == NULL && strcmp(pf_service.mode, "arduino") == 0) {
        /* A sketch answers with what it prints on its serial port. */
        a->status = 200;
        a->type = "text/plain; charset=utf-8";
        a->body = sv_xstrdup(res->out);
        a->len = res->out_len;
        return;
    }
    if (j == NULL) {
        pf_metrics_bump(PF_HANDLER_FAILURES);
        pf_answer_error(a, 500, "handler did not answer JSON on stdout", res->err);
        return;
    }
    pf_answer_json(a, 200, j);
}

char *pf_answer_printable(const char *s, size_t max)
{
    size_t n = strlen(s), cut = n > max ? max : n;
    char *out = sv_xmalloc(cut * 4 + 4), *w = out;
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c > 0x7e || c == '\\')
            w += sprintf(w, "\\x%02x", c);
        else
            *w++ = (char)c;
    }
    if (cut < n)
        w += sprintf(w, "...");
    *w = '\0';
    return out;
}
