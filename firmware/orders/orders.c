/* evt_orders: the order book in the journal. See orders.h. */
#include "evt/orders.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "evt/civil.h"
#include "evt/json.h"
#include "evt/log.h"

#define MOD "orders"
/* Layout version of a stored record (byte 0). */
#define ORDERS_RECORD_VERSION 2
/* Fixed part: version, state, flags, 0, error (u16), 0 (u16), day, hms, msgid, setl_id,
 * psn_no, insuplc, six amounts, detail length. Then the detail and two optional ids, each with
 * its length first: the operator's (records of before it end after the detail), then the
 * approving supervisor's (records of before it end after the operator's id; a record with an
 * approver but no operator holds the operator's as length 0). Optional tails keep every older
 * record readable without a new version byte. */
#define ORDERS_FIXED_BYTES (16u + 30u + 30u + 30u + 6u + 6u * 8u + 1u)
#define ORDERS_RECORD_MAX  EVT_JOURNAL_TWIN_VALUE_MAX
_Static_assert(ORDERS_FIXED_BYTES + EVT_ORDERS_DETAIL_BYTES <= ORDERS_RECORD_MAX, "record fits");
#define FLAG_ANSWER_UNUSABLE  0x01u
#define FLAG_NEEDS_SUPERVISOR 0x02u
#define FLAG_BALANCE_PRESENT  0x04u

/* Room one sale needs in the journal while it runs: its order record, the pending record of
 * its 2102 and, if the answer is lost, the reversal owed — three twin records of at most the
 * largest twin value — plus the msgid state rewritten on every call. Sized from the journal's
 * record format (16-byte header, key, value, 8-byte trailer), so it holds whatever the value
 * sizes are. */
#define ORDERS_TWIN_RECORD_BYTES                                                                   \
    (2u * (16u + ((EVT_JOURNAL_KEY_MAX + EVT_JOURNAL_TWIN_VALUE_MAX + 4u + 3u) & ~3u) + 8u))
/* A receipt record: version, book, flags, seven length-prefixed strings, four amounts. */
#define ORDERS_RECEIPT_VERSION 1
#define ORDERS_RECEIPT_MAX                                                                         \
    (3u + (1u + EVT_ORDER_ID_BYTES) + 31u + 20u + 7u + 3u * EVT_ORDERS_MASKED_BYTES + 4u * 8u)
#define ORDERS_RECEIPT_RECORD_BYTES                                                                \
    (16u + ((EVT_JOURNAL_KEY_MAX + ORDERS_RECEIPT_MAX + 3u) & ~3u) + 8u)
/* A refund needs the same: its record, its 2103's pending and reversal records, its receipt. */
#define ORDERS_SALE_RESERVE_BYTES                                                                  \
    (3u * ORDERS_TWIN_RECORD_BYTES + ORDERS_RECEIPT_RECORD_BYTES + 128u)
/* A record never straddles two sectors, so every sector but the spare can end with a tail too
 * short for the next record: the journal's free bytes count those tails, a sale cannot use
 * them. Room is counted without them (one largest single record per sector). */
#define ORDERS_SECTOR_TAIL_BYTES (ORDERS_TWIN_RECORD_BYTES / 2u)
#define ORDERS_SALE_RESERVE_KEYS 8u
/* Ids collected per pass of the pruning walk (the journal cannot be written while it is being
 * walked); later passes take the rest. */
#define ORDERS_PRUNE_BATCH 16u

_Static_assert(ORDERS_RECORD_MAX <= EVT_JOURNAL_TWIN_VALUE_MAX, "order record must fit a twin");
_Static_assert(ORDERS_RECEIPT_MAX <= EVT_JOURNAL_VALUE_MAX, "receipt record must fit a value");

static const char *book_name(evt_orders_book book)
{
    static const char *const names[EVT_ORDERS_BOOK_COUNT] = {
        EVT_ORDERS_TWIN_NAME, EVT_ORDERS_REFUND_TWIN_NAME, EVT_ORDERS_VISIT_TWIN_NAME,
        EVT_ORDERS_VISIT_REFUND_TWIN_NAME};
    return names[(unsigned)book < EVT_ORDERS_BOOK_COUNT ? book : EVT_ORDERS_SALES];
}

evt_orders_book evt_orders_book_partner(evt_orders_book book)
{
    switch (book) {
    case EVT_ORDERS_REFUNDS:
        return EVT_ORDERS_SALES;
    case EVT_ORDERS_VISITS:
        return EVT_ORDERS_VISIT_REFUNDS;
    case EVT_ORDERS_VISIT_REFUNDS:
        return EVT_ORDERS_VISITS;
    default:
        return EVT_ORDERS_REFUNDS;
    }
}

