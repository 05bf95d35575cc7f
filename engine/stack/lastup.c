#include "stack/lastup.h"
#include "core/statedir.h"
#include "lua/load.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Write text to path through a temporary file and a rename. */
static int write_atomic(const char *path, const char *text, size_t len, sv_error_t *err)
{
    cleanup_free char *tmp = sv_xasprintf("%s.tmp", path);
    /* 0600: a request holds the caller's environment and source URL. */
    cleanup_fclose FILE *f = sv_fopen_mode(tmp, O_TRUNC, 0600);
    if (f == NULL)
        return sv_error(err, errno, "cannot write %s", tmp);
    fwrite(text, 1, len, f);
    /* Closed here, not at return: a write that failed shows in fclose. */
    if (fclose(sv_steal(f)) != 0 || rename(tmp, path) < 0)
        return sv_error(err, errno, "cannot write %s", path);
    return 0;
}

char *sv_lastup_pins(const char *stack)
{
    cleanup_free char *dir = sv_statedir_stack(stack);
    cleanup_free char *path = sv_xasprintf("%s/git.pins", dir);
    char *pins = NULL;
    sv_error_t err = NULL;
    if (sv_read_file(path, 1 << 20, &pins, NULL, &err) < 0)
        sv_error_free(&err); /* not from git */
    return pins;
}

int sv_lastup_save_pins(const char *stack, const char *pins, sv_error_t *err)
{
    if (sv_statedir_stack_make(stack, err) < 0)
        return -1;
    cleanup_free char *dir = sv_statedir_stack(stack);
    cleanup_free char *path = sv_xasprintf("%s/git.pins", dir);
    if (pins)
        return write_atomic(path, pins, strlen(pins), err);
    if (unlink(path) < 0 && errno != ENOENT)
        return sv_error(err, errno, "cannot remove %s", path);
    return 0;
}

int sv_lastup_save(const char *stack, const char *path, const char *project, const char *pins,
                   sv_error_t *err)
{
    if (sv_statedir_stack_make(stack, err) < 0)
        return -1;
    cleanup_free char *dir = sv_statedir_stack(stack);
    cleanup_free char *final = sv_xasprintf("%s/request", dir);
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
        return sv_error(err, errno, "getcwd");
    cleanup_free char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL)
        return sv_error(err, errno, "open_memstream");
    fprintf(f, "%s%c%s%c%s%c", path ? path : "", 0, project ? project : "", 0, cwd, 0);
    extern char **environ;
    for (char **e = environ; e && *e; e++)
        fprintf(f, "%s%c", *e, 0);
    /* Closed now: that sets buf and len. */
    fclose(f);
    /* The commits first: a supervisor reading the new request must find
     * the commits it was evaluated with. */
    if (sv_lastup_save_pins(stack, pins, err) < 0)
        return -1;
    return write_atomic(final, buf, len, err);
}

/* Evaluate path and project in cwd under env, as the saved request's
 * command did; back in / afterwards. */
static int load_in(const char *path, const char *project, const char *cwd, char **env,
                   struct sv_graph **g, sv_error_t *err)
{
    extern char **environ;
    char **saved = environ;
    environ = env ? env : (char *[]){NULL};
    int rc = -1;
    if (chdir(cwd) < 0)
        sv_error(err, errno, "cannot enter %s", cwd);
    else
        rc = sv_load_graph(*path ? path : NULL, *project ? project : NULL, g, err);
    environ = saved;
    if (chdir("/") < 0) {
        /* stays where it was */
    }
    return rc;
}

int sv_lastup_load(const char *stack, enum sv_git_policy policy, struct sv_graph **g,
                   sv_error_t *err)
{
    cleanup_free char *dir = sv_statedir_stack(stack);
    cleanup_free char *path = sv_xasprintf("%s/request", dir);
    cleanup_free char *buf = NULL;
    size_t len = 0;
    if (sv_read_file(path, 1 << 20, &buf, &len, err) < 0)
        return -1;
    /* path \0 project \0 cwd \0 env... (NUL-separated) */
    const char *f[3];
    size_t k = 0, i = 0;
    for (; k < 3 && i < len; k++) {
        f[k] = buf + i;
        i += strlen(buf + i) + 1;
    }
    if (k < 3)
        return sv_error(err, EINVAL, "%s is damaged", path);
    cleanup_free char **env = NULL;
    size_t n = 0;
    while (i < len) {
        env = sv_xrealloc(env, (n + 2) * sizeof(*env));
        env[n++] = buf + i;
        env[n] = NULL;
        i += strlen(buf + i) + 1;
    }
    cleanup_free char *pins = sv_lastup_pins(stack);
    sv_git_set_policy(policy, pins);
    return load_in(f[0], f[1], f[2], env, g, err);
}
