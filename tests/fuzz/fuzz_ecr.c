/*
 * Fuzz target: ECR lines from the pharmacy POS (evt_ecr_poll, include/evt/ecr.h).
 *
 * The input is the byte stream the POS sends on one connection. A fake evt_hal_net accepts
 * that one connection, hands the bytes to evt_ecr_poll in chunks cut at seeded points (1 byte
 * up to what the link asks for), takes the replies in seeded partial sends and ends with an
 * orderly close. Every sale handed out is answered with evt_ecr_reply (settled, refused,
 * failed or unknown, picked from the order id).
 *
 * Invariants: poll returns only EVT_OK or EVT_ERR_NOMEM; a sale handed out is valid (order id,
 * 1..32 items, each amount = qty x price, total = sum, all within 16,2) and was answered
 * "ack"; every reply is one strict-JSON object line with "v":1 and a known type; an order
 * settled or unknown is never handed out again (one order id, at most one settlement); the
 * link buffer and every message tree are back in the arena after evt_ecr_close.
 *
 * Assumes the link as it is today (v1, plain JSON lines on one TCP connection, no per-line
 * authentication): see docs/fuzzing.md. A new message layer (e.g. an HMAC per line) needs the
 * seeds re-made with valid tags, or a harness that adds them.
 */
#include <stdio.h>
#include <string.h>

#include "evt/ecr.h"
#include "evt/json.h"
#include "fuzz_support.h"

static char listener_tag, client_tag;
#define LISTENER ((evt_net_sock *)&listener_tag)
#define CLIENT   ((evt_net_sock *)&client_tag)

#define REPLY_MAX 4096

typedef struct fake_net {
    const uint8_t *data;
    size_t len, pos;
    fuzz_rng rng;
    bool accepted;    /* the one connection was handed out */
    bool client_open; /* ... and not closed yet */
    bool listener_open;
    char reply[REPLY_MAX]; /* the reply line being received */
    size_t reply_len;
    size_t replies;
    char last_type[16];
    char last_order_id[EVT_ORDER_ID_BYTES];
} fake_net;

/* One complete reply line from the terminal: strict JSON, an object, v 1, a known type. */
static void check_reply(fake_net *f)
{
    cJSON *root = NULL;
    evt_err err = evt_json_parse(f->reply, f->reply_len, &root);
    FUZZ_CHECK(err == EVT_OK, "reply is not strict JSON (%s): %.*s", evt_err_name(err),
               (int)f->reply_len, f->reply);
    FUZZ_CHECK(cJSON_IsObject(root), "reply is not an object");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
    FUZZ_CHECK(evt_json_is_number(v) && strcmp(evt_json_number_text(v), "1") == 0, "reply v");
    char type[16] = "";
    FUZZ_CHECK(
        evt_json_get_string(root, "type", true, type, sizeof type, NULL) == EVT_OK &&
            (strcmp(type, "ack") == 0 || strcmp(type, "error") == 0 || strcmp(type, "result") == 0),
        "reply type \"%s\"", type);
    if (strcmp(type, "result") == 0) {
        char status[16] = "";
        evt_json_get_string(root, "status", true, status, sizeof status, NULL);
        FUZZ_CHECK(strcmp(status, "settled") == 0 || strcmp(status, "refused") == 0 ||
                       strcmp(status, "failed") == 0 || strcmp(status, "unknown") == 0 ||
                       strcmp(status, "busy") == 0,
                   "result status \"%s\"", status);
    }
    memcpy(f->last_type, type, sizeof type);
    f->last_order_id[0] = '\0';
    evt_json_get_string(root, "order_id", false, f->last_order_id, sizeof f->last_order_id, NULL);
    evt_json_free(root);
    f->replies++;
}

static evt_err net_send(void *ctx, evt_net_sock *sock, const uint8_t *data, size_t len,
                        uint32_t timeout_ms, size_t *sent)
{
    (void)timeout_ms;
    fake_net *f = ctx;
    FUZZ_CHECK(sock == CLIENT && f->client_open && len > 0, "send on a closed connection");
    size_t n = 1 + fuzz_rng_below(&f->rng, (uint32_t)len); /* partial sends */
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\n') {
            check_reply(f);
            f->reply_len = 0;
            continue;
        }
        FUZZ_CHECK(f->reply_len < REPLY_MAX, "reply line longer than %d bytes", REPLY_MAX);
        f->reply[f->reply_len++] = (char)data[i];
    }
    *sent = n;
    return EVT_OK;
}

