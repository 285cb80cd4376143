/*
 * evt_journal: a log-structured key/value store on NOR flash, after Zephyr NVS and FlashDB's
 * KVDB (neither is packaged by Debian or fits the evt_hal_storage contract as is).
 * docs/journal.md describes the format; the comments here say why each step is ordered the
 * way it is, because the ordering is what makes a power cut at any byte harmless.
 */
#include "evt/journal.h"

#include <string.h>

#include "evt/log.h"

#define LOG_MODULE "journal"

/* Sector header: stage 1 is written right after an erase (keeps the wear counter), stage 2
 * when the sector becomes the write head (gives its place in the log). */
#define SECTOR_MAGIC    0x4C4A5645u /* "EVJL" little-endian */
#define FORMAT_VERSION  1u
#define SECTOR_HDR_SIZE 24u
#define STAGE1_SIZE     16u
/* Generations grow by one per sector activation, so no journal reaches 2^31 (that many erases
 * would wear out any part). A larger one is foreign data; trusted, it would let the next
 * generation wrap to 0xFFFFFFFF (blank) or 0, which a mount cannot place. The journal never
 * writes one either (activate_sector), or the next mount would drop that sector. */
#define GEN_MAX 0x7FFFFFFFu

/* Record: 16-byte header, key, value, 0xFF padding to 4, CRC word, commit word. */
#define REC_MAGIC        0x4Au
#define REC_PUT          0x50u /* 'P' */
#define REC_DEL          0x44u /* 'D' */
#define REC_GC_DONE      0x47u /* 'G': value = generation of the sector just evacuated */
#define REC_HDR_SIZE     16u
#define REC_TRAILER_SIZE 8u
#define REC_MIN_SIZE     (REC_HDR_SIZE + REC_TRAILER_SIZE)
/* A commit word with mixed bits: a half-programmed word cannot look committed. */
#define REC_COMMIT   0x5AC3A53Cu
#define GC_DONE_SIZE (REC_HDR_SIZE + 4u + REC_TRAILER_SIZE)

#define CHUNK 64u

/* SEC_DIRTY is 0 so a table entry never classified means "erase before use". */
enum { SEC_DIRTY, SEC_BLANK, SEC_READY, SEC_DATA };

typedef struct sector_info {
    uint32_t gen;
    uint32_t erase_count;
    uint8_t state;
    uint8_t erase_count_known;
    uint8_t pad[2];
} sector_info;

typedef struct index_entry {
    uint32_t hash;
    uint32_t addr; /* absolute address of the live record */
    uint16_t value_len;
    uint8_t key_len;
    uint8_t pad;
} index_entry;

_Static_assert(sizeof(sector_info) == EVT_JOURNAL_SECTOR_WORK_BYTES, "work size macro");
_Static_assert(sizeof(index_entry) == EVT_JOURNAL_KEY_WORK_BYTES, "work size macro");

typedef struct rec_view {
    uint32_t addr;
    uint32_t size;
    uint32_t seq;
    uint16_t value_len;
    uint8_t type;
    uint8_t key_len;
} rec_view;

typedef evt_err (*rec_visit_fn)(evt_journal *j, const rec_view *r, void *ctx);

/* ---- encoding ---------------------------------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* CRC-32 (IEEE, reflected), nibble table: 64 bytes of ROM instead of 1 KiB. Chainable. */
static uint32_t crc32_update(uint32_t crc, const void *data, size_t len)
{
    static const uint32_t table[16] = {
        0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu, 0x76DC4190u, 0x6B6B51F4u,
        0x4DB26158u, 0x5005713Cu, 0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
        0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
    };
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc = (crc >> 4) ^ table[(crc ^ p[i]) & 0x0Fu];
        crc = (crc >> 4) ^ table[(crc ^ (uint32_t)(p[i] >> 4)) & 0x0Fu];
    }
    return ~crc;
}

/* FNV-1a: the index keeps only a hash per key; the key itself is compared on flash. */
static uint32_t key_hash(const char *key, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)key[i];
        h *= 16777619u;
    }
    return h;
}

static uint32_t align4(uint32_t v)
{
    return (v + 3u) & ~3u;
}

static uint32_t rec_size(uint32_t key_len, uint32_t value_len)
{
    return REC_HDR_SIZE + align4(key_len + value_len) + REC_TRAILER_SIZE;
}

static uint32_t log2_u32(uint32_t v)
{
    uint32_t n = 0;
    while (v > 1u) {
        v >>= 1;
        n++;
    }
    return n;
}

/* ---- storage access ---------------------------------------------------------------------- */

static sector_info *sec(const evt_journal *j, uint32_t s)
{
    return &((sector_info *)j->sectors)[s];
}

static index_entry *entries(const evt_journal *j)
{
    return (index_entry *)j->index;
}

static uint32_t sector_size(const evt_journal *j)
{
    return j->storage->sector_size;
}

static uint32_t sector_base(const evt_journal *j, uint32_t s)
{
    return s * j->storage->sector_size;
}

/* Normal records stop short of the sector end so the GC-done marker always fits after the
 * copies of a fully live sector. */
static uint32_t data_end(const evt_journal *j)
{
    return sector_size(j) - GC_DONE_SIZE;
}

static evt_err flash_read(evt_journal *j, uint32_t addr, void *buf, size_t len)
{
    return j->storage->read(j->storage->ctx, addr, buf, len);
}

static evt_err flash_program(evt_journal *j, uint32_t addr, const void *data, size_t len)
{
    j->bytes_programmed += len;
    return j->storage->program(j->storage->ctx, addr, data, len);
}

