/* journal_seal: CRCs of hand-edited journal flash; see journal_seal.h. */
#include "journal_seal.h"

#define SECTOR_MAGIC 0x4C4A5645u /* "EVJL" */
#define REC_MAGIC    0x4Au
#define REC_COMMIT   0x5AC3A53Cu
#define SECTOR_HDR   24u
#define REC_HDR      16u
#define REC_TRAILER  8u

uint32_t journal_seal_crc32(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

uint32_t journal_seal_record(uint8_t *rec, uint32_t space, bool commit)
{
    if (space < REC_HDR + REC_TRAILER) {
        return 0;
    }
    put_le32(rec + 12, journal_seal_crc32(rec, 12));
    uint32_t body = (uint32_t)rec[2] + ((uint32_t)rec[4] | (uint32_t)rec[5] << 8);
    uint32_t size = REC_HDR + ((body + 3u) & ~3u) + REC_TRAILER;
    if (size > space) {
        return 0;
    }
    put_le32(rec + size - 8, journal_seal_crc32(rec, REC_HDR + body));
    if (commit) {
        put_le32(rec + size - 4, REC_COMMIT);
    }
    return size;
}

void journal_seal_image(uint8_t *image, uint32_t sectors, uint32_t sector_size, bool commit)
{
    for (uint32_t s = 0; s < sectors; s++) {
        uint8_t *sec = image + (size_t)s * sector_size;
        if (le32(sec) != SECTOR_MAGIC) {
            continue;
        }
        put_le32(sec + 12, journal_seal_crc32(sec, 12));
        if (le32(sec + 16) != 0xFFFFFFFFu || le32(sec + 20) != 0xFFFFFFFFu) {
            put_le32(sec + 20, journal_seal_crc32(sec, 20));
        }
        uint32_t off = SECTOR_HDR;
        while (off + REC_HDR + REC_TRAILER <= sector_size) {
            uint32_t size = sec[off] == REC_MAGIC
                                ? journal_seal_record(sec + off, sector_size - off, commit)
                                : 0;
            off += size > 0 ? size : 4u;
        }
    }
}
