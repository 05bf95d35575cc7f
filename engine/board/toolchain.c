/* Toolchain images (toolchain.h): the families, their image names, and
 * building one on first use. */
#include "board/toolchain.h"

#include "build/build.h"
#include "core/fs.h"
#include "core/store.h"
#include "image/imgimport.h"
#include "image/imgstore.h"
#include "image/registry.h"
#include "lua/embedded.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILES "engine/board/files/"

/* What each recipe COPYs from its context, besides the Containerfile. */
static const char *const avr_files[] = {"avr-run.c", "arduino-build.sh", NULL};
static const char *const cortex_files[] = {"cortex-m-startup.c", "lm3s6965.ld", NULL};
static const char *const mpy_files[] = {"mpy-run.mjs", "mpy-machine.py", "mpy-time.py", NULL};

static const struct family {
    struct sv_toolchain t;
    const char *const *files;
} families[] = {
    {{"avr", "AVR / Arduino: avr-gcc, avr-libc, Debian's Arduino core, avrdude, simavr",
      "avr.Containerfile", NULL, false},
     avr_files},
    {{"cortex-m",
      "ARM Cortex-M: arm-none-eabi-gcc, newlib, qemu-system-arm (lm3s6965evb, semihosting), "
      "stm32flash, openocd, st-flash",
      "cortex-m.Containerfile", NULL, false},
     cortex_files},
    {{"arm64", "64-bit ARM Linux: aarch64-linux-gnu-gcc, qemu-user-static", "arm64.Containerfile",
      NULL, false},
     NULL},
    {{"armhf", "32-bit ARM Linux: arm-linux-gnueabihf-gcc, qemu-user-static", "armhf.Containerfile",
      NULL, false},
     NULL},
    {{"micropython",
      "MicroPython: the WebAssembly port (npm @micropython/micropython-webassembly-pyscript) "
      "under Debian's nodejs, with a machine module that records the pins",
      "micropython.Containerfile", NULL, false},
     mpy_files},
    {{"xtensa", "ESP32 / ESP8266", NULL,
      "needs Espressif's Xtensa compiler (xtensa-esp32-elf-gcc, from ESP-IDF or Espressif's "
      "Arduino core) and esptool, which Debian 12 does not package",
      false},
     NULL},
    {{"x86_64", "this host: its own compilers and interpreters, on the \"host\" image", NULL, NULL,
      true},
     NULL},
};

const struct sv_toolchain *sv_toolchain_at(size_t i)
{
    return i < SV_ARRAY_LEN(families) ? &families[i].t : NULL;
}

static const struct family *family_of(const struct sv_toolchain *t)
{
    return (const struct family *)t; /* t is the first member */
}

const struct sv_toolchain *sv_toolchain_find(const char *name)
{
    for (size_t i = 0; name && i < SV_ARRAY_LEN(families); i++)
        if (strcmp(families[i].t.name, name) == 0)
            return &families[i].t;
    return NULL;
}

const char *sv_toolchain_mirror(void)
{
    const char *m = getenv("SERVOS_DEBIAN_MIRROR");
    return m && *m ? m : "http://deb.debian.org/debian";
}

static const struct sv_embedded_file *embedded(const char *name)
{
    cleanup_free char *path = sv_xasprintf(FILES "%s", name);
    return sv_embedded_find(path);
}

/* The recipe's hash: its Containerfile and the files it copies. */
static void recipe_hash(const struct family *f, char out[13])
{
    uint64_t h = 0;
    const struct sv_embedded_file *e = embedded(f->t.recipe);
    if (e)
        h ^= sv_fnv1a(e->data, e->len);
    for (size_t i = 0; f->files && f->files[i]; i++) {
        e = embedded(f->files[i]);
        uint64_t k = e ? sv_fnv1a(e->data, e->len) : 0;
        h = (h * 1099511628211ull) ^ k ^ sv_fnv1a(f->files[i], strlen(f->files[i]));
    }
    snprintf(out, 13, "%012llx", (unsigned long long)(h & 0xffffffffffffull));
}

char *sv_toolchain_image(const struct sv_toolchain *t)
{
    if (t->recipe == NULL)
        return NULL;
    char hash[13];
    recipe_hash(family_of(t), hash);
    return sv_xasprintf("localhost/servos-toolchain-%s:%s", t->name, hash);
}

