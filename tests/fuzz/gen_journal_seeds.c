/*
 * Seeds of the journal target: flash images written by the real journal on the in-memory NOR
 * model — fresh, in use, after garbage collection laps, torn by a power cut in a put and in a
 * collection, with a flipped bit, foreign data, more keys than the target's index, an order
 * book (twin records), and the images of the target's findings — each with the input header of
 * journal_image.h. Generated at run time by tools/fuzz.sh rather than
 * committed (binary images, and they follow the journal's format as it changes).
 *
 *   fuzz_journal_seeds DIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evt/journal.h"
#include "evt/orders.h"
#include "journal_image.h"
#include "journal_seal.h"
#include "ram_nor.h"

static uint32_t work[EVT_JOURNAL_WORK_SIZE(JOURNAL_MAX_SECTORS, 128) / 4];
static const char *out_dir;
static int written;

static uint32_t align_up(uint32_t v)
{
    return (v + 3u) & ~3u;
}

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_journal_seeds: %s\n", what);
    exit(1);
}

static void save(const char *name, evt_ram_nor *nor, uint8_t flags, uint8_t ops)
{
    uint32_t sectors = nor->size / JOURNAL_SECTOR_BYTES;
    uint8_t hdr[JOURNAL_HDR_BYTES] = {
        (uint8_t)((sectors - 2u) | flags), 0x5E, 0xED, 0x00, 0x01, ops};
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(hdr, 1, sizeof hdr, f) != sizeof hdr ||
        fwrite(nor->mem, 1, nor->size, f) != nor->size || fclose(f) != 0) {
        fail("cannot write a seed");
    }
    written++;
}

static void open_on(evt_ram_nor *nor, evt_journal *j, uint32_t sectors)
{
    if (evt_ram_nor_init(nor, sectors * JOURNAL_SECTOR_BYTES, JOURNAL_SECTOR_BYTES) != EVT_OK ||
        evt_journal_open(j, &nor->hal, work, sizeof work, NULL) != EVT_OK) {
        fail("cannot open a journal");
    }
}

static void put(evt_journal *j, const char *key, size_t len, uint32_t salt)
{
    uint8_t v[EVT_JOURNAL_VALUE_MAX];
    for (size_t i = 0; i < len; i++) {
        v[i] = (uint8_t)(salt * 31u + i * 7u);
    }
    if (evt_journal_put(j, key, v, len) != EVT_OK) {
        fail("put");
    }
}

/* The keys a terminal keeps: msgid, a pending settlement, results, totals, sign_no. */
static void terminal_keys(evt_journal *j, uint32_t round)
{
    char key[64];
    put(j, EVT_JOURNAL_KEY_MSGID, 24, round);
    snprintf(key, sizeof key, "pend/H1201040000120240315103000100%u", round % 10);
    put(j, key, 400, round);
    snprintf(key, sizeof key, "order/POS-20240315-%04u", round % 4); /* results pruned */
    put(j, key, 300, round);
    snprintf(key, sizeof key, "pend/H1201040000120240315103000100%u", round % 10);
    if (evt_journal_del(j, key) != EVT_OK) {
        fail("del");
    }
    put(j, "day/20240315", 64, round);
    put(j, "sign/T01", 30, round);
}

static void seed_plain(void)
{
    evt_ram_nor nor;
    evt_journal j;
    open_on(&nor, &j, 2); /* blank flash, mounted once: headers only */
    save("fresh-2", &nor, 0, 8);
    evt_ram_nor_free(&nor);

    open_on(&nor, &j, 4); /* a day at the counter */
    for (uint32_t r = 0; r < 3; r++) {
        terminal_keys(&j, r);
    }
    save("in-use-4", &nor, 0, 12);
    save("in-use-4-fixup", &nor, JOURNAL_FIX_CRC | JOURNAL_FIX_COMMIT, 12);
    evt_ram_nor_free(&nor);

    open_on(&nor, &j, 3); /* several garbage collection laps */
    for (uint32_t r = 0; r < 40; r++) {
        terminal_keys(&j, r);
    }
    save("gc-laps-3", &nor, JOURNAL_FIX_CRC, 16);
    evt_ram_nor_free(&nor);

    char key[64];
    open_on(&nor, &j, 8); /* many keys, large values */
    for (uint32_t k = 0; k < 40; k++) {
        snprintf(key, sizeof key, "order/POS-%04u", k);
        put(&j, key, k % 8 == 0 ? 1024 : 60, k); /* one 1 KiB value per sector at most */
    }
    save("many-keys-8", &nor, 0, 24);
    evt_ram_nor_free(&nor);

    open_on(&nor, &j, 4); /* more live keys than the target's index: NOMEM, then format */
    for (uint32_t k = 0; k < 60; k++) {
        snprintf(key, sizeof key, "k/%u", k);
        put(&j, key, 8, k);
    }
    save("too-many-keys-4", &nor, 0, 6);
    evt_ram_nor_free(&nor);
}

