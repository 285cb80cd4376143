/* Integration harness; see harness.h. */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "ecr_pos.h"
#include "evt/money.h"
#include "qr_decode.h"
#include "ram_nor.h"

extern char **environ;

#define EMU_BIN          EVT_BINARY_DIR "/tools/platform-emu/platform-emu"
#define GEN_CERTS        EVT_SOURCE_DIR "/tools/platform-emu/gen-certs.sh"
#define WORK_ROOT        EVT_BINARY_DIR "/tests/integration/work"
#define TERM_ARENA_BYTES (256u * 1024u)

static unsigned char term_arena[TERM_ARENA_BYTES] __attribute__((aligned(16)));

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    return mkdir(tmp, 0755) == 0 || errno == EEXIST ? 0 : -1;
}

static void rm_rf(const char *path)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) {
        fprintf(stderr, "harness: could not remove %s\n", path);
    }
}

/* Runs argv, stdout captured into out (may be NULL). Bounded by the child's own behaviour;
 * every CLI call of the emulator is short. */
static int run_capture(char *const argv[], char *out, size_t cap)
{
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        return -1;
    }
    size_t used = 0;
    char sink[256];
    for (;;) {
        char *dst = out && used + 1 < cap ? out + used : sink;
        size_t room = out && used + 1 < cap ? cap - 1 - used : sizeof sink;
        ssize_t n = read(pipefd[0], dst, room);
        if (n <= 0) {
            break;
        }
        if (dst != sink) {
            used += (size_t)n;
        }
    }
    close(pipefd[0]);
    if (out) {
        out[used] = '\0';
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int emu_cli(const emu *e, char *out, size_t cap, const char *const *args)
{
    char *argv[24];
    int n = 0;
    argv[n++] = (char *)EMU_BIN;
    for (; args[n - 1] != NULL && n < 20; n++) {
        argv[n] = (char *)args[n - 1];
    }
    argv[n++] = (char *)"--db";
    argv[n++] = (char *)e->db;
    argv[n] = NULL;
    return run_capture(argv, out, cap);
}

int emu_start(emu *e, const char *name)
{
    return emu_start_args(e, name, NULL);
}

int emu_start_args(emu *e, const char *name, const char *const *serve_args)
{
    memset(e, 0, sizeof *e);
    snprintf(e->dir, sizeof e->dir, "%s/%s-%d", WORK_ROOT, name, (int)getpid());
    rm_rf(e->dir);
    if (mkdirs(e->dir) != 0) {
        return -1;
    }
    snprintf(e->db, sizeof e->db, "%s/platform.db", e->dir);
    snprintf(e->certs, sizeof e->certs, "%s/certs", e->dir);
    char *gen[] = {(char *)"/bin/bash", (char *)GEN_CERTS, e->certs, NULL};
    if (run_capture(gen, NULL, 0) != 0) {
        fprintf(stderr, "harness: gen-certs.sh failed\n");
        return -1;
    }
    const char *init[] = {"init", NULL};
    if (emu_cli(e, NULL, 0, init) != 0) {
        fprintf(stderr, "harness: platform-emu init failed\n");
        return -1;
    }
    char cert[PATH_MAX], key[PATH_MAX], ready[PATH_MAX], log[PATH_MAX];
    snprintf(cert, sizeof cert, "%s/server.pem", e->certs);
    snprintf(key, sizeof key, "%s/server-key.pem", e->certs);
    snprintf(ready, sizeof ready, "%s/port", e->dir);
    snprintf(log, sizeof log, "%s/platform-emu.log", e->dir);
    char *argv[24] = {(char *)EMU_BIN,
                      (char *)"serve",
                      (char *)"--db",
                      e->db,
                      (char *)"--port",
                      (char *)"0",
                      (char *)"--cert",
                      cert,
                      (char *)"--key",
                      key,
                      (char *)"--ready-file",
                      ready,
                      NULL};
    for (int n = 12, i = 0; serve_args != NULL && serve_args[i] != NULL && n < 23; n++, i++) {
        argv[n] = (char *)serve_args[i];
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawn(&e->pid, EMU_BIN, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        return -1;
    }
    for (int i = 0; i < 200; i++) { /* bounded: 10 s */
        FILE *f = fopen(ready, "r");
        if (f != NULL) {
            int port = 0;
            int got = fscanf(f, "%d", &port);
            fclose(f);
            if (got == 1 && port > 0) {
                e->port = port;
                return 0;
            }
        }
        sleep_ms(50);
    }
    fprintf(stderr, "harness: platform-emu did not become ready\n");
    emu_stop(e);
    return -1;
}

void emu_stop(emu *e)
{
    if (e->pid > 0) {
        kill(e->pid, SIGTERM);
        int status;
        for (int i = 0; i < 100 && waitpid(e->pid, &status, WNOHANG) == 0; i++) {
            sleep_ms(20);
        }
        if (waitpid(e->pid, &status, WNOHANG) == 0) {
            kill(e->pid, SIGKILL);
            waitpid(e->pid, &status, 0);
        }
        e->pid = 0;
    }
}

int emu_code(const emu *e, const char *person, const char *holder, int ttl_s, char *out, size_t cap)
{
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", ttl_s > 0 ? ttl_s : 120);
    const char *args[] = {"code", "--person", person, "--ttl", ttl, holder ? "--holder" : NULL,
                          holder, NULL};
    int rc = emu_cli(e, out, cap, args);
    out[strcspn(out, "\r\n")] = '\0';
    return rc;
}

int64_t emu_balance_fen(const emu *e, const char *person)
{
    char out[64];
    const char *args[] = {"balance", "--person", person, NULL};
    evt_fen fen = -1;
    bool present = false;
    if (emu_cli(e, out, sizeof out, args) == 0) {
        out[strcspn(out, "\r\n")] = '\0';
        if (evt_money_parse(out, strlen(out), &fen, &present) != EVT_OK || !present) {
            fen = -1;
        }
    }
    if (fen < 0) {
        /* A balance that cannot be read must fail the test, not compare equal to another
         * unreadable one. */
        fail_msg("cannot read the balance of %s from the emulator", person);
    }
    return fen;
}

int emu_count(const emu *e, const char *what)
{
    char out[32];
    const char *args[] = {"count", "--what", what, NULL};
    if (emu_cli(e, out, sizeof out, args) != 0) {
        return -1;
    }
    return atoi(out);
}

int emu_fault(const emu *e, const char *infno, const char *kind, const char *value, int times)
{
    char t[16];
    snprintf(t, sizeof t, "%d", times);
    const char *args[] = {"fault", "--infno", infno, "--kind",
                          kind,    "--times", t,     value ? "--value" : NULL,
                          value,   NULL};
    return emu_cli(e, NULL, 0, args);
}

int emu_fault_clear(const emu *e)
{
    const char *args[] = {"fault", "--clear", NULL};
    return emu_cli(e, NULL, 0, args);
}

int emu_handled(const emu *e, const char *msgid, int wait_ms, char *out, size_t cap)
{
    char wait[16], sink[256];
    snprintf(wait, sizeof wait, "%d", wait_ms);
    const char *args[] = {"handled", "--msgid", msgid, "--wait", wait, NULL};
    return emu_cli(e, out ? out : sink, out ? cap : sizeof sink, args);
}

int emu_order_money(const emu *e, const char *order_id, int *live, int *reversed, int *cancelled)
{
    static char out[1 << 20];
    const char *args[] = {"audit", NULL};
    *live = *reversed = *cancelled = 0;
    if (emu_cli(e, out, sizeof out, args) != 0) {
        return -1;
    }
    for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char id[64];
        int l, r, c;
        if (sscanf(line, "%63s live=%d reversed=%d cancelled=%d", id, &l, &r, &c) == 4 &&
            strcmp(id, order_id) == 0) {
            *live = l;
            *reversed = r;
            *cancelled = c;
        }
    }
    return 0;
}

int emu_snapshot(const emu *e, const char *path, bool save)
{
    const char *args[] = {"snapshot", save ? "--to" : "--from", path, NULL};
    return emu_cli(e, NULL, 0, args);
}

int emu_handled_count(const emu *e, const char *infno)
{
    char out[32], what[32];
    snprintf(what, sizeof what, "handled:%s", infno);
    const char *args[] = {"count", "--what", what, NULL};
    if (emu_cli(e, out, sizeof out, args) != 0) {
        return -1;
    }
    return atoi(out);
}

/* ---- terminal --------------------------------------------------------------------------- */

uint64_t term_flash_work(const term *t)
{
    if (t->nor != NULL) {
        return t->nor->units;
    }
    evt_sim_storage_stats st;
    evt_sim_storage_get_stats(t->flash, &st);
    return st.bytes_programmed + st.erases * (uint64_t)evt_sim_storage_hal(t->flash)->sector_size;
}

static evt_err tap_read(void *ctx, uint32_t addr, void *buf, size_t len)
{
    term *t = ctx;
    return t->flash_in->read(t->flash_in->ctx, addr, buf, len);
}

static evt_err tap_program(void *ctx, uint32_t addr, const void *data, size_t len)
{
    term *t = ctx;
    if (t->write_tap != NULL) {
        t->write_tap(t->write_tap_arg, term_flash_work(t), data, len);
    }
    return t->flash_in->program(t->flash_in->ctx, addr, data, len);
}

static evt_err tap_erase(void *ctx, uint32_t addr)
{
    term *t = ctx;
    return t->flash_in->erase(t->flash_in->ctx, addr);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        *len = (size_t)n;
    }
    return buf;
}