bool evt_orders_book_is_refund(evt_orders_book book)
{
    return book == EVT_ORDERS_REFUNDS || book == EVT_ORDERS_VISIT_REFUNDS;
}

const char *evt_order_state_name(evt_order_state state)
{
    switch (state) {
    case EVT_ORDER_SETTLING:
        return "settling";
    case EVT_ORDER_SETTLED:
        return "settled";
    case EVT_ORDER_REFUSED:
        return "refused";
    case EVT_ORDER_FAILED:
        return "failed";
    case EVT_ORDER_UNKNOWN:
        return "unknown";
    case EVT_ORDER_REVERSED:
        return "reversed";
    }
    return "invalid";
}

/* ---- encoding: little-endian, fixed offsets, so a record outlives the compiler -------------- */

typedef struct cursor {
    uint8_t *p;
    const uint8_t *end;
    bool ok;
} cursor;

static void put_bytes(cursor *c, const void *src, size_t n)
{
    if (!c->ok || (size_t)(c->end - c->p) < n) {
        c->ok = false;
        return;
    }
    memcpy(c->p, src, n);
    c->p += n;
}

static void put_uint(cursor *c, uint64_t v, size_t n)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    put_bytes(c, b, n);
}

/* strnlen is POSIX, not C11. */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n] != '\0') {
        n++;
    }
    return n;
}

/* A string field of fixed width, NUL-padded (the value may fill it). */
static void put_field(cursor *c, const char *s, size_t width)
{
    uint8_t b[32] = {0};
    size_t n = bounded_len(s, width);
    memcpy(b, s, n);
    put_bytes(c, b, width);
}

static void get_bytes(cursor *c, void *dst, size_t n)
{
    if (!c->ok || (size_t)(c->end - c->p) < n) {
        c->ok = false;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, c->p, n);
    c->p += n;
}

static uint64_t get_uint(cursor *c, size_t n)
{
    uint8_t b[8];
    get_bytes(c, b, n);
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v |= (uint64_t)b[i] << (8 * i);
    }
    return v;
}

static void get_field(cursor *c, char *dst, size_t width, size_t cap)
{
    uint8_t b[32];
    get_bytes(c, b, width);
    size_t n = bounded_len((const char *)b, width);
    if (n >= cap) {
        c->ok = false;
        n = 0;
    }
    memcpy(dst, b, n);
    dst[n] = '\0';
}

/* A string of at most max bytes, length first (the receipt record's variable fields). */
static void put_str(cursor *c, const char *s, size_t max)
{
    size_t n = bounded_len(s, max + 1);
    if (n > max) {
        c->ok = false;
        return;
    }
    put_uint(c, n, 1);
    put_bytes(c, s, n);
}

static void get_str(cursor *c, char *dst, size_t cap)
{
    size_t n = (size_t)get_uint(c, 1);
    if (n >= cap) {
        c->ok = false;
        n = 0;
    }
    get_bytes(c, dst, n);
    dst[n] = '\0';
}

static size_t encode(const evt_order_record *r, uint8_t out[ORDERS_RECORD_MAX])
{
    cursor c = {out, out + ORDERS_RECORD_MAX, true};
    uint8_t flags = (uint8_t)((r->answer_unusable ? FLAG_ANSWER_UNUSABLE : 0u) |
                              (r->needs_supervisor ? FLAG_NEEDS_SUPERVISOR : 0u) |
                              (r->balance_present ? FLAG_BALANCE_PRESENT : 0u));
    put_uint(&c, ORDERS_RECORD_VERSION, 1);
    put_uint(&c, (uint64_t)r->state, 1);
    put_uint(&c, flags, 1);
    put_uint(&c, 0, 1);
    put_uint(&c, (uint64_t)r->error, 2);
    put_uint(&c, 0, 2);
    put_uint(&c, r->day, 4);
    put_uint(&c, r->hms, 4);
    put_field(&c, r->msgid, 30);
    put_field(&c, r->setl_id, 30);
    put_field(&c, r->psn_no, 30);
    put_field(&c, r->insuplc_admdvs, 6);
    const evt_fen amounts[] = {r->total, r->fund, r->account, r->mutual_aid, r->cash, r->balance};
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        put_uint(&c, (uint64_t)amounts[i], 8);
    }
    size_t opter_len = bounded_len(r->opter, sizeof r->opter);
    size_t approver_len = bounded_len(r->approver, sizeof r->approver);
    bool opter_stored = opter_len > 0 || approver_len > 0;
    size_t detail_room = ORDERS_RECORD_MAX - ORDERS_FIXED_BYTES -
                         (opter_stored ? 1u + opter_len : 0u) -
                         (approver_len ? 1u + approver_len : 0u);
    if (detail_room > EVT_ORDERS_DETAIL_BYTES - 1) {
        detail_room = EVT_ORDERS_DETAIL_BYTES - 1;
    }
    size_t detail_len =
        evt_json_utf8_prefix(r->detail, bounded_len(r->detail, sizeof r->detail), detail_room);
    put_uint(&c, detail_len, 1);
    put_bytes(&c, r->detail, detail_len);
    if (opter_stored) {
        put_str(&c, r->opter, sizeof r->opter - 1);
    }
    if (approver_len > 0) {
        put_str(&c, r->approver, sizeof r->approver - 1);
    }
    return c.ok ? (size_t)(c.p - out) : 0;
}

