/*
 * evt_gb18030: UTF-8 -> GB18030 for the receipt printer's Chinese mode (FS &).
 *
 * Chinese ESC/POS printers take GB18030 (GBK for most characters), not UTF-8. The mapping
 * is generated at build time from the host's glibc iconv (firmware/gb18030/gen/), so it is
 * the same encoding a Linux host produces; nothing here allocates.
 *
 * Invalid UTF-8 (bad bytes, overlong forms, surrogates, truncated sequences) and code points
 * GB18030 cannot encode become '?', one per maximal invalid subsequence, so a broken name
 * prints visibly wrong instead of shifting the rest of the line.
 *
 * Display width: in Chinese mode the printer draws a one-byte (ASCII) character in one
 * column and every multi-byte GB18030 character in two. evt_gb18030_width counts exactly
 * that, so the receipt can align columns by what the paper will show.
 */
#ifndef EVT_GB18030_H
#define EVT_GB18030_H

#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"

/* Marks an invalid UTF-8 sequence returned by evt_gb18030_utf8_next. */
#define EVT_GB18030_INVALID UINT32_C(0xFFFFFFFF)

/*
 * Decodes the next UTF-8 scalar value from s[0..len) (len > 0). Returns the number of bytes
 * consumed (>= 1) and stores the code point, or EVT_GB18030_INVALID for an invalid
 * sequence (then the bytes consumed are its maximal invalid prefix, at least 1).
 */
size_t evt_gb18030_utf8_next(const char *s, size_t len, uint32_t *cp);

/*
 * Encodes one code point into out (4 bytes room). Returns 1, 2 or 4. Code points GB18030
 * cannot encode (surrogates, > U+10FFFF, EVT_GB18030_INVALID) produce '?' and return 1.
 */
size_t evt_gb18030_encode(uint32_t cp, uint8_t out[4]);

/*
 * Converts UTF-8 text (len bytes; no NUL needed) into out. *written gets the bytes stored.
 * EVT_ERR_OVERFLOW when out is too small: then *written covers only whole characters.
 * EVT_ERR_ARG for NULL pointers.
 */
evt_err evt_gb18030_from_utf8(const char *utf8, size_t len, uint8_t *out, size_t cap,
                              size_t *written);

/* Bytes the GB18030 form of utf8[0..len) takes. */
size_t evt_gb18030_length(const char *utf8, size_t len);

/* Printer columns utf8[0..len) takes in Chinese mode: 1 per ASCII byte, 2 per other char. */
size_t evt_gb18030_width(const char *utf8, size_t len);

#endif /* EVT_GB18030_H */
