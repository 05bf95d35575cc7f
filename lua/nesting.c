#include "lua/nesting.h"

#include <ctype.h>
#include <string.h>

/* Length of the "[==[" opener at p (level in *level), or 0. */
static size_t long_bracket(const char *p, const char *end, int *level)
{
    if (p >= end || *p != '[')
        return 0;
    const char *q = p + 1;
    while (q < end && *q == '=')
        q++;
    if (q >= end || *q != '[')
        return 0;
    *level = (int)(q - p - 1);
    return (size_t)(q - p + 1);
}

/* Skip to just past the "]==]" closing a long bracket of level. */
static const char *skip_long(const char *p, const char *end, int level, int *line)
{
    for (; p < end; p++) {
        if (*p == '\n')
            (*line)++;
        if (*p != ']')
            continue;
        const char *q = p + 1;
        while (q < end && *q == '=')
            q++;
        if (q < end && *q == ']' && q - p - 1 == level)
            return q + 1;
    }
    return end;
}

static int keyword_delta(const char *w, size_t n)
{
    static const struct {
        const char *w;
        int d;
    } kw[] = {{"function", 1}, {"do", 1},     {"then", 1},   {"repeat", 1},
              {"end", -1},     {"until", -1}, {"elseif", -1}};
    for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
        if (strlen(kw[i].w) == n && memcmp(kw[i].w, w, n) == 0)
            return kw[i].d; /* elseif: its "then" opens again */
    return 0;
}

int sv_nesting_deepest_line(const char *src, size_t len, int limit)
{
    const char *p = src, *end = src + len;
    int line = 1, depth = 0, max_depth = 0, max_line = 1;
    while (p < end) {
        char c = *p;
        int level;
        size_t n;
        if (c == '\n') {
            line++;
            p++;
        } else if (c == '-' && p + 1 < end && p[1] == '-') {
            p += 2;
            if ((n = long_bracket(p, end, &level)) != 0)
                p = skip_long(p + n, end, level, &line);
            else
                while (p < end && *p != '\n')
                    p++;
        } else if ((n = long_bracket(p, end, &level)) != 0) {
            p = skip_long(p + n, end, level, &line);
        } else if (c == '"' || c == '\'') {
            for (p++; p < end && *p != c && *p != '\n'; p++)
                if (*p == '\\' && p + 1 < end)
                    p++;
            p++;
        } else if (isalpha((unsigned char)c) || c == '_') {
            const char *w = p;
            while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
                p++;
            depth += keyword_delta(w, (size_t)(p - w));
        } else {
            if (c == '(' || c == '{' || c == '[')
                depth++;
            else if (c == ')' || c == '}' || c == ']')
                depth--;
            p++;
        }
        if (depth > max_depth) {
            max_depth = depth;
            max_line = line;
            if (depth > limit)
                return line;
        }
    }
    return max_line;
}
