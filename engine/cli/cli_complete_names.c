/* `servos __complete KIND` (hidden): what the bash completion offers at
 * the time of the <TAB>: containers, stacks, a stack's services, images.
 * It only reads the state root, and prints nothing where there is none. */
#include "cli/cli.h"
#include "cli/cli_compspec.h"
#include "core/statedir.h"
#include "core/store.h"
#include "core/util.h"
#include "image/imgstore.h"
#include "lua/load.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Does the state root hold rel? The completion never creates state. */
static bool state_has(const char *rel)
{
    cleanup_free char *p = sv_xasprintf("%s/%s", sv_state_root(), rel);
    return access(p, R_OK) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void words_add(char ***v, size_t *n, const char *w)
{
    if (w == NULL || w[0] == '\0' || !sv_compspec_shell_safe(w))
        return;
    *v = sv_xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = sv_xstrdup(w);
}

/* Print the words sorted, each once, and free them. */
static void words_print(char **v, size_t n)
{
    if (n > 0)
        qsort(v, n, sizeof(*v), cmp_str);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
            puts(v[i]);
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Every container's row; none where there is no store yet. */
static void store_rows(struct sv_ctr_row **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    if (!state_has("state.db"))
        return;
    cleanup_store struct sv_store *st = NULL;
    sv_error_t err = NULL;
    if (sv_store_open(&st, &err) < 0 || sv_store_list(st, rows, n, &err) < 0) {
        sv_error_free(&err);
        *rows = NULL;
        *n = 0;
    }
}

/* The directory a stack was brought up from, as a real path: its saved
 * request (sv_lastup_save: path, project and cwd, NUL-separated)
 * names what `up` read and where it ran. NULL for a git source or a path
 * that is gone. */
static char *stack_home(const char *stack)
{
    cleanup_free char *dir = sv_statedir_stack(stack);
    cleanup_free char *req = sv_xasprintf("%s/request", dir);
    cleanup_free char *buf = NULL;
    size_t len = 0;
    sv_error_t err = NULL;
    if (sv_read_file(req, 1 << 20, &buf, &len, &err) < 0) {
        sv_error_free(&err);
        return NULL;
    }
    size_t project = strnlen(buf, len) + 1;
    if (project >= len)
        return NULL;
    size_t cwd = project + strnlen(buf + project, len - project) + 1;
    if (cwd >= len)
        return NULL;
    const char *path = buf;
    cleanup_free char *full = path[0] == '\0'  ? sv_xstrdup(buf + cwd)
                              : path[0] == '/' ? sv_xstrdup(path)
                                               : sv_xasprintf("%s/%s", buf + cwd, path);
    char real[PATH_MAX];
    struct stat st;
    if (realpath(full, real) == NULL || stat(real, &st) < 0)
        return NULL;
    if (!S_ISDIR(st.st_mode)) {
        char *slash = strrchr(real, '/');
        if (slash == real)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
    }
    return sv_xstrdup(real);
}

static void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

/* Stacks the state knows: those with replicas, and those `up` recorded. */
static void stack_names(const struct sv_ctr_row *rows, size_t n, char ***v, size_t *k)
{
    for (size_t i = 0; i < n; i++)
        words_add(v, k, rows[i].stack);
    cleanup_free char *dir = sv_xasprintf("%s/stacks", sv_state_root());
    __attribute__((cleanup(closedirp))) DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!sv_load_valid_stack_name(de->d_name))
            continue;
        cleanup_free char *req = sv_xasprintf("stacks/%s/request", de->d_name);
        if (state_has(req))
            words_add(v, k, de->d_name);
    }
}

/* Without -p, a stack command is about the stack declared where it runs:
 * the completion takes the stacks brought up from this directory, which
 * needs no evaluation of the Envirofile (and no fetch of its imports). */
static bool stack_is_here(const char *stack, const char *here)
{
    cleanup_free char *home = stack_home(stack);
    return home && here && strcmp(home, here) == 0;
}

/* The images' names; none where there is no image store yet. */
static void image_names(char ***v, size_t *k)
{
    struct sv_image_entry *e = NULL;
    size_t m = 0;
    sv_error_t err = NULL;
    if (state_has("images/index.json") && sv_image_list(&e, &m, &err) == 0) {
        for (size_t i = 0; i < m; i++)
            for (char **name = e[i].names; name && *name; name++)
                words_add(v, k, *name);
        sv_image_entries_free(e, m);
    }
    sv_error_free(&err);
}

/* The services of stack, or without one (NULL), of the stacks brought up
 * from this directory. */
static void service_names(const struct sv_ctr_row *rows, size_t n, const char *stack, char ***v,
                          size_t *k)
{
    char here[PATH_MAX];
    bool have_here = stack == NULL && realpath(".", here) != NULL;
    cleanup_free char *checked = NULL; /* stacks already found here */
    cleanup_free char *elsewhere = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *s = rows[i].stack;
        if (s == NULL || s[0] == '\0' || !sv_compspec_shell_safe(s))
            continue;
        bool take;
        if (stack) {
            take = strcmp(s, stack) == 0;
        } else {
            cleanup_free char *pad = sv_xasprintf(" %s ", s);
            cleanup_free char *in = sv_xasprintf(" %s ", checked ? checked : "");
            cleanup_free char *out = sv_xasprintf(" %s ", elsewhere ? elsewhere : "");
            if (strstr(in, pad))
                take = true;
            else if (strstr(out, pad))
                take = false;
            else
                take = have_here && stack_is_here(s, here);
            sv_compspec_list_add(take ? &checked : &elsewhere, s, strlen(s));
        }
        if (take)
            words_add(v, k, rows[i].service);
    }
}

int sv_cmd_complete(int argc, char **argv)
{
    if (argc < 2 || argc > 3)
        return 2;
    const char *kind = argv[1];
    char **v = NULL;
    size_t k = 0;
    if (strcmp(kind, "images") == 0) {
        image_names(&v, &k);
        words_print(v, k);
        return 0;
    }
    struct sv_ctr_row *rows;
    size_t n;
    store_rows(&rows, &n);
    if (strcmp(kind, "containers") == 0) {
        for (size_t i = 0; i < n; i++)
            words_add(&v, &k, rows[i].name);
    } else if (strcmp(kind, "stacks") == 0) {
        stack_names(rows, n, &v, &k);
    } else if (strcmp(kind, "services") == 0) {
        service_names(rows, n, argc > 2 && argv[2][0] ? argv[2] : NULL, &v, &k);
    } else {
        sv_ctr_rows_free(rows, n);
        return 2;
    }
    sv_ctr_rows_free(rows, n);
    words_print(v, k);
    return 0;
}
