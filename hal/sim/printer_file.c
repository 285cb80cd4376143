/* evt_sim_printer_file: ESC/POS jobs to <dir>/<job>.bin + PNG preview; see printer_file.h. */
#include "evt_sim/printer_file.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "escpos_render.h"

/* Far more than any receipt (a raster receipt is ~20 KB); stops a runaway writer. */
#define JOB_MAX_BYTES (4u * 1024u * 1024u)
#define JOB_NAME_MAX  96
/* "<dir>/<job>-NNNN": room left for ".aborted.bin". */
#define BASE_MAX (EVT_SIM_PRINTER_PATH_MAX - 16)

struct evt_sim_printer_file {
    char dir[EVT_SIM_PRINTER_PATH_MAX];
    unsigned paper_dots;
    bool no_preview;
    char *unifont_path;

    bool in_job;
    char job[JOB_NAME_MAX + 1];
    uint8_t *buf;
    size_t len, cap;

    size_t jobs;
    evt_sim_printer_job_info last;
};

static bool file_exists(const char *dir, const char *name)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        return false;
    }
    struct stat st;
    return stat(path, &st) == 0;
}

static evt_err printer_state(const evt_sim_printer_file *p)
{
    if (file_exists(p->dir, "PRINTER_FAULT")) {
        return EVT_ERR_PRINTER_IO;
    }
    if (file_exists(p->dir, "PAPER_OUT")) {
        return EVT_ERR_PRINTER_PAPER_OUT;
    }
    return EVT_OK;
}

static bool make_dirs(const char *dir)
{
    char path[PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        return false;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            char c = path[i];
            path[i] = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                return false;
            }
            path[i] = c;
        }
    }
    struct stat st;
    return stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return false;
    }
    bool ok = len == 0 || fwrite(data, 1, len, f) == len; /* data may be NULL when empty */
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        remove(path);
    }
    return ok;
}

