/*
 * bench_journal: figures for docs/journal.md — put/get throughput, flash bytes programmed and
 * erased per put (write amplification), garbage-collection rate, wear spread, mount time and
 * RAM, over a 64 KiB area of 4 KiB sectors on the in-memory NOR model.
 *
 * Host CPU timings only say how much work the code does; on a board the flash dominates, so
 * the per-put flash traffic is the figure to multiply by the chip's program/erase times.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evt/arena.h"
#include "evt/journal.h"
#include "ram_nor.h"

#define AREA_BYTES   (64u * 1024u)
#define SECTOR_BYTES 4096u
#define MAX_KEYS     256u

static uint8_t arena_buf[64 * 1024];
static evt_ram_nor nor;
static evt_journal jr;
static void *work;
static size_t work_len;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, evt_err err)
{
    fprintf(stderr, "bench_journal: %s: %s\n", what, evt_err_name(err));
    exit(1);
}

static void fill(uint8_t *buf, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (uint8_t)(seed >> 16);
    }
}

typedef struct counters {
    uint64_t programmed, erased, calls, erases;
    double t;
} counters;

static counters snap(void)
{
    counters c = {nor.bytes_programmed, (uint64_t)nor.erase_calls * SECTOR_BYTES, nor.program_calls,
                  nor.erase_calls, now_s()};
    return c;
}

static void report(const char *name, unsigned ops, uint64_t payload, counters a, counters b)
{
    double secs = b.t - a.t;
    printf("%-34s %7u ops %9.0f ops/s  programmed %6.1f B/op  erased %7.1f B/op  "
           "program calls %4.1f/op  erases/1000 ops %5.1f  write amplification %4.2f\n",
           name, ops, ops / (secs > 0 ? secs : 1e-9), (double)(b.programmed - a.programmed) / ops,
           (double)(b.erased - a.erased) / ops, (double)(b.calls - a.calls) / ops,
           1000.0 * (double)(b.erases - a.erases) / ops,
           (double)(b.programmed - a.programmed) / (double)payload);
    evt_journal_stats st;
    evt_journal_stats_get(&jr, &st);
    printf("%-34s GC runs %u, sector erase counts %u..%u, live %u of %u B\n", "", st.gc_runs,
           st.erase_count_min, st.erase_count_max, st.live_bytes, st.capacity_bytes);
}

static void open_fresh(void)
{
    evt_ram_nor_free(&nor);
    if (evt_ram_nor_init(&nor, AREA_BYTES, SECTOR_BYTES) != EVT_OK) {
        die("ram_nor", EVT_ERR_NOMEM);
    }
    evt_err err = evt_journal_open(&jr, &nor.hal, work, work_len, NULL);
    if (err != EVT_OK) {
        die("open", err);
    }
}

/* Small state rewritten all the time: msgid counter, day totals, sign_no. */
static void bench_small_overwrites(void)
{
    open_fresh();
    uint8_t v[64];
    char key[16];
    const unsigned ops = 20000;
    uint64_t payload = 0;
    counters a = snap();
    for (unsigned n = 0; n < ops; n++) {
        snprintf(key, sizeof key, "day/%04u", n % 16u);
        fill(v, 32, n);
        evt_err err = evt_journal_put(&jr, key, v, 32);
        if (err != EVT_OK) {
            die("put", err);
        }
        payload += strlen(key) + 32;
    }
    report("put 32 B over 16 keys", ops, payload, a, snap());
}

/*
 * The settlement cycle per sale: pending record before 2102 (the request's essentials), the
 * result by order id, delete the pending record, update day totals and msgid. Orders older
 * than the last 20 are pruned, as the daily close would.
 */
