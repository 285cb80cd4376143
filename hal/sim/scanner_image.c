/* evt_sim_scanner_image: PNG frames (list or watched directory) decoded with zbar. */
#include "evt_sim/scanner_image.h"

#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zbar.h>

#include "sim_util.h"

/* Larger frames are not camera frames; refusing them bounds memory use. */
#define MAX_FRAME_SIDE  8192u
#define DEFAULT_POLL_MS 50u

struct evt_sim_scanner_image {
    evt_hal_scanner hal;
    char **files;
    size_t file_count;
    size_t next_file;
    char *dir;
    uint32_t poll_ms;
    evt_sim_scanner_image_stats stats;
};

static bool configure(zbar_image_scanner_t *scn)
{
    /* Vouchers are QR only; other symbologies only add false positives (a drug box's EAN-13
     * next to the phone must not be taken for a scan). */
    if (zbar_image_scanner_set_config(scn, ZBAR_NONE, ZBAR_CFG_ENABLE, 0) != 0 ||
        zbar_image_scanner_set_config(scn, ZBAR_QRCODE, ZBAR_CFG_ENABLE, 1) != 0 ||
        /* Binary: otherwise zbar guesses a text encoding and transcodes to UTF-8. */
        zbar_image_scanner_set_config(scn, ZBAR_QRCODE, ZBAR_CFG_BINARY, 1) != 0 ||
        /* Every row and column: phone screens are small in the frame and moire-prone. */
        zbar_image_scanner_set_config(scn, ZBAR_NONE, ZBAR_CFG_X_DENSITY, 1) != 0 ||
        zbar_image_scanner_set_config(scn, ZBAR_NONE, ZBAR_CFG_Y_DENSITY, 1) != 0 ||
        /* Dark-mode apps show light modules on a dark background. */
        zbar_image_scanner_set_config(scn, ZBAR_NONE, ZBAR_CFG_TEST_INVERTED, 1) != 0) {
        return false;
    }
    zbar_image_scanner_enable_cache(scn, 0);
    return true;
}

static uint64_t symbol_area(const zbar_symbol_t *sym)
{
    unsigned n = zbar_symbol_get_loc_size(sym);
    if (n == 0) {
        return 0;
    }
    int minx = zbar_symbol_get_loc_x(sym, 0), maxx = minx;
    int miny = zbar_symbol_get_loc_y(sym, 0), maxy = miny;
    for (unsigned i = 1; i < n; i++) {
        int x = zbar_symbol_get_loc_x(sym, i), y = zbar_symbol_get_loc_y(sym, i);
        minx = x < minx ? x : minx;
        maxx = x > maxx ? x : maxx;
        miny = y < miny ? y : miny;
        maxy = y > maxy ? y : maxy;
    }
    return (uint64_t)(maxx - minx + 1) * (uint64_t)(maxy - miny + 1);
}

/* One zbar pass over one grey image. */
static evt_err decode_pass(const uint8_t *pixels, uint32_t width, uint32_t height, uint8_t *buf,
                           size_t cap, size_t *len, size_t *count)
{
    *len = 0;
    if (count != NULL) {
        *count = 0;
    }
    zbar_image_scanner_t *scn = zbar_image_scanner_create();
    zbar_image_t *img = zbar_image_create();
    if (scn == NULL || img == NULL) {
        if (scn != NULL) {
            zbar_image_scanner_destroy(scn);
        }
        if (img != NULL) {
            zbar_image_destroy(img);
        }
        return EVT_ERR_NOMEM;
    }
    evt_err err = EVT_ERR_INTERNAL;
    if (!configure(scn)) {
        goto out;
    }
    zbar_image_set_format(img, zbar_fourcc('Y', '8', '0', '0'));
    zbar_image_set_size(img, width, height);
    /* zbar only reads the data; the cleanup handler is NULL so it never frees our buffer. */
    zbar_image_set_data(img, pixels, (unsigned long)width * height, NULL);
    int found = zbar_scan_image(scn, img);
    if (found < 0) {
        goto out;
    }
    const zbar_symbol_t *best = NULL;
    uint64_t best_area = 0;
    size_t n = 0;
    for (const zbar_symbol_t *sym = zbar_image_first_symbol(img); sym != NULL;
         sym = zbar_symbol_next(sym)) {
        if (zbar_symbol_get_type(sym) != ZBAR_QRCODE) {
            continue;
        }
        n++;
        uint64_t area = symbol_area(sym);
        if (best == NULL || area > best_area) {
            best = sym;
            best_area = area;
        }
    }
    if (count != NULL) {
        *count = n;
    }
    if (best == NULL) {
        err = EVT_ERR_SCAN_UNREADABLE;
        goto out;
    }
    size_t data_len = zbar_symbol_get_data_length(best);
    *len = data_len;
    if (data_len > cap) {
        err = EVT_ERR_OVERFLOW;
        goto out;
    }
    if (data_len > 0) {
        memcpy(buf, zbar_symbol_get_data(best), data_len);
    }
    err = EVT_OK;
out:
    zbar_image_destroy(img);
    zbar_image_scanner_destroy(scn);
    return err;
}

