/* evt_escpos_render: commands, text decoding, images, reports, and garbage input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "escpos_render.h"
#include "qr_decode.h"

static evt_escpos_page render(const void *data, size_t len, unsigned width)
{
    evt_escpos_render_options opt = {.width_dots = width};
    evt_escpos_page page;
    assert_int_equal(evt_escpos_render(data, len, &opt, &page), EVT_OK);
    assert_non_null(page.pixels);
    assert_non_null(page.text);
    assert_int_equal(page.width, width ? width : 384);
    return page;
}

#define RENDER(lit, width) render(lit, sizeof(lit) - 1, width)

static size_t black_dots(const evt_escpos_page *p, unsigned x0, unsigned x1, unsigned y0,
                         unsigned y1)
{
    size_t n = 0;
    for (unsigned y = y0; y < y1 && y < p->height; y++) {
        for (unsigned x = x0; x < x1 && x < p->width; x++) {
            n += p->pixels[(size_t)y * p->width + x];
        }
    }
    return n;
}

/* Leftmost and rightmost black column in rows [y0, y1). */
static void ink_columns(const evt_escpos_page *p, unsigned y0, unsigned y1, int *left, int *right)
{
    *left = -1;
    *right = -1;
    for (unsigned x = 0; x < p->width; x++) {
        if (black_dots(p, x, x + 1, y0, y1) > 0) {
            if (*left < 0) {
                *left = (int)x;
            }
            *right = (int)x;
        }
    }
}

static void test_text_lines_and_chinese_mode(void **state)
{
    (void)state;
    /* 医保 in GB18030 is D2 BD B1 A3; 𠮷 (U+20BB7) is the four-byte 95 34 B2 35. */
    evt_escpos_page p = RENDER("\x1B@\x1C&AB\xD2\xBD\xB1\xA3\n\x95\x34\xB2\x35\n\x1C.\x80\n", 384);
    assert_string_equal(p.text, "AB医保\n𠮷\nÇ\n"); /* 0x80 outside Chinese mode: CP437 */
    assert_int_equal(p.invalid_chars, 0);
    assert_int_equal(p.unknown_commands, 0);
    assert_int_equal(p.missing_glyphs, 1); /* unifont.hex has no plane-2 glyphs: a box */
    /* Ink only on the left: "AB" = 24 dots + two 24-dot characters = 72 dots. */
    int left, right;
    ink_columns(&p, 0, 40, &left, &right);
    assert_true(left >= 0 && left < 4);
    assert_true(right > 48 && right < 72);
    assert_true(black_dots(&p, 0, 384, 0, 40) > 100);
    evt_escpos_page_free(&p);
}

static void test_alignment_and_sizes(void **state)
{
    (void)state;
    evt_escpos_page p = RENDER("\x1B"
                               "a\x01"
                               "XXXX\n\x1B"
                               "a\x02"
                               "XXXX\n"
                               "\x1D!\x11XXXX\n\x1B!\x00\x1D!\x00X\n",
                               384);
    int left, right;
    /* Centred: 48 dots of text in 384. */
    ink_columns(&p, 8, 8 + 30, &left, &right);
    assert_in_range(left, 166, 176);
    assert_in_range(right, 208, 218);
    /* Right aligned. */
    ink_columns(&p, 38, 38 + 30, &left, &right);
    assert_in_range(right, 370, 383);
    assert_true(left > 330);
    /* GS ! 0x11: double width and height, still right aligned (ESC a stays). */
    ink_columns(&p, 68, 68 + 54, &left, &right);
    assert_true(left < 300 && left > 270);
    assert_string_equal(p.text, "XXXX\nXXXX\nXXXX\nX\n");
    /* 8 top + 30 + 30 + 54 + 30 + 16 bottom. */
    assert_int_equal(p.height, 8 + 30 + 30 + 54 + 30 + 16);
    evt_escpos_page_free(&p);
}

static void test_wrapping_is_reported(void **state)
{
    (void)state;
    char line[64];
    memset(line, 'W', 40);
    line[40] = '\n';
    evt_escpos_page p = render(line, 41, 384); /* 40 columns on 32-column paper */
    assert_int_equal(p.wrapped_lines, 1);
    assert_string_equal(p.text, "WWWWWWWWWWWWWWWWWWWWWWWWWWWWWWWW\nWWWWWWWW\n");
    evt_escpos_page_free(&p);
    p = render(line, 41, 576); /* fits 48 */
    assert_int_equal(p.wrapped_lines, 0);
    evt_escpos_page_free(&p);
}

