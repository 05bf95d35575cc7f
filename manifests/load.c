#include "load.h"

#include "../lua/extract.h"
#include "../lua/sandbox.h"

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

bool sv_valid_stack_name(const char *name)
{
    if (!isalnum((unsigned char)name[0]) || strlen(name) > 63)
        return false;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.')
            return false;
    return true;
}

char *sv_stack_name_from_dir(const char *dir)
{
    char *abs = realpath(dir, NULL);
    const char *base = abs ? strrchr(abs, '/') : NULL;
    base = base && base[1] ? base + 1 : "default";
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
    free(abs);
    if (n == 0 || !isalnum((unsigned char)out[0])) {
        free(out);
        return sv_xstrdup("default");
    }
    return out;
}

static int eval_file(struct sv_lua *s, const char *path, sv_error_t *err)
{
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

/* Every Envirofile.lua and *.yaml / *.yml of dir, Envirofile first. */
static int eval_dir(struct sv_lua *s, const char *dir, sv_error_t *err)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return sv_error(err, errno, "%s", dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (strcmp(de->d_name, "Envirofile.lua") != 0 && !is_yaml(de->d_name))
            continue;
        names = sv_xrealloc(names, (n + 1) * sizeof(*names));
        names[n++] = sv_xstrdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);
    int rc = 0;
    if (n == 0)
        rc = sv_error(err, 0, "%s: no Envirofile.lua, *.yaml or *.yml in this directory", dir);
    /* Envirofile.lua first: its stack "..." names the stack. */
    for (int pass = 0; pass < 2 && rc == 0; pass++)
        for (size_t i = 0; i < n && rc == 0; i++) {
            bool envfile = strcmp(names[i], "Envirofile.lua") == 0;
            if (envfile != (pass == 0))
                continue;
            char *p = sv_path_join(dir, names[i]);
            rc = eval_file(s, p, err);
            free(p);
        }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

int sv_load_graph(const char *path, const char *stack_override, struct sv_graph **out,
                  sv_error_t *err)
{
    if (stack_override && !sv_valid_stack_name(stack_override))
        return sv_error(err, 0,
                        "\"%s\" is not a valid stack name (letters, digits, \"_\", \"-\" "
                        "and \".\", starting with a letter or digit)",
                        stack_override);
    if (path == NULL) {
        for (size_t i = 0; i < SV_ARRAY_LEN(default_files) && path == NULL; i++)
            if (access(default_files[i], F_OK) == 0)
                path = default_files[i];
        if (path == NULL)
            return sv_error(err, 0,
                            "no Envirofile.lua, servos.yaml or compose.yaml in the "
                            "current directory (name a file or directory)");
    }
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
    int rc = is_dir ? eval_dir(s, dir, err) : eval_file(s, path, err);
    struct sv_graph *g = NULL;
    if (rc == 0) {
        cleanup_free char *name = sv_stack_name_from_dir(dir);
        rc = sv_extract_graph(s, name, &g, err);
    }
    sv_lua_free(s);
    if (rc < 0)
        return -1;
    if (stack_override)
        g->stack = sv_graph_strdup(g, stack_override);
    char *abs = realpath(path, NULL);
    g->source = sv_graph_strdup(g, abs ? abs : path);
    free(abs);
    *out = g;
    return 0;
}
