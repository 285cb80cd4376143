/* ESC/POS interpreter and rasteriser; see include/escpos_render.h. */
#include "escpos_render.h"

#include <iconv.h>
#include <png.h>
#include <qrencode.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unifont.h"

#define ESC 0x1B
#define GS  0x1D
#define FS  0x1C

#define FONT_A_WIDTH       12 /* dots of a single-byte character */
#define FONT_A_HEIGHT      24
#define DEFAULT_SPACING    30 /* ESC 2: 1/6 inch at 180 dpi */
#define TOP_MARGIN         8
#define BOTTOM_MARGIN      16
#define DEFAULT_MAX_HEIGHT 40000u
#define LINE_MAX_GLYPHS    512
#define QR_STORE_MAX       7089 /* largest QR payload a printer accepts */

typedef struct placed {
    uint32_t cp;
    uint16_t cell_w; /* dots the printer advances */
    uint8_t wmul, hmul;
    bool bold, underline;
} placed;

typedef struct renderer {
    evt_escpos_page *page;
    unsigned max_height;
    size_t alloc_rows;
    unsigned y; /* top of the next print line */
    bool oom;

    /* Print modes (ESC @ resets). */
    unsigned align; /* 0 left, 1 centre, 2 right */
    bool bold, underline, chinese;
    uint8_t wmul, hmul;
    unsigned spacing;

    /* The line being assembled; printed on LF, on a full line, or before an image. */
    placed line[LINE_MAX_GLYPHS];
    size_t nline;
    unsigned line_x;

    /* GS ( k QR state. */
    uint8_t qr_module, qr_level;
    uint8_t qr_data[QR_STORE_MAX];
    size_t qr_len;

    iconv_t gb, cp437;
    char *text;
    size_t text_len, text_cap;
} renderer;

/* ---- page ---------------------------------------------------------------------------- */

static bool ensure_rows(renderer *r, size_t rows)
{
    if (rows > r->max_height) {
        rows = r->max_height;
    }
    if (rows <= r->alloc_rows) {
        return true;
    }
    size_t want = r->alloc_rows ? r->alloc_rows : 1024;
    while (want < rows) {
        want *= 2;
    }
    if (want > r->max_height) {
        want = r->max_height;
    }
    uint8_t *p = realloc(r->page->pixels, want * r->page->width);
    if (p == NULL) {
        r->oom = true;
        return false;
    }
    memset(p + r->alloc_rows * r->page->width, 0, (want - r->alloc_rows) * r->page->width);
    r->page->pixels = p;
    r->alloc_rows = want;
    return true;
}

static void set_dot(renderer *r, long x, long y)
{
    if (x < 0 || y < 0 || x >= (long)r->page->width || y >= (long)r->max_height) {
        return;
    }
    if ((size_t)y >= r->alloc_rows && !ensure_rows(r, (size_t)y + 1)) {
        return;
    }
    r->page->pixels[(size_t)y * r->page->width + (size_t)x] = 1;
    if ((unsigned)y + 1 > r->page->height) {
        r->page->height = (unsigned)y + 1;
    }
}

/* Moves the paper; past the length limit everything is clipped (and reported once). */
static void advance(renderer *r, unsigned dots)
{
    unsigned long y = (unsigned long)r->y + dots;
    if (y > r->max_height) {
        if (r->y < r->max_height) {
            r->page->truncated++;
        }
        y = r->max_height;
    }
    r->y = (unsigned)y;
    if (r->y > r->page->height) {
        r->page->height = r->y;
    }
}

/* ---- transcript ---------------------------------------------------------------------- */

static void text_append(renderer *r, const char *s, size_t n)
{
    if (r->text_len + n + 1 > r->text_cap) {
        size_t cap = r->text_cap ? r->text_cap : 1024;
        while (cap < r->text_len + n + 1) {
            cap *= 2;
        }
        char *p = realloc(r->text, cap);
        if (p == NULL) {
            r->oom = true;
            return;
        }
        r->text = p;
        r->text_cap = cap;
    }
    memcpy(r->text + r->text_len, s, n);
    r->text_len += n;
    r->text[r->text_len] = '\0';
}

static void text_append_cp(renderer *r, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    text_append(r, u, n);
}

/* ---- text ---------------------------------------------------------------------------- */

