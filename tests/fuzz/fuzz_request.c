/* libFuzzer target: the ProServe request path. The input's first byte
 * picks what is fuzzed:
 *  - even: an HTTP request as the service host sees it ("METHOD\nURL\nBODY"):
 *    the URL is percent-decoded as libmicrohttpd would with our callback,
 *    routed (templates, {param} segments, 405/404, static files under a
 *    directory that holds a symlink out of it, handler endpoints whose
 *    gateway is absent), counted in /metrics and made a log line;
 *  - odd: a handler request as the supervisor reads it from a container
 *    (sv_gateway_parse), the trust boundary between container and host;
 *  - 2 or 3 modulo 4 too: WebSocket frames as a client sends them
 *    (wsframe.h), what they unmask to, their close payloads, and the
 *    handler line protocol both ways (wsmsg.h).
 * make fuzz runs it. */
#include "proserve/pgateway.h"
#include "proserve/proserve_int.h"
#include "proserve/wsframe.h"
#include "proserve/wsmsg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
        abort();
}

/* A service with one endpoint of each kind, static files, metrics. */
static void setup(void)
{
    static char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/servos-fuzz-request-%d", (int)getpid());
    char path[256], manifest[2048];
    snprintf(path, sizeof(path), "%s/static/sub", dir);
    if (sv_mkdir_p(path, 0755, NULL) < 0)
        abort();
    snprintf(path, sizeof(path), "%s/static/index.html", dir);
    put(path, "<p>index</p>");
    snprintf(path, sizeof(path), "%s/static/sub/a.txt", dir);
    put(path, "a");
    snprintf(path, sizeof(path), "%s/static/out", dir);
    unlink(path);
    if (symlink("/etc/passwd", path) < 0) /* must never be served */
        abort();
    snprintf(manifest, sizeof(manifest),
             "{\"name\":\"fuzz\",\"base_dir\":\"%s\",\"enable_metrics\":true,"
             "\"enable_cors\":true,\"static_dirs\":{\"/static\":\"static\"},\"endpoints\":["
             "{\"path\":\"/api/hello/{name}\",\"method\":\"GET\",\"response\":"
             "{\"message\":\"Hello {{name}}!\",\"l\":[\"{{name}}{{\",\"}}{{x}}\",1,null]}},"
             "{\"path\":\"/api/{a}/{b}\",\"method\":[\"GET\",\"PUT\"],\"response\":"
             "{\"a\":\"{{a}}\",\"b\":\"{{b}}\"}},"
             "{\"path\":\"/run\",\"method\":\"POST\",\"script\":\"h.py\"},"
             "{\"path\":\"/sh\",\"shell_command\":\"echo hi\"}],"
             "\"isolation\":{\"mode\":\"process\",\"timeout\":1}}",
             dir);
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    put(path, manifest);
    sv_error_t err = NULL;
    if (pf_service_read(path, &err) < 0)
        abort();
    pf_service_env();
    pf_service.started = time(NULL);
}

static void http(const char *data, size_t size)
{
    /* METHOD \n URL \n BODY: the method and URL as C strings (the wire
     * cannot carry a NUL in either; libmicrohttpd stops at one). */
    const char *nl1 = memchr(data, '\n', size);
    const char *nl2 = nl1 ? memchr(nl1 + 1, '\n', size - (size_t)(nl1 + 1 - data)) : NULL;
    if (nl2 == NULL)
        return;
    char *method = sv_xstrndup(data, (size_t)(nl1 - data));
    char *url = sv_xstrndup(nl1 + 1, (size_t)(nl2 - nl1 - 1));
    if (method[0] == '\0' || url[0] != '/') {
        free(method);
        free(url);
        return;
    }
    size_t len = pf_route_unescape(url);
    if (strlen(url) != len) /* no NUL may come out of the URL */
        abort();
    json_t *query = json_pack("{s:s}", "q", "1"), *headers = json_object();
    struct pf_request rq = {method, url, query, headers, nl2 + 1, size - (size_t)(nl2 + 1 - data)};
    struct pf_answer a = {0};
    double t0 = sv_now_s();
    pf_route(&rq, &a);
    if (a.status < 100 || a.status > 599 || a.type == NULL || a.route == NULL)
        abort();
    /* A static answer is one of the files inside the directory, never
     * the symlink's target outside it. */
    if (strcmp(a.route, "/static") == 0 &&
        !(a.len == 12 && memcmp(a.body, "<p>index</p>", 12) == 0) &&
        !(a.len == 1 && a.body[0] == 'a'))
        abort();
    pf_metrics_count(method, a.route, a.status, sv_now_s() - t0);
    free(a.body);
    /* A log line is one line of printable ASCII. */
    char *line = pf_answer_printable(url, 2048);
    for (const char *p = line; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            abort();
    free(line);
    struct pf_answer m = {0};
    pf_metrics_answer(&m);
    free(m.body);
    json_decref(query);
    json_decref(headers);
    free(method);
    free(url);
}

static void gateway(const char *data, size_t size)
{
    struct sv_gateway_request rq;
    sv_error_t err = NULL;
    if (sv_gateway_parse(data, size, &rq, &err) < 0) {
        sv_error_free(&err);
        return;
    }
    /* What the supervisor relies on when it builds the command line. */
    if (rq.argv == NULL || rq.argv[0] == NULL || rq.env == NULL)
        abort();
    for (char **e = rq.env; *e; e++)
        if (strchr(*e, '=') == NULL || **e == '=')
            abort();
    if (rq.cwd && rq.cwd[0] != '/')
        abort();
    sv_gateway_request_clear(&rq);
}

static void frames(const uint8_t *data, size_t size)
{
    unsigned char *buf = sv_xmalloc(size + 1);
    memcpy(buf, data, size);
    for (size_t at = 0; at < size;) {
        struct pf_wsframe f;
        unsigned code = 0;
        int h = pf_wsframe_parse(buf + at, size - at, 1u << 20, &f, &code);
        if (h < 0 && code != PF_WS_PROTOCOL && code != PF_WS_TOO_BIG)
            abort();
        if (h <= 0 || size - at < (size_t)h + f.len)
            break;
        if (f.opcode >= PF_WS_CLOSE && (f.len > 125 || !f.fin))
            abort(); /* the RFC's control frame rules held */
        unsigned char *p = buf + at + h;
        pf_wsframe_unmask(p, f.len, f.mask, 0);
        if (f.opcode == PF_WS_CLOSE)
            pf_wsframe_close_code(p, f.len, &code);
        size_t n;
        char *line =
            pf_wsmsg_to_line(f.opcode == PF_WS_BINARY ? PF_WS_BINARY : PF_WS_TEXT, p, f.len, &n);
        if (n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
            abort(); /* one message, one line */
        struct pf_wsmsg m;
        pf_wsmsg_from_line(line, n - 1, &m);
        if (m.kind == PF_WSMSG_SEND && m.opcode == PF_WS_TEXT && !pf_wsframe_utf8(m.data, m.len))
            abort(); /* a text frame is UTF-8 */
        free(m.data);
        free(line);
        at += (size_t)h + f.len;
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        setup();
        ready = true;
    }
    if (size < 1)
        return 0;
    if (data[0] & 2)
        frames(data + 1, size - 1);
    else if (data[0] & 1)
        gateway((const char *)data + 1, size - 1);
    else
        http((const char *)data + 1, size - 1);
    return 0;
}
