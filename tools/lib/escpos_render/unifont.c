/* GNU Unifont (.hex) glyph cache for the ESC/POS renderer and voucher-gen. */
#include "unifont.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BMP_SIZE 0x10000u

typedef struct glyph {
    uint8_t present;
    uint8_t wide;
    uint8_t bits[32]; /* 16 rows of 1 (narrow) or 2 (wide) bytes, MSB = leftmost */
} glyph;

static glyph *cache;
static char *cache_path;

static int hex_value(int c)
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

/* "XXXX:HEX..." with 32 (8x16) or 64 (16x16) hex digits; false for any other line, which is
 * skipped rather than drawn as garbage. */
static bool parse_line(const char *line, glyph *table)
{
    char *end;
    unsigned long cp = strtoul(line, &end, 16);
    if (end == line || *end != ':' || cp >= BMP_SIZE) {
        return false;
    }
    const char *hex = end + 1;
    size_t n = strcspn(hex, "\r\n");
    if (n != 32 && n != 64) {
        return false;
    }
    glyph g = {.present = 1, .wide = n == 64};
    for (size_t i = 0; i < n / 2; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        g.bits[i] = (uint8_t)(hi << 4 | lo);
    }
    table[cp] = g;
    return true;
}

evt_err evt_unifont_load(const char *path)
{
    if (cache != NULL && cache_path != NULL && strcmp(cache_path, path) == 0) {
        return EVT_OK;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return EVT_ERR_NOT_FOUND;
    }
    glyph *table = calloc(BMP_SIZE, sizeof *table);
    char *copy = strdup(path);
    if (table == NULL || copy == NULL) {
        free(table);
        free(copy);
        fclose(f);
        return EVT_ERR_NOMEM;
    }
    char line[160];
    size_t loaded = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (parse_line(line, table)) {
            loaded++;
        }
    }
    fclose(f);
    if (loaded == 0) {
        free(table);
        free(copy);
        return EVT_ERR_NOT_FOUND;
    }
    free(cache);
    free(cache_path);
    cache = table;
    cache_path = copy;
    return EVT_OK;
}

bool evt_unifont_glyph(uint32_t cp, unsigned *width, const uint8_t **bits)
{
    if (cache == NULL || cp >= BMP_SIZE || !cache[cp].present) {
        return false;
    }
    *width = cache[cp].wide ? 16u : 8u;
    *bits = cache[cp].bits;
    return true;
}
