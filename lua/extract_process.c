/* What runs and as whom: image, command, entrypoint, working_dir, user,
 * hostname, the read-only root, init/tty/stdin, capabilities, userns. */
#include "lua/extract_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/capability.h>

int ex_key_image(struct service_reader *rd, int idx, const char *key)
{
    const char *s;
    if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    if (s[0] == '\0')
        return ex_fail(rd, key, "the image is empty (use \"host\" for the host's root)");
    for (const char *c = s; *c; c++)
        if (isspace((unsigned char)*c) || !isprint((unsigned char)*c))
            return ex_fail(rd, key, "\"%s\" is not an image reference or path", s);
    if (s[0] == '.' || s[0] == '/' || s[0] == '~')
        s = ex_resolve_path(rd, s);
    rd->svc->image = s;
    return 0;
}

int ex_key_command(struct service_reader *rd, int idx, const char *key)
{
    return ex_want_argv(rd, idx, key, &rd->svc->command);
}

int ex_key_entrypoint(struct service_reader *rd, int idx, const char *key)
{
    return ex_want_argv(rd, idx, key, &rd->svc->entrypoint);
}

int ex_key_working_dir(struct service_reader *rd, int idx, const char *key)
{
    if (ex_want_string(rd, idx, key, &rd->svc->working_dir) < 0)
        return -1;
    if (rd->svc->working_dir[0] != '/')
        return ex_fail(rd, key, "\"%s\" must be an absolute path", rd->svc->working_dir);
    return 0;
}

int ex_key_user(struct service_reader *rd, int idx, const char *key)
{
    if (ex_want_string(rd, idx, key, &rd->svc->user) < 0)
        return -1;
    if (rd->svc->user[0] == '\0' || strchr(rd->svc->user, ' '))
        return ex_fail(rd, key, "\"%s\" is not a user (expected NAME, UID or UID:GID)",
                       rd->svc->user);
    return 0;
}

int ex_key_hostname(struct service_reader *rd, int idx, const char *key)
{
    const char *h;
    if (ex_want_string(rd, idx, key, &h) < 0)
        return -1;
    size_t n = strlen(h);
    bool ok = n > 0 && n <= 63 && isalnum((unsigned char)h[0]);
    for (const char *c = h; ok && *c; c++)
        ok = isalnum((unsigned char)*c) || *c == '-' || *c == '.';
    if (!ok)
        return ex_fail(rd, key, "\"%s\" is not a valid hostname", h);
    rd->svc->hostname = h;
    return 0;
}

int ex_key_read_only(struct service_reader *rd, int idx, const char *key)
{
    return ex_want_bool(rd, idx, key, &rd->svc->read_only);
}

int ex_key_init(struct service_reader *rd, int idx, const char *key)
{
    return ex_want_bool(rd, idx, key, &rd->svc->init);
}

int ex_key_tty(struct service_reader *rd, int idx, const char *key)
{
    return ex_want_bool(rd, idx, key, &rd->svc->tty);
}

int ex_key_stdin_open(struct service_reader *rd, int idx, const char *key)
{
    return ex_want_bool(rd, idx, key, &rd->svc->stdin_open);
}

