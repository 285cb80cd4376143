/* evt_gb18030: see include/evt/gb18030.h; the table comes from gen/gb18030_gen.c. */
#include "evt/gb18030.h"

#include "gb18030_table.h"

/* Linear index of U+10000 in GB18030's four-byte space (the sequence 0x90308130). */
#define SUPPLEMENTARY_LINEAR_BASE UINT32_C(0x2E248)

static int is_continuation(uint8_t b)
{
    return (b & 0xC0u) == 0x80u;
}

size_t evt_gb18030_utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const uint8_t *p = (const uint8_t *)s;
    uint8_t b0 = p[0];
    if (b0 < 0x80u) {
        *cp = b0;
        return 1;
    }
    size_t need;
    uint32_t value;
    /* Second-byte bounds reject overlong forms, surrogates and values past U+10FFFF at the
     * first byte where they become certain, which gives the "maximal subpart" behaviour. */
    uint8_t lo = 0x80u, hi = 0xBFu;
    if (b0 >= 0xC2u && b0 <= 0xDFu) {
        need = 1;
        value = b0 & 0x1Fu;
    } else if (b0 >= 0xE0u && b0 <= 0xEFu) {
        need = 2;
        value = b0 & 0x0Fu;
        if (b0 == 0xE0u) {
            lo = 0xA0u;
        } else if (b0 == 0xEDu) {
            hi = 0x9Fu;
        }
    } else if (b0 >= 0xF0u && b0 <= 0xF4u) {
        need = 3;
        value = b0 & 0x07u;
        if (b0 == 0xF0u) {
            lo = 0x90u;
        } else if (b0 == 0xF4u) {
            hi = 0x8Fu;
        }
    } else {
        *cp = EVT_GB18030_INVALID;
        return 1;
    }
    size_t i = 1;
    for (; i <= need; i++) {
        if (i >= len) {
            *cp = EVT_GB18030_INVALID;
            return i;
        }
        uint8_t b = p[i];
        if (!is_continuation(b) || (i == 1 && (b < lo || b > hi))) {
            *cp = EVT_GB18030_INVALID;
            return i;
        }
        value = (value << 6) | (b & 0x3Fu);
    }
    *cp = value;
    return i;
}

/* The run containing key, or NULL (runs sorted by first key, not overlapping). */
static const evt_gb18030_run *find_run(const evt_gb18030_run *runs, size_t count, uint32_t key)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const evt_gb18030_run *r = &runs[mid];
        if (key < r->first) {
            hi = mid;
        } else if (key - r->first >= r->count) {
            lo = mid + 1;
        } else {
            return r;
        }
    }
    return NULL;
}

static uint16_t two_byte_code(uint32_t linear)
{
    uint32_t trail = linear % 190u;
    return (uint16_t)(((0x81u + linear / 190u) << 8) |
                      (0x40u + trail + (trail >= 0x3Fu ? 1u : 0u)));
}

static unsigned bits_set(uint32_t v)
{
    unsigned n = 0;
    for (; v != 0; v &= v - 1u) {
        n++;
    }
    return n;
}

/* A CJK ideograph of the dense block: its own GB2312 code, or its place in the runs of the
 * others by rank (gb18030_table.h says why the table has this shape). */
static uint16_t dense_code(uint32_t index)
{
    uint32_t word = index / 32u;
    uint32_t bit = UINT32_C(1) << (index % 32u);
    unsigned rank = evt_gb18030_dense_rank[word / 8u];
    for (uint32_t w = word - word % 8u; w < word; w++) {
        rank += bits_set(evt_gb18030_dense_bits[w]);
    }
    rank += bits_set(evt_gb18030_dense_bits[word] & (bit - 1u));
    if (evt_gb18030_dense_bits[word] & bit) {
        return evt_gb18030_dense_codes[rank];
    }
    uint32_t other = index - rank;
    const evt_gb18030_run *r = find_run(evt_gb18030_dense_runs, evt_gb18030_dense_run_count, other);
    /* The generator saw every ideograph of the block, so every rank is in a run. */
    return r != NULL ? two_byte_code(r->linear + (other - r->first)) : 0;
}

