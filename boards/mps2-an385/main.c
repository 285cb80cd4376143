/*
 * evt-mps2: the mps2-an385 board. Starts the clock and the UARTs, reads the provisioning file
 * and the CA bundle it names from the host (semihosting: on a real terminal they sit in a
 * flash partition written by the provisioning tool), opens the flash, attaches the entropy
 * seed, wires the drivers into an evt_hal and runs the firmware's main loop. The only file
 * that knows which drivers make up this board.
 *
 * Command line (-semihosting-config arg=...): evt-mps2 --provision FILE [--flash FILE]
 *   (paths without spaces; ca_file is relative to the provisioning file)
 *
 * UARTs: 0 console (screens, keys), 1 scan engine, 2 printer, 3 log.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "board.h"
#include "evt/app.h"
#include "evt/config.h"
#include "evt/log.h"
#include "evt_mps2/clock.h"
#include "evt_mps2/cmsdk_uart.h"
#include "evt_mps2/flash_semihost.h"
#include "evt_lwip/lan9118.h"
#include "evt_lwip/lwip_port.h"
#include "evt_lwip/net_lwip.h"
#include "evt_mps2/net_none.h"
#include "evt_mps2/nv_seed.h"
#include "evt_mps2/semihost.h"
#include "evt_mps2/sys.h"
#include "evt_mps2/uart_devices.h"
#include "lwip/init.h"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/stats.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

/* The NOR area: the entropy seed's two sectors, then the journal (as large as the sim's).
 * The linker script reserves the same 136 KiB at the top of the 1 MiB flash (.evt_nvdata). */
#define BOARD_FLASH_SECTOR  4096u
#define BOARD_SEED_BYTES    (EVT_MPS2_NV_SEED_SECTORS * BOARD_FLASH_SECTOR)
#define BOARD_JOURNAL_BYTES (128u * 1024u)
#define BOARD_FLASH_BYTES   (BOARD_SEED_BYTES + BOARD_JOURNAL_BYTES)

#define BOARD_CONFIG_MAX 8192u /* provisioning file, with its terminating NUL */
#define BOARD_CA_MAX     8192u /* CA bundle (PEM), with its terminating NUL */
#define BOARD_PATH_MAX   256u
/* DHCP at start-up: QEMU's user network answers at once, a counter LAN within seconds; past
 * this the firmware starts anyway and its sign-in reports the network until a lease comes. */
#define BOARD_DHCP_WAIT_MS 10000u

extern unsigned char __evt_arena_start[], __evt_arena_end[];
/* The provisioning partition (linker script): the provisioning file, then the CA bundle. */
extern unsigned char __evt_provision_start[], __evt_provision_end[];

/* The scanner ring holds a few scan lines (a voucher is at most EVT_VOUCHER_MAX_LEN bytes). */
static uint8_t console_ring[256], scanner_ring[1024], printer_ring[16], log_ring[16];
static evt_mps2_uart console_uart, scanner_uart, printer_uart, log_uart;
static evt_mps2_sys sys;
static evt_mps2_scanner scanner;
static evt_mps2_printer printer;
static evt_mps2_ui ui;
static evt_mps2_flash flash;
static evt_mps2_flash_part seed_part, journal_part;
static evt_hal_net board_net;
static struct netif board_netif;
static evt_lan9118 board_lan = {.base = MPS2_ETH_BASE};
static evt_lwip_net board_lwip;
static evt_lwip_port board_lwip_port;
static bool board_has_lease;
/* The one provisioning field the board itself needs after start-up (SNTP). */
static char board_time_server[sizeof((evt_config *)0)->time_server];

void SysTick_Handler(void)
{
    evt_mps2_clock_tick();
}

void UART0RX_Handler(void)
{
    evt_mps2_uart_rx_irq(&console_uart);
}

void UART1RX_Handler(void)
{
    evt_mps2_uart_rx_irq(&scanner_uart);
}

void UART2RX_Handler(void)
{
    evt_mps2_uart_rx_irq(&printer_uart);
}

void UART3RX_Handler(void)
{
    evt_mps2_uart_rx_irq(&log_uart);
}

void evt_board_sbrk_refused(ptrdiff_t incr);
void evt_board_sbrk_refused(ptrdiff_t incr)
{
    (void)incr;
    /* The product's heap is the arena: running out of newlib's small reserve is a bug. */
    evt_mps2_uart_raw_puts(MPS2_UART3_BASE,
                           "*** C heap (.evt_libc_heap) exhausted: _sbrk refused\r\n");
    evt_mps2_uart_raw_puts(MPS2_UART0_BASE,
                           "*** C heap (.evt_libc_heap) exhausted: _sbrk refused\r\n");
}

