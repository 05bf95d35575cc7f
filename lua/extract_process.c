/* What runs and as whom: image, command, entrypoint, working_dir, user,
 * hostname, the read-only root, init/tty/stdin, capabilities, userns. */
#include "lua/extract_int.h"

#include <ctype.h>
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
