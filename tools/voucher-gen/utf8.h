/* UTF-8 decoding for the text on the generated screens (glyphs come from evt_unifont). */
#ifndef VG_UTF8_H
#define VG_UTF8_H

#include <stdint.h>

/* Decodes one UTF-8 code point at *s and advances; U+FFFD for malformed input. */
uint32_t vg_utf8_next(const char **s);

#endif /* VG_UTF8_H */
