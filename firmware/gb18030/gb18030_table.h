/*
 * Internal: the layout of the generated GB18030 table (see gen/gb18030_gen.c). Only
 * firmware/gb18030/ includes this; the generated source lives in the build directory.
 */
#ifndef EVT_GB18030_TABLE_H
#define EVT_GB18030_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct evt_gb18030_pair {
    uint16_t ucs; /* BMP code point */
    uint16_t gb;  /* two-byte GB18030 code, lead byte in the high half */
} evt_gb18030_pair;

typedef struct evt_gb18030_range {
    uint16_t first;  /* first code point of the run */
    uint16_t last;   /* last code point of the run (inclusive) */
    uint32_t linear; /* four-byte linear index of `first` (0x81308130 = 0) */
} evt_gb18030_range;

extern const evt_gb18030_pair evt_gb18030_pairs[];
extern const size_t evt_gb18030_pair_count;
extern const evt_gb18030_range evt_gb18030_ranges[];
extern const size_t evt_gb18030_range_count;

#endif /* EVT_GB18030_TABLE_H */
