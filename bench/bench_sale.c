/*
 * bench_sale: whole pharmacy sales (scan -> ec.query -> 1101 -> 2101 -> 2102 -> receipt)
 * by the in-process sim terminal against the platform emulator over TLS on loopback.
 * Prints per-sale wall time (median, worst), the arena's peak and what a sale leaves
 * allocated (must be 0: personal data and TLS state are released at the end of a sale).
 *
 *   build/sim-debug/bench/bench_sale [sales]      (default 20)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evt/arena.h"
#include "harness.h"

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
    /* The cashier confirms identity, split and result for every sale. */
    size_t cap = (size_t)sales * 80 + 1;
    char *keys = calloc(1, cap);
    for (int i = 0; i < sales; i++) {
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
    return settled == sales ? 0 : 1;
}
