/*
 * evt_sim_scanner_image: the camera scan engine of the sim board (evt_hal_scanner).
 *
 * A "frame" is a PNG file. Frames come either from an explicit list (consumed in order, one per
 * read) or from a watched directory: every read polls the directory (about every poll_ms) for
 * *.png files, takes the first by name (strcmp order), decodes it and moves it to <dir>/done/
 * (a code was decoded) or <dir>/failed/ (no code, or not a readable PNG) so it is never read
 * twice. Writers must make a frame appear atomically: write "x.png.part" (or ".x.png") and
 * rename it to "x.png".
 *
 * Decoding: libpng -> 8-bit grey -> zbar image scanner (Y800), QR only, binary mode (the payload
 * bytes are returned untouched, not transcoded to UTF-8), full x/y scan density, inverted-image
 * retry (dark-mode phone screens). When a frame holds several codes the largest one (bounding
 * box area) wins: that is the phone held up to the camera, not a poster behind it.
 *
 * read(): EVT_OK with source EVT_SCAN_CAMERA; EVT_ERR_SCAN_UNREADABLE for a frame without a
 * decodable code; EVT_ERR_OVERFLOW when the payload exceeds cap (*len = true length);
 * EVT_ERR_TIMEOUT when no frame arrived within timeout_ms (0: one look, no waiting).
 */
#ifndef EVT_SIM_SCANNER_IMAGE_H
#define EVT_SIM_SCANNER_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/hal_scanner.h"

typedef struct evt_sim_scanner_image_options {
    /* Either an explicit list of frame files (copied; the files are not moved) ... */
    const char *const *files;
    size_t file_count;
    /* ... or a directory to watch (done/ and failed/ are created inside it). */
    const char *watch_dir;
    uint32_t poll_ms; /* directory poll period; 0 = 50 ms */
} evt_sim_scanner_image_options;

typedef struct evt_sim_scanner_image_stats {
    uint64_t frames;     /* frames looked at */
    uint64_t decoded;    /* frames with a code */
    uint64_t unreadable; /* frames without one (or not a PNG) */
} evt_sim_scanner_image_stats;

typedef struct evt_sim_scanner_image evt_sim_scanner_image;

/* EVT_ERR_ARG unless exactly one of files / watch_dir is given; EVT_ERR_STORAGE_IO when the
 * directory cannot be prepared; EVT_ERR_INTERNAL if zbar refuses its configuration. */
evt_err evt_sim_scanner_image_open(evt_sim_scanner_image **out,
                                   const evt_sim_scanner_image_options *opt);
void evt_sim_scanner_image_close(evt_sim_scanner_image *sc);
const evt_hal_scanner *evt_sim_scanner_image_hal(evt_sim_scanner_image *sc);
void evt_sim_scanner_image_get_stats(const evt_sim_scanner_image *sc,
                                     evt_sim_scanner_image_stats *out);

/*
 * Decodes one PNG file with the same pipeline as read(), without consuming anything.
 * EVT_OK, EVT_ERR_SCAN_UNREADABLE (no code or not a PNG), EVT_ERR_OVERFLOW (*len = true length),
 * EVT_ERR_NOMEM. Also reports how many codes the frame held when count is not NULL.
 */
evt_err evt_sim_decode_png(const char *path, uint8_t *buf, size_t cap, size_t *len, size_t *count);
/* Same, on an 8-bit grey image already in memory (width*height bytes, row-major). */
evt_err evt_sim_decode_grey(const uint8_t *pixels, uint32_t width, uint32_t height, uint8_t *buf,
                            size_t cap, size_t *len, size_t *count);

#endif /* EVT_SIM_SCANNER_IMAGE_H */