/* Finds the last byte that is not 0xFF in [addr, addr+len); *last = UINT32_MAX if none. */
static evt_err find_last_programmed(evt_journal *j, uint32_t addr, uint32_t len, uint32_t *last)
{
    uint8_t buf[CHUNK];
    *last = UINT32_MAX;
    for (uint32_t done = 0; done < len;) {
        uint32_t n = len - done < CHUNK ? len - done : CHUNK;
        evt_err err = flash_read(j, addr + done, buf, n);
        if (err != EVT_OK) {
            return err;
        }
        for (uint32_t i = 0; i < n; i++) {
            if (buf[i] != 0xFFu) {
                *last = addr + done + i;
            }
        }
        done += n;
    }
    return EVT_OK;
}

static evt_err is_blank(evt_journal *j, uint32_t addr, uint32_t len, bool *blank)
{
    uint32_t last = UINT32_MAX;
    evt_err err = find_last_programmed(j, addr, len, &last);
    *blank = last == UINT32_MAX;
    return err;
}

static void stage1_bytes(const evt_journal *j, uint32_t s, uint8_t h[STAGE1_SIZE])
{
    put_u32(h, SECTOR_MAGIC);
    h[4] = (uint8_t)FORMAT_VERSION;
    h[5] = (uint8_t)log2_u32(sector_size(j));
    h[6] = 0xFFu;
    h[7] = 0xFFu;
    put_u32(h + 8, sec(j, s)->erase_count);
    put_u32(h + 12, crc32_update(0, h, 12));
}

/* Erases s and writes its stage-1 header. Until that header is complete the sector reads as
 * dirty, which only costs another erase later. */
static evt_err erase_sector(evt_journal *j, uint32_t s)
{
    sector_info *si = sec(j, s);
    si->state = SEC_DIRTY;
    j->erases++;
    j->bytes_erased += sector_size(j);
    evt_err err = j->storage->erase(j->storage->ctx, sector_base(j, s));
    if (err != EVT_OK) {
        return err;
    }
    si->erase_count++;
    si->erase_count_known = 1;
    uint8_t h[STAGE1_SIZE];
    stage1_bytes(j, s, h);
    err = flash_program(j, sector_base(j, s), h, sizeof h);
    if (err != EVT_OK) {
        return err;
    }
    si->state = SEC_READY;
    return EVT_OK;
}

/* Makes s the write head: erased body, stage-1 header, then the generation (stage 2). */
static evt_err activate_sector(evt_journal *j, uint32_t s)
{
    if (j->next_gen > GEN_MAX) {
        return EVT_ERR_JOURNAL_FULL; /* only after a foreign image's generations: see GEN_MAX */
    }
    sector_info *si = sec(j, s);
    evt_err err;
    if (si->state == SEC_READY) {
        /* A stage-1 header proves the erase finished, not that nothing was written since
         * (a torn activation is caught as dirty; this catches foreign data). */
        bool blank;
        err = is_blank(j, sector_base(j, s) + STAGE1_SIZE, sector_size(j) - STAGE1_SIZE, &blank);
        if (err != EVT_OK) {
            return err;
        }
        if (!blank) {
            si->state = SEC_DIRTY;
        }
    }
    if (si->state == SEC_BLANK) {
        uint8_t h[STAGE1_SIZE];
        stage1_bytes(j, s, h);
        si->state = SEC_DIRTY;
        err = flash_program(j, sector_base(j, s), h, sizeof h);
        if (err != EVT_OK) {
            return err;
        }
        si->state = SEC_READY;
    }
    if (si->state != SEC_READY) {
        err = erase_sector(j, s);
        if (err != EVT_OK) {
            return err;
        }
    }
    uint8_t h[SECTOR_HDR_SIZE];
    stage1_bytes(j, s, h);
    uint32_t gen = j->next_gen++;
    put_u32(h + 16, gen);
    put_u32(h + 20, crc32_update(0, h, 20));
    si->state = SEC_DIRTY;
    err = flash_program(j, sector_base(j, s) + STAGE1_SIZE, h + STAGE1_SIZE,
                        SECTOR_HDR_SIZE - STAGE1_SIZE);
    if (err != EVT_OK) {
        return err;
    }
    si->state = SEC_DATA;
    si->gen = gen;
    j->active = s;
    j->write_off = SECTOR_HDR_SIZE;
    return EVT_OK;
}

/* Reads and classifies the header of sector s. */
static evt_err classify_sector(evt_journal *j, uint32_t s)
{
    sector_info *si = sec(j, s);
    uint8_t h[SECTOR_HDR_SIZE];
    evt_err err = flash_read(j, sector_base(j, s), h, sizeof h);
    if (err != EVT_OK) {
        return err;
    }
    memset(si, 0, sizeof *si);
    bool stage1 = get_u32(h) == SECTOR_MAGIC && h[4] == FORMAT_VERSION &&
                  h[5] == log2_u32(sector_size(j)) && get_u32(h + 12) == crc32_update(0, h, 12);
    if (stage1) {
        si->erase_count = get_u32(h + 8);
        si->erase_count_known = 1;
        bool stage2_blank = true;
        for (uint32_t i = STAGE1_SIZE; i < SECTOR_HDR_SIZE; i++) {
            stage2_blank = stage2_blank && h[i] == 0xFFu;
        }
        if (stage2_blank) {
            si->state = SEC_READY;
        } else if (get_u32(h + 20) == crc32_update(0, h, 20) && get_u32(h + 16) <= GEN_MAX) {
            si->state = SEC_DATA;
            si->gen = get_u32(h + 16);
        } else {
            si->state = SEC_DIRTY; /* torn activation: nothing was written after it */
        }
        return EVT_OK;
    }
    bool blank;
    err = is_blank(j, sector_base(j, s), sector_size(j), &blank);
    si->state = blank ? SEC_BLANK : SEC_DIRTY;
    return err;
}

/* ---- records ----------------------------------------------------------------------------- */