static bool known_state(uint64_t s)
{
    return s >= EVT_ORDER_SETTLING && s <= EVT_ORDER_REVERSED;
}

static evt_err decode(const uint8_t *in, size_t len, evt_order_record *r)
{
    memset(r, 0, sizeof *r);
    cursor c = {(uint8_t *)in, in + len, true};
    uint64_t version = get_uint(&c, 1);
    uint64_t state = get_uint(&c, 1);
    uint64_t flags = get_uint(&c, 1);
    get_uint(&c, 1);
    uint64_t error = get_uint(&c, 2);
    get_uint(&c, 2);
    r->day = (uint32_t)get_uint(&c, 4);
    r->hms = (uint32_t)get_uint(&c, 4);
    get_field(&c, r->msgid, 30, sizeof r->msgid);
    get_field(&c, r->setl_id, 30, sizeof r->setl_id);
    get_field(&c, r->psn_no, 30, sizeof r->psn_no);
    get_field(&c, r->insuplc_admdvs, 6, sizeof r->insuplc_admdvs);
    evt_fen *amounts[] = {&r->total, &r->fund, &r->account, &r->mutual_aid, &r->cash, &r->balance};
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        *amounts[i] = (evt_fen)get_uint(&c, 8);
    }
    size_t detail_len = (size_t)get_uint(&c, 1);
    if (detail_len >= sizeof r->detail) {
        c.ok = false;
    } else {
        get_bytes(&c, r->detail, detail_len);
    }
    if (c.ok && c.p < c.end) {
        get_str(&c, r->opter, sizeof r->opter);
    }
    if (c.ok && c.p < c.end) {
        get_str(&c, r->approver, sizeof r->approver);
    }
    bool amounts_ok = true;
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        amounts_ok = amounts_ok && evt_money_in_range(*amounts[i]);
    }
    /* The CRC already vouches for the bytes; these checks catch a record of another layout
     * (put only stores amounts within 16,2, and the day totals rely on it). */
    if (!c.ok || c.p != c.end || version != ORDERS_RECORD_VERSION || !known_state(state) ||
        error >= (uint64_t)EVT_ERR_COUNT_ || !amounts_ok) {
        memset(r, 0, sizeof *r);
        return EVT_ERR_JOURNAL_CORRUPT;
    }
    r->state = (evt_order_state)state;
    r->error = (evt_err)error;
    r->answer_unusable = (flags & FLAG_ANSWER_UNUSABLE) != 0;
    r->needs_supervisor = (flags & FLAG_NEEDS_SUPERVISOR) != 0;
    r->balance_present = (flags & FLAG_BALANCE_PRESENT) != 0;
    return EVT_OK;
}

/* ---- records -------------------------------------------------------------------------------- */

evt_err evt_orders_book_get(evt_journal *j, evt_orders_book book, const char *order_id,
                            evt_order_record *out)
{
    uint8_t buf[ORDERS_RECORD_MAX];
    size_t len = 0;
    evt_err err = evt_journal_twin_get(j, book_name(book), order_id, buf, sizeof buf, &len, NULL);
    if (err == EVT_ERR_OVERFLOW) {
        err = EVT_ERR_JOURNAL_CORRUPT;
    }
    if (err == EVT_OK) {
        err = decode(buf, len, out);
    }
    if (err == EVT_ERR_JOURNAL_CORRUPT) {
        EVT_LOGE(MOD, "%s %s: record unreadable", book_name(book), order_id);
    }
    return err;
}