static void say(const char *text)
{
    evt_mps2_uart_puts(&log_uart, text);
    evt_mps2_uart_puts(&log_uart, "\r\n");
}

/* The provisioning file and the CA bundle live in the provisioning partition, read in place. */
static char *const config_text = (char *)__evt_provision_start;
static char *const ca_pem = (char *)__evt_provision_start + BOARD_CONFIG_MAX;

/* A whole host file into buf (cap bytes at most), NUL-terminated; its length or -1. */
static long read_host_file(const char *path, char *buf, size_t cap)
{
    int h = evt_mps2_sh_open(path, EVT_SH_MODE_RB);
    if (h < 0) {
        return -1;
    }
    long len = evt_mps2_sh_flen(h);
    if (len < 0 || (size_t)len > cap || evt_mps2_sh_read(h, buf, (size_t)len) != 0) {
        evt_mps2_sh_close(h);
        return -1;
    }
    evt_mps2_sh_close(h);
    buf[len] = '\0';
    return len;
}

typedef struct board_options {
    char provision[BOARD_PATH_MAX];
    char flash[BOARD_PATH_MAX];
} board_options;

/* Splits the command line at spaces in place; NULL when no word is left. */
static char *next_word(char **cursor)
{
    char *p = *cursor;
    while (*p == ' ') {
        p++;
    }
    if (*p == '\0') {
        return NULL;
    }
    char *word = p;
    while (*p != '\0' && *p != ' ') {
        p++;
    }
    if (*p == ' ') {
        *p++ = '\0';
    }
    *cursor = p;
    return word;
}

static int parse_cmdline(board_options *opt)
{
    static char line[2 * BOARD_PATH_MAX + 64];
    snprintf(opt->flash, sizeof opt->flash, "%s", "evt-mps2-flash.img");
    opt->provision[0] = '\0';
    if (evt_mps2_sh_cmdline(line, sizeof line) != 0) {
        return -1;
    }
    char *cursor = line;
    next_word(&cursor); /* the program name */
    for (char *arg = next_word(&cursor); arg != NULL; arg = next_word(&cursor)) {
        char *val = next_word(&cursor);
        if (val == NULL) {
            return -1;
        }
        if (strcmp(arg, "--provision") == 0) {
            snprintf(opt->provision, sizeof opt->provision, "%s", val);
        } else if (strcmp(arg, "--flash") == 0) {
            snprintf(opt->flash, sizeof opt->flash, "%s", val);
        } else {
            return -1;
        }
    }
    return opt->provision[0] != '\0' ? 0 : -1;
}

/* ca_file relative to the provisioning file's directory; false when it does not fit. */
static bool resolve_relative(const char *base_file, const char *path, char *out, size_t cap)
{
    const char *slash = strrchr(base_file, '/');
    size_t dir = path[0] == '/' || slash == NULL ? 0 : (size_t)(slash - base_file) + 1;
    size_t n = strlen(path);
    if (dir + n + 1 > cap) {
        return false;
    }
    memcpy(out, base_file, dir);
    memcpy(out + dir, path, n + 1);
    return true;
}

static void start_devices(void)
{
    evt_mps2_clock_init(MPS2_SYSCLK_HZ);
    evt_mps2_uart_init(&console_uart, MPS2_UART0_BASE, MPS2_SYSCLK_HZ, MPS2_UART_BAUD, console_ring,
                       sizeof console_ring);
    evt_mps2_uart_init(&scanner_uart, MPS2_UART1_BASE, MPS2_SYSCLK_HZ, MPS2_UART_BAUD, scanner_ring,
                       sizeof scanner_ring);
    evt_mps2_uart_init(&printer_uart, MPS2_UART2_BASE, MPS2_SYSCLK_HZ, MPS2_UART_BAUD, printer_ring,
                       sizeof printer_ring);
    evt_mps2_uart_init(&log_uart, MPS2_UART3_BASE, MPS2_SYSCLK_HZ, MPS2_UART_BAUD, log_ring,
                       sizeof log_ring);
    evt_board_nvic_enable(MPS2_UART0_RX_IRQ);
    evt_board_nvic_enable(MPS2_UART1_RX_IRQ);
    evt_board_nvic_enable(MPS2_UART2_RX_IRQ);
    evt_board_nvic_enable(MPS2_UART3_RX_IRQ);
    evt_mps2_sys_init(&sys, &log_uart, EVT_LOG_INFO);
    evt_mps2_scanner_init(&scanner, &scanner_uart);
    evt_mps2_printer_init(&printer, &printer_uart);
    evt_mps2_ui_init(&ui, &console_uart);
}

