#include "core/dynlib.h"

#include <dlfcn.h>

int sv_dynlib_load(void **handle, const char *soname, const char *const *names, void **slots,
                   size_t n, const char *why, sv_error_t *err)
{
    if (*handle)
        return 0;
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return sv_error(err, 0, "cannot load %s %s: %s", soname, why, dlerror());
    for (size_t i = 0; i < n; i++) {
        slots[i] = dlsym(h, names[i]);
        if (slots[i] == NULL) {
            dlclose(h);
            return sv_error(err, 0, "%s lacks %s", soname, names[i]);
        }
    }
    *handle = h;
    return 0;
}
