/*
 * GNU Unifont glyphs (the .hex format: "XXXX:<32 or 64 hex digits>", 8x16 or 16x16 bitmaps)
 * for the Chinese text on the generated phone screens. Unifont is a Debian package, so the
 * tool needs no bundled font and no font rasteriser.
 */
#ifndef VG_FONT_H
#define VG_FONT_H

#include <stdbool.h>
#include <stdint.h>

typedef struct vg_font vg_font;

/* Loads the Basic Multilingual Plane from path; NULL (with errno set) on failure. */
vg_font *vg_font_load(const char *path);
void vg_font_free(vg_font *font);
/* Glyph of cp: 16 rows; *wide tells 16 (two bytes per row) from 8 pixels. False if missing. */
bool vg_font_glyph(const vg_font *font, uint32_t cp, const uint8_t **rows, bool *wide);
/* Decodes one UTF-8 code point at *s and advances; U+FFFD for malformed input. */
uint32_t vg_utf8_next(const char **s);

#endif /* VG_FONT_H */
