/* A ProServe service's TLS files, as the supervisor gives them to its
 * replicas (tlsfiles.h). */
#include "proserve/tlsfiles.h"

#include "core/statedir.h"
#include "host/userns.h"
#include "proserve/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct sv_value *member(const struct sv_value *o, const char *key)
{
    for (size_t i = 0; o && o->kind == SV_OBJECT && i < o->u.list.n; i++)
        if (strcmp(o->u.list.keys[i], key) == 0)
            return &o->u.list.items[i];
    return NULL;
}

static const char *member_str(const struct sv_value *o, const char *key)
{
    const struct sv_value *v = member(o, key);
    return v && v->kind == SV_STR ? v->u.s : NULL;
}

/* data to path, whole or not at all, owned by uid:gid, mode 0400. */
static int put_file(const char *path, const char *data, uid_t uid, gid_t gid, sv_error_t *err)
{
    cleanup_free char *tmp = sv_xasprintf("%s.tmp", path);
    unlink(tmp);
    cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    size_t n = strlen(data);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n || fchown(fd, uid, gid) < 0 ||
        fchmod(fd, 0400) < 0 || rename(tmp, path) < 0)
        return sv_error(err, errno, "cannot write %s", path);
    return 0;
}

/* The stack's self-signed certificate for service s: made once, kept
 * beside the stack's named volumes (so down keeps it and down -v ends
 * it), root's alone. */
static int selfsigned(const char *stack, const char *service, const char *domain, char **cert,
                      char **key, sv_error_t *err)
{
    cleanup_free char *vols = sv_statedir_volumes(stack);
    cleanup_free char *dir = sv_xasprintf("%s/.tls-%s", vols, service);
    cleanup_free char *cpath = sv_xasprintf("%s/cert.pem", dir);
    cleanup_free char *kpath = sv_xasprintf("%s/key.pem", dir);
    size_t len;
    if (sv_read_file(cpath, 1 << 20, cert, &len, NULL) == 0 &&
        sv_read_file(kpath, 1 << 20, key, &len, NULL) == 0)
        return 0;
    free(*cert);
    *cert = NULL;
    if (sv_mkdir_p(dir, 0700, err) < 0 || sv_tls_selfsigned(domain, cert, key, err) < 0)
        return -1;
    /* The key first: a certificate found means its key is there. */
    if (put_file(kpath, *key, 0, 0, err) < 0 || put_file(cpath, *cert, 0, 0, err) < 0)
        return -1;
    return 0;
}

int sv_tlsfiles_prepare(const char *stack, const struct sv_service *s, char **dir_out,
                        sv_error_t *err)
{
    *dir_out = NULL;
    const struct sv_value *tls = member(s->proserve, "tls");
    if (tls == NULL)
        return 0;
    const char *provider = member_str(tls, "provider");
    const char *domain = member_str(tls, "domain");
    cleanup_free char *cert = NULL, *key = NULL, *ca = NULL;
    size_t len;
    if (provider && strcmp(provider, "selfsigned") == 0) {
        if (selfsigned(stack, s->name, domain ? domain : "localhost", &cert, &key, err) < 0)
            return -1;
    } else if (sv_read_file(member_str(tls, "cert"), 1 << 20, &cert, &len, err) < 0 ||
               sv_read_file(member_str(tls, "key"), 1 << 20, &key, &len, err) < 0) {
        return sv_error_wrap(err, "TLS");
    }
    if (!(provider && strcmp(provider, "selfsigned") == 0) && sv_tls_check_pair(cert, key, err) < 0)
        return sv_error_wrap(err, "tls_cert %s, tls_key %s", member_str(tls, "cert"),
                             member_str(tls, "key"));
    if (member_str(tls, "ca") && sv_read_file(member_str(tls, "ca"), 1 << 20, &ca, &len, err) < 0)
        return sv_error_wrap(err, "tls_ca_cert");
    /* The container's root reads them, and no one else. */
    uid_t uid;
    gid_t gid;
    if (sv_userns_root_ids(s->userns, &uid, &gid, err) < 0)
        return -1;
    cleanup_free char *binds = sv_statedir_binds(stack);
    cleanup_free char *dir = sv_xasprintf("%s/tls-%s", binds, s->name);
    if (sv_mkdir_p(dir, 0700, err) < 0 || chown(dir, uid, gid) < 0)
        return sv_error(err, errno, "cannot prepare %s", dir);
    cleanup_free char *cp = sv_xasprintf("%s/cert.pem", dir);
    cleanup_free char *kp = sv_xasprintf("%s/key.pem", dir);
    cleanup_free char *ap = sv_xasprintf("%s/ca.pem", dir);
    unlink(ap);
    if (put_file(cp, cert, uid, gid, err) < 0 || put_file(kp, key, uid, gid, err) < 0 ||
        (ca && put_file(ap, ca, uid, gid, err) < 0))
        return -1;
    *dir_out = sv_steal(dir);
    return 0;
}