const char *sv_toolchain_image_name(const struct sv_toolchain *t)
{
    static char *names[SV_ARRAY_LEN(families)];
    size_t i = (size_t)(family_of(t) - families);
    if (i >= SV_ARRAY_LEN(families))
        return NULL;
    if (names[i] == NULL)
        names[i] = sv_toolchain_image(t);
    return names[i];
}

/* Does name (as the store lists it) name an image of family t? */
static bool is_family_name(const struct sv_toolchain *t, const char *name)
{
    cleanup_free char *prefix = sv_xasprintf("localhost/servos-toolchain-%s:", t->name);
    return strncmp(name, prefix, strlen(prefix)) == 0;
}

int sv_toolchain_state(const struct sv_toolchain *t, struct sv_toolchain_state *s, sv_error_t *err)
{
    memset(s, 0, sizeof(*s));
    cleanup_free char *image = sv_toolchain_image(t);
    if (image == NULL)
        return 0;
    struct sv_image_entry *e = NULL;
    size_t n = 0;
    if (sv_image_list(&e, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        for (char **k = e[i].names; k && *k; k++) {
            if (strcmp(*k, image) == 0)
                memcpy(s->digest, e[i].digest, sizeof(s->digest));
            else if (is_family_name(t, *k))
                s->older = true;
        }
    sv_image_entries_free(e, n);
    if (s->digest[0]) {
        cleanup_image struct sv_image img = {0};
        if (sv_image_load(s->digest, &img, NULL) == 0)
            s->size = img.size;
    }
    return 0;
}

/* ---- the base ------------------------------------------------------------------------- */

/* mmdebstrap's Debian 12 minbase into a tarball, imported as the base. */
static int base_mmdebstrap(FILE *progress, sv_error_t *err)
{
    if (access("/usr/bin/mmdebstrap", X_OK) < 0)
        return sv_error(err, 0,
                        "the toolchain images start from a Debian base that servos makes with "
                        "mmdebstrap, which is not installed (apt-get install mmdebstrap), or "
                        "give one: servos toolchain build --base IMAGE FAMILY");
    cleanup_free char *dir = sv_xasprintf("%s/boards", sv_state_root());
    if (sv_mkdir_p_mode(dir, 0711, err) < 0)
        return -1;
    cleanup_free char *tar = sv_xasprintf("%s/base-%d.tar", dir, (int)getpid());
    if (progress) {
        fprintf(progress, "[toolchain] making the Debian 12 base with mmdebstrap from %s\n",
                sv_toolchain_mirror());
        fflush(progress);
    }
    pid_t pid = fork();
    if (pid < 0)
        return sv_error(err, errno, "fork");
    if (pid == 0) {
        int fd = progress ? fileno(progress) : open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execl("/usr/bin/mmdebstrap", "mmdebstrap", "--quiet", "--variant=minbase", "bookworm", tar,
              sv_toolchain_mirror(), (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        unlink(tar);
        return sv_error(err, 0,
                        "mmdebstrap could not make the Debian base (is %s reachable? "
                        "SERVOS_DEBIAN_MIRROR names another mirror)",
                        sv_toolchain_mirror());
    }
    char digest[SV_DIGEST_LEN + 1];
    int rc = sv_import_image(tar, SV_TOOLCHAIN_BASE, digest, err);
    unlink(tar);
    return rc;
}

static int base_ensure(const char *base, FILE *progress, sv_error_t *err)
{
    char digest[SV_DIGEST_LEN + 1];
    int found = sv_image_lookup(base, digest, err);
    if (found <= 0)
        return found;
    if (strcmp(base, SV_TOOLCHAIN_BASE) == 0)
        return base_mmdebstrap(progress, err);
    return sv_registry_ensure(base, progress == NULL, err);
}

/* ---- building ------------------------------------------------------------------------- */

/* A script (.sh) executable, the rest readable: COPY keeps the modes. */
static int write_file(const char *dir, const char *name, const void *data, size_t len,
                      sv_error_t *err)
{
    cleanup_free char *path = sv_xasprintf("%s/%s", dir, name);
    size_t n = strlen(name);
    int mode = n > 3 && strcmp(name + n - 3, ".sh") == 0 ? 0755 : 0644;
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len)
        return sv_error(err, errno, "cannot write %s", path);
    return 0;
}

/* The build context: the Containerfile, the files it copies, and this
 * host's certificate authorities (host-ca.crt: a recipe that fetches over
 * HTTPS trusts what the host trusts, a proxy's own authority too). */
static int write_context(const struct family *f, const char *dir, sv_error_t *err)
{
    const struct sv_embedded_file *e = embedded(f->t.recipe);
    if (e == NULL)
        return sv_error(err, 0, "no recipe %s in this servos", f->t.recipe);
    if (write_file(dir, "Containerfile", e->data, e->len, err) < 0)
        return -1;
    for (size_t i = 0; f->files && f->files[i]; i++) {
        e = embedded(f->files[i]);
        if (e == NULL)
            return sv_error(err, 0, "no file %s in this servos", f->files[i]);
        if (write_file(dir, f->files[i], e->data, e->len, err) < 0)
            return -1;
    }
    cleanup_free char *ca = NULL;
    size_t len = 0;
    if (sv_read_file("/etc/ssl/certs/ca-certificates.crt", 16 << 20, &ca, &len, NULL) < 0)
        len = 0;
    return write_file(dir, "host-ca.crt", ca ? ca : "", len, err);
}

/* Images of older recipes go once the new one is there. */
static void remove_older(const struct sv_toolchain *t, const char *image)
{
    struct sv_image_entry *e = NULL;
    size_t n = 0;
    if (sv_image_list(&e, &n, NULL) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        for (char **k = e[i].names; k && *k; k++)
            if (is_family_name(t, *k) && strcmp(*k, image) != 0)
                sv_image_remove(*k, NULL, NULL);
    sv_image_entries_free(e, n);
}

static int build(const struct family *f, const char *image, const struct sv_toolchain_opts *o,
                 sv_error_t *err)
{
    const char *base = o->base ? o->base : SV_TOOLCHAIN_BASE;
    if (base_ensure(base, o->progress, err) < 0)
        return sv_error_wrap(err, "toolchain %s: the base %s", f->t.name, base);
    cleanup_free char *root = sv_xasprintf("%s/boards", sv_state_root());
    cleanup_free char *dir = sv_xasprintf("%s/context-%s-XXXXXX", root, f->t.name);
    if (sv_mkdir_p_mode(root, 0711, err) < 0)
        return -1;
    if (mkdtemp(dir) == NULL)
        return sv_error(err, errno, "cannot make %s", dir);
    cleanup_free char *base_arg = sv_xasprintf("BASE=%s", base);
    char *args[] = {base_arg, NULL};
    char *tags[] = {(char *)image, NULL};
    struct sv_build_opts b = {
        .context = dir,
        .tags = tags,
        .build_args = args,
        .no_cache = o->rebuild,
        .progress = o->progress,
    };
    if (o->progress) {
        fprintf(o->progress, "[toolchain] building %s (%s) from Debian's packages\n", image,
                f->t.name);
        fflush(o->progress);
    }
    char digest[SV_DIGEST_LEN + 1];
    int rc = write_context(f, dir, err);
    if (rc == 0)
        rc = sv_build_run(&b, digest, err);
    sv_rmtree(dir, NULL);
    if (rc < 0)
        return sv_error_wrap(err, "toolchain %s", f->t.name);
    remove_older(&f->t, image);
    return 0;
}

int sv_toolchain_ensure(const struct sv_toolchain *t, const struct sv_toolchain_opts *o,
                        char **image, sv_error_t *err)
{
    *image = NULL;
    if (t->host) {
        *image = sv_xstrdup("host");
        return 0;
    }
    if (t->unavailable)
        return sv_error(err, 0, "toolchain %s: not available on this system: %s", t->name,
                        t->unavailable);
    cleanup_free char *name = sv_toolchain_image(t);
    char digest[SV_DIGEST_LEN + 1];
    int found = o->rebuild ? 1 : sv_image_lookup(name, digest, err);
    if (found < 0)
        return -1;
    if (found > 0 && build(family_of(t), name, o, err) < 0)
        return -1;
    *image = sv_steal(name);
    return 0;
}

int sv_toolchain_remove(const struct sv_toolchain *t, const char *const *in_use, int *removed,
                        sv_error_t *err)
{
    *removed = 0;
    struct sv_image_entry *e = NULL;
    size_t n = 0;
    if (sv_image_list(&e, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        for (char **k = e[i].names; k && *k && rc == 0; k++)
            if (is_family_name(t, *k)) {
                rc = sv_image_remove(*k, in_use, err);
                *removed += rc == 0;
            }
    sv_image_entries_free(e, n);
    return rc;
}
