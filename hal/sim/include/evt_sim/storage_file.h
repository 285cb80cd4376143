/*
 * evt_sim_storage: evt_hal_storage as a file-backed NOR flash model.
 *
 * The file is the flash array: created (or extended from empty) filled with 0xFF; erase sets a
 * sector to 0xFF; program ANDs the new bytes into the old ones, as NOR cells can only go 1 -> 0.
 * Every program and erase is fdatasync'ed before returning EVT_OK, so "durable when it returns"
 * holds across a killed process.
 *
 * Strictness, so firmware bugs show on the host and not on the first real board:
 * out-of-range or wrapping ranges, and erase addresses that are not sector aligned, return
 * EVT_ERR_ARG and touch nothing.
 *
 * Power-cut injection: evt_sim_storage_inject_power_cut(st, n, mode, seed) lets the next n bytes
 * of program/erase work complete normally; the operation that crosses the budget is left partial
 * (see evt_sim_cut_mode), returns EVT_ERR_STORAGE_IO, and the device then refuses every further
 * program/erase with EVT_ERR_STORAGE_IO until it is closed and reopened ("power back on").
 * Reads keep working so a test can look at the damage before rebooting.
 */
#ifndef EVT_SIM_STORAGE_FILE_H
#define EVT_SIM_STORAGE_FILE_H

#include <stdbool.h>
#include <stdint.h>

#include "evt/hal_storage.h"

typedef enum evt_sim_cut_mode {
    /* The first k bytes of the interrupted operation are done, the rest untouched. */
    EVT_SIM_CUT_PREFIX,
    /* The first k bytes are done; every later byte of the range is left half-way: a random
     * subset of the bits the operation would change has changed (seeded, reproducible). */
    EVT_SIM_CUT_RANDOM_BITS,
} evt_sim_cut_mode;

typedef struct evt_sim_storage_stats {
    uint64_t programs;          /* program calls that returned EVT_OK */
    uint64_t erases;            /* erase calls that returned EVT_OK */
    uint64_t bytes_programmed;  /* bytes of successful programs */
    uint64_t program_conflicts; /* bytes programmed with a 1 over a 0 (could not be set) */
    uint32_t max_sector_erases; /* wear: erase count of the most erased sector */
    uint32_t power_cuts;        /* injected cuts that fired */
} evt_sim_storage_stats;

typedef struct evt_sim_storage evt_sim_storage;

/*
 * Opens (or creates) path as a flash of size bytes with sector_size sectors (power of two,
 * dividing size). An existing file must be exactly size bytes (EVT_ERR_ARG otherwise) or empty.
 * EVT_ERR_STORAGE_IO on file errors.
 */
evt_err evt_sim_storage_open(evt_sim_storage **out, const char *path, uint32_t size,
                             uint32_t sector_size);
void evt_sim_storage_close(evt_sim_storage *st);
const evt_hal_storage *evt_sim_storage_hal(evt_sim_storage *st);

/* Arms a power cut after budget_bytes more bytes of program/erase work (0: the next
 * program/erase does nothing at all and fails). Replaces any armed cut. */
void evt_sim_storage_inject_power_cut(evt_sim_storage *st, uint64_t budget_bytes,
                                      evt_sim_cut_mode mode, uint32_t seed);
void evt_sim_storage_disarm(evt_sim_storage *st);
/* True once an injected cut fired (until reopened). */
bool evt_sim_storage_is_cut(const evt_sim_storage *st);
void evt_sim_storage_get_stats(const evt_sim_storage *st, evt_sim_storage_stats *out);
/* Erase count of one sector (by index), 0 when out of range. Counts are per open. */
uint32_t evt_sim_storage_sector_erases(const evt_sim_storage *st, uint32_t sector_index);

#endif /* EVT_SIM_STORAGE_FILE_H */