/* The driver's show and read_key with the test's cashier called after and before them. */
static evt_err cashier_show(void *ctx, const evt_ui_screen *screen)
{
    term *t = ctx;
    const evt_hal_ui *ui = evt_sim_ui_hal(t->ui);
    evt_err err = ui->show(ui->ctx, screen);
    t->cashier(t, TERM_UI_SHOWN, t->cashier_arg);
    return err;
}

static evt_err cashier_read_key(void *ctx, uint32_t timeout_ms, evt_key_event *out)
{
    term *t = ctx;
    t->cashier(t, TERM_UI_READ, t->cashier_arg);
    const evt_hal_ui *ui = evt_sim_ui_hal(t->ui);
    return ui->read_key(ui->ctx, timeout_ms, out);
}

int term_start(term *t, const emu *e, const char *name, const term_options *opt)
{
    term_options none = {0};
    opt = opt ? opt : &none;
    memset(t, 0, sizeof *t);
    t->scan_fd = -1;
    t->key_fd = -1;
    t->key_read_fd = -1;
    snprintf(t->dir, sizeof t->dir, "%s/term-%s", e->dir, name);
    snprintf(t->print_dir, sizeof t->print_dir, "%s/receipts", t->dir);
    snprintf(t->flash_path, sizeof t->flash_path, "%s/flash.img", t->dir);
    if (!opt->reuse_flash) {
        rm_rf(t->dir);
    }
    mkdirs(t->dir);

    char ca_path[PATH_MAX];
    snprintf(ca_path, sizeof ca_path, "%s/%s", e->certs, opt->ca_file ? opt->ca_file : "ca.pem");
    size_t ca_len = 0;
    t->ca = slurp(ca_path, &ca_len);
    if (t->ca == NULL) {
        return -1;
    }
    int n = snprintf(t->config, sizeof t->config,
                     "platform_url = https://%s:%d/fsi/api/rsfComIfsService/callService\n"
                     "ca_file = %s\n"
                     "fixmedins_code = H12010400001\nfixmedins_name = 和平区康宁大药房\n"
                     "mdtrtarea_admvs = 120104\nrecer_sys_code = EVTTEST\ndev_no = EVT-IT-%s\n"
                     "msgid_slot = %u\n%sopter_type = 1\n"
                     "paas_id = evt-paas-demo\npaas_token = evt-demo-token-1234\n"
                     "office_id = YF01\noffice_name = 药房收费处\n"
                     "paper_width_mm = 58\nreceipt_qr = raster\n"
                     "http_timeout_ms = %u\nconnect_timeout_ms = %u\n",
                     opt->host ? opt->host : "localhost", opt->port ? opt->port : e->port, ca_path,
                     name, opt->msgid_slot ? opt->msgid_slot - 1u : 2u,
                     opt->operators ? opt->operators : "opter = 0001\nopter_name = 刘晓梅\n",
                     opt->http_timeout_ms ? opt->http_timeout_ms : 4000u,
                     opt->connect_timeout_ms ? opt->connect_timeout_ms : 3000u);
    if (opt->server_name != NULL) {
        n += snprintf(t->config + n, sizeof t->config - (size_t)n, "tls_server_name = %s\n",
                      opt->server_name);
    }
    if (opt->extra_config != NULL) {
        snprintf(t->config + n, sizeof t->config - (size_t)n, "%s", opt->extra_config);
    }

    char log_path[PATH_MAX];
    snprintf(log_path, sizeof log_path, "%s/terminal.log", t->dir);
    evt_sim_sys_options sys_opt = {.log_path = log_path, .min_level = EVT_LOG_DEBUG};
    if (evt_sim_sys_open(&t->sys, &sys_opt) != EVT_OK) {
        return -1;
    }
    evt_sim_net_posix_init(&t->net);
    if (opt->wrap_net != NULL) {
        opt->wrap_net(opt->wrap_net_arg, &t->net);
    }
    if (opt->nor != NULL) {
        t->nor = opt->nor;
        t->flash_in = &opt->nor->hal;
    } else {
        if (evt_sim_storage_open(&t->flash, t->flash_path,
                                 opt->flash_bytes ? opt->flash_bytes : 64u * 1024u,
                                 4096u) != EVT_OK) {
            return -1;
        }
        t->flash_in = evt_sim_storage_hal(t->flash);
    }
    const evt_hal_storage *flash = t->flash_in;
    t->write_tap = opt->write_tap;
    t->write_tap_arg = opt->write_tap_arg;
    t->flash_tap = (evt_hal_storage){.ctx = t,
                                     .size = flash->size,
                                     .sector_size = flash->sector_size,
                                     .read = tap_read,
                                     .program = tap_program,
                                     .erase = tap_erase};
    evt_sim_printer_file_options popt = {
        .dir = t->print_dir, .paper_dots = 384, .no_preview = opt->no_receipt_preview};
    if (evt_sim_printer_file_open(&popt, &t->printer, &t->printer_hal) != EVT_OK) {
        return -1;
    }
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        return -1;
    }
    t->scan_fd = pipefd[1];
    evt_sim_scanner_serial_options sopt = {.fd = pipefd[0], .own_fd = true};
    if (evt_sim_scanner_serial_open(&t->serial, &sopt) != EVT_OK) {
        return -1;
    }
    const evt_hal_scanner *scanner = evt_sim_scanner_serial_hal(t->serial);
    if (opt->scan_dir != NULL) {
        evt_sim_scanner_image_options copt = {.watch_dir = opt->scan_dir, .poll_ms = 20};
        if (evt_sim_scanner_image_open(&t->camera, &copt) != EVT_OK) {
            return -1;
        }
        evt_sim_scanner_mux_init(&t->mux, evt_sim_scanner_image_hal(t->camera), scanner, 50);
        scanner = &t->mux.hal;
    }
    t->scanner_hal = *scanner;
    if (opt->wrap_scanner != NULL) {
        opt->wrap_scanner(opt->wrap_scanner_arg, &t->scanner_hal);
    }
    scanner = &t->scanner_hal;
    char transcript[PATH_MAX];
    snprintf(transcript, sizeof transcript, "%s/screens.txt", t->dir);
    evt_sim_ui_options uopt = {
        .transcript_path = transcript,
        .key_fd = -1,
        .script_text = opt->keys ? opt->keys : "",
        .history = 64,
        .script_stall_limit = opt->ui_stall_limit ? opt->ui_stall_limit : 400,
        .script_no_wait = opt->keys_no_wait,
        .clock = evt_sim_sys_hal(t->sys), /* term_advance_ms moves the key stamps too */
    };
    if (opt->key_pipe) {
        int keyfd[2];
        if (pipe(keyfd) != 0) {
            return -1;
        }
        t->key_read_fd = keyfd[0];
        t->key_fd = keyfd[1];
        uopt.key_fd = t->key_read_fd;
        uopt.script_text = NULL;
    }
    if (evt_sim_ui_open(&t->ui, &uopt) != EVT_OK) {
        return -1;
    }
    const evt_hal_ui *ui = evt_sim_ui_hal(t->ui);
    if (opt->cashier != NULL) {
        t->cashier = opt->cashier;
        t->cashier_arg = opt->cashier_arg;
        t->cashier_ui = (evt_hal_ui){.ctx = t, .show = cashier_show, .read_key = cashier_read_key};
        ui = &t->cashier_ui;
    }
    t->hal = (evt_hal){
        .sys = evt_sim_sys_hal(t->sys),
        .net = &t->net,
        .scanner = scanner,
        .printer = &t->printer_hal,
        .storage = &t->flash_tap,
        .ui = ui,
    };
    evt_app_boot boot = {
        .hal = &t->hal,
        .config_text = t->config,
        .config_len = strlen(t->config),
        .ca_pem = (const uint8_t *)t->ca,
        .ca_len = ca_len + 1,
        .arena = term_arena,
        .arena_len = sizeof term_arena,
    };
    t->start_err = evt_app_start(&boot, &t->app, t->start_msg, sizeof t->start_msg);
    return t->start_err == EVT_OK ? 0 : -1;
}

