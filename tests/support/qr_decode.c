#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <zbar.h>

#include "qr_decode.h"

int qr_decode_page(const evt_escpos_page *page, char *out, size_t cap)
{
    size_t n = (size_t)page->width * page->height;
    uint8_t *gray = malloc(n);
    assert_non_null(gray);
    for (size_t i = 0; i < n; i++) {
        gray[i] = page->pixels[i] ? 0 : 255;
    }
    zbar_image_scanner_t *scanner = zbar_image_scanner_create();
    zbar_image_scanner_set_config(scanner, ZBAR_NONE, ZBAR_CFG_ENABLE, 0);
    zbar_image_scanner_set_config(scanner, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1);
    zbar_image_t *img = zbar_image_create();
    zbar_image_set_format(img, zbar_fourcc('Y', '8', '0', '0'));
    zbar_image_set_size(img, page->width, page->height);
    zbar_image_set_data(img, gray, n, zbar_image_free_data);
    int found = zbar_scan_image(scanner, img);
    const zbar_symbol_t *sym = zbar_image_first_symbol(img);
    if (sym != NULL) {
        snprintf(out, cap, "%s", zbar_symbol_get_data(sym));
    }
    zbar_image_destroy(img);
    zbar_image_scanner_destroy(scanner);
    return found;
}
