/* Unit tests for the chunk source and the size-class pool behind the Lua
 * heap (engine/core/bulkmem.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/bulkmem.h"

static void test_chunk_is_aligned_and_zeroed(void **state)
{
    (void)state;
    unsigned char *p = sv_chunk_alloc(100, true);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % SV_CHUNK_SIZE, 0);
    for (size_t i = 0; i < SV_CHUNK_SIZE; i += 4096)
        assert_int_equal(p[i], 0);
    p[SV_CHUNK_SIZE - 1] = 1; /* the whole rounded-up chunk is ours */
    sv_chunk_free(p, 100);
}

static void test_pool_keeps_contents_across_realloc(void **state)
{
    (void)state;
    struct sv_pool pool = {0};
    char *p = sv_pool_realloc(&pool, NULL, 0, 10);
    memcpy(p, "0123456789", 10);
    p = sv_pool_realloc(&pool, p, 10, 12); /* same class: same block */
    assert_memory_equal(p, "0123456789", 10);
    p = sv_pool_realloc(&pool, p, 12, 300); /* bigger class */
    assert_memory_equal(p, "0123456789", 10);
    p = sv_pool_realloc(&pool, p, 300, 4000); /* to malloc */
    assert_memory_equal(p, "0123456789", 10);
    p = sv_pool_realloc(&pool, p, 4000, 20); /* back to the pool */
    assert_memory_equal(p, "0123456789", 10);
    assert_null(sv_pool_realloc(&pool, p, 20, 0));
    sv_pool_release(&pool);
}

static void test_pool_reuses_freed_blocks(void **state)
{
    (void)state;
    struct sv_pool pool = {0};
    void *a = sv_pool_realloc(&pool, NULL, 0, 40);
    sv_pool_realloc(&pool, a, 40, 0);
    void *b = sv_pool_realloc(&pool, NULL, 0, 33); /* same 48-byte class */
    assert_ptr_equal(a, b);
    void *c = sv_pool_realloc(&pool, NULL, 0, 48);
    assert_ptr_not_equal(b, c);
    sv_pool_release(&pool);
}

static void test_pool_spans_chunks(void **state)
{
    (void)state;
    struct sv_pool pool = {0};
    /* 3 chunks' worth of 512-byte blocks, each written in full. */
    size_t n = 3 * SV_CHUNK_SIZE / SV_POOL_MAX_SMALL;
    for (size_t i = 0; i < n; i++) {
        char *p = sv_pool_realloc(&pool, NULL, 0, SV_POOL_MAX_SMALL);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % SV_POOL_GRAIN, 0);
        memset(p, (int)i, SV_POOL_MAX_SMALL);
    }
    sv_pool_release(&pool);
    assert_null(pool.chunks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_is_aligned_and_zeroed),
        cmocka_unit_test(test_pool_keeps_contents_across_realloc),
        cmocka_unit_test(test_pool_reuses_freed_blocks),
        cmocka_unit_test(test_pool_spans_chunks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
