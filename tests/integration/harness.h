/*
 * Integration harness: the real platform emulator as a separate process (HTTPS on loopback,
 * GnuTLS, SQLite ledger) and an in-process terminal made of the sim board's real drivers
 * (POSIX sockets, serial scanner over a pipe, file NOR flash, file printer with PNG preview,
 * scripted UI). Tests drive sales through evt_app_sale and check the ledger through the
 * emulator's CLI.
 */
#ifndef EVT_TEST_HARNESS_H
#define EVT_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "evt/app.h"
#include "evt/sale.h"
#include "evt_sim/net_posix.h"
#include "evt_sim/printer_file.h"
#include "evt_sim/scanner_image.h"
#include "evt_sim/scanner_serial.h"
#include "evt_sim/storage_file.h"
#include "evt_sim/sys_posix.h"
#include "evt_sim/ui_tty.h"

typedef struct emu {
    char dir[PATH_MAX];
    char db[PATH_MAX];
    char certs[PATH_MAX];
    pid_t pid;
    int port;
} emu;

/* Starts a fresh emulator (own directory, certificates, seeded ledger) on a free port. */
int emu_start(emu *e, const char *name);
/* Same, with more `serve` options (e.g. {"--ticket-lifetime", "0", NULL}); NULL = none. */
int emu_start_args(emu *e, const char *name, const char *const *serve_args);
void emu_stop(emu *e);
/* Runs `platform-emu <args...> --db <db>`; stdout into out. Returns the exit status. */
int emu_cli(const emu *e, char *out, size_t cap, const char *const *args);
/* A fresh dynamic code for person (shown through holder's family account if not NULL). */
int emu_code(const emu *e, const char *person, const char *holder, int ttl_s, char *out,
             size_t cap);
/* Personal-account balance in fen; fails the running test when it cannot be read (resident
 * insurance has none: do not ask). */
int64_t emu_balance_fen(const emu *e, const char *person);
int emu_count(const emu *e, const char *what);
int emu_fault(const emu *e, const char *infno, const char *kind, const char *value, int times);
int emu_fault_clear(const emu *e);
/* How the emulator handled msgid ("2102 infcode=0", one line per request with that msgid),
 * waiting up to wait_ms for it to be recorded: tests wait on the emulator's own record of
 * what it processed, never on a sleep. Returns 0 when recorded. */
int emu_handled(const emu *e, const char *msgid, int wait_ms, char *out, size_t cap);
/* Settlements of one order in the emulator's ledger: still standing (live), reversed by a 2601
 * and cancelled by a 2103. All 0 when the order never settled. Returns 0 on success. */
int emu_order_money(const emu *e, const char *order_id, int *live, int *reversed, int *cancelled);
/* Copies the whole ledger to path (save) or back from it: a campaign puts the platform back
 * where it was before a step. Returns 0 on success. */
int emu_snapshot(const emu *e, const char *path, bool save);
/* Requests of one infno the emulator handled so far (any outcome). */
int emu_handled_count(const emu *e, const char *infno);

/* When the harness hands the keypad to the test's cashier (term_options.cashier). */
typedef enum term_ui_moment {
    TERM_UI_SHOWN, /* a screen was just drawn; keys typed now wait unread, as during a platform call
                    */
    TERM_UI_READ,  /* the firmware is about to read a key */
} term_ui_moment;

typedef struct term term;
typedef void (*term_cashier_fn)(term *t, term_ui_moment moment, void *arg);