/* 2x2 averaging: halves sensor noise and washes out moire finer than two pixels. */
static uint8_t *downsample2(const uint8_t *src, uint32_t w, uint32_t h, uint32_t *ow, uint32_t *oh)
{
    *ow = w / 2;
    *oh = h / 2;
    if (*ow == 0 || *oh == 0) {
        return NULL;
    }
    uint8_t *dst = malloc((size_t)*ow * *oh);
    if (dst == NULL) {
        return NULL;
    }
    for (uint32_t y = 0; y < *oh; y++) {
        const uint8_t *r0 = src + (size_t)(2 * y) * w;
        const uint8_t *r1 = r0 + w;
        for (uint32_t x = 0; x < *ow; x++) {
            unsigned sum = r0[2 * x] + r0[2 * x + 1] + r1[2 * x] + r1[2 * x + 1];
            dst[(size_t)y * *ow + x] = (uint8_t)((sum + 2) / 4);
        }
    }
    return dst;
}

/* 3x3 box blur at full resolution: smooths noise without losing small modules. */
static uint8_t *box3(const uint8_t *src, uint32_t w, uint32_t h)
{
    uint8_t *dst = malloc((size_t)w * h);
    if (dst == NULL) {
        return NULL;
    }
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++) {
            unsigned sum = 0, n = 0;
            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    int64_t yy = (int64_t)y + dy, xx = (int64_t)x + dx;
                    if (yy >= 0 && xx >= 0 && yy < h && xx < w) {
                        sum += src[(size_t)yy * w + (size_t)xx];
                        n++;
                    }
                }
            }
            dst[(size_t)y * w + x] = (uint8_t)((sum + n / 2) / n);
        }
    }
    return dst;
}

evt_err evt_sim_decode_grey(const uint8_t *pixels, uint32_t width, uint32_t height, uint8_t *buf,
                            size_t cap, size_t *len, size_t *count)
{
    if (pixels == NULL || width == 0 || height == 0 || len == NULL || (buf == NULL && cap > 0)) {
        return EVT_ERR_ARG;
    }
    /* zbar binarises each scan line as it is, so camera noise and screen moire that a person
     * does not even notice break it. Like a real scan engine, retry a frame that gave nothing
     * with pre-filtered copies before calling it unreadable. */
    evt_err err = decode_pass(pixels, width, height, buf, cap, len, count);
    if (err != EVT_ERR_SCAN_UNREADABLE) {
        return err;
    }
    uint8_t *smooth = box3(pixels, width, height);
    if (smooth == NULL) {
        return EVT_ERR_NOMEM;
    }
    err = decode_pass(smooth, width, height, buf, cap, len, count);
    free(smooth);
    if (err != EVT_ERR_SCAN_UNREADABLE) {
        return err;
    }
    uint32_t hw, hh;
    uint8_t *half = downsample2(pixels, width, height, &hw, &hh);
    if (half == NULL) {
        return hw == 0 || hh == 0 ? EVT_ERR_SCAN_UNREADABLE : EVT_ERR_NOMEM;
    }
    err = decode_pass(half, hw, hh, buf, cap, len, count);
    free(half);
    return err;
}

