/*
 * evt_sim_printer_file: evt_hal_printer that "prints" into a directory.
 *
 * Each job becomes <dir>/<job>.bin (the exact ESC/POS bytes a real printer would get) and
 * <dir>/<job>.png (what the paper would show, drawn by evt_escpos_render). The job name is
 * reduced to [A-Za-z0-9._-] (others become '_'); a name already used in the directory gets
 * "-2", "-3", ... so a reprint never overwrites the original.
 *
 * Fault simulation, checked at begin, write and end, so a test or a demo operator can pull
 * the paper mid-job:
 *   <dir>/PAPER_OUT present      -> EVT_ERR_PRINTER_PAPER_OUT
 *   <dir>/PRINTER_FAULT present  -> EVT_ERR_PRINTER_IO
 * A job interrupted that way is abandoned; the bytes received so far are kept as
 * <dir>/<job>.aborted.bin, as a half-printed slip would be, and no PNG is made.
 *
 * Blocking: begin/write only touch memory and stat two files; end writes two files.
 * Not thread-safe (one main loop).
 */
#ifndef EVT_SIM_PRINTER_FILE_H
#define EVT_SIM_PRINTER_FILE_H

#include <stdbool.h>
#include <stddef.h>

#include "evt/hal_printer.h"

typedef struct evt_sim_printer_file_options {
    const char *dir;          /* output directory; created (with parents) if missing */
    unsigned paper_dots;      /* 384 (58 mm) or 576 (80 mm); 0 means 384 */
    bool no_preview;          /* true: write only the .bin, no PNG */
    const char *unifont_path; /* NULL: the renderer's default */
} evt_sim_printer_file_options;

/* Longest file path the driver makes; open refuses a directory too long for it. */
#define EVT_SIM_PRINTER_PATH_MAX 512

/* About the last job that ended (successfully or not). */
typedef struct evt_sim_printer_job_info {
    char bin_path[EVT_SIM_PRINTER_PATH_MAX]; /* "" when no job finished yet */
    char png_path[EVT_SIM_PRINTER_PATH_MAX]; /* "" when no preview was made */
    size_t bytes;
    bool aborted;            /* ended by a simulated fault */
    size_t unknown_commands; /* from the preview renderer */
    size_t wrapped_lines;    /* lines too long for the paper */
    unsigned png_height;
} evt_sim_printer_job_info;

typedef struct evt_sim_printer_file evt_sim_printer_file;

/*
 * Creates the driver and fills *hal (ctx + functions). EVT_ERR_ARG for NULL arguments, a
 * paper width other than 384/576 or a directory path over ~380 bytes, EVT_ERR_PRINTER_IO if the
 * directory cannot be created, EVT_ERR_NOMEM.
 */
evt_err evt_sim_printer_file_open(const evt_sim_printer_file_options *opt,
                                  evt_sim_printer_file **out, evt_hal_printer *hal);
/* Abandons an unfinished job (nothing written) and frees the driver. NULL is fine. */
void evt_sim_printer_file_close(evt_sim_printer_file *p);

/* Jobs completed with EVT_OK since open. */
size_t evt_sim_printer_file_jobs(const evt_sim_printer_file *p);
const evt_sim_printer_job_info *evt_sim_printer_file_last_job(const evt_sim_printer_file *p);

#endif /* EVT_SIM_PRINTER_FILE_H */