/* Checks a record header; space is the number of bytes from the record to the sector end. */
static bool parse_header(const uint8_t h[REC_HDR_SIZE], uint32_t addr, uint32_t space, rec_view *r)
{
    if (h[0] != REC_MAGIC || get_u32(h + 12) != crc32_update(0, h, 12)) {
        return false;
    }
    uint8_t type = h[1], key_len = h[2];
    uint16_t value_len = get_u16(h + 4);
    switch (type) {
    case REC_PUT:
        if (key_len < 1 || key_len > EVT_JOURNAL_KEY_MAX || value_len > EVT_JOURNAL_VALUE_MAX) {
            return false;
        }
        break;
    case REC_DEL:
        if (key_len < 1 || key_len > EVT_JOURNAL_KEY_MAX || value_len != 0) {
            return false;
        }
        break;
    case REC_GC_DONE:
        if (key_len != 0 || value_len != 4) {
            return false;
        }
        break;
    default:
        return false;
    }
    uint32_t size = rec_size(key_len, value_len);
    if (size > space) {
        return false;
    }
    r->addr = addr;
    r->size = size;
    r->seq = get_u32(h + 8);
    r->type = type;
    r->key_len = key_len;
    r->value_len = value_len;
    return true;
}

/* Verifies the CRC over header+key+value, the commit word, and that the key is one put could
 * have written: a record with another key came from elsewhere, and listing it would hand the
 * firmware a key that get and del refuse. */
static evt_err check_body(evt_journal *j, const uint8_t h[REC_HDR_SIZE], const rec_view *r,
                          bool *ok)
{
    uint8_t buf[CHUNK];
    uint32_t crc = crc32_update(0, h, REC_HDR_SIZE);
    uint32_t len = (uint32_t)r->key_len + r->value_len;
    bool key_ok = true;
    for (uint32_t done = 0; done < len;) {
        uint32_t n = len - done < CHUNK ? len - done : CHUNK;
        evt_err err = flash_read(j, r->addr + REC_HDR_SIZE + done, buf, n);
        if (err != EVT_OK) {
            return err;
        }
        for (uint32_t i = 0; i < n && done + i < r->key_len; i++) {
            key_ok = key_ok && buf[i] >= 0x20u && buf[i] <= 0x7Eu;
        }
        crc = crc32_update(crc, buf, n);
        done += n;
    }
    uint8_t t[REC_TRAILER_SIZE];
    evt_err err = flash_read(j, r->addr + r->size - REC_TRAILER_SIZE, t, sizeof t);
    if (err != EVT_OK) {
        return err;
    }
    *ok = key_ok && get_u32(t) == crc && get_u32(t + 4) == REC_COMMIT;
    return EVT_OK;
}

/* After damage the lengths cannot be trusted: look for the next record that is complete
 * and newer than the last good one; *found_off = sector size if there is none. */
static evt_err resync(evt_journal *j, uint32_t s, uint32_t from, bool have_seq, uint32_t last_seq,
                      uint32_t *found_off)
{
    uint32_t ss = sector_size(j), base = sector_base(j, s);
    for (uint32_t off = from; off + REC_MIN_SIZE <= ss; off += 4u) {
        uint8_t h[REC_HDR_SIZE];
        evt_err err = flash_read(j, base + off, h, sizeof h);
        if (err != EVT_OK) {
            return err;
        }
        rec_view r;
        if (!parse_header(h, base + off, ss - off, &r) || (have_seq && r.seq <= last_seq)) {
            continue;
        }
        bool ok = false;
        err = check_body(j, h, &r, &ok);
        if (err != EVT_OK) {
            return err;
        }
        if (ok) {
            *found_off = off;
            return EVT_OK;
        }
    }
    *found_off = ss;
    return EVT_OK;
}

/*
 * Walks the records of sector s in order, calling visit for each intact one. Damaged spans
 * (torn writes, bit flips) add one to *corrupt each. *end is the offset after which the
 * sector has never been programmed — the write position if s is the head.
 */
static evt_err walk_sector(evt_journal *j, uint32_t s, rec_visit_fn visit, void *ctx, uint32_t *end,
                           uint32_t *corrupt, uint32_t *valid)
{
    uint32_t ss = sector_size(j), base = sector_base(j, s);
    uint32_t off = SECTOR_HDR_SIZE, last_seq = 0;
    bool have_seq = false;
    uint32_t n_corrupt = 0, n_valid = 0;
    evt_err err = EVT_OK;
    while (off + REC_MIN_SIZE <= ss) {
        uint8_t h[REC_HDR_SIZE];
        rec_view r;
        err = flash_read(j, base + off, h, sizeof h);
        if (err != EVT_OK) {
            return err;
        }
        if (parse_header(h, base + off, ss - off, &r)) {
            bool ok = false;
            err = check_body(j, h, &r, &ok);
            if (err != EVT_OK) {
                return err;
            }
            if (ok) {
                n_valid++;
                have_seq = true;
                last_seq = r.seq;
                if (visit != NULL) {
                    err = visit(j, &r, ctx);
                    if (err != EVT_OK) {
                        return err;
                    }
                }
            } else {
                n_corrupt++;
            }
            off += r.size;
            continue;
        }
        uint32_t last = UINT32_MAX;
        err = find_last_programmed(j, base + off, ss - off, &last);
        if (err != EVT_OK) {
            return err;
        }
        if (last == UINT32_MAX) {
            break; /* clean end of the written part */
        }
        n_corrupt++;
        uint32_t next = ss;
        err = resync(j, s, off + 4u, have_seq, last_seq, &next);
        if (err != EVT_OK) {
            return err;
        }
        if (next < ss) {
            off = next;
            continue;
        }
        /* Nothing intact follows: never program over the damaged bytes. */
        off = align4(last - base + 1u);
        break;
    }
    if (off < ss && off + REC_MIN_SIZE > ss) {
        /* Tail too short for a record; it must still be blank to be reused. */
        uint32_t last = UINT32_MAX;
        err = find_last_programmed(j, base + off, ss - off, &last);
        if (err != EVT_OK) {
            return err;
        }
        if (last != UINT32_MAX) {
            n_corrupt++;
            off = ss;
        }
    }
    if (end != NULL) {
        *end = off;
    }
    if (corrupt != NULL) {
        *corrupt += n_corrupt;
    }
    if (valid != NULL) {
        *valid += n_valid;
    }
    return EVT_OK;
}

