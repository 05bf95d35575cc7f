/* Lua's math (math.sin, x^y, a float's %, ...) is libm's, yet only
 * Envirofiles and Lua handlers ever call it. Linked, libm would be mapped
 * and its symbols resolved at the start of every servos command, `servos
 * run` above all, where it was a tenth of the peak memory. So the names
 * the Lua library calls are defined here, and each reaches libm, loaded
 * on its first call. libm is part of libc6: it cannot be missing where
 * servos runs, so failing to load it aborts (there is no error to return
 * from inside Lua's arithmetic). */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void *libm_symbol(const char *name)
{
    static void *libm;
    void *h = __atomic_load_n(&libm, __ATOMIC_ACQUIRE);
    if (h == NULL) {
        h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
        if (h != NULL)
            __atomic_store_n(&libm, h, __ATOMIC_RELEASE);
    }
    void *fn = h ? dlsym(h, name) : NULL;
    if (fn == NULL) {
        fprintf(stderr, "servos: cannot load %s from libm.so.6: %s\n", name, dlerror());
        abort();
    }
    return fn;
}

/* One pointer a function, filled on its first call (racing threads store
 * the same address). */
#define LIBM_CALL(name, type, ...)                                                                 \
    static type fn_;                                                                               \
    type f_ = __atomic_load_n(&fn_, __ATOMIC_RELAXED);                                             \
    if (f_ == NULL) {                                                                              \
        f_ = (type)libm_symbol(name);                                                              \
        __atomic_store_n(&fn_, f_, __ATOMIC_RELAXED);                                              \
    }                                                                                              \
    return f_(__VA_ARGS__)

typedef double (*libm_d_d)(double);
typedef double (*libm_d_dd)(double, double);
typedef double (*libm_d_dpi)(double, int *);
typedef double (*libm_d_di)(double, int);

#define LIBM_UNARY(name)                                                                           \
    double name(double x)                                                                          \
    {                                                                                              \
        LIBM_CALL(#name, libm_d_d, x);                                                             \
    }
#define LIBM_BINARY(name)                                                                          \
    double name(double x, double y)                                                                \
    {                                                                                              \
        LIBM_CALL(#name, libm_d_dd, x, y);                                                         \
    }

LIBM_UNARY(acos)
LIBM_UNARY(asin)
LIBM_UNARY(cos)
LIBM_UNARY(cosh)
LIBM_UNARY(exp)
LIBM_UNARY(log)
LIBM_UNARY(log10)
LIBM_UNARY(log2)
LIBM_UNARY(sin)
LIBM_UNARY(sinh)
LIBM_UNARY(sqrt)
LIBM_UNARY(tan)
LIBM_UNARY(tanh)
LIBM_BINARY(atan2)
LIBM_BINARY(fmod)
LIBM_BINARY(pow)

double frexp(double x, int *e)
{
    LIBM_CALL("frexp", libm_d_dpi, x, e);
}

double ldexp(double x, int e)
{
    LIBM_CALL("ldexp", libm_d_di, x, e);
}
