#include "git/knownhosts.h"

#include "core/digest.h"
#include "git/url.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A |1|SALT|HASH name: HMAC-SHA1 of the name keyed by the salt. */
static bool hashed_match(const char *entry, const char *name)
{
    const char *bar = strchr(entry + 3, '|');
    if (bar == NULL)
        return false;
    cleanup_free char *salt64 = sv_xstrndup(entry + 3, (size_t)(bar - entry - 3));
    cleanup_free char *salt = sv_base64_decode(salt64);
    cleanup_free char *want = sv_base64_decode(bar + 1);
    unsigned char got[20];
    sv_error_t err = NULL;
    /* SHA-1 salts and digests are 20 bytes; base64 decoding drops none. */
    if (salt == NULL || want == NULL || sv_hmac_sha1(salt, 20, name, strlen(name), got, &err) < 0) {
        sv_error_free(&err);
        return false;
    }
    return memcmp(got, want, 20) == 0;
}

/* OpenSSH's patterns: "*" and "?" are wildcards, everything else (the
 * brackets of "[host]:port" too) is literal; case does not matter. */
static bool glob_match(const char *p, const char *s)
{
    for (; *p; p++, s++) {
        if (*p == '*') {
            for (;; s++) {
                if (glob_match(p + 1, s))
                    return true;
                if (*s == '\0')
                    return false;
            }
        }
        if (*s == '\0' || (*p != '?' && tolower((unsigned char)*p) != tolower((unsigned char)*s)))
            return false;
    }
    return *s == '\0';
}

/* Does the comma-separated pattern list hosts name `name`? A negated
 * pattern that matches wins over everything. */
static bool hosts_match(const char *hosts, const char *name)
{
    if (strncmp(hosts, "|1|", 3) == 0)
        return hashed_match(hosts, name);
    cleanup_free char *list = sv_xstrdup(hosts);
    bool hit = false;
    for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        bool neg = *p == '!';
        if (glob_match(p + neg, name)) {
            if (neg)
                return false;
            hit = true;
        }
    }
    return hit;
}

enum verdict { UNKNOWN, KNOWN, CHANGED, REVOKED };

static enum verdict check_file(const char *file, const char *name, const char *key64)
{
    cleanup_fclose FILE *f = fopen(file, "re");
    enum verdict v = UNKNOWN;
    char line[16384];
    while (f && fgets(line, sizeof(line), f)) {
        char *fields[4] = {0};
        int n = 0;
        for (char *save = NULL, *p = strtok_r(line, " \t\r\n", &save); p && n < 4;
             p = strtok_r(NULL, " \t\r\n", &save))
            fields[n++] = p;
        if (n < 3 || fields[0][0] == '#')
            continue;
        bool revoked = strcmp(fields[0], "@revoked") == 0;
        if (fields[0][0] == '@') { /* a marker: @revoked or @cert-authority */
            if (!revoked || n < 4)
                continue;
            memmove(fields, fields + 1, 3 * sizeof(*fields));
        }
        if (!hosts_match(fields[0], name))
            continue;
        bool same = strcmp(fields[2], key64) == 0;
        if (revoked && same)
            return REVOKED;
        if (!revoked)
            v = same ? KNOWN : v == KNOWN ? KNOWN : CHANGED;
    }
    return v;
}

int sv_known_host_check(const char *host, int port, const void *key, size_t len, sv_error_t *err)
{
    cleanup_free char *name = port == 22 ? sv_xstrdup(host) : sv_xasprintf("[%s]:%d", host, port);
    cleanup_free char *key64 = sv_base64_encode(key, len);
    cleanup_free char *user_file = sv_home_file(".ssh/known_hosts");
    const char *files[] = {user_file, "/etc/ssh/ssh_known_hosts"};
    enum verdict v = UNKNOWN;
    for (size_t i = 0; i < SV_ARRAY_LEN(files) && v != KNOWN && v != REVOKED; i++) {
        enum verdict fv = check_file(files[i], name, key64);
        v = fv == UNKNOWN ? v : fv;
    }
    switch (v) {
    case KNOWN:
        return 0;
    case REVOKED:
        return sv_error(err, 0, "the host key of %s is marked @revoked in known_hosts", name);
    case CHANGED:
        return sv_error(err, 0,
                        "the host key of %s does not match %s (it changed, or someone is in "
                        "the middle); servos will not connect",
                        name, user_file);
    default:
        return sv_error(err, 0,
                        "%s is not a known host: add its key to %s (check it first, e.g. "
                        "ssh-keyscan -p %d %s)",
                        name, user_file, port, host);
    }
}
