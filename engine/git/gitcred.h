/* Credentials for fetching environment repositories, from where git users
 * keep them: the URL itself, ssh-agent, ~/.ssh/id_*, and the git
 * credential store files (~/.git-credentials, ~/.config/git/credentials).
 * Nothing here ever prints a secret. */
#ifndef SV_GITCRED_H
#define SV_GITCRED_H

#include "core/util.h"

#include "git/git2.h"

/* The libgit2 callbacks' state: which credential kinds were offered, so
 * each is tried once and a refused login ends in GIT_EAUTH, not a loop;
 * and why a host key was refused. */
struct sv_gitcred_state {
    int port;         /* the ssh port, for "[host]:port" in known_hosts */
    char *host_error; /* set when the host key check refused the server */
    bool agent_tried, store_tried, username_tried;
    bool sent_basic; /* sv_gitcred_basic_auth's header went out: a 401 refused it */
    int next_key;
    bool exhausted; /* every kind was tried: the server refused them all */
};

void sv_gitcred_state_clear(struct sv_gitcred_state *c);
#define cleanup_gitcred_state __attribute__((cleanup(sv_gitcred_state_clear)))

/* A secret (a password, a header carrying one) overwritten before it is
 * freed, at scope exit. */
void sv_gitcred_secret_free(char **secret);
#define cleanup_secret __attribute__((cleanup(sv_gitcred_secret_free)))

/* "Authorization: Basic ..." for an http(s) url whose credentials are
 * known (in the URL, or in a credential store file), else NULL. Sent with
 * the first request, as git does once it has them: a server that answers
 * a 401 with a body on a kept-alive connection trips libgit2 1.5's replay. */
char *sv_gitcred_basic_auth(const char *url);

int sv_gitcred_credential_cb(git_credential **out, const char *url, const char *user_from_url,
                             unsigned int allowed, void *payload);

/* libgit2's certificate check: TLS is left to libgit2 (the system's CAs);
 * an SSH host key must be in known_hosts (see knownhosts.h). */
int sv_gitcred_certificate_cb(git_cert *cert, int valid, const char *host, void *payload);

#endif