/* ---- index ------------------------------------------------------------------------------- */

static uint32_t index_lower_bound(const evt_journal *j, uint32_t hash)
{
    uint32_t lo = 0, hi = j->index_used;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2u;
        if (entries(j)[mid].hash < hash) {
            lo = mid + 1u;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* Finds key; *pos is its entry, or where to insert it when *found is false. */
static evt_err index_find(evt_journal *j, const char *key, uint8_t key_len, uint32_t hash,
                          uint32_t *pos, bool *found)
{
    uint32_t i = index_lower_bound(j, hash);
    *found = false;
    for (; i < j->index_used && entries(j)[i].hash == hash; i++) {
        const index_entry *e = &entries(j)[i];
        if (e->key_len != key_len) {
            continue;
        }
        char stored[EVT_JOURNAL_KEY_MAX];
        evt_err err = flash_read(j, e->addr + REC_HDR_SIZE, stored, key_len);
        if (err != EVT_OK) {
            return err;
        }
        if (memcmp(stored, key, key_len) == 0) {
            *found = true;
            break;
        }
    }
    *pos = i;
    return EVT_OK;
}

static void index_insert(evt_journal *j, uint32_t pos, const index_entry *e)
{
    index_entry *t = entries(j);
    memmove(&t[pos + 1u], &t[pos], (j->index_used - pos) * sizeof *t);
    t[pos] = *e;
    j->index_used++;
}

static void index_remove(evt_journal *j, uint32_t pos)
{
    index_entry *t = entries(j);
    memmove(&t[pos], &t[pos + 1u], (j->index_used - pos - 1u) * sizeof *t);
    j->index_used--;
}

static uint32_t entry_size(const index_entry *e)
{
    return rec_size(e->key_len, e->value_len);
}

/* ---- writing ----------------------------------------------------------------------------- */

/*
 * Appends one record at the write position. The value comes from RAM (value != NULL) or is
 * copied from the flash record at value_addr (garbage collection). Program order: header,
 * key, value, CRC, and the commit word last — until the commit is on flash, recovery ignores
 * the record, so a cut anywhere leaves the previous state.
 */
static evt_err write_record(evt_journal *j, uint8_t type, const char *key, uint8_t key_len,
                            const void *value, uint32_t value_addr, uint16_t value_len,
                            uint32_t *addr_out)
{
    uint32_t size = rec_size(key_len, value_len);
    uint32_t addr = sector_base(j, j->active) + j->write_off;
    /* Reserve the space first: after a failed program these bytes are never reused. */
    j->write_off += size;

    uint8_t h[REC_HDR_SIZE];
    h[0] = REC_MAGIC;
    h[1] = type;
    h[2] = key_len;
    h[3] = 0xFFu;
    put_u16(h + 4, value_len);
    h[6] = 0xFFu;
    h[7] = 0xFFu;
    put_u32(h + 8, j->next_seq++);
    put_u32(h + 12, crc32_update(0, h, 12));
    uint32_t crc = crc32_update(0, h, sizeof h);

    evt_err err = flash_program(j, addr, h, sizeof h);
    if (err == EVT_OK && key_len > 0) {
        crc = crc32_update(crc, key, key_len);
        err = flash_program(j, addr + REC_HDR_SIZE, key, key_len);
    }
    uint32_t dst = addr + REC_HDR_SIZE + key_len;
    if (err == EVT_OK && value != NULL && value_len > 0) {
        crc = crc32_update(crc, value, value_len);
        err = flash_program(j, dst, value, value_len);
    } else if (err == EVT_OK && value == NULL) {
        uint8_t buf[CHUNK];
        for (uint32_t done = 0; err == EVT_OK && done < value_len;) {
            uint32_t n = value_len - done < CHUNK ? value_len - done : CHUNK;
            err = flash_read(j, value_addr + done, buf, n);
            if (err == EVT_OK) {
                crc = crc32_update(crc, buf, n);
                err = flash_program(j, dst + done, buf, n);
            }
            done += n;
        }
    }
    uint8_t word[4];
    if (err == EVT_OK) {
        put_u32(word, crc);
        err = flash_program(j, addr + size - REC_TRAILER_SIZE, word, 4);
    }
    if (err == EVT_OK) {
        put_u32(word, REC_COMMIT);
        err = flash_program(j, addr + size - 4u, word, 4);
    }
    if (err != EVT_OK) {
        return err;
    }
    j->records++;
    if (addr_out != NULL) {
        *addr_out = addr;
    }
    return EVT_OK;
}

static uint32_t free_sector_count(const evt_journal *j)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < j->sector_count; s++) {
        n += sec(j, s)->state != SEC_DATA;
    }
    return n;
}

/* Oldest data sector other than the head, or sector_count if there is none. */
static uint32_t oldest_sector(const evt_journal *j)
{
    uint32_t best = j->sector_count;
    for (uint32_t s = 0; s < j->sector_count; s++) {
        if (s != j->active && sec(j, s)->state == SEC_DATA &&
            (best == j->sector_count || sec(j, s)->gen < sec(j, best)->gen)) {
            best = s;
        }
    }
    return best;
}

typedef struct gc_ctx {
    uint32_t dropped; /* intact records that disappear with the erased sector */
} gc_ctx;

