/* evt_ui_text: framed text screens and typed keys; see ui_text.h. */
#include "evt_common/ui_text.h"

#include <string.h>

#define FRAME_WIDTH 44 /* display columns inside the frame */

/* Terminal columns of one code point: East Asian wide and fullwidth forms take two. */
static int cp_width(uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
        return 0;
    }
    if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF && cp != 0x303F) ||
        (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
        (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
        (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD)) {
        return 2;
    }
    return 1;
}

/* Display width of a UTF-8 string; malformed bytes count as one column each. */
static int text_width(const char *s)
{
    int w = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p != 0) {
        uint32_t cp;
        int n;
        if (*p < 0x80) {
            cp = *p;
            n = 1;
        } else if ((*p & 0xE0) == 0xC0) {
            cp = *p & 0x1F;
            n = 2;
        } else if ((*p & 0xF0) == 0xE0) {
            cp = *p & 0x0F;
            n = 3;
        } else if ((*p & 0xF8) == 0xF0) {
            cp = *p & 0x07;
            n = 4;
        } else {
            w++;
            p++;
            continue;
        }
        int i = 1;
        for (; i < n && (p[i] & 0xC0) == 0x80; i++) {
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if (i < n) {
            w++;
            p++;
            continue;
        }
        w += cp_width(cp);
        p += n;
    }
    return w;
}

static const char *tone_tag(evt_ui_tone tone)
{
    switch (tone) {
    case EVT_UI_CONFIRM:
        return "[确认] ";
    case EVT_UI_SUCCESS:
        return "[成功] ";
    case EVT_UI_ERROR:
        return "[错误] ";
    case EVT_UI_NORMAL:
        break;
    }
    return "";
}

/* Where the text goes: a caller's buffer, or an emit function when emit is set. */
typedef struct outbuf {
    evt_ui_text_emit_fn emit;
    void *ctx;
    char *p;
    size_t cap;
    size_t len;
    bool overflow;
} outbuf;

static void put(outbuf *o, const char *s, size_t n)
{
    if (o->emit != NULL) {
        o->emit(o->ctx, s, n);
        return;
    }
    if (o->len + n + 1 > o->cap) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = 0;
}

static void put_rule(outbuf *o)
{
    put(o, "+", 1);
    for (int i = 0; i < FRAME_WIDTH + 2; i++) {
        put(o, "-", 1);
    }
    put(o, "+\n", 2);
}

static void put_row(outbuf *o, const char *a, const char *b)
{
    put(o, "| ", 2);
    put(o, a, strlen(a));
    put(o, b, strlen(b));
    int w = text_width(a) + text_width(b);
    for (; w < FRAME_WIDTH; w++) {
        put(o, " ", 1);
    }
    put(o, " |\n", 3);
}

/* Copies a fixed-size screen field, forcing termination: the firmware fills them with
 * snprintf, but a driver must not read past a field that was not terminated. */
static void field(char *dst, const char *src)
{
    memcpy(dst, src, EVT_UI_LINE_BYTES);
    dst[EVT_UI_LINE_BYTES - 1] = 0;
}

static void put_screen(outbuf *o, const evt_ui_screen *screen)
{
    char text[EVT_UI_LINE_BYTES];
    put_rule(o);
    field(text, screen->title);
    put_row(o, tone_tag(screen->tone), text);
    put_rule(o);
    size_t n = screen->line_count <= EVT_UI_MAX_LINES ? screen->line_count : EVT_UI_MAX_LINES;
    for (size_t i = 0; i < n; i++) {
        field(text, screen->lines[i]);
        put_row(o, "", text);
    }
    field(text, screen->hint);
    if (text[0] != 0) {
        put_rule(o);
        put_row(o, "", text);
    }
    put_rule(o);
}

evt_err evt_ui_text_format(const evt_ui_screen *screen, char *buf, size_t cap)
{
    if (screen == NULL || buf == NULL || cap == 0) {
        return EVT_ERR_ARG;
    }
    outbuf o = {.p = buf, .cap = cap};
    buf[0] = 0;
    put_screen(&o, screen);
    return o.overflow ? EVT_ERR_OVERFLOW : EVT_OK;
}

evt_err evt_ui_text_emit(const evt_ui_screen *screen, evt_ui_text_emit_fn emit, void *ctx)
{
    if (screen == NULL || emit == NULL) {
        return EVT_ERR_ARG;
    }
    outbuf o = {.emit = emit, .ctx = ctx};
    put_screen(&o, screen);
    return EVT_OK;
}

bool evt_ui_text_contains(const evt_ui_screen *screen, const char *text)
{
    if (screen == NULL || text == NULL) {
        return false;
    }
    if (text[0] == 0) {
        return true;
    }
    char f[EVT_UI_LINE_BYTES];
    field(f, screen->title);
    if (strstr(f, text) != NULL) {
        return true;
    }
    size_t n = screen->line_count <= EVT_UI_MAX_LINES ? screen->line_count : EVT_UI_MAX_LINES;
    for (size_t i = 0; i < n; i++) {
        field(f, screen->lines[i]);
        if (strstr(f, text) != NULL) {
            return true;
        }
    }
    return false;
}

void evt_ui_text_keys_init(evt_ui_text_keys *keys, bool raw)
{
    memset(keys, 0, sizeof *keys);
    keys->raw = raw;
}

static void push(evt_ui_text_keys *keys, evt_key key, char ch, uint64_t pressed_ms)
{
    if (keys->len == EVT_UI_TEXT_KEYQ_CAP) {
        return;
    }
    keys->queue[(keys->head + keys->len) % EVT_UI_TEXT_KEYQ_CAP] =
        (evt_key_event){.key = key, .ch = ch, .pressed_ms = pressed_ms};
    keys->len++;
}

void evt_ui_text_feed(evt_ui_text_keys *keys, unsigned char c, uint64_t pressed_ms)
{
    if ((c >= '0' && c <= '9') || c == '.') {
        push(keys, EVT_KEY_DIGIT, (char)c, pressed_ms);
        return;
    }
    if (c == '\n' || c == '\r') {
        if (keys->raw || !keys->line_had_command) {
            push(keys, EVT_KEY_OK, 0, pressed_ms);
        }
        keys->line_had_command = false;
        return;
    }
    evt_key key = EVT_KEY_NONE;
    switch (c) {
    case 'c':
    case 'C':
    case 0x1B:
        key = EVT_KEY_CANCEL;
        break;
    case 'm':
    case 'M':
        key = EVT_KEY_MENU;
        break;
    case 'b':
    case 'B':
    case 0x08:
    case 0x7F:
        key = EVT_KEY_BACKSPACE;
        break;
    case 'q':
    case 'Q':
        key = EVT_KEY_QUIT;
        break;
    case 'o':
    case 'O':
        key = EVT_KEY_OK;
        break;
    default:
        return;
    }
    push(keys, key, 0, pressed_ms);
    keys->line_had_command = true;
}

bool evt_ui_text_next(evt_ui_text_keys *keys, evt_key_event *out)
{
    if (keys->len == 0) {
        return false;
    }
    *out = keys->queue[keys->head];
    keys->head = (keys->head + 1) % EVT_UI_TEXT_KEYQ_CAP;
    keys->len--;
    return true;
}
