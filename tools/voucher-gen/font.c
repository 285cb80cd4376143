/* Unifont .hex loader. */
#include "font.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BMP_SIZE 0x10000u

struct vg_font {
    uint8_t bits[BMP_SIZE][32];
    uint8_t flags[BMP_SIZE]; /* 0 missing, 1 narrow (8x16), 2 wide (16x16) */
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

vg_font *vg_font_load(const char *path)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        return NULL;
    }
    vg_font *font = calloc(1, sizeof *font);
    if (font == NULL) {
        fclose(f);
        return NULL;
    }
    char line[256];
    size_t glyphs = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        char *colon = strchr(line, ':');
        if (colon == NULL) {
            continue;
        }
        char *end;
        unsigned long cp = strtoul(line, &end, 16);
        if (end != colon || cp >= BMP_SIZE) {
            continue;
        }
        const char *hex = colon + 1;
        size_t n = strcspn(hex, "\r\n");
        if (n != 32 && n != 64) {
            continue; /* not a glyph line we understand; skip rather than draw garbage */
        }
        bool ok = true;
        for (size_t i = 0; i < n / 2; i++) {
            int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                ok = false;
                break;
            }
            font->bits[cp][i] = (uint8_t)(hi << 4 | lo);
        }
        if (ok) {
            font->flags[cp] = n == 64 ? 2 : 1;
            glyphs++;
        }
    }
    fclose(f);
    if (glyphs == 0) {
        free(font);
        errno = EINVAL;
        return NULL;
    }
    return font;
}

void vg_font_free(vg_font *font)
{
    free(font);
}

bool vg_font_glyph(const vg_font *font, uint32_t cp, const uint8_t **rows, bool *wide)
{
    if (cp >= BMP_SIZE || font->flags[cp] == 0) {
        return false;
    }
    *rows = font->bits[cp];
    *wide = font->flags[cp] == 2;
    return true;
}

uint32_t vg_utf8_next(const char **s)
{
    const unsigned char *p = (const unsigned char *)*s;
    uint32_t cp;
    int n;
    if (p[0] < 0x80) {
        cp = p[0];
        n = 1;
    } else if ((p[0] & 0xE0) == 0xC0) {
        cp = p[0] & 0x1F;
        n = 2;
    } else if ((p[0] & 0xF0) == 0xE0) {
        cp = p[0] & 0x0F;
        n = 3;
    } else if ((p[0] & 0xF8) == 0xF0) {
        cp = p[0] & 0x07;
        n = 4;
    } else {
        *s += 1;
        return 0xFFFD;
    }
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            *s += i;
            return 0xFFFD;
        }
        cp = cp << 6 | (p[i] & 0x3F);
    }
    *s += n;
    return cp;
}
