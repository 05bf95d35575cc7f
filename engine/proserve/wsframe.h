/* RFC 6455 framing as a server reads and writes it, with no I/O here (the
 * unit tests and the fuzz target drive it directly): a client's frame
 * header checked as the RFC demands (masked, no reserved bits, control
 * frames short and whole, a payload within the limit), unmasking, a
 * server's unmasked header, close payloads, UTF-8, and the handshake's
 * Sec-WebSocket-Accept. */
#ifndef SV_WSFRAME_H
#define SV_WSFRAME_H

#include "core/util.h"

enum pf_ws_opcode {
    PF_WS_CONT = 0x0,
    PF_WS_TEXT = 0x1,
    PF_WS_BINARY = 0x2,
    PF_WS_CLOSE = 0x8,
    PF_WS_PING = 0x9,
    PF_WS_PONG = 0xA,
};

/* Close codes a server sends (RFC 6455 7.4.1). */
#define PF_WS_NORMAL     1000
#define PF_WS_GOING_AWAY 1001
#define PF_WS_PROTOCOL   1002
#define PF_WS_BAD_DATA   1007
#define PF_WS_POLICY     1008
#define PF_WS_TOO_BIG    1009
#define PF_WS_INTERNAL   1011
#define PF_WS_TRY_LATER  1013
#define PF_WS_NO_STATUS  1005 /* never sent: what an empty close means */

struct pf_wsframe {
    unsigned opcode;
    bool fin;
    uint64_t len;          /* the payload's */
    unsigned char mask[4]; /* a client's frames are always masked */
    size_t header;         /* bytes before the payload */
};

/* A client's frame header at buf (n bytes there): its length (the payload
 * follows it) when whole, 0 when more bytes are needed, or -1 with *code
 * the close code that the violation calls for. max bounds the payload. */
int pf_wsframe_parse(const unsigned char *buf, size_t n, uint64_t max, struct pf_wsframe *f,
                     unsigned *code);
/* Unmask n payload bytes in place that sit at offset off of the payload. */
void pf_wsframe_unmask(unsigned char *p, size_t n, const unsigned char mask[4], uint64_t off);
/* A server frame's header (FIN as given, unmasked) for len payload bytes,
 * into out; returns its length: 2, 4 or 10. */
size_t pf_wsframe_header(unsigned char out[10], unsigned opcode, bool fin, uint64_t len);
/* A close frame's payload: the code it carries (PF_WS_NO_STATUS when
 * empty), or 0 when the payload is bad (a code no one may send, a reason
 * that is not UTF-8, one byte) with *code what to close with. */
unsigned pf_wsframe_close_code(const unsigned char *p, size_t n, unsigned *code);
/* A close frame's payload for code and reason (cut to fit 125 bytes on
 * a character boundary); returns its length. */
size_t pf_wsframe_close_payload(unsigned char out[125], unsigned code, const char *reason);
/* Is s well-formed UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF)? */
bool pf_wsframe_utf8(const unsigned char *s, size_t n);
/* Is key a Sec-WebSocket-Key: 16 bytes in base64 (24 characters)? */
bool pf_wsframe_key_valid(const char *key);
/* Sec-WebSocket-Accept for key: base64(SHA-1(key + the RFC's GUID)). */
int pf_wsframe_accept(const char *key, char out[29], sv_error_t *err);

#endif
