/* evt_sim_storage: NOR flash semantics over a plain file, with power-cut injection. */
#include "evt_sim/storage_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct evt_sim_storage {
    evt_hal_storage hal;
    int fd;
    uint32_t *sector_erases;
    evt_sim_storage_stats stats;
    bool armed;
    bool cut;
    uint64_t budget;
    evt_sim_cut_mode mode;
    uint32_t rng;
};

static bool range_ok(const evt_sim_storage *st, uint32_t addr, size_t len)
{
    return addr <= st->hal.size && len <= (size_t)(st->hal.size - addr);
}

/* pread or pwrite until all len bytes are moved: both may stop short or be interrupted. */
static evt_err transfer_all(int fd, bool writing, uint8_t *p, size_t len, off_t off)
{
    while (len > 0) {
        ssize_t n = writing ? pwrite(fd, p, len, off) : pread(fd, p, len, off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return EVT_ERR_STORAGE_IO;
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return EVT_OK;
}

static evt_err pread_all(int fd, void *buf, size_t len, off_t off)
{
    return transfer_all(fd, false, buf, len, off);
}

static evt_err pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    /* The cast is only for the shared loop: pwrite does not write to buf. */
    return transfer_all(fd, true, (uint8_t *)buf, len, off);
}

/* xorshift32: reproducible damage patterns from the test's seed. */
static uint8_t next_random(evt_sim_storage *st)
{
    uint32_t x = st->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    st->rng = x;
    return (uint8_t)(x >> 24);
}

/*
 * The power-cut gate. Returns how many bytes of an operation of len bytes may complete; sets
 * *interrupted when this operation is the one the cut lands in.
 */
static size_t cut_gate(evt_sim_storage *st, size_t len, bool *interrupted)
{
    *interrupted = false;
    if (!st->armed) {
        return len;
    }
    if (st->budget >= len) {
        st->budget -= len;
        return len;
    }
    *interrupted = true;
    return (size_t)st->budget;
}

static void cut_fire(evt_sim_storage *st)
{
    st->armed = false;
    st->cut = true;
    st->stats.power_cuts++;
}

static evt_err storage_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
    evt_sim_storage *st = ctx;
    if ((buf == NULL && len > 0) || !range_ok(st, addr, len)) {
        return EVT_ERR_ARG;
    }
    return len == 0 ? EVT_OK : pread_all(st->fd, buf, len, addr);
}

/* The cells at addr in a fresh buffer, for write_back() to store and release. */
static evt_err read_cells(const evt_sim_storage *st, uint32_t addr, size_t len, uint8_t **cells)
{
    *cells = malloc(len);
    if (*cells == NULL) {
        return EVT_ERR_NOMEM;
    }
    evt_err err = pread_all(st->fd, *cells, len, addr);
    if (err != EVT_OK) {
        free(*cells);
        *cells = NULL;
    }
    return err;
}

/* Stores the cells durably and releases them. An interrupted operation then cuts the power and
 * fails, whatever reached the file. */
static evt_err write_back(evt_sim_storage *st, uint8_t *cells, size_t len, uint32_t addr,
                          bool interrupted)
{
    evt_err err = pwrite_all(st->fd, cells, len, addr);
    free(cells);
    if (err == EVT_OK && fdatasync(st->fd) != 0) {
        err = EVT_ERR_STORAGE_IO;
    }
    if (interrupted) {
        cut_fire(st);
        return EVT_ERR_STORAGE_IO;
    }
    return err;
}

static evt_err storage_program(void *ctx, uint32_t addr, const void *data, size_t len)
{
    evt_sim_storage *st = ctx;
    if ((data == NULL && len > 0) || !range_ok(st, addr, len)) {
        return EVT_ERR_ARG;
    }
    if (st->cut) {
        return EVT_ERR_STORAGE_IO;
    }
    if (len == 0) {
        return EVT_OK;
    }
    uint8_t *cells;
    evt_err err = read_cells(st, addr, len, &cells);
    if (err != EVT_OK) {
        return err;
    }
    const uint8_t *src = data;
    bool interrupted;
    size_t done = cut_gate(st, len, &interrupted);
    uint64_t conflicts = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t target = cells[i] & src[i];
        if (i < done) {
            if ((src[i] & (uint8_t)~cells[i]) != 0) {
                conflicts++;
            }
            cells[i] = target;
        } else if (interrupted && st->mode == EVT_SIM_CUT_RANDOM_BITS) {
            /* Only bits the program would clear may have cleared. */
            uint8_t clearing = cells[i] & (uint8_t)~target;
            cells[i] &= (uint8_t) ~(clearing & next_random(st));
        }
    }
    err = write_back(st, cells, len, addr, interrupted);
    if (err == EVT_OK) {
        st->stats.programs++;
        st->stats.bytes_programmed += len;
        st->stats.program_conflicts += conflicts;
    }
    return err;
}