/* Draws one glyph scaled into its cell: unifont's 16 rows become 24 * hmul dots. */
static void draw_glyph(renderer *r, const placed *g, long x0, long y0)
{
    unsigned gw;
    const uint8_t *bits;
    long cell_h = (long)FONT_A_HEIGHT * g->hmul;
    if (!evt_unifont_glyph(g->cp, &gw, &bits)) {
        if (g->cp != ' ') {
            r->page->missing_glyphs++;
            /* A hollow box, the usual "no glyph" mark. */
            for (long x = 2; x < g->cell_w - 2; x++) {
                set_dot(r, x0 + x, y0 + 2);
                set_dot(r, x0 + x, y0 + cell_h - 3);
            }
            for (long y = 2; y < cell_h - 2; y++) {
                set_dot(r, x0 + 2, y0 + y);
                set_dot(r, x0 + g->cell_w - 3, y0 + y);
            }
        }
        return;
    }
    /* A narrow unifont glyph keeps single-byte proportions even in a double-byte cell. */
    long draw_w = (long)gw * 3 / 2 * g->wmul;
    long off = (g->cell_w - draw_w) / 2;
    for (long dy = 0; dy < cell_h; dy++) {
        long sy = dy * 16 / cell_h;
        for (long dx = 0; dx < draw_w; dx++) {
            long sx = dx * (long)gw / draw_w;
            uint8_t byte = bits[sy * (long)(gw / 8) + sx / 8];
            if (byte & (0x80u >> (sx % 8))) {
                set_dot(r, x0 + off + dx, y0 + dy);
                if (g->bold) {
                    set_dot(r, x0 + off + dx + 1, y0 + dy);
                }
            }
        }
    }
    if (g->underline) {
        for (long x = 0; x < g->cell_w; x++) {
            set_dot(r, x0 + x, y0 + cell_h - 1);
        }
    }
}

static void print_line(renderer *r)
{
    unsigned height = FONT_A_HEIGHT;
    for (size_t i = 0; i < r->nline; i++) {
        unsigned h = (unsigned)FONT_A_HEIGHT * r->line[i].hmul;
        if (h > height) {
            height = h;
        }
    }
    long x = 0;
    if (r->align == 1) {
        x = ((long)r->page->width - (long)r->line_x) / 2;
    } else if (r->align == 2) {
        x = (long)r->page->width - (long)r->line_x;
    }
    for (size_t i = 0; i < r->nline; i++) {
        const placed *g = &r->line[i];
        /* Characters share the baseline: smaller ones sit at the bottom of the line. */
        long top = (long)r->y + (long)(height - (unsigned)FONT_A_HEIGHT * g->hmul);
        draw_glyph(r, g, x, top);
        x += g->cell_w;
        text_append_cp(r, g->cp);
    }
    text_append(r, "\n", 1);
    unsigned pitch = height + (r->spacing > FONT_A_HEIGHT ? r->spacing - FONT_A_HEIGHT : 0);
    advance(r, pitch);
    r->nline = 0;
    r->line_x = 0;
}

static void flush_pending(renderer *r)
{
    if (r->nline > 0) {
        print_line(r);
    }
}

static void put_char(renderer *r, uint32_t cp, bool double_byte)
{
    placed g = {.cp = cp,
                .wmul = r->wmul,
                .hmul = r->hmul,
                .bold = r->bold,
                .underline = r->underline,
                .cell_w = (uint16_t)((double_byte ? 2 : 1) * FONT_A_WIDTH * r->wmul)};
    if (g.cell_w > r->page->width) {
        g.cell_w = (uint16_t)r->page->width;
    }
    if (r->line_x + g.cell_w > r->page->width || r->nline == LINE_MAX_GLYPHS) {
        /* What a printer does with an over-long line; the receipt must never need it. */
        r->page->wrapped_lines++;
        print_line(r);
    }
    r->line[r->nline++] = g;
    r->line_x += g.cell_w;
}

static uint32_t iconv_one(iconv_t cd, const uint8_t *in, size_t n)
{
    uint8_t out[8];
    char *ip = (char *)in, *op = (char *)out;
    size_t il = n, ol = sizeof out;
    if (cd == (iconv_t)-1) {
        return 0xFFFD;
    }
    iconv(cd, NULL, NULL, NULL, NULL);
    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1 || il != 0 || sizeof out - ol != 4) {
        return 0xFFFD;
    }
    return (uint32_t)out[0] | (uint32_t)out[1] << 8 | (uint32_t)out[2] << 16 |
           (uint32_t)out[3] << 24;
}

