/* evt_arena: the bounded heap and its figures; cJSON draws from it too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "evt/arena.h"

static unsigned char arena[16 * 1024] __attribute__((aligned(16)));

static int setup(void **state)
{
    (void)state;
    evt_arena_init(arena, sizeof arena);
    return 0;
}

static void stats_follow_allocations(void **state)
{
    (void)state;
    evt_arena_stats st;
    evt_arena_get_stats(&st);
    assert_int_equal(st.capacity, sizeof arena);
    assert_int_equal(st.in_use, 0);
    void *a = evt_malloc(1000);
    void *b = evt_calloc(10, 100);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(((uintptr_t)a % 8) == 0); /* 64-bit fields in arena structs */
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(((unsigned char *)b)[i], 0);
    }
    evt_arena_get_stats(&st);
    assert_int_equal(st.in_use, 2000);
    assert_int_equal(st.blocks, 2);
    evt_free(a);
    evt_free(b);
    evt_arena_get_stats(&st);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.peak, 2000);
    evt_arena_reset_peak();
    evt_arena_get_stats(&st);
    assert_int_equal(st.peak, 0);
}

static void exhaustion_returns_null(void **state)
{
    (void)state;
    assert_null(evt_malloc(sizeof arena));
    void *blocks[64];
    int n = 0;
    while (n < 64 && (blocks[n] = evt_malloc(1024)) != NULL) {
        n++;
    }
    assert_true(n > 4 && n < 16); /* bounded by the 16 KiB buffer */
    while (n > 0) {
        evt_free(blocks[--n]);
    }
    evt_arena_stats st;
    evt_arena_get_stats(&st);
    assert_int_equal(st.in_use, 0);
}

static void cjson_uses_the_arena(void **state)
{
    (void)state;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "k", "v");
    evt_arena_stats st;
    evt_arena_get_stats(&st);
    assert_true(st.in_use > 0);
    cJSON_Delete(o);
    evt_arena_get_stats(&st);
    assert_int_equal(st.in_use, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(stats_follow_allocations, setup),
        cmocka_unit_test_setup(exhaustion_returns_null, setup),
        cmocka_unit_test_setup(cjson_uses_the_arena, setup),
    };
    return cmocka_run_group_tests_name("arena", tests, NULL, NULL);
}