static evt_err net_recv(void *ctx, evt_net_sock *sock, uint8_t *buf, size_t cap,
                        uint32_t timeout_ms, size_t *got)
{
    (void)timeout_ms;
    fake_net *f = ctx;
    FUZZ_CHECK(sock == CLIENT && f->client_open && cap > 0, "recv on a closed connection");
    if (f->pos == f->len) {
        return EVT_ERR_NET_CLOSED;
    }
    size_t n = f->len - f->pos;
    size_t want = 1 + fuzz_rng_below(&f->rng, (uint32_t)(cap < 4096 ? cap : 4096));
    if (n > want) {
        n = want;
    }
    memcpy(buf, f->data + f->pos, n);
    f->pos += n;
    *got = n;
    return EVT_OK;
}

static void net_close(void *ctx, evt_net_sock *sock)
{
    fake_net *f = ctx;
    if (sock == CLIENT) {
        FUZZ_CHECK(f->client_open, "connection closed twice");
        f->client_open = false;
    } else if (sock == LISTENER) {
        f->listener_open = false;
    }
}

static evt_err net_listen(void *ctx, const char *bind_addr, uint16_t port, evt_net_sock **out)
{
    (void)bind_addr;
    (void)port;
    fake_net *f = ctx;
    f->listener_open = true;
    *out = LISTENER;
    return EVT_OK;
}

static evt_err net_accept(void *ctx, evt_net_sock *listener, uint32_t timeout_ms,
                          evt_net_sock **out)
{
    (void)timeout_ms;
    fake_net *f = ctx;
    FUZZ_CHECK(listener == LISTENER, "accept on something else than the listener");
    if (f->accepted) {
        return EVT_ERR_NET_TIMEOUT;
    }
    f->accepted = true;
    f->client_open = true;
    *out = CLIENT;
    return EVT_OK;
}

/* ---- sales ------------------------------------------------------------------------------- */

static bool printable_id(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == 0 || n == cap) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7F) {
            return false;
        }
    }
    return true;
}

static void check_order(const evt_order *o)
{
    FUZZ_CHECK(printable_id(o->order_id, sizeof o->order_id), "order id");
    FUZZ_CHECK(o->source == EVT_ORDER_FROM_ECR, "source");
    FUZZ_CHECK(o->item_count >= 1 && o->item_count <= EVT_ORDER_MAX_ITEMS, "%u items",
               o->item_count);
    evt_fen total = 0;
    for (size_t i = 0; i < o->item_count; i++) {
        const evt_order_item *it = &o->items[i];
        FUZZ_CHECK(printable_id(it->med_list_codg, sizeof it->med_list_codg) &&
                       printable_id(it->medins_list_codg, sizeof it->medins_list_codg),
                   "item %zu codes", i);
        size_t nl = strnlen(it->name, sizeof it->name);
        FUZZ_CHECK(nl > 0 && nl < sizeof it->name && fuzz_utf8_valid((const uint8_t *)it->name, nl),
                   "item %zu name", i);
        FUZZ_CHECK(it->quantity >= 1 && it->quantity <= EVT_ECR_ITEM_QTY_MAX, "item %zu qty", i);
        FUZZ_CHECK(it->price > 0 && evt_money_in_range(it->price), "item %zu price", i);
        FUZZ_CHECK(it->amount == it->price * (evt_fen)it->quantity &&
                       evt_money_in_range(it->amount),
                   "item %zu amount", i);
        total += it->amount;
        FUZZ_CHECK(evt_money_in_range(total), "running total beyond 16,2");
    }
    FUZZ_CHECK(o->total == total, "total %lld is not the sum %lld", (long long)o->total,
               (long long)total);
}

/* Orders answered settled or unknown: a second settlement for them is the bug this link's
 * idempotency exists to prevent. Only checked while the RAM store still holds them all. */
typedef struct ledger {
    char id[EVT_ECR_RAM_STORE_SLOTS][EVT_ORDER_ID_BYTES];
    size_t count;
    size_t saved; /* results saved in the store, all statuses */
} ledger;

static bool ledger_has(const ledger *l, const char *id)
{
    for (size_t i = 0; i < l->count; i++) {
        if (strcmp(l->id[i], id) == 0) {
            return true;
        }
    }
    return false;
}