static void seed_damaged(void)
{
    evt_ram_nor nor;
    evt_journal j;
    open_on(&nor, &j, 2); /* a power cut in the middle of a put */
    terminal_keys(&j, 1);
    evt_ram_nor_arm_cut(&nor, 200, EVT_RAM_NOR_CUT_PREFIX, 7);
    uint8_t v[500] = {0};
    (void)evt_journal_put(&j, "order/POS-TORN", v, 300);
    save("torn-put-2", &nor, 0, 10);
    evt_ram_nor_free(&nor);

    open_on(&nor, &j, 2); /* a power cut during a garbage collection */
    for (uint32_t r = 0; r < 2; r++) {
        terminal_keys(&j, r);
    }
    evt_ram_nor_arm_cut(&nor, 1500, EVT_RAM_NOR_CUT_SCATTER, 11);
    for (uint32_t r = 2; r < 30; r++) {
        memset(v, (int)r, sizeof v);
        if (evt_journal_put(&j, "order/POS-GC", v, sizeof v) != EVT_OK) {
            break; /* the cut */
        }
    }
    save("torn-gc-2", &nor, 0, 10);
    evt_ram_nor_free(&nor);

    open_on(&nor, &j, 4); /* a bit flipped in a record header */
    terminal_keys(&j, 5);
    evt_ram_nor_flip_bit(&nor, 24 + 5, 3);
    save("bit-flip-4", &nor, 0, 10);
    evt_ram_nor_free(&nor);

    if (evt_ram_nor_init(&nor, 2 * JOURNAL_SECTOR_BYTES, JOURNAL_SECTOR_BYTES) != EVT_OK) {
        fail("nor");
    }
    evt_ram_nor_fill_random(&nor, 1234); /* foreign data, never a journal */
    save("foreign-2", &nor, 0, 10);
    evt_ram_nor_free(&nor);
}

/* The journal's findings (docs/fuzzing.md), as images that reproduce them. */
static void seed_journal_findings(void)
{
    evt_ram_nor nor;
    evt_journal j;
    /* A record intact by its CRCs whose key is not printable ASCII: the journal listed it,
     * and nothing could read or delete it. */
    open_on(&nor, &j, 2);
    put(&j, "msgid", 24, 1);
    put(&j, "sign/T01", 30, 2);
    uint8_t *rec = nor.mem + 24 + 16 + align_up(5 + 24) + 8; /* second record */
    rec[16 + 4] = 0xFF;                                      /* "sign\xffT01" */
    if (journal_seal_record(rec, JOURNAL_SECTOR_BYTES - (uint32_t)(rec - nor.mem), false) == 0) {
        fail("seal");
    }
    save("unprintable-key-2", &nor, 0, 10);
    evt_ram_nor_free(&nor);

    /* A data sector whose generation is 0xFFFFFFFE: the next one wrapped to the blank value
     * and what was written there was gone after a reboot. */
    open_on(&nor, &j, 3);
    terminal_keys(&j, 2);
    memset(nor.mem + 16, 0xFE, 1);
    memset(nor.mem + 17, 0xFF, 3);
    journal_seal_image(nor.mem, 3, JOURNAL_SECTOR_BYTES, false);
    save("huge-generation-3", &nor, 0, 16);
    evt_ram_nor_free(&nor);

    /* The largest generation accepted: the next sector's would pass the cap, and the next mount
     * dropped it, bringing deleted values back. */
    open_on(&nor, &j, 3);
    terminal_keys(&j, 3);
    memset(nor.mem + 16, 0xFF, 3);
    nor.mem[19] = 0x7F;
    journal_seal_image(nor.mem, 3, JOURNAL_SECTOR_BYTES, false);
    save("top-generation-3", &nor, 0, 16);
    evt_ram_nor_free(&nor);
}

/* The order book: settled orders over two days (one closed), one in doubt, one reversed
 * waiting for a supervisor, and one record whose second copy rotted. */
