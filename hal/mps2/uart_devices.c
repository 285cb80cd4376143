/* Scanner, printer and cashier console on CMSDK UARTs; see uart_devices.h. */
#include "evt_mps2/uart_devices.h"

#include <string.h>

#include "evt_mps2/clock.h"

/* ---- scanner ---------------------------------------------------------------------------- */

static evt_err scanner_read(void *ctx, uint32_t timeout_ms, uint8_t *buf, size_t cap, size_t *len,
                            evt_scan_source *source)
{
    evt_mps2_scanner *sc = ctx;
    if (len == NULL || source == NULL || (buf == NULL && cap > 0)) {
        return EVT_ERR_ARG;
    }
    *len = 0;
    *source = EVT_SCAN_SERIAL;
    uint64_t deadline = evt_mps2_clock_ms() + timeout_ms;
    for (;;) {
        uint8_t c;
        while (evt_mps2_uart_getc(sc->uart, &c)) {
            if (evt_scan_line_feed(&sc->assembler, c)) {
                return evt_scan_line_take(&sc->assembler, buf, cap, len);
            }
        }
        if (evt_mps2_clock_ms() >= deadline) {
            return EVT_ERR_TIMEOUT;
        }
        evt_mps2_clock_wait_irq();
    }
}

void evt_mps2_scanner_init(evt_mps2_scanner *sc, evt_mps2_uart *uart)
{
    memset(sc, 0, sizeof *sc);
    sc->uart = uart;
    evt_scan_line_init(&sc->assembler, sc->line, sizeof sc->line);
    sc->hal = (evt_hal_scanner){.ctx = sc, .read = scanner_read};
}

/* ---- printer ---------------------------------------------------------------------------- */

static evt_err printer_begin(void *ctx, const char *job_name)
{
    evt_mps2_printer *pr = ctx;
    (void)job_name; /* a serial printer has no file names */
    pr->in_job = true;
    pr->job_bytes = 0;
    return EVT_OK;
}

static evt_err printer_write(void *ctx, const uint8_t *data, size_t len)
{
    evt_mps2_printer *pr = ctx;
    if (!pr->in_job || (data == NULL && len > 0)) {
        return EVT_ERR_ARG;
    }
    evt_mps2_uart_write(pr->uart, data, len);
    pr->job_bytes += (uint32_t)len;
    return EVT_OK;
}

static evt_err printer_end(void *ctx)
{
    evt_mps2_printer *pr = ctx;
    if (!pr->in_job) {
        return EVT_ERR_ARG;
    }
    pr->in_job = false;
    pr->jobs++;
    return EVT_OK;
}

void evt_mps2_printer_init(evt_mps2_printer *pr, evt_mps2_uart *uart)
{
    memset(pr, 0, sizeof *pr);
    pr->uart = uart;
    pr->hal = (evt_hal_printer){
        .ctx = pr, .begin = printer_begin, .write = printer_write, .end = printer_end};
}

/* ---- cashier console -------------------------------------------------------------------- */

static void take_waiting_keys(evt_mps2_ui *ui, uint64_t stamp_ms)
{
    uint8_t c;
    while (evt_mps2_uart_getc(ui->uart, &c)) {
        evt_ui_text_feed(&ui->keys, c, stamp_ms);
    }
}

/* The screen's text as it is made, straight to the UART. A serial terminal wants CR LF; the
 * text has bare LFs. */
static void ui_emit(void *ctx, const char *text, size_t len)
{
    evt_mps2_ui *ui = ctx;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            evt_mps2_uart_write(ui->uart, "\r", 1);
        }
        evt_mps2_uart_write(ui->uart, &text[i], 1);
    }
}

static evt_err ui_show(void *ctx, const evt_ui_screen *screen)
{
    evt_mps2_ui *ui = ctx;
    evt_err err = evt_ui_text_emit(screen, ui_emit, ui);
    if (err != EVT_OK) {
        return err;
    }
    ui->shown++;
    /* The screen is out: whatever was typed up to now was typed before it. */
    take_waiting_keys(ui, evt_mps2_clock_ms());
    return EVT_OK;
}

static evt_err ui_read_key(void *ctx, uint32_t timeout_ms, evt_key_event *out)
{
    evt_mps2_ui *ui = ctx;
    if (out == NULL) {
        return EVT_ERR_ARG;
    }
    uint64_t deadline = evt_mps2_clock_ms() + timeout_ms;
    for (;;) {
        if (evt_ui_text_next(&ui->keys, out)) {
            return EVT_OK;
        }
        uint8_t c;
        if (evt_mps2_uart_getc(ui->uart, &c)) {
            /* Taken as soon as the RX interrupt woke us: the moment it was pressed. */
            evt_ui_text_feed(&ui->keys, c, evt_mps2_clock_ms());
            continue;
        }
        if (evt_mps2_clock_ms() >= deadline) {
            return EVT_ERR_TIMEOUT;
        }
        evt_mps2_clock_wait_irq();
    }
}

void evt_mps2_ui_init(evt_mps2_ui *ui, evt_mps2_uart *uart)
{
    memset(ui, 0, sizeof *ui);
    ui->uart = uart;
    evt_ui_text_keys_init(&ui->keys, true);
    ui->hal = (evt_hal_ui){.ctx = ui, .show = ui_show, .read_key = ui_read_key};
}
