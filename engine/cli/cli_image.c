/* `servos image ls | import | pull | push | save | load | rm | prune`. */
#include "cli/cli.h"
#include "core/json.h"
#include "image/imgimport.h"
#include "image/imgload.h"
#include "image/imgsave.h"
#include "image/imgstore.h"
#include "image/registry.h"
#include "image/regpush.h"
#include "core/store.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char image_usage_text[] =
    "usage: servos image ls [-q] [--format table|json]\n"
    "       servos image import FILE|DIR [NAME]\n"
    "       servos image pull [-q] REF\n"
    "       servos image push [-q] REF [DEST]\n"
    "       servos image save [-o FILE] REF...\n"
    "       servos image load [-i FILE] [FILE]\n"
    "       servos image rm REF...\n"
    "       servos image prune\n"
    "\n"
    "The image store (under the state root's images/). Images are content\n"
    "addressed: each blob is verified against its sha256 digest before it is\n"
    "stored, and each layer is unpacked once and shared by every container.\n"
    "\n"
    "  ls      list images: name, digest, layers, size, age\n"
    "  import  a root file system tarball, a `docker save` archive, or an OCI\n"
    "          image layout (directory or tarball); NAME defaults to the\n"
    "          archive's own name (local names live under localhost/)\n"
    "  pull    from an OCI registry: alpine:3.20, registry:5000/team/app:1.4,\n"
    "          NAME@sha256:...; credentials from $SERVOS_CONFIG\n"
    "          (/etc/servos/config.json), $REGISTRY_AUTH_FILE or\n"
    "          ~/.docker/config.json; plain HTTP only for loopback registries\n"
    "          and those under \"insecure_registries\" in the servos config\n"
    "  push    to an OCI registry, as REF or as DEST (registry:5000/team/app:1.4):\n"
    "          blobs the registry has are skipped, blobs another repository of\n"
    "          it holds are mounted, the rest uploaded (in chunks of\n"
    "          \"push_chunk_size\" from the servos config, 64M by default, when\n"
    "          larger); the same credentials and plain-HTTP rule as pull;\n"
    "          prints the manifest's digest\n"
    "  save    images into one tar (to FILE, or to standard output when it is\n"
    "          not a terminal) that is both a docker-archive and an OCI\n"
    "          layout: docker load, podman load and skopeo read it\n"
    "  load    the images of a docker-archive (docker save, podman save), an\n"
    "          OCI archive or layout, compressed or not, from FILE or standard\n"
    "          input; every blob is checked before any is stored, so a\n"
    "          truncated or corrupt archive loads nothing\n"
    "  rm      drop a name (the image goes with its last name, or when given\n"
    "          by digest); an image a container uses is kept\n"
    "  prune   delete images without a name that no container uses, and every\n"
    "          blob and unpacked layer nothing needs\n"
    "\n"
    "  -q, --quiet          ls: digests only; pull, push: no progress\n"
    "  -o, --output FILE    save: where to write the archive\n"
    "  -i, --input FILE     load: the archive to read (\"-\": standard input)\n"
    "  -h, --help           show this help\n";

static int image_help(void)
{
    fputs(image_usage_text, stdout);
    return 0;
}

/* One line: what is wrong with `servos image SUB ...`, then its usage
 * line from the help above. Returns 2. */
static int image_misuse(const char *sub, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int image_misuse(const char *sub, const char *fmt, ...)
{
    fprintf(stderr, "servos image %s: ", sub);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    cleanup_free char *want = sv_xasprintf("servos image %s", sub);
    const char *line = strstr(image_usage_text, want);
    if (line)
        fprintf(stderr, "; usage: %.*s\n", (int)strcspn(line, "\n"), line);
    else
        fputc('\n', stderr);
    return 2;
}

/* The manifest digests containers in the store use. */
static char **digests_in_use(void)
{
    cleanup_store struct sv_store *st = NULL;
    sv_error_t err = NULL;
    if (sv_store_open(&st, &err) < 0) {
        sv_error_free(&err);
        return sv_xcalloc(1, sizeof(char *));
    }
    struct sv_ctr_row *rows = NULL;
    size_t n = 0;
    if (sv_store_list(st, &rows, &n, &err) < 0)
        sv_error_free(&err);
    char **v = sv_xcalloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        cleanup_json json_t *j = json_loads(rows[i].spec_json ? rows[i].spec_json : "", 0, NULL);
        const char *d = json_string_value(json_object_get(j, "image_digest"));
        if (d)
            v[k++] = sv_xstrdup(d);
    }
    sv_ctr_rows_free(rows, n);
    return v;
}

/* A size for people: "1.5 MB". */
static void human_size(int64_t b, char *out, size_t n)
{
    if (b >= 1000000000)
        snprintf(out, n, "%.1f GB", b / 1e9);
    else if (b >= 1000000)
        snprintf(out, n, "%.1f MB", b / 1e6);
    else
        snprintf(out, n, "%.1f kB", b / 1e3);
}