evt_err evt_orders_book_put(evt_journal *j, evt_orders_book book, const char *order_id,
                            const evt_order_record *rec)
{
    uint8_t buf[ORDERS_RECORD_MAX];
    size_t len = encode(rec, buf);
    if (len == 0 || !known_state((uint64_t)rec->state)) {
        return EVT_ERR_ARG;
    }
    evt_err err = evt_journal_twin_put(j, book_name(book), order_id, buf, len);
    if (err != EVT_OK) {
        EVT_LOGE(MOD, "%s %s: %s not recorded: %s", book_name(book), order_id,
                 evt_order_state_name(rec->state), evt_err_name(err));
    }
    return err;
}

evt_err evt_orders_get(evt_journal *j, const char *order_id, evt_order_record *out)
{
    return evt_orders_book_get(j, EVT_ORDERS_SALES, order_id, out);
}

evt_err evt_orders_put(evt_journal *j, const char *order_id, const evt_order_record *rec)
{
    return evt_orders_book_put(j, EVT_ORDERS_SALES, order_id, rec);
}

bool evt_orders_in_doubt(const evt_order_record *rec)
{
    return rec->state == EVT_ORDER_SETTLING || rec->state == EVT_ORDER_UNKNOWN;
}

bool evt_orders_may_retry(const evt_order_record *rec)
{
    switch (rec->state) {
    case EVT_ORDER_REFUSED:
    case EVT_ORDER_FAILED:
        return true;
    case EVT_ORDER_REVERSED:
        return !rec->needs_supervisor;
    default:
        return false;
    }
}

typedef struct orders_walk {
    evt_journal *j;
    evt_orders_book book;
    evt_orders_visit_fn visit;
    void *arg;
    uint32_t unreadable;
} orders_walk;

static evt_err orders_walk_visit(void *arg, const char *id)
{
    orders_walk *w = arg;
    evt_order_record rec;
    uint8_t buf[ORDERS_RECORD_MAX];
    size_t len = 0;
    evt_err err = evt_journal_twin_get(w->j, book_name(w->book), id, buf, sizeof buf, &len, NULL);
    if (err == EVT_OK) {
        err = decode(buf, len, &rec);
    }
    if (err != EVT_OK) {
        if (err == EVT_ERR_STORAGE_IO) {
            return err;
        }
        w->unreadable++;
        return EVT_OK;
    }
    return w->visit(w->arg, id, &rec);
}

evt_err evt_orders_book_iterate(evt_journal *j, evt_orders_book book, evt_orders_visit_fn visit,
                                void *arg, uint32_t *unreadable)
{
    orders_walk w = {.j = j, .book = book, .visit = visit, .arg = arg};
    evt_err err = evt_journal_twin_iterate(j, book_name(book), orders_walk_visit, &w);
    if (unreadable != NULL) {
        *unreadable = w.unreadable;
    }
    return err;
}

evt_err evt_orders_iterate(evt_journal *j, evt_orders_visit_fn visit, void *arg,
                           uint32_t *unreadable)
{
    return evt_orders_book_iterate(j, EVT_ORDERS_SALES, visit, arg, unreadable);
}

/* ---- receipt records ------------------------------------------------------------------------ */

#define RECEIPT_FLAG_FAMILY 0x01u

static void receipt_key(const char *msgid, char key[EVT_JOURNAL_KEY_MAX + 1])
{
    snprintf(key, EVT_JOURNAL_KEY_MAX + 1, "%s%s", EVT_ORDERS_PREFIX_RECEIPT, msgid);
}

/* The record's strings and amounts, in their order on flash. */
#define RECEIPT_STR(field)                                                                         \
    {                                                                                              \
        offsetof(evt_orders_receipt, field), sizeof((evt_orders_receipt *)0)->field                \
    }
static const struct {
    size_t offset, size;
} receipt_strings[] = {
    RECEIPT_STR(order_id), RECEIPT_STR(mdtrt_id),   RECEIPT_STR(setl_time), RECEIPT_STR(insutype),
    RECEIPT_STR(patient),  RECEIPT_STR(patient_id), RECEIPT_STR(holder),
};
static const size_t receipt_amounts[] = {
    offsetof(evt_orders_receipt, total),
    offsetof(evt_orders_receipt, fulamt_ownpay_amt),
    offsetof(evt_orders_receipt, overlmt_selfpay),
    offsetof(evt_orders_receipt, preselfpay_amt),
};
#define RECEIPT_COUNT(a) (sizeof(a) / sizeof(a)[0])

