/*
 * Fuzz target: ECR lines from the pharmacy POS (evt_ecr, include/evt/ecr.h; protocol v2 with
 * pairing, docs/ecr-link.md).
 *
 * Input: one mode byte, then the lines the POS sends. A fake evt_hal_net hands the bytes to
 * evt_ecr_poll in chunks cut at seeded points (1 byte up to what the link asks for) and takes
 * the replies in seeded partial sends; a fake clock and entropy source stand in for the board.
 *
 * - Paired mode (any mode byte but 'S'): the harness is a paired POS. It reads the hello, sends
 *   the auth line with the pairing key, waits for auth_ok, then sends each input line signed
 *   (a line ending with '}' gets the next "seq" and its MAC; any other line goes as it is and
 *   costs the connection, after which the POS connects and pairs again). So the fuzzer works
 *   on what an authenticated POS can send.
 * - Stranger mode ('S'): the bytes go to the link as they are, like a device without the key.
 *
 * Invariants: poll returns only EVT_OK or EVT_ERR_NOMEM; a sale handed out is valid (order id,
 * 1..EVT_ORDER_MAX_ITEMS items, each amount = qty x price, total = sum, all within 16,2) and was
 * acked; every reply is one strict-JSON object line with "v":2 and a known type, signed with the
 * session's MAC and a growing "seq" once the connection is paired; a stranger never gets anything
 * but hello and error, and never starts a sale; an order settled or unknown is never handed out
 * again (one order id, at most one settlement); a visit header handed out is valid and acked, its
 * batches are valid as a sale's items; a refund handed out was acked and its order was never
 * refunded before (the store's refund_lookup answers a refunded order by itself: one refund per
 * order id); connections and arena blocks are all given back after evt_ecr_close.
 */
#include <stdio.h>
#include <string.h>

#include "ecr_auth.h"
#include "evt/ecr.h"
#include "evt/json.h"
#include "fuzz_support.h"

#define MAX_CONNS   16
#define REPLY_MAX   4096
#define OUTBOX_MAX  (EVT_ECR_LINE_MAX + 512)
#define CHALLENGE_N 32 /* hex characters of the terminal's challenge and the POS's nonce */

static const uint8_t pairing_key[EVT_ECR_KEY_BYTES] = {
    0x5e, 0xed, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
    0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e};

typedef struct conn {
    bool open;
    bool hello_seen;
    bool auth_sent;
    bool paired; /* auth_ok received */
    char session[2 * CHALLENGE_N + 1];
    uint64_t next_seq;      /* of the POS's next line */
    uint64_t last_term_seq; /* last "seq" the terminal sent */
    uint8_t outbox[OUTBOX_MAX];
    size_t out_len, out_pos;
    char reply[REPLY_MAX];
    size_t reply_len;
} conn;

typedef struct fake {
    const uint8_t *data;
    size_t len, pos;
    bool stranger;
    fuzz_rng rng;
    conn c[MAX_CONNS];
    int current; /* connection the POS uses, -1 when none */
    int made;
    bool listener_open;
    char last_type[16];
    char last_order_id[EVT_ORDER_ID_BYTES];
    uint64_t clock_ms;
} fake;

static fake f;

static conn *conn_of(evt_net_sock *sock)
{
    size_t i = (size_t)((uintptr_t)sock - 1);
    FUZZ_CHECK(i < MAX_CONNS && f.c[i].open, "a socket the link does not own");
    return &f.c[i];
}

/* ---- the POS side ---------------------------------------------------------------------- */

/* S without its final '}' + ,"mac":"<hex>"} + LF into the outbox. */
static void queue_signed(conn *c, const char *s, size_t len)
{
    char mac[ECR_AUTH_MAC_HEX + 1];
    FUZZ_CHECK(evt_ecr_auth_mac(pairing_key, 'P', c->session, (const uint8_t *)s, len, mac), "mac");
    FUZZ_CHECK(len + ECR_AUTH_SUFFIX_LEN + 1 <= OUTBOX_MAX, "outbox");
    memcpy(c->outbox, s, len - 1);
    c->out_len = len - 1;
    c->out_len += (size_t)snprintf((char *)c->outbox + c->out_len, OUTBOX_MAX - c->out_len,
                                   ",\"mac\":\"%s\"}\n", mac);
    c->out_pos = 0;
}