/* Text byte(s) at data[i]; returns bytes consumed. */
static size_t text_char(renderer *r, const uint8_t *d, size_t len, size_t i)
{
    uint8_t b = d[i];
    if (b < 0x80) {
        put_char(r, b, false);
        return 1;
    }
    if (!r->chinese) {
        put_char(r, iconv_one(r->cp437, &d[i], 1), false);
        return 1;
    }
    /* GB18030: lead 81-FE; then 40-7E/80-FE (two bytes) or 30-39 81-FE 30-39 (four). */
    if (b >= 0x81 && b <= 0xFE && i + 1 < len) {
        uint8_t b1 = d[i + 1];
        if ((b1 >= 0x40 && b1 <= 0x7E) || (b1 >= 0x80 && b1 <= 0xFE)) {
            uint32_t cp = iconv_one(r->gb, &d[i], 2);
            if (cp == 0xFFFD) {
                r->page->invalid_chars++;
            }
            put_char(r, cp, true);
            return 2;
        }
        if (b1 >= 0x30 && b1 <= 0x39 && i + 3 < len && d[i + 2] >= 0x81 && d[i + 2] <= 0xFE &&
            d[i + 3] >= 0x30 && d[i + 3] <= 0x39) {
            uint32_t cp = iconv_one(r->gb, &d[i], 4);
            if (cp == 0xFFFD) {
                r->page->invalid_chars++;
            }
            put_char(r, cp, true);
            return 4;
        }
    }
    r->page->invalid_chars++;
    put_char(r, 0xFFFD, true);
    return 1;
}

/* ---- images -------------------------------------------------------------------------- */

static long image_left(renderer *r, unsigned w)
{
    if (w >= r->page->width) {
        return 0;
    }
    if (r->align == 1) {
        return ((long)r->page->width - (long)w) / 2;
    }
    if (r->align == 2) {
        return (long)r->page->width - (long)w;
    }
    return 0;
}

/* GS v 0 m xL xH yL yH d...: bytes already checked to be present. */
static void raster(renderer *r, const uint8_t *bits, unsigned row_bytes, unsigned rows, unsigned m)
{
    flush_pending(r);
    unsigned sx = (m & 1) ? 2 : 1, sy = (m & 2) ? 2 : 1;
    unsigned w = row_bytes * 8 * sx;
    if (w > r->page->width) {
        r->page->truncated++;
    }
    long x0 = image_left(r, w);
    for (unsigned y = 0; y < rows; y++) {
        for (unsigned x = 0; x < row_bytes * 8; x++) {
            if ((bits[(size_t)y * row_bytes + x / 8] & (0x80u >> (x % 8))) == 0) {
                continue;
            }
            for (unsigned a = 0; a < sx; a++) {
                for (unsigned c = 0; c < sy; c++) {
                    set_dot(r, x0 + (long)(x * sx + a), (long)(r->y + y * sy + c));
                }
            }
        }
    }
    advance(r, rows * sy);
    char note[48];
    int n = snprintf(note, sizeof note, "[raster %ux%u]\n", w, rows * sy);
    text_append(r, note, (size_t)n);
    r->page->rasters++;
}

static void qr_print(renderer *r)
{
    flush_pending(r);
    if (r->qr_len == 0) {
        r->page->unknown_commands++; /* print with nothing stored: the printer ignores it */
        return;
    }
    static const QRecLevel levels[] = {QR_ECLEVEL_L, QR_ECLEVEL_M, QR_ECLEVEL_Q, QR_ECLEVEL_H};
    QRcode *qr = QRcode_encodeData((int)r->qr_len, r->qr_data, 0, levels[r->qr_level & 3]);
    if (qr == NULL) {
        r->page->truncated++;
        return;
    }
    unsigned side = (unsigned)qr->width * r->qr_module;
    long x0 = image_left(r, side);
    for (int my = 0; my < qr->width; my++) {
        for (int mx = 0; mx < qr->width; mx++) {
            if ((qr->data[my * qr->width + mx] & 1) == 0) {
                continue;
            }
            for (unsigned a = 0; a < r->qr_module; a++) {
                for (unsigned c = 0; c < r->qr_module; c++) {
                    set_dot(r, x0 + (long)((unsigned)mx * r->qr_module + a),
                            (long)(r->y + (unsigned)my * r->qr_module + c));
                }
            }
        }
    }
    QRcode_free(qr);
    advance(r, side);
    text_append(r, "[qr ", 4);
    for (size_t i = 0; i < r->qr_len; i++) {
        char c = (char)r->qr_data[i];
        text_append(r, (c >= 0x20 && c < 0x7F) ? &c : ".", 1);
    }
    text_append(r, "]\n", 2);
    r->page->qr_codes++;
}