/* One pass over the record's fields, writing rc out or reading it in: the two directions cannot
 * drift apart. */
static void receipt_fields(cursor *c, evt_orders_receipt *rc, bool out)
{
    for (size_t i = 0; i < RECEIPT_COUNT(receipt_strings); i++) {
        char *field = (char *)rc + receipt_strings[i].offset;
        if (out) {
            put_str(c, field, receipt_strings[i].size - 1);
        } else {
            get_str(c, field, receipt_strings[i].size);
        }
    }
    for (size_t i = 0; i < RECEIPT_COUNT(receipt_amounts); i++) {
        evt_fen v;
        memcpy(&v, (char *)rc + receipt_amounts[i], sizeof v);
        if (out) {
            put_uint(c, (uint64_t)v, 8);
        } else {
            v = (evt_fen)get_uint(c, 8);
            memcpy((char *)rc + receipt_amounts[i], &v, sizeof v);
        }
        c->ok = c->ok && evt_money_in_range(v);
    }
}

static size_t receipt_encode(const evt_orders_receipt *rc, uint8_t out[ORDERS_RECEIPT_MAX])
{
    cursor c = {out, out + ORDERS_RECEIPT_MAX, rc->order_id[0] != '\0'};
    put_uint(&c, ORDERS_RECEIPT_VERSION, 1);
    put_uint(&c, (uint64_t)rc->book, 1);
    put_uint(&c, rc->via_family_account ? RECEIPT_FLAG_FAMILY : 0u, 1);
    receipt_fields(&c, (evt_orders_receipt *)rc, true);
    return c.ok ? (size_t)(c.p - out) : 0;
}

static evt_err receipt_decode(const uint8_t *in, size_t len, evt_orders_receipt *rc)
{
    memset(rc, 0, sizeof *rc);
    cursor c = {(uint8_t *)in, in + len, true};
    uint64_t version = get_uint(&c, 1);
    uint64_t book = get_uint(&c, 1);
    uint64_t flags = get_uint(&c, 1);
    receipt_fields(&c, rc, false);
    if (!c.ok || c.p != c.end || version != ORDERS_RECEIPT_VERSION ||
        book >= (uint64_t)EVT_ORDERS_BOOK_COUNT || rc->order_id[0] == '\0') {
        memset(rc, 0, sizeof *rc);
        return EVT_ERR_JOURNAL_CORRUPT;
    }
    rc->book = (evt_orders_book)book;
    rc->via_family_account = (flags & RECEIPT_FLAG_FAMILY) != 0;
    return EVT_OK;
}

evt_err evt_orders_receipt_put(evt_journal *j, const char *msgid, const evt_orders_receipt *rc)
{
    uint8_t buf[ORDERS_RECEIPT_MAX];
    size_t len = receipt_encode(rc, buf);
    if (len == 0 || msgid == NULL || msgid[0] == '\0') {
        return EVT_ERR_ARG;
    }
    char key[EVT_JOURNAL_KEY_MAX + 1];
    receipt_key(msgid, key);
    evt_err err = evt_journal_put(j, key, buf, len);
    if (err != EVT_OK) {
        EVT_LOGE(MOD, "receipt of msgid %s not recorded: %s", msgid, evt_err_name(err));
    }
    return err;
}

evt_err evt_orders_receipt_get(evt_journal *j, const char *msgid, evt_orders_receipt *out)
{
    uint8_t buf[ORDERS_RECEIPT_MAX];
    size_t len = 0;
    char key[EVT_JOURNAL_KEY_MAX + 1];
    receipt_key(msgid, key);
    evt_err err = evt_journal_get(j, key, buf, sizeof buf, &len);
    if (err == EVT_ERR_OVERFLOW) {
        err = EVT_ERR_JOURNAL_CORRUPT;
    }
    return err == EVT_OK ? receipt_decode(buf, len, out) : err;
}

typedef struct receipt_walk {
    evt_journal *j;
    evt_orders_receipt_visit_fn visit;
    void *arg;
} receipt_walk;