static void queue_auth(conn *c)
{
    char nonce[CHALLENGE_N + 1];
    for (size_t i = 0; i < CHALLENGE_N; i++) {
        nonce[i] = "0123456789abcdef"[fuzz_rng_below(&f.rng, 16)];
    }
    nonce[CHALLENGE_N] = '\0';
    char s[256];
    int n =
        snprintf(s, sizeof s,
                 "{\"v\":2,\"type\":\"auth\",\"pos\":\"fuzz\",\"nonce\":\"%s\",\"seq\":1}", nonce);
    queue_signed(c, s, (size_t)n);
    /* The session of every later MAC: the challenge, then the POS's nonce. */
    strncat(c->session, nonce, sizeof c->session - strlen(c->session) - 1);
    c->auth_sent = true;
    c->next_seq = 2;
}

/* The next input line, signed when it can be: "{...}" gets ,"seq":N before its '}'. */
static void queue_next_line(conn *c)
{
    const uint8_t *start = f.data + f.pos;
    const uint8_t *nl = memchr(start, '\n', f.len - f.pos);
    size_t n = nl != NULL ? (size_t)(nl - start) : f.len - f.pos;
    f.pos += n + (nl != NULL ? 1 : 0);
    size_t body = n > 0 && start[n - 1] == '\r' ? n - 1 : n;
    if (body == 0 || start[body - 1] != '}' || body + 64 > OUTBOX_MAX - ECR_AUTH_SUFFIX_LEN) {
        memcpy(c->outbox, start, body); /* unsigned: the link must drop the connection */
        c->outbox[body] = '\n';
        c->out_len = body + 1;
        c->out_pos = 0;
        return;
    }
    static char s[OUTBOX_MAX];
    size_t k = body - 1;
    while (k > 0 && (start[k - 1] == ' ' || start[k - 1] == '\t')) {
        k--;
    }
    bool empty_object = k > 0 && start[k - 1] == '{';
    memcpy(s, start, body - 1);
    size_t len = body - 1;
    len += (size_t)snprintf(s + len, sizeof s - len, "%s\"seq\":%llu}", empty_object ? "" : ",",
                            (unsigned long long)c->next_seq++);
    queue_signed(c, s, len);
}

/* ---- replies ------------------------------------------------------------------------------ */

static void check_reply(conn *c)
{
    size_t len = c->reply_len;
    size_t signed_len = len;
    bool has_mac = len >= ECR_AUTH_SUFFIX_LEN &&
                   memcmp(c->reply + len - ECR_AUTH_SUFFIX_LEN, ",\"mac\":\"", 8) == 0;
    if (has_mac) {
        FUZZ_CHECK(!f.stranger && c->auth_sent, "a signed reply before pairing");
        FUZZ_CHECK(evt_ecr_auth_open_line(pairing_key, 'T', c->session, (uint8_t *)c->reply, len,
                                          &signed_len),
                   "reply without a valid MAC: %.*s", (int)len, c->reply);
    }
    cJSON *root = NULL;
    evt_err err = evt_json_parse(c->reply, signed_len, &root);
    FUZZ_CHECK(err == EVT_OK && cJSON_IsObject(root), "reply is not one JSON object (%s)",
               evt_err_name(err));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
    FUZZ_CHECK(evt_json_is_number(v) && strcmp(evt_json_number_text(v), "2") == 0, "reply v");
    char type[16] = "";
    evt_json_get_string(root, "type", true, type, sizeof type, NULL);
    if (has_mac) {
        int64_t seq = 0;
        FUZZ_CHECK(evt_json_get_int(root, "seq", true, 1, INT64_MAX, &seq, NULL, NULL) == EVT_OK &&
                       (uint64_t)seq > c->last_term_seq,
                   "terminal seq not growing");
        c->last_term_seq = (uint64_t)seq;
        FUZZ_CHECK(strcmp(type, "auth_ok") == 0 || strcmp(type, "ack") == 0 ||
                       strcmp(type, "result") == 0 || strcmp(type, "error") == 0 ||
                       strcmp(type, "fees") == 0,
                   "signed reply type \"%s\"", type);
        if (strcmp(type, "auth_ok") == 0) {
            c->paired = true;
        }
    } else {
        /* Unsigned: the hello, or the error before the link hangs up on a line it refuses. */
        FUZZ_CHECK(strcmp(type, "hello") == 0 || strcmp(type, "error") == 0,
                   "unsigned reply of type \"%s\"", type);
        if (strcmp(type, "hello") == 0) {
            char challenge[2 * CHALLENGE_N + 2] = "";
            FUZZ_CHECK(!c->hello_seen &&
                           evt_json_get_string(root, "challenge", true, challenge, sizeof challenge,
                                               NULL) == EVT_OK &&
                           strlen(challenge) == CHALLENGE_N,
                       "hello");
            memcpy(c->session, challenge, sizeof c->session);
            c->hello_seen = true;
            if (!f.stranger) {
                queue_auth(c);
            }
        }
    }
    if (strcmp(type, "result") == 0) {
        char status[16] = "";
        evt_json_get_string(root, "status", true, status, sizeof status, NULL);
        char request[16] = "";
        evt_json_get_string(root, "request", false, request, sizeof request, NULL);
        bool refund = strcmp(request, "refund") == 0;
        FUZZ_CHECK(request[0] == '\0' || refund, "request \"%s\"", request);
        /* "refunded" answers a refund only; "settled" never does. */
        FUZZ_CHECK((!refund && strcmp(status, "settled") == 0) ||
                       (refund && strcmp(status, "refunded") == 0) ||
                       strcmp(status, "refused") == 0 || strcmp(status, "failed") == 0 ||
                       strcmp(status, "unknown") == 0 || strcmp(status, "busy") == 0,
                   "result status \"%s\"%s", status, refund ? " of a refund" : "");
    }
    memcpy(f.last_type, type, sizeof type);
    f.last_order_id[0] = '\0';
    evt_json_get_string(root, "order_id", false, f.last_order_id, sizeof f.last_order_id, NULL);
    evt_json_free(root);
}

