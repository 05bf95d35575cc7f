#include "lua/load.h"
#include "lua/memo.h"

#include "lua/extract.h"
#include "lua/roots.h"
#include "git/gitsrc.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const default_files[] = {
    "Envirofile.lua", "servos.yaml",         "servos.yml",         "compose.yaml",
    "compose.yml",    "docker-compose.yaml", "docker-compose.yml",
};

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static bool is_yaml(const char *name)
{
    return ends_with(name, ".yaml") || ends_with(name, ".yml");
}

static bool is_lua(const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    return ends_with(name, ".lua") || strcmp(base, "Envirofile") == 0;
}

bool sv_load_valid_stack_name(const char *name)
{
    if (!isalnum((unsigned char)name[0]) || strlen(name) > 63)
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.')
            return false;
    return true;
}

/* base made a valid stack name ("My App" -> "my-app"; "default" when
 * nothing is left). */
static char *stack_name_of(const char *base)
{
    char *out = sv_xmalloc(strlen(base) + 1);
    size_t n = 0;
    for (const char *c = base; *c && n < 63; c++) {
        int ch = tolower((unsigned char)*c);
        if (isalnum(ch) || ch == '_' || ch == '-')
            out[n++] = (char)ch;
        else if (n > 0 && out[n - 1] != '-')
            out[n++] = '-';
    }
    while (n > 0 && out[n - 1] == '-')
        n--;
    out[n] = '\0';
    if (n == 0 || !isalnum((unsigned char)out[0])) {
        free(out);
        return sv_xstrdup("default");
    }
    return out;
}

/* The stack name a directory gives: its real name, made valid. */
static char *stack_name_from_dir(const char *dir)
{
    cleanup_free char *abs = realpath(dir, NULL);
    const char *base = abs ? strrchr(abs, '/') : NULL;
    return stack_name_of(base && base[1] ? base + 1 : "default");
}

/* A git source's default stack name: the directory it names inside the
 * repository, else the repository's name ("envs.git" -> "envs"). */
static char *git_stack_name(const struct sv_git_source *src, bool is_dir)
{
    cleanup_free char *dir = is_dir ? sv_xstrdup(src->path) : sv_dirname(src->path);
    if (*dir && strcmp(dir, ".") != 0) {
        const char *slash = strrchr(dir, '/');
        return stack_name_of(slash ? slash + 1 : dir);
    }
    cleanup_free char *url = sv_xstrndup(src->key, (size_t)(strrchr(src->key, '#') - src->key));
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        url[--n] = '\0';
    if (n > 4 && strcmp(url + n - 4, ".git") == 0)
        url[n - 4] = '\0';
    const char *base = strrchr(url, '/');
    base = base ? base + 1 : url;
    const char *colon = strrchr(base, ':'); /* host:repo */
    return stack_name_of(colon ? colon + 1 : base);
}

static int eval_file(struct sv_lua *s, const char *path, sv_error_t *err)
{
    /* A repository's file that is a symlink out of it is not its file. */
    if (s->confine_all && !sv_roots_inside(s, path))
        return sv_error(err, 0, "%s leads out of the repository", path);
    if (is_lua(path))
        return sv_lua_run_envirofile(s, path, err);
    if (is_yaml(path))
        return sv_lua_run_yaml(s, path, err);
    return sv_error(err, 0,
                    "%s: unknown file type (expected an Envirofile.lua, or a .yaml or "
                    ".yml manifest)",
                    path);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of dir's Envirofile.lua and *.yaml / *.yml, sorted, in a
 * NULL-terminated array. */
static int input_files(const char *dir, char ***out, size_t *n, sv_error_t *err)
{
    cleanup_closedir DIR *d = opendir(dir);
    if (d == NULL)
        return sv_error(err, errno, "%s", dir);
    char **names = sv_xcalloc(1, sizeof(*names));
    struct dirent *de;
    *n = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (strcmp(de->d_name, "Envirofile.lua") != 0 && !is_yaml(de->d_name))
            continue;
        names = sv_xrealloc(names, (*n + 2) * sizeof(*names));
        names[(*n)++] = sv_xstrdup(de->d_name);
        names[*n] = NULL;
    }
    qsort(names, *n, sizeof(*names), cmp_names);
    *out = names;
    return 0;
}

static void strv_freep(char ***v)
{
    sv_strv_free(*v);
}

