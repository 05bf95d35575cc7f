/* Registry settings from the configuration files (regconfig.c). */
#ifndef SV_REGCONFIG_H
#define SV_REGCONFIG_H

#include "core/util.h"

/* The servos config: $SERVOS_CONFIG, default /etc/servos/config.json. */
const char *sv_regconfig_path(void);
/* "user:password" for host from the first file that has it; NULL if none. */
char *sv_regconfig_credentials(const char *host);
/* Is host listed under "insecure_registries" in the servos config? */
bool sv_regconfig_insecure(const char *host);
/* "push_chunk_size" in the servos config (bytes, or "64M"): blobs larger
 * are pushed in chunks of that size; def when it is not set. */
int sv_regconfig_chunk_size(int64_t def, int64_t *bytes, sv_error_t *err);

#endif
