/*
 * Internal: the layout of the generated GB18030 table (see gen/gb18030_gen.c). Only
 * firmware/gb18030/ includes this; the generated source lives in the build directory.
 *
 * Why this shape: a flat (code point, GB code) pair list of the 23 934 two-byte characters
 * took 95.7 KB, a quarter of a 384 KiB MCU's flash. GB18030 is regular enough to store much
 * less, and the generator checks every assumption against iconv (the build fails otherwise):
 *  - The CJK ideographs U+4E00..U+9FA5 (the "dense block") are all two-byte. The 6 763 of
 *    them in GB2312 are ordered by pronunciation and radical, so their codes are kept one by
 *    one; a bitmap says which ideographs those are. All the others sit in GBK/3 and GBK/4 in
 *    code-point order, so they are a few dozen runs over their rank.
 *  - The two-byte characters outside the dense block (symbols, kana, Cyrillic, ...) are a
 *    few hundred runs of consecutive code points with consecutive GB codes.
 *  - The four-byte BMP characters are runs with consecutive four-byte linear indices.
 * Two-byte GB codes are stored as their "linear" index: (lead - 0x81) * 190 plus the trail's
 * position in 0x40..0x7E, 0x80..0xFE, so a run is consecutive in that index.
 */
#ifndef EVT_GB18030_TABLE_H
#define EVT_GB18030_TABLE_H

#include <stddef.h>
#include <stdint.h>

/* count consecutive keys from `first` map to consecutive two-byte linear indices. */
typedef struct evt_gb18030_run {
    uint16_t first;  /* first key: a code point, or a rank inside the dense block */
    uint16_t count;  /* keys in the run */
    uint16_t linear; /* two-byte linear index of `first` */
} evt_gb18030_run;

typedef struct evt_gb18030_range {
    uint16_t first;  /* first code point of the run */
    uint16_t last;   /* last code point of the run (inclusive) */
    uint32_t linear; /* four-byte linear index of `first` (0x81308130 = 0) */
} evt_gb18030_range;

/* Two-byte characters outside the dense block, sorted by code point. */
extern const evt_gb18030_run evt_gb18030_runs[];
extern const size_t evt_gb18030_run_count;

/* The dense block: code points dense_first .. dense_first + dense_count - 1. */
extern const uint16_t evt_gb18030_dense_first;
extern const uint16_t evt_gb18030_dense_count;
/* Bit i of word i / 32: code point dense_first + i has a code of its own (GB2312). */
extern const uint32_t evt_gb18030_dense_bits[];
/* Set bits in the words before word 8 * k: the rank index, one entry per 256 code points. */
extern const uint16_t evt_gb18030_dense_rank[];
/* The GB codes (lead byte high) of the set bits, in code-point order. */
extern const uint16_t evt_gb18030_dense_codes[];
/* The other ideographs, keyed by their rank among the unset bits. */
extern const evt_gb18030_run evt_gb18030_dense_runs[];
extern const size_t evt_gb18030_dense_run_count;

extern const evt_gb18030_range evt_gb18030_ranges[];
extern const size_t evt_gb18030_range_count;

#endif /* EVT_GB18030_TABLE_H */
