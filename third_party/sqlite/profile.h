/* Compiled into sqlite3.c (with -include) by `make hotlist` only: with
 * -finstrument-functions, every function entered calls the hook below,
 * which keeps the first entry of each, in order. At exit the process
 * appends their addresses (relative to the ELF header, so the same as
 * nm's in a PIE) to $SERVOS_HOTLIST. hotlist.sh turns them into names. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define HOT_SLOTS 8192
extern const char __ehdr_start[];
static uintptr_t hot_seen[HOT_SLOTS], hot_order[HOT_SLOTS];
static unsigned hot_count;

__attribute__((no_instrument_function, destructor)) static void hot_dump(void)
{
    const char *path = getenv("SERVOS_HOTLIST");
    if (path == NULL || hot_count == 0)
        return;
    FILE *f = fopen(path, "ae");
    if (f == NULL)
        return;
    for (unsigned i = 0; i < hot_count; i++)
        fprintf(f, "%016lx\n", (unsigned long)hot_order[i]);
    fclose(f);
    hot_count = 0;
}

__attribute__((no_instrument_function)) void __cyg_profile_func_enter(void *fn, void *site)
{
    uintptr_t a = (uintptr_t)fn - (uintptr_t)__ehdr_start;
    unsigned h = (unsigned)(a >> 4) % HOT_SLOTS;
    while (hot_seen[h] != 0 && hot_seen[h] != a)
        h = (h + 1) % HOT_SLOTS;
    if (hot_seen[h] == a || hot_count == HOT_SLOTS - 1)
        return;
    hot_seen[h] = a;
    hot_order[hot_count++] = a;
    (void)site;
}

__attribute__((no_instrument_function)) void __cyg_profile_func_exit(void *fn, void *site)
{
    (void)fn, (void)site;
}
