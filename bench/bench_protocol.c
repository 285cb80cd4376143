/*
 * bench_protocol: how close a sale comes to the protocol minimum (issue 8). Whole pharmacy
 * sales (scan -> ec.query -> 1101 -> 2101 -> 2102 -> receipt) by the in-process sim terminal
 * against the platform emulator over TLS 1.3 on loopback, in three flows:
 *
 *   before   today's main: a new connection and a full handshake per sale, no tickets
 *   tickets  a new connection per sale, the handshake resumed with a TLS 1.3 ticket
 *   kept     the connection kept across sales (keep_connection_s = 30), tickets on
 *
 * Per sale it prints what the terminal's network HAL saw (a wrapper around the sim driver):
 * round trips on the critical path, TCP connections, full and resumed handshakes (the HTTPS
 * client's counters), bytes each way, and the ratio to the protocol minimum of 4 round trips.
 *
 * A round trip (docs/performance.md): the terminal sent bytes on a connection and then waits
 * for the peer's; it is counted when the first bytes come back after one or more sends (so a
 * TLS flight in several records, or a NewSessionTicket before the answer, counts once). A TCP
 * connect counts one (SYN / SYN-ACK). Probes that find nothing and close_notify do not count.
 *
 *   build/sim-debug/bench/bench_protocol [--sales N] [--flow before|tickets|kept|all]
 *                                        [--rtt MS[,MS...]] [--check] [--ram-flash]
 *
 * --rtt runs every flow once per RTT through delay_proxy (and adds the RTT to each connect,
 * which loopback answers in the kernel) and prints the median wall time per sale side by side
 * with the slope between the first and last RTT (seconds per second of RTT = round trips).
 * --check exits 1 unless the kept flow's steady-state sales (all but the first) make exactly 4
 * round trips, no handshake and no connection, and every sale settled (the CI test).
 *
 * Instructions per sale (callgrind, a manual mode: bench/callgrind_protocol.sh): the steady
 * sales run between CALLGRIND_TOGGLE_COLLECT requests, so
 *   valgrind --tool=callgrind --collect-atstart=no bench_protocol --flow kept --sales 6
 * counts the terminal-side instructions of sales 2..6 only (the emulator is another process).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

#include "delay_proxy.h"
#include "evt/https.h"
#include "harness.h"
#include "net_tap.h"
#include "ram_nor.h"

#define MAX_SALES    200
#define MAX_RTTS     4
#define PROTOCOL_MIN 4u /* ec.query, 1101, 2101, 2102: each needs the previous answer */
#define KEEP_SECONDS "30"

/* The terminal's network HAL is wrapped in a net_tap (tests/support/net_tap.h), which counts
 * round trips, connects and bytes as defined above; connect_delay_ms adds the RTT to connects. */

/* ---- the scan mark: the critical path starts when the code is read -------------------------- */

/* The sale prepares its connection while the scan prompt shows (evt_platform_prepare), so what
 * happens before the code is read is off the critical path: at a counter the patient is still
 * opening the code. The scanner is wrapped to take the counters at the moment the app reads
 * the code; a sale's figures are split there. */
typedef struct scan_mark {
    evt_hal_scanner inner;
    net_tap *net;
    bool marked;
    net_tap_counts net_at_scan;
    evt_https_totals tls_at_scan;
    double ms_at_scan;
} scan_mark;

static evt_err sm_read(void *ctx, uint32_t timeout_ms, uint8_t *buf, size_t cap, size_t *len,
                       evt_scan_source *source)
{
    scan_mark *sm = ctx;
    evt_err err = sm->inner.read(sm->inner.ctx, timeout_ms, buf, cap, len, source);
    if (err == EVT_OK && !sm->marked) {
        sm->marked = true;
        sm->net_at_scan = sm->net->n;
        /* A round trip begun before the scan (the handshake's last flight, answered by the
         * server's NewSessionTickets) waited while the prompt showed: its answer is already
         * in the socket and costs the critical path nothing. */
        net_tap_forget_waiting(sm->net);
        evt_https_get_totals(&sm->tls_at_scan);
        sm->ms_at_scan = net_tap_now_ms();
    }
    return err;
}

static void wrap_scanner(void *arg, evt_hal_scanner *scanner)
{
    scan_mark *sm = arg;
    sm->inner = *scanner;
    *scanner = (evt_hal_scanner){.ctx = sm, .read = sm_read};
}

