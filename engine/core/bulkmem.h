/* Memory for short-lived bulk data: the Lua heap of one evaluation and the
 * service graph's arena. It comes from 2 MB-aligned chunks that the kernel
 * may back with transparent huge pages (MADV_HUGEPAGE): on a virtual
 * machine a 4 KB page fault costs ~10 µs, and 10,000 services touch ~30 MB,
 * so ordinary malloc spends most of `servos config` faulting pages in.
 * Chunks come zeroed from the kernel and go back with munmap. */
#ifndef SV_BULKMEM_H
#define SV_BULKMEM_H

#include <stdbool.h>
#include <stddef.h>

#define SV_CHUNK_SIZE ((size_t)2 << 20)

/* A zeroed region of at least size bytes (rounded up to SV_CHUNK_SIZE),
 * or NULL when the address space is exhausted. huge: ask for huge pages.
 * Callers do for all but their first chunk: a small Envirofile's whole
 * evaluation fits in the first, and one huge page is 2 MB for the kernel
 * to zero and to count in the RSS (`servos ps` took 3.0 ms with a huge
 * first chunk and 2.4 ms without, tests/bench/cli.sh's setup, alternated);
 * only big graphs reach a second chunk. */
void *sv_chunk_alloc(size_t size, bool huge);
void sv_chunk_free(void *p, size_t size);

/* A pool of small blocks in size classes, for allocators that are told the
 * old size on free and realloc (like Lua's): no per-block header, free
 * blocks kept on per-class lists, everything released at once. */
#define SV_POOL_MAX_SMALL 512
#define SV_POOL_GRAIN     16

struct sv_pool_chunk;

struct sv_pool {
    struct sv_pool_chunk *chunks;
    char *next, *end; /* bump region of the newest chunk */
    void *free_list[SV_POOL_MAX_SMALL / SV_POOL_GRAIN + 1];
};

/* Lua-style allocation: osize is the old size when ptr != NULL; nsize 0
 * frees. Large blocks go to malloc. Returns NULL on failure (or free). */
void *sv_pool_realloc(struct sv_pool *p, void *ptr, size_t osize, size_t nsize);
/* Release every chunk; blocks still allocated from malloc are not tracked. */
void sv_pool_release(struct sv_pool *p);

#endif
