/*
 * evt_ui_text: the cashier screen as framed text and the keypad as typed bytes, for every
 * board whose UI is a text terminal (the sim's tty, the console UART of mps2-an385). Pure
 * C: no I/O, no allocation, so host drivers and bare-metal drivers share it.
 *
 * Screen: a frame FRAME_WIDTH columns wide (CJK characters count two), the tone as a tag
 * ([确认] [成功] [错误]; none for normal), title, body lines, hint. Text wider than the frame
 * runs past the border rather than being cut, so a transcript holds the complete text.
 *
 * Keys: digits and '.' are EVT_KEY_DIGIT; CR or LF is OK (in line mode only when the line had
 * no command letter); 'c'/Esc = CANCEL, 'm' = MENU, 'b'/Backspace/DEL = BACKSPACE,
 * 'q' = QUIT, 'o' = OK; anything else is ignored, like an unlabelled key. Keys wait in a
 * bounded queue (EVT_UI_TEXT_KEYQ_CAP); a cashier hammering keys faster than the firmware
 * reads loses the excess, never memory.
 */
#ifndef EVT_COMMON_UI_TEXT_H
#define EVT_COMMON_UI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/hal_ui.h"

/* Bytes a framed screen can take: every field full of 3-byte characters plus the frame. */
#define EVT_UI_TEXT_BLOCK_BYTES ((EVT_UI_MAX_LINES + 6) * (EVT_UI_LINE_BYTES + 44 + 8))
#define EVT_UI_TEXT_KEYQ_CAP    128

/* The framed block, NUL-terminated. EVT_ERR_OVERFLOW if cap is too small. */
evt_err evt_ui_text_format(const evt_ui_screen *screen, char *buf, size_t cap);
/* The same text handed to emit piece by piece as it is made (a serial console writes it
 * straight out: no block buffer, EVT_UI_TEXT_BLOCK_BYTES of RAM saved on an MCU). */
typedef void (*evt_ui_text_emit_fn)(void *ctx, const char *text, size_t len);
evt_err evt_ui_text_emit(const evt_ui_screen *screen, evt_ui_text_emit_fn emit, void *ctx);
/* True when the screen's title or a body line contains text ("" matches any screen). */
bool evt_ui_text_contains(const evt_ui_screen *screen, const char *text);

typedef struct evt_ui_text_keys {
    bool raw;              /* each byte acts at once (Enter = OK); else line input */
    bool line_had_command; /* line mode: Enter after a command letter adds no OK */
    evt_key_event queue[EVT_UI_TEXT_KEYQ_CAP];
    size_t head, len;
} evt_ui_text_keys;

void evt_ui_text_keys_init(evt_ui_text_keys *keys, bool raw);
/* One typed byte, pressed at pressed_ms (on the board's monotonic clock). */
void evt_ui_text_feed(evt_ui_text_keys *keys, unsigned char byte, uint64_t pressed_ms);
/* The oldest waiting key; false when none. */
bool evt_ui_text_next(evt_ui_text_keys *keys, evt_key_event *out);

#endif /* EVT_COMMON_UI_TEXT_H */
