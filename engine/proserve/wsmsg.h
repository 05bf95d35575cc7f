/* A WebSocket handler's line protocol: what a kept-running handler (a
 * script, shell command, Lua or Python) reads and writes, one JSON value a
 * line, so that `while read line; do echo "$line"; done` is an echo.
 *
 * To the handler: a text message that is JSON, as it is (on one line); any
 * other text as a JSON string; a binary message as {"$binary": "BASE64"}.
 *
 * From the handler: a JSON string is sent as that text; {"$binary":
 * "BASE64"} as bytes; {"$broadcast": X} sends X to every client of the
 * route; {"$close": CODE, "reason": "..."} closes the connection; any
 * other line (JSON or not) is sent as the text it is. */
#ifndef SV_WSMSG_H
#define SV_WSMSG_H

#include "core/util.h"

/* A message as a line for the handler's stdin ("\n" included); newly
 * allocated, its length in *len. */
char *pf_wsmsg_to_line(unsigned opcode, const unsigned char *p, size_t n, size_t *len);

enum pf_wsmsg_kind { PF_WSMSG_NONE, PF_WSMSG_SEND, PF_WSMSG_BROADCAST, PF_WSMSG_CLOSE };
struct pf_wsmsg {
    enum pf_wsmsg_kind kind;
    unsigned opcode;     /* PF_WS_TEXT or PF_WS_BINARY */
    unsigned char *data; /* newly allocated (free it) */
    size_t len;
    unsigned code; /* PF_WSMSG_CLOSE */
    char reason[124];
};
/* What a line of the handler's stdout (no "\n") asks for. */
void pf_wsmsg_from_line(const char *line, size_t n, struct pf_wsmsg *m);

#endif
