/*
 * evt_escpos_render (host only): draws what a thermal receipt printer would put on paper
 * for a stream of ESC/POS bytes, as a grey-scale bitmap and a PNG, plus a text transcript.
 *
 * It interprets the subset evt_receipt emits (ESC @, ESC a, ESC E, ESC !, GS !, FS &, FS .,
 * ESC d, LF, GS V, GS v 0, GS ( k QR) and a few harmless neighbours (ESC 2/3/J/-/M/G/t/R,
 * CR, HT). Everything else is skipped by its known length or, if unknown, by the command
 * bytes alone, and counted: the renderer never fails on bad input, it reports it.
 *
 * Font: printer font A, 12x24 dots for single-byte characters and 24x24 for GB18030
 * double-byte ones, drawn from GNU Unifont (unifont.hex, 8x16/16x16, scaled 1.5x).
 * Chinese mode (FS &) decodes GB18030 with iconv; outside it bytes >= 0x80 are code page
 * 437, the ESC/POS default.
 *
 * Not thread-safe: the font is loaded once into a process-wide cache.
 */
#ifndef EVT_ESCPOS_RENDER_H
#define EVT_ESCPOS_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"

#define EVT_ESCPOS_DEFAULT_UNIFONT "/usr/share/unifont/unifont.hex"

typedef struct evt_escpos_render_options {
    unsigned width_dots;      /* printable width: 384 (58 mm) or 576 (80 mm); 0 means 384 */
    const char *unifont_path; /* NULL: $EVT_UNIFONT, else EVT_ESCPOS_DEFAULT_UNIFONT */
    unsigned max_height;      /* paper length limit in dots; 0 means 40000 (~5 m) */
} evt_escpos_render_options;

typedef struct evt_escpos_page {
    unsigned width;  /* dots */
    unsigned height; /* dots actually used (plus a small bottom margin) */
    uint8_t *pixels; /* width * height bytes, row-major, 0 = paper, 1 = black */

    /* One line per printed text line (UTF-8, '\n'-terminated, leading spaces kept);
     * images appear as "[raster WxH]" / "[qr <payload>]", cuts as "[cut]". */
    char *text;
    size_t text_len;

    /* What happened, for tests and the receipt-view report. */
    size_t commands;         /* commands recognised and applied */
    size_t unknown_commands; /* unknown or unsupported commands skipped */
    size_t wrapped_lines;    /* text lines too long for the paper, wrapped by the "printer" */
    size_t missing_glyphs;   /* characters with no glyph in the font (drawn as a box) */
    size_t invalid_chars;    /* undecodable GB18030 bytes */
    size_t truncated;        /* commands cut off by the end of the data, clipped images */
    size_t cuts;
    size_t rasters;
    size_t qr_codes;
} evt_escpos_page;

/*
 * Renders data[0..len) onto a new page. Returns EVT_ERR_NOT_FOUND if the font cannot be
 * read, EVT_ERR_NOMEM, EVT_ERR_ARG for bad arguments (width outside 64..4096); garbage in
 * data is never an error. Free the page with evt_escpos_page_free in every case.
 */
evt_err evt_escpos_render(const uint8_t *data, size_t len, const evt_escpos_render_options *opt,
                          evt_escpos_page *page);

/* Writes the page as an 8-bit grey-scale PNG. EVT_ERR_STORAGE_IO on any file error. */
evt_err evt_escpos_page_write_png(const evt_escpos_page *page, const char *path);

void evt_escpos_page_free(evt_escpos_page *page);

#endif /* EVT_ESCPOS_RENDER_H */