/* Every Envirofile.lua and *.yaml / *.yml of dir, Envirofile first. */
static int eval_dir(struct sv_lua *s, const char *dir, sv_error_t *err)
{
    __attribute__((cleanup(strv_freep))) char **names = NULL;
    size_t n = 0;
    if (input_files(dir, &names, &n, err) < 0)
        return -1;
    if (n == 0)
        return sv_error(err, 0, "%s: no Envirofile.lua, *.yaml or *.yml in this directory", dir);
    /* Envirofile.lua first: its stack "..." names the stack. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            bool envfile = strcmp(names[i], "Envirofile.lua") == 0;
            if (envfile != (pass == 0))
                continue;
            cleanup_free char *p = sv_join_path(dir, names[i]);
            if (eval_file(s, p, err) < 0)
                return -1;
        }
    return 0;
}

/* Evaluate path (a file or directory); a git source's files are confined
 * to its repository's tree (co). */
static int load_files(const char *path, const struct sv_git_source *git,
                      const struct sv_git_checkout *co, struct sv_graph **out, sv_error_t *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return sv_error(err, errno, "%s", path);
    bool is_dir = S_ISDIR(st.st_mode);
    cleanup_free char *dir = is_dir ? sv_xstrdup(path) : sv_dirname(path);
    /* Trailing slashes would make error positions read "dir//file". */
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dir[--dl] = '\0';

    struct sv_lua *s = NULL;
    if (sv_lua_new(&s, err) < 0)
        return -1;
    if (co) {
        sv_roots_add(s, co->root, co->label);
        s->confine_all = true;
    }
    int rc = is_dir ? eval_dir(s, dir, err) : eval_file(s, path, err);
    struct sv_graph *g = NULL;
    if (rc == 0) {
        cleanup_free char *name = git ? git_stack_name(git, is_dir) : stack_name_from_dir(dir);
        rc = sv_extract_graph(s, name, &g, err);
    }
    sv_roots_relabel(s, err);
    cleanup_free char *abs = realpath(path, NULL);
    if (rc == 0 && abs && !is_dir && git == NULL)
        sv_memo_save(abs, g->stack, &s->inputs);
    sv_lua_free(s);
    if (rc < 0)
        return -1;
    g->source = sv_graph_strdup(g, abs ? abs : path);
    *out = g;
    return 0;
}

/* The current directory's default file (sv_load_graph's path NULL). */
static const char *default_path(sv_error_t *err)
{
    for (size_t i = 0; i < SV_ARRAY_LEN(default_files); i++)
        if (access(default_files[i], F_OK) == 0)
            return default_files[i];
    sv_error(err, 0,
             "no Envirofile.lua, servos.yaml or compose.yaml in the current directory (name a "
             "file or directory)");
    return NULL;
}

int sv_load_graph(const char *path, const char *stack_override, struct sv_graph **out,
                  sv_error_t *err)
{
    if (stack_override && !sv_load_valid_stack_name(stack_override))
        return sv_error(err, 0,
                        "\"%s\" is not a valid stack name (letters, digits, \"_\", \"-\" "
                        "and \".\", starting with a letter or digit)",
                        stack_override);
    if (path == NULL && (path = default_path(err)) == NULL)
        return -1;
    struct sv_git_source src;
    struct sv_git_checkout co = {0};
    int git = sv_git_source_parse(path, &src, err);
    if (git < 0)
        return -1;
    if (git && sv_git_checkout(&src, "source", &co, err) < 0) {
        sv_git_source_free(&src);
        return -1;
    }
    int rc = load_files(git ? co.path : path, git ? &src : NULL, git ? &co : NULL, out, err);
    if (rc == 0 && git) {
        (*out)->source = sv_graph_strdup(*out, src.display);
        (*out)->commit = sv_graph_strdup(*out, co.commit);
    }
    sv_git_checkout_free(&co);
    if (git)
        sv_git_source_free(&src);
    if (rc == 0 && stack_override)
        (*out)->stack = sv_graph_strdup(*out, stack_override);
    if (rc == 0)
        sv_graph_name_builds(*out);
    return rc;
}

int sv_load_stack_name(char **stack, sv_error_t *err)
{
    const char *path = default_path(err);
    if (path == NULL)
        return -1;
    cleanup_free char *abs = realpath(path, NULL);
    if (abs && (*stack = sv_memo_stack(abs)) != NULL)
        return 0;
    cleanup_graph struct sv_graph *g = NULL;
    if (sv_load_graph(path, NULL, &g, err) < 0)
        return -1;
    *stack = sv_xstrdup(g->stack);
    return 0;
}