static void test_native_qr(void **state)
{
    (void)state;
    const char payload[] = "EVTS1|H12010400001|S1|M1|P1|MSG";
    uint8_t job[256];
    size_t n = 0;
    const uint8_t head[] = {0x1B, 'a', 1,  0x1D, '(',  'k', 4,   0,
                            49,   65,  50, 0,    0x1D, '(', 'k', 3,
                            0,    49,  67, 5,    0x1D, '(', 'k', 3,
                            0,    49,  69, 49,   0x1D, '(', 'k', sizeof payload - 1 + 3,
                            0,    49,  80, 48};
    memcpy(job + n, head, sizeof head);
    n += sizeof head;
    memcpy(job + n, payload, sizeof payload - 1);
    n += sizeof payload - 1;
    const uint8_t print[] = {0x1D, '(', 'k', 3, 0, 49, 81, 48};
    memcpy(job + n, print, sizeof print);
    n += sizeof print;
    evt_escpos_page p = render(job, n, 384);
    assert_int_equal(p.qr_codes, 1);
    assert_int_equal(p.unknown_commands, 0);
    assert_string_equal(p.text, "[qr EVTS1|H12010400001|S1|M1|P1|MSG]\n");
    char got[128] = "";
    assert_int_equal(qr_decode_page(&p, got, sizeof got), 1);
    assert_string_equal(got, payload);
    /* Module size 5, centred: the symbol's side is a multiple of 5 around the middle. */
    int left, right;
    ink_columns(&p, 0, p.height, &left, &right);
    assert_int_equal((right - left + 1) % 5, 0);
    assert_in_range(left + right, 382, 386);
    evt_escpos_page_free(&p);
}

static void test_raster_image(void **state)
{
    (void)state;
    /* GS v 0: 2 bytes x 3 rows, a bar in the first 8 dots of the middle row, then a
     * double-width copy (m = 1). */
    const uint8_t job[] = {0x1D, 'v', '0', 0, 2, 0, 3, 0, 0x00, 0x00, 0xFF, 0x00, 0x00, 0x00,
                           0x1D, 'v', '0', 1, 2, 0, 3, 0, 0x00, 0x00, 0xFF, 0x00, 0x00, 0x00};
    evt_escpos_page p = render(job, sizeof job, 384);
    assert_int_equal(p.rasters, 2);
    assert_int_equal(black_dots(&p, 0, 384, 8, 11), 8);
    assert_int_equal(black_dots(&p, 0, 8, 9, 10), 8);
    assert_int_equal(black_dots(&p, 0, 384, 11, 14), 16);
    assert_string_equal(p.text, "[raster 16x3]\n[raster 32x3]\n");
    evt_escpos_page_free(&p);
}

static void test_cut_feed_and_unknown_commands(void **state)
{
    (void)state;
    /* ESC d 2, an unknown ESC z, GS k barcode (unsupported), DLE, FS p, GS ( L, then a cut. */
    const uint8_t job[] = {'A',  '\n', 0x1B, 'd', 2, 0x1B, 'z', 0x1D, 'k',  0x10, 0x1C, 'p', 1, 0,
                           0x1D, '(',  'L',  2,   0, 48,   69,  'B',  '\n', 0x1D, 'V',  66,  0};
    evt_escpos_page p = render(job, sizeof job, 384);
    assert_int_equal(p.cuts, 1);
    assert_int_equal(p.unknown_commands, 5);
    assert_string_equal(p.text, "A\nB\n[cut]\n");
    /* 8 + A 30 + feed 60 + B 30 + cut 6 + 10 + bottom 16 */
    assert_int_equal(p.height, 8 + 30 + 60 + 30 + 16 + 16);
    evt_escpos_page_free(&p);
}

static void test_truncated_and_invalid(void **state)
{
    (void)state;
    /* Raster claiming more data than there is; a GS ( k longer than the job. */
    evt_escpos_page p = RENDER("ok\n\x1Dv0\x00\x10\x00\x10\x00\xFF", 384);
    assert_int_equal(p.truncated, 1);
    assert_int_equal(p.rasters, 0);
    assert_string_equal(p.text, "ok\n");
    evt_escpos_page_free(&p);
    p = RENDER("\x1D(k\xFF\x00\x31\x50\x30", 384);
    assert_int_equal(p.truncated, 1);
    evt_escpos_page_free(&p);
    /* Lone lead byte, bad trail byte, incomplete 4-byte sequence in Chinese mode. */
    p = RENDER("\x1C&\x81\n\xD2\x20\n\x81\x30\x81\n", 384);
    assert_int_equal(p.invalid_chars, 4);
    assert_string_equal(p.text, "\xEF\xBF\xBD\n\xEF\xBF\xBD \n\xEF\xBF\xBD"
                                "0\xEF\xBF\xBD\n");
    evt_escpos_page_free(&p);
    /* Empty job: a blank slip, not an error. */
    p = render("", 0, 576);
    assert_int_equal(p.height, 8 + 16);
    assert_int_equal(black_dots(&p, 0, 576, 0, p.height), 0);
    evt_escpos_page_free(&p);
}

