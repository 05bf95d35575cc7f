/* Building a stack's images at up (see stackbuild.h), through the same
 * builder as `servos build`. Services that share a build (same context,
 * file, args and target) share the work: the second finds it cached. */
#include "stack/stackbuild.h"

#include "build/build.h"

#include <stdio.h>
#include <stdlib.h>

static int build_one(const struct sv_service *s, bool force, sv_error_t *err)
{
    const struct sv_build_spec *b = s->build;
    char **args = sv_xcalloc(b->n_args + 1, sizeof(char *));
    for (size_t i = 0; i < b->n_args; i++)
        args[i] = sv_xasprintf("%s=%s", b->args[i].key, b->args[i].value);
    char *tags[] = {(char *)s->image, NULL};
    struct sv_build_opts o = {
        .context = b->context,
        .file = b->dockerfile,
        .tags = tags,
        .build_args = args,
        .target = b->target,
        .no_cache = force,
        .progress = stderr,
    };
    fprintf(stderr, "servos: service %s: building %s from %s\n", s->name, s->image, b->context);
    char digest[SV_DIGEST_LEN + 1];
    int rc = sv_build_run(&o, digest, err);
    sv_strv_free(args);
    if (rc < 0)
        return sv_error_wrap(err, "%s: service \"%s\": building its image", s->where, s->name);
    return 0;
}

int sv_stackbuild_run(const struct sv_graph *g, bool force, sv_error_t *err)
{
    for (size_t i = 0; i < g->n_services; i++)
        if (g->services[i].build && build_one(&g->services[i], force, err) < 0)
            return -1;
    return 0;
}
