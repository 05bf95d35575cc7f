/* A ProServe service's TLS files, given to its container by the stack's
 * supervisor: the manifest's tls_cert, tls_key and tls_ca_cert copied, or
 * for tls_provider: selfsigned a certificate made at the first start and
 * kept with the stack's named volumes (until down -v). The copies are
 * the container root's alone, in <binds>/tls-<service>, bound read-only at
 * SV_TLS_DIR: wherever the originals were, whoever owned them. */
#ifndef SV_TLSFILES_H
#define SV_TLSFILES_H

#include "graph/graph.h"

#define SV_TLS_DIR "/.servos/tls"

/* The directory to bind at SV_TLS_DIR (newly allocated), or NULL when
 * the service has no TLS. */
int sv_tlsfiles_prepare(const char *stack, const struct sv_service *s, char **dir_out,
                        sv_error_t *err);

#endif