static evt_err gc_copy_visit(evt_journal *j, const rec_view *r, void *ctx)
{
    gc_ctx *gc = ctx;
    gc->dropped++;
    if (r->type != REC_PUT) {
        /* Tombstones and GC markers in the oldest sector can go: nothing older remains. */
        return EVT_OK;
    }
    char key[EVT_JOURNAL_KEY_MAX];
    evt_err err = flash_read(j, r->addr + REC_HDR_SIZE, key, r->key_len);
    if (err != EVT_OK) {
        return err;
    }
    uint32_t hash = key_hash(key, r->key_len);
    for (uint32_t i = index_lower_bound(j, hash); i < j->index_used; i++) {
        index_entry *e = &entries(j)[i];
        if (e->hash != hash) {
            break;
        }
        if (e->addr != r->addr) {
            continue; /* superseded copy, or another key with the same hash */
        }
        if (j->write_off + r->size > data_end(j)) {
            return EVT_ERR_INTERNAL; /* cannot happen: copies pack at least as tight */
        }
        uint32_t addr;
        err = write_record(j, REC_PUT, key, r->key_len, NULL, r->addr + REC_HDR_SIZE + r->key_len,
                           r->value_len, &addr);
        if (err != EVT_OK) {
            return err;
        }
        e->addr = addr;
        break;
    }
    return EVT_OK;
}

/*
 * Moves the live records of the oldest sector to the (fresh) head, writes the GC-done marker
 * naming the evacuated generation, then erases. A cut before the marker is undone at open
 * (the head only holds copies); after it, open finishes the erase.
 */
static evt_err gc_oldest(evt_journal *j)
{
    uint32_t o = oldest_sector(j);
    if (o == j->sector_count) {
        return EVT_OK;
    }
    gc_ctx gc = {0};
    evt_err err = walk_sector(j, o, gc_copy_visit, &gc, NULL, NULL, NULL);
    if (err != EVT_OK) {
        return err;
    }
    uint8_t gen[4];
    put_u32(gen, sec(j, o)->gen);
    err = write_record(j, REC_GC_DONE, NULL, 0, gen, 0, sizeof gen, NULL);
    if (err != EVT_OK) {
        return err;
    }
    j->records -= gc.dropped;
    err = erase_sector(j, o);
    if (err != EVT_OK) {
        return err;
    }
    j->gc_runs++;
    return EVT_OK;
}

/* Opens the next free sector in ring order (so wear goes round all sectors) and, if that
 * was the last free one, collects the oldest so one spare always remains. */
static evt_err advance(evt_journal *j)
{
    uint32_t free_count = free_sector_count(j);
    if (free_count == 0) {
        return EVT_ERR_INTERNAL;
    }
    uint32_t next = j->active;
    for (uint32_t k = 1; k <= j->sector_count; k++) {
        next = (j->active + k) % j->sector_count;
        if (sec(j, next)->state != SEC_DATA) {
            break;
        }
    }
    evt_err err = activate_sector(j, next);
    if (err != EVT_OK) {
        return err;
    }
    return free_count == 1 ? gc_oldest(j) : EVT_OK;
}

/*
 * Makes room for need bytes at the head. With watch_sector < sector_count, stops early with
 * *gone = true once that sector (holding a record being deleted) has been collected.
 */
static evt_err ensure_room(evt_journal *j, uint32_t need, uint32_t watch_sector, uint32_t watch_gen,
                           bool *gone)
{
    for (uint32_t attempt = 0; attempt <= j->sector_count; attempt++) {
        if (watch_sector < j->sector_count &&
            (sec(j, watch_sector)->state != SEC_DATA || sec(j, watch_sector)->gen != watch_gen)) {
            *gone = true;
            return EVT_OK;
        }
        if (j->write_off + need <= data_end(j)) {
            return EVT_OK;
        }
        evt_err err = advance(j);
        if (err != EVT_OK) {
            return err;
        }
    }
    return EVT_ERR_JOURNAL_FULL;
}

/* After a storage error the RAM view may be ahead of the flash: force a re-open. */
static evt_err fail_closed(evt_journal *j, evt_err err)
{
    if (err != EVT_ERR_JOURNAL_FULL) {
        j->opened = false;
        EVT_LOGE(LOG_MODULE, "journal: write failed (%s); reopen needed", evt_err_name(err));
    }
    return err;
}

/* ---- open -------------------------------------------------------------------------------- */

static evt_err find_gc_done_visit(evt_journal *j, const rec_view *r, void *ctx)
{
    if (r->type != REC_GC_DONE) {
        return EVT_OK;
    }
    uint8_t v[4];
    evt_err err = flash_read(j, r->addr + REC_HDR_SIZE, v, sizeof v);
    if (err != EVT_OK) {
        return err;
    }
    uint32_t *dead = ctx;
    if (get_u32(v) > *dead) {
        *dead = get_u32(v);
    }
    return EVT_OK;
}

typedef struct build_ctx {
    uint32_t max_seq;
    bool have_seq;
    bool overflow;
} build_ctx;

static evt_err build_index_visit(evt_journal *j, const rec_view *r, void *ctx)
{
    build_ctx *b = ctx;
    if (!b->have_seq || r->seq > b->max_seq) {
        b->max_seq = r->seq;
        b->have_seq = true;
    }
    j->records++;
    if (r->type == REC_GC_DONE) {
        return EVT_OK;
    }
    char key[EVT_JOURNAL_KEY_MAX];
    evt_err err = flash_read(j, r->addr + REC_HDR_SIZE, key, r->key_len);
    if (err != EVT_OK) {
        return err;
    }
    uint32_t hash = key_hash(key, r->key_len), pos;
    bool found;
    err = index_find(j, key, r->key_len, hash, &pos, &found);
    if (err != EVT_OK) {
        return err;
    }
    if (found) {
        index_entry *e = &entries(j)[pos];
        j->live_bytes -= entry_size(e);
        if (r->type == REC_DEL) {
            index_remove(j, pos);
            return EVT_OK;
        }
        e->addr = r->addr;
        e->value_len = r->value_len;
        j->live_bytes += r->size;
        return EVT_OK;
    }
    if (r->type == REC_PUT) {
        if (j->index_used == j->index_capacity) {
            b->overflow = true;
            return EVT_OK;
        }
        index_entry e = {
            .hash = hash, .addr = r->addr, .value_len = r->value_len, .key_len = r->key_len};
        index_insert(j, pos, &e);
        j->live_bytes += r->size;
    }
    return EVT_OK;
}

