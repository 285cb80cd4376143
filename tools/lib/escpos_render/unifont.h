/* Internal to evt_escpos_render: GNU Unifont glyphs (plane 0), loaded once per process. */
#ifndef EVT_UNIFONT_H
#define EVT_UNIFONT_H

#include <stdbool.h>
#include <stdint.h>

#include "evt/err.h"

/* Loads path (a unifont .hex file) unless it is the one already loaded. */
evt_err evt_unifont_load(const char *path);

/* Glyph of cp: width 8 or 16 dots, 16 rows; bits MSB-first, width/8 bytes per row. */
bool evt_unifont_glyph(uint32_t cp, unsigned *width, const uint8_t **bits);

#endif /* EVT_UNIFONT_H */
