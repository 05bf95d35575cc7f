/* SSH host keys checked against OpenSSH's known_hosts files, as ssh does
 * with StrictHostKeyChecking: an unknown host or a changed key is an
 * error, never a silent trust. */
#ifndef SV_KNOWNHOSTS_H
#define SV_KNOWNHOSTS_H

#include "core/util.h"

/* key: the server's public key blob (the base64 part of a known_hosts
 * line, decoded). Looks in ~/.ssh/known_hosts and
 * /etc/ssh/ssh_known_hosts, under "host" for port 22 and "[host]:port"
 * otherwise; plain, wildcard, negated and hashed (|1|) names. */
int sv_known_host_check(const char *host, int port, const void *key, size_t len, sv_error_t *err);

#endif
