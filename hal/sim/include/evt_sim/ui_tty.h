/*
 * evt_sim_ui: the cashier screen and keypad (evt_hal_ui) on a terminal, or scripted.
 *
 * show() draws the screen as a framed text block (tone as a tag: [确认] [成功] [错误]; none for
 * normal) to opt.out, appends the same block to the transcript file, and keeps the last
 * opt.history screens in memory (evt_sim_ui_screen).
 *
 * Keys, one of two sources:
 * - interactive (key_fd >= 0): line input from a terminal or pipe. A line of digits and '.'
 *   gives those EVT_KEY_DIGITs then EVT_KEY_OK on Enter; an empty line is OK. Command letters
 *   give their key and Enter after them adds nothing: 'c' or Esc = CANCEL, 'm' = MENU,
 *   'b' or Backspace/DEL = BACKSPACE, 'q' = QUIT, 'o' = OK. With raw_tty (and a tty) the
 *   terminal is put in non-canonical no-echo mode so each key acts at once (Enter = OK).
 * - scripted (script_path or script_text): lines "<text on screen> => ACTION", see
 *   docs/sim-board.md. A line's keys are released only while the most recently shown screen
 *   contains the text (title or any body line; empty text matches any screen); otherwise
 *   read_key waits its timeout and returns EVT_ERR_TIMEOUT. ACTION: OK, CANCEL, MENU, QUIT,
 *   BACKSPACE, DIGITS:<chars> (each char as EVT_KEY_DIGIT, then OK), TYPE:<chars> (chars only).
 *   '#' lines and blank lines are comments. Once the script is exhausted read_key returns
 *   EVT_KEY_QUIT once, then times out.
 * With neither, read_key only times out (a display-only UI).
 *
 * Key stamps (evt_key_event.pressed_ms, on opt.clock): an interactive key is stamped when its
 * byte is read; show() first takes in every byte already waiting in key_fd and stamps it with
 * the moment the screen went out, so keys typed ahead of a screen look typed ahead of it. A
 * scripted key is pressed by a cashier who reads the screen first: it is stamped
 * max(now, screen shown + script_reaction_ms), without sleeping.
 */
#ifndef EVT_SIM_UI_TTY_H
#define EVT_SIM_UI_TTY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "evt/hal_sys.h"
#include "evt/hal_ui.h"

typedef struct evt_sim_ui_options {
    FILE *out;                   /* screens drawn here (e.g. stdout); NULL = nowhere */
    const char *transcript_path; /* every screen appended as a block; NULL = none */
    int key_fd;                  /* interactive keys; -1 = none */
    bool raw_tty;                /* interactive: non-canonical mode when key_fd is a tty */
    const char *script_path;     /* scripted keys from a file ... */
    const char *script_text;     /* ... or from memory (copied) */
    size_t history;              /* screens kept in memory; 0 = 32 */
    /* Scripted mode: when the screen does not match, return EVT_ERR_TIMEOUT at once instead
     * of sleeping timeout_ms (nothing else can change the screen while we wait). */
    bool script_no_wait;
    /* Scripted mode: after this many consecutive read_key calls without a match, give up:
     * report the stall on stderr and return EVT_KEY_QUIT (0 = never). */
    uint32_t script_stall_limit;
    /* Scripted mode: how long the cashier takes to read a screen before its keys count as
     * pressed (stamp only, no sleep); 0 = 1000 ms, more than any firmware guard. */
    uint32_t script_reaction_ms;
    /* The clock keys are stamped on: the board's evt_hal_sys (monotonic_ms). NULL =
     * CLOCK_MONOTONIC, the same clock sys_posix gives. */
    const evt_hal_sys *clock;
} evt_sim_ui_options;

typedef struct evt_sim_ui evt_sim_ui;

/* EVT_ERR_ARG for a malformed script (the line number goes to stderr), both key sources at
 * once, or key_fd together with a script; EVT_ERR_NOT_FOUND / EVT_ERR_STORAGE_IO for files. */
evt_err evt_sim_ui_open(evt_sim_ui **out, const evt_sim_ui_options *opt);
void evt_sim_ui_close(evt_sim_ui *ui);
const evt_hal_ui *evt_sim_ui_hal(evt_sim_ui *ui);

/* Screens shown since open. */
size_t evt_sim_ui_screen_count(const evt_sim_ui *ui);
/* back = 0 is the latest screen, 1 the one before...; NULL when not kept (or none). */
const evt_ui_screen *evt_sim_ui_screen(const evt_sim_ui *ui, size_t back);
/* True when the screen's title or a body line contains text. */
bool evt_sim_ui_screen_contains(const evt_ui_screen *screen, const char *text);
/* Script lines not yet fully consumed. */
size_t evt_sim_ui_script_remaining(const evt_sim_ui *ui);
/* True when the stall limit ended the script (a scripted test went off track). */
bool evt_sim_ui_script_stalled(const evt_sim_ui *ui);

/* The framed block show() prints, NUL-terminated. EVT_ERR_OVERFLOW if cap is too small. */
evt_err evt_sim_ui_format(const evt_ui_screen *screen, char *buf, size_t cap);

#endif /* EVT_SIM_UI_TTY_H */
