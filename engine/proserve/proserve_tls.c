/* The service host's TLS: the certificate, key and client CA the
 * supervisor bound in (tlsfiles.h), checked to belong together before
 * libmicrohttpd is given them, so a wrong key stops the service with a
 * message that says so. */
#include "proserve/proserve_int.h"

#include "proserve/tls.h"
#include "proserve/tlsfiles.h"

#include <string.h>

int pf_tls_load(struct pf_tls_pem *pem, sv_error_t *err)
{
    memset(pem, 0, sizeof(*pem));
    if (pf_service.tls == NULL)
        return 0;
    size_t len;
    const char *dir = SV_TLS_DIR;
    cleanup_free char *c = sv_xasprintf("%s/cert.pem", dir);
    cleanup_free char *k = sv_xasprintf("%s/key.pem", dir);
    cleanup_free char *a = sv_xasprintf("%s/ca.pem", dir);
    if (sv_read_file(c, 1 << 20, &pem->cert, &len, err) < 0 ||
        sv_read_file(k, 1 << 20, &pem->key, &len, err) < 0)
        return sv_error_wrap(err, "TLS");
    if (json_object_get(pf_service.tls, "ca") && sv_read_file(a, 1 << 20, &pem->ca, &len, err) < 0)
        return sv_error_wrap(err, "tls_ca_cert");
    const char *provider = json_string_value(json_object_get(pf_service.tls, "provider"));
    bool own = provider && strcmp(provider, "selfsigned") == 0;
    if (sv_tls_check_pair(pem->cert, pem->key, err) < 0)
        return own ? -1
                   : sv_error_wrap(err, "tls_cert %s, tls_key %s",
                                   json_string_value(json_object_get(pf_service.tls, "cert")),
                                   json_string_value(json_object_get(pf_service.tls, "key")));
    return 0;
}
