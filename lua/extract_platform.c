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

/* What stdlib/platforms.lua knows of a platform or board name (an alias
 * too): its canonical name, its platform's name and arch, and (a board)
 * its toolchain family. */
struct known {
    const char *name, *platform, *arch, *family;
};

static const char *field(struct service_reader *rd, int t, const char *k)
{
    lua_getfield(rd->L, t, k);
    const char *v =
        lua_tostring(rd->L, -1) ? sv_graph_strdup(rd->g, lua_tostring(rd->L, -1)) : NULL;
    lua_pop(rd->L, 1);
    return v;
}

/* fn is "find_platform" or "find_board". */
static bool lookup(struct service_reader *rd, const char *fn, const char *name, struct known *k)
{
    lua_State *L = rd->L;
    int top = lua_gettop(L);
    memset(k, 0, sizeof(*k));
    sv_lua_push_stdlib(L, "platforms");
    lua_getfield(L, -1, fn);
    lua_pushstring(L, name);
    lua_call(L, 1, 2); /* platform, board */
    bool found = !lua_isnil(L, -2);
    if (found) {
        int p = top + 2, b = top + 3;
        k->platform = field(rd, p, "name");
        k->arch = field(rd, p, "arch");
        k->name = k->platform;
        if (!lua_isnil(L, b)) {
            k->name = field(rd, b, "id");
            lua_getfield(L, b, "toolchain");
            if (lua_istable(L, -1))
                k->family = field(rd, lua_gettop(L), "family");
        }
    }
    lua_settop(L, top);
    return found;
}

/* The closest of every platform and board name to name, for a message. */
static const char *suggest_name(struct service_reader *rd, const char *name)
{
    lua_State *L = rd->L;
    const char *names[256];
    size_t n = 0;
    sv_lua_push_stdlib(L, "platforms");
    lua_getfield(L, -1, "all");
    lua_call(L, 0, 1);
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1) && n < 256; i++) {
        lua_rawgeti(L, -1, i);
        names[n++] = field(rd, lua_gettop(L), "name");
        lua_getfield(L, -1, "boards");
        for (lua_Integer j = 1; j <= (lua_Integer)lua_rawlen(L, -1) && n < 256; j++) {
            lua_rawgeti(L, -1, j);
            names[n++] = field(rd, lua_gettop(L), "id");
            lua_pop(L, 1);
        }
        lua_pop(L, 2);
    }
    lua_pop(L, 2);
    return sv_suggest(name, names, n);
}

static int unknown(struct service_reader *rd, const char *key, const char *what, const char *s)
{
    const char *sugg = suggest_name(rd, s);
    return ex_fail(rd, key, "unknown %s \"%s\"%s%s%s (see servos list-platforms)", what, s,
                   sugg ? " (did you mean \"" : "", sugg ? sugg : "", sugg ? "\"?)" : "");
}

/* A platform name (arduino, arm64, ...) or, as ProServe writes it, a board
 * id (rp2040, esp32) or one of its names (arduino_uno, raspberry_pi):
 * kept as the tables name it. */
int ex_key_platform(struct service_reader *rd, int idx, const char *key)
{
    const char *s;
    struct known k;
    if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    if (strchr(s, '/'))
        return oci_platform(rd, key, s);
    if (!lookup(rd, "find_platform", s, &k) && !lookup(rd, "find_board", s, &k))
        return unknown(rd, key, "platform", s);
    rd->svc->platform = k.name;
    return 0;
}

int ex_key_board(struct service_reader *rd, int idx, const char *key)
{
    const char *s;
    struct known k;
    if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    if (!lookup(rd, "find_board", s, &k))
        return unknown(rd, key, "board", s);
    rd->svc->board = k.name;
    return 0;
}

/* A toolchain family the tables name (avr, cortex-m, ...). */
int ex_key_toolchain(struct service_reader *rd, int idx, const char *key)
{
    const char *s;
    if (ex_want_string(rd, idx, key, &s) < 0)
        return -1;
    lua_State *L = rd->L;
    sv_lua_push_stdlib(L, "platforms");
    lua_getfield(L, -1, "families");
    lua_call(L, 0, 1);
    const char *names[64];
    size_t n = 0;
    char list[512] = "";
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1) && n < 64; i++) {
        lua_rawgeti(L, -1, i);
        names[n] = sv_graph_strdup(rd->g, lua_tostring(L, -1));
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", n ? ", " : "", names[n]);
        n++;
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            rd->svc->toolchain = names[i];
            return 0;
        }
    const char *sugg = sv_suggest(s, names, n);
    return ex_fail(rd, key, "unknown toolchain \"%s\" (%s%s%sthe toolchains: %s)", s,
                   sugg ? "did you mean \"" : "", sugg ? sugg : "", sugg ? "\"? " : "", list);
}

/* Is family among the toolchains of the platform's boards? */
static bool platform_builds_with(struct service_reader *rd, const char *platform,
                                 const char *family)
{
    lua_State *L = rd->L;
    int top = lua_gettop(L);
    sv_lua_push_stdlib(L, "platforms");
    lua_getfield(L, -1, "families");
    lua_pushstring(L, platform);
    lua_call(L, 1, 1);
    bool found = false;
    for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1) && !found; i++) {
        lua_rawgeti(L, -1, i);
        found = strcmp(lua_tostring(L, -1), family) == 0;
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    return found;
}

/* Does an OCI platform ("linux/amd64", the host's: oci_platform let no
 * other through) run on the platform of that arch? */
static bool oci_fits(const char *oci, const char *arch)
{
    const char *a = strchr(oci, '/') + 1;
    for (size_t i = 0; i < SV_ARRAY_LEN(arches); i++)
        if (strncmp(a, arches[i].oci, strlen(arches[i].oci)) == 0)
            return strcmp(arch, arches[i].machine) == 0 ||
                   (strcmp(arches[i].oci, "arm") == 0 && strcmp(arch, "arm") == 0);
    return false;
}

/* The keys together: a platform that is not the board's, a toolchain
 * that does not build for the board or platform. */
int ex_check_platform(struct service_reader *rd)
{
    struct sv_service *s = rd->svc;
    struct known board = {0}, plat = {0};
    if (s->board)
        lookup(rd, "find_board", s->board, &board);
    if (s->platform && !strchr(s->platform, '/') &&
        !lookup(rd, "find_platform", s->platform, &plat))
        lookup(rd, "find_board", s->platform, &plat);
    if (s->board && s->platform) {
        bool fits = strchr(s->platform, '/') ? oci_fits(s->platform, board.arch)
                                             : strcmp(plat.platform, board.platform) == 0;
        if (!fits)
            return ex_fail(rd, "platform",
                           "\"%s\" does not go with board \"%s\" (platform \"%s\"): leave "
                           "platform out, the board says it",
                           s->platform, s->board, board.platform);
    }
    const char *family = board.family ? board.family : plat.family;
    if (s->toolchain && family && strcmp(s->toolchain, family) != 0)
        return ex_fail(rd, "toolchain", "\"%s\" does not build for %s \"%s\", which builds with %s",
                       s->toolchain, s->board ? "board" : "platform",
                       s->board ? s->board : s->platform, family);
    if (s->toolchain && !family && plat.platform &&
        !platform_builds_with(rd, plat.platform, s->toolchain))
        return ex_fail(rd, "toolchain", "\"%s\" builds for no board of platform \"%s\"",
                       s->toolchain, plat.platform);
    return 0;
}
