/*
 * HAL contract: persistent storage, modelled as NOR flash — the weakest medium any board has,
 * so code written against it is correct on eMMC files too.
 *
 * Semantics the firmware relies on:
 * - the area is size bytes, split in sectors of sector_size bytes (a power of two);
 * - erase sets a whole sector to 0xFF;
 * - program can only clear bits (1 -> 0); programming a byte twice ANDs the values;
 * - a power cut during program or erase may leave that range in any state, nothing else.
 */
#ifndef EVT_HAL_STORAGE_H
#define EVT_HAL_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"

typedef struct evt_hal_storage {
    void *ctx;
    uint32_t size;        /* bytes in the area given to the journal */
    uint32_t sector_size; /* erase unit */
    evt_err (*read)(void *ctx, uint32_t addr, void *buf, size_t len);
    /* Programs len bytes at addr (NOR rules above); durable when it returns EVT_OK. */
    evt_err (*program)(void *ctx, uint32_t addr, const void *data, size_t len);
    /* Erases the sector starting at addr (addr is sector aligned). */
    evt_err (*erase)(void *ctx, uint32_t addr);
} evt_hal_storage;

#endif /* EVT_HAL_STORAGE_H */