/* ---- the fake network, clock and entropy -------------------------------------------------- */

static evt_err net_send(void *ctx, evt_net_sock *sock, const uint8_t *data, size_t len,
                        uint32_t timeout_ms, size_t *sent)
{
    (void)ctx;
    (void)timeout_ms;
    conn *c = conn_of(sock);
    FUZZ_CHECK(len > 0, "empty send");
    size_t n = 1 + fuzz_rng_below(&f.rng, (uint32_t)len); /* partial sends */
    for (size_t i = 0; i < n; i++) {
        if (data[i] == '\n') {
            c->reply[c->reply_len] = '\0';
            check_reply(c);
            c->reply_len = 0;
            continue;
        }
        FUZZ_CHECK(c->reply_len + 1 < REPLY_MAX, "reply line longer than %d bytes", REPLY_MAX);
        c->reply[c->reply_len++] = (char)data[i];
    }
    *sent = n;
    return EVT_OK;
}

static evt_err net_recv(void *ctx, evt_net_sock *sock, uint8_t *buf, size_t cap,
                        uint32_t timeout_ms, size_t *got)
{
    (void)ctx;
    (void)timeout_ms;
    conn *c = conn_of(sock);
    FUZZ_CHECK(cap > 0, "recv of 0 bytes");
    if (f.stranger) {
        if (f.pos == f.len) {
            return EVT_ERR_NET_CLOSED;
        }
        size_t n = 1 + fuzz_rng_below(&f.rng, (uint32_t)(cap < 4096 ? cap : 4096));
        n = n < f.len - f.pos ? n : f.len - f.pos;
        memcpy(buf, f.data + f.pos, n);
        f.pos += n;
        *got = n;
        return EVT_OK;
    }
    if (c->out_pos == c->out_len) {
        if (!c->paired) {
            return EVT_ERR_NET_TIMEOUT; /* waiting for auth_ok: a POS does not send ahead */
        }
        if (f.pos == f.len) {
            return EVT_ERR_NET_CLOSED; /* everything sent: the POS hangs up */
        }
        queue_next_line(c);
    }
    size_t n = 1 + fuzz_rng_below(&f.rng, (uint32_t)(cap < 4096 ? cap : 4096));
    n = n < c->out_len - c->out_pos ? n : c->out_len - c->out_pos;
    memcpy(buf, c->outbox + c->out_pos, n);
    c->out_pos += n;
    *got = n;
    return EVT_OK;
}

static void net_close(void *ctx, evt_net_sock *sock)
{
    (void)ctx;
    if (sock == (evt_net_sock *)&f.listener_open) {
        f.listener_open = false;
        return;
    }
    conn *c = conn_of(sock);
    c->open = false;
    if (f.current == c - f.c) {
        f.current = -1;
    }
}

static evt_err net_listen(void *ctx, const char *bind_addr, uint16_t port, evt_net_sock **out)
{
    (void)ctx;
    (void)bind_addr;
    (void)port;
    f.listener_open = true;
    *out = (evt_net_sock *)&f.listener_open;
    return EVT_OK;
}

