/*
 * libqrencode's allocations on a bare-metal board, served by the arena (evt_malloc). The
 * arena has no realloc and does not tell a block's size, so each block carries its length in
 * a header; realloc is allocate + copy + free (qrencode grows its bit streams that way, a few
 * hundred bytes at a time).
 */
#include "evt_qrencode_alloc.h"

#include <stddef.h>
#include <stdint.h>

#include "evt/arena.h"

/* Undo the forced renames: this file implements them. */
#undef malloc
#undef calloc
#undef realloc
#undef free
#undef strdup

typedef union qr_block_header {
    size_t len;
    max_align_t align;
} qr_block_header;

void *evt_qr_malloc(size_t len)
{
    if (len > SIZE_MAX - sizeof(qr_block_header)) {
        return NULL;
    }
    qr_block_header *h = evt_malloc(sizeof *h + len);
    if (h == NULL) {
        return NULL;
    }
    h->len = len;
    return h + 1;
}

void *evt_qr_calloc(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size) {
        return NULL;
    }
    /* evt_malloc hands out zeroed memory (mbedTLS's calloc). */
    return evt_qr_malloc(count * size);
}

void evt_qr_free(void *ptr)
{
    if (ptr != NULL) {
        evt_free((qr_block_header *)ptr - 1);
    }
}

void *evt_qr_realloc(void *ptr, size_t len)
{
    if (ptr == NULL) {
        return evt_qr_malloc(len);
    }
    size_t old = ((qr_block_header *)ptr - 1)->len;
    void *grown = evt_qr_malloc(len);
    if (grown == NULL) {
        return NULL; /* the old block stays valid, as realloc promises */
    }
    memcpy(grown, ptr, old < len ? old : len);
    evt_qr_free(ptr);
    return grown;
}

char *evt_qr_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = evt_qr_malloc(n);
    if (copy != NULL) {
        memcpy(copy, s, n);
    }
    return copy;
}
