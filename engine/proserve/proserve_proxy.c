/* api_proxy_rules: a request under a rule's path goes to its upstream (a
 * service of the stack by name, or a loopback address) and its answer
 * comes back. HTTP/1.0 with Connection: close upstream, so the answer ends
 * where the connection does and no upstream keeps a connection of ours;
 * hop-by-hop headers stay on their side, X-Forwarded-* tell the upstream
 * who asked. 502 when the upstream cannot be reached or answers nonsense,
 * 504 past the rule's timeout. */
#include "proserve/proserve_int.h"
#include "core/json.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define ANSWER_MAX (64u << 20)

const struct pf_proxy_rule *pf_proxy_find(const char *url)
{
    for (size_t i = 0; i < pf_service.n_proxies; i++) {
        const struct pf_proxy_rule *r = &pf_service.proxies[i];
        size_t pl = strlen(r->prefix);
        if (strncmp(url, r->prefix, pl) == 0 &&
            (url[pl] == '\0' || url[pl] == '/' || r->prefix[pl - 1] == '/'))
            return r;
    }
    return NULL;
}

static bool hop_by_hop(const char *h)
{
    static const char *const hop[] = {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
        "te",         "trailer",    "trailers",           "transfer-encoding",
        "upgrade",    "host",       "content-length"};
    for (size_t i = 0; i < SV_ARRAY_LEN(hop); i++)
        if (strcasecmp(h, hop[i]) == 0)
            return true;
    return false;
}

/* Percent-encode what the path or a query part cannot hold as it is. */
static void put_escaped(FILE *f, const char *s, bool path)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~", *p) || (path && strchr("/:@!$&'()*+,;=", *p)))
            fputc(*p, f);
        else
            fprintf(f, "%%%02X", *p);
    }
}

/* The request line and headers for the upstream. */
static char *request_head(const struct pf_proxy_rule *r, struct pf_request *rq)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    const char *rest = rq->url + (r->strip ? strlen(r->prefix) : 0);
    fprintf(f, "%s ", rq->method);
    put_escaped(f, r->base, true);
    put_escaped(f, *rest ? rest : (r->strip && !*r->base ? "/" : ""), true);
    pf_request_values(rq);
    const char *k;
    json_t *v;
    bool first = true;
    json_object_foreach(rq->query, k, v)
    {
        fputc(first ? '?' : '&', f);
        put_escaped(f, k, false);
        if (json_string_length(v)) {
            fputc('=', f);
            put_escaped(f, json_string_value(v), false);
        }
        first = false;
    }
    fprintf(f, " HTTP/1.0\r\nHost: %s:%d\r\nConnection: close\r\n", r->host, r->port);
    json_object_foreach(rq->headers, k, v) if (!hop_by_hop(k) && strncasecmp(k, "x-forwarded-", 12))
        fprintf(f, "%s: %s\r\n", k, json_string_value(v));
    json_object_foreach(r->headers, k, v)
    {
        cleanup_free char *val = json_is_string(v) ? sv_xstrdup(json_string_value(v))
                                                   : sv_json_dumps(v, SV_JSON_COMPACT);
        fprintf(f, "%s: %s\r\n", k, val);
    }
    const char *host = json_string_value(json_object_get(rq->headers, "Host"));
    fprintf(f, "X-Forwarded-Host: %s\r\nX-Forwarded-Proto: %s\r\n", host ? host : "",
            pf_service.tls ? "https" : "http");
    if (rq->client[0])
        fprintf(f, "X-Forwarded-For: %s\r\n", rq->client);
    fprintf(f, "Content-Length: %zu\r\n\r\n", rq->body_len);
    fclose(f);
    return buf;
}

