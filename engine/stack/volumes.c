/* A stack's volumes are one directory, <root>/volumes/stacks/<stack>: named
 * ones at <name> in it, anonymous ones at .anon/<service>/<replica>-<index>.
 * Names hold no "/" and start with a letter or digit, so no two (stack,
 * volume) pairs share a directory, and `down -v` removes exactly that one.
 *
 * Older versions joined the names: <root>/volumes/<stack>_<name> (and
 * <stack>_anon_<service>_<n>_<i>), which stack "va" with volume "b_c" and
 * stack "va_b" with volume "c" both read as volumes/va_b_c. "stacks" holds
 * no "_", so no such old directory can be mistaken for the new layout. An
 * old directory is moved into the new layout when the stack next uses it,
 * if no other stack here could have made it: every other split of its name
 * at a "_" must name a stack that has neither state nor new-layout volumes
 * on this host. Otherwise the stack refuses to start the service and says
 * where to move the directory. (A stack that was down, volumes kept, when
 * servos was updated leaves no trace but that directory: an old directory
 * whose name also splits into such a stack's is taken by the first of the
 * two to come up, as the old version would have shared it.) */
#include "stack/volumes.h"
#include "core/fs.h"
#include "core/statedir.h"
#include "core/store.h"
#include "host/userns.h"
#include "lua/load.h"
#include "runtime/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *anon_volume_dir(const char *stack, const char *service, int n, size_t i)
{
    cleanup_free char *d = sv_statedir_volumes(stack);
    return sv_xasprintf("%s/.anon/%s/%d-%zu", d, service, n, i);
}

static char *legacy_volume_dir(const char *stack, const char *service, const char *name, int n,
                               size_t i)
{
    if (name)
        return sv_xasprintf("%s/volumes/%s_%s", sv_state_root(), stack, name);
    return sv_xasprintf("%s/volumes/%s_anon_%s_%d_%zu", sv_state_root(), stack, service, n, i);
}

/* Another stack that could own the old-layout directory base, or NULL. */
static char *legacy_other_owner(const char *stack, const char *base)
{
    size_t sl = strlen(stack);
    for (const char *u = strchr(base, '_'); u; u = strchr(u + 1, '_')) {
        size_t len = (size_t)(u - base);
        if (len == sl && strncmp(base, stack, sl) == 0)
            continue;
        char *cand = sv_xstrndup(base, len);
        cleanup_free char *state = sv_statedir_stack(cand);
        cleanup_free char *vols = sv_statedir_volumes(cand);
        if (sv_load_valid_stack_name(cand) && (access(state, F_OK) == 0 || access(vols, F_OK) == 0))
            return cand;
        free(cand);
    }
    return NULL;
}

/* dir (new layout) for a volume of stack: the old directory moved in when
 * it is unambiguously this stack's, an error when it is not. */
static int take_legacy_volume(const char *stack, const char *legacy, const char *dir,
                              sv_error_t *err)
{
    struct stat st;
    if (lstat(dir, &st) == 0 || lstat(legacy, &st) < 0 || !S_ISDIR(st.st_mode))
        return 0;
    const char *base = strrchr(legacy, '/') + 1;
    cleanup_free char *other = legacy_other_owner(stack, base);
    if (other)
        return sv_error(err, 0,
                        "%s was made by an older servos for stack \"%s\" or for stack \"%s\", "
                        "which cannot be told apart: move it to %s if it is %s's, or to "
                        "%s/volumes/stacks/%s/%s if it is %s's",
                        legacy, stack, other, dir, stack, sv_state_root(), other,
                        base + strlen(other) + 1, other);
    cleanup_free char *parent = sv_dirname(dir);
    if (sv_mkdir_p_mode(parent, 0711, err) < 0)
        return -1;
    if (rename(legacy, dir) < 0)
        return sv_error(err, errno, "cannot move %s to %s", legacy, dir);
    return 0;
}

int sv_volumes_remove(const char *stack, const struct sv_graph *g, sv_error_t *err)
{
    int rc = 0;
    /* Old-layout directories of the graph's volumes (replicas that were
     * never restarted since the update) that are unambiguously ours. */
    for (size_t k = 0; g && k < g->n_services; k++) {
        const struct sv_service *s = &g->services[k];
        for (size_t i = 0; i < s->n_mounts; i++) {
            if (s->mounts[i].type != SV_MOUNT_VOLUME)
                continue;
            for (int n = 1; n <= (s->mounts[i].source ? 1 : s->replicas); n++) {
                cleanup_free char *legacy =
                    legacy_volume_dir(stack, s->name, s->mounts[i].source, n, i);
                cleanup_free char *other = legacy_other_owner(stack, strrchr(legacy, '/') + 1);
                if (other == NULL && access(legacy, F_OK) == 0 && sv_rmtree(legacy, err) < 0)
                    rc = -1;
            }
        }
    }
    cleanup_free char *dir = sv_statedir_volumes(stack);
    if (sv_rmtree(dir, err) < 0)
        rc = -1;
    return rc;
}

/* Container root must own a new named volume (it is an unprivileged uid).
 * volumes/ is root's and the containers' group's only (see
 * sv_rootfs_guard_dir), and the volume is handed over through its own
 * descriptor, never by a path a link could redirect. */
static int make_volume(const char *dir, const struct sv_service *s, sv_error_t *err)
{
    cleanup_free char *parent = sv_dirname(dir);
    cleanup_free char *top = sv_xasprintf("%s/volumes", sv_state_root());
    /* volumes/ is root's and the containers' group's; container root
     * traverses the stack's directory below it. */
    if (sv_rootfs_guard_dir(top, err) < 0 || sv_mkdir_p_mode(parent, 0711, err) < 0)
        return -1;
    if (mkdir(dir, 0755) < 0) {
        if (errno == EEXIST)
            return 0;
        return sv_error(err, errno, "cannot create volume %s", dir);
    }
    if (strcmp(s->userns, "host") != 0) {
        struct sv_idmap map;
        if (sv_userns_range(&map, err) < 0)
            return -1;
        cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || fchown(fd, map.uid_base, map.gid_base) < 0)
            return sv_error(err, errno, "cannot hand volume %s to container root", dir);
    }
    return 0;
}

char *sv_volumes_prepare(const struct sv_graph *g, const struct sv_service *s, int n, size_t i,
                         sv_error_t *err)
{
    const struct sv_mount *m = &s->mounts[i];
    cleanup_free char *dir = m->source ? sv_statedir_volume(g->stack, m->source)
                                       : anon_volume_dir(g->stack, s->name, n, i);
    cleanup_free char *legacy = legacy_volume_dir(g->stack, s->name, m->source, n, i);
    if (take_legacy_volume(g->stack, legacy, dir, err) < 0 || make_volume(dir, s, err) < 0)
        return NULL;
    return sv_steal(dir);
}
