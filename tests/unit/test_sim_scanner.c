/*
 * Sim board scanners: the camera engine (PNG frames, zbar) against voucher-gen phone screens
 * with a matrix of camera distortions, the watched scan directory, the serial text engine on a
 * pty / file / pipe, and the two-source mux.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <png.h>
#include <qrencode.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evt_sim/scanner_image.h"
#include "evt_sim/scanner_serial.h"

#define VOUCHER_GEN EVT_BINARY_DIR "/tools/voucher-gen/voucher-gen"
/* Shaped like the emulator's dynamic codes: region (6) + base32 random (24) + check (16). */
#define CODE_A "421200K7Q2M9XW4RT8ZP3N6HJ5VBCDEFGH2345ABCDEFGH"
#define CODE_B "120000ABCDEFGHJKMNPQRSTVWX23456789ABCDEFGHJKMN"

extern char **environ;

static char tmpdir[64];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup_dir(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/evt_scanner_XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmp_path(const char *name)
{
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    return p;
}

/* Runs voucher-gen with the given NULL-terminated extra arguments; returns its exit status. */
static int voucher_gen(const char *out, const char *code, ...)
{
    char *argv[40];
    int argc = 0;
    argv[argc++] = VOUCHER_GEN;
    argv[argc++] = "--out";
    argv[argc++] = (char *)out;
    argv[argc++] = "--code";
    argv[argc++] = (char *)code;
    va_list ap;
    va_start(ap, code);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 39) {
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    pid_t pid;
    if (posix_spawn(&pid, VOUCHER_GEN, NULL, NULL, argv, environ) != 0) {
        return -1;
    }
    int status;
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) {
        return -1;
    }
    return WEXITSTATUS(status);
}

static void write_grey_png(const char *path, const uint8_t *pixels, uint32_t w, uint32_t h)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = w;
    img.height = h;
    img.format = PNG_FORMAT_GRAY;
    assert_true(png_image_write_to_file(&img, path, 0, pixels, 0, NULL));
}

static void write_blank_png(const char *path)
{
    static uint8_t pixels[320 * 240];
    memset(pixels, 0xF0, sizeof pixels);
    for (size_t i = 0; i < sizeof pixels; i += 7) {
        pixels[i] = 0x20; /* some texture, still no code */
    }
    write_grey_png(path, pixels, 320, 240);
}

static void assert_decodes_to(const char *path, const char *expected)
{
    uint8_t buf[512];
    size_t len = 0;
    assert_int_equal(evt_sim_decode_png(path, buf, sizeof buf, &len, NULL), EVT_OK);
    assert_int_equal(len, strlen(expected));
    assert_memory_equal(buf, expected, len);
}

/* ---- camera ---------------------------------------------------------------------------- */

static void test_plain_screen_decodes(void **state)
{
    (void)state;
    const char *png = tmp_path("plain.png");
    assert_int_equal(voucher_gen(png, CODE_A, NULL), 0);
    assert_decodes_to(png, CODE_A);
}

static void test_family_screen_decodes(void **state)
{
    (void)state;
    const char *png = tmp_path("family.png");
    assert_int_equal(
        voucher_gen(png, CODE_B, "--holder-label", "女儿 李*华", "--label", "王*芳", NULL), 0);
    assert_decodes_to(png, CODE_B);
}

typedef struct distortion {
    const char *name;
    const char *args[8];
    bool must_decode; /* moderate: a counter scanner has to cope; harsh ones are only recorded */
} distortion;