/* ---- flows --------------------------------------------------------------------------------- */

typedef struct flow {
    const char *name;
    const char *what;
    bool tickets;
    bool keep;
} flow;

static const flow flows[] = {
    {"before", "no tickets: a new connection and a full handshake per sale", false, false},
    {"tickets", "new connection per sale, TLS 1.3 ticket (resumed handshake)", true, false},
    {"kept", "connection kept across sales (keep_connection_s = " KEEP_SECONDS "), tickets", true,
     true},
};

/* One sale, split at the scan: `ahead` is what the sale did while the prompt showed (the
 * prepared connection), the rest is the critical path from the code's reading to the end. */
typedef struct sale_figures {
    net_tap_counts n;           /* after the scan */
    unsigned full, resumed;     /* handshakes after the scan */
    unsigned ahead_round_trips; /* before the scan: connect, handshake, ticket flight */
    unsigned ahead_connects, ahead_handshakes, ahead_full;
    double ms; /* wall time from the scan to the end of the sale */
    bool settled;
} sale_figures;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* --ram-flash: the journal on the RAM NOR model instead of the sim's flash file, which makes
 * every program durable with an fdatasync of the host's disk (a sim cost, not a NOR one). */
static bool ram_flash;

/* Runs sales sales of flow f at rtt_ms; fills out[]. 0 when everything ran. */
static int run_flow(const flow *f, int sales, uint32_t rtt_ms, sale_figures *out)
{
    emu e;
    const char *no_tickets[] = {"--ticket-lifetime", "0", NULL};
    if (emu_start_args(&e, "bench-protocol", f->tickets ? NULL : no_tickets) != 0) {
        return -1;
    }
    delay_proxy *proxy = NULL;
    if (rtt_ms > 0) {
        proxy = delay_proxy_start(e.port, rtt_ms / 2u);
        if (proxy == NULL) {
            emu_stop(&e);
            return -1;
        }
    }
    size_t cap = (size_t)sales * 80 + 1;
    char *keys = calloc(1, cap);
    for (int i = 0; i < sales; i++) {
        strcat(keys, "请核对患者身份 => OK\n请确认结算金额 => OK\n结算成功 => OK\n");
    }
    static net_tap cn;
    static scan_mark sm;
    memset(&cn, 0, sizeof cn);
    memset(&sm, 0, sizeof sm);
    cn.connect_delay_ms = rtt_ms;
    sm.net = &cn;
    static evt_ram_nor nor;
    if (ram_flash && evt_ram_nor_init(&nor, 64u * 1024u, 4096u) != EVT_OK) {
        return -1;
    }
    term t;
    term_options opt = {.keys = keys,
                        .port = proxy ? delay_proxy_port(proxy) : 0,
                        /* the PNG preview is the sim printer's, not the terminal's work */
                        .no_receipt_preview = true,
                        .extra_config = f->keep ? "keep_connection_s = " KEEP_SECONDS "\n" : NULL,
                        .wrap_net = net_tap_wrap,
                        .wrap_net_arg = &cn,
                        .wrap_scanner = wrap_scanner,
                        .wrap_scanner_arg = &sm,
                        .nor = ram_flash ? &nor : NULL};
    int rc = 0;
    bool started = term_start(&t, &e, "bench-protocol", &opt) == 0;
    if (!started) {
        fprintf(stderr, "terminal did not start: %s\n", t.start_msg);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < sales; i++) {
        char code[128], id[40];
        if (emu_code(&e, "employee", NULL, 120, code, sizeof code) != 0) {
            rc = -1;
            break;
        }
        evt_order o;
        order_make(&o, order_id_next(id, sizeof id), "XJ01CAA040A001010100001", "阿莫西林胶囊", 1,
                   150);
        term_scan(&t, code);
        evt_https_totals h0, h1;
        evt_https_get_totals(&h0);
        memset(&cn.n, 0, sizeof cn.n);
        sm.marked = false;
        evt_ecr_result r;
        if (i > 0) {
            CALLGRIND_TOGGLE_COLLECT; /* steady-state sales only, the prepared connection too */
        }
        evt_app_sale(t.app, &o, &r);
        double end_ms = net_tap_now_ms();
        if (i > 0) {
            CALLGRIND_TOGGLE_COLLECT;
        }
        evt_https_get_totals(&h1);
        if (!sm.marked) { /* the code was never read: nothing was on the critical path */
            sm.net_at_scan = cn.n;
            sm.tls_at_scan = h1;
            sm.ms_at_scan = end_ms;
        }
        const net_tap_counts *at = &sm.net_at_scan;
        out[i].n = (net_tap_counts){.round_trips = cn.n.round_trips - at->round_trips,
                                    .connects = cn.n.connects - at->connects,
                                    .bytes_up = cn.n.bytes_up - at->bytes_up,
                                    .bytes_down = cn.n.bytes_down - at->bytes_down,
                                    .wait_ms = cn.n.wait_ms - at->wait_ms};
        out[i].ms = end_ms - sm.ms_at_scan;
        out[i].full = h1.full_handshakes - sm.tls_at_scan.full_handshakes;
        out[i].resumed = h1.resumed_handshakes - sm.tls_at_scan.resumed_handshakes;
        out[i].ahead_round_trips = at->round_trips;
        out[i].ahead_connects = at->connects;
        out[i].ahead_full = sm.tls_at_scan.full_handshakes - h0.full_handshakes;
        out[i].ahead_handshakes =
            out[i].ahead_full + (sm.tls_at_scan.resumed_handshakes - h0.resumed_handshakes);
        out[i].settled = r.status == EVT_ECR_SETTLED;
    }
    if (started) {
        term_stop(&t);
    }
    delay_proxy_stop(proxy);
    emu_stop(&e);
    free(keys);
    if (ram_flash) {
        evt_ram_nor_free(&nor);
    }
    return rc;
}

