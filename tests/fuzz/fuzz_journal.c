/*
 * Fuzz target: journal recovery from an arbitrary flash image (evt_journal_open,
 * include/evt/journal.h, docs/journal.md), on the in-memory NOR model tests/support/ram_nor.
 *
 * Input layout: journal_image.h. The image is mounted; the order book on it (evt_orders, twin
 * records) is read, totalled and pruned; then every key is listed and read, a seeded series of
 * puts, deletes and reads runs against a model, and the flash is mounted again. Invariants:
 * - open gives EVT_OK, or EVT_ERR_NOMEM for more keys than the index holds (then
 *   evt_journal_format must work); never a crash or a hang (libFuzzer -timeout);
 * - every listed key is a valid key, listed once, and reads back intact with its listed length;
 *   a prefix listing gives exactly the keys with that prefix;
 * - put/del/get follow the model (put: EVT_OK or JOURNAL_FULL with the old value kept; del:
 *   EVT_OK exactly when the key had a value, or JOURNAL_FULL with the value kept at the
 *   generation cap);
 * - after the second mount the journal holds exactly the model: what was written is read back,
 *   what was deleted stays deleted, and untouched keys keep their values;
 * - no byte is ever programmed that is not erased (ram_nor's overprogram count stays 0);
 * - every order record that reads back decodes to a known state, terminated fields and amounts
 *   within 16,2; a record read again outside the iteration (which repairs its other copy) is
 *   the same; day totals and the retention prune run on whatever the flash holds (UBSan
 *   watches the sums). The repairs and prunes are then part of what the second mount must
 *   show.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evt/journal.h"
#include "evt/orders.h"
#include "fuzz_support.h"
#include "journal_image.h"
#include "journal_seal.h"
#include "ram_nor.h"

#define INDEX_KEYS 48 /* live keys the work buffer indexes: images with more give NOMEM */
#define MODEL_KEYS (INDEX_KEYS + 16)

/* ---- the model ---------------------------------------------------------------------------- */

typedef struct entry {
    char key[EVT_JOURNAL_KEY_MAX + 1];
    uint8_t value[EVT_JOURNAL_VALUE_MAX];
    size_t len;
    bool present;
} entry;

typedef struct model {
    entry e[MODEL_KEYS];
    size_t count; /* entries used (present or deleted) */
} model;

static entry *model_find(model *m, const char *key)
{
    for (size_t i = 0; i < m->count; i++) {
        if (strcmp(m->e[i].key, key) == 0) {
            return &m->e[i];
        }
    }
    return NULL;
}

static entry *model_slot(model *m, const char *key)
{
    entry *e = model_find(m, key);
    if (e == NULL) {
        FUZZ_CHECK(m->count < MODEL_KEYS, "model full");
        e = &m->e[m->count++];
        memset(e, 0, sizeof *e);
        snprintf(e->key, sizeof e->key, "%s", key);
    }
    return e;
}

static size_t model_live(const model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->count; i++) {
        n += m->e[i].present;
    }
    return n;
}

/* ---- listing ------------------------------------------------------------------------------ */

typedef struct listing {
    char key[MODEL_KEYS][EVT_JOURNAL_KEY_MAX + 1];
    size_t len[MODEL_KEYS];
    size_t count;
    const char *prefix;
} listing;

static evt_err collect(void *arg, const char *key, size_t value_len)
{
    listing *l = arg;
    size_t n = strlen(key);
    FUZZ_CHECK(n >= 1 && n <= EVT_JOURNAL_KEY_MAX, "listed key of %zu characters", n);
    for (size_t i = 0; i < n; i++) {
        FUZZ_CHECK(key[i] >= 0x20 && key[i] <= 0x7E, "listed key with byte 0x%02x",
                   (unsigned char)key[i]);
    }
    FUZZ_CHECK(strncmp(key, l->prefix, strlen(l->prefix)) == 0, "listed key outside the prefix");
    FUZZ_CHECK(value_len <= EVT_JOURNAL_VALUE_MAX, "listed value of %zu bytes", value_len);
    for (size_t i = 0; i < l->count; i++) {
        FUZZ_CHECK(strcmp(l->key[i], key) != 0, "key listed twice");
    }
    FUZZ_CHECK(l->count < MODEL_KEYS, "more keys listed than the index holds");
    memcpy(l->key[l->count], key, n + 1);
    l->len[l->count++] = value_len;
    return EVT_OK;
}