static void test_distortion_matrix(void **state)
{
    (void)state;
    static const distortion matrix[] = {
        {"rotate 0", {"--rotate", "0"}, true},
        {"rotate 15", {"--rotate", "15"}, true},
        {"rotate 45", {"--rotate", "45"}, true},
        {"rotate 90", {"--rotate", "90"}, true},
        {"rotate -30", {"--rotate", "-30"}, true},
        {"blur 1", {"--blur", "1"}, true},
        {"blur 3", {"--blur", "3"}, false},
        {"noise 20", {"--noise", "20", "--seed", "7"}, true},
        {"noise 60", {"--noise", "60", "--seed", "7"}, false},
        {"contrast 40%", {"--contrast", "40"}, true},
        {"contrast 10%", {"--contrast", "10"}, false},
        {"brightness 40%", {"--brightness", "40"}, true},
        {"moire 30", {"--moire", "30"}, true},
        {"moire 80", {"--moire", "80"}, false},
        {"dark mode", {"--invert"}, true},
        {"small modules", {"--scale", "4"}, true},
        {"15deg+blur1+noise20+contrast60",
         {"--rotate", "15", "--blur", "1", "--noise", "20", "--contrast", "60"},
         true},
        {"45deg+moire30+brightness50",
         {"--rotate", "45", "--moire", "30", "--brightness", "50"},
         false},
    };
    size_t failures = 0;
    print_message("%-34s %s\n", "distortion", "result");
    for (size_t i = 0; i < sizeof matrix / sizeof matrix[0]; i++) {
        const distortion *d = &matrix[i];
        const char *png = tmp_path("matrix.png");
        const char *a[8] = {0};
        memcpy(a, d->args, sizeof a);
        assert_int_equal(
            voucher_gen(png, CODE_A, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], NULL), 0);
        uint8_t buf[512];
        size_t len = 0, count = 0;
        evt_err err = evt_sim_decode_png(png, buf, sizeof buf, &len, &count);
        bool ok = err == EVT_OK && len == strlen(CODE_A) && memcmp(buf, CODE_A, len) == 0;
        /* A decoder may fail on a bad frame, but must never return a wrong payload. */
        assert_true(ok || err == EVT_ERR_SCAN_UNREADABLE);
        print_message("%-34s %s%s\n", d->name, ok ? "decoded" : evt_err_name(err),
                      d->must_decode && !ok ? "  <-- REQUIRED" : "");
        if (d->must_decode && !ok) {
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_blank_frame_is_unreadable(void **state)
{
    (void)state;
    const char *png = tmp_path("blank.png");
    write_blank_png(png);
    uint8_t buf[64];
    size_t len = 99, count = 99;
    assert_int_equal(evt_sim_decode_png(png, buf, sizeof buf, &len, &count),
                     EVT_ERR_SCAN_UNREADABLE);
    assert_int_equal(len, 0);
    assert_int_equal(count, 0);

    /* A file that is not a PNG at all is a frame the camera could not use either. */
    const char *junk = tmp_path("junk.png");
    FILE *f = fopen(junk, "w");
    assert_non_null(f);
    fputs("not a png", f);
    fclose(f);
    assert_int_equal(evt_sim_decode_png(junk, buf, sizeof buf, &len, NULL),
                     EVT_ERR_SCAN_UNREADABLE);
    assert_int_equal(evt_sim_decode_png(tmp_path("missing.png"), buf, sizeof buf, &len, NULL),
                     EVT_ERR_SCAN_UNREADABLE);
}

static void test_payload_longer_than_cap_overflows(void **state)
{
    (void)state;
    const char *png = tmp_path("long.png");
    assert_int_equal(voucher_gen(png, CODE_A, NULL), 0);
    uint8_t buf[16];
    size_t len = 0;
    assert_int_equal(evt_sim_decode_png(png, buf, sizeof buf, &len, NULL), EVT_ERR_OVERFLOW);
    assert_int_equal(len, strlen(CODE_A));
}

static void test_binary_payload_is_returned_raw(void **state)
{
    (void)state;
    /* Every byte value, including NUL and bytes that are invalid UTF-8: zbar must not
     * transcode them (ZBAR_CFG_BINARY). */
    char hex[2 * 256 + 1];
    uint8_t expected[256];
    for (int i = 0; i < 256; i++) {
        expected[i] = (uint8_t)(255 - i);
        snprintf(hex + 2 * i, 3, "%02x", expected[i]);
    }
    const char *png = tmp_path("binary.png");
    char *argv[] = {VOUCHER_GEN, "--out", (char *)png, "--code-hex", hex, NULL};
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, VOUCHER_GEN, NULL, NULL, argv, environ), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    uint8_t buf[512];
    size_t len = 0;
    assert_int_equal(evt_sim_decode_png(png, buf, sizeof buf, &len, NULL), EVT_OK);
    assert_int_equal(len, sizeof expected);
    assert_memory_equal(buf, expected, sizeof expected);
}

/* Draws a QR of text at (x0, y0) with scale px per module into a white grey image. */
static void draw_qr(uint8_t *img, uint32_t w, uint32_t x0, uint32_t y0, const char *text, int scale)
{
    QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    assert_non_null(qr);
    for (int my = 0; my < qr->width; my++) {
        for (int mx = 0; mx < qr->width; mx++) {
            if ((qr->data[my * qr->width + mx] & 1) == 0) {
                continue;
            }
            for (int dy = 0; dy < scale; dy++) {
                for (int dx = 0; dx < scale; dx++) {
                    img[(y0 + (uint32_t)(my * scale + dy)) * w + x0 + (uint32_t)(mx * scale + dx)] =
                        0;
                }
            }
        }
    }
    QRcode_free(qr);
}

static void test_largest_of_several_codes_wins(void **state)
{
    (void)state;
    const uint32_t w = 900, h = 600;
    uint8_t *img = malloc(w * h);
    assert_non_null(img);
    memset(img, 255, w * h);
    draw_qr(img, w, 40, 40, "SMALL-POSTER-CODE", 4); /* a poster behind the phone */
    draw_qr(img, w, 380, 60, CODE_B, 9);             /* the phone held up to the camera */
    uint8_t buf[128];
    size_t len = 0, count = 0;
    assert_int_equal(evt_sim_decode_grey(img, w, h, buf, sizeof buf, &len, &count), EVT_OK);
    assert_int_equal(count, 2);
    assert_int_equal(len, strlen(CODE_B));
    assert_memory_equal(buf, CODE_B, len);
    free(img);
}

static void test_explicit_list_in_order(void **state)
{
    (void)state;
    const char *a = tmp_path("list_a.png");
    const char *b = tmp_path("list_b.png");
    const char *blank = tmp_path("list_blank.png");
    assert_int_equal(voucher_gen(a, CODE_A, NULL), 0);
    assert_int_equal(voucher_gen(b, CODE_B, NULL), 0);
    write_blank_png(blank);
    /* b before a: the list order wins, not the names. */
    const char *files[] = {b, blank, a};
    evt_sim_scanner_image_options opt = {.files = files, .file_count = 3};
    evt_sim_scanner_image *sc;
    assert_int_equal(evt_sim_scanner_image_open(&sc, &opt), EVT_OK);
    const evt_hal_scanner *hal = evt_sim_scanner_image_hal(sc);
    uint8_t buf[128];
    size_t len;
    evt_scan_source src;
    assert_int_equal(hal->read(hal->ctx, 0, buf, sizeof buf, &len, &src), EVT_OK);
    assert_int_equal(src, EVT_SCAN_CAMERA);
    assert_memory_equal(buf, CODE_B, len);
    assert_int_equal(hal->read(hal->ctx, 0, buf, sizeof buf, &len, &src), EVT_ERR_SCAN_UNREADABLE);
    assert_int_equal(hal->read(hal->ctx, 0, buf, sizeof buf, &len, &src), EVT_OK);
    assert_memory_equal(buf, CODE_A, len);
    uint64_t t0 = now_ms();
    assert_int_equal(hal->read(hal->ctx, 30, buf, sizeof buf, &len, &src), EVT_ERR_TIMEOUT);
    assert_true(now_ms() - t0 >= 30);
    evt_sim_scanner_image_stats st;
    evt_sim_scanner_image_get_stats(sc, &st);
    assert_int_equal(st.frames, 3);
    assert_int_equal(st.decoded, 2);
    assert_int_equal(st.unreadable, 1);
    /* The list's files are the caller's: not moved. */
    assert_int_equal(access(a, F_OK), 0);
    evt_sim_scanner_image_close(sc);
}

static void test_watched_directory(void **state)
{
    (void)state;
    const char *dir = tmp_path("scan");
    evt_sim_scanner_image_options opt = {.watch_dir = dir, .poll_ms = 10};
    evt_sim_scanner_image *sc;
    assert_int_equal(evt_sim_scanner_image_open(&sc, &opt), EVT_OK);
    const evt_hal_scanner *hal = evt_sim_scanner_image_hal(sc);
    uint8_t buf[128];
    size_t len;
    evt_scan_source src;

    /* Empty directory: times out after about the timeout, not before. */
    uint64_t t0 = now_ms();
    assert_int_equal(hal->read(hal->ctx, 60, buf, sizeof buf, &len, &src), EVT_ERR_TIMEOUT);
    uint64_t waited = now_ms() - t0;
    assert_true(waited >= 60 && waited < 2000);
    assert_int_equal(hal->read(hal->ctx, 0, buf, sizeof buf, &len, &src), EVT_ERR_TIMEOUT);

    char p[256];
    snprintf(p, sizeof p, "%s/002-b.png", dir);
    assert_int_equal(voucher_gen(p, CODE_B, NULL), 0);
    snprintf(p, sizeof p, "%s/001-a.png", dir);
    assert_int_equal(voucher_gen(p, CODE_A, NULL), 0);
    snprintf(p, sizeof p, "%s/003-blank.png", dir);
    write_blank_png(p);
    /* Not (yet) frames: a file still being written, a hidden file, another extension. */
    snprintf(p, sizeof p, "%s/000-x.png.part", dir);
    write_blank_png(p);
    snprintf(p, sizeof p, "%s/.000-hidden.png", dir);
    write_blank_png(p);
    snprintf(p, sizeof p, "%s/000-notes.txt", dir);
    fclose(fopen(p, "w"));

    assert_int_equal(hal->read(hal->ctx, 0, buf, sizeof buf, &len, &src), EVT_OK);
    assert_int_equal(src, EVT_SCAN_CAMERA);
    assert_int_equal(len, strlen(CODE_A));
    assert_memory_equal(buf, CODE_A, len);
    assert_int_equal(hal->read(hal->ctx, 0, buf, sizeof buf, &len, &src), EVT_OK);
    assert_memory_equal(buf, CODE_B, len);
    assert_int_equal(hal->read(hal->ctx, 0, buf, sizeof buf, &len, &src), EVT_ERR_SCAN_UNREADABLE);
    assert_int_equal(hal->read(hal->ctx, 0, buf, sizeof buf, &len, &src), EVT_ERR_TIMEOUT);

    snprintf(p, sizeof p, "%s/done/001-a.png", dir);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/done/002-b.png", dir);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/failed/003-blank.png", dir);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof p, "%s/001-a.png", dir);
    assert_int_equal(access(p, F_OK), -1);
    snprintf(p, sizeof p, "%s/000-x.png.part", dir);
    assert_int_equal(access(p, F_OK), 0);

    /* A frame that arrives while read() is waiting is picked up within the timeout. */
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        usleep(80 * 1000);
        snprintf(p, sizeof p, "%s/004-late.png", dir);
        _exit(voucher_gen(p, CODE_A, NULL));
    }
    t0 = now_ms();
    assert_int_equal(hal->read(hal->ctx, 10000, buf, sizeof buf, &len, &src), EVT_OK);
    assert_memory_equal(buf, CODE_A, len);
    assert_true(now_ms() - t0 < 10000);
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* Someone tidied the scan directory away under us: done/ is recreated, not lost. */
    char old[256];
    snprintf(p, sizeof p, "%s/done", dir);
    snprintf(old, sizeof old, "%s/done.old", dir);
    assert_int_equal(rename(p, old), 0);
    snprintf(p, sizeof p, "%s/005-again.png", dir);
    assert_int_equal(voucher_gen(p, CODE_B, NULL), 0);
    assert_int_equal(hal->read(hal->ctx, 0, buf, sizeof buf, &len, &src), EVT_OK);
    assert_memory_equal(buf, CODE_B, len);
    snprintf(p, sizeof p, "%s/done/005-again.png", dir);
    assert_int_equal(access(p, F_OK), 0);
    evt_sim_scanner_image_stats st;
    evt_sim_scanner_image_get_stats(sc, &st);
    assert_int_equal(st.frames, 5);
    assert_int_equal(st.decoded, 4);
    assert_int_equal(st.unreadable, 1);
    evt_sim_scanner_image_close(sc);
}