/* Keeps the job name usable as a file name on any host and inside the directory. */
static void sanitize_name(const char *in, char *out)
{
    size_t n = 0;
    for (; in != NULL && in[n] != '\0' && n < JOB_NAME_MAX; n++) {
        char c = in[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || (c == '.' && n > 0);
        out[n] = ok ? c : '_';
    }
    if (n == 0) {
        memcpy(out, "job", 4);
        return;
    }
    out[n] = '\0';
}

/* "<dir>/<job><suffix>.bin" with the first free suffix ("", "-2", ...). */
static bool unique_base(const evt_sim_printer_file *p, char *base, size_t cap)
{
    for (unsigned k = 1; k < 10000; k++) {
        char suffix[16] = "";
        if (k > 1) {
            snprintf(suffix, sizeof suffix, "-%u", k);
        }
        if (snprintf(base, cap, "%s/%s%s", p->dir, p->job, suffix) >= (int)cap) {
            return false;
        }
        char bin[EVT_SIM_PRINTER_PATH_MAX];
        snprintf(bin, sizeof bin, "%s.bin", base);
        struct stat st;
        if (stat(bin, &st) != 0) {
            return true;
        }
    }
    return false;
}

static void reset_job(evt_sim_printer_file *p)
{
    p->in_job = false;
    p->len = 0;
}

/* A simulated fault mid-job: keep what "was printed" and drop the job. */
static evt_err abort_job(evt_sim_printer_file *p, evt_err why)
{
    char base[BASE_MAX];
    memset(&p->last, 0, sizeof p->last);
    p->last.aborted = true;
    p->last.bytes = p->len;
    if (unique_base(p, base, sizeof base)) {
        snprintf(p->last.bin_path, sizeof p->last.bin_path, "%s.aborted.bin", base);
        write_file(p->last.bin_path, p->buf, p->len);
    }
    reset_job(p);
    return why;
}

static evt_err printer_begin(void *ctx, const char *job_name)
{
    evt_sim_printer_file *p = ctx;
    if (p->in_job) {
        return EVT_ERR_BUSY;
    }
    evt_err state = printer_state(p);
    if (state != EVT_OK) {
        return state;
    }
    sanitize_name(job_name, p->job);
    p->len = 0;
    p->in_job = true;
    return EVT_OK;
}

static evt_err printer_write(void *ctx, const uint8_t *data, size_t len)
{
    evt_sim_printer_file *p = ctx;
    if (!p->in_job || (data == NULL && len > 0)) {
        return EVT_ERR_ARG;
    }
    evt_err state = printer_state(p);
    if (state != EVT_OK) {
        return abort_job(p, state);
    }
    if (len > JOB_MAX_BYTES - p->len) {
        return abort_job(p, EVT_ERR_PRINTER_IO);
    }
    if (p->len + len > p->cap) {
        size_t cap = p->cap ? p->cap : 16384;
        while (cap < p->len + len) {
            cap *= 2;
        }
        uint8_t *bigger = realloc(p->buf, cap);
        if (bigger == NULL) {
            return abort_job(p, EVT_ERR_NOMEM);
        }
        p->buf = bigger;
        p->cap = cap;
    }
    if (len > 0) {
        memcpy(p->buf + p->len, data, len);
        p->len += len;
    }
    return EVT_OK;
}

static void make_preview(evt_sim_printer_file *p, const char *base)
{
    evt_escpos_render_options ropt = {.width_dots = p->paper_dots, .unifont_path = p->unifont_path};
    evt_escpos_page page;
    evt_err err = evt_escpos_render(p->buf, p->len, &ropt, &page);
    if (err == EVT_OK) {
        snprintf(p->last.png_path, sizeof p->last.png_path, "%s.png", base);
        err = evt_escpos_page_write_png(&page, p->last.png_path);
        p->last.unknown_commands = page.unknown_commands;
        p->last.wrapped_lines = page.wrapped_lines;
        p->last.png_height = page.height;
    }
    if (err != EVT_OK) {
        /* The paper (the .bin) is fine; only the picture of it is missing. */
        fprintf(stderr, "printer_file: no preview for %s: %s\n", base, evt_err_log_text(err));
        p->last.png_path[0] = '\0';
    }
    evt_escpos_page_free(&page);
}

static evt_err printer_end(void *ctx)
{
    evt_sim_printer_file *p = ctx;
    if (!p->in_job) {
        return EVT_ERR_ARG;
    }
    evt_err state = printer_state(p);
    if (state != EVT_OK) {
        return abort_job(p, state);
    }
    char base[BASE_MAX];
    memset(&p->last, 0, sizeof p->last);
    if (!unique_base(p, base, sizeof base)) {
        reset_job(p);
        return EVT_ERR_PRINTER_IO;
    }
    snprintf(p->last.bin_path, sizeof p->last.bin_path, "%s.bin", base);
    p->last.bytes = p->len;
    if (!write_file(p->last.bin_path, p->buf, p->len)) {
        p->last.bin_path[0] = '\0';
        reset_job(p);
        return EVT_ERR_PRINTER_IO;
    }
    if (!p->no_preview) {
        make_preview(p, base);
    }
    p->jobs++;
    reset_job(p);
    return EVT_OK;
}

evt_err evt_sim_printer_file_open(const evt_sim_printer_file_options *opt,
                                  evt_sim_printer_file **out, evt_hal_printer *hal)
{
    if (opt == NULL || out == NULL || hal == NULL || opt->dir == NULL) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    unsigned dots = opt->paper_dots ? opt->paper_dots : 384;
    if ((dots != 384 && dots != 576) || strlen(opt->dir) + 1 + JOB_NAME_MAX + 8 >= BASE_MAX) {
        return EVT_ERR_ARG;
    }
    if (!make_dirs(opt->dir)) {
        return EVT_ERR_PRINTER_IO;
    }
    evt_sim_printer_file *p = calloc(1, sizeof *p);
    if (p == NULL) {
        return EVT_ERR_NOMEM;
    }
    snprintf(p->dir, sizeof p->dir, "%s", opt->dir);
    p->paper_dots = dots;
    p->no_preview = opt->no_preview;
    if (opt->unifont_path != NULL && (p->unifont_path = strdup(opt->unifont_path)) == NULL) {
        free(p);
        return EVT_ERR_NOMEM;
    }
    hal->ctx = p;
    hal->begin = printer_begin;
    hal->write = printer_write;
    hal->end = printer_end;
    *out = p;
    return EVT_OK;
}

void evt_sim_printer_file_close(evt_sim_printer_file *p)
{
    if (p == NULL) {
        return;
    }
    free(p->buf);
    free(p->unifont_path);
    free(p);
}

size_t evt_sim_printer_file_jobs(const evt_sim_printer_file *p)
{
    return p->jobs;
}

const evt_sim_printer_job_info *evt_sim_printer_file_last_job(const evt_sim_printer_file *p)
{
    return &p->last;
}
