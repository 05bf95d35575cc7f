/* TLS for ProServe services, on GnuTLS (the library libmicrohttpd serves
 * TLS with, loaded on first use): a self-signed certificate made for a
 * manifest's tls_provider: selfsigned, a certificate and key checked to
 * belong together before the service starts (so a wrong key is an error
 * that says so, not a refused listen), and a client's certificate checked
 * against tls_ca_cert. */
#ifndef SV_TLS_H
#define SV_TLS_H

#include "core/util.h"

/* A self-signed certificate (ECDSA P-256, SHA-256, valid 825 days; CN and
 * DNS name domain, plus localhost and 127.0.0.1) and its key, PEM, newly
 * allocated. */
int sv_tls_selfsigned(const char *domain, char **cert_pem, char **key_pem, sv_error_t *err);
/* Do cert and key (PEM) load, and belong together? The error says what
 * is wrong (the caller names the files). */
int sv_tls_check_pair(const char *cert_pem, const char *key_pem, sv_error_t *err);
/* Did the client of session (a gnutls_session_t) present a certificate
 * that the trusted CAs signed and that is valid now? */
bool sv_tls_client_verified(void *session);

#endif