static evt_err storage_erase(void *ctx, uint32_t addr)
{
    evt_sim_storage *st = ctx;
    const uint32_t ss = st->hal.sector_size;
    if (addr % ss != 0 || !range_ok(st, addr, ss)) {
        return EVT_ERR_ARG;
    }
    if (st->cut) {
        return EVT_ERR_STORAGE_IO;
    }
    uint8_t *cells;
    evt_err err = read_cells(st, addr, ss, &cells);
    if (err != EVT_OK) {
        return err;
    }
    bool interrupted;
    size_t done = cut_gate(st, ss, &interrupted);
    for (size_t i = 0; i < ss; i++) {
        if (i < done) {
            cells[i] = 0xFF;
        } else if (interrupted && st->mode == EVT_SIM_CUT_RANDOM_BITS) {
            cells[i] |= next_random(st);
        }
    }
    err = write_back(st, cells, ss, addr, interrupted);
    if (err == EVT_OK) {
        st->stats.erases++;
        uint32_t *count = &st->sector_erases[addr / ss];
        (*count)++;
        if (*count > st->stats.max_sector_erases) {
            st->stats.max_sector_erases = *count;
        }
    }
    return err;
}

static evt_err fill_erased(int fd, uint32_t size)
{
    uint8_t block[4096];
    memset(block, 0xFF, sizeof block);
    for (uint32_t off = 0; off < size;) {
        uint32_t n = size - off < sizeof block ? size - off : (uint32_t)sizeof block;
        evt_err err = pwrite_all(fd, block, n, off);
        if (err != EVT_OK) {
            return err;
        }
        off += n;
    }
    return fsync(fd) == 0 ? EVT_OK : EVT_ERR_STORAGE_IO;
}

evt_err evt_sim_storage_open(evt_sim_storage **out, const char *path, uint32_t size,
                             uint32_t sector_size)
{
    if (out == NULL) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    if (path == NULL || size == 0 || sector_size == 0 || (sector_size & (sector_size - 1)) != 0 ||
        size % sector_size != 0) {
        return EVT_ERR_ARG;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return EVT_ERR_STORAGE_IO;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        close(fd);
        return EVT_ERR_STORAGE_IO;
    }
    if (sb.st_size == 0) {
        evt_err err = fill_erased(fd, size);
        if (err != EVT_OK) {
            close(fd);
            return err;
        }
    } else if ((uint64_t)sb.st_size != size) {
        /* A different geometry would silently shift every journal record: refuse. */
        close(fd);
        return EVT_ERR_ARG;
    }
    evt_sim_storage *st = calloc(1, sizeof *st);
    uint32_t *erases = calloc(size / sector_size, sizeof *erases);
    if (st == NULL || erases == NULL) {
        free(st);
        free(erases);
        close(fd);
        return EVT_ERR_NOMEM;
    }
    st->fd = fd;
    st->sector_erases = erases;
    st->hal = (evt_hal_storage){
        .ctx = st,
        .size = size,
        .sector_size = sector_size,
        .read = storage_read,
        .program = storage_program,
        .erase = storage_erase,
    };
    *out = st;
    return EVT_OK;
}

void evt_sim_storage_close(evt_sim_storage *st)
{
    if (st == NULL) {
        return;
    }
    close(st->fd);
    free(st->sector_erases);
    free(st);
}

const evt_hal_storage *evt_sim_storage_hal(evt_sim_storage *st)
{
    return &st->hal;
}

void evt_sim_storage_inject_power_cut(evt_sim_storage *st, uint64_t budget_bytes,
                                      evt_sim_cut_mode mode, uint32_t seed)
{
    st->armed = true;
    st->budget = budget_bytes;
    st->mode = mode;
    st->rng = seed != 0 ? seed : 0x9E3779B9u; /* xorshift must not start at 0 */
}

void evt_sim_storage_disarm(evt_sim_storage *st)
{
    st->armed = false;
}

bool evt_sim_storage_is_cut(const evt_sim_storage *st)
{
    return st->cut;
}

void evt_sim_storage_get_stats(const evt_sim_storage *st, evt_sim_storage_stats *out)
{
    *out = st->stats;
}

uint32_t evt_sim_storage_sector_erases(const evt_sim_storage *st, uint32_t sector_index)
{
    if (sector_index >= st->hal.size / st->hal.sector_size) {
        return 0;
    }
    return st->sector_erases[sector_index];
}
