/* evt_mps2_nv_seed: mbedTLS NV seed in two alternating flash sectors; see nv_seed.h. */
#include "evt_mps2/nv_seed.h"

#include <string.h>

#include <mbedtls/entropy.h>
#include <mbedtls/platform.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

#include "evt_mps2/sys.h"

#define SEED_MAGIC 0x53565445u /* "ETVS" little-endian: evt seed */
#define SEED_BYTES MBEDTLS_ENTROPY_BLOCK_SIZE

typedef struct seed_record {
    uint32_t magic;
    uint32_t counter;
    uint8_t seed[SEED_BYTES];
    uint8_t check[32]; /* SHA-256 of everything above */
} seed_record;

static const evt_hal_storage *seed_st;
static bool seed_blank;
static uint32_t seed_reads;
static uint32_t seed_writes;

static void record_check(const seed_record *r, uint8_t out[32])
{
    mbedtls_sha256((const unsigned char *)r, offsetof(seed_record, check), out, 0);
}

/* Reads the record of one sector; false when it is missing or torn. */
static bool load(unsigned slot, seed_record *r)
{
    if (seed_st->read(seed_st->ctx, slot * seed_st->sector_size, r, sizeof *r) != EVT_OK ||
        r->magic != SEED_MAGIC) {
        return false;
    }
    uint8_t check[32];
    record_check(r, check);
    bool ok = memcmp(check, r->check, sizeof check) == 0;
    mbedtls_platform_zeroize(check, sizeof check);
    return ok;
}

/* The slot with the newest valid record, or -1. */
static int newest(seed_record *r)
{
    seed_record other;
    bool a = load(0, r);
    bool b = load(1, &other);
    int slot = -1;
    if (a && (!b || (int32_t)(r->counter - other.counter) >= 0)) {
        slot = 0;
    } else if (b) {
        *r = other;
        slot = 1;
    }
    mbedtls_platform_zeroize(&other, sizeof other);
    return slot;
}

static int nv_seed_read(unsigned char *buf, size_t len)
{
    if (seed_st == NULL || len > SEED_BYTES) {
        return -1;
    }
    seed_record r;
    int slot = newest(&r);
    /* Only the first read of a boot tells whether the chip held a seed: mbedTLS writes one
     * right after it and reads it back on every later gathering. */
    if (seed_reads++ == 0) {
        seed_blank = slot < 0;
    }
    if (slot < 0) {
        if (evt_mps2_jitter_entropy(buf, len) != EVT_OK) {
            return -1;
        }
    } else {
        memcpy(buf, r.seed, len);
    }
    mbedtls_platform_zeroize(&r, sizeof r);
    return (int)len;
}

static int nv_seed_write(unsigned char *buf, size_t len)
{
    if (seed_st == NULL || len > SEED_BYTES) {
        return -1;
    }
    seed_record cur;
    int slot = newest(&cur);
    unsigned target = slot == 0 ? 1u : 0u;
    seed_record r;
    memset(&r, 0, sizeof r);
    r.magic = SEED_MAGIC;
    r.counter = slot < 0 ? 1u : cur.counter + 1u;
    memcpy(r.seed, buf, len);
    record_check(&r, r.check);
    uint32_t addr = target * seed_st->sector_size;
    int ret = (int)len;
    if (seed_st->erase(seed_st->ctx, addr) != EVT_OK ||
        seed_st->program(seed_st->ctx, addr, &r, sizeof r) != EVT_OK) {
        ret = -1;
    } else {
        seed_writes++;
    }
    mbedtls_platform_zeroize(&r, sizeof r);
    mbedtls_platform_zeroize(&cur, sizeof cur);
    return ret;
}

evt_err evt_mps2_nv_seed_attach(const evt_hal_storage *st)
{
    if (st == NULL || st->sector_size < sizeof(seed_record) ||
        st->size / st->sector_size < EVT_MPS2_NV_SEED_SECTORS) {
        return EVT_ERR_ARG;
    }
    seed_st = st;
    seed_blank = false;
    seed_reads = 0;
    seed_writes = 0;
    mbedtls_platform_set_nv_seed(nv_seed_read, nv_seed_write);
    return EVT_OK;
}

bool evt_mps2_nv_seed_was_blank(void)
{
    return seed_blank;
}

uint32_t evt_mps2_nv_seed_writes(void)
{
    return seed_writes;
}
