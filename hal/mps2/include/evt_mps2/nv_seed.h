/*
 * evt_mps2_nv_seed: the storage of mbedTLS's NV seed (MBEDTLS_ENTROPY_NV_SEED) in two flash
 * sectors of its own, next to the journal.
 *
 * mbedTLS reads the seed into its entropy pool on the first use of the entropy module and
 * writes a fresh seed, drawn from the pool, right away — so every boot that starts the crypto
 * platform rewrites it, and a board never starts twice from the same seed. Each write goes
 * to the sector not holding the newest record (erase, then program magic, counter, seed and
 * a SHA-256 check), so a power cut during the update leaves the previous seed readable.
 *
 * No valid record at all (a blank chip that the factory did not seed): the read returns
 * timer jitter instead and evt_mps2_nv_seed_was_blank() says so, for a warning in the log.
 * A production line writes the first seed from a TRNG (docs/board-mps2-an385.md).
 *
 * mbedTLS's callbacks take no context, so this module keeps one static attachment.
 */
#ifndef EVT_MPS2_NV_SEED_H
#define EVT_MPS2_NV_SEED_H

#include <stdbool.h>
#include <stdint.h>

#include "evt/hal_storage.h"

/* Sectors the seed needs (two, alternating). */
#define EVT_MPS2_NV_SEED_SECTORS 2u

/* Uses the first two sectors of st and registers the read/write functions with mbedTLS
 * (mbedtls_platform_set_nv_seed). EVT_ERR_ARG if st is smaller than two sectors. */
evt_err evt_mps2_nv_seed_attach(const evt_hal_storage *st);
/* True when the first read since attach found no seed in flash and fell back to jitter. */
bool evt_mps2_nv_seed_was_blank(void);
/* Seed writes since attach (one per boot in normal use). */
uint32_t evt_mps2_nv_seed_writes(void);

#endif /* EVT_MPS2_NV_SEED_H */