static void test_image_open_arguments(void **state)
{
    (void)state;
    evt_sim_scanner_image *sc = NULL;
    evt_sim_scanner_image_options neither = {0};
    assert_int_equal(evt_sim_scanner_image_open(&sc, &neither), EVT_ERR_ARG);
    const char *files[] = {"x.png"};
    evt_sim_scanner_image_options both = {.files = files, .file_count = 1, .watch_dir = tmpdir};
    assert_int_equal(evt_sim_scanner_image_open(&sc, &both), EVT_ERR_ARG);
    evt_sim_scanner_image_options bad_dir = {.watch_dir = "/proc/evt-no-such/dir"};
    assert_int_equal(evt_sim_scanner_image_open(&sc, &bad_dir), EVT_ERR_STORAGE_IO);
    assert_null(sc);
}

/* ---- serial ---------------------------------------------------------------------------- */

static void write_all(int fd, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(write(fd, s, n), (ssize_t)n);
}

static evt_err serial_read(const evt_hal_scanner *hal, uint32_t timeout, char *out, size_t cap,
                           size_t *len)
{
    evt_scan_source src = EVT_SCAN_CAMERA;
    evt_err err = hal->read(hal->ctx, timeout, (uint8_t *)out, cap - 1, len, &src);
    if (err == EVT_OK) {
        assert_int_equal(src, EVT_SCAN_SERIAL);
        out[*len] = 0;
    }
    return err;
}

