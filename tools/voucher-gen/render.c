/* Phone-screen rendering and image distortions for voucher-gen (host tool: floats are fine). */
#include "render.h"

#include <math.h>
#include <png.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unifont.h"
#include "utf8.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

typedef struct rgb {
    uint8_t r, g, b;
} rgb;

static const rgb WHITE = {255, 255, 255};
static const rgb BLACK = {0, 0, 0};
static const rgb HEADER = {22, 119, 255}; /* the national app's blue band */
static const rgb FAMILY = {255, 140, 26}; /* an orange family banner stands out on purpose */
static const rgb GREY_TEXT = {90, 90, 90};
static const rgb COUNTER = {70, 64, 58}; /* what the camera sees around the phone */
static const rgb DARK_BG = {18, 18, 18};

static bool image_alloc(vg_image *img, int w, int h, rgb fill)
{
    img->width = w;
    img->height = h;
    img->rgb = malloc((size_t)w * (size_t)h * 3);
    if (img->rgb == NULL) {
        return false;
    }
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        img->rgb[3 * i] = fill.r;
        img->rgb[3 * i + 1] = fill.g;
        img->rgb[3 * i + 2] = fill.b;
    }
    return true;
}

void vg_image_free(vg_image *img)
{
    free(img->rgb);
    img->rgb = NULL;
}

static void fill_rect(vg_image *img, int x0, int y0, int w, int h, rgb c)
{
    for (int y = y0 < 0 ? 0 : y0; y < y0 + h && y < img->height; y++) {
        for (int x = x0 < 0 ? 0 : x0; x < x0 + w && x < img->width; x++) {
            uint8_t *p = &img->rgb[3 * ((size_t)y * (size_t)img->width + (size_t)x)];
            p[0] = c.r;
            p[1] = c.g;
            p[2] = c.b;
        }
    }
}

/* Width in pixels of text drawn at scale; a missing glyph is drawn as a wide box. */
static int text_px(const char *s, int scale)
{
    int w = 0;
    while (*s != 0) {
        uint32_t cp = vg_utf8_next(&s);
        const uint8_t *rows;
        unsigned gw;
        if (!evt_unifont_glyph(cp, &gw, &rows)) {
            gw = 16;
        }
        w += (int)gw * scale;
    }
    return w;
}

static void draw_text(vg_image *img, int x, int y, const char *s, int scale, rgb c)
{
    while (*s != 0) {
        uint32_t cp = vg_utf8_next(&s);
        const uint8_t *rows;
        unsigned width;
        if (!evt_unifont_glyph(cp, &width, &rows)) {
            /* Tofu box: visibly wrong rather than silently dropped. */
            fill_rect(img, x + scale, y + scale, 14 * scale, scale, c);
            fill_rect(img, x + scale, y + 14 * scale, 14 * scale, scale, c);
            fill_rect(img, x + scale, y + scale, scale, 14 * scale, c);
            fill_rect(img, x + 14 * scale, y + scale, scale, 14 * scale, c);
            x += 16 * scale;
            continue;
        }
        bool wide = width == 16;
        int gw = (int)width;
        for (int row = 0; row < 16; row++) {
            for (int col = 0; col < gw; col++) {
                uint8_t byte = wide ? rows[row * 2 + col / 8] : rows[row];
                if (byte & (0x80 >> (col % 8))) {
                    fill_rect(img, x + col * scale, y + row * scale, scale, scale, c);
                }
            }
        }
        x += gw * scale;
    }
}

static void draw_text_centered(vg_image *img, int cx, int y, const char *s, int scale, rgb c)
{
    draw_text(img, cx - text_px(s, scale) / 2, y, s, scale, c);
}

