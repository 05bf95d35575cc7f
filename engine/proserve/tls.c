/* TLS for ProServe services on GnuTLS (tls.h), loaded when a manifest
 * enables TLS: no command that does not needs it (core/dynlib.h). Only
 * GnuTLS's types and constants come from its headers. */
#include "proserve/tls.h"

#include "core/dynlib.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static struct {
    int (*key_init)(gnutls_x509_privkey_t *);
    int (*key_generate)(gnutls_x509_privkey_t, gnutls_pk_algorithm_t, unsigned, unsigned);
    int (*key_export)(gnutls_x509_privkey_t, gnutls_x509_crt_fmt_t, gnutls_datum_t *);
    void (*key_deinit)(gnutls_x509_privkey_t);
    int (*crt_init)(gnutls_x509_crt_t *);
    int (*crt_version)(gnutls_x509_crt_t, unsigned);
    int (*crt_serial)(gnutls_x509_crt_t, const void *, size_t);
    int (*crt_activation)(gnutls_x509_crt_t, time_t);
    int (*crt_expiration)(gnutls_x509_crt_t, time_t);
    int (*crt_dn)(gnutls_x509_crt_t, const char *, unsigned, const void *, unsigned);
    int (*crt_key)(gnutls_x509_crt_t, gnutls_x509_privkey_t);
    int (*crt_san)(gnutls_x509_crt_t, gnutls_x509_subject_alt_name_t, const void *, unsigned,
                   unsigned);
    int (*crt_constraints)(gnutls_x509_crt_t, unsigned, int);
    int (*crt_usage)(gnutls_x509_crt_t, unsigned);
    int (*crt_purpose)(gnutls_x509_crt_t, const void *, unsigned);
    int (*crt_sign)(gnutls_x509_crt_t, gnutls_x509_crt_t, gnutls_x509_privkey_t,
                    gnutls_digest_algorithm_t, unsigned);
    int (*crt_export)(gnutls_x509_crt_t, gnutls_x509_crt_fmt_t, gnutls_datum_t *);
    void (*crt_deinit)(gnutls_x509_crt_t);
    int (*cred_alloc)(gnutls_certificate_credentials_t *);
    int (*cred_pair)(gnutls_certificate_credentials_t, const gnutls_datum_t *,
                     const gnutls_datum_t *, gnutls_x509_crt_fmt_t);
    void (*cred_free)(gnutls_certificate_credentials_t);
    int (*verify_peers)(gnutls_session_t, unsigned *);
    const char *(*strerror)(int);
    gnutls_free_function *free;
} G;

static int load_gnutls(sv_error_t *err)
{
    static void *lib;
    static const char *const names[] = {
        "gnutls_x509_privkey_init",
        "gnutls_x509_privkey_generate",
        "gnutls_x509_privkey_export2",
        "gnutls_x509_privkey_deinit",
        "gnutls_x509_crt_init",
        "gnutls_x509_crt_set_version",
        "gnutls_x509_crt_set_serial",
        "gnutls_x509_crt_set_activation_time",
        "gnutls_x509_crt_set_expiration_time",
        "gnutls_x509_crt_set_dn_by_oid",
        "gnutls_x509_crt_set_key",
        "gnutls_x509_crt_set_subject_alt_name",
        "gnutls_x509_crt_set_basic_constraints",
        "gnutls_x509_crt_set_key_usage",
        "gnutls_x509_crt_set_key_purpose_oid",
        "gnutls_x509_crt_sign2",
        "gnutls_x509_crt_export2",
        "gnutls_x509_crt_deinit",
        "gnutls_certificate_allocate_credentials",
        "gnutls_certificate_set_x509_key_mem",
        "gnutls_certificate_free_credentials",
        "gnutls_certificate_verify_peers2",
        "gnutls_strerror",
        "gnutls_free",
    };
    _Static_assert(sizeof(G) == sizeof(names), "one name per GnuTLS symbol");
    return sv_dynlib_load(&lib, "libgnutls.so.30", names, (void **)&G, SV_ARRAY_LEN(names),
                          "for TLS (apt install libgnutls30)", err);
}

/* A GnuTLS datum's bytes as a C string; frees the datum. */
static char *take_datum(gnutls_datum_t *d)
{
    char *s = sv_xstrndup((const char *)d->data, d->size);
    (*G.free)(d->data);
    d->data = NULL;
    return s;
}