/* GS ( k pL pH cn fn [params]: p = parameter bytes after pL pH. */
static void gs_paren_k(renderer *r, const uint8_t *p, size_t plen)
{
    if (plen < 2 || p[0] != 49) { /* cn 49 = QR; PDF417 and others are not used */
        r->page->unknown_commands++;
        return;
    }
    uint8_t fn = p[1];
    switch (fn) {
    case 65: /* model */
        break;
    case 67: /* module size 1..16 */
        if (plen >= 3 && p[2] >= 1 && p[2] <= 16) {
            r->qr_module = p[2];
        }
        break;
    case 69: /* error correction 48..51 = L M Q H */
        if (plen >= 3 && p[2] >= 48 && p[2] <= 51) {
            r->qr_level = (uint8_t)(p[2] - 48);
        }
        break;
    case 80: /* store: m=48 then data */
        if (plen >= 3) {
            size_t n = plen - 3;
            if (n > QR_STORE_MAX) {
                n = QR_STORE_MAX;
                r->page->truncated++;
            }
            memcpy(r->qr_data, p + 3, n);
            r->qr_len = n;
        }
        break;
    case 81: /* print */
        qr_print(r);
        break;
    default: /* 82 size report etc.: nothing to draw */
        r->page->unknown_commands++;
        return;
    }
    r->page->commands++;
}

static void cut(renderer *r)
{
    flush_pending(r);
    advance(r, 6);
    for (unsigned x = 0; x < r->page->width; x++) {
        if ((x / 6) % 2 == 0) {
            set_dot(r, (long)x, (long)r->y);
        }
    }
    advance(r, 10);
    text_append(r, "[cut]\n", 6);
    r->page->cuts++;
}

static void reset_modes(renderer *r)
{
    r->align = 0;
    r->bold = r->underline = false;
    r->wmul = r->hmul = 1;
    r->spacing = DEFAULT_SPACING;
    r->nline = 0; /* ESC @ clears the print buffer */
    r->line_x = 0;
}

/* ---- command dispatch ---------------------------------------------------------------- */

/* Each returns the bytes consumed (>= 1) from d[i]; len - i >= 1. A command cut off by the
 * end of the data consumes the rest and is counted as truncated. */

static size_t need(renderer *r, size_t len, size_t i, size_t n)
{
    if (len - i < n) {
        r->page->truncated++;
        return 0;
    }
    return n;
}

static size_t esc_command(renderer *r, const uint8_t *d, size_t len, size_t i)
{
    if (!need(r, len, i, 2)) {
        return len - i;
    }
    uint8_t c = d[i + 1];
    switch (c) {
    case '@':
        reset_modes(r);
        r->page->commands++;
        return 2;
    case '2':
        r->spacing = DEFAULT_SPACING;
        r->page->commands++;
        return 2;
    case 'a':
    case 'E':
    case 'G':
    case '!':
    case 'd':
    case '-':
    case '3':
    case 'J':
        break; /* one parameter byte, applied below */
    case 'M':
    case 't':
    case 'R':
    case '{':
    case 'V':
    case ' ':
        /* Font, code table, character set, rotation, spacing: outside the drawn subset. */
        r->page->unknown_commands++;
        return need(r, len, i, 3) ? 3 : len - i;
    case 'c': /* ESC c 3 n / ESC c 4 n / ESC c 5 n: panel and sensor settings */
        r->page->unknown_commands++;
        return need(r, len, i, 4) ? 4 : len - i;
    case 'p': /* cash drawer pulse: m t1 t2 */
        r->page->unknown_commands++;
        return need(r, len, i, 5) ? 5 : len - i;
    default:
        r->page->unknown_commands++;
        return 2;
    }
    if (!need(r, len, i, 3)) {
        return len - i;
    }
    uint8_t n = d[i + 2];
    switch (c) {
    case 'a':
        r->align = (n >= '0') ? (unsigned)(n - '0') : n;
        if (r->align > 2) {
            r->align = 0;
        }
        break;
    case 'E':
    case 'G':
        r->bold = n & 1;
        break;
    case '!':
        r->bold = (n & 0x08) != 0;
        r->hmul = (n & 0x10) ? 2 : 1;
        r->wmul = (n & 0x20) ? 2 : 1;
        r->underline = (n & 0x80) != 0;
        break;
    case 'd':
        flush_pending(r);
        advance(r, (unsigned)n * r->spacing);
        break;
    case '-':
        r->underline = n == 1 || n == 2 || n == '1' || n == '2';
        break;
    case '3':
        r->spacing = n;
        break;
    default: /* 'J' */
        flush_pending(r);
        advance(r, n);
        break;
    }
    r->page->commands++;
    return 3;
}