static void reset_counters(evt_journal *j)
{
    j->index_used = 0;
    j->live_bytes = 0;
    j->records = 0;
    j->corrupt_skipped = 0;
}

/* Erases s during recovery; a cut here is recovered the same way at the next open. */
static evt_err recovery_erase(evt_journal *j, uint32_t s)
{
    return erase_sector(j, s);
}

static evt_err mount(evt_journal *j, uint32_t *corrupt_out)
{
    uint32_t n = j->sector_count;
    evt_err err;
    uint32_t max_gen = 0, max_known_erases = 0;
    for (uint32_t s = 0; s < n; s++) {
        err = classify_sector(j, s);
        if (err != EVT_OK) {
            return err;
        }
        if (sec(j, s)->state == SEC_DATA && sec(j, s)->gen > max_gen) {
            max_gen = sec(j, s)->gen;
        }
        if (sec(j, s)->erase_count_known && sec(j, s)->erase_count > max_known_erases) {
            max_known_erases = sec(j, s)->erase_count;
        }
    }
    /* A sector whose header was lost in a cut erase has unknown wear; assume the worst seen. */
    for (uint32_t s = 0; s < n; s++) {
        if (!sec(j, s)->erase_count_known) {
            sec(j, s)->erase_count = max_known_erases;
        }
    }
    j->next_gen = max_gen + 1u;

    /* Pass 1: GC-done markers name evacuated sectors; an erase cut short may have left them
     * looking valid, and reading them could resurrect deleted keys. */
    uint32_t dead = 0;
    for (uint32_t s = 0; s < n; s++) {
        if (sec(j, s)->state == SEC_DATA) {
            err = walk_sector(j, s, find_gc_done_visit, &dead, NULL, NULL, NULL);
            if (err != EVT_OK) {
                return err;
            }
        }
    }
    for (uint32_t s = 0; s < n; s++) {
        if (sec(j, s)->state == SEC_DATA && sec(j, s)->gen <= dead) {
            EVT_LOGI(LOG_MODULE, "journal: finishing interrupted GC (sector %u)", (unsigned)s);
            err = recovery_erase(j, s);
            if (err != EVT_OK) {
                return err;
            }
        }
    }
    /* No free sector left means the cut came during a GC before its marker: the head holds
     * nothing but copies of records still in the oldest sector. Drop it; GC runs again. */
    if (free_sector_count(j) == 0) {
        uint32_t newest = 0;
        for (uint32_t s = 1; s < n; s++) {
            if (sec(j, s)->gen > sec(j, newest)->gen) {
                newest = s;
            }
        }
        EVT_LOGI(LOG_MODULE, "journal: undoing interrupted GC (sector %u)", (unsigned)newest);
        err = recovery_erase(j, newest);
        if (err != EVT_OK) {
            return err;
        }
    }

    /* Pass 2: replay the sectors oldest first; later records win. */
    build_ctx b = {0};
    uint32_t corrupt = 0, prev_gen = 0, head = n, head_end = SECTOR_HDR_SIZE;
    for (;;) {
        uint32_t s_next = n;
        for (uint32_t s = 0; s < n; s++) {
            const sector_info *si = sec(j, s);
            if (si->state == SEC_DATA && si->gen > prev_gen &&
                (s_next == n || si->gen < sec(j, s_next)->gen)) {
                s_next = s;
            }
        }
        if (s_next == n) {
            break;
        }
        uint32_t end;
        err = walk_sector(j, s_next, build_index_visit, &b, &end, &corrupt, NULL);
        if (err != EVT_OK) {
            return err;
        }
        prev_gen = sec(j, s_next)->gen;
        head = s_next;
        head_end = end;
    }
    j->corrupt_skipped = corrupt;
    j->next_seq = b.have_seq ? b.max_seq + 1u : 1u;
    if (corrupt_out != NULL) {
        *corrupt_out = corrupt;
    }
    if (corrupt > 0) {
        EVT_LOGW(LOG_MODULE, "journal: %u corrupt records skipped", (unsigned)corrupt);
    }
    if (b.overflow) {
        EVT_LOGE(LOG_MODULE, "journal: more keys than the index holds (%u)",
                 (unsigned)j->index_capacity);
        return EVT_ERR_NOMEM;
    }
    if (head == n) {
        /* Nothing to replay: generations may start again (they may have reached the cap on
         * foreign flash). */
        j->next_gen = 1;
        err = activate_sector(j, 0);
        if (err != EVT_OK) {
            return err;
        }
    } else {
        j->active = head;
        j->write_off = head_end;
    }
    return EVT_OK;
}

static bool valid_key(const char *key, size_t *len)
{
    if (key == NULL) {
        return false;
    }
    size_t n = 0;
    while (n <= EVT_JOURNAL_KEY_MAX && key[n] != '\0') {
        if ((unsigned char)key[n] < 0x20u || (unsigned char)key[n] > 0x7Eu) {
            return false;
        }
        n++;
    }
    *len = n;
    return n >= 1 && n <= EVT_JOURNAL_KEY_MAX;
}