static int want_caps(struct service_reader *rd, int idx, const char *key, const char ***out)
{
    const char **caps;
    if (ex_want_string_list(rd, idx, key, true, &caps) < 0)
        return -1;
    for (size_t i = 0; caps[i]; i++) {
        char buf[64];
        const char *c = caps[i];
        if (strncasecmp(c, "CAP_", 4) == 0)
            c += 4;
        size_t n = strlen(c);
        if (n == 0 || n >= sizeof(buf) - 4)
            return ex_fail(rd, key, "\"%s\" is not a capability", caps[i]);
        for (size_t j = 0; j <= n; j++)
            buf[j] = (char)toupper((unsigned char)c[j]);
        if (strcmp(buf, "ALL") != 0) {
            char lower[80];
            snprintf(lower, sizeof(lower), "cap_%s", c);
            for (char *p = lower; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            cap_value_t v;
            if (cap_from_name(lower, &v) < 0)
                return ex_fail(rd, key, "\"%s\" is not a capability (e.g. NET_ADMIN, SYS_TIME)",
                               caps[i]);
        }
        caps[i] = sv_graph_strdup(rd->g, buf);
    }
    *out = caps;
    return 0;
}

int ex_key_cap_add(struct service_reader *rd, int idx, const char *key)
{
    return want_caps(rd, idx, key, &rd->svc->cap_add);
}

int ex_key_cap_drop(struct service_reader *rd, int idx, const char *key)
{
    return want_caps(rd, idx, key, &rd->svc->cap_drop);
}

int ex_key_userns(struct service_reader *rd, int idx, const char *key)
{
    static const char *const modes[] = {"auto", "host"};
    return ex_want_choice(rd, idx, key, modes, 2, &rd->svc->userns);
}

/* As a container is named: it is the replica's name and hostname. */
int ex_key_container_name(struct service_reader *rd, int idx, const char *key)
{
    const char *n;
    if (ex_want_string(rd, idx, key, &n) < 0)
        return -1;
    size_t len = strlen(n);
    bool ok = len > 0 && len <= 63 && isalnum((unsigned char)n[0]);
    for (const char *c = n; ok && *c; c++)
        ok = isalnum((unsigned char)*c) || *c == '_' || *c == '.' || *c == '-';
    if (!ok)
        return ex_fail(rd, key,
                       "\"%s\" is not a valid container name (letters, digits, \"_\", \".\" and "
                       "\"-\", starting with a letter or digit, at most 63 characters)",
                       n);
    rd->svc->container_name = n;
    return 0;
}

/* Sysctls a container may set for itself: those of its own network and
 * IPC namespaces. Any other is the host's, for every container at once. */
static const char *sysctl_refused(const char *k, const char *network)
{
    if (strncmp(k, "net.", 4) == 0)
        return strcmp(network, "host") == 0
                   ? "it would change the host's network (the service has network \"host\")"
                   : NULL;
    if (strncmp(k, "kernel.shm", 10) == 0 || strncmp(k, "kernel.msg", 10) == 0 ||
        strcmp(k, "kernel.sem") == 0 || strncmp(k, "fs.mqueue.", 10) == 0)
        return NULL;
    return "it is not namespaced, so it would change the whole host (a container may set "
           "net.*, kernel.shm*, kernel.msg*, kernel.sem and fs.mqueue.*)";
}

static int cmp_kv_key(const void *a, const void *b)
{
    return strcmp(((const struct sv_kv *)a)->key, ((const struct sv_kv *)b)->key);
}

/* One sysctl: its name with dots (net/core/x is net.core.x) and a value
 * on one line. */
static int sysctl_add(struct service_reader *rd, const char *key, struct sv_kv *v, size_t *n,
                      const char *name, const char *value)
{
    char *k = (char *)sv_graph_strdup(rd->g, name);
    for (char *c = k; *c; c++)
        if (*c == '/')
            *c = '.';
    bool ok = *k && k[0] != '.' && k[strlen(k) - 1] != '.' && !strstr(k, "..");
    for (const char *c = k; ok && *c; c++)
        ok = isalnum((unsigned char)*c) || *c == '_' || *c == '.' || *c == '-';
    if (!ok)
        return ex_fail(rd, key, "\"%s\" is not a sysctl name", name);
    const char *why = sysctl_refused(k, rd->svc->network);
    if (why)
        return ex_fail(rd, key, "\"%s\" is refused: %s", k, why);
    if (*value == '\0' || strpbrk(value, "\n\r"))
        return ex_fail(rd, key, "%s: the value must be one line, not empty", k);
    for (size_t i = 0; i < *n; i++)
        if (strcmp(v[i].key, k) == 0)
            return ex_fail(rd, key, "\"%s\" is set twice", k);
    v[(*n)++] = (struct sv_kv){k, value};
    return 0;
}

int ex_key_sysctls(struct service_reader *rd, int idx, const char *key)
{
    lua_State *L = rd->L;
    if (!lua_istable(L, idx))
        return ex_fail(rd, key, "expected a table of NAME = value, got %s", ex_type_of(L, idx));
    size_t len = 0, n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        len++;
    }
    struct sv_kv *v = sv_graph_alloc(rd->g, (len + 1) * sizeof(*v));
    bool list = ex_is_list(L, idx, &len);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *name, *value;
        if (list) { /* "net.core.somaxconn=1024" */
            const char *item;
            if (lua_type(L, -1) != LUA_TSTRING || ex_want_string(rd, lua_gettop(L), key, &item) < 0)
                return ex_fail(rd, key, "expected \"NAME=value\" items");
            const char *eq = strchr(item, '=');
            if (eq == NULL)
                return ex_fail(rd, key, "\"%s\" is not NAME=value", item);
            name = sv_graph_strndup(rd->g, item, (size_t)(eq - item));
            value = eq + 1;
        } else {
            if (lua_type(L, -2) != LUA_TSTRING)
                return ex_fail(rd, key, "names must be strings");
            name = sv_graph_strdup(rd->g, lua_tostring(L, -2));
            int t = lua_type(L, -1);
            if (t != LUA_TSTRING && t != LUA_TNUMBER)
                return ex_fail(rd, key, "%s: expected a string or a number, got %s", name,
                               ex_type_of(L, -1));
            if (ex_want_string(rd, lua_gettop(L), key, &value) < 0)
                return -1;
        }
        if (sysctl_add(rd, key, v, &n, name, value) < 0)
            return -1;
        lua_pop(L, 1);
    }
    qsort(v, n, sizeof(*v), cmp_kv_key);
    rd->svc->sysctls = v;
    rd->svc->n_sysctls = n;
    return 0;
}
