/*
 * The cashier's devices on CMSDK UARTs (evt_mps2_uart), each implementing one HAL contract:
 *
 * evt_mps2_scanner  evt_hal_scanner: a serial scan engine, one text line per scan
 *                   (evt_scan_line: CR/LF/CRLF end a line, over-long lines are dropped whole
 *                   and reported as EVT_ERR_OVERFLOW), source EVT_SCAN_SERIAL.
 * evt_mps2_printer  evt_hal_printer: the job's ESC/POS bytes go out on the UART as they come,
 *                   unchanged, so the byte stream of a job is the sim's <job>.bin and
 *                   tools/receipt-view renders it. A bare TX line cannot see paper-out; a
 *                   printer with a status line (DLE EOT) would report it here.
 * evt_mps2_ui       evt_hal_ui: the framed text screens of the sim's tty UI (evt_ui_text) on
 *                   the console UART, keys typed on it; each byte acts at once (raw terminal:
 *                   Enter, CR or LF, is OK — send one of them, not both). Keys already waiting
 *                   when a screen goes out are stamped with that moment (evt/hal_ui.h).
 *
 * Waiting (scanner read, read_key) sleeps with WFI between interrupts, bounded by timeout_ms.
 */
#ifndef EVT_MPS2_UART_DEVICES_H
#define EVT_MPS2_UART_DEVICES_H

#include <stdint.h>

#include "evt/hal_printer.h"
#include "evt/hal_scanner.h"
#include "evt/hal_ui.h"
#include "evt_common/scan_line.h"
#include "evt_common/ui_text.h"
#include "evt_mps2/cmsdk_uart.h"

/* The engine's line buffer: a voucher code is at most EVT_VOUCHER_MAX_LEN (512) bytes, a
 * receipt's reference 160; longer lines are refused as too long all the same. */
#define EVT_MPS2_SCAN_LINE_MAX 1024u

typedef struct evt_mps2_scanner {
    evt_hal_scanner hal;
    evt_mps2_uart *uart;
    evt_scan_line assembler;
    uint8_t line[EVT_MPS2_SCAN_LINE_MAX];
} evt_mps2_scanner;

typedef struct evt_mps2_printer {
    evt_hal_printer hal;
    evt_mps2_uart *uart;
    bool in_job;
    uint32_t jobs;
    uint32_t job_bytes;
} evt_mps2_printer;

typedef struct evt_mps2_ui {
    evt_hal_ui hal;
    evt_mps2_uart *uart;
    evt_ui_text_keys keys;
    uint32_t shown;
} evt_mps2_ui;

void evt_mps2_scanner_init(evt_mps2_scanner *sc, evt_mps2_uart *uart);
void evt_mps2_printer_init(evt_mps2_printer *pr, evt_mps2_uart *uart);
void evt_mps2_ui_init(evt_mps2_ui *ui, evt_mps2_uart *uart);

#endif /* EVT_MPS2_UART_DEVICES_H */