bool vg_render_screen(const vg_screen *screen, vg_image *out, char *err, size_t err_cap)
{
    memset(out, 0, sizeof *out);
    QRcode *qr = QRcode_encodeData((int)screen->code_len, screen->code, 0, QR_ECLEVEL_M);
    if (qr == NULL) {
        snprintf(err, err_cap, "code of %zu bytes cannot be encoded as a QR code",
                 screen->code_len);
        return false;
    }
    const int margin = screen->margin;
    const int modules = qr->width + 2 * margin;
    const int max_px = VG_SCREEN_W - 80;
    int scale = screen->scale;
    if (scale <= 0) {
        scale = max_px / modules;
    }
    if (scale < 1 || modules * scale > max_px) {
        snprintf(err, err_cap, "QR of %d modules at %d px does not fit a %d px wide screen",
                 modules, scale < 1 ? 1 : scale, VG_SCREEN_W);
        QRcode_free(qr);
        return false;
    }
    const rgb bg = screen->invert ? DARK_BG : WHITE;
    const rgb fg = screen->invert ? (rgb){235, 235, 235} : BLACK;
    if (!image_alloc(out, VG_SCREEN_W, VG_SCREEN_H, bg)) {
        snprintf(err, err_cap, "out of memory");
        QRcode_free(qr);
        return false;
    }
    /* Status bar, header band with the app's title. */
    fill_rect(out, 0, 0, VG_SCREEN_W, 48, (rgb){10, 90, 200});
    draw_text(out, 24, 8, "12:00", 2, WHITE);
    fill_rect(out, 0, 48, VG_SCREEN_W, 150, HEADER);
    draw_text_centered(out, VG_SCREEN_W / 2, 75, "医保电子凭证", 3, WHITE);
    int y = 198;
    if (screen->holder_label != NULL) {
        /* The app marks a relative's code in the top right corner and names the relative. */
        draw_text(out, VG_SCREEN_W - 24 - text_px("亲情账户", 2), 146, "亲情账户", 2, WHITE);
        fill_rect(out, 0, y, VG_SCREEN_W, 84, FAMILY);
        char line[256];
        snprintf(line, sizeof line, "亲情账户 %s", screen->holder_label);
        draw_text_centered(out, VG_SCREEN_W / 2, y + 18, line, 3, WHITE);
        y += 84;
    }
    if (screen->person_label != NULL) {
        draw_text_centered(out, VG_SCREEN_W / 2, y + 24, screen->person_label, 3,
                           screen->invert ? WHITE : GREY_TEXT);
    }
    /* QR, centred in the space below the header. */
    const int side = modules * scale;
    const int qx = (VG_SCREEN_W - side) / 2;
    int qy = y + 110 + (VG_SCREEN_H - 200 - (y + 110) - side) / 2;
    if (qy < y + 100) {
        qy = y + 100;
    }
    fill_rect(out, qx, qy, side, side, bg);
    for (int my = 0; my < qr->width; my++) {
        for (int mx = 0; mx < qr->width; mx++) {
            if (qr->data[my * qr->width + mx] & 1) {
                fill_rect(out, qx + (mx + margin) * scale, qy + (my + margin) * scale, scale, scale,
                          fg);
            }
        }
    }
    QRcode_free(qr);
    const int ty = qy + side + 30;
    draw_text_centered(out, VG_SCREEN_W / 2, ty, "请将二维码对准扫码口", 2,
                       screen->invert ? WHITE : GREY_TEXT);
    draw_text_centered(out, VG_SCREEN_W / 2, ty + 44, "二维码每分钟自动刷新", 2,
                       screen->invert ? WHITE : GREY_TEXT);
    return true;
}

static uint8_t clamp8(double v)
{
    if (v <= 0.0) {
        return 0;
    }
    if (v >= 255.0) {
        return 255;
    }
    return (uint8_t)(v + 0.5);
}

static bool rotate(vg_image *img, double deg)
{
    const double rad = deg * M_PI / 180.0;
    const double c = cos(rad), s = sin(rad);
    const int w = img->width, h = img->height;
    const int nw = (int)ceil(fabs(w * c) + fabs(h * s) - 1e-9);
    const int nh = (int)ceil(fabs(w * s) + fabs(h * c) - 1e-9);
    vg_image dst;
    if (!image_alloc(&dst, nw, nh, COUNTER)) {
        return false;
    }
    const double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;
    const double ncx = (nw - 1) / 2.0, ncy = (nh - 1) / 2.0;
    for (int y = 0; y < nh; y++) {
        for (int x = 0; x < nw; x++) {
            /* Inverse mapping: where in the source does this output pixel come from. */
            const double dx = x - ncx, dy = y - ncy;
            const double sx = c * dx + s * dy + cx;
            const double sy = -s * dx + c * dy + cy;
            if (sx < -0.5 || sy < -0.5 || sx > w - 0.5 || sy > h - 0.5) {
                continue;
            }
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            double fx = sx - x0, fy = sy - y0;
            uint8_t *d = &dst.rgb[3 * ((size_t)y * (size_t)nw + (size_t)x)];
            for (int ch = 0; ch < 3; ch++) {
                double acc = 0.0;
                for (int k = 0; k < 4; k++) {
                    int px = x0 + (k & 1), py = y0 + (k >> 1);
                    px = px < 0 ? 0 : (px >= w ? w - 1 : px);
                    py = py < 0 ? 0 : (py >= h ? h - 1 : py);
                    double wgt = ((k & 1) ? fx : 1.0 - fx) * ((k >> 1) ? fy : 1.0 - fy);
                    acc += wgt * img->rgb[3 * ((size_t)py * (size_t)w + (size_t)px) + ch];
                }
                d[ch] = clamp8(acc);
            }
        }
    }
    vg_image_free(img);
    *img = dst;
    return true;
}