static void print_sales(const flow *f, const sale_figures *s, int sales)
{
    printf("\nflow %s: %s\n", f->name, f->what);
    printf("  %4s | %-22s | %s\n", "", "ahead (prompt showing)",
           "critical path (from the scan read to the end of the sale)");
    printf("  %4s | %6s %7s %7s | %6s %8s %5s %7s %9s %10s %9s %9s\n", "sale", "RTs", "connect",
           "hshake", "RTs", "connects", "full", "resumed", "bytes up", "bytes down", "x minimum",
           "wall ms");
    unsigned full_path = 0, full_ahead = 0;
    for (int i = 0; i < sales; i++) {
        printf("  %4d | %6u %7u %7u | %6u %8u %5u %7u %9llu %10llu %9.2f %9.1f%s\n", i + 1,
               s[i].ahead_round_trips, s[i].ahead_connects, s[i].ahead_handshakes,
               s[i].n.round_trips, s[i].n.connects, s[i].full, s[i].resumed, s[i].n.bytes_up,
               s[i].n.bytes_down, (double)s[i].n.round_trips / PROTOCOL_MIN, s[i].ms,
               s[i].settled ? "" : "  NOT SETTLED");
        full_path += s[i].full;
        full_ahead += s[i].ahead_full;
    }
    printf("  full handshakes in %d sales: %u ahead of the scan, %u on the critical path\n", sales,
           full_ahead, full_path);
}

/* Median over the steady-state sales (without the first) of the wall time, or of the time
 * spent waiting for the platform's answers. */
static double median_ms(const sale_figures *s, int sales, bool waits)
{
    double v[MAX_SALES];
    int n = 0;
    for (int i = sales > 1 ? 1 : 0; i < sales; i++) {
        v[n++] = waits ? s[i].n.wait_ms : s[i].ms;
    }
    qsort(v, (size_t)n, sizeof v[0], cmp_double);
    return v[n / 2];
}

/* With a ticket or a kept connection, every steady-state sale is the protocol minimum after
 * the scan: 4 round trips, no connection and no handshake on the critical path. */
static bool check_steady(const flow *f, const sale_figures *s, int sales)
{
    bool ok = true;
    for (int i = 0; i < sales; i++) {
        if (!s[i].settled) {
            printf("CHECK FAIL: %s sale %d did not settle\n", f->name, i + 1);
            ok = false;
        }
        if (i > 0 && (s[i].n.round_trips != PROTOCOL_MIN || s[i].n.connects != 0 ||
                      s[i].full != 0 || s[i].resumed != 0)) {
            printf("CHECK FAIL: %s sale %d: %u round trips, %u connects, %u+%u handshakes after "
                   "the scan\n",
                   f->name, i + 1, s[i].n.round_trips, s[i].n.connects, s[i].full, s[i].resumed);
            ok = false;
        }
        /* Tickets: what is done ahead of the scan is resumed, never a full handshake. */
        if (i > 0 && s[i].ahead_full != 0) {
            printf("CHECK FAIL: %s sale %d: a full handshake ahead of the scan\n", f->name, i + 1);
            ok = false;
        }
    }
    return ok;
}

