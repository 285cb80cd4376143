/* evt_sim_scanner_serial: line-oriented scan engine on an fd; pty helper; two-source mux. */
#include "evt_sim/scanner_serial.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "evt_common/scan_line.h"
#include "sim_util.h"

#define DEFAULT_LINE_MAX 2048u
#define EOF_RETRY_MS     50u
#define DEFAULT_SLICE_MS 20u

struct evt_sim_scanner_serial {
    evt_hal_scanner hal;
    int fd;
    bool own_fd;
    bool eof;
    uint8_t *line;           /* storage of the line being assembled */
    evt_scan_line assembler; /* bytes -> scans (shared with the UART scanner) */
    uint8_t rx[512];         /* bytes read but not yet split into lines */
    size_t rx_len;
    size_t rx_pos;
};

/* Splits buffered bytes; true when a complete non-empty line is ready (result in *err). */
static bool take_buffered_line(evt_sim_scanner_serial *sc, uint8_t *buf, size_t cap, size_t *len,
                               evt_err *err)
{
    while (sc->rx_pos < sc->rx_len) {
        if (evt_scan_line_feed(&sc->assembler, sc->rx[sc->rx_pos++])) {
            *err = evt_scan_line_take(&sc->assembler, buf, cap, len);
            return true;
        }
    }
    sc->rx_pos = sc->rx_len = 0;
    return false;
}

static evt_err serial_read(void *ctx, uint32_t timeout_ms, uint8_t *buf, size_t cap, size_t *len,
                           evt_scan_source *source)
{
    evt_sim_scanner_serial *sc = ctx;
    if (len == NULL || source == NULL || (buf == NULL && cap > 0)) {
        return EVT_ERR_ARG;
    }
    *len = 0;
    *source = EVT_SCAN_SERIAL;
    const uint64_t start = evt_sim_util_now_ms();
    bool looked = false;
    for (;;) {
        evt_err err;
        if (take_buffered_line(sc, buf, cap, len, &err)) {
            return err;
        }
        uint64_t elapsed = evt_sim_util_now_ms() - start;
        uint32_t left = elapsed >= timeout_ms ? 0 : (uint32_t)(timeout_ms - elapsed);
        /* Bytes streaming in without a terminator must not keep us past the deadline. */
        if (left == 0 && looked) {
            return EVT_ERR_TIMEOUT;
        }
        looked = true;
        struct pollfd pfd = {.fd = sc->fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)(left > INT32_MAX ? INT32_MAX : left));
        if (pr < 0 && errno == EINTR) {
            continue;
        }
        if (pr < 0) {
            return EVT_ERR_INTERNAL;
        }
        if (pr == 0) {
            return EVT_ERR_TIMEOUT;
        }
        ssize_t n = read(sc->fd, sc->rx, sizeof sc->rx);
        if (n > 0) {
            sc->rx_len = (size_t)n;
            sc->rx_pos = 0;
            sc->eof = false;
            continue;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            continue;
        }
        if (n < 0 && errno != EIO) {
            return EVT_ERR_INTERNAL;
        }
        /* End of input (EOF, or EIO from a pty whose other side closed). A script's last line
         * may lack its terminator: it still is a scan. */
        sc->eof = true;
        if (evt_scan_line_pending(&sc->assembler)) {
            return evt_scan_line_take(&sc->assembler, buf, cap, len);
        }
        /* poll() keeps reporting EOF at once; wait in small steps so a fifo that gets a new
         * writer is picked up, without spinning. */
        if (left == 0) {
            return EVT_ERR_TIMEOUT;
        }
        evt_sim_util_sleep_ms(left < EOF_RETRY_MS ? left : EOF_RETRY_MS);
    }
}