evt_err evt_sim_decode_png(const char *path, uint8_t *buf, size_t cap, size_t *len, size_t *count)
{
    if (path == NULL || len == NULL) {
        return EVT_ERR_ARG;
    }
    *len = 0;
    if (count != NULL) {
        *count = 0;
    }
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    /* A file that is not a readable PNG is a frame the camera could not use. */
    if (!png_image_begin_read_from_file(&image, path)) {
        return EVT_ERR_SCAN_UNREADABLE;
    }
    if (image.width == 0 || image.height == 0 || image.width > MAX_FRAME_SIDE ||
        image.height > MAX_FRAME_SIDE) {
        png_image_free(&image);
        return EVT_ERR_SCAN_UNREADABLE;
    }
    image.format = PNG_FORMAT_GRAY;
    uint8_t *pixels = malloc(PNG_IMAGE_SIZE(image));
    if (pixels == NULL) {
        png_image_free(&image);
        return EVT_ERR_NOMEM;
    }
    /* Transparent pixels are composited on white, like an app's background. */
    png_color white = {255, 255, 255};
    if (!png_image_finish_read(&image, &white, pixels, 0, NULL)) {
        png_image_free(&image);
        free(pixels);
        return EVT_ERR_SCAN_UNREADABLE;
    }
    evt_err err = evt_sim_decode_grey(pixels, image.width, image.height, buf, cap, len, count);
    free(pixels);
    return err;
}

static bool is_frame_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".png") == 0;
}

/* The first frame by name in the watched directory, or false when there is none. */
static bool next_dir_frame(const evt_sim_scanner_image *sc, char *name, size_t cap)
{
    DIR *d = opendir(sc->dir);
    if (d == NULL) {
        return false;
    }
    bool found = false;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_frame_name(de->d_name) || strlen(de->d_name) >= cap) {
            continue;
        }
        if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK) {
            continue;
        }
        if (!found || strcmp(de->d_name, name) < 0) {
            strcpy(name, de->d_name);
            found = true;
        }
    }
    closedir(d);
    return found;
}

static char *path_join(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + (c != NULL ? strlen(c) + 1 : 0) + 2;
    char *p = malloc(n);
    if (p != NULL) {
        if (c != NULL) {
            snprintf(p, n, "%s/%s/%s", a, b, c);
        } else {
            snprintf(p, n, "%s/%s", a, b);
        }
    }
    return p;
}

static bool ensure_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST) {
        struct stat sb;
        return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    }
    return false;
}

/* Decodes one directory frame and files it away (done/ or failed/). A frame that cannot be
 * moved is deleted, and if even that fails EVT_ERR_INTERNAL: never decode one file twice. */
static evt_err take_dir_frame(evt_sim_scanner_image *sc, const char *name, uint8_t *buf, size_t cap,
                              size_t *len)
{
    char *src = path_join(sc->dir, name, NULL);
    if (src == NULL) {
        return EVT_ERR_NOMEM;
    }
    evt_err err = evt_sim_decode_png(src, buf, cap, len, NULL);
    if (err == EVT_ERR_NOMEM) {
        free(src);
        return err;
    }
    const char *sub = err == EVT_ERR_SCAN_UNREADABLE ? "failed" : "done";
    char *dst = path_join(sc->dir, sub, name);
    bool moved = dst != NULL && rename(src, dst) == 0;
    if (!moved && dst != NULL) {
        /* Someone cleaned up the scan directory while we ran: recreate and retry once. */
        char *subdir = path_join(sc->dir, sub, NULL);
        moved = subdir != NULL && ensure_dir(subdir) && rename(src, dst) == 0;
        free(subdir);
    }
    free(dst);
    if (!moved) {
        /* Never leave it to be read again: delete rather than loop on it. */
        moved = unlink(src) == 0;
    }
    free(src);
    return moved ? err : EVT_ERR_INTERNAL;
}

static void count_frame(evt_sim_scanner_image *sc, evt_err err)
{
    sc->stats.frames++;
    if (err == EVT_ERR_SCAN_UNREADABLE) {
        sc->stats.unreadable++;
    } else if (err == EVT_OK || err == EVT_ERR_OVERFLOW) {
        sc->stats.decoded++;
    }
}