static void seed_order_book(void)
{
    evt_ram_nor nor;
    evt_journal j;
    open_on(&nor, &j, 4);
    static const evt_order_state states[] = {EVT_ORDER_SETTLED, EVT_ORDER_SETTLED,
                                             EVT_ORDER_UNKNOWN, EVT_ORDER_REVERSED,
                                             EVT_ORDER_REFUSED, EVT_ORDER_SETTLED};
    for (uint32_t k = 0; k < 6; k++) {
        evt_order_record order;
        memset(&order, 0, sizeof order);
        order.state = states[k];
        order.day = k < 3 ? 20240314u : 20240315u;
        order.hms = 103000u + k;
        snprintf(order.msgid, sizeof order.msgid, "H1201040000120240315103000100%u", k);
        snprintf(order.psn_no, sizeof order.psn_no, "1200000000000000000%u", k);
        memcpy(order.insuplc_admdvs, "120100", 7);
        order.total = 3180 + k;
        if (order.state == EVT_ORDER_SETTLED) {
            snprintf(order.setl_id, sizeof order.setl_id, "SETL2024031500012%u", k);
            order.fund = 1556;
            order.account = order.total - order.fund;
            order.balance = 48376;
            order.balance_present = true;
        }
        order.needs_supervisor = order.state == EVT_ORDER_REVERSED;
        order.answer_unusable = order.needs_supervisor;
        snprintf(order.detail, sizeof order.detail, "%s", k == 4 ? "电子凭证二维码已过期" : "");
        char id[32];
        snprintf(id, sizeof id, "POS-20240315-%04u", k);
        if (evt_orders_put(&j, id, &order) != EVT_OK) {
            fail("orders put");
        }
    }
    /* The first sale refunded the next day, with both receipts' records. */
    evt_order_record refund;
    if (evt_orders_get(&j, "POS-20240315-0000", &refund) != EVT_OK) {
        fail("orders get");
    }
    evt_orders_receipt rc = {.book = EVT_ORDERS_SALES,
                             .order_id = "POS-20240315-0000",
                             .mdtrt_id = "MDT2024031500012",
                             .setl_time = "2024-03-14 10:30:00",
                             .insutype = "310",
                             .patient = "张*国",
                             .patient_id = "1201**********0314",
                             .total = refund.total};
    if (evt_orders_receipt_put(&j, refund.msgid, &rc) != EVT_OK) {
        fail("receipt put");
    }
    refund.day = 20240315u;
    snprintf(refund.msgid, sizeof refund.msgid, "H12010400001202403150930001009");
    snprintf(refund.setl_id, sizeof refund.setl_id, "SETL20240315000199");
    rc.book = EVT_ORDERS_REFUNDS;
    if (evt_orders_book_put(&j, EVT_ORDERS_REFUNDS, "POS-20240315-0000", &refund) != EVT_OK ||
        evt_orders_receipt_put(&j, refund.msgid, &rc) != EVT_OK) {
        fail("refund put");
    }
    if (evt_orders_close_day(&j, 20240314u) != EVT_OK) {
        fail("close day");
    }
    uint32_t copy = 0; /* the second copy of the last order: flip a bit of its value */
    for (uint32_t a = 16; a + 22 < nor.size; a++) {
        if (memcmp(nor.mem + a, "order#POS-20240315-0005", 23) == 0) {
            copy = a;
        }
    }
    if (copy == 0) {
        fail("twin copy not found");
    }
    evt_ram_nor_flip_bit(&nor, copy + 23 + 9, 2);
    save("order-book-4", &nor, 0, 12);
    evt_ram_nor_free(&nor);

    /* An order record intact by its CRCs with a total beyond 16,2: it was decoded, and the day
     * totals overflowed. */
    open_on(&nor, &j, 2);
    evt_order_record order;
    memset(&order, 0, sizeof order);
    order.state = EVT_ORDER_SETTLED;
    order.day = 20240315u;
    order.total = 0x0102030405LL; /* its little-endian bytes locate the field */
    if (evt_orders_put(&j, "POS-BIG", &order) != EVT_OK) {
        fail("orders put");
    }
    uint8_t raw[512];
    size_t raw_len = 0;
    if (evt_journal_twin_get(&j, "order", "POS-BIG", raw, sizeof raw, &raw_len, NULL) != EVT_OK) {
        fail("twin get");
    }
    for (size_t i = 0; i + 8 <= raw_len; i++) {
        if (memcmp(raw + i, "\x05\x04\x03\x02\x01\0\0\0", 8) == 0) {
            memset(raw + i, 0xFF, 7); /* INT64_MAX */
            raw[i + 7] = 0x7F;
        }
    }
    if (evt_journal_twin_put(&j, "order", "POS-BIG", raw, raw_len) != EVT_OK) {
        fail("twin put");
    }
    save("order-amount-beyond-2", &nor, 0, 6);
    evt_ram_nor_free(&nor);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_journal_seeds DIR\n");
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
        fail("cannot create the directory");
    }
    seed_plain();
    seed_damaged();
    seed_journal_findings();
    seed_order_book();
    printf("%d journal seeds in %s\n", written, out_dir);
    return 0;
}
