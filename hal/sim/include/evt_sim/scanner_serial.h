/*
 * evt_sim_scanner_serial: a serial text scan engine (evt_hal_scanner) on a file descriptor:
 * stdin, a pty, a fifo, or a regular file used as a script of scans.
 *
 * One scan = one line. CR, LF and CRLF all end a line; empty lines are ignored (so CRLF is one
 * terminator). Bytes of a partial line are kept across reads until its terminator arrives. At
 * end of input (regular file, fifo without writer, pty whose other side closed) a last
 * unterminated line counts as a scan; afterwards reads wait for their timeout (a fifo may get a
 * new writer) and evt_sim_scanner_serial_at_eof() tells the caller the script is over.
 * Payloads cannot contain CR or LF — a limit of serial scan engines, not of this model.
 *
 * read(): EVT_OK with source EVT_SCAN_SERIAL; EVT_ERR_TIMEOUT when no complete line came within
 * timeout_ms; EVT_ERR_OVERFLOW when a line is longer than cap or than the engine's line buffer
 * (line_max): the whole line is dropped (resync at the next terminator) and *len is its true
 * length; EVT_ERR_INTERNAL for read errors other than end of input (EOF, or EIO on a pty).
 *
 * evt_sim_scanner_mux combines two scanners (the sim board listens to a scan directory and a
 * serial line at once) into one evt_hal_scanner.
 */
#ifndef EVT_SIM_SCANNER_SERIAL_H
#define EVT_SIM_SCANNER_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/hal_scanner.h"

typedef struct evt_sim_scanner_serial_options {
    int fd;          /* read side; set O_NONBLOCK by the driver */
    bool own_fd;     /* close fd on evt_sim_scanner_serial_close */
    size_t line_max; /* engine line buffer; 0 = 2048 bytes */
} evt_sim_scanner_serial_options;

typedef struct evt_sim_scanner_serial evt_sim_scanner_serial;

evt_err evt_sim_scanner_serial_open(evt_sim_scanner_serial **out,
                                    const evt_sim_scanner_serial_options *opt);
void evt_sim_scanner_serial_close(evt_sim_scanner_serial *sc);
const evt_hal_scanner *evt_sim_scanner_serial_hal(evt_sim_scanner_serial *sc);
/* True once the input reported end of file (and no partial line is pending). */
bool evt_sim_scanner_serial_at_eof(const evt_sim_scanner_serial *sc);

/*
 * A pseudo-terminal pair in raw mode (no echo, no CR/LF translation), like a USB-serial scan
 * engine. Data written to *master is read from *slave and vice versa. name (may be NULL)
 * receives the slave's path, e.g. for "echo CODE > /dev/pts/7". Both fds are close-on-exec.
 */
evt_err evt_sim_pty_open(int *master, int *slave, char *name, size_t name_cap);

/* Two scanners polled alternately, each with short slices, until one delivers or the overall
 * timeout passes. a is looked at first in every round. */
typedef struct evt_sim_scanner_mux {
    evt_hal_scanner hal; /* hand &mux.hal to the firmware */
    const evt_hal_scanner *a;
    const evt_hal_scanner *b;
    uint32_t slice_ms;
} evt_sim_scanner_mux;

/* slice_ms 0 = 20 ms: how long b may block per round while a is polled without waiting. */
void evt_sim_scanner_mux_init(evt_sim_scanner_mux *mux, const evt_hal_scanner *a,
                              const evt_hal_scanner *b, uint32_t slice_ms);

#endif /* EVT_SIM_SCANNER_SERIAL_H */