static void test_serial_lines_over_pty(void **state)
{
    (void)state;
    int master, slave;
    char name[64];
    assert_int_equal(evt_sim_pty_open(&master, &slave, name, sizeof name), EVT_OK);
    assert_true(strncmp(name, "/dev/pts/", 9) == 0);
    evt_sim_scanner_serial_options opt = {.fd = slave, .own_fd = true, .line_max = 64};
    evt_sim_scanner_serial *sc;
    assert_int_equal(evt_sim_scanner_serial_open(&sc, &opt), EVT_OK);
    const evt_hal_scanner *hal = evt_sim_scanner_serial_hal(sc);
    char line[128];
    size_t len;

    write_all(master, CODE_A "\r\n");
    assert_int_equal(serial_read(hal, 1000, line, sizeof line, &len), EVT_OK);
    assert_string_equal(line, CODE_A);

    /* A partial line is kept until its terminator comes. */
    write_all(master, "PART-");
    uint64_t t0 = now_ms();
    assert_int_equal(serial_read(hal, 50, line, sizeof line, &len), EVT_ERR_TIMEOUT);
    assert_true(now_ms() - t0 >= 50);
    write_all(master, "ONE\rTWO\n\n\r\nTHREE\n");
    assert_int_equal(serial_read(hal, 1000, line, sizeof line, &len), EVT_OK);
    assert_string_equal(line, "PART-ONE");
    assert_int_equal(serial_read(hal, 1000, line, sizeof line, &len), EVT_OK);
    assert_string_equal(line, "TWO");
    assert_int_equal(serial_read(hal, 1000, line, sizeof line, &len), EVT_OK);
    assert_string_equal(line, "THREE");

    /* Longer than the engine's buffer: refused with the true length, then resync. */
    char longline[200];
    memset(longline, 'L', 150);
    strcpy(longline + 150, "\nNEXT\n");
    write_all(master, longline);
    assert_int_equal(serial_read(hal, 1000, line, sizeof line, &len), EVT_ERR_OVERFLOW);
    assert_int_equal(len, 150);
    assert_int_equal(serial_read(hal, 1000, line, sizeof line, &len), EVT_OK);
    assert_string_equal(line, "NEXT");

    /* Fits the engine but not the caller's buffer. */
    write_all(master, "0123456789ABCDEF\n");
    assert_int_equal(serial_read(hal, 1000, line, 9, &len), EVT_ERR_OVERFLOW);
    assert_int_equal(len, 16);

    assert_int_equal(serial_read(hal, 0, line, sizeof line, &len), EVT_ERR_TIMEOUT);
    assert_false(evt_sim_scanner_serial_at_eof(sc));

    /* The engine unplugged: EOF (EIO on a pty), not an error. */
    close(master);
    assert_int_equal(serial_read(hal, 20, line, sizeof line, &len), EVT_ERR_TIMEOUT);
    assert_true(evt_sim_scanner_serial_at_eof(sc));
    evt_sim_scanner_serial_close(sc);
}

