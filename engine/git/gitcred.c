#include "git/gitcred.h"

#include "git/knownhosts.h"
#include "git/url.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sv_gitcred_state_clear(struct sv_gitcred_state *c)
{
    free(c->host_error);
    c->host_error = NULL;
}

void sv_gitcred_secret_free(char **secret)
{
    if (*secret)
        explicit_bzero(*secret, strlen(*secret));
    free(*secret);
    *secret = NULL;
}

/* A URL's parts, its userinfo (user:password) overwritten first. */
static void url_parts_scrub(struct sv_url_parts *p)
{
    if (p->userinfo)
        explicit_bzero(p->userinfo, strlen(p->userinfo));
    sv_url_parts_free(p);
}
#define cleanup_url_secret __attribute__((cleanup(url_parts_scrub)))

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/* The credential store escapes user and password with %XX. */
static char *percent_decode(const char *s, size_t n)
{
    char *out = sv_xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            *o++ = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

/* The first line of a credential store file matching url's scheme and
 * host (and, when the line has one, a prefix of its path). */
static bool store_lookup(const char *file, const struct sv_url_parts *want, char **user,
                         char **pass)
{
    cleanup_fclose FILE *f = fopen(file, "re");
    char line[4096];
    while (f && fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        cleanup_url_secret struct sv_url_parts have = {0};
        if (!sv_url_split(line, &have))
            continue;
        size_t pl = strlen(have.path);
        while (pl > 0 && have.path[pl - 1] == '/')
            pl--;
        bool match = have.userinfo && strcmp(have.scheme, want->scheme) == 0 &&
                     strcasecmp(have.hostport, want->hostport) == 0 &&
                     (pl == 0 || (strncmp(want->path, have.path, pl) == 0 &&
                                  (want->path[pl] == '/' || want->path[pl] == '\0')));
        if (match) {
            const char *colon = strchr(have.userinfo, ':');
            size_t ul = colon ? (size_t)(colon - have.userinfo) : strlen(have.userinfo);
            *user = percent_decode(have.userinfo, ul);
            *pass = colon ? percent_decode(colon + 1, strlen(colon + 1)) : sv_xstrdup("");
        }
        explicit_bzero(line, sizeof(line));
        if (match)
            return true;
    }
    return false;
}

/* User and password for url from the credential store files. */
static bool store_find(const char *url, char **user, char **pass)
{
    cleanup_url_parts struct sv_url_parts want = {0};
    if (!sv_url_split(url, &want))
        return false;
    cleanup_free char *f1 = sv_home_file(".git-credentials");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    cleanup_free char *f2 = xdg && *xdg ? sv_xasprintf("%s/git/credentials", xdg)
                                        : sv_home_file(".config/git/credentials");
    return store_lookup(f1, &want, user, pass) || store_lookup(f2, &want, user, pass);
}

static int from_store(git_credential **out, const char *url)
{
    cleanup_free char *user = NULL;
    cleanup_secret char *pass = NULL;
    if (!store_find(url, &user, &pass))
        return GIT_PASSTHROUGH;
    return git_credential_userpass_plaintext_new(out, user, pass);
}

char *sv_gitcred_basic_auth(const char *url)
{
    cleanup_url_secret struct sv_url_parts u = {0};
    if (!sv_url_split(url, &u))
        return NULL;
    bool http = strcmp(u.scheme, "http") == 0 || strcmp(u.scheme, "https") == 0;
    cleanup_free char *user = NULL;
    cleanup_secret char *pass = NULL;
    const char *colon = u.userinfo ? strchr(u.userinfo, ':') : NULL;
    if (http && colon) {
        user = percent_decode(u.userinfo, (size_t)(colon - u.userinfo));
        pass = percent_decode(colon + 1, strlen(colon + 1));
    } else if (http) {
        /* The store is keyed by the URL without credentials. */
        cleanup_free char *bare = sv_xasprintf("%s://%s%s", u.scheme, u.hostport, u.path);
        store_find(bare, &user, &pass);
    }
    if (user == NULL)
        return NULL;
    cleanup_secret char *plain = sv_xasprintf("%s:%s", user, pass);
    cleanup_secret char *b64 = sv_base64_encode(plain, strlen(plain));
    return sv_xasprintf("Authorization: Basic %s", b64);
}

int sv_gitcred_credential_cb(git_credential **out, const char *url, const char *user_from_url,
                             unsigned int allowed, void *payload)
{
    struct sv_gitcred_state *c = payload;
    const char *user = user_from_url && *user_from_url ? user_from_url : "git";
    if (allowed & GIT_CREDENTIAL_SSH_KEY) {
        if (!c->agent_tried && getenv("SSH_AUTH_SOCK")) {
            c->agent_tried = true;
            return git_credential_ssh_key_from_agent(out, user);
        }
        static const char *const keys[] = {".ssh/id_ed25519", ".ssh/id_ecdsa", ".ssh/id_rsa"};
        while (c->next_key < (int)SV_ARRAY_LEN(keys)) {
            cleanup_free char *key = sv_home_file(keys[c->next_key++]);
            if (access(key, R_OK) != 0)
                continue;
            cleanup_free char *pub = sv_xasprintf("%s.pub", key);
            return git_credential_ssh_key_new(out, user, access(pub, R_OK) == 0 ? pub : NULL, key,
                                              NULL);
        }
    }
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && c->sent_basic) {
        c->exhausted = true; /* the same user and password would be refused again */
        return GIT_EAUTH;
    }
    if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && !c->store_tried) {
        c->store_tried = true;
        int rc = from_store(out, url);
        if (rc != GIT_PASSTHROUGH)
            return rc;
    }
    if ((allowed & GIT_CREDENTIAL_USERNAME) && !c->username_tried) {
        c->username_tried = true;
        return git_credential_username_new(out, user);
    }
    c->exhausted = true;
    return GIT_EAUTH;
}

int sv_gitcred_certificate_cb(git_cert *cert, int valid, const char *host, void *payload)
{
    struct sv_gitcred_state *c = payload;
    (void)valid;
    if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
        return GIT_PASSTHROUGH; /* TLS: libgit2 checked it against the system's CAs */
    const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
    sv_error_t err = NULL;
    if (!(hk->type & GIT_CERT_SSH_RAW))
        sv_error(&err, 0, "cannot check the host key of %s (libgit2 gave no raw key)", host);
    else
        sv_known_host_check(host, c->port ? c->port : 22, hk->hostkey, hk->hostkey_len, &err);
    if (err == NULL)
        return 0;
    free(c->host_error);
    c->host_error = sv_xstrdup(err->msg);
    sv_error_free(&err);
    return GIT_ECERTIFICATE;
}