static void bench_sales(void)
{
    open_fresh();
    uint8_t pend[400], result[300], totals[64], msgid[24];
    char key[EVT_JOURNAL_KEY_MAX + 1];
    const unsigned sales = 3000;
    uint64_t payload = 0;
    unsigned ops = 0;
    counters a = snap();
    for (unsigned n = 0; n < sales; n++) {
        char id[40];
        snprintf(id, sizeof id, "H12010400001202501011200%06u", n);
        fill(pend, sizeof pend, n);
        fill(result, sizeof result, n + 7u);
        fill(totals, sizeof totals, n + 9u);
        fill(msgid, sizeof msgid, n + 11u);
        snprintf(key, sizeof key, "pend/%s", id);
        evt_err err = evt_journal_put(&jr, key, pend, sizeof pend);
        payload += strlen(key) + sizeof pend;
        if (err == EVT_OK) {
            snprintf(key, sizeof key, "order/POS-%08u", n);
            err = evt_journal_put(&jr, key, result, sizeof result);
            payload += strlen(key) + sizeof result;
        }
        if (err == EVT_OK) {
            snprintf(key, sizeof key, "pend/%s", id);
            err = evt_journal_del(&jr, key);
            payload += strlen(key);
        }
        if (err == EVT_OK) {
            err = evt_journal_put(&jr, "day/20250101", totals, sizeof totals);
            payload += 12 + sizeof totals;
        }
        if (err == EVT_OK) {
            err = evt_journal_put(&jr, "msgid", msgid, sizeof msgid);
            payload += 5 + sizeof msgid;
        }
        if (err == EVT_OK && n >= 20) {
            snprintf(key, sizeof key, "order/POS-%08u", n - 20u);
            err = evt_journal_del(&jr, key);
            payload += strlen(key);
            ops++;
        }
        if (err != EVT_OK) {
            die("sale", err);
        }
        ops += 5;
    }
    report("sale cycle (5-6 writes per sale)", ops, payload, a, snap());
    printf("%-34s %7u sales, %.1f B programmed and %.1f B erased per sale\n", "", sales,
           (double)nor.bytes_programmed / sales, (double)nor.erase_calls * SECTOR_BYTES / sales);
}

static void bench_gets_and_mount(void)
{
    open_fresh();
    uint8_t v[300], out[EVT_JOURNAL_VALUE_MAX];
    char key[32];
    const unsigned keys = 120;
    for (unsigned n = 0; n < keys * 4; n++) {
        snprintf(key, sizeof key, "order/POS-%08u", n % keys);
        fill(v, sizeof v, n);
        evt_err err = evt_journal_put(&jr, key, v, sizeof v);
        if (err != EVT_OK) {
            die("put", err);
        }
    }
    const unsigned gets = 200000;
    double t0 = now_s();
    size_t len;
    for (unsigned n = 0; n < gets; n++) {
        snprintf(key, sizeof key, "order/POS-%08u", (n * 7919u) % keys);
        evt_err err = evt_journal_get(&jr, key, out, sizeof out, &len);
        if (err != EVT_OK) {
            die("get", err);
        }
    }
    double t1 = now_s();
    printf("%-34s %7u ops %9.0f ops/s  (300 B values, %u keys, CRC checked on each read)\n", "get",
           gets, gets / (t1 - t0), keys);

    const unsigned mounts = 200;
    uint64_t read0 = nor.bytes_read;
    t0 = now_s();
    for (unsigned n = 0; n < mounts; n++) {
        evt_err err = evt_journal_open(&jr, &nor.hal, work, work_len, NULL);
        if (err != EVT_OK) {
            die("open", err);
        }
    }
    t1 = now_s();
    evt_journal_stats st;
    evt_journal_stats_get(&jr, &st);
    printf("%-34s %7.3f ms per mount, %" PRIu64 " bytes read per mount "
           "(%u records, %u live keys)\n",
           "mount of a used 64 KiB journal", 1000.0 * (t1 - t0) / mounts,
           (nor.bytes_read - read0) / mounts, st.records, st.live_keys);
}

int main(void)
{
    evt_arena_init(arena_buf, sizeof arena_buf);
    evt_arena_reset_peak();
    work_len = EVT_JOURNAL_WORK_SIZE(AREA_BYTES / SECTOR_BYTES, MAX_KEYS);
    work = evt_malloc(work_len);
    if (work == NULL) {
        die("arena", EVT_ERR_NOMEM);
    }
    printf("journal bench: %u KiB area, %u B sectors (%u sectors), index for %u keys\n",
           AREA_BYTES / 1024u, SECTOR_BYTES, AREA_BYTES / SECTOR_BYTES, MAX_KEYS);
    bench_small_overwrites();
    bench_sales();
    bench_gets_and_mount();

    evt_arena_stats as;
    evt_arena_get_stats(&as);
    printf("RAM: evt_journal %zu B + work buffer %zu B (%u B/sector, %u B/key); "
           "arena peak %zu B in %zu block(s); no other heap\n",
           sizeof(evt_journal), work_len, EVT_JOURNAL_SECTOR_WORK_BYTES, EVT_JOURNAL_KEY_WORK_BYTES,
           as.peak, as.peak_blocks);
    evt_free(work);
    evt_ram_nor_free(&nor);
    return 0;
}
