/* voucher-gen end to end: command line, phone-screen geometry, family banner, --print-code,
 * the --emu path (with a stand-in emulator script), determinism, and decoding of its output by
 * the sim camera scanner. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <png.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evt_sim/scanner_image.h"

#define VOUCHER_GEN EVT_BINARY_DIR "/tools/voucher-gen/voucher-gen"
#define CODE        "421200K7Q2M9XW4RT8ZP3N6HJ5VBCDEFGH2345ABCDEFGH"

extern char **environ;

static char dir[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/evt_vgen_XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *path_in(const char *name)
{
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

/* Runs voucher-gen with a NULL-terminated argument list; stdout goes to stdout_path (may be
 * NULL: /dev/null). Returns the exit status. */
static int run(const char *stdout_path, ...)
{
    char *argv[40];
    int argc = 0;
    argv[argc++] = VOUCHER_GEN;
    va_list ap;
    va_start(ap, stdout_path);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && argc < 39) {
        argv[argc++] = (char *)a;
    }
    va_end(ap);
    argv[argc] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO,
                                     stdout_path != NULL ? stdout_path : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, VOUCHER_GEN, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static size_t slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
    return n;
}

/* Loads a PNG as RGB; caller frees. */
static uint8_t *load_rgb(const char *path, uint32_t *w, uint32_t *h)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_file(&img, path));
    img.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
    assert_non_null(px);
    assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
    *w = img.width;
    *h = img.height;
    return px;
}

static void assert_decodes(const char *png, const char *code)
{
    uint8_t buf[512];
    size_t len = 0;
    assert_int_equal(evt_sim_decode_png(png, buf, sizeof buf, &len, NULL), EVT_OK);
    assert_int_equal(len, strlen(code));
    assert_memory_equal(buf, code, len);
}

static void test_code_to_phone_screen(void **state)
{
    (void)state;
    const char *png = path_in("screen.png");
    assert_int_equal(run(NULL, "--out", png, "--code", CODE, NULL), 0);
    uint32_t w, h;
    uint8_t *px = load_rgb(png, &w, &h);
    assert_int_equal(w, 720);
    assert_int_equal(h, 1280);
    /* Header band is the app's blue; no family banner below it on a person's own code. */
    const uint8_t *header = &px[3 * (100 * w + 10)];
    assert_true(header[2] > 200 && header[0] < 60);
    const uint8_t *below = &px[3 * (240 * w + 10)];
    assert_true(below[0] == 255 && below[1] == 255 && below[2] == 255);
    free(px);
    assert_decodes(png, CODE);
    /* Written under a temporary name and renamed: nothing left behind. */
    assert_int_equal(access(path_in("screen.png.part"), F_OK), -1);
}

static void test_print_code(void **state)
{
    (void)state;
    const char *out = path_in("stdout.txt");
    assert_int_equal(run(out, "--print-code", "--code", CODE, NULL), 0);
    char text[256];
    slurp(out, text, sizeof text);
    assert_string_equal(text, CODE "\n");
    const char *png = path_in("both.png");
    assert_int_equal(run(out, "--print-code", "--out", png, "--code", CODE, NULL), 0);
    slurp(out, text, sizeof text);
    assert_string_equal(text, CODE "\n");
    assert_decodes(png, CODE);
}

