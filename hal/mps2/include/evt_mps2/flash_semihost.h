/*
 * evt_mps2_flash: evt_hal_storage as a NOR flash whose array is a host file reached through
 * semihosting (SYS_OPEN/SEEK/READ/WRITE), so the emulated board's journal survives QEMU being
 * killed and restarted — the part a real board's internal flash plays.
 *
 * NOR semantics as in evt/hal_storage.h and the sim's storage_file: a new (or empty) file is
 * created filled with 0xFF; erase sets a sector to 0xFF; program ANDs the new bytes into the
 * old ones (bits only go 1 -> 0). Out-of-range or wrapping ranges and unaligned erases are
 * EVT_ERR_ARG and touch nothing. Each write reaches the host file before the call returns
 * (QEMU writes through to the file), which is what "durable when it returns" needs when QEMU
 * is killed; a host power cut is out of scope of the emulation.
 *
 * The device can be split: evt_mps2_flash_part gives a sector-aligned window of it its own
 * evt_hal_storage (the journal, and the entropy seed's two sectors).
 */
#ifndef EVT_MPS2_FLASH_SEMIHOST_H
#define EVT_MPS2_FLASH_SEMIHOST_H

#include <stdint.h>

#include "evt/hal_storage.h"

typedef struct evt_mps2_flash {
    evt_hal_storage hal; /* the whole device */
    int handle;
} evt_mps2_flash;

typedef struct evt_mps2_flash_part {
    evt_hal_storage hal; /* addresses relative to the window */
    const evt_hal_storage *dev;
    uint32_t offset;
} evt_mps2_flash_part;

/* Opens (or creates) path as a flash of size bytes in sector_size sectors (power of two,
 * dividing size). An existing file must be exactly size bytes (EVT_ERR_ARG) or empty.
 * EVT_ERR_STORAGE_IO when the host refuses the file. */
evt_err evt_mps2_flash_open(evt_mps2_flash *fl, const char *path, uint32_t size,
                            uint32_t sector_size);
void evt_mps2_flash_close(evt_mps2_flash *fl);

/* A window [offset, offset + size) of dev, both sector aligned. EVT_ERR_ARG otherwise. */
evt_err evt_mps2_flash_part_init(evt_mps2_flash_part *part, const evt_hal_storage *dev,
                                 uint32_t offset, uint32_t size);

#endif /* EVT_MPS2_FLASH_SEMIHOST_H */