static void test_serial_script_file(void **state)
{
    (void)state;
    const char *path = tmp_path("scans.txt");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(CODE_A "\r\n\r\nweixin://wxpay/bizpayurl?pr=abc\n" CODE_B, f); /* last line bare */
    fclose(f);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    evt_sim_scanner_serial_options opt = {.fd = fd, .own_fd = true};
    evt_sim_scanner_serial *sc;
    assert_int_equal(evt_sim_scanner_serial_open(&sc, &opt), EVT_OK);
    const evt_hal_scanner *hal = evt_sim_scanner_serial_hal(sc);
    char line[128];
    size_t len;
    assert_int_equal(serial_read(hal, 0, line, sizeof line, &len), EVT_OK);
    assert_string_equal(line, CODE_A);
    assert_int_equal(serial_read(hal, 0, line, sizeof line, &len), EVT_OK);
    assert_string_equal(line, "weixin://wxpay/bizpayurl?pr=abc");
    assert_int_equal(serial_read(hal, 0, line, sizeof line, &len), EVT_OK);
    assert_string_equal(line, CODE_B);
    assert_true(evt_sim_scanner_serial_at_eof(sc));
    uint64_t t0 = now_ms();
    assert_int_equal(serial_read(hal, 40, line, sizeof line, &len), EVT_ERR_TIMEOUT);
    assert_true(now_ms() - t0 >= 40);
    evt_sim_scanner_serial_close(sc);
}