static int image_ls(int argc, char **argv)
{
    bool quiet = false, json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
            quiet = true;
        else if (!strcmp(argv[i], "--format=json") ||
                 (!strcmp(argv[i], "--format") && i + 1 < argc && !strcmp(argv[++i], "json")))
            json = true;
        else if (!strcmp(argv[i], "--format=table") || !strcmp(argv[i - 1], "--format"))
            ;
        else if (!strcmp(argv[i], "--format") || !strncmp(argv[i], "--format=", 9))
            return image_misuse("ls", "--format is table or json");
        else if (argv[i][0] == '-')
            return image_misuse("ls", "unknown option \"%s\"", argv[i]);
        else
            return image_misuse("ls", "takes no name (\"%s\"): it lists every image", argv[i]);
    }
    sv_error_t err = NULL;
    struct sv_image_entry *e;
    size_t n;
    if (sv_image_list(&e, &n, &err) < 0)
        return sv_error_report(&err);
    cleanup_json json_t *arr = json ? json_array() : NULL;
    if (!quiet && !json)
        printf("%-48s %-19s %6s %10s  %s\n", "NAME", "DIGEST", "LAYERS", "SIZE", "CREATED");
    for (size_t i = 0; i < n; i++) {
        struct sv_image img = {0};
        bool ok = sv_image_load(e[i].digest, &img, NULL) == 0;
        if (quiet) {
            printf("%s\n", e[i].digest);
        } else if (json) {
            json_t *names = json_array();
            for (char **p = e[i].names; *p; p++)
                json_array_append_new(names, json_string(*p));
            json_array_append_new(arr, json_pack("{s:s,s:o,s:I,s:I,s:I}", "digest", e[i].digest,
                                                 "names", names, "layers", (json_int_t)img.n_layers,
                                                 "size", (json_int_t)img.size, "created",
                                                 (json_int_t)e[i].created));
        } else {
            char size[32], when[32];
            human_size(img.size, size, sizeof(size));
            struct tm tm;
            time_t t = (time_t)e[i].created;
            strftime(when, sizeof(when), "%Y-%m-%d %H:%M", localtime_r(&t, &tm));
            const char *first = e[i].names[0] ? e[i].names[0] : "<none>";
            for (size_t k = 0; k == 0 || e[i].names[k]; k++)
                printf("%-48s %-19.19s %6zu %10s  %s\n", k ? e[i].names[k] : first, e[i].digest,
                       ok ? img.n_layers : 0, ok ? size : "?", when);
        }
        sv_image_clear(&img);
    }
    if (json) {
        sv_json_print(arr, stdout, SV_JSON_PRETTY);
    }
    sv_image_entries_free(e, n);
    return 0;
}

static int image_import(int argc, char **argv)
{
    if (argc < 2)
        return image_misuse("import", "which file or directory?");
    if (argc > 3)
        return image_misuse("import", "one FILE|DIR and at most one NAME");
    if (argv[1][0] == '-')
        return image_misuse("import", "unknown option \"%s\"", argv[1]);
    sv_error_t err = NULL;
    char digest[SV_DIGEST_LEN + 1];
    if (sv_import_image(argv[1], argc == 3 ? argv[2] : NULL, digest, &err) < 0)
        return sv_error_report(&err);
    printf("%s\n", digest);
    return 0;
}

static int image_pull(int argc, char **argv)
{
    bool quiet = false;
    const char *ref = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
            quiet = true;
        else if (argv[i][0] == '-')
            return image_misuse("pull", "unknown option \"%s\"", argv[i]);
        else if (ref)
            return image_misuse("pull", "one REF at a time");
        else
            ref = argv[i];
    }
    if (ref == NULL)
        return image_misuse("pull", "which image? (alpine:3.20, registry:5000/team/app:1.4, ...)");
    sv_error_t err = NULL;
    char digest[SV_DIGEST_LEN + 1];
    if (sv_registry_pull(ref, quiet, digest, &err) < 0)
        return sv_error_report(&err);
    printf("%s\n", digest);
    return 0;
}

static int image_push(int argc, char **argv)
{
    bool quiet = false;
    const char *args[2] = {NULL, NULL};
    int n = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
            quiet = true;
        else if (argv[i][0] == '-')
            return image_misuse("push", "unknown option \"%s\"", argv[i]);
        else if (n == 2)
            return image_misuse("push", "one REF and at most one DEST");
        else
            args[n++] = argv[i];
    }
    if (n == 0)
        return image_misuse("push", "which image? (servos image ls lists them)");
    sv_error_t err = NULL;
    char digest[SV_DIGEST_LEN + 1];
    if (sv_regpush_image(args[0], args[1], quiet, digest, &err) < 0)
        return sv_error_report(&err);
    printf("%s\n", digest);
    return 0;
}

/* The value of -o/--output/-i/--input at argv[*i] (both spellings,
 * "--output=FILE" too); NULL when argv[*i] is not that option. */