/* The POS (re)connects while it has something to send and no connection. */
static evt_err net_accept(void *ctx, evt_net_sock *listener, uint32_t timeout_ms,
                          evt_net_sock **out)
{
    (void)ctx;
    (void)timeout_ms;
    FUZZ_CHECK(listener == (evt_net_sock *)&f.listener_open, "accept on another socket");
    if (f.current >= 0 || f.pos == f.len || f.made == MAX_CONNS) {
        return EVT_ERR_NET_TIMEOUT;
    }
    conn *c = &f.c[f.made];
    memset(c, 0, sizeof *c);
    c->open = true;
    f.current = f.made++;
    *out = (evt_net_sock *)(uintptr_t)f.made; /* index + 1: never NULL */
    return EVT_OK;
}

static evt_err sys_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)fuzz_rng_next(&f.rng);
    }
    return EVT_OK;
}

static uint64_t sys_monotonic_ms(void *ctx)
{
    (void)ctx;
    return ++f.clock_ms; /* a millisecond per look: no deadline passes during an input */
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
        evt_order_item line = evt_order_item_at(o, i);
        const evt_order_item *it = &line;
        FUZZ_CHECK(printable_id(it->med_list_codg, EVT_ORDER_CODE_MAX + 1) &&
                       printable_id(it->medins_list_codg, EVT_ORDER_MEDINS_CODE_MAX + 1),
                   "item %zu codes", i);
        size_t nl = strnlen(it->name, EVT_ORDER_NAME_MAX + 1);
        FUZZ_CHECK(nl > 0 && nl <= EVT_ORDER_NAME_MAX &&
                       fuzz_utf8_valid((const uint8_t *)it->name, nl),
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

/* Orders answered settled or unknown: a second settlement for them is what the link's
 * idempotency exists to prevent. Checked while the RAM store still holds them all. */
typedef struct ledger {
    char id[EVT_ECR_RAM_STORE_SLOTS][EVT_ORDER_ID_BYTES];
    size_t count;
    size_t saved;
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

/* A visit header handed out: the fields the counter relies on, and never a visit settled or in
 * doubt handed out again. */
static void check_visit(const evt_visit *v, const ledger *l)
{
    FUZZ_CHECK(printable_id(v->visit_id, sizeof v->visit_id), "visit id");
    bool chronic = strcmp(v->med_type, "14") == 0;
    FUZZ_CHECK(chronic || strcmp(v->med_type, "11") == 0, "med_type");
    FUZZ_CHECK(!chronic || v->dise_codg[0] != '\0', "dise_codg");
    FUZZ_CHECK(v->ipt_otp_no[0] != '\0', "ipt_otp_no");
    FUZZ_CHECK(v->line_count >= 1 && v->line_count <= EVT_VISIT_MAX_LINES, "lines %u",
               (unsigned)v->line_count);
    FUZZ_CHECK(v->total > 0 && evt_money_in_range(v->total), "total");
    FUZZ_CHECK(l->saved > EVT_ECR_RAM_STORE_SLOTS || !ledger_has(l, v->visit_id),
               "visit %s settled before is handed out again", v->visit_id);
}

/* Orders refunded so far (the refund book the app's hook reads). */
static ledger refunded;

/* The store's refund hook: a refunded order is answered by the link (refused, refunded before);
 * any other may start. */
static evt_err refund_lookup(void *ctx, const char *order_id, evt_ecr_result *out)
{
    (void)ctx;
    if (!ledger_has(&refunded, order_id)) {
        return EVT_ERR_NOT_FOUND;
    }
    memset(out, 0, sizeof *out);
    out->status = EVT_ECR_REFUSED;
    out->error = EVT_ERR_REFUND_DONE;
    snprintf(out->refunded_at, sizeof out->refunded_at, "2024-03-15 10:30");
    return EVT_OK;
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
    memset(&f, 0, sizeof f);
    f.current = -1;
    f.stranger = len > 0 && data[0] == 'S';
    f.data = data + (len > 0 ? 1 : 0);
    f.len = len > 0 ? len - 1 : 0;
    uint32_t seed = 2166136261u; /* cut points from the whole input: seeds stay plain text */
    for (size_t i = 0; i < len; i++) {
        seed = (seed ^ data[i]) * 16777619u;
    }
    fuzz_rng_seed(&f.rng, seed);
    const evt_hal_net net = {.send = net_send,
                             .recv = net_recv,
                             .close = net_close,
                             .listen = net_listen,
                             .accept = net_accept};
    const evt_hal_sys sys = {.entropy = sys_entropy, .monotonic_ms = sys_monotonic_ms};

    static evt_ecr ecr;
    static evt_ecr_ram_store rs;
    static ledger l;
    memset(&l, 0, sizeof l);
    evt_ecr_config cfg = {.net = &net, .sys = &sys, .port = 9100, .terminal_id = "T01"};
    evt_ecr_ram_store_init(&rs, &cfg.store);
    cfg.store.refund_lookup = refund_lookup;
    memset(&refunded, 0, sizeof refunded);
    memcpy(cfg.key, pairing_key, sizeof cfg.key);
    FUZZ_CHECK(evt_ecr_open(&ecr, &cfg) == EVT_OK, "open");

    /* Every pass moves bytes or a buffered line; bounded like the input. */
    for (size_t pass = 0; pass < 4 * len + 64; pass++) {
        static evt_order order;
        bool got = false;
        evt_err err = evt_ecr_poll(&ecr, 0, &order, &got);
        FUZZ_CHECK(err == EVT_OK || err == EVT_ERR_NOMEM, "poll: %s", evt_err_name(err));
        const evt_visit *visit = got ? evt_ecr_visit(&ecr) : NULL;
        const char *refund = got ? evt_ecr_refund(&ecr) : NULL;
        if (refund != NULL) {
            FUZZ_CHECK(!f.stranger, "a stranger started a refund");
            FUZZ_CHECK(visit == NULL, "a refund handed out as a visit");
            FUZZ_CHECK(printable_id(refund, EVT_ORDER_ID_BYTES), "refund order id");
            FUZZ_CHECK(!ledger_has(&refunded, refund), "order %s refunded twice", refund);
            FUZZ_CHECK(strcmp(f.last_type, "ack") == 0 && strcmp(f.last_order_id, refund) == 0,
                       "refund handed out without its ack");
            evt_ecr_result r;
            memset(&r, 0, sizeof r);
            memcpy(r.order_id, refund, strlen(refund) + 1);
            r.refund = true;
            r.status = EVT_ECR_REFUNDED;
            if (refunded.count < EVT_ECR_RAM_STORE_SLOTS) {
                memcpy(refunded.id[refunded.count++], r.order_id, sizeof r.order_id);
            }
            evt_ecr_reply(&ecr, &r);
            FUZZ_CHECK(evt_ecr_refund(&ecr) == NULL && !evt_ecr_order_open(&ecr),
                       "refund still open after its result");
        } else if (visit != NULL) {
            FUZZ_CHECK(!f.stranger, "a stranger started a visit");
            check_visit(visit, &l);
            FUZZ_CHECK(strcmp(f.last_type, "ack") == 0 &&
                           strcmp(f.last_order_id, visit->visit_id) == 0,
                       "visit handed out without its ack");
            /* A few of its batches, each as valid as a sale's items; then its result. */
            static evt_order batch, done;
            bool last = false;
            for (int b = 0; b < 3 && !last; b++) {
                if (evt_ecr_visit_fees(&ecr, &batch, &last) != EVT_OK) {
                    break;
                }
                /* The flow names the batch by its visit (clinic.c); its lines are the link's. */
                memcpy(batch.order_id, visit->visit_id, sizeof batch.order_id);
                batch.source = EVT_ORDER_FROM_ECR;
                check_order(&batch);
            }
            memset(&done, 0, sizeof done);
            memcpy(done.order_id, visit->visit_id, sizeof done.order_id);
            done.total = visit->total;
            finish_sale(&ecr, &done, &l);
            FUZZ_CHECK(evt_ecr_visit(&ecr) == NULL, "visit still open after its result");
        } else if (got) {
            FUZZ_CHECK(!f.stranger, "a stranger started a sale");
            check_order(&order);
            FUZZ_CHECK(evt_ecr_order_open(&ecr), "order handed out but not open");
            FUZZ_CHECK(l.saved > EVT_ECR_RAM_STORE_SLOTS || !ledger_has(&l, order.order_id),
                       "order %s settled before is handed out again", order.order_id);
            FUZZ_CHECK(strcmp(f.last_type, "ack") == 0 &&
                           strcmp(f.last_order_id, order.order_id) == 0,
                       "sale handed out without its ack");
            finish_sale(&ecr, &order, &l);
        }
        if (f.pos == f.len && f.current < 0) {
            break; /* the POS is gone and everything it had was sent */
        }
    }
    evt_ecr_close(&ecr);
    for (int i = 0; i < f.made; i++) {
        FUZZ_CHECK(!f.c[i].open, "connection %d left open", i);
    }
    FUZZ_CHECK(!f.listener_open, "listener left open");
    fuzz_arena_check_empty("ecr");
    return 0;
}
