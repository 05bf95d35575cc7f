/* servos version: servos' own and its libraries' versions. */
#include "cli/cli.h"

#include <archive.h>
#include <bpf/libbpf_version.h>
#include <curl/curlver.h>
#include <git2/version.h>
#include <jansson.h>
#include <lua.h>
#include <microhttpd.h>
#include <openssl/opensslv.h>
#include <seccomp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

/* Where Debian's loader looks first (x86_64-linux-gnu and the like). */
#ifndef SV_MULTIARCH
#define SV_MULTIARCH "x86_64-linux-gnu"
#endif
#define SV_STR_(x) #x
#define SV_STR(x)  SV_STR_(x)

#ifndef SV_VERSION
#define SV_VERSION "0.1.0-dev"
#endif
const char sv_cli_version[] = SV_VERSION;

static void version_row(const char *lib, const char *version, const char *note)
{
    printf("  %-14s %-12s %s\n", lib, version, note);
}

/* Whether the dynamic loader would find soname: in LD_LIBRARY_PATH, in its
 * cache (what ldconfig -p lists), or in its default directories. Looked
 * up, not loaded: loading libcurl or libgit2 and everything they pull in
 * would make `servos version` ten times slower than servos' other quick
 * commands. */
static bool library_present(const char *soname)
{
    const char *llp = getenv("LD_LIBRARY_PATH");
    cleanup_free char *dirs = sv_xstrdup(llp ? llp : "");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        cleanup_free char *f = sv_xasprintf("%s/%s", d, soname);
        if (access(f, F_OK) == 0)
            return true;
    }
    /* Read once for all the libraries asked about (freed at exit). */
    static char *cache;
    static size_t len;
    if (cache == NULL && sv_read_file("/etc/ld.so.cache", 1 << 24, &cache, &len, NULL) < 0)
        len = 0;
    cleanup_free char *needle = sv_xasprintf("/%s", soname);
    /* A path ending in /soname, with its NUL. */
    if (len && memmem(cache, len, needle, strlen(needle) + 1))
        return true;
    static const char *const defaults[] = {
        "/lib/" SV_MULTIARCH, "/usr/lib/" SV_MULTIARCH, "/lib64", "/usr/lib64", "/lib", "/usr/lib"};
    for (size_t i = 0; i < SV_ARRAY_LEN(defaults); i++) {
        cleanup_free char *f = sv_xasprintf("%s/%s", defaults[i], soname);
        if (access(f, F_OK) == 0)
            return true;
    }
    return false;
}

/* A library servos loads only when a command needs it (dynlib.h): the
 * version it was built against (its ABI, by the soname, is the one
 * loaded), or missing, with what it is for and the package that has it. */
static void version_loaded(const char *lib, const char *version, const char *soname,
                           const char *why)
{
    char note[256];
    if (!library_present(soname)) {
        snprintf(note, sizeof(note), "%s, %s", soname, why);
        version_row(lib, "not found", note);
        return;
    }
    snprintf(note, sizeof(note), "%s, loaded when needed", soname);
    version_row(lib, version, note);
}

int sv_cmd_version(int argc, char **argv)
{
    const struct sv_verb *v = sv_cli_find("version");
    if (sv_cli_wants_help(argc, argv))
        return sv_cli_usage(v, false);
    if (argc > 1)
        return sv_cli_misuse(v, argv[1][0] == '-' ? "unknown option \"%s\"" : "unexpected \"%s\"",
                             argv[1]);
    printf("servos %s\n", SV_VERSION);
    /* Built in (linked statically): what was linked is what runs. */
    version_row("lua", LUA_VERSION_MAJOR "." LUA_VERSION_MINOR "." LUA_VERSION_RELEASE, "built in");
    version_row("libyaml", yaml_get_version_string(), "built in");
    version_row("sqlite", sqlite3_libversion(), "built in");
    version_row("jansson", jansson_version_str(), "built in");
    const struct scmp_version *sc = seccomp_version();
    char buf[64];
    snprintf(buf, sizeof(buf), "%u.%u.%u", sc->major, sc->minor, sc->micro);
    version_row("libseccomp", buf, "built in");
    version_row("libcap", "-", "built in; it has no call that tells its version");
    /* Loaded with dlopen by the commands that need them. */
    if (library_present("libmnl.so.0"))
        version_row("libmnl", "-",
                    "libmnl.so.0, loaded when needed; it has no call that tells its version");
    else
        version_row("libmnl", "not found",
                    "libmnl.so.0, for container networks (apt install libmnl0)");
    version_loaded("libgit2", LIBGIT2_VERSION, "libgit2.so." LIBGIT2_SOVERSION,
                   "for git sources (apt install libgit2-1.5)");
    version_loaded("libarchive", ARCHIVE_VERSION_ONLY_STRING, "libarchive.so.13",
                   "to unpack images (apt install libarchive13)");
    version_loaded("libcurl", LIBCURL_VERSION, "libcurl.so.4",
                   "to pull images (apt install libcurl4)");
    version_loaded("libcrypto", OPENSSL_VERSION_STR, "libcrypto.so.3",
                   "to verify image digests (apt install libssl3)");
    snprintf(buf, sizeof(buf), "%x.%x.%x", (MHD_VERSION >> 24) & 0xff, (MHD_VERSION >> 16) & 0xff,
             (MHD_VERSION >> 8) & 0xff);
    version_loaded("libmicrohttpd", buf, "libmicrohttpd.so.12",
                   "to serve ProServe manifests (apt install libmicrohttpd12)");
    version_loaded("libbpf", SV_STR(LIBBPF_MAJOR_VERSION) "." SV_STR(LIBBPF_MINOR_VERSION),
                   "libbpf.so.1", "for the fast path of published ports (apt install libbpf1)");
    return 0;
}