static const char *write_fake_emu(const char *name, const char *body)
{
    const char *p = path_in(name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s", body);
    fclose(f);
    assert_int_equal(chmod(p, 0755), 0);
    return p;
}

static void test_emu_family_account(void **state)
{
    (void)state;
    /* The stand-in records its arguments and prints a code the way platform-emu does: the
     * first non-empty stdout line, possibly padded, possibly followed by more. */
    char body[512];
    snprintf(body, sizeof body,
             "echo \"$@\" > '%s/emu-args.txt'\n"
             "echo\n"
             "echo '  %s  '\n"
             "echo 'expires in 120 s'\n",
             dir, CODE);
    const char *emu = write_fake_emu("emu-ok.sh", body);
    const char *png = path_in("family.png");
    const char *out = path_in("family.txt");
    assert_int_equal(run(out, "--out", png, "--emu", emu, "--db", "/tmp/ledger.db", "--person",
                         "grandma", "--holder", "daughter", "--print-code", NULL),
                     0);
    char text[512];
    slurp(path_in("emu-args.txt"), text, sizeof text);
    assert_string_equal(text, "code --db /tmp/ledger.db --person grandma --holder daughter\n");
    slurp(out, text, sizeof text);
    assert_string_equal(text, CODE "\n");
    uint32_t w, h;
    uint8_t *px = load_rgb(png, &w, &h);
    /* The orange 亲情账户 banner under the header. */
    const uint8_t *banner = &px[3 * (210 * w + 10)];
    assert_true(banner[0] > 200 && banner[1] > 100 && banner[1] < 180 && banner[2] < 80);
    free(px);
    assert_decodes(png, CODE);

    /* Without --holder the emulator is not asked for a family display. */
    assert_int_equal(run(NULL, "--out", png, "--emu", emu, "--db", "d", "--person", "p", NULL), 0);
    slurp(path_in("emu-args.txt"), text, sizeof text);
    assert_string_equal(text, "code --db d --person p\n");
}

static void test_emu_failures(void **state)
{
    (void)state;
    const char *png = path_in("nope.png");
    const char *failing = write_fake_emu("emu-fail.sh", "echo 'unknown person' >&2\nexit 3\n");
    assert_int_equal(run(NULL, "--out", png, "--emu", failing, "--db", "d", "--person", "x", NULL),
                     1);
    const char *silent = write_fake_emu("emu-silent.sh", "echo\necho '   '\n");
    assert_int_equal(run(NULL, "--out", png, "--emu", silent, "--db", "d", "--person", "x", NULL),
                     1);
    assert_int_equal(run(NULL, "--out", png, "--emu", path_in("no-such-emu"), "--db", "d",
                         "--person", "x", NULL),
                     1);
    assert_int_equal(access(png, F_OK), -1);
}

static void test_usage_errors(void **state)
{
    (void)state;
    const char *png = path_in("u.png");
    assert_int_equal(run(NULL, "--out", png, NULL), 2);   /* no code */
    assert_int_equal(run(NULL, "--code", CODE, NULL), 2); /* no output */
    assert_int_equal(
        run(NULL, "--out", png, "--code", CODE, "--emu", "e", "--db", "d", "--person", "p", NULL),
        2); /* two sources */
    assert_int_equal(run(NULL, "--out", png, "--emu", "e", "--person", "p", NULL), 2); /* no db */
    assert_int_equal(run(NULL, "--out", png, "--code", CODE, "--holder", "h", NULL), 2);
    assert_int_equal(run(NULL, "--out", png, "--code", CODE, "--rotate", "abc", NULL), 2);
    assert_int_equal(run(NULL, "--out", png, "--code", CODE, "--blur", "-1", NULL), 2);
    assert_int_equal(run(NULL, "--out", png, "--code-hex", "abc", NULL), 2);
    assert_int_equal(run(NULL, "--out", png, "--code", CODE, "stray", NULL), 2);
    assert_int_equal(run(NULL, "--help", NULL), 0);
    /* Too large for any QR version, and a scale that cannot fit the screen. */
    static char huge[3001];
    memset(huge, 'A', 3000);
    assert_int_equal(run(NULL, "--out", png, "--code", huge, NULL), 1);
    assert_int_equal(run(NULL, "--out", png, "--code", CODE, "--scale", "60", NULL), 1);
    assert_int_equal(access(png, F_OK), -1);
}

static void test_distortions_geometry_and_determinism(void **state)
{
    (void)state;
    const char *a = path_in("n1.png");
    const char *b = path_in("n2.png");
    const char *c = path_in("n3.png");
    assert_int_equal(run(NULL, "--out", a, "--code", CODE, "--noise", "20", "--seed", "5", NULL),
                     0);
    assert_int_equal(run(NULL, "--out", b, "--code", CODE, "--noise", "20", "--seed", "5", NULL),
                     0);
    assert_int_equal(run(NULL, "--out", c, "--code", CODE, "--noise", "20", "--seed", "6", NULL),
                     0);
    uint32_t w, h, w2, h2;
    uint8_t *pa = load_rgb(a, &w, &h);
    uint8_t *pb = load_rgb(b, &w2, &h2);
    uint8_t *pc = load_rgb(c, &w2, &h2);
    assert_memory_equal(pa, pb, (size_t)w * h * 3);
    assert_memory_not_equal(pa, pc, (size_t)w * h * 3);
    free(pa);
    free(pb);
    free(pc);

    const char *r = path_in("r90.png");
    assert_int_equal(run(NULL, "--out", r, "--code", CODE, "--rotate", "90", NULL), 0);
    uint8_t *pr = load_rgb(r, &w, &h);
    assert_int_equal(w, 1280);
    assert_int_equal(h, 720);
    free(pr);
    const char *r30 = path_in("r30.png");
    assert_int_equal(run(NULL, "--out", r30, "--code", CODE, "--rotate", "30", NULL), 0);
    pr = load_rgb(r30, &w, &h);
    /* The canvas grows to hold the whole tilted phone: 720cos30+1280sin30, 720sin30+1280cos30 */
    assert_true(w >= 1262 && w <= 1264);
    assert_true(h >= 1467 && h <= 1469);
    /* A corner shows the counter, not the phone. */
    assert_true(pr[0] < 100 && pr[1] < 100);
    free(pr);
    assert_decodes(r30, CODE);

    const char *low = path_in("low.png");
    assert_int_equal(
        run(NULL, "--out", low, "--code", CODE, "--contrast", "40", "--brightness", "60", NULL), 0);
    uint8_t *pl = load_rgb(low, &w, &h);
    uint8_t lo = 255, hi = 0;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) {
        lo = pl[i] < lo ? pl[i] : lo;
        hi = pl[i] > hi ? pl[i] : hi;
    }
    /* 60 % brightness then 40 % contrast around mid grey: black -> 77, white -> 138. */
    assert_in_range(lo, 70, 85);
    assert_in_range(hi, 130, 145);
    free(pl);
    assert_decodes(low, CODE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_to_phone_screen),
        cmocka_unit_test(test_print_code),
        cmocka_unit_test(test_emu_family_account),
        cmocka_unit_test(test_emu_failures),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_distortions_geometry_and_determinism),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