static bool usable(const evt_journal *j)
{
    return j != NULL && j->opened;
}

/* ---- public API -------------------------------------------------------------------------- */

evt_err evt_journal_open(evt_journal *j, const evt_hal_storage *storage, void *work,
                         size_t work_len, uint32_t *corrupt_out)
{
    if (corrupt_out != NULL) {
        *corrupt_out = 0;
    }
    if (j == NULL) {
        return EVT_ERR_ARG;
    }
    memset(j, 0, sizeof *j);
    if (storage == NULL || work == NULL || storage->read == NULL || storage->program == NULL ||
        storage->erase == NULL || ((uintptr_t)work & 3u) != 0) {
        return EVT_ERR_ARG;
    }
    uint32_t ss = storage->sector_size;
    if (ss < EVT_JOURNAL_SECTOR_MIN || (ss & (ss - 1u)) != 0 || storage->size % ss != 0 ||
        storage->size / ss < EVT_JOURNAL_SECTORS_MIN || storage->size / ss > 0xFFFFu) {
        return EVT_ERR_ARG;
    }
    uint32_t n = storage->size / ss;
    size_t table = (size_t)n * sizeof(sector_info);
    if (work_len < table + sizeof(index_entry)) {
        return EVT_ERR_ARG;
    }
    j->storage = storage;
    j->sector_count = n;
    j->sectors = work;
    j->index = (uint8_t *)work + table;
    memset(work, 0, table);
    size_t cap = (work_len - table) / sizeof(index_entry);
    j->index_capacity = cap > UINT32_MAX ? UINT32_MAX : (uint32_t)cap;
    evt_err err = mount(j, corrupt_out);
    j->opened = err == EVT_OK;
    return err;
}

evt_err evt_journal_put(evt_journal *j, const char *key, const void *value, size_t len)
{
    size_t key_len;
    if (!usable(j) || !valid_key(key, &key_len) || len > EVT_JOURNAL_VALUE_MAX ||
        (value == NULL && len > 0)) {
        return EVT_ERR_ARG;
    }
    if (j->iterating) {
        return EVT_ERR_BUSY;
    }
    uint32_t hash = key_hash(key, key_len), pos;
    bool found;
    evt_err err = index_find(j, key, (uint8_t)key_len, hash, &pos, &found);
    if (err != EVT_OK) {
        return err;
    }
    if (!found && j->index_used == j->index_capacity) {
        return EVT_ERR_JOURNAL_FULL;
    }
    uint32_t need = rec_size((uint32_t)key_len, (uint32_t)len);
    uint32_t old = found ? entry_size(&entries(j)[pos]) : 0;
    uint32_t capacity = (j->sector_count - 1u) * (data_end(j) - SECTOR_HDR_SIZE);
    if (j->live_bytes - old + need > capacity) {
        return EVT_ERR_JOURNAL_FULL;
    }
    bool gone = false;
    err = ensure_room(j, need, j->sector_count, 0, &gone);
    if (err != EVT_OK) {
        return fail_closed(j, err);
    }
    uint32_t addr;
    err = write_record(j, REC_PUT, key, (uint8_t)key_len, len > 0 ? value : "", 0, (uint16_t)len,
                       &addr);
    if (err != EVT_OK) {
        return fail_closed(j, err);
    }
    if (found) {
        /* GC may have moved the old record but never the index order. */
        index_entry *e = &entries(j)[pos];
        e->addr = addr;
        e->value_len = (uint16_t)len;
    } else {
        index_entry e = {
            .hash = hash, .addr = addr, .value_len = (uint16_t)len, .key_len = (uint8_t)key_len};
        index_insert(j, pos, &e);
    }
    j->live_bytes = j->live_bytes - old + need;
    return EVT_OK;
}

evt_err evt_journal_get(evt_journal *j, const char *key, void *buf, size_t cap, size_t *len)
{
    size_t key_len;
    if (!usable(j) || !valid_key(key, &key_len) || len == NULL || (buf == NULL && cap > 0)) {
        return EVT_ERR_ARG;
    }
    uint32_t hash = key_hash(key, key_len), pos;
    bool found;
    evt_err err = index_find(j, key, (uint8_t)key_len, hash, &pos, &found);
    if (err != EVT_OK) {
        return err;
    }
    if (!found) {
        return EVT_ERR_NOT_FOUND;
    }
    const index_entry *e = &entries(j)[pos];
    *len = e->value_len;
    if (cap < e->value_len) {
        return EVT_ERR_OVERFLOW;
    }
    /* Re-check the CRC on every read: the value decides whether money is reversed. */
    uint8_t h[REC_HDR_SIZE + EVT_JOURNAL_KEY_MAX];
    uint32_t head = REC_HDR_SIZE + e->key_len;
    err = flash_read(j, e->addr, h, head);
    if (err == EVT_OK && e->value_len > 0) {
        err = flash_read(j, e->addr + head, buf, e->value_len);
    }
    uint8_t t[4];
    if (err == EVT_OK) {
        err = flash_read(j, e->addr + entry_size(e) - REC_TRAILER_SIZE, t, sizeof t);
    }
    if (err != EVT_OK) {
        return err;
    }
    uint32_t crc = crc32_update(0, h, head);
    if (e->value_len > 0) {
        crc = crc32_update(crc, buf, e->value_len);
    }
    if (crc != get_u32(t)) {
        EVT_LOGE(LOG_MODULE, "journal: record at 0x%08x no longer reads back intact",
                 (unsigned)e->addr);
        return EVT_ERR_JOURNAL_CORRUPT;
    }
    return EVT_OK;
}