static evt_err image_read(void *ctx, uint32_t timeout_ms, uint8_t *buf, size_t cap, size_t *len,
                          evt_scan_source *source)
{
    evt_sim_scanner_image *sc = ctx;
    if (len == NULL || source == NULL || (buf == NULL && cap > 0)) {
        return EVT_ERR_ARG;
    }
    *len = 0;
    *source = EVT_SCAN_CAMERA;
    if (sc->dir == NULL) {
        if (sc->next_file < sc->file_count) {
            evt_err err = evt_sim_decode_png(sc->files[sc->next_file++], buf, cap, len, NULL);
            count_frame(sc, err);
            return err;
        }
        /* No more frames will ever come: behave like an idle camera. */
        evt_sim_util_sleep_ms(timeout_ms);
        return EVT_ERR_TIMEOUT;
    }
    const uint64_t start = evt_sim_util_now_ms();
    for (;;) {
        char name[256];
        if (next_dir_frame(sc, name, sizeof name)) {
            evt_err err = take_dir_frame(sc, name, buf, cap, len);
            count_frame(sc, err);
            return err;
        }
        uint64_t elapsed = evt_sim_util_now_ms() - start;
        if (elapsed >= timeout_ms) {
            return EVT_ERR_TIMEOUT;
        }
        uint64_t left = timeout_ms - elapsed;
        evt_sim_util_sleep_ms(left < sc->poll_ms ? (uint32_t)left : sc->poll_ms);
    }
}

evt_err evt_sim_scanner_image_open(evt_sim_scanner_image **out,
                                   const evt_sim_scanner_image_options *opt)
{
    if (out == NULL || opt == NULL) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    bool has_list = opt->files != NULL;
    bool has_dir = opt->watch_dir != NULL;
    if (has_list == has_dir) {
        return EVT_ERR_ARG;
    }
    /* Fail at open, not at the first scan, if this zbar cannot be configured as we need. */
    zbar_image_scanner_t *probe = zbar_image_scanner_create();
    if (probe == NULL) {
        return EVT_ERR_NOMEM;
    }
    bool configurable = configure(probe);
    zbar_image_scanner_destroy(probe);
    if (!configurable) {
        return EVT_ERR_INTERNAL;
    }
    evt_sim_scanner_image *sc = calloc(1, sizeof *sc);
    if (sc == NULL) {
        return EVT_ERR_NOMEM;
    }
    sc->poll_ms = opt->poll_ms != 0 ? opt->poll_ms : DEFAULT_POLL_MS;
    if (has_list) {
        sc->files = calloc(opt->file_count + 1, sizeof *sc->files);
        if (sc->files == NULL) {
            evt_sim_scanner_image_close(sc);
            return EVT_ERR_NOMEM;
        }
        for (size_t i = 0; i < opt->file_count; i++) {
            if (opt->files[i] == NULL) {
                evt_sim_scanner_image_close(sc);
                return EVT_ERR_ARG;
            }
            sc->files[i] = strdup(opt->files[i]);
            if (sc->files[i] == NULL) {
                evt_sim_scanner_image_close(sc);
                return EVT_ERR_NOMEM;
            }
            sc->file_count = i + 1;
        }
    } else {
        sc->dir = strdup(opt->watch_dir);
        if (sc->dir == NULL) {
            evt_sim_scanner_image_close(sc);
            return EVT_ERR_NOMEM;
        }
        char *done = path_join(sc->dir, "done", NULL);
        char *failed = path_join(sc->dir, "failed", NULL);
        bool ok = done != NULL && failed != NULL && ensure_dir(sc->dir) && ensure_dir(done) &&
                  ensure_dir(failed);
        free(done);
        free(failed);
        if (!ok) {
            evt_sim_scanner_image_close(sc);
            return EVT_ERR_STORAGE_IO;
        }
    }
    sc->hal = (evt_hal_scanner){.ctx = sc, .read = image_read};
    *out = sc;
    return EVT_OK;
}

void evt_sim_scanner_image_close(evt_sim_scanner_image *sc)
{
    if (sc == NULL) {
        return;
    }
    for (size_t i = 0; i < sc->file_count; i++) {
        free(sc->files[i]);
    }
    free(sc->files);
    free(sc->dir);
    free(sc);
}

const evt_hal_scanner *evt_sim_scanner_image_hal(evt_sim_scanner_image *sc)
{
    return &sc->hal;
}

void evt_sim_scanner_image_get_stats(const evt_sim_scanner_image *sc,
                                     evt_sim_scanner_image_stats *out)
{
    *out = sc->stats;
}
