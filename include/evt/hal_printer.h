/*
 * HAL contract: the receipt printer, an ESC/POS byte sink (USB, serial, file on the sim).
 * The firmware streams a job as it makes it (evt_receipt_print): begin, then write calls of at
 * most EVT_RECEIPT_STAGE_BYTES each, then end. A driver passes the pieces on; it must not need
 * the whole job in memory (only the sim's file printer gathers it, on the host, for its .bin
 * and PNG preview).
 */
#ifndef EVT_HAL_PRINTER_H
#define EVT_HAL_PRINTER_H

#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"

typedef struct evt_hal_printer {
    void *ctx;
    /* Starts a job; job_name is a short ASCII tag (e.g. the msgid) the sim uses for file
     * names. EVT_ERR_PRINTER_PAPER_OUT / EVT_ERR_PRINTER_IO when the printer is not ready. */
    evt_err (*begin)(void *ctx, const char *job_name);
    /* Appends raw ESC/POS bytes to the current job. After an error the firmware writes no
     * more of the job and calls end. */
    evt_err (*write)(void *ctx, const uint8_t *data, size_t len);
    /* Ends the job: the paper is cut and (on the sim) the .bin and PNG preview written. */
    evt_err (*end)(void *ctx);
} evt_hal_printer;

#endif /* EVT_HAL_PRINTER_H */