int main(int argc, char **argv)
{
    int sales = 5;
    const char *only = "all";
    uint32_t rtts[MAX_RTTS] = {0};
    int n_rtt = 1;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sales") == 0 && i + 1 < argc) {
            sales = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--flow") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--rtt") == 0 && i + 1 < argc) {
            n_rtt = 0;
            for (char *p = argv[++i]; *p && n_rtt < MAX_RTTS;) {
                rtts[n_rtt++] = (uint32_t)strtoul(p, &p, 10);
                p += *p == ',';
            }
        } else if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--ram-flash") == 0) {
            ram_flash = true;
        } else {
            fprintf(stderr,
                    "usage: bench_protocol [--sales 2..%d] [--flow before|tickets|kept|all]"
                    " [--rtt MS[,MS...]] [--check] [--ram-flash]\n",
                    MAX_SALES);
            return 2;
        }
    }
    if (sales < 2 || sales > MAX_SALES || n_rtt < 1) {
        fprintf(stderr, "bench_protocol: --sales 2..%d, --rtt one to %d values\n", MAX_SALES,
                MAX_RTTS);
        return 2;
    }
    static sale_figures fig[MAX_RTTS][MAX_SALES];
    bool ok = true;
    double wall[sizeof flows / sizeof flows[0]][MAX_RTTS], wait0[sizeof flows / sizeof flows[0]];
    unsigned steady_rt[sizeof flows / sizeof flows[0]];
    for (size_t f = 0; f < sizeof flows / sizeof flows[0]; f++) {
        if (strcmp(only, "all") != 0 && strcmp(only, flows[f].name) != 0) {
            continue;
        }
        for (int r = 0; r < n_rtt; r++) {
            if (run_flow(&flows[f], sales, rtts[r], fig[r]) != 0) {
                printf("flow %s at RTT %u ms did not run\n", flows[f].name, (unsigned)rtts[r]);
                return 1;
            }
            wall[f][r] = median_ms(fig[r], sales, false);
        }
        wait0[f] = median_ms(fig[0], sales, true);
        print_sales(&flows[f], fig[0], sales);
        steady_rt[f] = fig[0][sales - 1].n.round_trips;
        for (int i = 0; i < sales; i++) {
            ok = ok && fig[0][i].settled;
        }
        if (check && flows[f].tickets) {
            ok = check_steady(&flows[f], fig[0], sales) && ok;
        }
    }
    if (n_rtt > 1) {
        printf("\nwall time per steady-state sale (median of sales 2..%d) against RTT:\n", sales);
        printf("  %-8s", "flow");
        for (int r = 0; r < n_rtt; r++) {
            printf(" %9u ms", (unsigned)rtts[r]);
        }
        printf(" %14s %12s %14s %20s\n", "slope (x RTT)", "counted RTs", "platform ms",
               "wall / (4 RTT + p.)");
        for (size_t f = 0; f < sizeof flows / sizeof flows[0]; f++) {
            if (strcmp(only, "all") != 0 && strcmp(only, flows[f].name) != 0) {
                continue;
            }
            printf("  %-8s", flows[f].name);
            for (int r = 0; r < n_rtt; r++) {
                printf(" %9.1f ms", wall[f][r]);
            }
            double slope = (wall[f][n_rtt - 1] - wall[f][0]) / (double)(rtts[n_rtt - 1] - rtts[0]);
            /* The target: wall time within 1.05 x (4 x RTT + the platform's processing
             * time), at the largest RTT; the processing is what the terminal waited for its
             * answers at the first RTT (meaningful when that is 0). */
            double target = PROTOCOL_MIN * (double)rtts[n_rtt - 1] + wait0[f];
            printf(" %14.2f %12u %14.1f %20.3f\n", slope, steady_rt[f], wait0[f],
                   wall[f][n_rtt - 1] / target);
        }
    }
    return ok ? 0 : 1;
}
