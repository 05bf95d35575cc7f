/* RFC 6455 framing, server side (wsframe.h). Every rule a client's frame
 * must keep is checked here, so the connection code only moves bytes. */
#include "proserve/wsframe.h"

#include "core/digest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool control(unsigned opcode)
{
    return opcode >= 0x8;
}

static bool known(unsigned opcode)
{
    return opcode <= PF_WS_BINARY || (opcode >= PF_WS_CLOSE && opcode <= PF_WS_PONG);
}

int pf_wsframe_parse(const unsigned char *buf, size_t n, uint64_t max, struct pf_wsframe *f,
                     unsigned *code)
{
    if (n < 2)
        return 0;
    f->fin = buf[0] & 0x80;
    f->opcode = buf[0] & 0x0f;
    bool masked = buf[1] & 0x80;
    uint64_t len = buf[1] & 0x7f;
    *code = PF_WS_PROTOCOL;
    /* No extension is ever negotiated, so no reserved bit may be set. */
    if ((buf[0] & 0x70) || !known(f->opcode) || !masked)
        return -1;
    if (control(f->opcode) && (!f->fin || len > 125))
        return -1;
    size_t at = 2;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)buf[2] << 8 | buf[3];
        at = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | buf[2 + i];
        if (len >> 63) /* the most significant bit must be 0 */
            return -1;
        at = 10;
    }
    if (len > max) {
        *code = PF_WS_TOO_BIG;
        return -1;
    }
    if (n < at + 4)
        return 0;
    memcpy(f->mask, buf + at, 4);
    f->len = len;
    f->header = at + 4;
    return (int)f->header;
}

void pf_wsframe_unmask(unsigned char *p, size_t n, const unsigned char mask[4], uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= mask[(off + i) & 3];
}

size_t pf_wsframe_header(unsigned char out[10], unsigned opcode, bool fin, uint64_t len)
{
    out[0] = (unsigned char)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    for (int i = 0; i < 8; i++)
        out[2 + i] = (unsigned char)(len >> (56 - 8 * i));
    return 10;
}

/* May a peer send this code (RFC 6455 7.4, and IANA's 1012-1014)? */
static bool sendable(unsigned c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999);
}

unsigned pf_wsframe_close_code(const unsigned char *p, size_t n, unsigned *code)
{
    if (n == 0)
        return PF_WS_NO_STATUS;
    unsigned c = n >= 2 ? (unsigned)p[0] << 8 | p[1] : 0;
    if (n == 1 || !sendable(c)) {
        *code = PF_WS_PROTOCOL;
        return 0;
    }
    if (!pf_wsframe_utf8(p + 2, n - 2)) {
        *code = PF_WS_BAD_DATA;
        return 0;
    }
    return c;
}

size_t pf_wsframe_close_payload(unsigned char out[125], unsigned code, const char *reason)
{
    out[0] = (unsigned char)(code >> 8);
    out[1] = (unsigned char)code;
    size_t n = reason ? strlen(reason) : 0;
    if (n > 123) { /* cut before a continuation byte, never inside a character */
        n = 123;
        while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(out + 2, reason ? reason : "", n);
    return n + 2;
}

bool pf_wsframe_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t more;
        unsigned cp, min;
        if ((c & 0xe0) == 0xc0)
            more = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0)
            more = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0)
            more = 3, cp = c & 0x07, min = 0x10000;
        else
            return false;
        if (i + more >= n) /* cut short */
            return false;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += more + 1;
    }
    return true;
}

bool pf_wsframe_key_valid(const char *key)
{
    if (key == NULL || strlen(key) != 24 || strcmp(key + 22, "==") != 0)
        return false;
    for (size_t i = 0; i < 22; i++) {
        char c = key[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return false;
    }
    return true;
}

int pf_wsframe_accept(const char *key, char out[29], sv_error_t *err)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char buf[24 + sizeof(guid)];
    size_t kl = strlen(key);
    if (kl > 24)
        return sv_error(err, EINVAL, "Sec-WebSocket-Key is too long");
    memcpy(buf, key, kl);
    memcpy(buf + kl, guid, sizeof(guid) - 1);
    unsigned char digest[20];
    if (sv_sha1(buf, kl + sizeof(guid) - 1, digest, err) < 0)
        return -1;
    cleanup_free char *b64 = sv_base64_encode(digest, sizeof(digest));
    snprintf(out, 29, "%s", b64);
    return 0;
}
