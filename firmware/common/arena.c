/* evt_arena over mbedTLS's buffer allocator; see arena.h for why. */
#include "evt/arena.h"

#include <stdint.h>

#include <cjson/cJSON.h>
#include <mbedtls/memory_buffer_alloc.h>
#include <mbedtls/platform.h>

static size_t arena_capacity;
/* Largest single request through evt_malloc/evt_calloc/cJSON since init or reset_peak (the
 * firmware's own buffers; mbedTLS allocates its record buffers directly). */
static size_t arena_largest;

static void *arena_take(size_t count, size_t size)
{
    if (size != 0 && count <= SIZE_MAX / size && count * size > arena_largest) {
        arena_largest = count * size;
    }
    return mbedtls_calloc(count, size);
}

static void *arena_cjson_malloc(size_t len)
{
    return arena_take(1, len);
}

void evt_arena_init(void *buf, size_t len)
{
    arena_capacity = len;
    arena_largest = 0;
    mbedtls_memory_buffer_alloc_init(buf, len);
    cJSON_Hooks hooks = {.malloc_fn = arena_cjson_malloc, .free_fn = mbedtls_free};
    cJSON_InitHooks(&hooks);
}

void *evt_malloc(size_t len)
{
    return arena_take(1, len);
}

void *evt_calloc(size_t count, size_t size)
{
    return arena_take(count, size);
}

void evt_free(void *ptr)
{
    mbedtls_free(ptr);
}

void evt_arena_get_stats(evt_arena_stats *out)
{
    size_t cur_used = 0, cur_blocks = 0, max_used = 0, max_blocks = 0;
    mbedtls_memory_buffer_alloc_cur_get(&cur_used, &cur_blocks);
    mbedtls_memory_buffer_alloc_max_get(&max_used, &max_blocks);
    out->capacity = arena_capacity;
    out->in_use = cur_used;
    out->blocks = cur_blocks;
    out->peak = max_used;
    out->peak_blocks = max_blocks;
    out->largest = arena_largest;
}

void evt_arena_reset_peak(void)
{
    mbedtls_memory_buffer_alloc_max_reset();
    arena_largest = 0;
}
