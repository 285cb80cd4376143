/*
 * evt-sim: the sim board. Opens the host drivers, loads the provisioning file and the CA
 * bundle it names, and runs the firmware's main loop. The only file that knows which
 * drivers make up this board.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evt/app.h"
#include "evt/config.h"
#include "evt_sim/net_posix.h"
#include "evt_sim/printer_file.h"
#include "evt_sim/scanner_image.h"
#include "evt_sim/scanner_serial.h"
#include "evt_sim/storage_file.h"
#include "evt_sim/sys_posix.h"
#include "evt_sim/ui_tty.h"

/* The arena a small Linux terminal would give the firmware; the Cortex-M boards use less. */
#define SIM_ARENA_BYTES  (256u * 1024u)
#define SIM_FLASH_BYTES  (128u * 1024u)
#define SIM_FLASH_SECTOR (4096u)
#define SIM_FILE_MAX     (1024u * 1024u)

static unsigned char sim_arena[SIM_ARENA_BYTES] __attribute__((aligned(16)));

typedef struct sim_options {
    const char *provision;
    const char *flash;
    const char *scan_dir;
    const char *scan_serial;
    const char *keys;
    const char *transcript;
    const char *print_dir;
    const char *log_path;
    bool quiet;
} sim_options;

static void usage(FILE *to)
{
    fprintf(
        to,
        "usage: evt-sim --provision FILE [options]\n"
        "  --provision FILE   provisioning file (docs/provisioning.md); ca_file is relative to it\n"
        "  --flash FILE       NOR flash image for the journal (default evt-flash.img)\n"
        "  --scan-dir DIR     camera: decode *.png frames dropped into DIR (zbar)\n"
        "  --scan-serial PATH serial scan engine: text lines from PATH (fifo/pty/file, - = stdin)\n"
        "  --keys FILE        scripted cashier keys ('<screen text> => KEY' lines)\n"
        "  --transcript FILE  append every screen to FILE\n"
        "  --print-dir DIR    receipts: <msgid>.bin (ESC/POS) + <msgid>.png (default receipts)\n"
        "  --log FILE         firmware log (default: stderr)\n"
        "  --quiet            do not draw screens on stdout\n");
}