static evt_err receipt_walk_visit(void *arg, const char *key, size_t value_len)
{
    (void)value_len;
    receipt_walk *w = arg;
    const char *msgid = key + strlen(EVT_ORDERS_PREFIX_RECEIPT);
    evt_orders_receipt rc;
    evt_err err = evt_orders_receipt_get(w->j, msgid, &rc);
    if (err == EVT_ERR_STORAGE_IO) {
        return err;
    }
    /* A damaged receipt record costs its reprint only: skipped. */
    return err == EVT_OK ? w->visit(w->arg, msgid, &rc) : EVT_OK;
}

evt_err evt_orders_receipt_iterate(evt_journal *j, evt_orders_receipt_visit_fn visit, void *arg)
{
    receipt_walk w = {.j = j, .visit = visit, .arg = arg};
    return evt_journal_iterate(j, EVT_ORDERS_PREFIX_RECEIPT, receipt_walk_visit, &w);
}

/* ---- days ----------------------------------------------------------------------------------- */

int32_t evt_orders_days_between(uint32_t a, uint32_t b)
{
    unsigned am = a / 100 % 100, ad = a % 100, bm = b / 100 % 100, bd = b % 100;
    if (am < 1 || am > 12 || ad < 1 || ad > 31 || bm < 1 || bm > 12 || bd < 1 || bd > 31) {
        return 0;
    }
    int64_t da = evt_civil_days_from_date(a / 10000, am, ad);
    int64_t db = evt_civil_days_from_date(b / 10000, bm, bd);
    return (int32_t)(db - da);
}

static void closed_key(uint32_t day, char key[EVT_JOURNAL_KEY_MAX + 1])
{
    snprintf(key, EVT_JOURNAL_KEY_MAX + 1, "%s%08lu", EVT_ORDERS_PREFIX_CLOSED, (unsigned long)day);
}

evt_err evt_orders_close_day(evt_journal *j, uint32_t day)
{
    char key[EVT_JOURNAL_KEY_MAX + 1];
    closed_key(day, key);
    return evt_journal_put(j, key, "", 0);
}

static bool day_closed(evt_journal *j, uint32_t day)
{
    char key[EVT_JOURNAL_KEY_MAX + 1];
    size_t len = 0;
    closed_key(day, key);
    return evt_journal_get(j, key, NULL, 0, &len) == EVT_OK;
}

typedef struct totals_walk {
    uint32_t day;
    evt_orders_totals *t;
} totals_walk;

static evt_err totals_visit(void *arg, const char *order_id, const evt_order_record *rec)
{
    (void)order_id;
    totals_walk *w = arg;
    if (rec->day == w->day && rec->state == EVT_ORDER_SETTLED) {
        w->t->count++;
        w->t->total += rec->total;
        w->t->fund += rec->fund;
        w->t->account += rec->account;
        w->t->mutual_aid += rec->mutual_aid;
        w->t->cash += rec->cash;
    }
    return EVT_OK;
}

evt_err evt_orders_day_totals(evt_journal *j, uint32_t day, evt_orders_totals *out)
{
    memset(out, 0, sizeof *out);
    totals_walk w = {.day = day, .t = out};
    return evt_orders_iterate(j, totals_visit, &w, NULL);
}

/* ---- retention ------------------------------------------------------------------------------ */

/* Room for one more sale once `bytes` and `keys` more are free. */
static bool has_room_with(evt_journal *j, uint64_t bytes, uint32_t keys, bool *ok)
{
    evt_journal_stats st;
    if (evt_journal_stats_get(j, &st) != EVT_OK) {
        return false;
    }
    uint64_t tails = (uint64_t)(st.sector_count - 1u) * ORDERS_SECTOR_TAIL_BYTES;
    *ok = st.free_bytes + bytes >= ORDERS_SALE_RESERVE_BYTES + tails &&
          st.index_capacity - st.live_keys + keys >= ORDERS_SALE_RESERVE_KEYS;
    return true;
}

static bool has_room(evt_journal *j, bool *ok)
{
    return has_room_with(j, 0, 0, ok);
}

typedef struct prune_walk {
    evt_journal *j;
    evt_orders_book book; /* the book being walked */
    uint32_t today;
    uint32_t keep_days;
    uint32_t day; /* 0: first pass looks for the oldest removable day */
    uint32_t oldest;
    char ids[ORDERS_PRUNE_BATCH][EVT_ORDER_ID_BYTES];
    uint32_t count;
} prune_walk;