static size_t gs_command(renderer *r, const uint8_t *d, size_t len, size_t i)
{
    if (!need(r, len, i, 2)) {
        return len - i;
    }
    uint8_t c = d[i + 1];
    switch (c) {
    case '!': {
        if (!need(r, len, i, 3)) {
            return len - i;
        }
        uint8_t n = d[i + 2];
        r->wmul = (uint8_t)(((n >> 4) & 7) + 1);
        r->hmul = (uint8_t)((n & 7) + 1);
        r->page->commands++;
        return 3;
    }
    case 'V': {
        if (!need(r, len, i, 3)) {
            return len - i;
        }
        uint8_t m = d[i + 2];
        size_t n = 3;
        if (m == 65 || m == 66 || m == 97 || m == 98 || m == 103 || m == 104) {
            if (!need(r, len, i, 4)) {
                return len - i;
            }
            advance(r, d[i + 3]);
            n = 4;
        } else if (m != 0 && m != 1 && m != 48 && m != 49) {
            r->page->unknown_commands++;
            return 3;
        }
        cut(r);
        r->page->commands++;
        return n;
    }
    case 'v': {
        if (!need(r, len, i, 8)) {
            return len - i;
        }
        if (d[i + 2] != '0') {
            r->page->unknown_commands++;
            return 3;
        }
        unsigned m = d[i + 3] & 0x0F;
        unsigned row_bytes = d[i + 4] | (unsigned)d[i + 5] << 8;
        unsigned rows = d[i + 6] | (unsigned)d[i + 7] << 8;
        size_t body = (size_t)row_bytes * rows;
        if (len - i - 8 < body) {
            r->page->truncated++;
            return len - i;
        }
        if (m <= 3) {
            raster(r, d + i + 8, row_bytes, rows, m);
            r->page->commands++;
        } else {
            r->page->unknown_commands++;
        }
        return 8 + body;
    }
    case '(': {
        /* GS ( fn pL pH p...: every function of this family carries its length. */
        if (!need(r, len, i, 5)) {
            return len - i;
        }
        size_t plen = d[i + 3] | (size_t)d[i + 4] << 8;
        if (len - i - 5 < plen) {
            r->page->truncated++;
            return len - i;
        }
        if (d[i + 2] == 'k') {
            gs_paren_k(r, d + i + 5, plen);
        } else {
            r->page->unknown_commands++;
        }
        return 5 + plen;
    }
    case 'B':
    case 'H':
    case 'h':
    case 'w':
    case 'f':
    case 'a':
    case 'r':
    case 'I':
        r->page->unknown_commands++;
        return need(r, len, i, 3) ? 3 : len - i;
    case 'L':
    case 'W':
        r->page->unknown_commands++;
        return need(r, len, i, 4) ? 4 : len - i;
    default:
        r->page->unknown_commands++;
        return 2;
    }
}

static size_t fs_command(renderer *r, const uint8_t *d, size_t len, size_t i)
{
    if (!need(r, len, i, 2)) {
        return len - i;
    }
    switch (d[i + 1]) {
    case '&':
        r->chinese = true;
        r->page->commands++;
        return 2;
    case '.':
        r->chinese = false;
        r->page->commands++;
        return 2;
    case '!': /* Chinese character print mode: double width 0x04, double height 0x08 */
        if (!need(r, len, i, 3)) {
            return len - i;
        }
        r->wmul = (d[i + 2] & 0x04) ? 2 : 1;
        r->hmul = (d[i + 2] & 0x08) ? 2 : 1;
        r->underline = (d[i + 2] & 0x80) != 0;
        r->page->commands++;
        return 3;
    case '-':
    case 'W':
        r->page->unknown_commands++;
        return need(r, len, i, 3) ? 3 : len - i;
    case 'p':
        r->page->unknown_commands++;
        return need(r, len, i, 4) ? 4 : len - i;
    default:
        r->page->unknown_commands++;
        return 2;
    }
}