static void list_keys(evt_journal *j, const char *prefix, listing *l)
{
    l->count = 0;
    l->prefix = prefix;
    evt_err err = evt_journal_iterate(j, prefix, collect, l);
    FUZZ_CHECK(err == EVT_OK, "iterate: %s", evt_err_name(err));
}

static uint8_t value_buf[EVT_JOURNAL_VALUE_MAX];

/* The journal holds exactly what the model says, nothing more. */
static void check_matches(evt_journal *j, model *m, const char *when)
{
    static listing l;
    list_keys(j, "", &l);
    FUZZ_CHECK(l.count == model_live(m), "%s: %zu keys listed, the model has %zu", when, l.count,
               model_live(m));
    for (size_t i = 0; i < l.count; i++) {
        entry *e = model_find(m, l.key[i]);
        FUZZ_CHECK(e != NULL && e->present, "%s: key \"%s\" came back", when, l.key[i]);
    }
    for (size_t i = 0; i < m->count; i++) {
        entry *e = &m->e[i];
        size_t len = 0;
        evt_err err = evt_journal_get(j, e->key, value_buf, sizeof value_buf, &len);
        if (!e->present) {
            FUZZ_CHECK(err == EVT_ERR_NOT_FOUND, "%s: deleted \"%s\" reads %s", when, e->key,
                       evt_err_name(err));
            continue;
        }
        FUZZ_CHECK(err == EVT_OK, "%s: \"%s\" reads %s", when, e->key, evt_err_name(err));
        FUZZ_CHECK(len == e->len && memcmp(value_buf, e->value, len) == 0,
                   "%s: \"%s\" reads another value", when, e->key);
    }
    evt_journal_stats st;
    FUZZ_CHECK(evt_journal_stats_get(j, &st) == EVT_OK && st.live_keys == l.count, "%s: stats",
               when);
}

/* ---- the order book on the image ------------------------------------------------------------ */

#define ORDER_IDS 16

typedef struct order_seen {
    char id[ORDER_IDS][EVT_JOURNAL_KEY_MAX + 1];
    evt_order_record rec[ORDER_IDS];
    uint32_t day[ORDER_IDS];
    size_t count, days;
} order_seen;

static bool terminated(const char *field, size_t size)
{
    return memchr(field, '\0', size) != NULL;
}

static evt_err visit_order(void *arg, const char *order_id, const evt_order_record *rec)
{
    order_seen *o = arg;
    FUZZ_CHECK(rec->state >= EVT_ORDER_SETTLING && rec->state <= EVT_ORDER_REVERSED,
               "order state %d", (int)rec->state);
    FUZZ_CHECK(terminated(rec->msgid, sizeof rec->msgid) &&
                   terminated(rec->setl_id, sizeof rec->setl_id) &&
                   terminated(rec->psn_no, sizeof rec->psn_no) &&
                   terminated(rec->insuplc_admdvs, sizeof rec->insuplc_admdvs) &&
                   terminated(rec->detail, sizeof rec->detail),
               "order record field not terminated");
    const evt_fen amounts[] = {rec->total,      rec->fund, rec->account,
                               rec->mutual_aid, rec->cash, rec->balance};
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        FUZZ_CHECK(evt_money_in_range(amounts[i]), "order amount %lld beyond 16,2",
                   (long long)amounts[i]);
    }
    if (o->count < ORDER_IDS) {
        snprintf(o->id[o->count], sizeof o->id[0], "%s", order_id);
        o->rec[o->count++] = *rec;
    }
    bool known = false;
    for (size_t i = 0; i < o->days; i++) {
        known |= o->day[i] == rec->day;
    }
    if (!known && o->days < ORDER_IDS) {
        o->day[o->days++] = rec->day;
    }
    return EVT_OK;
}

/* A receipt record as evt_orders_receipt_put could have written it: strings terminated, an
 * order id, a known book, amounts within 16,2. */
static evt_err visit_receipt(void *arg, const char *msgid, const evt_orders_receipt *rc)
{
    (void)arg;
    (void)msgid;
    FUZZ_CHECK(rc->book == EVT_ORDERS_SALES || rc->book == EVT_ORDERS_REFUNDS, "receipt book %d",
               (int)rc->book);
    FUZZ_CHECK(rc->order_id[0] != '\0' && terminated(rc->order_id, sizeof rc->order_id) &&
                   terminated(rc->mdtrt_id, sizeof rc->mdtrt_id) &&
                   terminated(rc->setl_time, sizeof rc->setl_time) &&
                   terminated(rc->insutype, sizeof rc->insutype) &&
                   terminated(rc->patient, sizeof rc->patient) &&
                   terminated(rc->patient_id, sizeof rc->patient_id) &&
                   terminated(rc->holder, sizeof rc->holder),
               "receipt record field not terminated");
    const evt_fen amounts[] = {rc->total, rc->fulamt_ownpay_amt, rc->overlmt_selfpay,
                               rc->preselfpay_amt};
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        FUZZ_CHECK(evt_money_in_range(amounts[i]), "receipt amount %lld beyond 16,2",
                   (long long)amounts[i]);
    }
    return EVT_OK;
}

