/* Loads libmnl on first use (see net/mnl.h). */
#define SV_MNL_LOADER
#include "net/mnl.h"

#include "core/dynlib.h"

struct sv_mnl sv_mnl;

int sv_mnl_load(sv_error_t *err)
{
    static void *libmnl;
    static const char *const names[] = {
#define SV_MNL_NAME(f) #f,
        SV_MNL_FUNCTIONS(SV_MNL_NAME)
#undef SV_MNL_NAME
    };
    _Static_assert(sizeof(sv_mnl) == SV_ARRAY_LEN(names) * sizeof(void *),
                   "one name per libmnl function");
    return sv_dynlib_load(&libmnl, "libmnl.so.0", names, (void **)&sv_mnl, SV_ARRAY_LEN(names),
                          "for container networks (apt install libmnl0)", err);
}