static void test_serial_pipe_and_arguments(void **state)
{
    (void)state;
    evt_sim_scanner_serial *sc = NULL;
    evt_sim_scanner_serial_options bad = {.fd = -1};
    assert_int_equal(evt_sim_scanner_serial_open(&sc, &bad), EVT_ERR_ARG);
    int p[2];
    assert_int_equal(pipe(p), 0);
    evt_sim_scanner_serial_options opt = {.fd = p[0], .own_fd = true};
    assert_int_equal(evt_sim_scanner_serial_open(&sc, &opt), EVT_OK);
    const evt_hal_scanner *hal = evt_sim_scanner_serial_hal(sc);
    write_all(p[1], "ONE\nTWO");
    close(p[1]);
    char line[64];
    size_t len;
    assert_int_equal(serial_read(hal, 100, line, sizeof line, &len), EVT_OK);
    assert_string_equal(line, "ONE");
    assert_int_equal(serial_read(hal, 100, line, sizeof line, &len), EVT_OK);
    assert_string_equal(line, "TWO");
    assert_int_equal(serial_read(hal, 0, line, sizeof line, &len), EVT_ERR_TIMEOUT);
    assert_true(evt_sim_scanner_serial_at_eof(sc));
    evt_sim_scanner_serial_close(sc);
}

/* ---- mux ------------------------------------------------------------------------------- */

static void test_mux_camera_and_serial(void **state)
{
    (void)state;
    const char *dir = tmp_path("muxscan");
    evt_sim_scanner_image_options iopt = {.watch_dir = dir, .poll_ms = 10};
    evt_sim_scanner_image *cam;
    assert_int_equal(evt_sim_scanner_image_open(&cam, &iopt), EVT_OK);
    int master, slave;
    assert_int_equal(evt_sim_pty_open(&master, &slave, NULL, 0), EVT_OK);
    evt_sim_scanner_serial_options sopt = {.fd = slave, .own_fd = true};
    evt_sim_scanner_serial *ser;
    assert_int_equal(evt_sim_scanner_serial_open(&ser, &sopt), EVT_OK);
    evt_sim_scanner_mux mux;
    evt_sim_scanner_mux_init(&mux, evt_sim_scanner_image_hal(cam), evt_sim_scanner_serial_hal(ser),
                             10);
    uint8_t buf[128];
    size_t len;
    evt_scan_source src;

    uint64_t t0 = now_ms();
    assert_int_equal(mux.hal.read(mux.hal.ctx, 50, buf, sizeof buf, &len, &src), EVT_ERR_TIMEOUT);
    uint64_t waited = now_ms() - t0;
    assert_true(waited >= 50 && waited < 2000);

    write_all(master, CODE_B "\n");
    assert_int_equal(mux.hal.read(mux.hal.ctx, 1000, buf, sizeof buf, &len, &src), EVT_OK);
    assert_int_equal(src, EVT_SCAN_SERIAL);
    assert_memory_equal(buf, CODE_B, len);

    char p[256];
    snprintf(p, sizeof p, "%s/frame.png", dir);
    assert_int_equal(voucher_gen(p, CODE_A, NULL), 0);
    assert_int_equal(mux.hal.read(mux.hal.ctx, 1000, buf, sizeof buf, &len, &src), EVT_OK);
    assert_int_equal(src, EVT_SCAN_CAMERA);
    assert_memory_equal(buf, CODE_A, len);

    evt_sim_scanner_serial_close(ser);
    close(master);
    evt_sim_scanner_image_close(cam);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_screen_decodes),
        cmocka_unit_test(test_family_screen_decodes),
        cmocka_unit_test(test_distortion_matrix),
        cmocka_unit_test(test_blank_frame_is_unreadable),
        cmocka_unit_test(test_payload_longer_than_cap_overflows),
        cmocka_unit_test(test_binary_payload_is_returned_raw),
        cmocka_unit_test(test_largest_of_several_codes_wins),
        cmocka_unit_test(test_explicit_list_in_order),
        cmocka_unit_test(test_watched_directory),
        cmocka_unit_test(test_image_open_arguments),
        cmocka_unit_test(test_serial_lines_over_pty),
        cmocka_unit_test(test_serial_script_file),
        cmocka_unit_test(test_serial_pipe_and_arguments),
        cmocka_unit_test(test_mux_camera_and_serial),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