static void check_orders(evt_journal *j, uint32_t seed)
{
    static order_seen o, refunds;
    refunds.count = refunds.days = 0;
    evt_err err = evt_orders_book_iterate(j, EVT_ORDERS_REFUNDS, visit_order, &refunds, NULL);
    FUZZ_CHECK(err == EVT_OK, "refunds iterate: %s", evt_err_name(err));
    err = evt_orders_receipt_iterate(j, visit_receipt, NULL);
    FUZZ_CHECK(err == EVT_OK, "receipts iterate: %s", evt_err_name(err));
    o.count = o.days = 0;
    uint32_t unreadable = 0;
    err = evt_orders_iterate(j, visit_order, &o, &unreadable);
    FUZZ_CHECK(err == EVT_OK, "orders iterate: %s", evt_err_name(err));
    for (size_t i = 0; i < o.count; i++) {
        evt_order_record again;
        err = evt_orders_get(j, o.id[i], &again); /* outside the walk: may repair a copy */
        FUZZ_CHECK(err == EVT_OK || err == EVT_ERR_JOURNAL_FULL,
                   "order \"%s\" listed, then reads %s", o.id[i], evt_err_name(err));
        FUZZ_CHECK(err != EVT_OK || memcmp(&again, &o.rec[i], sizeof again) == 0,
                   "order \"%s\" reads another record than the walk saw", o.id[i]);
    }
    for (size_t i = 0; i < o.days; i++) {
        evt_orders_totals t;
        err = evt_orders_day_totals(j, o.day[i], &t);
        FUZZ_CHECK(err == EVT_OK && t.count <= o.count + unreadable, "day totals: %s",
                   evt_err_name(err));
    }
    uint32_t today = o.days > 0 ? o.day[seed % o.days] + seed % 3 : 20240315;
    err = evt_orders_make_room(j, today, 1 + seed % 3, NULL);
    FUZZ_CHECK(err == EVT_OK || err == EVT_ERR_JOURNAL_FULL, "make room: %s", evt_err_name(err));
}

/* ---- the target --------------------------------------------------------------------------- */

static uint32_t work[EVT_JOURNAL_WORK_SIZE(JOURNAL_MAX_SECTORS, INDEX_KEYS) / 4];
static uint8_t image[JOURNAL_MAX_SECTORS * JOURNAL_SECTOR_BYTES];

