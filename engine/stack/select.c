#include "stack/select.h"
#include "stack/rows.h"
#include "core/statedir.h"
#include "lua/load.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int sv_select_stack(const char *project, char **stack, sv_error_t *err)
{
    if (project) {
        if (!sv_load_valid_stack_name(project))
            return sv_error(err, EINVAL, "\"%s\" is not a valid stack name", project);
        *stack = sv_xstrdup(project);
        return 0;
    }
    if (sv_load_stack_name(stack, err) < 0)
        return sv_error_wrap(err, "which stack? give -p NAME, or run this where the stack's "
                                  "Envirofile is");
    return 0;
}

bool sv_select_exists(const char *stack)
{
    cleanup_free char *dir = sv_statedir_stack(stack);
    if (access(dir, F_OK) == 0)
        return true;
    cleanup_rows struct sv_rows rows = {0};
    sv_error_t err = NULL;
    if (sv_rows_list(NULL, stack, &rows, &err) < 0) {
        sv_error_free(&err);
        return false;
    }
    return rows.n > 0;
}

int sv_select_no_such(const char *stack, sv_error_t *err)
{
    cleanup_free char *root = sv_xasprintf("%s/stacks", sv_state_root());
    const char *names[256];
    size_t n = 0;
    cleanup_free char *list = sv_xstrdup("");
    cleanup_closedir DIR *d = opendir(root);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !sv_load_valid_stack_name(e->d_name))
            continue;
        char *next = sv_xasprintf("%s%s%s", list, *list ? ", " : "", e->d_name);
        free(list);
        list = next;
        if (n < SV_ARRAY_LEN(names))
            names[n++] = sv_xstrdup(e->d_name);
    }
    const char *near = sv_suggest(stack, names, n);
    if (*list == '\0')
        sv_error(err, 0, "no stack \"%s\": none is up here (servos up starts one)", stack);
    else
        sv_error(err, 0, "no stack \"%s\"%s%s%s (stacks here: %s)", stack,
                 near ? "; did you mean \"" : "", near ? near : "", near ? "\"?" : "", list);
    for (size_t i = 0; i < n; i++)
        free((char *)names[i]);
    return -1;
}

int sv_select_known_stack(const char *project, char **stack, sv_error_t *err)
{
    if (sv_select_stack(project, stack, err) < 0)
        return -1;
    if (project == NULL || sv_select_exists(*stack))
        return 0;
    free(*stack);
    *stack = NULL;
    return sv_select_no_such(project, err);
}
