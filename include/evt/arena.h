/*
 * evt_arena: the firmware's only heap — one fixed buffer given by the board at start-up.
 *
 * Built on mbedTLS's buffer allocator (MBEDTLS_MEMORY_BUFFER_ALLOC_C) rather than written
 * here: it is audited, already needed by mbedTLS/PSA, and reports current and peak use
 * (MBEDTLS_MEMORY_DEBUG). evt_arena_init also routes cJSON's allocations into it, so every
 * dynamic byte the firmware uses is bounded by the buffer and measurable.
 *
 * Not thread-safe: the firmware runs one main loop.
 */
#ifndef EVT_ARENA_H
#define EVT_ARENA_H

#include <stddef.h>

typedef struct evt_arena_stats {
    size_t capacity;    /* bytes given to evt_arena_init */
    size_t in_use;      /* bytes allocated now (payload, excluding allocator headers) */
    size_t peak;        /* highest in_use since init or evt_arena_reset_peak */
    size_t blocks;      /* live allocations now */
    size_t peak_blocks; /* highest live allocations */
    size_t largest;     /* largest single firmware allocation (evt_malloc/evt_calloc/cJSON)
                         * since init or evt_arena_reset_peak; mbedTLS's own not counted */
} evt_arena_stats;

/* Takes over buf (must outlive all use of the firmware). Call once, before anything else. */
void evt_arena_init(void *buf, size_t len);
void *evt_malloc(size_t len);
void *evt_calloc(size_t count, size_t size);
void evt_free(void *ptr);
void evt_arena_get_stats(evt_arena_stats *out);
void evt_arena_reset_peak(void);

#endif /* EVT_ARENA_H */