evt_err evt_journal_del(evt_journal *j, const char *key)
{
    size_t key_len;
    if (!usable(j) || !valid_key(key, &key_len)) {
        return EVT_ERR_ARG;
    }
    if (j->iterating) {
        return EVT_ERR_BUSY;
    }
    uint32_t hash = key_hash(key, key_len), pos;
    bool found;
    evt_err err = index_find(j, key, (uint8_t)key_len, hash, &pos, &found);
    if (err != EVT_OK) {
        return err;
    }
    if (!found) {
        return EVT_ERR_NOT_FOUND;
    }
    /* Out of the index first, so a GC needed for the tombstone's room does not copy the very
     * record being deleted: a delete then always succeeds, even in a full journal. */
    index_entry old = entries(j)[pos];
    index_remove(j, pos);
    j->live_bytes -= entry_size(&old);
    uint32_t old_sector = old.addr / sector_size(j);
    bool gone = false;
    err =
        ensure_room(j, rec_size((uint32_t)key_len, 0), old_sector, sec(j, old_sector)->gen, &gone);
    if (err == EVT_OK && !gone) {
        err = write_record(j, REC_DEL, key, (uint8_t)key_len, NULL, 0, 0, NULL);
    }
    if (err == EVT_ERR_JOURNAL_FULL) {
        /* Nothing was written for this key: it keeps its value. */
        uint32_t at = index_lower_bound(j, old.hash);
        index_insert(j, at, &old);
        j->live_bytes += entry_size(&old);
    }
    return err == EVT_OK ? EVT_OK : fail_closed(j, err);
}

evt_err evt_journal_iterate(evt_journal *j, const char *prefix, evt_journal_visit_fn visit,
                            void *arg)
{
    size_t prefix_len = 0;
    if (!usable(j) || prefix == NULL || visit == NULL) {
        return EVT_ERR_ARG;
    }
    while (prefix[prefix_len] != '\0') {
        if (++prefix_len > EVT_JOURNAL_KEY_MAX) {
            return EVT_ERR_ARG;
        }
    }
    if (j->iterating) {
        return EVT_ERR_BUSY;
    }
    j->iterating = true;
    evt_err err = EVT_OK;
    for (uint32_t i = 0; err == EVT_OK && i < j->index_used; i++) {
        const index_entry *e = &entries(j)[i];
        if (e->key_len < prefix_len) {
            continue;
        }
        char key[EVT_JOURNAL_KEY_MAX + 1];
        err = flash_read(j, e->addr + REC_HDR_SIZE, key, e->key_len);
        if (err != EVT_OK) {
            break;
        }
        key[e->key_len] = '\0';
        if (memcmp(key, prefix, prefix_len) == 0) {
            err = visit(arg, key, e->value_len);
        }
    }
    j->iterating = false;
    return err;
}

evt_err evt_journal_stats_get(const evt_journal *j, evt_journal_stats *out)
{
    if (!usable(j) || out == NULL) {
        return EVT_ERR_ARG;
    }
    memset(out, 0, sizeof *out);
    uint32_t per_sector = data_end(j) - SECTOR_HDR_SIZE;
    uint32_t free_count = free_sector_count(j);
    out->sector_count = j->sector_count;
    out->sector_size = sector_size(j);
    out->records = j->records;
    out->live_keys = j->index_used;
    out->index_capacity = j->index_capacity;
    out->live_bytes = j->live_bytes;
    out->capacity_bytes = (j->sector_count - 1u) * per_sector;
    out->free_bytes = out->capacity_bytes > j->live_bytes ? out->capacity_bytes - j->live_bytes : 0;
    out->append_bytes = (j->write_off < data_end(j) ? data_end(j) - j->write_off : 0) +
                        (free_count > 0 ? free_count - 1u : 0) * per_sector;
    out->corrupt_skipped = j->corrupt_skipped;
    out->gc_runs = j->gc_runs;
    out->erase_count_min = UINT32_MAX;
    for (uint32_t s = 0; s < j->sector_count; s++) {
        uint32_t c = sec(j, s)->erase_count;
        out->erase_count_min = c < out->erase_count_min ? c : out->erase_count_min;
        out->erase_count_max = c > out->erase_count_max ? c : out->erase_count_max;
    }
    out->erases = j->erases;
    out->bytes_programmed = j->bytes_programmed;
    out->bytes_erased = j->bytes_erased;
    return EVT_OK;
}

evt_err evt_journal_format(evt_journal *j)
{
    if (j == NULL || j->storage == NULL || j->sectors == NULL) {
        return EVT_ERR_ARG;
    }
    if (j->iterating) {
        return EVT_ERR_BUSY;
    }
    j->opened = false;
    /* Oldest first: a cut format leaves the newest part of the log, i.e. keys with their
     * latest value or none — never an old value in place of a newer one. */
    uint32_t prev_gen = 0;
    for (;;) {
        uint32_t s_next = j->sector_count;
        for (uint32_t s = 0; s < j->sector_count; s++) {
            const sector_info *si = sec(j, s);
            if (si->state == SEC_DATA && si->gen > prev_gen &&
                (s_next == j->sector_count || si->gen < sec(j, s_next)->gen)) {
                s_next = s;
            }
        }
        if (s_next == j->sector_count) {
            break;
        }
        prev_gen = sec(j, s_next)->gen;
        evt_err err = erase_sector(j, s_next);
        if (err != EVT_OK) {
            return err;
        }
    }
    for (uint32_t s = 0; s < j->sector_count; s++) {
        if (sec(j, s)->state != SEC_READY) {
            evt_err err = erase_sector(j, s);
            if (err != EVT_OK) {
                return err;
            }
        }
    }
    reset_counters(j);
    j->next_gen = 1; /* every sector erased: nothing left to order against */
    evt_err err = activate_sector(j, 0);
    if (err != EVT_OK) {
        return err;
    }
    j->opened = true;
    EVT_LOGW(LOG_MODULE, "journal: formatted (%u sectors)", (unsigned)j->sector_count);
    return EVT_OK;
}