typedef struct term_options {
    const char *keys; /* UI script ('<screen text> => KEY' lines) */
    /* Instead of a script: the UI's interactive keypad reads what term_type writes into a
     * pipe, and cashier (if set) is called after every screen is drawn and before every key
     * read, to let time pass (term_advance_ms) and type as a person at the counter would. */
    bool key_pipe;
    term_cashier_fn cashier;
    void *cashier_arg;
    const char *ca_file;         /* default: the emulator's CA */
    const char *server_name;     /* tls_server_name override */
    const char *host;            /* default localhost */
    int port;                    /* platform port; 0 = the emulator's (set it to put a proxy in
                                    between) */
    const char *scan_dir;        /* camera directory; serial pipe always present */
    uint32_t http_timeout_ms;    /* default 4000 */
    uint32_t connect_timeout_ms; /* TCP connect + TLS handshake; default 3000 */
    bool reuse_flash;            /* keep the journal of a previous terminal of this name */
    const char *extra_config;    /* appended to the provisioning text */
    /* operator_N lines in place of the legacy single operator (opter 0001 刘晓梅). */
    const char *operators;
    uint32_t flash_bytes; /* journal flash size; default 64 KiB (4 KiB sectors) */
    /* msgid_slot + 1 (0 = the default slot 2): terminals started on fresh flash within one
     * second need different slots, or their msgids collide at the platform. */
    unsigned msgid_slot;
    /* Called for every program of the journal's flash with the bytes programmed before it
     * (the offset a power cut can be armed at), e.g. to find where a record is written. */
    void (*write_tap)(void *arg, uint64_t offset, const uint8_t *data, size_t len);
    void *write_tap_arg;
    /* Journal on this in-memory NOR model instead of the flash file (the caller owns it and
     * keeps it across a reboot). */
    struct evt_ram_nor *nor;
    /* A key script that does not match the screen gives up at once (the stall limit) instead
     * of waiting a read timeout per try: for campaigns, where a cut may show any screen. */
    bool keys_no_wait;
    bool no_receipt_preview; /* receipts as ESC/POS bytes only, no PNG (campaigns: speed) */
    /* Scripted UI: read_key calls in a row without a matching screen before the script gives
     * up (a test gone off track ends instead of hanging); 0 = 400. A terminal left idling for
     * long (the ECR link served in many passes) needs more. */
    uint32_t ui_stall_limit;
    /* Called with the terminal's network HAL before the app starts: a benchmark or test puts
     * its own driver around it (counting round trips, adding delay). */
    void (*wrap_net)(void *arg, evt_hal_net *net);
    void *wrap_net_arg;
    /* The same for the scanner the app reads (a benchmark marks the moment a code is read). */
    void (*wrap_scanner)(void *arg, evt_hal_scanner *scanner);
    void *wrap_scanner_arg;
} term_options;

struct term {
    char dir[PATH_MAX];
    char print_dir[PATH_MAX];
    char flash_path[PATH_MAX];
    evt_sim_sys *sys;
    evt_hal_net net;
    evt_sim_storage *flash;
    struct evt_ram_nor *nor;         /* when the journal is on the RAM NOR model */
    const evt_hal_storage *flash_in; /* the storage below the tap */
    evt_hal_storage flash_tap;       /* the flash as the firmware sees it (tap in between) */
    void (*write_tap)(void *arg, uint64_t offset, const uint8_t *data, size_t len);
    void *write_tap_arg;
    evt_sim_printer_file *printer;
    evt_hal_printer printer_hal;
    evt_sim_scanner_serial *serial;
    evt_sim_scanner_image *camera;
    evt_sim_scanner_mux mux;
    evt_hal_scanner scanner_hal; /* what the app reads (wrap_scanner's, or the driver's) */
    int scan_fd;                 /* write end of the serial scanner's pipe */
    evt_sim_ui *ui;
    int key_fd;      /* key_pipe: write end of the keypad's pipe (term_type) */
    int key_read_fd; /* key_pipe: the end the UI driver reads */
    term_cashier_fn cashier;
    void *cashier_arg;
    evt_hal_ui cashier_ui; /* the driver's UI with the cashier called around it */
    evt_hal hal;
    evt_app *app;
    char *ca;
    char config[4096];
    char start_msg[160];
    evt_err start_err;
};

/* Builds and starts a terminal against e. Returns 0 when the app started. */
int term_start(term *t, const emu *e, const char *name, const term_options *opt);
void term_stop(term *t);
/* Program + erase bytes the flash did since the terminal started: the unit a power cut is
 * armed in (evt_sim_storage_inject_power_cut counts from the moment it is armed). */
uint64_t term_flash_work(const term *t);
/* Makes the serial scan engine send one line. */
void term_scan(term *t, const char *payload);
/* key_pipe: the cashier types on the interactive keypad (Enter = OK, "c\n" = CANCEL...). */
void term_type(term *t, const char *text);
/* Lets ms pass for the terminal at once: its monotonic clock (and the key stamps) jump
 * forward, nothing sleeps. */
