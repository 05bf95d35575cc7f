/* servos version: servos' own and its libraries' versions. */
#include "cli/cli.h"

#include <dlfcn.h>
#include <git2.h>
#include <jansson.h>
#include <limits.h>
#include <lua.h>
#include <seccomp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#ifndef SV_VERSION
#define SV_VERSION "0.1.0-dev"
#endif

static void version_row(const char *lib, const char *version, const char *note)
{
    printf("  %-14s %-12s %s\n", lib, version, note);
}

/* The version of a library servos loads only when a command needs it
 * (dynlib.h): loaded here just to ask, or said to be missing, with what
 * it is for and the package that has it. */
static void version_loaded(const char *lib, const char *soname, const char *fn, const char *why)
{
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        char note[256];
        snprintf(note, sizeof(note), "%s, %s", soname, why);
        version_row(lib, "not found", note);
        return;
    }
    const char *(*version_of)(int) = (const char *(*)(int))dlsym(h, fn);
    const char *v = version_of ? version_of(0) : NULL; /* OpenSSL_version(OPENSSL_VERSION) is 0 */
    char buf[64] = "?";
    if (v) {
        /* "libcurl/7.88.1 OpenSSL/...", "libarchive 3.6.2", "v1.1",
         * "OpenSSL 3.0.15 3 Sep 2024", "0.9.75": the number alone. */
        const char *p = v + strcspn(v, "0123456789");
        snprintf(buf, sizeof(buf), "%.*s", (int)strspn(p, "0123456789.abcdefghijklmnopqrstuvwxyz"),
                 p);
    }
    char note[256];
    snprintf(note, sizeof(note), "%s, loaded when needed", soname);
    version_row(lib, buf, note);
    dlclose(h);
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
    /* Shared, linked: the copy the loader found. */
    int major = 0, minor = 0, rev = 0;
    git_libgit2_version(&major, &minor, &rev);
    snprintf(buf, sizeof(buf), "%d.%d.%d", major, minor, rev);
    version_row("libgit2", buf, "shared");
    Dl_info info;
    char real[PATH_MAX];
    void *mnl = dlsym(RTLD_DEFAULT, "mnl_socket_open");
    if (mnl && dladdr(mnl, &info) && info.dli_fname && realpath(info.dli_fname, real)) {
        char note[PATH_MAX + 64];
        snprintf(note, sizeof(note), "shared, %s; it has no call that tells its version", real);
        version_row("libmnl", "-", note);
    }
    /* Loaded with dlopen by the commands that need them. */
    version_loaded("libarchive", "libarchive.so.13", "archive_version_string",
                   "to unpack images (apt install libarchive13)");
    version_loaded("libcurl", "libcurl.so.4", "curl_version",
                   "to pull images (apt install libcurl4)");
    version_loaded("libcrypto", "libcrypto.so.3", "OpenSSL_version",
                   "to verify image digests (apt install libssl3)");
    version_loaded("libmicrohttpd", "libmicrohttpd.so.12", "MHD_get_version",
                   "to serve ProServe manifests (apt install libmicrohttpd12)");
    version_loaded("libbpf", "libbpf.so.1", "libbpf_version_string",
                   "for the fast path of published ports (apt install libbpf1)");
    return 0;
}