/* The network stack's share of every wait (evt_mps2_clock_wait_irq): received frames into
 * lwIP, then its timers. */
static bool board_net_idle(void *ctx)
{
    (void)ctx;
    uint32_t frames = evt_lan9118_poll(&board_netif);
    sys_check_timeouts();
    return frames > 0;
}

/* What the lwIP driver calls while it waits: the idle work, sleeping until the next tick
 * when nothing arrived (the LAN9118 is polled; frames wait at most a millisecond). */
static void board_net_service(void *ctx)
{
    (void)ctx;
    evt_mps2_clock_wait_irq();
}

static void board_lwip_fatal(void *ctx)
{
    (void)ctx;
    evt_board_fault_reset();
}

static void board_set_time(void *ctx, int64_t unix_seconds)
{
    evt_mps2_sys_set_time(ctx, unix_seconds);
    EVT_LOGI("board", "clock set by SNTP");
}

/* lwIP on the LAN9118 with DHCP (docs/network-lwip.md). Without the chip the board has no
 * network (net_none.h says what the firmware sees then). */
static const evt_hal_net *board_net_start(void)
{
    board_lwip_port = (evt_lwip_port){.sys = &sys.hal,
                                      .fatal = board_lwip_fatal,
                                      .set_time = board_set_time,
                                      .set_time_ctx = &sys};
    evt_lwip_port_init(&board_lwip_port);
    lwip_init();
    if (netif_add(&board_netif, IP4_ADDR_ANY4, IP4_ADDR_ANY4, IP4_ADDR_ANY4, &board_lan,
                  evt_lan9118_netif_init, ethernet_input) == NULL) {
        EVT_LOGE("board", "no LAN9118 answers at its address: no network");
        evt_mps2_net_none_init(&board_net);
        return &board_net;
    }
    netif_set_default(&board_netif);
    netif_set_up(&board_netif);
    evt_mps2_clock_set_idle(board_net_idle, NULL);
    evt_lwip_net_init(&board_net, &board_lwip, &sys.hal, &board_netif, board_net_service, NULL);
    board_has_lease = evt_lwip_net_dhcp(&board_lwip, BOARD_DHCP_WAIT_MS) == EVT_OK;
    evt_lwip_net_sntp_start(board_time_server);
    return &board_net;
}

/* After the firmware's log is up (evt_app_start): what the network bring-up found. */
static void board_net_report(void)
{
    char ip[20], mac[20];
    if (board_has_lease &&
        board_net.local_identity(board_net.ctx, ip, sizeof ip, mac, sizeof mac) == EVT_OK) {
        EVT_LOGI("board", "network up: %s (MAC %s)", ip, mac);
    } else {
        EVT_LOGW("board", "no DHCP lease within %u ms: started without network",
                 (unsigned)BOARD_DHCP_WAIT_MS);
    }
}

/*
 * Copies the provisioning file and its CA bundle into the provisioning partition (in
 * emulation they come from the host; a real board has them there already) and keeps what the
 * board needs of it. Not inlined: the parsed configuration (4 KiB) lives on the stack only
 * during this call at boot, not in a static for the life of the board and not in main's frame
 * under every sale (the firmware parses its own copy into the arena).
 */
__attribute__((noinline)) static bool read_provisioning(const board_options *opt, long *config_len,
                                                        long *ca_len)
{
    *config_len = read_host_file(opt->provision, config_text, BOARD_CONFIG_MAX - 1);
    if (*config_len < 0) {
        say("evt-mps2: cannot read the provisioning file");
        return false;
    }
    evt_config cfg;
    char msg[160];
    if (evt_config_parse(config_text, (size_t)*config_len, &cfg, msg, sizeof msg) != EVT_OK) {
        say("evt-mps2: provisioning file refused:");
        say(msg);
        return false;
    }
    char ca_path[BOARD_PATH_MAX];
    if (resolve_relative(opt->provision, cfg.ca_file, ca_path, sizeof ca_path)) {
        *ca_len = read_host_file(ca_path, ca_pem, BOARD_CA_MAX - 1);
    }
    if (*ca_len < 0) {
        say("evt-mps2: cannot read the CA bundle");
        return false;
    }
    memcpy(board_time_server, cfg.time_server, sizeof board_time_server);
    return true;
}