/* One record may go by itself: its day is over and old enough, and it holds no doubt. */
static bool removable(const prune_walk *w, const evt_order_record *rec)
{
    if (evt_orders_in_doubt(rec) || rec->needs_supervisor || rec->day >= w->today) {
        return false;
    }
    if (rec->state != EVT_ORDER_SETTLED && !evt_orders_may_retry(rec)) {
        return false;
    }
    int32_t age = evt_orders_days_between(rec->day, w->today);
    return age >= (int32_t)w->keep_days || (age > 0 && day_closed(w->j, rec->day));
}

/* A whole order may go: a sale with its refund (both removable), or a refund left without its
 * sale (a power cut during an earlier removal). A record that cannot be read keeps its order. */
static bool order_removable(const prune_walk *w, const char *order_id, const evt_order_record *rec)
{
    if (!removable(w, rec)) {
        return false;
    }
    evt_order_record other;
    evt_err err = evt_orders_book_get(w->j, evt_orders_book_partner(w->book), order_id, &other);
    if (!evt_orders_book_is_refund(w->book)) {
        return err == EVT_ERR_NOT_FOUND || (err == EVT_OK && removable(w, &other));
    }
    return err == EVT_ERR_NOT_FOUND;
}

static evt_err prune_visit(void *arg, const char *order_id, const evt_order_record *rec)
{
    prune_walk *w = arg;
    if (!order_removable(w, order_id, rec)) {
        return EVT_OK;
    }
    if (w->day == 0) {
        if (w->oldest == 0 || rec->day < w->oldest) {
            w->oldest = rec->day;
        }
    } else if (rec->day == w->day && w->count < ORDERS_PRUNE_BATCH) {
        snprintf(w->ids[w->count++], EVT_ORDER_ID_BYTES, "%s", order_id);
    }
    return EVT_OK;
}

/* Both books, one walk each. */
static evt_err prune_walk_books(prune_walk *w)
{
    evt_err err = EVT_OK;
    for (int b = EVT_ORDERS_SALES; b < EVT_ORDERS_BOOK_COUNT && err == EVT_OK; b++) {
        w->book = (evt_orders_book)b;
        err = evt_orders_book_iterate(w->j, w->book, prune_visit, w, NULL);
    }
    return err;
}

static evt_err del_receipt(evt_journal *j, const char *msgid)
{
    if (msgid[0] == '\0') {
        return EVT_OK;
    }
    char key[EVT_JOURNAL_KEY_MAX + 1];
    receipt_key(msgid, key);
    evt_err err = evt_journal_del(j, key);
    /* EVT_ERR_ARG: a msgid no journal key can hold (a damaged record's), so no receipt record
     * of it exists; the record itself still goes. */
    return err == EVT_ERR_NOT_FOUND || err == EVT_ERR_ARG ? EVT_OK : err;
}

/* Removes an order: each receipt record before the record that names it (a cut in between
 * leaves a record without its receipt, never a receipt nobody finds), the sale before its
 * refund (a cut in between leaves a refund without its sale, which the next walk removes; never
 * a refunded sale that looks refundable). */
static evt_err remove_order(evt_journal *j, const char *order_id)
{
    evt_err err = EVT_OK;
    for (int b = EVT_ORDERS_SALES; b < EVT_ORDERS_BOOK_COUNT && err == EVT_OK; b++) {
        evt_order_record rec;
        evt_err gerr = evt_orders_book_get(j, (evt_orders_book)b, order_id, &rec);
        if (gerr == EVT_OK) {
            err = del_receipt(j, rec.msgid);
        }
        if (err == EVT_OK) {
            err = evt_journal_twin_del(j, book_name((evt_orders_book)b), order_id);
            /* EVT_ERR_ARG: the id is too long for this book's key (its name is longer than
             * the book the id came from), so no record of it can be there. */
            err = err == EVT_ERR_NOT_FOUND || err == EVT_ERR_ARG ? EVT_OK : err;
        }
    }
    return err;
}

/* Removes the orders of the oldest day that may go (one batch); *gone counts them, 0 when none
 * may go. */
static evt_err prune_orders(prune_walk *w, uint32_t *gone)
{
    w->day = 0;
    w->oldest = 0;
    evt_err err = prune_walk_books(w);
    if (err != EVT_OK || w->oldest == 0) {
        return err;
    }
    w->day = w->oldest;
    w->count = 0;
    err = prune_walk_books(w);
    for (uint32_t i = 0; i < w->count && err == EVT_OK; i++) {
        err = remove_order(w->j, w->ids[i]);
        *gone += err == EVT_OK;
    }
    if (err == EVT_OK && w->count > 0 && w->count < ORDERS_PRUNE_BATCH) {
        /* The whole day is gone: its closed marker has nothing left to say. */
        char key[EVT_JOURNAL_KEY_MAX + 1];
        closed_key(w->day, key);
        evt_journal_del(w->j, key);
    }
    return err;
}