void term_stop(term *t)
{
    if (t->app != NULL) {
        evt_app_stop(t->app);
        t->app = NULL;
    }
    evt_sim_ui_close(t->ui);
    evt_sim_scanner_image_close(t->camera);
    evt_sim_scanner_serial_close(t->serial);
    if (t->scan_fd >= 0) {
        close(t->scan_fd);
    }
    if (t->key_fd >= 0) {
        close(t->key_fd);
    }
    if (t->key_read_fd >= 0) {
        close(t->key_read_fd);
    }
    evt_sim_printer_file_close(t->printer);
    if (t->flash != NULL) {
        evt_sim_storage_close(t->flash);
    }
    evt_sim_sys_close(t->sys);
    free(t->ca);
    memset(t, 0, sizeof *t);
    t->scan_fd = -1;
    t->key_fd = -1;
    t->key_read_fd = -1;
}

void term_scan(term *t, const char *payload)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "%s\r\n", payload);
    if (write(t->scan_fd, line, (size_t)n) != n) {
        fprintf(stderr, "harness: scanner pipe write failed\n");
    }
}

void term_type(term *t, const char *text)
{
    size_t n = strlen(text);
    if (t->key_fd < 0 || write(t->key_fd, text, n) != (ssize_t)n) {
        fprintf(stderr, "harness: keypad pipe write failed\n");
    }
}

