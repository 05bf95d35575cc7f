/* Loads libgit2 on first use (see git/git2.h). */
#define SV_GIT2_LOADER
#include "git/git2.h"

#include "core/dynlib.h"

#include <stdlib.h>

struct sv_git2 sv_git2;
static void *libgit2;

static void git2_shutdown(void)
{
    sv_git2.git_libgit2_shutdown();
}

int sv_git2_load(sv_error_t *err)
{
    if (libgit2)
        return 0;
    static const char *const names[] = {
#define SV_GIT2_NAME(f) #f,
        SV_GIT2_FUNCTIONS(SV_GIT2_NAME)
#undef SV_GIT2_NAME
    };
    _Static_assert(sizeof(sv_git2) == SV_ARRAY_LEN(names) * sizeof(void *),
                   "one name per libgit2 function");
    if (sv_dynlib_load(&libgit2, "libgit2.so." LIBGIT2_SOVERSION, names, (void **)&sv_git2,
                       SV_ARRAY_LEN(names), "for git sources (apt install libgit2-1.5)", err) < 0)
        return -1;
    sv_git2.git_libgit2_init();
    atexit(git2_shutdown);
    return 0;
}

bool sv_git2_loaded(void)
{
    return libgit2 != NULL;
}