int main(void)
{
    start_devices();
    say("evt-mps2: mps2-an385 board up");

    board_options opt;
    if (parse_cmdline(&opt) != 0) {
        say("evt-mps2: usage: evt-mps2 --provision FILE [--flash FILE] "
            "(-semihosting-config arg=...)");
        return 2;
    }
    if ((size_t)(__evt_provision_end - __evt_provision_start) < BOARD_CONFIG_MAX + BOARD_CA_MAX) {
        say("evt-mps2: the provisioning partition is smaller than the board expects");
        return 2;
    }
    long config_len = -1, ca_len = -1;
    if (!read_provisioning(&opt, &config_len, &ca_len)) {
        return 2;
    }
    char msg[160];
    if (evt_mps2_flash_open(&flash, opt.flash, BOARD_FLASH_BYTES, BOARD_FLASH_SECTOR) != EVT_OK ||
        evt_mps2_flash_part_init(&seed_part, &flash.hal, 0, BOARD_SEED_BYTES) != EVT_OK ||
        evt_mps2_flash_part_init(&journal_part, &flash.hal, BOARD_SEED_BYTES,
                                 BOARD_JOURNAL_BYTES) != EVT_OK ||
        evt_mps2_nv_seed_attach(&seed_part.hal) != EVT_OK) {
        say("evt-mps2: cannot open the flash image");
        return 2;
    }

    evt_hal hal = {
        .sys = &sys.hal,
        .net = board_net_start(),
        .scanner = &scanner.hal,
        .printer = &printer.hal,
        .storage = &journal_part.hal,
        .ui = &ui.hal,
    };
    evt_app_boot boot = {
        .hal = &hal,
        .config_text = config_text,
        .config_len = (size_t)config_len,
        .ca_pem = (const uint8_t *)ca_pem,
        .ca_len = (size_t)ca_len + 1,
        .arena = __evt_arena_start,
        .arena_len = (size_t)(__evt_arena_end - __evt_arena_start),
    };
    evt_app *app = NULL;
    evt_err err = evt_app_start(&boot, &app, msg, sizeof msg);
    board_net_report();
    if (evt_mps2_nv_seed_was_blank()) {
        EVT_LOGW("board", "no entropy seed in flash (blank chip): first seed from timer jitter");
    }
    if (err != EVT_OK) {
        EVT_LOGE("board", "start-up failed: %s (%s)", msg, evt_err_name(err));
        evt_mps2_flash_close(&flash);
        return 1;
    }
    EVT_LOGI("board", "entropy seed rewritten %u time(s) this boot",
             (unsigned)evt_mps2_nv_seed_writes());
    err = evt_app_run(app);

    evt_app_figures fig;
    evt_app_get_figures(app, &fig);
    EVT_LOGI("board",
             "sales settled %u, refused %u, failed %u, unknown %u; reversals pending %u; arena "
             "peak %u of %u bytes; stack used %u of %u bytes",
             (unsigned)fig.sales_settled, (unsigned)fig.sales_refused, (unsigned)fig.sales_failed,
             (unsigned)fig.sales_unknown, (unsigned)fig.reversals_pending, (unsigned)fig.arena.peak,
             (unsigned)fig.arena.capacity,
             (unsigned)(evt_board_stack_size() - evt_board_stack_unused()),
             (unsigned)evt_board_stack_size());
    EVT_LOGI("board", "C heap used %u of %u bytes", (unsigned)evt_board_libc_heap_used(),
             (unsigned)evt_board_libc_heap_size());
    /* lwIP's pools are static RAM sized in lwipopts.h: their high-water marks show the room. */
    EVT_LOGI("board",
             "lwIP heap used at most %u of %u bytes, frame buffers %u of %u, segments %u of %u",
             (unsigned)lwip_stats.mem.max, (unsigned)MEM_SIZE,
             (unsigned)lwip_stats.memp[MEMP_PBUF_POOL]->max, (unsigned)PBUF_POOL_SIZE,
             (unsigned)lwip_stats.memp[MEMP_TCP_SEG]->max, (unsigned)MEMP_NUM_TCP_SEG);
    evt_app_stop(app);
    evt_mps2_flash_close(&flash);
    return err == EVT_OK ? 0 : 1;
}
