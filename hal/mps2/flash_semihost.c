/* evt_mps2_flash: NOR flash model on a host file through semihosting; see flash_semihost.h. */
#include "evt_mps2/flash_semihost.h"

#include <stdbool.h>
#include <string.h>

#include "evt_mps2/semihost.h"

#define CHUNK 256u

static bool range_ok(const evt_hal_storage *st, uint32_t addr, size_t len)
{
    return addr <= st->size && len <= st->size - addr;
}

static evt_err host_read(int handle, uint32_t addr, void *buf, size_t len)
{
    if (evt_mps2_sh_seek(handle, addr) != 0 || evt_mps2_sh_read(handle, buf, len) != 0) {
        return EVT_ERR_STORAGE_IO;
    }
    return EVT_OK;
}

static evt_err host_write(int handle, uint32_t addr, const void *buf, size_t len)
{
    if (evt_mps2_sh_seek(handle, addr) != 0 || evt_mps2_sh_write(handle, buf, len) != 0) {
        return EVT_ERR_STORAGE_IO;
    }
    return EVT_OK;
}

static evt_err flash_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
    evt_mps2_flash *fl = ctx;
    if (!range_ok(&fl->hal, addr, len) || (buf == NULL && len > 0)) {
        return EVT_ERR_ARG;
    }
    return len == 0 ? EVT_OK : host_read(fl->handle, addr, buf, len);
}

static evt_err flash_program(void *ctx, uint32_t addr, const void *data, size_t len)
{
    evt_mps2_flash *fl = ctx;
    if (!range_ok(&fl->hal, addr, len) || (data == NULL && len > 0)) {
        return EVT_ERR_ARG;
    }
    const uint8_t *src = data;
    uint8_t cells[CHUNK];
    while (len > 0) {
        size_t n = len < CHUNK ? len : CHUNK;
        evt_err err = host_read(fl->handle, addr, cells, n);
        if (err != EVT_OK) {
            return err;
        }
        /* NOR cells only go from 1 to 0. */
        for (size_t i = 0; i < n; i++) {
            cells[i] &= src[i];
        }
        err = host_write(fl->handle, addr, cells, n);
        if (err != EVT_OK) {
            return err;
        }
        addr += (uint32_t)n;
        src += n;
        len -= n;
    }
    return EVT_OK;
}

static evt_err fill_erased(int handle, uint32_t addr, uint32_t len)
{
    uint8_t ones[CHUNK];
    memset(ones, 0xFF, sizeof ones);
    while (len > 0) {
        uint32_t n = len < CHUNK ? len : CHUNK;
        evt_err err = host_write(handle, addr, ones, n);
        if (err != EVT_OK) {
            return err;
        }
        addr += n;
        len -= n;
    }
    return EVT_OK;
}

static evt_err flash_erase(void *ctx, uint32_t addr)
{
    evt_mps2_flash *fl = ctx;
    if (addr >= fl->hal.size || (addr & (fl->hal.sector_size - 1u)) != 0) {
        return EVT_ERR_ARG;
    }
    return fill_erased(fl->handle, addr, fl->hal.sector_size);
}

evt_err evt_mps2_flash_open(evt_mps2_flash *fl, const char *path, uint32_t size,
                            uint32_t sector_size)
{
    memset(fl, 0, sizeof *fl);
    fl->handle = -1;
    if (path == NULL || sector_size == 0 || (sector_size & (sector_size - 1u)) != 0 || size == 0 ||
        size % sector_size != 0) {
        return EVT_ERR_ARG;
    }
    int h = evt_mps2_sh_open(path, EVT_SH_MODE_RPLUSB);
    if (h < 0) {
        h = evt_mps2_sh_open(path, EVT_SH_MODE_WPLUSB); /* first boot: a blank chip */
    }
    if (h < 0) {
        return EVT_ERR_STORAGE_IO;
    }
    long len = evt_mps2_sh_flen(h);
    evt_err err = EVT_OK;
    if (len == 0) {
        err = fill_erased(h, 0, size);
    } else if (len != (long)size) {
        err = EVT_ERR_ARG;
    }
    if (err != EVT_OK) {
        evt_mps2_sh_close(h);
        return err;
    }
    fl->handle = h;
    fl->hal = (evt_hal_storage){.ctx = fl,
                                .size = size,
                                .sector_size = sector_size,
                                .read = flash_read,
                                .program = flash_program,
                                .erase = flash_erase};
    return EVT_OK;
}

void evt_mps2_flash_close(evt_mps2_flash *fl)
{
    if (fl->handle >= 0) {
        evt_mps2_sh_close(fl->handle);
        fl->handle = -1;
    }
}

static evt_err part_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
    evt_mps2_flash_part *p = ctx;
    if (!range_ok(&p->hal, addr, len)) {
        return EVT_ERR_ARG;
    }
    return p->dev->read(p->dev->ctx, p->offset + addr, buf, len);
}

static evt_err part_program(void *ctx, uint32_t addr, const void *data, size_t len)
{
    evt_mps2_flash_part *p = ctx;
    if (!range_ok(&p->hal, addr, len)) {
        return EVT_ERR_ARG;
    }
    return p->dev->program(p->dev->ctx, p->offset + addr, data, len);
}

static evt_err part_erase(void *ctx, uint32_t addr)
{
    evt_mps2_flash_part *p = ctx;
    if (addr >= p->hal.size) {
        return EVT_ERR_ARG;
    }
    return p->dev->erase(p->dev->ctx, p->offset + addr);
}

evt_err evt_mps2_flash_part_init(evt_mps2_flash_part *part, const evt_hal_storage *dev,
                                 uint32_t offset, uint32_t size)
{
    uint32_t sec = dev->sector_size;
    if (size == 0 || offset % sec != 0 || size % sec != 0 || offset > dev->size ||
        size > dev->size - offset) {
        return EVT_ERR_ARG;
    }
    part->dev = dev;
    part->offset = offset;
    part->hal = (evt_hal_storage){.ctx = part,
                                  .size = size,
                                  .sector_size = sec,
                                  .read = part_read,
                                  .program = part_program,
                                  .erase = part_erase};
    return EVT_OK;
}