static int make_cert(gnutls_x509_crt_t crt, gnutls_x509_privkey_t key, const char *domain)
{
    unsigned char serial[16];
    if (getrandom(serial, sizeof(serial), 0) != (ssize_t)sizeof(serial))
        return GNUTLS_E_RANDOM_FAILED;
    serial[0] &= 0x7f; /* a positive number */
    time_t now = time(NULL);
    static const unsigned char loopback[4] = {127, 0, 0, 1};
    int rc;
    if ((rc = G.crt_version(crt, 3)) < 0 || (rc = G.crt_serial(crt, serial, sizeof(serial))) < 0 ||
        (rc = G.crt_activation(crt, now - 3600)) < 0 ||
        (rc = G.crt_expiration(crt, now + 825L * 86400)) < 0 ||
        (rc = G.crt_dn(crt, GNUTLS_OID_X520_COMMON_NAME, 0, domain, (unsigned)strlen(domain))) <
            0 ||
        (rc = G.crt_key(crt, key)) < 0 ||
        (rc = G.crt_san(crt, GNUTLS_SAN_DNSNAME, domain, (unsigned)strlen(domain),
                        GNUTLS_FSAN_APPEND)) < 0)
        return rc;
    if (strcmp(domain, "localhost") != 0 &&
        (rc = G.crt_san(crt, GNUTLS_SAN_DNSNAME, "localhost", 9, GNUTLS_FSAN_APPEND)) < 0)
        return rc;
    /* Its own authority too: clients take it as the CA to trust
     * (curl --cacert), as an `openssl req -x509` one. */
    if ((rc = G.crt_san(crt, GNUTLS_SAN_IPADDRESS, loopback, 4, GNUTLS_FSAN_APPEND)) < 0 ||
        (rc = G.crt_constraints(crt, 1, -1)) < 0 ||
        (rc = G.crt_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE | GNUTLS_KEY_KEY_CERT_SIGN)) < 0 ||
        (rc = G.crt_purpose(crt, GNUTLS_KP_TLS_WWW_SERVER, 0)) < 0)
        return rc;
    return G.crt_sign(crt, crt, key, GNUTLS_DIG_SHA256, 0);
}

int sv_tls_selfsigned(const char *domain, char **cert_pem, char **key_pem, sv_error_t *err)
{
    if (load_gnutls(err) < 0)
        return -1;
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t k = {0}, c = {0};
    int rc = G.key_init(&key);
    if (rc >= 0)
        rc = G.key_generate(key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
                            0);
    if (rc >= 0)
        rc = G.crt_init(&crt);
    if (rc >= 0)
        rc = make_cert(crt, key, domain);
    if (rc >= 0)
        rc = G.key_export(key, GNUTLS_X509_FMT_PEM, &k);
    if (rc >= 0)
        rc = G.crt_export(crt, GNUTLS_X509_FMT_PEM, &c);
    if (rc >= 0) {
        *key_pem = take_datum(&k);
        *cert_pem = take_datum(&c);
    }
    if (crt)
        G.crt_deinit(crt);
    if (key)
        G.key_deinit(key);
    if (rc < 0)
        return sv_error(err, 0, "cannot make a self-signed certificate: %s", G.strerror(rc));
    return 0;
}

int sv_tls_check_pair(const char *cert_pem, const char *key_pem, sv_error_t *err)
{
    if (load_gnutls(err) < 0)
        return -1;
    gnutls_certificate_credentials_t cred;
    if (G.cred_alloc(&cred) < 0)
        return sv_error(err, ENOMEM, "GnuTLS: cannot allocate credentials");
    gnutls_datum_t c = {(unsigned char *)cert_pem, (unsigned)strlen(cert_pem)};
    gnutls_datum_t k = {(unsigned char *)key_pem, (unsigned)strlen(key_pem)};
    int rc = G.cred_pair(cred, &c, &k, GNUTLS_X509_FMT_PEM);
    G.cred_free(cred);
    if (rc == GNUTLS_E_CERTIFICATE_KEY_MISMATCH)
        return sv_error(err, 0, "the key is not the certificate's");
    if (rc < 0)
        return sv_error(err, 0, "they do not load: %s", G.strerror(rc));
    return 0;
}

bool sv_tls_client_verified(void *session)
{
    sv_error_t err = NULL;
    if (session == NULL || load_gnutls(&err) < 0) {
        sv_error_free(&err);
        return false;
    }
    unsigned status = 1;
    return G.verify_peers(session, &status) == 0 && status == 0;
}