static uint32_t id_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++) {
        h = (h ^ (uint8_t)*s) * 16777619u;
    }
    return h;
}

static void finish_sale(evt_ecr *ecr, const evt_order *o, ledger *l)
{
    evt_ecr_result r;
    memset(&r, 0, sizeof r);
    memcpy(r.order_id, o->order_id, sizeof r.order_id);
    static const evt_ecr_status statuses[] = {EVT_ECR_SETTLED, EVT_ECR_REFUSED, EVT_ECR_FAILED,
                                              EVT_ECR_UNKNOWN};
    static const evt_err errors[] = {EVT_OK, EVT_ERR_VOUCHER_WECHAT_PAY, EVT_ERR_NET_TIMEOUT,
                                     EVT_ERR_OUTCOME_UNKNOWN};
    uint32_t pick = id_hash(o->order_id) % 4;
    r.status = statuses[pick];
    r.error = errors[pick];
    snprintf(r.msgid, sizeof r.msgid, "H12010400001202403151030001%03u", (unsigned)(pick * 7));
    if (r.status == EVT_ECR_SETTLED) {
        snprintf(r.setl_id, sizeof r.setl_id, "SETL%08x", (unsigned)id_hash(o->order_id));
        r.total = o->total;
        r.fund = o->total / 2;
        r.account = o->total - r.fund;
        r.balance = 12345;
        r.balance_present = true;
    }
    evt_err err = evt_ecr_reply(ecr, &r);
    FUZZ_CHECK(err == EVT_OK || err == EVT_ERR_NET_CLOSED, "reply: %s", evt_err_name(err));
    FUZZ_CHECK(!evt_ecr_order_open(ecr), "order still open after its reply");
    l->saved++;
    if ((r.status == EVT_ECR_SETTLED || r.status == EVT_ECR_UNKNOWN) &&
        l->count < EVT_ECR_RAM_STORE_SLOTS) {
        memcpy(l->id[l->count++], o->order_id, EVT_ORDER_ID_BYTES);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_setup(FUZZ_ARENA_BYTES);
    static fake_net f;
    memset(&f, 0, sizeof f);
    f.data = data;
    f.len = len;
    uint32_t seed = 2166136261u; /* cut points from the whole stream: seeds stay plain text */
    for (size_t i = 0; i < len; i++) {
        seed = (seed ^ data[i]) * 16777619u;
    }
    fuzz_rng_seed(&f.rng, seed);
    const evt_hal_net net = {.ctx = &f,
                             .send = net_send,
                             .recv = net_recv,
                             .close = net_close,
                             .listen = net_listen,
                             .accept = net_accept};

    static evt_ecr ecr;
    static evt_ecr_ram_store rs;
    static ledger l;
    memset(&l, 0, sizeof l);
    evt_ecr_store store;
    evt_ecr_ram_store_init(&rs, &store);
    FUZZ_CHECK(evt_ecr_open(&ecr, &net, "127.0.0.1", 9100, &store) == EVT_OK, "open");

    /* Each pass takes at least one byte or one buffered line; bounded like the input. */
    for (size_t pass = 0; pass < 2 * len + 8; pass++) {
        static evt_order order;
        bool got = false;
        evt_err err = evt_ecr_poll(&ecr, 0, &order, &got);
        FUZZ_CHECK(err == EVT_OK || err == EVT_ERR_NOMEM, "poll: %s", evt_err_name(err));
        if (got) {
            check_order(&order);
            FUZZ_CHECK(evt_ecr_order_open(&ecr), "order handed out but not open");
            FUZZ_CHECK(l.saved > EVT_ECR_RAM_STORE_SLOTS || !ledger_has(&l, order.order_id),
                       "order %s settled before is handed out again", order.order_id);
            FUZZ_CHECK(strcmp(f.last_type, "ack") == 0 &&
                           strcmp(f.last_order_id, order.order_id) == 0,
                       "sale handed out without its ack");
            finish_sale(&ecr, &order, &l);
        }
        if (f.accepted && !f.client_open && f.pos == f.len) {
            break; /* the POS is gone and everything it sent was read */
        }
    }
    FUZZ_CHECK(f.pos == f.len || !f.client_open, "the link stopped reading");
    evt_ecr_close(&ecr);
    FUZZ_CHECK(!f.client_open && !f.listener_open, "sockets left open");
    fuzz_arena_check_empty("ecr");
    return 0;
}
