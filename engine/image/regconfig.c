/* What the configuration files say about registries: credentials from
 * the servos config, $REGISTRY_AUTH_FILE or ~/.docker/config.json ("auths"
 * as Docker writes them), and the registries the servos config allows over
 * plain HTTP. */
#include "image/regconfig.h"

#include "graph/units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static json_t *load_json(const char *path)
{
    return path && *path ? json_load_file(path, 0, NULL) : NULL;
}

const char *sv_regconfig_path(void)
{
    const char *p = getenv("SERVOS_CONFIG");
    return p && *p ? p : "/etc/servos/config.json";
}

char *sv_regconfig_credentials(const char *host)
{
    cleanup_free char *docker =
        getenv("HOME") ? sv_xasprintf("%s/.docker/config.json", getenv("HOME")) : NULL;
    const char *files[] = {sv_regconfig_path(), getenv("REGISTRY_AUTH_FILE"), docker};
    for (size_t i = 0; i < SV_ARRAY_LEN(files); i++) {
        cleanup_json json_t *root = load_json(files[i]);
        json_t *auths = json_object_get(root, "auths");
        json_t *e = json_object_get(auths, host);
        if (e == NULL) { /* keys may carry a scheme: "https://host" */
            const char *k;
            json_t *v;
            json_object_foreach(auths, k, v)
            {
                const char *h = strstr(k, "://") ? strstr(k, "://") + 3 : k;
                if (strncmp(h, host, strlen(host)) == 0 &&
                    (h[strlen(host)] == '\0' || h[strlen(host)] == '/'))
                    e = v;
            }
        }
        cleanup_free char *cred = NULL;
        const char *auth = json_string_value(json_object_get(e, "auth"));
        const char *user = json_string_value(json_object_get(e, "username"));
        const char *pass = json_string_value(json_object_get(e, "password"));
        if (auth && *auth)
            cred = sv_base64_decode(auth);
        else if (user && pass)
            cred = sv_xasprintf("%s:%s", user, pass);
        if (cred && strchr(cred, ':'))
            return sv_steal(cred);
    }
    return NULL;
}

bool sv_regconfig_insecure(const char *host)
{
    cleanup_json json_t *root = load_json(sv_regconfig_path());
    json_t *list = json_object_get(root, "insecure_registries");
    bool yes = false;
    for (size_t i = 0; i < json_array_size(list) && !yes; i++) {
        const char *h = json_string_value(json_array_get(list, i));
        yes = h && strcmp(h, host) == 0;
    }
    return yes;
}

int sv_regconfig_chunk_size(int64_t def, int64_t *bytes, sv_error_t *err)
{
    cleanup_json json_t *root = load_json(sv_regconfig_path());
    json_t *v = json_object_get(root, "push_chunk_size");
    *bytes = def;
    if (v == NULL)
        return 0;
    if (json_is_integer(v))
        *bytes = json_integer_value(v);
    else if (!json_is_string(v) || sv_parse_size(json_string_value(v), bytes, NULL) < 0)
        return sv_error(err, EINVAL, "%s: push_chunk_size: a size in bytes, or as \"64M\"",
                        sv_regconfig_path());
    if (*bytes < 4096)
        return sv_error(err, EINVAL, "%s: push_chunk_size: %" PRId64 " is below 4096 bytes",
                        sv_regconfig_path(), *bytes);
    return 0;
}
