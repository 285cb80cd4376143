/* evt_sim_printer_file: job files, previews, naming, simulated paper-out and faults. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evt/receipt.h"
#include "evt_sim/printer_file.h"

typedef struct fixture {
    char dir[256];
    evt_sim_printer_file *printer;
    evt_hal_printer hal;
} fixture;

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            remove_tree(path);
        } else {
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

static int open_printer(fixture *f, unsigned dots)
{
    evt_sim_printer_file_options opt = {.dir = f->dir, .paper_dots = dots};
    return evt_sim_printer_file_open(&opt, &f->printer, &f->hal);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/evt-printer-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    /* A nested directory that does not exist yet: the driver creates it. */
    strcat(f->dir, "/out/receipts");
    assert_int_equal(open_printer(f, 384), EVT_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    evt_sim_printer_file_close(f->printer);
    char root[256];
    snprintf(root, sizeof root, "%s", f->dir);
    *strstr(root, "/out/receipts") = '\0';
    remove_tree(root);
    free(f);
    return 0;
}

static bool exists(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

static void touch(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
}

static void drop(const char *dir, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(unlink(path), 0);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* Width and height from a PNG's IHDR. */
static void png_size(const char *path, unsigned *w, unsigned *h)
{
    uint8_t head[24];
    assert_int_equal(read_file(path, head, sizeof head), sizeof head);
    assert_memory_equal(head, "\x89PNG\r\n\x1a\n", 8);
    assert_memory_equal(head + 12, "IHDR", 4);
    *w = (unsigned)head[16] << 24 | (unsigned)head[17] << 16 | (unsigned)head[18] << 8 | head[19];
    *h = (unsigned)head[20] << 24 | (unsigned)head[21] << 16 | (unsigned)head[22] << 8 | head[23];
}

static const uint8_t small_job[] = "\x1B@\x1C&Hello \xD2\xBD\xB1\xA3\n\x1B\x64\x02\x1DV\x42\x00";

static void print_job(fixture *f, const char *name, const uint8_t *data, size_t len)
{
    assert_int_equal(f->hal.begin(f->hal.ctx, name), EVT_OK);
    /* In chunks, as a driver over a serial line would get it. */
    for (size_t off = 0; off < len; off += 7) {
        size_t n = len - off < 7 ? len - off : 7;
        assert_int_equal(f->hal.write(f->hal.ctx, data + off, n), EVT_OK);
    }
    assert_int_equal(f->hal.end(f->hal.ctx), EVT_OK);
}

static void test_job_written_and_previewed(void **state)
{
    fixture *f = *state;
    print_job(f, "H12010400001202406150930121001", small_job, sizeof small_job - 1);
    assert_true(exists(f->dir, "H12010400001202406150930121001.bin"));
    assert_true(exists(f->dir, "H12010400001202406150930121001.png"));
    const evt_sim_printer_job_info *info = evt_sim_printer_file_last_job(f->printer);
    assert_false(info->aborted);
    assert_int_equal(info->bytes, sizeof small_job - 1);
    assert_int_equal(info->unknown_commands, 0);
    assert_int_equal(info->wrapped_lines, 0);
    uint8_t back[128];
    assert_int_equal(read_file(info->bin_path, back, sizeof back), sizeof small_job - 1);
    assert_memory_equal(back, small_job, sizeof small_job - 1);
    unsigned w, h;
    png_size(info->png_path, &w, &h);
    assert_int_equal(w, 384);
    assert_int_equal(h, info->png_height);
    assert_true(h > 60);
    assert_int_equal(evt_sim_printer_file_jobs(f->printer), 1);
}

static void test_receipt_on_80mm(void **state)
{
    fixture *f = *state;
    evt_sim_printer_file_close(f->printer);
    assert_int_equal(open_printer(f, 576), EVT_OK);
    evt_settlement s = {.setl_id = "S1", .medfee_sumamt = 100, .psn_cash_pay = 100};
    evt_receipt r = {.paper = EVT_RECEIPT_PAPER_80MM,
                     .qr_mode = EVT_RECEIPT_QR_RASTER,
                     .fixmedins_code = "H12010400001",
                     .msgid = "H12010400001202406150930121001",
                     .settlement = &s,
                     .patient_name = "张三",
                     .insutype = "390"};
    /* Streamed onto the printer as the terminal prints it; the file is the job, whole. */
    size_t written = 0;
    assert_int_equal(evt_receipt_print(&r, &f->hal, r.msgid, &written), EVT_OK);
    const evt_sim_printer_job_info *info = evt_sim_printer_file_last_job(f->printer);
    assert_false(info->aborted);
    assert_int_equal(info->bytes, written);
    size_t cap = 64u * 1024u, len = 0;
    uint8_t *job = malloc(cap), *back = malloc(cap);
    assert_non_null(job);
    assert_non_null(back);
    assert_int_equal(evt_receipt_build(&r, job, cap, &len), EVT_OK);
    assert_true(len > 8u * EVT_RECEIPT_STAGE_BYTES); /* many writes, raster QR included */
    assert_int_equal(read_file(info->bin_path, back, cap), len);
    assert_memory_equal(back, job, len);
    free(job);
    free(back);
    assert_int_equal(info->unknown_commands, 0);
    assert_int_equal(info->wrapped_lines, 0);
    unsigned w, h;
    png_size(info->png_path, &w, &h);
    assert_int_equal(w, 576);
    assert_true(h > 600);
}

static void test_names_sanitized_and_unique(void **state)
{
    fixture *f = *state;
    print_job(f, "../evil name", small_job, sizeof small_job - 1);
    assert_true(exists(f->dir, "_._evil_name.bin"));
    print_job(f, "../evil name", small_job, sizeof small_job - 1);
    assert_true(exists(f->dir, "_._evil_name-2.bin"));
    assert_true(exists(f->dir, "_._evil_name-2.png"));
    print_job(f, "", small_job, sizeof small_job - 1);
    assert_true(exists(f->dir, "job.bin"));
    print_job(f, NULL, small_job, sizeof small_job - 1);
    assert_true(exists(f->dir, "job-2.bin"));
    assert_int_equal(evt_sim_printer_file_jobs(f->printer), 4);
}

static void test_paper_out_at_begin(void **state)
{
    fixture *f = *state;
    touch(f->dir, "PAPER_OUT");
    assert_int_equal(f->hal.begin(f->hal.ctx, "J1"), EVT_ERR_PRINTER_PAPER_OUT);
    assert_int_equal(f->hal.write(f->hal.ctx, small_job, 4), EVT_ERR_ARG); /* no job */
    drop(f->dir, "PAPER_OUT");
    print_job(f, "J1", small_job, sizeof small_job - 1);
    assert_true(exists(f->dir, "J1.bin"));
}

static void test_paper_out_mid_job(void **state)
{
    fixture *f = *state;
    assert_int_equal(f->hal.begin(f->hal.ctx, "J2"), EVT_OK);
    assert_int_equal(f->hal.write(f->hal.ctx, small_job, 10), EVT_OK);
    touch(f->dir, "PAPER_OUT");
    assert_int_equal(f->hal.write(f->hal.ctx, small_job + 10, 5), EVT_ERR_PRINTER_PAPER_OUT);
    /* The job is gone; what was "printed" is kept for inspection. */
    assert_int_equal(f->hal.end(f->hal.ctx), EVT_ERR_ARG);
    assert_true(exists(f->dir, "J2.aborted.bin"));
    assert_false(exists(f->dir, "J2.bin"));
    assert_false(exists(f->dir, "J2.png"));
    const evt_sim_printer_job_info *info = evt_sim_printer_file_last_job(f->printer);
    assert_true(info->aborted);
    assert_int_equal(info->bytes, 10);
    assert_int_equal(evt_sim_printer_file_jobs(f->printer), 0);
    /* Paper back in: the reprint goes through. */
    drop(f->dir, "PAPER_OUT");
    print_job(f, "J2", small_job, sizeof small_job - 1);
    assert_true(exists(f->dir, "J2.bin"));
    assert_true(exists(f->dir, "J2.png"));
}

static void test_fault_and_misuse(void **state)
{
    fixture *f = *state;
    touch(f->dir, "PRINTER_FAULT");
    assert_int_equal(f->hal.begin(f->hal.ctx, "J3"), EVT_ERR_PRINTER_IO);
    drop(f->dir, "PRINTER_FAULT");
    assert_int_equal(f->hal.begin(f->hal.ctx, "J3"), EVT_OK);
    assert_int_equal(f->hal.begin(f->hal.ctx, "J4"), EVT_ERR_BUSY);
    assert_int_equal(f->hal.write(f->hal.ctx, NULL, 3), EVT_ERR_ARG);
    touch(f->dir, "PRINTER_FAULT");
    assert_int_equal(f->hal.end(f->hal.ctx), EVT_ERR_PRINTER_IO);
    drop(f->dir, "PRINTER_FAULT");
    assert_true(exists(f->dir, "J3.aborted.bin"));
    assert_int_equal(f->hal.end(f->hal.ctx), EVT_ERR_ARG);
    /* An empty job is still a job (a feed), and works. */
    assert_int_equal(f->hal.begin(f->hal.ctx, "empty"), EVT_OK);
    assert_int_equal(f->hal.end(f->hal.ctx), EVT_OK);
    assert_true(exists(f->dir, "empty.bin"));
}

static void test_open_arguments(void **state)
{
    fixture *f = *state;
    evt_sim_printer_file *p = NULL;
    evt_hal_printer hal;
    evt_sim_printer_file_options bad_width = {.dir = f->dir, .paper_dots = 500};
    assert_int_equal(evt_sim_printer_file_open(&bad_width, &p, &hal), EVT_ERR_ARG);
    evt_sim_printer_file_options no_dir = {.dir = NULL};
    assert_int_equal(evt_sim_printer_file_open(&no_dir, &p, &hal), EVT_ERR_ARG);
    /* A directory under a regular file cannot be created. */
    touch(f->dir, "afile");
    char under_file[400];
    snprintf(under_file, sizeof under_file, "%s/afile/sub", f->dir);
    evt_sim_printer_file_options blocked = {.dir = under_file};
    assert_int_equal(evt_sim_printer_file_open(&blocked, &p, &hal), EVT_ERR_PRINTER_IO);
    /* Preview off: only the .bin. */
    char plain[400];
    snprintf(plain, sizeof plain, "%s/plain", f->dir);
    evt_sim_printer_file_options no_png = {.dir = plain, .no_preview = true};
    assert_int_equal(evt_sim_printer_file_open(&no_png, &p, &hal), EVT_OK);
    assert_int_equal(hal.begin(hal.ctx, "x"), EVT_OK);
    assert_int_equal(hal.write(hal.ctx, small_job, sizeof small_job - 1), EVT_OK);
    assert_int_equal(hal.end(hal.ctx), EVT_OK);
    assert_true(exists(plain, "x.bin"));
    assert_false(exists(plain, "x.png"));
    evt_sim_printer_file_close(p);
    evt_sim_printer_file_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_job_written_and_previewed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_receipt_on_80mm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_sanitized_and_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paper_out_at_begin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paper_out_mid_job, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_and_misuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_arguments, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
