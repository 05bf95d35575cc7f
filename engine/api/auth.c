/* Bearer tokens for the TCP listener: one that may do everything, and
 * optionally one that may only read. Each is read from a file (its first
 * line, surrounding blanks dropped) that only root may read: a token on
 * the command line would be in every `ps`. Compared in constant time. */
#include "api/api_int.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static char *token, *ro_token;

static int read_token(const char *file, char **out, sv_error_t *err)
{
    struct stat st;
    if (stat(file, &st) < 0)
        return sv_error(err, errno, "cannot read the token file %s", file);
    if (st.st_mode & 0044)
        return sv_error(err, 0, "the token file %s may be read by others (mode %04o): chmod 600 it",
                        file, (unsigned)(st.st_mode & 07777));
    cleanup_free char *text = NULL;
    if (sv_read_file(file, 4096, &text, NULL, err) < 0)
        return -1;
    char *p = text + strspn(text, " \t\r\n");
    p[strcspn(p, "\r\n")] = '\0';
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        p[--n] = '\0';
    if (n < 16)
        return sv_error(err, 0,
                        "the token in %s is %s: use 16 characters or more (openssl rand -hex 32 "
                        "> %s)",
                        file, n ? "too short" : "empty", file);
    if (strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=") != n)
        return sv_error(err, 0, "the token in %s holds characters a bearer token may not", file);
    *out = sv_xstrdup(p);
    return 0;
}

int auth_load(const char *token_file, const char *ro_token_file, sv_error_t *err)
{
    if (read_token(token_file, &token, err) < 0)
        return -1;
    if (ro_token_file && read_token(ro_token_file, &ro_token, err) < 0)
        return -1;
    if (ro_token && strcmp(token, ro_token) == 0)
        return sv_error(err, 0, "the read-only token is the full token: give it another");
    return 0;
}

static bool same(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = la != lb;
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
    return d == 0;
}

enum auth_result auth_check(const char *h)
{
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return AUTH_MISSING;
    h += 7;
    h += strspn(h, " ");
    if (token && same(h, token))
        return AUTH_OK;
    if (ro_token && same(h, ro_token))
        return AUTH_READ_ONLY;
    return AUTH_WRONG;
}