void term_advance_ms(term *t, uint32_t ms);
/* The screen shown last (NULL before the first). */
const evt_ui_screen *term_screen(const term *t);
/* True if any screen shown so far (up to the UI's history) contains text. */
bool term_screen_seen(const term *t, const char *text);
size_t term_receipts(const term *t); /* *.bin files in the print directory */

/* The provisioning line tools/pin-hash makes for a supervisor PIN (supervisor_pin = ...). */
void supervisor_pin_line(const char *pin, char *out, size_t cap);
/* The PIN hash alone (pbkdf2-sha256$...), as an operator_N line's last field takes it. */
void pin_hash_of(const char *pin, char *out, size_t cap);
/* Steps the main loop until the key script is used up (it then reads QUIT) or max_steps ran.
 * Returns true when the script ended. */
bool term_run_script(term *t, int max_steps);
/* A receipt the printer finished (bin_path: its ESC/POS file; NULL: the last job): its rendered
 * text (caller frees; one line per printed line) and the text of its QR code, read back from
 * the rendered page by zbar as a scanner would. Returns 0 on success. */
int term_receipt(term *t, const char *bin_path, char **text, char *qr, size_t qr_cap);
/* The daily close's batch report as printed last (`daily-close` job), rendered to text (caller
 * frees); fails the running test when there is none. */
char *term_close_report(term *t);

/* ---- the audit of campaigns and money tests ---------------------------------------------- */

/* Script lines of a cashier who presses OK on every decision screen (identity, split, result,
 * errors), presses times. The caller frees it. */
char *keys_ok_to_everything(unsigned presses);
/* The counter idles: passes of the main loop, each after the reversal retry period (the clock
 * is advanced, see term_advance_ms), until no reversal is owed or max_passes ran. Returns the
 * reversals still owed. */
unsigned term_deliver_reversals(term *t, int max_passes);
/* Would the terminal start this order if the POS sent it now (and so need a code shown)? What
 * a POS finds out with a status query: not when it is settled, in doubt or blocked. */
bool term_would_start(term *t, const char *order_id);
/* Zero unresolved, part one: no reversal owed. Prints "FAIL <what>: ..." when one is. */
bool audit_no_reversal_owed(term *t, const char *what);
/* One order against the emulator's ledger:
 *   zero double     no more than one settlement of the order is standing;
 *   zero lost       a settlement is standing iff the terminal says the order settled;
 *   zero unresolved the terminal does not hold the order in doubt.
 * Prints "FAIL <what>: order ..." and returns false when one does not hold. */
bool audit_order(const emu *e, term *t, const char *order_id, const char *what);

/* ---- the POS on the terminal's ECR link (tests/support/ecr_pos) ---------------------------- */

struct ecr_pos;
/* Provisioning lines that open the terminal's ECR link on a free loopback port with a pairing
 * key (seed: which key): "ecr_port = ...\necr_key = ...\n" into out; *port and key[32] for the
 * POS. Returns 0 when a port was found. */
int term_ecr_lines(char *out, size_t cap, unsigned seed, uint16_t *port, uint8_t key[32]);
/* An ecr_pos_wait_fn stepping the terminal (arg: the term) until the POS has a line (bounded:
 * fails the test after 2000 steps of the main loop). */
const char *term_pos_wait(struct ecr_pos *p, char *out, size_t cap, void *arg);

/* A fresh emulator per test, and the terminal the test starts against it (cmocka
 * setup/teardown signatures; *state is an it_fixture). */
typedef struct it_fixture {
    emu e;
    term t;
} it_fixture;

int it_setup(void **state);
int it_teardown(void **state);

/* One-item order: code from the emulator's catalogue, quantity x price (fen). */
void order_make(evt_order *o, const char *order_id, const char *med_code, const char *name,
                uint32_t qty, evt_fen price);
/* A unique order id for this process. */
const char *order_id_next(char *buf, size_t cap);

#endif /* EVT_TEST_HARNESS_H */
