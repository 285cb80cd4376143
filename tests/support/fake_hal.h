/*
 * fake_hal: small HAL drivers for unit tests of the transaction engine, the platform client and
 * the app — everything but the network is a fake the test scripts and inspects, so failure
 * branches run at will and nothing waits in real time.
 *
 * - fake_sys: real clocks plus a virtual skew: the fakes below "wait" by moving the monotonic
 *   clock forward instead of sleeping, so a 180 s scan timeout passes in microseconds while the
 *   network (real loopback TLS) still sees real time. Keeps the log lines.
 * - fake_ui: keeps every screen; keys come from a queue, each given once the current screen's
 *   title contains its text; without a matching key, confirm/error/success screens are
 *   acknowledged with OK (auto_ack) and other reads time out (virtually).
 * - fake_scanner: a queue of payloads (or errors); an empty queue times out (virtually).
 * - fake_printer: counts jobs and writes, keeps the last one, can refuse the next jobs or
 *   fail one write.
 * - flaky_storage: an evt_hal_storage in front of another that fails reads or programs on
 *   demand — from any thread (a test server's request hook arms it at the exact moment a
 *   request arrives).
 * - gate_net: the POSIX socket driver with a switch that refuses new connections.
 */
#ifndef EVT_FAKE_HAL_H
#define EVT_FAKE_HAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/hal.h"

/* ---- sys ---------------------------------------------------------------------------------- */

#define FAKE_SYS_LOG_BYTES (128u * 1024u)

typedef struct fake_sys {
    evt_hal_sys hal;
    int64_t skew_ms;       /* added to CLOCK_MONOTONIC */
    int64_t wall_offset_s; /* added to the real UTC clock (unix_seconds, local_time) */
    bool rtc_unset;        /* local_time answers EVT_ERR_UNSUPPORTED */
    char log[FAKE_SYS_LOG_BYTES];
    size_t log_len; /* the oldest half is dropped when full */
    bool echo;      /* log lines to stderr too (EVT_TEST_LOG=1) */
} fake_sys;

void fake_sys_init(fake_sys *s);
/* Moves the monotonic clock forward (what a real wait would have taken). */
void fake_sys_advance(fake_sys *s, uint32_t ms);
/* True when a log line since the last clear contains text. */
bool fake_sys_logged(const fake_sys *s, const char *text);
/* Offset in the kept log of the first line containing text, or -1. */
long fake_sys_log_pos(const fake_sys *s, const char *text);
void fake_sys_log_clear(fake_sys *s);

/* ---- ui ----------------------------------------------------------------------------------- */

#define FAKE_UI_HISTORY 512
#define FAKE_UI_KEYS    64

typedef struct fake_ui_press {
    char title[EVT_UI_LINE_BYTES]; /* given once the current screen's title contains this */
    evt_key key;
    char ch;
} fake_ui_press;

typedef struct fake_ui {
    evt_hal_ui hal;
    fake_sys *clock;
    evt_ui_screen *history; /* FAKE_UI_HISTORY screens, a ring */
    size_t shown;           /* screens shown since init or clear */
    fake_ui_press keys[FAKE_UI_KEYS];
    size_t key_head, key_count;
    bool auto_ack; /* default true */
    unsigned key_reads;
    /* Called after every screen is shown (a test acts at the moment a screen appears, e.g. the
     * POS sends an order while the menu is open). */
    void (*on_show)(void *arg, const evt_ui_screen *screen);
    void *on_show_arg;
} fake_ui;

void fake_ui_init(fake_ui *u, fake_sys *clock);
void fake_ui_free(fake_ui *u);
void fake_ui_clear(fake_ui *u);
void fake_ui_key(fake_ui *u, const char *title, evt_key key);
/* One EVT_KEY_DIGIT with ch (a menu choice). */
void fake_ui_char(fake_ui *u, const char *title, char ch);
/* Each character as EVT_KEY_DIGIT, then OK. */
void fake_ui_digits(fake_ui *u, const char *title, const char *digits);
size_t fake_ui_keys_left(const fake_ui *u);
/* back = 0 is the latest screen; NULL when not kept. */
const evt_ui_screen *fake_ui_screen(const fake_ui *u, size_t back);
/* True when the screen's title, a line or the hint contains text. */
bool fake_ui_screen_has(const evt_ui_screen *screen, const char *text);
/* Screens kept that contain text anywhere (title, lines, hint). */
size_t fake_ui_seen(const fake_ui *u, const char *text);
/* The latest kept screen whose title contains title, or NULL. */
const evt_ui_screen *fake_ui_last_titled(const fake_ui *u, const char *title);

/* ---- scanner ------------------------------------------------------------------------------ */

#define FAKE_SCANS 16

typedef struct fake_scanner {
    evt_hal_scanner hal;
    fake_sys *clock;
    char *payload[FAKE_SCANS];
    evt_err err[FAKE_SCANS];
    size_t head, count;
    unsigned delivered; /* payloads and errors handed out */
    unsigned reads;
} fake_scanner;

void fake_scanner_init(fake_scanner *s, fake_sys *clock);
void fake_scanner_free(fake_scanner *s);
void fake_scanner_push(fake_scanner *s, const char *payload);
void fake_scanner_push_err(fake_scanner *s, evt_err err);

/* ---- printer ------------------------------------------------------------------------------ */

typedef struct fake_printer {
    evt_hal_printer hal;
    unsigned begun, ended; /* jobs started / finished */
    unsigned refuse_next;  /* the next jobs fail in begin with refuse_err */
    evt_err refuse_err;
    unsigned writes;        /* write calls, failed ones included */
    unsigned fail_write_at; /* the write that makes writes == this fails with write_err (0: none) */
    evt_err write_err;
    size_t largest_write;
    char job_name[64];
    uint8_t *job; /* the last finished job's bytes */
    size_t job_len, job_cap;
    uint8_t *open_job;
    size_t open_len;
} fake_printer;

void fake_printer_init(fake_printer *p);
void fake_printer_free(fake_printer *p);
/* True when the last finished job contains the bytes. */
bool fake_printer_job_has(const fake_printer *p, const void *bytes, size_t len);

/* ---- storage ------------------------------------------------------------------------------ */

typedef struct flaky_storage {
    evt_hal_storage hal;
    const evt_hal_storage *below;
    atomic_int fail_reads;    /* the next N reads fail with EVT_ERR_STORAGE_IO; -1 = all */
    atomic_int fail_programs; /* likewise for programs */
    atomic_uint reads, programs, failed;
} flaky_storage;

void flaky_storage_init(flaky_storage *f, const evt_hal_storage *below);

/* ---- net ---------------------------------------------------------------------------------- */

typedef struct gate_net {
    evt_hal_net hal;
    evt_hal_net below;
    atomic_bool refuse_connects; /* connect answers EVT_ERR_NET_CONNECT, as a refused port */
    atomic_uint connects;        /* connects attempted */
} gate_net;

void gate_net_init(gate_net *g);

#endif /* EVT_FAKE_HAL_H */