void term_advance_ms(term *t, uint32_t ms)
{
    evt_sim_sys_advance_monotonic(t->sys, ms);
}

const evt_ui_screen *term_screen(const term *t)
{
    return evt_sim_ui_screen(t->ui, 0);
}

bool term_screen_seen(const term *t, const char *text)
{
    size_t count = evt_sim_ui_screen_count(t->ui);
    for (size_t back = 0; back < count && back < 64; back++) {
        const evt_ui_screen *s = evt_sim_ui_screen(t->ui, back);
        if (s != NULL && (evt_sim_ui_screen_contains(s, text) || strstr(s->hint, text))) {
            return true;
        }
    }
    return false;
}

size_t term_receipts(const term *t)
{
    DIR *d = opendir(t->print_dir);
    if (d == NULL) {
        return 0;
    }
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".bin") == 0) {
            n++;
        }
    }
    closedir(d);
    return n;
}

void order_make(evt_order *o, const char *order_id, const char *med_code, const char *name,
                uint32_t qty, evt_fen price)
{
    memset(o, 0, sizeof *o);
    snprintf(o->order_id, sizeof o->order_id, "%s", order_id);
    o->source = EVT_ORDER_FROM_ECR;
    o->use_personal_account = true;
    char medins[16];
    snprintf(medins, sizeof medins, "YP%04u", qty);
    assert_int_equal(evt_order_add_item(o, med_code, medins, name, qty, price), EVT_OK);
}