static void interpret(renderer *r, const uint8_t *d, size_t len)
{
    size_t i = 0;
    while (i < len && !r->oom) {
        uint8_t b = d[i];
        size_t used;
        switch (b) {
        case '\n':
            print_line(r);
            used = 1;
            break;
        case '\r':
            used = 1;
            break;
        case '\t': {
            /* Default tab stops every 8 single-byte columns; a stop past the line end is
             * ignored, as printers do. Bounded: it never wraps. */
            unsigned stop = FONT_A_WIDTH * 8;
            unsigned next = (r->line_x / stop + 1) * stop;
            unsigned cell = FONT_A_WIDTH * r->wmul;
            while (r->line_x < next && r->line_x + cell <= r->page->width &&
                   r->nline < LINE_MAX_GLYPHS) {
                put_char(r, ' ', false);
            }
            used = 1;
            break;
        }
        case ESC:
            used = esc_command(r, d, len, i);
            break;
        case GS:
            used = gs_command(r, d, len, i);
            break;
        case FS:
            used = fs_command(r, d, len, i);
            break;
        default:
            if (b < 0x20 || b == 0x7F) {
                r->page->unknown_commands++; /* DLE/real-time and other controls */
                used = 1;
            } else {
                used = text_char(r, d, len, i);
            }
            break;
        }
        i += used;
    }
    /* A printer prints what is left in its buffer when the job ends without LF. */
    flush_pending(r);
}

evt_err evt_escpos_render(const uint8_t *data, size_t len, const evt_escpos_render_options *opt,
                          evt_escpos_page *page)
{
    if (page == NULL) {
        return EVT_ERR_ARG;
    }
    memset(page, 0, sizeof *page);
    if (data == NULL && len > 0) {
        return EVT_ERR_ARG;
    }
    unsigned width = opt != NULL && opt->width_dots != 0 ? opt->width_dots : 384;
    if (width < 64 || width > 4096) {
        return EVT_ERR_ARG;
    }
    const char *font = opt != NULL ? opt->unifont_path : NULL;
    if (font == NULL) {
        font = getenv("EVT_UNIFONT");
    }
    if (font == NULL) {
        font = EVT_ESCPOS_DEFAULT_UNIFONT;
    }
    evt_err err = evt_unifont_load(font);
    if (err != EVT_OK) {
        return err;
    }

    renderer *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return EVT_ERR_NOMEM;
    }
    page->width = width;
    r->page = page;
    r->max_height = opt != NULL && opt->max_height != 0 ? opt->max_height : DEFAULT_MAX_HEIGHT;
    r->qr_module = 3;
    r->qr_level = 0;
    reset_modes(r);
    r->gb = iconv_open("UTF-32LE", "GB18030");
    r->cp437 = iconv_open("UTF-32LE", "CP437");
    advance(r, TOP_MARGIN);

    interpret(r, data, len);
    advance(r, BOTTOM_MARGIN);

    if (!r->oom && !ensure_rows(r, page->height)) {
        r->oom = true;
    }
    if (!r->oom && r->text == NULL) {
        text_append(r, "", 0);
    }
    page->text = r->text;
    page->text_len = r->text_len;
    if (r->gb != (iconv_t)-1) {
        iconv_close(r->gb);
    }
    if (r->cp437 != (iconv_t)-1) {
        iconv_close(r->cp437);
    }
    bool oom = r->oom;
    free(r);
    return oom ? EVT_ERR_NOMEM : EVT_OK;
}

evt_err evt_escpos_page_write_png(const evt_escpos_page *page, const char *path)
{
    if (page == NULL || path == NULL || page->pixels == NULL || page->height == 0) {
        return EVT_ERR_ARG;
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return EVT_ERR_STORAGE_IO;
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png != NULL ? png_create_info_struct(png) : NULL;
    uint8_t *row = malloc(page->width);
    if (png == NULL || info == NULL || row == NULL) {
        png_destroy_write_struct(&png, &info);
        free(row);
        fclose(f);
        return EVT_ERR_NOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        fclose(f);
        remove(path);
        return EVT_ERR_STORAGE_IO;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, page->width, page->height, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (unsigned y = 0; y < page->height; y++) {
        const uint8_t *src = page->pixels + (size_t)y * page->width;
        for (unsigned x = 0; x < page->width; x++) {
            row[x] = src[x] ? 0 : 255;
        }
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    if (fclose(f) != 0) {
        remove(path);
        return EVT_ERR_STORAGE_IO;
    }
    return EVT_OK;
}

void evt_escpos_page_free(evt_escpos_page *page)
{
    if (page == NULL) {
        return;
    }
    free(page->pixels);
    free(page->text);
    memset(page, 0, sizeof *page);
}
