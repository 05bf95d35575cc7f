/* The parts of a URL, as the credential store and known_hosts look
 * them up. */
#ifndef SV_GIT_URL_H
#define SV_GIT_URL_H

#include "core/util.h"

/* scheme://[userinfo@]hostport[/path]; every part newly allocated, NULL
 * when absent. False when url has no "scheme://". */
struct sv_url_parts {
    char *scheme, *userinfo, *hostport, *path;
};
bool sv_url_split(const char *url, struct sv_url_parts *p);
void sv_url_parts_free(struct sv_url_parts *p);
/* Freed at scope exit; initialise with {0}. */
#define cleanup_url_parts __attribute__((cleanup(sv_url_parts_free)))

#endif