const char *order_id_next(char *buf, size_t cap)
{
    static unsigned seq;
    snprintf(buf, cap, "IT-%d-%u", (int)getpid(), ++seq);
    return buf;
}

int it_setup(void **state)
{
    it_fixture *f = calloc(1, sizeof *f);
    if (f == NULL || emu_start(&f->e, "it") != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

int it_teardown(void **state)
{
    it_fixture *f = *state;
    term_stop(&f->t);
    emu_stop(&f->e);
    free(f);
    return 0;
}

int term_ecr_lines(char *out, size_t cap, unsigned seed, uint16_t *port, uint8_t key[32])
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    *port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
        *port = ntohs(sa.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    size_t n = (size_t)snprintf(out, cap, "ecr_port = %u\necr_key = ", (unsigned)*port);
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(seed ^ (unsigned)(i * 5));
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%02x", key[i]);
    }
    snprintf(out + n, n < cap ? cap - n : 0, "\n");
    return *port != 0 && n + 1 < cap ? 0 : -1;
}

const char *term_pos_wait(struct ecr_pos *p, char *out, size_t cap, void *arg)
{
    term *t = arg;
    for (int i = 0; i < 2000; i++) {
        const char *line = ecr_pos_take_line(p, out, cap);
        if (line != NULL) {
            return line;
        }
        bool quit = false;
        evt_app_step(t->app, 10, &quit);
    }
    fail_msg("no line from the terminal's ECR link");
    return NULL;
}

void supervisor_pin_line(const char *pin, char *out, size_t cap)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "printf '%%s\\n' %s | %s --iterations 2000", pin,
             EVT_BINARY_DIR "/tools/pin-hash/pin-hash");
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, (int)cap, p));
    assert_int_equal(pclose(p), 0);
}