static const char *option_value(int argc, char **argv, int *i, const char *s, const char *l,
                                bool *missing)
{
    size_t n = strlen(l);
    *missing = false;
    if (!strncmp(argv[*i], l, n) && argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (strcmp(argv[*i], s) != 0 && strcmp(argv[*i], l) != 0)
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

static int image_save(int argc, char **argv)
{
    const char *out = NULL, *v;
    bool missing;
    cleanup_free const char **refs = sv_xcalloc((size_t)argc + 1, sizeof(char *));
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        if ((v = option_value(argc, argv, &i, "-o", "--output", &missing)))
            out = v;
        else if (missing)
            return image_misuse("save", "%s needs a FILE", argv[i]);
        else if (argv[i][0] == '-')
            return image_misuse("save", "unknown option \"%s\"", argv[i]);
        else
            refs[n++] = argv[i];
    }
    if (n == 0)
        return image_misuse("save", "which image(s)? (servos image ls lists them)");
    if ((out == NULL || !strcmp(out, "-")) && isatty(STDOUT_FILENO))
        return image_misuse("save", "not writing an archive to a terminal: -o FILE, or redirect");
    sv_error_t err = NULL;
    if (sv_imgsave(refs, n, out, &err) < 0)
        return sv_error_report(&err);
    return 0;
}

static int image_load(int argc, char **argv)
{
    const char *in = NULL, *v;
    bool missing;
    for (int i = 1; i < argc; i++) {
        if ((v = option_value(argc, argv, &i, "-i", "--input", &missing)) == NULL && missing)
            return image_misuse("load", "%s needs a FILE", argv[i]);
        if (v == NULL && argv[i][0] == '-' && strcmp(argv[i], "-") != 0)
            return image_misuse("load", "unknown option \"%s\"", argv[i]);
        if (in)
            return image_misuse("load", "one archive at a time");
        in = v ? v : argv[i];
    }
    if (in == NULL && isatty(STDIN_FILENO))
        return image_misuse("load", "which archive? (FILE, or one on standard input)");
    sv_error_t err = NULL;
    struct sv_imgload_image *imgs = NULL;
    size_t n = 0;
    if (sv_imgload(in ? in : "-", false, NULL, &imgs, &n, &err) < 0)
        return sv_error_report(&err);
    for (size_t i = 0; i < n; i++) {
        for (char **p = imgs[i].names; *p; p++)
            printf("Loaded image: %s\n", *p);
        if (imgs[i].names[0] == NULL)
            printf("Loaded image: %s\n", imgs[i].digest);
    }
    sv_imgload_free(imgs, n);
    return 0;
}

static int image_rm(int argc, char **argv)
{
    if (argc < 2)
        return image_misuse("rm", "which image? (servos image ls lists them)");
    if (argv[1][0] == '-')
        return image_misuse("rm", "unknown option \"%s\"", argv[1]);
    char **used = digests_in_use();
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        sv_error_t err = NULL;
        int r = sv_image_remove(argv[i], (const char *const *)used, &err);
        if (r < 0 && err && err->status == ENOENT) {
            fprintf(stderr, "servos image rm: no image \"%s\" (servos image ls lists them)\n",
                    argv[i]);
            sv_error_free(&err);
            rc = 1;
        } else if (r < 0)
            rc = sv_error_report(&err);
        else
            printf("%s\n", argv[i]);
    }
    sv_strv_free(used);
    return rc;
}

static int image_prune(int argc, char **argv)
{
    if (argc != 1)
        return image_misuse("prune", "%s \"%s\"",
                            argv[1][0] == '-' ? "unknown option" : "takes no name", argv[1]);
    char **used = digests_in_use();
    sv_error_t err = NULL;
    int64_t freed;
    int rc = sv_image_prune((const char *const *)used, &freed, &err);
    sv_strv_free(used);
    if (rc < 0)
        return sv_error_report(&err);
    char size[32];
    human_size(freed, size, sizeof(size));
    printf("freed %s\n", size);
    return 0;
}

int sv_cmd_image(int argc, char **argv)
{
    if (sv_cli_wants_help(argc, argv))
        return image_help();
    if (argc < 2) {
        fprintf(stderr, "servos image: which? ls, import, pull, push, save, load, rm or prune "
                        "(servos image --help "
                        "explains)\n");
        return 2;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } subs[] = {{"ls", image_ls},      {"list", image_ls},   {"import", image_import},
                {"pull", image_pull},  {"push", image_push}, {"save", image_save},
                {"load", image_load},  {"rm", image_rm},     {"remove", image_rm},
                {"prune", image_prune}};
    for (size_t i = 0; i < SV_ARRAY_LEN(subs); i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            return subs[i].fn(argc - 1, argv + 1);
    if (argv[1][0] == '-') {
        fprintf(stderr,
                "servos image: unknown option \"%s\"; usage: servos image "
                "ls|import|pull|push|save|load|rm|prune ... (servos image --help explains)\n",
                argv[1]);
        return 2;
    }
    const char *names[] = {"ls", "import", "pull", "push", "save", "load", "rm", "prune"};
    const char *near = sv_suggest(argv[1], names, SV_ARRAY_LEN(names));
    fprintf(stderr,
            "servos image: unknown command \"%s\"%s%s%s; it is ls, import, pull, push, save, load, "
            "rm or prune\n",
            argv[1], near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    return 2;
}
