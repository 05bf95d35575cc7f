#include "manifests/dotenv.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static bool is_name_char(int c, bool first)
{
    return c == '_' || isalpha(c) || (!first && (isdigit(c) || c == '.' || c == '-'));
}

int sv_dotenv_parse(const char *path, const char *buf, sv_dotenv_cb cb, void *ud, sv_error_t *err)
{
    int line = 0;
    const char *p = buf;
    while (*p) {
        line++;
        const char *eol = strchr(p, '\n');
        if (eol == NULL)
            eol = p + strlen(p);
        const char *q = p;
        while (q < eol && isblank((unsigned char)*q))
            q++;
        if (q == eol || *q == '#' || (*q == '\r' && q + 1 == eol)) {
            p = *eol ? eol + 1 : eol;
            continue;
        }
        if (strncmp(q, "export", 6) == 0 && isblank((unsigned char)q[6])) {
            q += 6;
            while (q < eol && isblank((unsigned char)*q))
                q++;
        }
        const char *name = q;
        while (q < eol && is_name_char((unsigned char)*q, q == name))
            q++;
        size_t name_len = (size_t)(q - name);
        while (q < eol && isblank((unsigned char)*q))
            q++;
        if (name_len == 0 || q == eol || *q != '=')
            return sv_error(err, 0, "%s:%d: expected KEY=VALUE", path, line);
        q++;
        while (q < eol && isblank((unsigned char)*q))
            q++;
        cleanup_free char *value = sv_xmalloc((size_t)(eol - q) + 1);
        size_t n = 0;
        if (q < eol && (*q == '\'' || *q == '"')) {
            char quote = *q++;
            /* A double-quoted value may span lines, as in Compose. */
            const char *end = q;
            while (*end && *end != quote) {
                if (quote == '"' && *end == '\\' && end[1])
                    end++;
                end++;
            }
            if (*end != quote)
                return sv_error(err, 0, "%s:%d: unterminated %c-quoted value", path, line, quote);
            value = sv_xrealloc(value, (size_t)(end - q) + 1);
            for (const char *c = q; c < end; c++) {
                if (*c == '\n')
                    line++;
                if (quote == '"' && *c == '\\') {
                    c++;
                    value[n++] = *c == 'n' ? '\n' : *c == 't' ? '\t' : *c == 'r' ? '\r' : *c;
                } else {
                    value[n++] = *c;
                }
            }
            eol = strchr(end, '\n');
            if (eol == NULL)
                eol = end + strlen(end);
        } else {
            const char *end = eol;
            for (const char *c = q; c < eol; c++)
                if (*c == '#' && c > q && isblank((unsigned char)c[-1])) {
                    end = c;
                    break;
                }
            while (end > q && isspace((unsigned char)end[-1]))
                end--;
            memcpy(value, q, (size_t)(end - q));
            n = (size_t)(end - q);
        }
        value[n] = '\0';
        cleanup_free char *key = sv_xstrndup(name, name_len);
        cb(ud, key, value);
        p = *eol ? eol + 1 : eol;
    }
    return 0;
}