void pin_hash_of(const char *pin, char *out, size_t cap)
{
    char line[256];
    supervisor_pin_line(pin, line, sizeof line);
    const char *v = strstr(line, "pbkdf2-sha256$");
    assert_non_null(v);
    snprintf(out, cap, "%.*s", (int)strcspn(v, "\r\n"), v);
}

bool term_run_script(term *t, int max_steps)
{
    bool quit = false;
    for (int i = 0; i < max_steps && !quit; i++) {
        evt_app_step(t->app, 100, &quit);
    }
    return quit;
}

int term_receipt(term *t, const char *bin_path, char **text, char *qr, size_t qr_cap)
{
    if (bin_path == NULL) {
        bin_path = evt_sim_printer_file_last_job(t->printer)->bin_path;
    }
    size_t len = 0;
    char *bytes = bin_path[0] ? slurp(bin_path, &len) : NULL;
    if (bytes == NULL) {
        return -1;
    }
    evt_escpos_render_options opt = {.width_dots = 384};
    evt_escpos_page page;
    memset(&page, 0, sizeof page);
    evt_err err = evt_escpos_render((const uint8_t *)bytes, len, &opt, &page);
    free(bytes);
    int codes = err == EVT_OK ? qr_decode_page(&page, qr, qr_cap) : 0;
    *text = err == EVT_OK ? strndup(page.text, page.text_len) : NULL;
    evt_escpos_page_free(&page);
    return codes == 1 && *text != NULL ? 0 : -1;
}