/* Connected to host:port by deadline, or -1 with errno. */
static int dial(const char *host, int port, double deadline)
{
    char ps[8];
    snprintf(ps, sizeof(ps), "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(host, ps, &hints, &ai) != 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *p = ai; p && fd < 0; p = p->ai_next) {
        fd = socket(p->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        if (connect(fd, p->ai_addr, p->ai_addrlen) < 0 && errno == EINPROGRESS) {
            struct pollfd w = {fd, POLLOUT, 0};
            int err = 0;
            socklen_t el = sizeof(err);
            int ms = (int)((deadline - sv_now_s()) * 1000);
            if (poll(&w, 1, ms > 0 ? ms : 0) != 1 ||
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
                close(fd);
                fd = -1;
                errno = err ? err : ETIMEDOUT;
            }
        } else if (errno != 0 && errno != EINPROGRESS) {
            int e = errno;
            close(fd);
            fd = -1;
            errno = e;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

/* Write all of p by deadline. */
static int send_all(int fd, const char *p, size_t n, double deadline)
{
    while (n > 0) {
        struct pollfd w = {fd, POLLOUT, 0};
        int ms = (int)((deadline - sv_now_s()) * 1000);
        if (ms <= 0 || poll(&w, 1, ms) != 1)
            return (errno = ETIMEDOUT), -1;
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno != EAGAIN)
            return -1;
        if (k > 0)
            p += k, n -= (size_t)k;
    }
    return 0;
}

/* Everything the upstream says, to its end; -1 with errno (ETIMEDOUT,
 * EFBIG) when it cannot be had. */
static int read_all(int fd, char **out, size_t *len, double deadline)
{
    size_t cap = 65536;
    *out = sv_xmalloc(cap + 1);
    *len = 0;
    for (;;) {
        struct pollfd r = {fd, POLLIN, 0};
        int ms = (int)((deadline - sv_now_s()) * 1000);
        if (ms <= 0 || poll(&r, 1, ms) != 1)
            return (errno = ETIMEDOUT), -1;
        if (*len == cap) {
            if (cap >= ANSWER_MAX)
                return (errno = EFBIG), -1;
            cap *= 2;
            *out = sv_xrealloc(*out, cap + 1);
        }
        ssize_t k = read(fd, *out + *len, cap - *len);
        if (k == 0)
            break;
        if (k < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (k > 0)
            *len += (size_t)k;
    }
    (*out)[*len] = '\0';
    return 0;
}

/* The upstream's answer (status line, headers, body) into a. */
static bool parse_answer(char *raw, size_t len, struct pf_answer *a)
{
    char *end = strstr(raw, "\r\n\r\n");
    unsigned status = 0;
    if (end == NULL || sscanf(raw, "HTTP/%*d.%*d %u", &status) != 1 || status < 100 || status > 599)
        return false;
    *end = '\0';
    a->status = status;
    a->headers = json_array();
    a->type = "application/octet-stream";
    char *save = NULL;
    strtok_r(raw, "\r\n", &save); /* the status line */
    for (char *l = strtok_r(NULL, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save)) {
        char *colon = strchr(l, ':');
        if (colon == NULL)
            continue;
        *colon = '\0';
        const char *v = colon + 1 + strspn(colon + 1, " \t");
        if (strcasecmp(l, "content-type") == 0)
            a->type_own = sv_xstrdup(v), a->type = a->type_own;
        else if (!hop_by_hop(l))
            json_array_append_new(a->headers, json_pack("[ss]", l, v));
    }
    size_t body = (size_t)(end + 4 - raw);
    a->len = len - body;
    a->body = sv_xmalloc(a->len + 1);
    memcpy(a->body, end + 4, a->len);
    a->body[a->len] = '\0';
    return true;
}

void pf_proxy_answer(const struct pf_proxy_rule *r, struct pf_request *rq, struct pf_answer *a)
{
    a->route = r->prefix;
    double deadline = sv_now_s() + r->timeout;
    cleanup_free char *head = request_head(r, rq);
    cleanup_close int fd = dial(r->host, r->port, deadline);
    char where[300];
    snprintf(where, sizeof(where), "%s:%d", r->host, r->port);
    if (fd < 0) {
        pf_answer_error(a, errno == ETIMEDOUT ? 504 : 502, "the upstream cannot be reached", where);
        return;
    }
    cleanup_free char *raw = NULL;
    size_t len = 0;
    if (send_all(fd, head, strlen(head), deadline) < 0 ||
        send_all(fd, rq->body ? rq->body : "", rq->body_len, deadline) < 0 ||
        read_all(fd, &raw, &len, deadline) < 0) {
        int e = errno;
        pf_answer_error(a, e == ETIMEDOUT ? 504 : 502,
                        e == ETIMEDOUT ? "the upstream did not answer in time"
                        : e == EFBIG   ? "the upstream's answer is larger than 64 MiB"
                                       : "the upstream's connection failed",
                        where);
        return;
    }
    if (!parse_answer(raw, len, a)) {
        json_decref(a->headers);
        a->headers = NULL;
        pf_answer_error(a, 502, "the upstream did not answer HTTP", where);
    }
}
