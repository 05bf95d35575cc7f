#include "core/bulkmem.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void *sv_chunk_alloc(size_t size, bool huge)
{
    size = (size + SV_CHUNK_SIZE - 1) & ~(SV_CHUNK_SIZE - 1);
    /* Over-map by one chunk and trim, so the region is 2 MB aligned: only
     * aligned 2 MB ranges can become huge pages. */
    size_t span = size + SV_CHUNK_SIZE;
    char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *p = (char *)(((uintptr_t)raw + SV_CHUNK_SIZE - 1) & ~(uintptr_t)(SV_CHUNK_SIZE - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    if (raw + span > p + size)
        munmap(p + size, (size_t)(raw + span - (p + size)));
    if (huge)
        (void)madvise(p, size, MADV_HUGEPAGE); /* a hint; fine if THP is off */
    return p;
}

void sv_chunk_free(void *p, size_t size)
{
    if (p)
        munmap(p, (size + SV_CHUNK_SIZE - 1) & ~(SV_CHUNK_SIZE - 1));
}

struct sv_pool_chunk {
    struct sv_pool_chunk *next;
};

static size_t class_of(size_t n)
{
    return (n + SV_POOL_GRAIN - 1) / SV_POOL_GRAIN;
}

static void *pool_take(struct sv_pool *p, size_t n)
{
    size_t c = class_of(n);
    void *b = p->free_list[c];
    if (b) {
        p->free_list[c] = *(void **)b;
        return b;
    }
    size_t sz = c * SV_POOL_GRAIN;
    if (p->next == NULL || (size_t)(p->end - p->next) < sz) {
        struct sv_pool_chunk *ch = sv_chunk_alloc(SV_CHUNK_SIZE, p->chunks != NULL);
        if (ch == NULL)
            return NULL;
        ch->next = p->chunks;
        p->chunks = ch;
        p->next = (char *)ch + SV_POOL_GRAIN; /* the header keeps blocks aligned */
        p->end = (char *)ch + SV_CHUNK_SIZE;
    }
    b = p->next;
    p->next += sz;
    return b;
}

static void pool_give(struct sv_pool *p, void *b, size_t n)
{
    size_t c = class_of(n);
    *(void **)b = p->free_list[c];
    p->free_list[c] = b;
}

void *sv_pool_realloc(struct sv_pool *p, void *ptr, size_t osize, size_t nsize)
{
    size_t old = ptr ? osize : 0;
    bool old_small = ptr && old <= SV_POOL_MAX_SMALL;
    if (nsize == 0) {
        if (old_small)
            pool_give(p, ptr, old);
        else
            free(ptr);
        return NULL;
    }
    if (nsize > SV_POOL_MAX_SMALL) {
        if (ptr == NULL || !old_small)
            return realloc(ptr, nsize);
        void *n = malloc(nsize);
        if (n) {
            memcpy(n, ptr, old);
            pool_give(p, ptr, old);
        }
        return n;
    }
    if (old_small && class_of(old) == class_of(nsize))
        return ptr;
    void *n = pool_take(p, nsize);
    if (n && ptr) {
        memcpy(n, ptr, old < nsize ? old : nsize);
        if (old_small)
            pool_give(p, ptr, old);
        else
            free(ptr);
    }
    return n;
}

void sv_pool_release(struct sv_pool *p)
{
    for (struct sv_pool_chunk *c = p->chunks, *next; c; c = next) {
        next = c->next;
        sv_chunk_free(c, SV_CHUNK_SIZE);
    }
    memset(p, 0, sizeof(*p));
}