char *term_close_report(term *t)
{
    char path[PATH_MAX], qr[8], *text = NULL;
    snprintf(path, sizeof path, "%s/daily-close.bin", t->print_dir);
    /* term_receipt says -1 for a page without exactly one QR code: a report has none, its
     * text is what counts. */
    assert_int_equal(term_receipt(t, path, &text, qr, sizeof qr), -1);
    assert_non_null(text);
    return text;
}

/* ---- the audit of campaigns and money tests ---------------------------------------------- */

/* The app retries owed reversals this often while idle (APP_REVERSAL_RETRY_MS in app.c). */
#define TERM_REVERSAL_RETRY_MS 15000u

char *keys_ok_to_everything(unsigned presses)
{
    static const char press[] = " => OK\n";
    char *s = malloc(presses * (sizeof press - 1) + 1);
    if (s == NULL) {
        fail_msg("out of memory for a key script");
        return NULL;
    }
    s[0] = '\0';
    for (unsigned i = 0; i < presses; i++) {
        memcpy(s + i * (sizeof press - 1), press, sizeof press);
    }
    return s;
}

unsigned term_deliver_reversals(term *t, int max_passes)
{
    evt_app_figures fig;
    evt_app_get_figures(t->app, &fig);
    for (int k = 0; k < max_passes && fig.reversals_pending > 0; k++) {
        term_advance_ms(t, TERM_REVERSAL_RETRY_MS);
        bool quit = false;
        evt_app_step(t->app, 20, &quit);
        evt_app_get_figures(t->app, &fig);
    }
    return fig.reversals_pending;
}

bool term_would_start(term *t, const char *order_id)
{
    evt_ecr_result st;
    if (evt_app_order_status(t->app, order_id, &st) != EVT_OK) {
        return true;
    }
    return st.status != EVT_ECR_SETTLED && st.status != EVT_ECR_UNKNOWN && !st.blocked;
}

bool audit_no_reversal_owed(term *t, const char *what)
{
    evt_app_figures fig;
    evt_app_get_figures(t->app, &fig);
    if (fig.reversals_pending != 0) {
        printf("FAIL %s: %u reversals still owed\n", what, (unsigned)fig.reversals_pending);
        return false;
    }
    return true;
}

bool audit_order(const emu *e, term *t, const char *order_id, const char *what)
{
    int live = 0, reversed = 0, cancelled = 0;
    if (emu_order_money(e, order_id, &live, &reversed, &cancelled) != 0) {
        printf("FAIL %s: ledger audit failed\n", what);
        return false;
    }
    evt_ecr_result st;
    evt_err err = evt_app_order_status(t->app, order_id, &st);
    bool settled = err == EVT_OK && st.status == EVT_ECR_SETTLED;
    bool in_doubt = err == EVT_OK && st.status == EVT_ECR_UNKNOWN;
    if (live > 1 || (live == 1) != settled || in_doubt) {
        printf("FAIL %s: order %s live=%d reversed=%d terminal=%s (%s)\n", what, order_id, live,
               reversed, err == EVT_OK ? evt_ecr_status_name(st.status) : "no record",
               err == EVT_OK ? evt_err_name(st.error) : evt_err_name(err));
        return false;
    }
    return true;
}