bool evt_orders_msgid_time(const char *msgid, uint32_t *day, uint32_t *hms)
{
    if (bounded_len(msgid, 26) < 26) {
        return false;
    }
    uint64_t v = 0;
    for (unsigned i = 12; i < 26u; i++) {
        if (msgid[i] < '0' || msgid[i] > '9') {
            return false;
        }
        v = v * 10u + (uint64_t)(msgid[i] - '0');
    }
    *day = (uint32_t)(v / 1000000u);
    *hms = (uint32_t)(v % 1000000u);
    return true;
}

/* Collects the oldest receipt records (msgids of one terminal sort by time), at most a batch,
 * in w->ids. */
static evt_err receipt_prune_visit(void *arg, const char *key, size_t value_len)
{
    (void)value_len;
    prune_walk *w = arg;
    const char *msgid = key + strlen(EVT_ORDERS_PREFIX_RECEIPT);
    uint32_t k = w->count;
    for (; k > 0 && strcmp(w->ids[k - 1], msgid) > 0; k--) {
        if (k < ORDERS_PRUNE_BATCH) {
            memcpy(w->ids[k], w->ids[k - 1], sizeof w->ids[k]);
        }
    }
    if (k < ORDERS_PRUNE_BATCH) {
        snprintf(w->ids[k], sizeof w->ids[k], "%s", msgid);
        w->count += w->count < ORDERS_PRUNE_BATCH;
    }
    return EVT_OK;
}

typedef struct receipt_census {
    uint32_t count;
    uint64_t bytes;
} receipt_census;

static evt_err census_visit(void *arg, const char *key, size_t value_len)
{
    receipt_census *c = arg;
    c->count++;
    c->bytes += 16u + ((strlen(key) + value_len + 3u) & ~(size_t)3u) + 8u;
    return EVT_OK;
}

/* Whether removing every receipt record would make the room: if not, they stay (the sale is
 * refused either way, and the day's reprints are not thrown away for nothing). */
static bool receipts_would_make_room(evt_journal *j)
{
    receipt_census c = {0};
    bool ok = false;
    return evt_journal_iterate(j, EVT_ORDERS_PREFIX_RECEIPT, census_visit, &c) == EVT_OK &&
           has_room_with(j, c.bytes, c.count, &ok) && ok;
}

/* Removes the oldest receipt records (one batch); *gone counts them. */
static evt_err prune_receipts(prune_walk *w, uint32_t *gone)
{
    w->count = 0;
    evt_err err = evt_journal_iterate(w->j, EVT_ORDERS_PREFIX_RECEIPT, receipt_prune_visit, w);
    for (uint32_t i = 0; i < w->count && err == EVT_OK; i++) {
        err = del_receipt(w->j, w->ids[i]);
        *gone += err == EVT_OK;
    }
    return err;
}

evt_err evt_orders_make_room(evt_journal *j, uint32_t today, uint32_t keep_days, uint32_t *removed)
{
    uint32_t orders = 0, receipts = 0;
    bool ok = false;
    evt_err err = EVT_OK;
    prune_walk *w = &(prune_walk){.j = j, .today = today, .keep_days = keep_days};
    /* Orders that may go first (their receipt records with them), then the oldest receipt
     * records — past days' first (reprints are of the day; a refund of an older sale takes the
     * name from the platform's answer), then today's — when that makes the room: a sale is never
     * refused for a reprint. Each pass removes something or ends the loop, and there are
     * finitely many. */
    while (has_room(j, &ok) && !ok) {
        uint32_t before = receipts + orders;
        err = prune_orders(w, &orders);
        if (err == EVT_OK && receipts + orders == before && receipts_would_make_room(j)) {
            err = prune_receipts(w, &receipts);
        }
        if (err != EVT_OK || receipts + orders == before) {
            break;
        }
    }
    if (removed != NULL) {
        *removed = orders;
    }
    if (orders + receipts > 0) {
        EVT_LOGI(MOD, "room made: %u orders, %u receipt records removed", (unsigned)orders,
                 (unsigned)receipts);
    }
    if (err != EVT_OK) {
        return err;
    }
    if (!has_room(j, &ok)) {
        return EVT_ERR_STORAGE_IO;
    }
    return ok ? EVT_OK : EVT_ERR_JOURNAL_FULL;
}