/* Separable Gaussian blur with sigma = radius, edges clamped. */
static bool blur(vg_image *img, double sigma)
{
    const int half = (int)ceil(3.0 * sigma);
    const int klen = 2 * half + 1;
    double *k = malloc((size_t)klen * sizeof *k);
    double *tmp = malloc((size_t)img->width * (size_t)img->height * 3 * sizeof *tmp);
    if (k == NULL || tmp == NULL) {
        free(k);
        free(tmp);
        return false;
    }
    double sum = 0.0;
    for (int i = 0; i < klen; i++) {
        double d = i - half;
        k[i] = exp(-(d * d) / (2.0 * sigma * sigma));
        sum += k[i];
    }
    for (int i = 0; i < klen; i++) {
        k[i] /= sum;
    }
    const int w = img->width, h = img->height;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            for (int ch = 0; ch < 3; ch++) {
                double acc = 0.0;
                for (int i = 0; i < klen; i++) {
                    int px = x + i - half;
                    px = px < 0 ? 0 : (px >= w ? w - 1 : px);
                    acc += k[i] * img->rgb[3 * ((size_t)y * (size_t)w + (size_t)px) + ch];
                }
                tmp[3 * ((size_t)y * (size_t)w + (size_t)x) + ch] = acc;
            }
        }
    }
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            for (int ch = 0; ch < 3; ch++) {
                double acc = 0.0;
                for (int i = 0; i < klen; i++) {
                    int py = y + i - half;
                    py = py < 0 ? 0 : (py >= h ? h - 1 : py);
                    acc += k[i] * tmp[3 * ((size_t)py * (size_t)w + (size_t)x) + ch];
                }
                img->rgb[3 * ((size_t)y * (size_t)w + (size_t)x) + ch] = clamp8(acc);
            }
        }
    }
    free(k);
    free(tmp);
    return true;
}

/* xorshift64*: reproducible noise for a given --seed. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static double rng_unit(uint64_t *state)
{
    return ((double)(rng_next(state) >> 11) + 0.5) / 9007199254740992.0;
}

bool vg_distort_image(vg_image *img, const vg_distort *d)
{
    const size_t n = (size_t)img->width * (size_t)img->height;
    if (d->moire > 0.0) {
        /* Two slightly detuned stripe gratings beating against each other: what a camera sees
         * when the screen's pixel grid aliases with its sensor grid. */
        const double a1 = 12.0 * M_PI / 180.0, a2 = -8.0 * M_PI / 180.0;
        const double p1 = 6.3, p2 = 7.1;
        const double strength = d->moire / 100.0;
        for (int y = 0; y < img->height; y++) {
            for (int x = 0; x < img->width; x++) {
                double t1 = (x * cos(a1) + y * sin(a1)) * 2.0 * M_PI / p1;
                double t2 = (x * cos(a2) + y * sin(a2)) * 2.0 * M_PI / p2;
                double stripe = 0.25 * (2.0 + sin(t1) + sin(t2)); /* 0..1 */
                double f = 1.0 - strength * stripe;
                uint8_t *p = &img->rgb[3 * ((size_t)y * (size_t)img->width + (size_t)x)];
                for (int ch = 0; ch < 3; ch++) {
                    p[ch] = clamp8(p[ch] * f + strength * 40.0 * (1.0 - stripe));
                }
            }
        }
    }
    if (d->brightness_pct != 100.0) {
        for (size_t i = 0; i < n * 3; i++) {
            img->rgb[i] = clamp8(img->rgb[i] * d->brightness_pct / 100.0);
        }
    }
    if (d->contrast_pct != 100.0) {
        for (size_t i = 0; i < n * 3; i++) {
            img->rgb[i] = clamp8(128.0 + (img->rgb[i] - 128.0) * d->contrast_pct / 100.0);
        }
    }
    if (fmod(d->rotate_deg, 360.0) != 0.0 && !rotate(img, d->rotate_deg)) {
        return false;
    }
    if (d->blur_radius > 0.0 && !blur(img, d->blur_radius)) {
        return false;
    }
    if (d->noise > 0.0) {
        uint64_t state = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)d->seed * 0xD1B54A32D192ED03ULL);
        if (state == 0) {
            state = 1;
        }
        const size_t total = (size_t)img->width * (size_t)img->height * 3;
        for (size_t i = 0; i < total; i++) {
            /* Box-Muller: Gaussian sensor noise. */
            double u1 = rng_unit(&state), u2 = rng_unit(&state);
            double g = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
            img->rgb[i] = clamp8(img->rgb[i] + g * d->noise);
        }
    }
    return true;
}

bool vg_write_png(const vg_image *img, const char *path)
{
    png_image out;
    memset(&out, 0, sizeof out);
    out.version = PNG_IMAGE_VERSION;
    out.width = (png_uint_32)img->width;
    out.height = (png_uint_32)img->height;
    out.format = PNG_FORMAT_RGB;
    int ok = png_image_write_to_file(&out, path, 0, img->rgb, 0, NULL);
    png_image_free(&out);
    return ok != 0;
}