static void test_random_garbage_never_crashes(void **state)
{
    (void)state;
    /* Seeded so a failure reproduces; biased towards command bytes so the parser's edges
     * are hit, not only text. */
    uint32_t seed = 20240615;
    uint8_t buf[4096];
    const uint8_t hot[] = {0x1B, 0x1D, 0x1C, '\n', 'v', '0', '(', 'k', 0x81, 0xFF, 0x00, 0x31};
    for (int round = 0; round < 300; round++) {
        size_t len = 1 + (size_t)(round * 13) % sizeof buf;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            uint8_t r = (uint8_t)(seed >> 16);
            buf[i] = (r & 3) == 0 ? hot[(r >> 2) % sizeof hot] : (uint8_t)(seed >> 8);
        }
        evt_escpos_render_options opt = {.width_dots = round % 2 ? 576 : 384, .max_height = 20000};
        evt_escpos_page p;
        assert_int_equal(evt_escpos_render(buf, len, &opt, &p), EVT_OK);
        assert_true(p.height <= 20000);
        assert_non_null(p.text);
        evt_escpos_page_free(&p);
    }
}

static void test_page_limit_and_png(void **state)
{
    (void)state;
    /* 200 x ESC d 255 would be ~1.5 m of feed: clipped at max_height, reported. */
    uint8_t job[600];
    for (int i = 0; i < 200; i++) {
        job[3 * i] = 0x1B;
        job[3 * i + 1] = 'd';
        job[3 * i + 2] = 255;
    }
    evt_escpos_render_options opt = {.width_dots = 384, .max_height = 5000};
    evt_escpos_page p;
    assert_int_equal(evt_escpos_render(job, sizeof job, &opt, &p), EVT_OK);
    assert_int_equal(p.height, 5000);
    assert_int_equal(p.truncated, 1);
    evt_escpos_page_free(&p);

    p = RENDER("\x1B@\x1C&\xD2\xBD\xB1\xA3\n", 384);
    char path[] = "/tmp/evt-render-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(evt_escpos_page_write_png(&p, path), EVT_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t head[24];
    assert_int_equal(fread(head, 1, sizeof head, f), sizeof head);
    fclose(f);
    unlink(path);
    assert_memory_equal(head, "\x89PNG\r\n\x1a\n", 8);
    assert_int_equal(head[16] << 24 | head[17] << 16 | head[18] << 8 | head[19], 384);
    assert_int_equal(head[20] << 24 | head[21] << 16 | head[22] << 8 | head[23], p.height);
    assert_int_equal(evt_escpos_page_write_png(&p, "/nonexistent-dir/x.png"), EVT_ERR_STORAGE_IO);
    evt_escpos_page_free(&p);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    evt_escpos_page p;
    evt_escpos_render_options narrow = {.width_dots = 10};
    assert_int_equal(evt_escpos_render((const uint8_t *)"A", 1, &narrow, &p), EVT_ERR_ARG);
    evt_escpos_page_free(&p);
    assert_int_equal(evt_escpos_render(NULL, 5, NULL, &p), EVT_ERR_ARG);
    evt_escpos_page_free(&p);
    evt_escpos_render_options nofont = {.unifont_path = "/nonexistent/unifont.hex"};
    assert_int_equal(evt_escpos_render((const uint8_t *)"A", 1, &nofont, &p), EVT_ERR_NOT_FOUND);
    evt_escpos_page_free(&p);
    /* NULL options: defaults (384 dots, the system unifont). */
    assert_int_equal(evt_escpos_render((const uint8_t *)"A\n", 2, NULL, &p), EVT_OK);
    assert_int_equal(p.width, 384);
    evt_escpos_page_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_lines_and_chinese_mode),
        cmocka_unit_test(test_alignment_and_sizes),
        cmocka_unit_test(test_wrapping_is_reported),
        cmocka_unit_test(test_native_qr),
        cmocka_unit_test(test_raster_image),
        cmocka_unit_test(test_cut_feed_and_unknown_commands),
        cmocka_unit_test(test_truncated_and_invalid),
        cmocka_unit_test(test_random_garbage_never_crashes),
        cmocka_unit_test(test_page_limit_and_png),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