static int find_pair(uint32_t cp, uint16_t *gb)
{
    uint32_t index = cp - evt_gb18030_dense_first;
    if (cp >= evt_gb18030_dense_first && index < evt_gb18030_dense_count) {
        *gb = dense_code(index);
        return *gb != 0;
    }
    const evt_gb18030_run *r = find_run(evt_gb18030_runs, evt_gb18030_run_count, cp);
    if (r == NULL) {
        return 0;
    }
    *gb = two_byte_code(r->linear + (cp - r->first));
    return 1;
}

static int find_linear(uint32_t cp, uint32_t *linear)
{
    size_t lo = 0, hi = evt_gb18030_range_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const evt_gb18030_range *r = &evt_gb18030_ranges[mid];
        if (cp < r->first) {
            hi = mid;
        } else if (cp > r->last) {
            lo = mid + 1;
        } else {
            *linear = r->linear + (cp - r->first);
            return 1;
        }
    }
    return 0;
}

static size_t put_four_byte(uint32_t linear, uint8_t out[4])
{
    out[3] = (uint8_t)(0x30u + linear % 10u);
    linear /= 10u;
    out[2] = (uint8_t)(0x81u + linear % 126u);
    linear /= 126u;
    out[1] = (uint8_t)(0x30u + linear % 10u);
    linear /= 10u;
    out[0] = (uint8_t)(0x81u + linear);
    return 4;
}

size_t evt_gb18030_encode(uint32_t cp, uint8_t out[4])
{
    if (cp < 0x80u) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp <= 0xFFFFu) {
        uint16_t gb;
        if (find_pair(cp, &gb)) {
            out[0] = (uint8_t)(gb >> 8);
            out[1] = (uint8_t)(gb & 0xFFu);
            return 2;
        }
        uint32_t linear;
        if (find_linear(cp, &linear)) {
            return put_four_byte(linear, out);
        }
    } else if (cp <= 0x10FFFFu) {
        return put_four_byte(SUPPLEMENTARY_LINEAR_BASE + (cp - 0x10000u), out);
    }
    out[0] = '?';
    return 1;
}

evt_err evt_gb18030_from_utf8(const char *utf8, size_t len, uint8_t *out, size_t cap,
                              size_t *written)
{
    if (written == NULL || (utf8 == NULL && len > 0) || (out == NULL && cap > 0)) {
        return EVT_ERR_ARG;
    }
    size_t in = 0, o = 0;
    while (in < len) {
        uint32_t cp;
        in += evt_gb18030_utf8_next(utf8 + in, len - in, &cp);
        uint8_t enc[4];
        size_t n = evt_gb18030_encode(cp, enc);
        if (cap - o < n) {
            *written = o;
            return EVT_ERR_OVERFLOW;
        }
        for (size_t k = 0; k < n; k++) {
            out[o++] = enc[k];
        }
    }
    *written = o;
    return EVT_OK;
}

size_t evt_gb18030_length(const char *utf8, size_t len)
{
    size_t in = 0, total = 0;
    while (in < len) {
        uint32_t cp;
        in += evt_gb18030_utf8_next(utf8 + in, len - in, &cp);
        uint8_t enc[4];
        total += evt_gb18030_encode(cp, enc);
    }
    return total;
}

size_t evt_gb18030_width(const char *utf8, size_t len)
{
    size_t in = 0, cols = 0;
    while (in < len) {
        uint32_t cp;
        in += evt_gb18030_utf8_next(utf8 + in, len - in, &cp);
        uint8_t enc[4];
        cols += evt_gb18030_encode(cp, enc) == 1 ? 1u : 2u;
    }
    return cols;
}
