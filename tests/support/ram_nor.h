/*
 * evt_ram_nor: an in-memory evt_hal_storage with NOR flash semantics, for unit tests and
 * benchmarks — programming only clears bits, erase sets a sector to 0xFF — plus what real
 * flash cannot give a test: power cuts at an exact byte, bit flips, and counters.
 *
 * Power-cut model: every programmed byte is one "unit", every sector erase is one unit.
 * evt_ram_nor_arm_cut(nor, k, ...) lets k units complete; unit k is torn and the device
 * then behaves as powered off (every call fails with EVT_ERR_STORAGE_IO) until
 * evt_ram_nor_power_on — which is the test's "reboot".
 * A torn program leaves the byte being written (and, depending on the mode, the rest of that
 * call's range) partly programmed; a torn erase leaves the sector partly erased.
 */
#ifndef EVT_RAM_NOR_H
#define EVT_RAM_NOR_H

#include <stdbool.h>
#include <stdint.h>

#include "evt/hal_storage.h"

typedef enum evt_ram_nor_cut_mode {
    /* Physical byte-serial NOR: bytes before the cut done, the cut byte has a random subset
     * of its bits cleared, later bytes untouched. A torn erase: a random part at the head
     * or at the tail of the sector erased, the rest untouched. */
    EVT_RAM_NOR_CUT_PREFIX,
    /* Page-parallel programming: every byte of the torn call from the cut on has a random
     * subset of its intended 1->0 bits; a torn erase sets random bits across the sector. */
    EVT_RAM_NOR_CUT_SCATTER,
    /* The HAL contract's worst case, "any state": the rest of the torn range (program) or
     * the whole sector (erase) becomes random bytes. */
    EVT_RAM_NOR_CUT_RANDOM,
} evt_ram_nor_cut_mode;

typedef struct evt_ram_nor {
    evt_hal_storage hal; /* pass &nor->hal to the code under test */
    uint8_t *mem;
    uint32_t size;
    uint32_t sector_size;
    uint32_t *sector_erases; /* per sector, since init */

    uint64_t units; /* programmed bytes + erases, since init */
    uint64_t bytes_programmed;
    uint64_t bytes_read;
    uint32_t program_calls;
    uint32_t erase_calls;
    /* Bytes where a program asked for a 1 over a 0 (NOR cannot do it; the result is the
     * AND). Code that respects the erase-before-write rule keeps this at 0. */
    uint32_t overprogram_bytes;

    bool cut_armed;
    uint64_t cut_at_unit; /* absolute value of `units` at which the cut happens */
    evt_ram_nor_cut_mode cut_mode;
    uint32_t rng;
    bool powered_off;
    uint32_t cuts; /* power cuts that happened */
} evt_ram_nor;

/* Allocates size bytes (a multiple of sector_size), all 0xFF. EVT_ERR_ARG / EVT_ERR_NOMEM. */
evt_err evt_ram_nor_init(evt_ram_nor *nor, uint32_t size, uint32_t sector_size);
void evt_ram_nor_free(evt_ram_nor *nor);

/* The power cut tears the unit after `after_units` more units have completed. */
void evt_ram_nor_arm_cut(evt_ram_nor *nor, uint64_t after_units, evt_ram_nor_cut_mode mode,
                         uint32_t seed);
void evt_ram_nor_disarm(evt_ram_nor *nor);
/* Power back on after a cut (and disarm): the next calls work again. */
void evt_ram_nor_power_on(evt_ram_nor *nor);

/* Flips one bit (either direction), as retention loss or a disturbed cell would. */
void evt_ram_nor_flip_bit(evt_ram_nor *nor, uint32_t addr, unsigned bit);
/* Fills the whole area with bytes from a seeded generator (foreign data, no erase). */
void evt_ram_nor_fill_random(evt_ram_nor *nor, uint32_t seed);

/* Copies the whole memory image out / back in (test snapshots; counters untouched). */
void evt_ram_nor_save(const evt_ram_nor *nor, uint8_t *image);
void evt_ram_nor_load(evt_ram_nor *nor, const uint8_t *image);

#endif /* EVT_RAM_NOR_H */
