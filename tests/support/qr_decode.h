/*
 * Reads back the QR codes a test printed: the rendered ESC/POS page goes through zbar, as a
 * phone camera at the cashier's desk would see the receipt.
 */
#ifndef EVT_QR_DECODE_H
#define EVT_QR_DECODE_H

#include <stddef.h>

#include "escpos_render.h"

/* Decodes the QR codes on the page; returns how many, the text of the first in out. */
int qr_decode_page(const evt_escpos_page *page, char *out, size_t cap);

#endif
