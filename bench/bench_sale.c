/*
 * bench_sale: whole pharmacy sales (scan -> ec.query -> 1101 -> 2101 -> 2102 -> receipt)
 * by the in-process sim terminal against the platform emulator over TLS on loopback.
 * Prints per-sale wall time (median, worst), the arena's peak and what a sale leaves
 * allocated (must be 0: personal data and TLS state are released at the end of a sale).
 *
 *   build/sim-debug/bench/bench_sale [sales]      (default 20)
 *
 * Then a memory report (issue 6): one whole TLS sale each of a 1-line order, of an order of
 * EVT_ORDER_MAX_ITEMS lines (whose 2102 answer carries a detlcutinfo entry per line) and of a
 * 1-line order whose 2102 answer the emulator pads to just under EVT_PROTO_ANSWER_MAX_BYTES:
 * arena peak and largest single firmware allocation of each. Static RAM of the core is
 * measured on the Cortex-M build (docs/architecture.md, "Memory budget").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evt/arena.h"
#include "evt/proto.h"
#include "harness.h"

/* Sales of the memory report (memory_report). */
#define BENCH_REPORT_SALES 3

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One sale of lines lines; false unless it settled. */
static bool measured_sale(emu *e, term *t, unsigned lines, evt_arena_stats *st)
{
    char code[128], id[40];
    if (emu_code(e, "employee", NULL, 120, code, sizeof code) != 0) {
        return false;
    }
    static evt_order o;
    order_make(&o, order_id_next(id, sizeof id), "XJ01CAA040A001010100001", "阿莫西林胶囊", 1, 150);
    for (unsigned i = 1; i < lines; i++) {
        char medins[16];
        snprintf(medins, sizeof medins, "YP%04u", i);
        if (evt_order_add_item(&o, "XJ01CAA040A001010100001", medins, "阿莫西林胶囊", 1, 150) !=
            EVT_OK) {
            return false;
        }
    }
    term_scan(t, code);
    evt_arena_reset_peak();
    evt_ecr_result r;
    evt_app_sale(t->app, &o, &r);
    evt_arena_get_stats(st);
    return r.status == EVT_ECR_SETTLED;
}

static bool memory_report(emu *e, term *t)
{
    evt_arena_stats one, full, padded;
    bool ok = measured_sale(e, t, 1, &one);
    ok = measured_sale(e, t, EVT_ORDER_MAX_ITEMS, &full) && ok;
    char bytes[32];
    snprintf(bytes, sizeof bytes, "%u", EVT_PROTO_ANSWER_MAX_BYTES - 4096u);
    ok = emu_fault(e, "2102", "pad_answer", bytes, 1) == 0 && ok;
    ok = measured_sale(e, t, 1, &padded) && ok;
    printf("memory, one whole TLS sale each (host build, %zu-bit pointers):\n", sizeof(void *) * 8);
    printf("  %-44s %10s %10s\n", "sale", "arena peak", "largest");
    printf("  %-44s %8zu B %8zu B\n", "1 line", one.peak, one.largest);
    printf("  %-44s %8zu B %8zu B\n", "EVT_ORDER_MAX_ITEMS lines", full.peak, full.largest);
    printf("  1 line, 2102 answer padded to %-14s %8zu B %8zu B\n", bytes, padded.peak,
           padded.largest);
    printf("  answer length costs %s\n",
           padded.peak <= one.peak + 512u ? "nothing (same peak)" : "MEMORY: a finding");
    return ok && padded.peak <= one.peak + 512u;
}

int main(int argc, char **argv)
{
    int sales = argc > 1 ? atoi(argv[1]) : 20;
    if (sales < 1 || sales > 500) {
        fprintf(stderr, "usage: bench_sale [1..500]\n");
        return 2;
    }
    emu e;
    if (emu_start(&e, "bench") != 0) {
        return 1;
    }
    /* The cashier confirms identity, split and result for every sale, the memory report's
     * included (without its keys a report sale waits for the cashier until it times out). */
    size_t cap = ((size_t)sales + BENCH_REPORT_SALES) * 80 + 1;
    char *keys = calloc(1, cap);
    for (int i = 0; i < sales + BENCH_REPORT_SALES; i++) {
        strcat(keys, "请核对患者身份 => OK\n请确认结算金额 => OK\n结算成功 => OK\n");
    }
    term t;
    term_options opt = {.keys = keys};
    if (term_start(&t, &e, "bench", &opt) != 0) {
        fprintf(stderr, "terminal did not start: %s\n", t.start_msg);
        emu_stop(&e);
        return 1;
    }
    evt_arena_stats idle;
    evt_arena_get_stats(&idle);
    evt_arena_reset_peak();
    double *ms = calloc((size_t)sales, sizeof *ms);
    int settled = 0;
    for (int i = 0; i < sales; i++) {
        char code[128], id[40];
        if (emu_code(&e, "employee", NULL, 120, code, sizeof code) != 0) {
            break;
        }
        evt_order o;
        order_make(&o, order_id_next(id, sizeof id), "XJ01CAA040A001010100001", "阿莫西林胶囊", 1,
                   150);
        term_scan(&t, code);
        evt_ecr_result r;
        double t0 = now_ms();
        evt_app_sale(t.app, &o, &r);
        ms[i] = now_ms() - t0;
        settled += r.status == EVT_ECR_SETTLED;
    }
    evt_arena_stats after;
    evt_arena_get_stats(&after);
    bool memory_ok = memory_report(&e, &t);
    qsort(ms, (size_t)sales, sizeof *ms, cmp_double);
    printf("sales: %d settled of %d (TLS 1.3, new connection per sale, receipt PNG rendered)\n",
           settled, sales);
    printf("sale wall time: median %.1f ms, worst %.1f ms (the scripted cashier answers as soon "
           "as each screen appears)\n",
           ms[sales / 2], ms[sales - 1]);
    printf("arena: capacity %zu B, idle %zu B in %zu blocks, peak during sales %zu B, left "
           "after sales %zu B\n",
           after.capacity, idle.in_use, idle.blocks, after.peak, after.in_use - idle.in_use);
    term_stop(&t);
    emu_stop(&e);
    free(ms);
    free(keys);
    return settled == sales && memory_ok ? 0 : 1;
}
