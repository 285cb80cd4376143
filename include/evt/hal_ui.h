/*
 * HAL contract: the cashier's screen and keypad. The firmware composes whole screens (a title,
 * up to EVT_UI_MAX_LINES lines of UTF-8 text, a hint line); the board draws them on a tty,
 * an LCD, or records them for tests. Keys come back one at a time, each stamped with the
 * moment it was pressed.
 *
 * Why keys carry a time: a key pressed ahead of a screen must not answer that screen (Enter
 * pressed twice at the identity screen must not also confirm the amounts that appear a few
 * ms later). The firmware (evt_ui) reads evt_hal_sys.monotonic_ms right after show() returns
 * and discards, on a decision screen, every key whose pressed_ms is not later than that.
 * So drivers must stamp honestly:
 * - pressed_ms is on the board's evt_hal_sys.monotonic_ms clock;
 * - stamp a key when it is pressed (keypad interrupt, scan of the matrix) if the driver can;
 *   otherwise when it reads it;
 * - a driver that reads a buffered stream (tty, UART FIFO) must not let keys that were already
 *   waiting before a screen look as if they came after it: in show(), once the screen is out,
 *   take in whatever is waiting and stamp it no later than that moment.
 */
#ifndef EVT_HAL_UI_H
#define EVT_HAL_UI_H

#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"

#define EVT_UI_MAX_LINES  12
#define EVT_UI_LINE_BYTES 96 /* UTF-8 bytes per line incl. NUL (about 30 CJK characters) */

typedef enum evt_ui_tone {
    EVT_UI_NORMAL,  /* information, prompts */
    EVT_UI_CONFIRM, /* the cashier must check and confirm */
    EVT_UI_SUCCESS, /* money moved, receipt printed */
    EVT_UI_ERROR,   /* refused or failed: read the message */
} evt_ui_tone;

typedef struct evt_ui_screen {
    evt_ui_tone tone;
    char title[EVT_UI_LINE_BYTES];
    char lines[EVT_UI_MAX_LINES][EVT_UI_LINE_BYTES];
    uint8_t line_count;
    char hint[EVT_UI_LINE_BYTES]; /* e.g. "[确认] 结算  [取消] 返回" */
} evt_ui_screen;

typedef enum evt_key {
    EVT_KEY_NONE = 0,
    EVT_KEY_OK,     /* 确认 */
    EVT_KEY_CANCEL, /* 取消 */
    EVT_KEY_MENU,   /* 功能: keyed sale, reprint, ... */
    EVT_KEY_DIGIT,  /* a digit or '.', in evt_key_event.ch */
    EVT_KEY_BACKSPACE,
    EVT_KEY_QUIT, /* sim/test only: leave the main loop */
} evt_key;

typedef struct evt_key_event {
    evt_key key;
    char ch;             /* for EVT_KEY_DIGIT */
    uint64_t pressed_ms; /* when pressed, on evt_hal_sys.monotonic_ms (see above) */
} evt_key_event;

typedef struct evt_hal_ui {
    void *ctx;
    /* Replaces the whole screen. The screen struct is only read during the call. Keys pressed
     * before it returns are stamped no later than the moment it returns (see above). */
    evt_err (*show)(void *ctx, const evt_ui_screen *screen);
    /* Waits up to timeout_ms for a key press (oldest first, with its pressed_ms). EVT_ERR_TIMEOUT
     * when none. */
    evt_err (*read_key)(void *ctx, uint32_t timeout_ms, evt_key_event *out);
} evt_hal_ui;

#endif /* EVT_HAL_UI_H */
