/*
 * Phone-screen rendering of an e-voucher QR code, plus the camera-side distortions the scanner
 * must survive at a counter (tilt, focus, dim screens, moire, sensor noise).
 */
#ifndef VG_RENDER_H
#define VG_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct vg_image {
    int width;
    int height;
    uint8_t *rgb; /* width * height * 3 */
} vg_image;

typedef struct vg_screen {
    const uint8_t *code; /* QR payload bytes */
    size_t code_len;
    int scale;                /* pixels per module; 0 = largest that fits */
    int margin;               /* quiet zone in modules */
    bool invert;              /* dark-mode app: light modules on a dark background */
    const char *person_label; /* e.g. a masked name under the header; NULL = none */
    const char *holder_label; /* non-NULL: family-account display (亲情账户) for this holder */
} vg_screen;

typedef struct vg_distort {
    double rotate_deg;     /* any angle, bilinear; the canvas grows to hold the rotated phone */
    double blur_radius;    /* Gaussian sigma in pixels; 0 = sharp */
    double noise;          /* sensor noise standard deviation, 0..255 scale */
    double contrast_pct;   /* 100 = unchanged; 40 = washed out */
    double brightness_pct; /* 100 = unchanged; 50 = dim screen */
    double moire;          /* stripe strength, percent of full scale */
    uint32_t seed;         /* noise seed */
} vg_distort;

#define VG_SCREEN_W 720
#define VG_SCREEN_H 1280

/* Renders the phone screen with the font evt_unifont_load loaded. Returns false (with a
 * message in err) when the code does not fit. */
bool vg_render_screen(const vg_screen *screen, vg_image *out, char *err, size_t err_cap);
/* Applies the distortions in camera order: screen effects (moire, brightness, contrast), then
 * geometry (rotation, counter background), then optics (blur), then the sensor (noise). */
bool vg_distort_image(vg_image *img, const vg_distort *d);
bool vg_write_png(const vg_image *img, const char *path);
void vg_image_free(vg_image *img);

#endif /* VG_RENDER_H */
