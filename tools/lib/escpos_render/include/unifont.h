/*
 * GNU Unifont glyphs (plane 0) from a .hex file ("XXXX:<32 or 64 hex digits>", 8x16 or 16x16
 * bitmaps), for the ESC/POS renderer and voucher-gen. Host only.
 *
 * Not thread-safe: one font at a time, in a process-wide cache.
 */
#ifndef EVT_UNIFONT_H
#define EVT_UNIFONT_H

#include <stdbool.h>
#include <stdint.h>

#include "evt/err.h"

/* Loads path unless it is the one already loaded. EVT_ERR_NOT_FOUND when the file cannot be
 * opened or holds no glyph; the previously loaded font stays then. */
evt_err evt_unifont_load(const char *path);

/* Glyph of cp: width 8 or 16 dots, 16 rows; bits MSB-first, width/8 bytes per row. False when
 * no font is loaded or it has no glyph for cp. */
bool evt_unifont_glyph(uint32_t cp, unsigned *width, const uint8_t **bits);

#endif /* EVT_UNIFONT_H */
