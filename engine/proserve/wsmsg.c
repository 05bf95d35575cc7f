/* A WebSocket handler's line protocol (wsmsg.h): messages to lines for its
 * stdin, and its stdout's lines to what they ask for. */
#include "proserve/wsmsg.h"

#include "core/json.h"
#include "proserve/wsframe.h"

#include <stdlib.h>
#include <string.h>

static char *with_newline(char *text, size_t *len)
{
    size_t n = strlen(text);
    text = sv_xrealloc(text, n + 2);
    text[n] = '\n';
    text[n + 1] = '\0';
    *len = n + 1;
    return text;
}

char *pf_wsmsg_to_line(unsigned opcode, const unsigned char *p, size_t n, size_t *len)
{
    if (opcode == PF_WS_BINARY) {
        cleanup_free char *b64 = sv_base64_encode(p, n);
        return with_newline(sv_xasprintf("{\"$binary\":\"%s\"}", b64), len);
    }
    json_error_t jerr;
    cleanup_json json_t *j =
        json_loadb((const char *)p, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (j && memchr(p, '\n', n) == NULL && memchr(p, '\r', n) == NULL) {
        /* JSON already, on one line: as it came, no cost. */
        char *out = sv_xmalloc(n + 2);
        memcpy(out, p, n);
        out[n] = '\n';
        out[n + 1] = '\0';
        *len = n + 1;
        return out;
    }
    if (j == NULL) /* text that is not JSON: a JSON string of it */
        j = json_stringn((const char *)p, n);
    if (j == NULL) /* not UTF-8 cannot come (the frame was checked), but never NULL */
        j = json_string("");
    return with_newline(sv_json_dumps(j, SV_JSON_COMPACT), len);
}

static void text_of(struct pf_wsmsg *m, const char *s, size_t n)
{
    m->kind = PF_WSMSG_SEND;
    m->data = sv_xmalloc(n + 1);
    memcpy(m->data, s, n);
    m->data[n] = '\0';
    m->len = n;
    /* A text frame must be UTF-8; bytes that are not go as bytes. */
    m->opcode = pf_wsframe_utf8(m->data, n) ? PF_WS_TEXT : PF_WS_BINARY;
}

/* A JSON value to send: a string as its text, {"$binary"} as bytes, any
 * other value as its compact JSON. */
static void value_of(struct pf_wsmsg *m, json_t *v)
{
    json_t *b = json_object_size(v) == 1 ? json_object_get(v, "$binary") : NULL;
    if (json_is_string(b)) {
        size_t len = 0;
        char *bytes = sv_base64_decode_n(json_string_value(b), &len);
        if (bytes) {
            m->kind = PF_WSMSG_SEND;
            m->opcode = PF_WS_BINARY;
            m->data = (unsigned char *)bytes;
            m->len = len;
            return;
        }
    }
    if (json_is_string(v)) {
        text_of(m, json_string_value(v), json_string_length(v));
        return;
    }
    cleanup_free char *text = sv_json_dumps(v, SV_JSON_COMPACT);
    text_of(m, text, strlen(text));
}

void pf_wsmsg_from_line(const char *line, size_t n, struct pf_wsmsg *m)
{
    memset(m, 0, sizeof(*m));
    while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
        n--;
    if (n == 0)
        return;
    json_error_t jerr;
    cleanup_json json_t *j = json_loadb(line, n, JSON_DECODE_ANY, &jerr);
    if (j == NULL) { /* not JSON: the text as it is (echo hello) */
        text_of(m, line, n);
        return;
    }
    json_t *bc = json_object_size(j) == 1 ? json_object_get(j, "$broadcast") : NULL;
    json_t *close = json_object_get(j, "$close");
    if (bc) {
        value_of(m, bc);
        m->kind = PF_WSMSG_BROADCAST;
    } else if (json_is_integer(close) && json_object_size(j) <= 2) {
        m->kind = PF_WSMSG_CLOSE;
        m->code = (unsigned)json_integer_value(close);
        const char *r = json_string_value(json_object_get(j, "reason"));
        snprintf(m->reason, sizeof(m->reason), "%s", r ? r : "");
    } else if (json_is_string(j) || json_object_get(j, "$binary")) {
        value_of(m, j);
    } else {
        text_of(m, line, n); /* JSON as the handler wrote it */
    }
}
