#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arena_fixture.h"
#include "evt/arena.h"

static unsigned char arena_fixture_buf[ARENA_FIXTURE_BYTES];

void arena_fixture_init(void)
{
    evt_arena_init(arena_fixture_buf, sizeof arena_fixture_buf);
}

int arena_fixture_setup(void **state)
{
    (void)state;
    evt_arena_stats st;
    evt_arena_get_stats(&st);
    assert_int_equal(st.in_use, 0);
    return 0;
}

int arena_fixture_teardown(void **state)
{
    (void)state;
    evt_arena_stats st;
    evt_arena_get_stats(&st);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.blocks, 0);
    return 0;
}

int arena_fixture_teardown_over(void *buf, size_t len)
{
    evt_arena_stats st;
    evt_arena_get_stats(&st);
    if (st.in_use != 0 || st.blocks != 0) {
        evt_arena_init(buf, len);
        fail_msg("arena not returned: %zu bytes in %zu blocks still taken", st.in_use, st.blocks);
    }
    return 0;
}

size_t arena_fixture_exhaust(void *hog[ARENA_FIXTURE_HOG_MAX])
{
    evt_arena_stats st;
    evt_arena_get_stats(&st);
    size_t count = 0;
    size_t chunk = st.capacity / 2;
    while (count < ARENA_FIXTURE_HOG_MAX && chunk >= 16) {
        void *p = evt_malloc(chunk);
        if (p != NULL) {
            hog[count++] = p;
        } else {
            chunk /= 2;
        }
    }
    return count;
}

void arena_fixture_release(void *hog[], size_t count)
{
    while (count > 0) {
        evt_free(hog[--count]);
    }
}
