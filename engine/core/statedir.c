/* Where a stack's files live under the state root (see core/statedir.h). */
#include "core/statedir.h"

#include "core/fs.h"
#include "core/store.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *sv_statedir_stack(const char *stack)
{
    return sv_xasprintf("%s/stacks/%s", sv_state_root(), stack);
}

int sv_statedir_stack_make(const char *stack, sv_error_t *err)
{
    cleanup_free char *d = sv_statedir_stack(stack);
    if (sv_mkdir_p_mode(d, 0700, err) < 0)
        return -1;
    struct stat st; /* made 0711 by older versions */
    if (lstat(d, &st) == 0 && (st.st_mode & 07777) != 0700 && chmod(d, 0700) < 0)
        return sv_error(err, errno, "cannot make %s private", d);
    return 0;
}

static char *binds_path(const char *stack)
{
    return sv_xasprintf("%s/binds/%s", sv_state_root(), stack);
}

char *sv_statedir_binds(const char *stack)
{
    char *d = binds_path(stack);
    sv_mkdir_p_mode(d, 0711, NULL);
    return d;
}

int sv_statedir_binds_remove(const char *stack, sv_error_t *err)
{
    cleanup_free char *d = binds_path(stack);
    return sv_rmtree(d, err);
}

void sv_statedir_binds_migrate(const char *stack)
{
    cleanup_free char *from = sv_statedir_stack(stack);
    cleanup_free char *to = sv_statedir_binds(stack);
    cleanup_closedir DIR *d = opendir(from);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, "hosts") != 0 && strncmp(e->d_name, "proserve-", 9) != 0 &&
            strncmp(e->d_name, "gateway-", 8) != 0)
            continue;
        cleanup_free char *a = sv_xasprintf("%s/%s", from, e->d_name);
        cleanup_free char *b = sv_xasprintf("%s/%s", to, e->d_name);
        if (access(b, F_OK) != 0 && rename(a, b) < 0)
            fprintf(stderr, "servos: cannot move %s to %s: %s\n", a, b, strerror(errno));
    }
}

char *sv_statedir_replica_name(const char *stack, const char *service, int n)
{
    return sv_xasprintf("%s-%s-%d", stack, service, n);
}

char *sv_statedir_replica_log(const char *stack, const char *service, int n)
{
    cleanup_free char *d = sv_statedir_stack(stack);
    return sv_xasprintf("%s/logs/%s-%d.log", d, service, n);
}

char *sv_statedir_volumes(const char *stack)
{
    return sv_xasprintf("%s/volumes/stacks/%s", sv_state_root(), stack);
}

char *sv_statedir_volume(const char *stack, const char *name)
{
    cleanup_free char *d = sv_statedir_volumes(stack);
    return sv_xasprintf("%s/%s", d, name);
}
