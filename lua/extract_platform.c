/* platform, board and toolchain: names the tables of platforms/ must know,
 * or, as Compose writes it, an OCI platform ("linux/amd64"). */
#include "lua/extract_int.h"

#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* OCI architecture names and the machine (and qemu) names they stand for. */
static const struct {
    const char *oci, *machine, *qemu;
} arches[] = {
    {"amd64", "x86_64", "x86_64"},     {"arm64", "aarch64", "aarch64"},
    {"arm", "armv7l", "arm"},          {"386", "i686", "i386"},
    {"ppc64le", "ppc64le", "ppc64le"}, {"s390x", "s390x", "s390x"},
    {"riscv64", "riscv64", "riscv64"},
};

static const char *host_oci_arch(void)
{
    struct utsname u;
    if (uname(&u) < 0)
        return "amd64";
    for (size_t i = 0; i < SV_ARRAY_LEN(arches); i++)
        if (strcmp(u.machine, arches[i].machine) == 0 ||
            (strcmp(arches[i].oci, "arm") == 0 && strncmp(u.machine, "armv", 4) == 0))
            return arches[i].oci;
    return "amd64";
}

/* "linux/amd64[/variant]": the host's own is accepted as it is; another
 * is refused, naming what running it would take. */
static int oci_platform(struct service_reader *rd, const char *key, const char *s)
{
    const char *slash = strchr(s, '/');
    size_t oslen = (size_t)(slash - s);
    if (oslen != 5 || strncmp(s, "linux", 5) != 0)
        return ex_fail(rd, key, "\"%s\": servos runs Linux containers only", s);
    char arch[32];
    snprintf(arch, sizeof(arch), "%.*s", (int)strcspn(slash + 1, "/"), slash + 1);
    const char *mine = host_oci_arch();
    if (strcmp(arch, mine) == 0 || (strcmp(arch, "x86_64") == 0 && strcmp(mine, "amd64") == 0) ||
        (strcmp(arch, "aarch64") == 0 && strcmp(mine, "arm64") == 0)) {
        rd->svc->platform = s;
        return 0;
    }
    const char *qemu = NULL;
    for (size_t i = 0; i < SV_ARRAY_LEN(arches); i++)
        if (strcmp(arch, arches[i].oci) == 0)
            qemu = arches[i].qemu;
    if (qemu == NULL)
        return ex_fail(rd, key, "\"%s\": unknown architecture \"%s\" (this host is linux/%s)", s,
                       arch, mine);
    char handler[96];
    snprintf(handler, sizeof(handler), "/proc/sys/fs/binfmt_misc/qemu-%s", qemu);
    bool have = access(handler, F_OK) == 0;
    return ex_fail(rd, key,
                   "\"%s\": this host is linux/%s; running %s programs needs qemu-user-static "
                   "registered with binfmt_misc (%s: %s) and an image pulled for %s, which servos "
                   "does not do yet",
                   s, mine, arch, handler, have ? "present" : "missing here", s);
}

/* Ask stdlib/platforms.lua whether a platform or board exists; on no, the
 * closest known name for the message. */
static bool platform_known(struct service_reader *rd, const char *fn, const char *name,
                           const char **sugg)
{
    lua_State *L = rd->L;
    sv_lua_push_stdlib(L, "platforms");
    lua_getfield(L, -1, fn);
    lua_pushstring(L, name);
    lua_call(L, 1, 1);
    bool found = !lua_isnil(L, -1);
    lua_pop(L, 2);
    *sugg = NULL;
    if (found)
        return true;
    const char *names[256];
    size_t n = 0;
    sv_lua_push_stdlib(L, "platforms");
    lua_getfield(L, -1, "all");
    lua_call(L, 0, 1);
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1) && n < 256; i++) {
        lua_rawgeti(L, -1, i);
        lua_getfield(L, -1, "name");
        names[n++] = sv_graph_strdup(rd->g, lua_tostring(L, -1));
        lua_pop(L, 1);
        lua_getfield(L, -1, "boards");
        for (lua_Integer j = 1; j <= (lua_Integer)lua_rawlen(L, -1) && n < 256; j++) {
            lua_rawgeti(L, -1, j);
            lua_getfield(L, -1, "id");
            names[n++] = sv_graph_strdup(rd->g, lua_tostring(L, -1));
            lua_pop(L, 2);
        }
        lua_pop(L, 2);
    }
    lua_pop(L, 2);
    *sugg = sv_suggest(name, names, n);
    return false;
}

/* A platform name (arduino, arm64, ...) or, as ProServe writes it, a board
 * id (rp2040, esp32). */
int ex_key_platform(struct service_reader *rd, int idx, const char *key)
{
    const char *s, *sugg;
    if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    if (strchr(s, '/'))
        return oci_platform(rd, key, s);
    if (!platform_known(rd, "find_platform", s, &sugg) &&
        !platform_known(rd, "find_board", s, &sugg))
        return ex_fail(rd, key, "unknown platform \"%s\"%s%s%s (see servos list-platforms)", s,
                       sugg ? " (did you mean \"" : "", sugg ? sugg : "", sugg ? "\"?)" : "");
    rd->svc->platform = s;
    return 0;
}

int ex_key_board(struct service_reader *rd, int idx, const char *key)
{
    const char *s, *sugg;
    if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    if (!platform_known(rd, "find_board", s, &sugg))
        return ex_fail(rd, key, "unknown board \"%s\"%s%s%s (see servos list-platforms)", s,
                       sugg ? " (did you mean \"" : "", sugg ? sugg : "", sugg ? "\"?)" : "");
    rd->svc->board = s;
    return 0;
}

int ex_key_toolchain(struct service_reader *rd, int idx, const char *key)
{
    return ex_want_string(rd, idx, key, &rd->svc->toolchain);
}
