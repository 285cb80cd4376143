/* evt_ram_nor: in-memory NOR flash with power-cut injection; see ram_nor.h. */
#include "ram_nor.h"

#include <stdlib.h>
#include <string.h>

/* xorshift32: deterministic per seed, so a failing cut point can be replayed. */
static uint32_t next_rand(evt_ram_nor *nor)
{
    uint32_t x = nor->rng ? nor->rng : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    nor->rng = x;
    return x;
}

/* Returns how many units of an operation of `len` units may complete before the cut, or
 * len if no cut falls inside it. */
static uint64_t units_before_cut(const evt_ram_nor *nor, uint64_t len)
{
    if (!nor->cut_armed || nor->cut_at_unit >= nor->units + len) {
        return len;
    }
    return nor->cut_at_unit > nor->units ? nor->cut_at_unit - nor->units : 0;
}

static void cut_power(evt_ram_nor *nor)
{
    nor->powered_off = true;
    nor->cut_armed = false;
    nor->cuts++;
}

static evt_err nor_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
    evt_ram_nor *nor = ctx;
    if (nor->powered_off) {
        return EVT_ERR_STORAGE_IO;
    }
    if (addr > nor->size || len > nor->size - addr || (buf == NULL && len > 0)) {
        return EVT_ERR_ARG;
    }
    memcpy(buf, nor->mem + addr, len);
    nor->bytes_read += len;
    return EVT_OK;
}

static evt_err nor_program(void *ctx, uint32_t addr, const void *data, size_t len)
{
    evt_ram_nor *nor = ctx;
    if (nor->powered_off) {
        return EVT_ERR_STORAGE_IO;
    }
    if (addr > nor->size || len > nor->size - addr || (data == NULL && len > 0)) {
        return EVT_ERR_ARG;
    }
    const uint8_t *src = data;
    uint8_t *dst = nor->mem + addr;
    nor->program_calls++;
    uint64_t done = units_before_cut(nor, len);
    for (size_t i = 0; i < len; i++) {
        if ((uint8_t)(src[i] & ~dst[i]) != 0) {
            nor->overprogram_bytes++;
        }
    }
    for (uint64_t i = 0; i < done; i++) {
        dst[i] &= src[i];
    }
    nor->units += done;
    nor->bytes_programmed += done;
    if (done == len) {
        return EVT_OK;
    }
    for (size_t i = (size_t)done; i < len; i++) {
        uint8_t clear = (uint8_t)~src[i]; /* bits this byte was to lose */
        switch (nor->cut_mode) {
        case EVT_RAM_NOR_CUT_PREFIX:
            if (i == done) {
                dst[i] &= (uint8_t) ~(clear & (uint8_t)next_rand(nor));
            }
            break;
        case EVT_RAM_NOR_CUT_SCATTER:
            dst[i] &= (uint8_t) ~(clear & (uint8_t)next_rand(nor));
            break;
        case EVT_RAM_NOR_CUT_RANDOM:
            dst[i] = (uint8_t)next_rand(nor);
            break;
        }
    }
    cut_power(nor);
    return EVT_ERR_STORAGE_IO;
}

static evt_err nor_erase(void *ctx, uint32_t addr)
{
    evt_ram_nor *nor = ctx;
    if (nor->powered_off) {
        return EVT_ERR_STORAGE_IO;
    }
    if (addr % nor->sector_size != 0 || addr >= nor->size) {
        return EVT_ERR_ARG;
    }
    uint8_t *dst = nor->mem + addr;
    nor->erase_calls++;
    if (units_before_cut(nor, 1) == 1) {
        memset(dst, 0xFF, nor->sector_size);
        nor->sector_erases[addr / nor->sector_size]++;
        nor->units++;
        return EVT_OK;
    }
    switch (nor->cut_mode) {
    case EVT_RAM_NOR_CUT_PREFIX: {
        /* The erase order inside a sector is the chip's business: head or tail first. */
        uint32_t n = next_rand(nor) % nor->sector_size;
        if (next_rand(nor) & 1u) {
            memset(dst, 0xFF, n);
        } else {
            memset(dst + nor->sector_size - n, 0xFF, n);
        }
        break;
    }
    case EVT_RAM_NOR_CUT_SCATTER:
        for (uint32_t i = 0; i < nor->sector_size; i++) {
            dst[i] |= (uint8_t)next_rand(nor);
        }
        break;
    case EVT_RAM_NOR_CUT_RANDOM:
        for (uint32_t i = 0; i < nor->sector_size; i++) {
            dst[i] = (uint8_t)next_rand(nor);
        }
        break;
    }
    cut_power(nor);
    return EVT_ERR_STORAGE_IO;
}

evt_err evt_ram_nor_init(evt_ram_nor *nor, uint32_t size, uint32_t sector_size)
{
    if (nor == NULL || sector_size == 0 || size == 0 || size % sector_size != 0) {
        return EVT_ERR_ARG;
    }
    memset(nor, 0, sizeof *nor);
    nor->mem = malloc(size);
    nor->sector_erases = calloc(size / sector_size, sizeof *nor->sector_erases);
    if (nor->mem == NULL || nor->sector_erases == NULL) {
        evt_ram_nor_free(nor);
        return EVT_ERR_NOMEM;
    }
    memset(nor->mem, 0xFF, size);
    nor->size = size;
    nor->sector_size = sector_size;
    nor->hal.ctx = nor;
    nor->hal.size = size;
    nor->hal.sector_size = sector_size;
    nor->hal.read = nor_read;
    nor->hal.program = nor_program;
    nor->hal.erase = nor_erase;
    return EVT_OK;
}

void evt_ram_nor_free(evt_ram_nor *nor)
{
    if (nor == NULL) {
        return;
    }
    free(nor->mem);
    free(nor->sector_erases);
    nor->mem = NULL;
    nor->sector_erases = NULL;
}

void evt_ram_nor_arm_cut(evt_ram_nor *nor, uint64_t after_units, evt_ram_nor_cut_mode mode,
                         uint32_t seed)
{
    nor->cut_armed = true;
    nor->cut_at_unit = nor->units + after_units;
    nor->cut_mode = mode;
    nor->rng = seed;
}

void evt_ram_nor_disarm(evt_ram_nor *nor)
{
    nor->cut_armed = false;
}

void evt_ram_nor_power_on(evt_ram_nor *nor)
{
    nor->powered_off = false;
    nor->cut_armed = false;
}

void evt_ram_nor_flip_bit(evt_ram_nor *nor, uint32_t addr, unsigned bit)
{
    if (addr < nor->size) {
        nor->mem[addr] ^= (uint8_t)(1u << (bit & 7u));
    }
}

void evt_ram_nor_fill_random(evt_ram_nor *nor, uint32_t seed)
{
    nor->rng = seed;
    for (uint32_t i = 0; i < nor->size; i++) {
        nor->mem[i] = (uint8_t)next_rand(nor);
    }
}

void evt_ram_nor_save(const evt_ram_nor *nor, uint8_t *image)
{
    memcpy(image, nor->mem, nor->size);
}

void evt_ram_nor_load(evt_ram_nor *nor, const uint8_t *image)
{
    memcpy(nor->mem, image, nor->size);
}