static int parse_options(int argc, char **argv, sim_options *opt)
{
    static const struct option longopts[] = {
        {"provision", required_argument, NULL, 'p'},
        {"flash", required_argument, NULL, 'f'},
        {"scan-dir", required_argument, NULL, 'd'},
        {"scan-serial", required_argument, NULL, 's'},
        {"keys", required_argument, NULL, 'k'},
        {"transcript", required_argument, NULL, 't'},
        {"print-dir", required_argument, NULL, 'o'},
        {"log", required_argument, NULL, 'l'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(opt, 0, sizeof *opt);
    opt->flash = "evt-flash.img";
    opt->print_dir = "receipts";
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 'p':
            opt->provision = optarg;
            break;
        case 'f':
            opt->flash = optarg;
            break;
        case 'd':
            opt->scan_dir = optarg;
            break;
        case 's':
            opt->scan_serial = optarg;
            break;
        case 'k':
            opt->keys = optarg;
            break;
        case 't':
            opt->transcript = optarg;
            break;
        case 'o':
            opt->print_dir = optarg;
            break;
        case 'l':
            opt->log_path = optarg;
            break;
        case 'q':
            opt->quiet = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (opt->provision == NULL) {
        usage(stderr);
        return -1;
    }
    return 0;
}

/* Reads a whole file and NUL-terminates it (PEM parsing in mbedTLS wants the NUL). */
static char *read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    char *buf = malloc(SIM_FILE_MAX + 1);
    size_t len = buf ? fread(buf, 1, SIM_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (buf == NULL || len > SIM_FILE_MAX) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

/* ca_file relative to the provisioning file's directory, as a technician would expect. */
static void resolve_relative(const char *base_file, const char *path, char *out, size_t cap)
{
    if (path[0] == '/') {
        snprintf(out, cap, "%s", path);
        return;
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", base_file);
    snprintf(out, cap, "%s/%s", dirname(tmp), path);
}

int main(int argc, char **argv)
{
    sim_options opt;
    if (parse_options(argc, argv, &opt) != 0) {
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    size_t config_len = 0;
    char *config_text = read_file(opt.provision, &config_len);
    if (config_text == NULL) {
        fprintf(stderr, "evt-sim: cannot read provisioning file %s: %s\n", opt.provision,
                strerror(errno));
        return 2;
    }
    /* The board only needs ca_file from the configuration; the firmware parses it again. */
    static evt_config config;
    char msg[160];
    if (evt_config_parse(config_text, config_len, &config, msg, sizeof msg) != EVT_OK) {
        fprintf(stderr, "evt-sim: %s: %s\n", opt.provision, msg);
        return 2;
    }
    char ca_path[PATH_MAX];
    resolve_relative(opt.provision, config.ca_file, ca_path, sizeof ca_path);
    size_t ca_len = 0;
    char *ca_pem = read_file(ca_path, &ca_len);
    if (ca_pem == NULL) {
        fprintf(stderr, "evt-sim: cannot read CA bundle %s: %s\n", ca_path, strerror(errno));
        return 2;
    }

    evt_sim_sys *sys = NULL;
    evt_sim_sys_options sys_opt = {
        .log_to_stderr = opt.log_path == NULL, .log_path = opt.log_path, .min_level = EVT_LOG_INFO};
    if (evt_sim_sys_open(&sys, &sys_opt) != EVT_OK) {
        fprintf(stderr, "evt-sim: cannot open the system driver\n");
        return 2;
    }

    evt_hal_net net;
    evt_sim_net_posix_init(&net);

    evt_sim_storage *flash = NULL;
    if (evt_sim_storage_open(&flash, opt.flash, SIM_FLASH_BYTES, SIM_FLASH_SECTOR) != EVT_OK) {
        fprintf(stderr, "evt-sim: cannot open flash image %s\n", opt.flash);
        return 2;
    }

    evt_sim_printer_file *printer = NULL;
    evt_hal_printer printer_hal;
    evt_sim_printer_file_options printer_opt = {
        .dir = opt.print_dir, .paper_dots = config.paper_width_mm == 80 ? 576 : 384};
    if (evt_sim_printer_file_open(&printer_opt, &printer, &printer_hal) != EVT_OK) {
        fprintf(stderr, "evt-sim: cannot open the printer output %s\n", opt.print_dir);
        return 2;
    }

    /* Scanner: camera directory, serial engine, or both multiplexed like a dual-engine box. */
    evt_sim_scanner_image *camera = NULL;
    evt_sim_scanner_serial *serial = NULL;
    if (opt.scan_dir != NULL) {
        evt_sim_scanner_image_options cam_opt = {.watch_dir = opt.scan_dir};
        if (evt_sim_scanner_image_open(&camera, &cam_opt) != EVT_OK) {
            fprintf(stderr, "evt-sim: cannot watch scan directory %s\n", opt.scan_dir);
            return 2;
        }
    }
    if (opt.scan_serial != NULL) {
        int fd = strcmp(opt.scan_serial, "-") == 0 ? dup(STDIN_FILENO)
                                                   : open(opt.scan_serial, O_RDWR | O_CLOEXEC);
        evt_sim_scanner_serial_options ser_opt = {.fd = fd, .own_fd = true};
        if (fd < 0 || evt_sim_scanner_serial_open(&serial, &ser_opt) != EVT_OK) {
            fprintf(stderr, "evt-sim: cannot open serial scanner %s\n", opt.scan_serial);
            return 2;
        }
    }
    evt_sim_scanner_mux mux;
    const evt_hal_scanner *scanner = NULL;
    if (camera != NULL && serial != NULL) {
        evt_sim_scanner_mux_init(&mux, evt_sim_scanner_image_hal(camera),
                                 evt_sim_scanner_serial_hal(serial), 50);
        scanner = &mux.hal;
    } else if (camera != NULL) {
        scanner = evt_sim_scanner_image_hal(camera);
    } else if (serial != NULL) {
        scanner = evt_sim_scanner_serial_hal(serial);
    } else {
        fprintf(stderr, "evt-sim: no scanner: give --scan-dir and/or --scan-serial\n");
        return 2;
    }

    evt_sim_ui *ui = NULL;
    evt_sim_ui_options ui_opt = {
        .out = opt.quiet ? NULL : stdout,
        .transcript_path = opt.transcript,
        .key_fd = opt.keys ? -1 : STDIN_FILENO,
        .raw_tty = opt.keys == NULL && isatty(STDIN_FILENO),
        .script_path = opt.keys,
        .clock = evt_sim_sys_hal(sys),
    };
    if (evt_sim_ui_open(&ui, &ui_opt) != EVT_OK) {
        fprintf(stderr, "evt-sim: cannot open the UI (keys %s)\n", opt.keys ? opt.keys : "stdin");
        return 2;
    }

    evt_hal hal = {
        .sys = evt_sim_sys_hal(sys),
        .net = &net,
        .scanner = scanner,
        .printer = &printer_hal,
        .storage = evt_sim_storage_hal(flash),
        .ui = evt_sim_ui_hal(ui),
    };
    evt_app_boot boot = {
        .hal = &hal,
        .config_text = config_text,
        .config_len = config_len,
        .ca_pem = (const uint8_t *)ca_pem,
        .ca_len = ca_len + 1,
        .arena = sim_arena,
        .arena_len = sizeof sim_arena,
    };
    evt_app *app = NULL;
    evt_err err = evt_app_start(&boot, &app, msg, sizeof msg);
    if (err != EVT_OK) {
        fprintf(stderr, "evt-sim: start-up failed: %s (%s)\n", msg, evt_err_name(err));
        return 1;
    }
    err = evt_app_run(app);

    evt_app_figures fig;
    evt_app_get_figures(app, &fig);
    fprintf(stderr,
            "evt-sim: sales settled %u, refused %u, failed %u, unknown %u; reversals pending %u; "
            "arena peak %zu of %zu bytes\n",
            fig.sales_settled, fig.sales_refused, fig.sales_failed, fig.sales_unknown,
            fig.reversals_pending, fig.arena.peak, fig.arena.capacity);
    evt_app_stop(app);

    evt_sim_ui_close(ui);
    evt_sim_scanner_image_close(camera);
    evt_sim_scanner_serial_close(serial);
    evt_sim_printer_file_close(printer);
    evt_sim_storage_close(flash);
    evt_sim_sys_close(sys);
    free(ca_pem);
    free(config_text);
    return err == EVT_OK ? 0 : 1;
}