evt_err evt_sim_scanner_serial_open(evt_sim_scanner_serial **out,
                                    const evt_sim_scanner_serial_options *opt)
{
    if (out == NULL || opt == NULL || opt->fd < 0) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    evt_sim_scanner_serial *sc = calloc(1, sizeof *sc);
    if (sc == NULL) {
        return EVT_ERR_NOMEM;
    }
    size_t line_max = opt->line_max != 0 ? opt->line_max : DEFAULT_LINE_MAX;
    sc->line = malloc(line_max);
    if (sc->line == NULL) {
        free(sc);
        return EVT_ERR_NOMEM;
    }
    evt_scan_line_init(&sc->assembler, sc->line, line_max);
    /* Non-blocking so a spurious wake-up from poll() can never block past the timeout. */
    int flags = fcntl(opt->fd, F_GETFL);
    if (flags < 0 || fcntl(opt->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        free(sc->line);
        free(sc);
        return EVT_ERR_ARG;
    }
    sc->fd = opt->fd;
    sc->own_fd = opt->own_fd;
    sc->hal = (evt_hal_scanner){.ctx = sc, .read = serial_read};
    *out = sc;
    return EVT_OK;
}

void evt_sim_scanner_serial_close(evt_sim_scanner_serial *sc)
{
    if (sc == NULL) {
        return;
    }
    if (sc->own_fd) {
        close(sc->fd);
    }
    free(sc->line);
    free(sc);
}

const evt_hal_scanner *evt_sim_scanner_serial_hal(evt_sim_scanner_serial *sc)
{
    return &sc->hal;
}

bool evt_sim_scanner_serial_at_eof(const evt_sim_scanner_serial *sc)
{
    return sc->eof && !evt_scan_line_pending(&sc->assembler) && sc->rx_pos >= sc->rx_len;
}

evt_err evt_sim_pty_open(int *master, int *slave, char *name, size_t name_cap)
{
    if (master == NULL || slave == NULL) {
        return EVT_ERR_ARG;
    }
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0) {
        return EVT_ERR_INTERNAL;
    }
    char path[128];
    if (grantpt(m) != 0 || unlockpt(m) != 0 || ptsname_r(m, path, sizeof path) != 0) {
        close(m);
        return EVT_ERR_INTERNAL;
    }
    int s = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (s < 0) {
        close(m);
        return EVT_ERR_INTERNAL;
    }
    /* A scan engine sends bytes, not a typist's lines: no echo, no CR->NL, no editing. */
    struct termios tio;
    if (tcgetattr(s, &tio) != 0) {
        close(s);
        close(m);
        return EVT_ERR_INTERNAL;
    }
    cfmakeraw(&tio);
    if (tcsetattr(s, TCSANOW, &tio) != 0) {
        close(s);
        close(m);
        return EVT_ERR_INTERNAL;
    }
    if (name != NULL) {
        if (strlen(path) >= name_cap) {
            close(s);
            close(m);
            return EVT_ERR_OVERFLOW;
        }
        strcpy(name, path);
    }
    *master = m;
    *slave = s;
    return EVT_OK;
}

static evt_err mux_read(void *ctx, uint32_t timeout_ms, uint8_t *buf, size_t cap, size_t *len,
                        evt_scan_source *source)
{
    evt_sim_scanner_mux *mux = ctx;
    const uint64_t start = evt_sim_util_now_ms();
    for (;;) {
        evt_err err = mux->a->read(mux->a->ctx, 0, buf, cap, len, source);
        if (err != EVT_ERR_TIMEOUT) {
            return err;
        }
        uint64_t elapsed = evt_sim_util_now_ms() - start;
        uint32_t left = elapsed >= timeout_ms ? 0 : (uint32_t)(timeout_ms - elapsed);
        uint32_t slice = left < mux->slice_ms ? left : mux->slice_ms;
        err = mux->b->read(mux->b->ctx, slice, buf, cap, len, source);
        if (err != EVT_ERR_TIMEOUT) {
            return err;
        }
        if (evt_sim_util_now_ms() - start >= timeout_ms) {
            return EVT_ERR_TIMEOUT;
        }
    }
}

void evt_sim_scanner_mux_init(evt_sim_scanner_mux *mux, const evt_hal_scanner *a,
                              const evt_hal_scanner *b, uint32_t slice_ms)
{
    mux->a = a;
    mux->b = b;
    mux->slice_ms = slice_ms != 0 ? slice_ms : DEFAULT_SLICE_MS;
    mux->hal = (evt_hal_scanner){.ctx = mux, .read = mux_read};
}
