/*
 * receipt-view IN.bin OUT.png [--width 384|576] [--text]
 *
 * Draws an ESC/POS job as the paper would show it and prints a one-line report (size,
 * commands, unknown commands, wrapped lines). --text also prints the transcript. Exit
 * status: 0 rendered, 1 rendered but the job has problems (unknown commands, wrapped or
 * truncated lines, undecodable characters), 2 usage or I/O error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escpos_render.h"

static int usage(void)
{
    fprintf(stderr, "usage: receipt-view IN.bin OUT.png [--width 384|576] [--text]\n");
    return 2;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 65536, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf != NULL) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            break;
        }
        uint8_t *bigger = realloc(buf, cap * 2);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    if (buf != NULL && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    unsigned width = 384;
    int show_text = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--width") == 0 && i + 1 < argc) {
            const char *w = argv[++i];
            if (strcmp(w, "384") == 0) {
                width = 384;
            } else if (strcmp(w, "576") == 0) {
                width = 576;
            } else {
                return usage();
            }
        } else if (strcmp(argv[i], "--text") == 0) {
            show_text = 1;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            return usage();
        } else if (in == NULL) {
            in = argv[i];
        } else if (out == NULL) {
            out = argv[i];
        } else {
            return usage();
        }
    }
    if (in == NULL || out == NULL) {
        return usage();
    }
    size_t len = 0;
    uint8_t *data = read_all(in, &len);
    if (data == NULL) {
        fprintf(stderr, "receipt-view: cannot read %s\n", in);
        return 2;
    }
    evt_escpos_render_options opt = {.width_dots = width};
    evt_escpos_page page;
    evt_err err = evt_escpos_render(data, len, &opt, &page);
    free(data);
    if (err == EVT_OK) {
        err = evt_escpos_page_write_png(&page, out);
    }
    if (err != EVT_OK) {
        fprintf(stderr, "receipt-view: %s: %s\n", out, evt_err_log_text(err));
        evt_escpos_page_free(&page);
        return 2;
    }
    if (show_text) {
        fputs(page.text, stdout);
    }
    printf("%s: %zu bytes -> %ux%u dots; %zu commands, %zu unknown, %zu wrapped lines, "
           "%zu truncated, %zu invalid chars, %zu missing glyphs, %zu raster, %zu qr, %zu cut\n",
           in, len, page.width, page.height, page.commands, page.unknown_commands,
           page.wrapped_lines, page.truncated, page.invalid_chars, page.missing_glyphs,
           page.rasters, page.qr_codes, page.cuts);
    int problems =
        page.unknown_commands || page.wrapped_lines || page.truncated || page.invalid_chars;
    evt_escpos_page_free(&page);
    return problems ? 1 : 0;
}