static void run_ops(evt_journal *j, model *m, evt_ram_nor *nor, fuzz_rng *rng, unsigned count)
{
    for (unsigned op = 0; op < count; op++) {
        char key[EVT_JOURNAL_KEY_MAX + 1];
        uint32_t pick = fuzz_rng_below(rng, (uint32_t)m->count + 12);
        if (pick < m->count) {
            memcpy(key, m->e[pick].key, sizeof key);
        } else {
            snprintf(key, sizeof key, "%s%u", pick % 3 == 0 ? "pend/" : "k/", pick % 12);
        }
        uint32_t what = fuzz_rng_below(rng, 4);
        if (what <= 1) {
            size_t len = fuzz_rng_below(rng, 5) == 0
                             ? fuzz_rng_below(rng, EVT_JOURNAL_VALUE_MAX + 1)
                             : fuzz_rng_below(rng, 64);
            for (size_t i = 0; i < len; i++) {
                value_buf[i] = (uint8_t)fuzz_rng_next(rng);
            }
            evt_err err = evt_journal_put(j, key, value_buf, len);
            FUZZ_CHECK(err == EVT_OK || err == EVT_ERR_JOURNAL_FULL, "put: %s", evt_err_name(err));
            if (err == EVT_OK) {
                entry *e = model_slot(m, key);
                memcpy(e->value, value_buf, len);
                e->len = len;
                e->present = true;
            }
        } else if (what == 2) {
            entry *e = model_find(m, key);
            bool had = e != NULL && e->present;
            evt_err err = evt_journal_del(j, key);
            /* FULL only at the generation cap (docs/journal.md): the value stays. */
            FUZZ_CHECK(err == (had ? EVT_OK : EVT_ERR_NOT_FOUND) ||
                           (had && err == EVT_ERR_JOURNAL_FULL),
                       "del of a %s key: %s", had ? "present" : "absent", evt_err_name(err));
            if (err == EVT_OK) {
                e->present = false;
            }
        } else {
            entry *e = model_find(m, key);
            size_t got = 0;
            evt_err err = evt_journal_get(j, key, value_buf, sizeof value_buf, &got);
            if (e == NULL || !e->present) {
                FUZZ_CHECK(err == EVT_ERR_NOT_FOUND, "get of an absent key: %s", evt_err_name(err));
            } else {
                FUZZ_CHECK(err == EVT_OK && got == e->len && memcmp(value_buf, e->value, got) == 0,
                           "get of \"%s\": %s", key, evt_err_name(err));
            }
        }
        FUZZ_CHECK(nor->overprogram_bytes == 0, "programmed a byte that was not erased");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_setup(FUZZ_ARENA_BYTES);
    fuzz_input in = {.data = data, .len = len};
    uint8_t geometry = fuzz_take_u8(&in);
    uint32_t seed = fuzz_take_u32(&in);
    unsigned ops = fuzz_take_u8(&in) % 25u;
    uint32_t sectors = 2u + (geometry & 0x07u) % 7u;
    size_t area = (size_t)sectors * JOURNAL_SECTOR_BYTES;
    size_t n = 0;
    const uint8_t *flash = fuzz_rest(&in, &n);
    memset(image, 0xFF, area);
    memcpy(image, flash, n < area ? n : area);
    if (geometry & JOURNAL_FIX_CRC) {
        journal_seal_image(image, sectors, JOURNAL_SECTOR_BYTES,
                           (geometry & JOURNAL_FIX_COMMIT) != 0);
    }

    evt_ram_nor nor;
    FUZZ_CHECK(evt_ram_nor_init(&nor, (uint32_t)area, JOURNAL_SECTOR_BYTES) == EVT_OK, "nor");
    evt_ram_nor_load(&nor, image);

    static evt_journal j;
    static model m;
    m.count = 0;
    uint32_t corrupt = 0;
    evt_err err = evt_journal_open(&j, &nor.hal, work, sizeof work, &corrupt);
    FUZZ_CHECK(err == EVT_OK || err == EVT_ERR_NOMEM, "open: %s", evt_err_name(err));
    FUZZ_CHECK(nor.overprogram_bytes == 0, "recovery programmed a byte that was not erased");
    if (err == EVT_ERR_NOMEM) {
        FUZZ_CHECK(evt_journal_format(&j) == EVT_OK, "format after NOMEM");
    } else {
        check_orders(&j, seed);
        FUZZ_CHECK(nor.overprogram_bytes == 0, "the order book programmed a byte not erased");
        /* What the image holds becomes the model. */
        static listing l;
        list_keys(&j, "", &l);
        for (size_t i = 0; i < l.count; i++) {
            size_t vlen = 0;
            err = evt_journal_get(&j, l.key[i], value_buf, sizeof value_buf, &vlen);
            FUZZ_CHECK(err == EVT_OK && vlen == l.len[i], "listed \"%s\" reads %s (%zu bytes)",
                       l.key[i], evt_err_name(err), vlen);
            entry *e = model_slot(&m, l.key[i]);
            memcpy(e->value, value_buf, vlen);
            e->len = vlen;
            e->present = true;
        }
        if (l.count > 0) {
            char prefix[3] = {l.key[0][0], l.key[0][1], '\0'};
            static listing p;
            list_keys(&j, prefix, &p);
            size_t want = 0;
            for (size_t i = 0; i < l.count; i++) {
                want += strncmp(l.key[i], prefix, strlen(prefix)) == 0;
            }
            FUZZ_CHECK(p.count == want, "prefix \"%s\": %zu listed, %zu have it", prefix, p.count,
                       want);
        }
    }
    check_matches(&j, &m, "after mount");

    fuzz_rng rng;
    fuzz_rng_seed(&rng, seed);
    run_ops(&j, &m, &nor, &rng, ops);
    check_matches(&j, &m, "after the operations");

    static evt_journal again;
    static uint32_t work2[sizeof work / 4];
    err = evt_journal_open(&again, &nor.hal, work2, sizeof work2, NULL);
    FUZZ_CHECK(err == EVT_OK, "second mount: %s", evt_err_name(err));
    check_matches(&again, &m, "after the second mount");
    FUZZ_CHECK(nor.overprogram_bytes == 0, "programmed a byte that was not erased");
    evt_ram_nor_free(&nor);
    fuzz_arena_check_empty("journal");
    return 0;
}
