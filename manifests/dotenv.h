/* .env files (KEY=VALUE lines), as Compose and ProServe read them. */
#ifndef SV_DOTENV_H
#define SV_DOTENV_H

#include "core/util.h"

typedef void (*sv_dotenv_cb)(void *ud, const char *key, const char *value);

/* Parse buf (the text of path) calling cb for each variable. Accepts
 * comments, blank lines, `export KEY=V`, 'single' (literal) and "double"
 * (with \n, \t, \", \\) quotes, and trailing " # comments" on bare values. */
int sv_dotenv_parse(const char *path, const char *buf, sv_dotenv_cb cb, void *ud, sv_error_t *err);

#endif
