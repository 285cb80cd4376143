/* evt_ecr: JSON-lines link to the pharmacy's POS software; protocol in docs/ecr-link.md. */
#include "evt/ecr.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "ecr_auth.h"
#include "evt/arena.h"
#include "evt/json.h"
#include "evt/jstream.h"
#include "evt/log.h"

#define LOG_MOD      "ecr"
#define BUF_BYTES    (EVT_ECR_LINE_MAX + 2) /* a maximal line plus its CR LF */
#define REPLY_BYTES  1536
#define DETAIL_BYTES 128
/* A POS that cannot take a small reply within this is gone or stuck; it reconnects and asks
 * again (results are stored). */
#define SEND_TIMEOUT 2000
/* Connections accepted per poll: a flood is closed in bounded slices, never in one long
 * pass that would starve the counter. */
#define ACCEPTS_PER_POLL 8
#define CHALLENGE_BYTES  16
#define HEX_OF(n)        ((n)*2)

_Static_assert(ECR_AUTH_KEY_BYTES == EVT_ECR_KEY_BYTES, "one key size");

const char *evt_ecr_status_name(evt_ecr_status status)
{
    switch (status) {
    case EVT_ECR_SETTLED:
        return "settled";
    case EVT_ECR_REFUSED:
        return "refused";
    case EVT_ECR_FAILED:
        return "failed";
    case EVT_ECR_UNKNOWN:
        return "unknown";
    case EVT_ECR_REFUNDED:
        return "refunded";
    case EVT_ECR_BUSY:
        break;
    }
    return "busy";
}

/* ---- in-RAM store ---------------------------------------------------------------------- */

static evt_err ram_lookup(void *ctx, const char *order_id, evt_ecr_result *out)
{
    const evt_ecr_ram_store *rs = ctx;
    for (size_t i = 0; i < rs->count; i++) {
        if (strcmp(rs->slots[i].order_id, order_id) == 0) {
            *out = rs->slots[i];
            return EVT_OK;
        }
    }
    return EVT_ERR_NOT_FOUND;
}

static evt_err ram_save(void *ctx, const evt_ecr_result *result)
{
    evt_ecr_ram_store *rs = ctx;
    for (size_t i = 0; i < rs->count; i++) {
        if (strcmp(rs->slots[i].order_id, result->order_id) == 0) {
            rs->slots[i] = *result;
            return EVT_OK;
        }
    }
    rs->slots[rs->next] = *result;
    rs->next = (uint8_t)((rs->next + 1u) % EVT_ECR_RAM_STORE_SLOTS);
    if (rs->count < EVT_ECR_RAM_STORE_SLOTS) {
        rs->count++;
    }
    return EVT_OK;
}

void evt_ecr_ram_store_init(evt_ecr_ram_store *rs, evt_ecr_store *store)
{
    if (rs == NULL || store == NULL) {
        return;
    }
    memset(rs, 0, sizeof *rs);
    store->ctx = rs;
    store->lookup = ram_lookup;
    store->save = ram_save;
}

/* ---- connections ------------------------------------------------------------------------ */

static uint64_t now_ms(const evt_ecr *ecr)
{
    return ecr->sys->monotonic_ms(ecr->sys->ctx);
}

static void conn_close(evt_ecr *ecr, evt_ecr_conn *c, const char *why)
{
    if (c->sock != NULL) {
        EVT_LOGI(LOG_MOD, "%s connection closed (%s)", c == &ecr->client ? "POS" : "pending", why);
        ecr->net->close(ecr->net->ctx, c->sock);
    }
    uint8_t *buf = c->buf;
    size_t cap = c->cap;
    memset(c, 0, sizeof *c);
    c->buf = buf;
    c->cap = cap;
}

static bool valid_key(const uint8_t key[EVT_ECR_KEY_BYTES])
{
    uint8_t any = 0;
    for (size_t i = 0; i < EVT_ECR_KEY_BYTES; i++) {
        any |= key[i];
    }
    return any != 0;
}

evt_err evt_ecr_open(evt_ecr *ecr, const evt_ecr_config *cfg)
{
    if (ecr == NULL || cfg == NULL || cfg->net == NULL || cfg->sys == NULL ||
        cfg->store.lookup == NULL || cfg->store.save == NULL || cfg->net->listen == NULL ||
        cfg->net->accept == NULL || cfg->sys->entropy == NULL || cfg->sys->monotonic_ms == NULL ||
        !valid_key(cfg->key)) {
        return EVT_ERR_ARG;
    }
    memset(ecr, 0, sizeof *ecr);
    ecr->net = cfg->net;
    ecr->sys = cfg->sys;
    ecr->store = cfg->store;
    memcpy(ecr->key, cfg->key, sizeof ecr->key);
    ecr->order_max_total = cfg->order_max_total > 0 ? cfg->order_max_total : EVT_FEN_MAX;
    snprintf(ecr->terminal_id, sizeof ecr->terminal_id, "%s",
             cfg->terminal_id != NULL ? cfg->terminal_id : "");
    ecr->send_timeout_ms = SEND_TIMEOUT;
    ecr->auth_timeout_ms = cfg->auth_timeout_ms ? cfg->auth_timeout_ms : EVT_ECR_AUTH_TIMEOUT_MS;
    for (size_t i = 0; i < EVT_ECR_PENDING_MAX; i++) {
        ecr->pending[i].buf = ecr->pending_buf[i];
        ecr->pending[i].cap = sizeof ecr->pending_buf[i];
    }
    ecr->client.buf = evt_malloc(BUF_BYTES);
    ecr->client.cap = BUF_BYTES;
    if (ecr->client.buf == NULL) {
        return EVT_ERR_NOMEM;
    }
    evt_err err = ecr->net->listen(ecr->net->ctx, cfg->bind_addr, cfg->port, &ecr->listener);
    if (err != EVT_OK) {
        evt_free(ecr->client.buf);
        memset(ecr, 0, sizeof *ecr);
        EVT_LOGE(LOG_MOD, "cannot listen on port %u: %s", (unsigned)cfg->port,
                 evt_err_log_text(err));
        return err;
    }
    EVT_LOGI(LOG_MOD, "listening on port %u (paired POS only)", (unsigned)cfg->port);
    return EVT_OK;
}

void evt_ecr_close(evt_ecr *ecr)
{
    if (ecr == NULL || ecr->net == NULL) {
        return;
    }
    conn_close(ecr, &ecr->client, "link closed");
    for (size_t i = 0; i < EVT_ECR_PENDING_MAX; i++) {
        conn_close(ecr, &ecr->pending[i], "link closed");
    }
    if (ecr->listener != NULL) {
        ecr->net->close(ecr->net->ctx, ecr->listener);
        ecr->listener = NULL;
    }
    evt_free(ecr->client.buf);
    ecr->client.buf = NULL;
    ecr->net = NULL;
}

void evt_ecr_set_external_busy(evt_ecr *ecr, bool busy)
{
    if (ecr != NULL) {
        ecr->external_busy = busy;
    }
}

bool evt_ecr_order_open(const evt_ecr *ecr)
{
    return ecr != NULL && ecr->order_open;
}

/* ---- replies --------------------------------------------------------------------------- */

static evt_err send_all(evt_ecr *ecr, evt_ecr_conn *c, const char *data, size_t len)
{
    if (c->sock == NULL) {
        return EVT_ERR_NET_CLOSED;
    }
    size_t off = 0;
    while (off < len) {
        size_t sent = 0;
        evt_err err = ecr->net->send(ecr->net->ctx, c->sock, (const uint8_t *)data + off, len - off,
                                     ecr->send_timeout_ms, &sent);
        if (err != EVT_OK || sent == 0) {
            conn_close(ecr, c, evt_err_log_text(err != EVT_OK ? err : EVT_ERR_NET_IO));
            return EVT_ERR_NET_CLOSED;
        }
        off += sent;
    }
    return EVT_OK;
}

/* A reply being written: compact JSON straight into its buffer (evt_json_writer: the bytes
 * cJSON would print for the same members, no tree), REPLY_BYTES of arena while it is built and
 * sent. Room is kept behind the text for the MAC suffix and the line end. */
typedef struct reply {
    evt_json_writer w;
    char *text;
    evt_err err; /* besides the writer's: no buffer, an amount that cannot be written */
} reply;

/* Starts a reply object with "v", "type" and "order_id" (when given). Always finished by
 * reply_send, which frees it. */
static void reply_begin(reply *r, const char *type, const char *order_id)
{
    r->text = evt_malloc(REPLY_BYTES);
    r->err = r->text != NULL ? EVT_OK : EVT_ERR_NOMEM;
    /* Without its buffer the writer only counts; reply_send reports the EVT_ERR_NOMEM. */
    evt_json_writer_init(&r->w, (uint8_t *)r->text, REPLY_BYTES - ECR_AUTH_SUFFIX_LEN - 2, NULL,
                         NULL);
    evt_json_write_object(&r->w, NULL);
    evt_json_write_int(&r->w, "v", EVT_ECR_PROTOCOL_VERSION);
    evt_json_write_string(&r->w, "type", type);
    if (order_id != NULL) {
        evt_json_write_string(&r->w, "order_id", order_id);
    }
}

/* Closes the reply, sends it on c as one line and frees it. On an authenticated connection
 * the line carries the terminal's next sequence number and its MAC (docs/ecr-link.md). */
static evt_err reply_send(evt_ecr *ecr, evt_ecr_conn *c, reply *r, bool sign)
{
    if (sign) {
        evt_json_write_int(&r->w, "seq", (int64_t)(c->tx_seq + 1));
    }
    evt_json_write_end(&r->w);
    size_t len = 0;
    evt_err err = evt_json_writer_finish(&r->w, &len);
    if (r->err != EVT_OK) {
        err = r->err;
    }
    char *text = r->text;
    if (err == EVT_OK && sign) {
        char mac[ECR_AUTH_MAC_HEX + 1];
        if (!evt_ecr_auth_mac(ecr->key, 'T', c->session, (const uint8_t *)text, len, mac)) {
            err = EVT_ERR_INTERNAL;
        } else {
            /* S without its '}' + ,"mac":"<hex>"} */
            len +=
                (size_t)snprintf(text + len - 1, REPLY_BYTES - len + 1, ",\"mac\":\"%s\"}", mac) -
                1;
            c->tx_seq++;
        }
    }
    if (err == EVT_OK) {
        text[len++] = '\n';
        err = send_all(ecr, c, text, len);
    }
    evt_free(text);
    return err;
}

/* An error reply (docs/ecr-link.md, "error"), begun: reply_send finishes it. */
static void reply_error(reply *r, const char *order_id, evt_err code, const char *detail)
{
    reply_begin(r, "error", order_id);
    evt_json_write_string(&r->w, "error", evt_err_name(code));
    evt_json_write_string(&r->w, "message", evt_err_cashier_text(code));
    evt_json_write_string(&r->w, "detail", detail);
}

static evt_err send_error(evt_ecr *ecr, const char *order_id, evt_err code, const char *detail)
{
    EVT_LOGW(LOG_MOD, "refused POS message: %s: %s", evt_err_name(code), detail);
    reply r;
    reply_error(&r, order_id, code, detail);
    return reply_send(ecr, &ecr->client, &r, true);
}

/* The one unsigned error a connection gets before the link hangs up on it. */
static void send_unauthenticated(evt_ecr *ecr, evt_ecr_conn *c, const char *detail)
{
    reply r;
    reply_error(&r, NULL, EVT_ERR_ECR_UNAUTHENTICATED, detail);
    reply_send(ecr, c, &r, false);
}

/* A refund's replies say so: the sale and its refund share the order id. */
static void reply_of_refund(reply *r, bool refund)
{
    if (refund) {
        evt_json_write_string(&r->w, "request", "refund");
    }
}

static evt_err send_ack(evt_ecr *ecr, const char *order_id, bool refund)
{
    reply r;
    reply_begin(&r, "ack", order_id);
    reply_of_refund(&r, refund);
    return reply_send(ecr, &ecr->client, &r, true);
}

static void add_amount(reply *r, const char *key, evt_fen fen, bool present)
{
    char text[EVT_MONEY_TEXT_BYTES] = "";
    if (present && evt_money_format(fen, text, sizeof text) == 0) {
        r->err = EVT_ERR_ARG;
    }
    evt_json_write_string(&r->w, key, text);
}

static evt_err send_result(evt_ecr *ecr, const evt_ecr_result *res)
{
    reply r;
    reply_begin(&r, "result", res->order_id);
    reply_of_refund(&r, res->refund);
    const char *message = res->message;
    if (message[0] == '\0') {
        message = res->status == EVT_ECR_SETTLED    ? "结算成功"
                  : res->status == EVT_ECR_REFUNDED ? "退费成功"
                                                    : evt_err_cashier_text(res->error);
    }
    evt_json_write_string(&r.w, "status", evt_ecr_status_name(res->status));
    evt_json_write_string(&r.w, "error", evt_err_name(res->error));
    evt_json_write_string(&r.w, "message", message);
    /* A refund refused because it was made before names that refund (its date and references)
     * for the POS's books; its amounts are the sale's, which the POS has. */
    bool refunded_before = res->refund && res->error == EVT_ERR_REFUND_DONE;
    if (res->status == EVT_ECR_SETTLED || res->status == EVT_ECR_REFUNDED || refunded_before) {
        evt_json_write_string(&r.w, "setl_id", res->setl_id);
        evt_json_write_string(&r.w, "msgid", res->msgid);
    }
    if (res->status == EVT_ECR_SETTLED || res->status == EVT_ECR_REFUNDED) {
        static const char *const keys[] = {"total", "fund", "account", "mutual_aid", "cash"};
        const evt_fen values[] = {res->total, res->fund, res->account, res->mutual_aid, res->cash};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            add_amount(&r, keys[i], values[i], true);
        }
        add_amount(&r, "balance", res->balance, res->balance_present);
    } else if (res->status == EVT_ECR_UNKNOWN && res->msgid[0] != '\0') {
        evt_json_write_string(&r.w, "msgid", res->msgid);
    }
    if (res->refund && res->refunded_at[0] != '\0') {
        evt_json_write_string(&r.w, "refunded_at", res->refunded_at);
    }
    if (res->blocked) {
        evt_json_write_bool(&r.w, "blocked", true);
    }
    return reply_send(ecr, &ecr->client, &r, true);
}

evt_err evt_ecr_send_report(evt_ecr *ecr, const evt_ecr_report *rep)
{
    if (ecr == NULL || rep == NULL || rep->date == NULL) {
        return EVT_ERR_ARG;
    }
    if (ecr->client.sock == NULL) {
        return EVT_ERR_NOT_FOUND;
    }
    reply r;
    reply_begin(&r, "batch_report", NULL);
    evt_json_write_int(&r.w, "report_version", EVT_ECR_REPORT_VERSION);
    evt_json_write_string(&r.w, "date", rep->date);
    evt_json_write_bool(&r.w, "balanced", rep->balanced);
    evt_json_write_int(&r.w, "sales", rep->sales);
    add_amount(&r, "sales_total", rep->sold, true);
    evt_json_write_int(&r.w, "visits", rep->visits);
    add_amount(&r, "visits_total", rep->visited, true);
    evt_json_write_int(&r.w, "refunds", rep->refunds);
    add_amount(&r, "refunds_total", rep->refunded, true);
    evt_json_write_int(&r.w, "reversals", rep->reversals);
    evt_json_write_int(&r.w, "differences", rep->differences);
    evt_json_write_array(&r.w, "operators");
    for (unsigned i = 0; i < rep->operator_count; i++) {
        const evt_ecr_report_operator *op = &rep->operators[i];
        evt_json_write_object(&r.w, NULL);
        evt_json_write_string(&r.w, "opter", op->id);
        evt_json_write_int(&r.w, "sales", op->sales);
        add_amount(&r, "sales_total", op->sold, true);
        evt_json_write_int(&r.w, "visits", op->visits);
        add_amount(&r, "visits_total", op->visited, true);
        evt_json_write_int(&r.w, "refunds", op->refunds);
        add_amount(&r, "refunds_total", op->refunded, true);
        evt_json_write_end(&r.w);
    }
    evt_json_write_end(&r.w);
    return reply_send(ecr, &ecr->client, &r, true);
}

static evt_err send_busy(evt_ecr *ecr, const char *order_id, bool refund)
{
    evt_ecr_result busy;
    memset(&busy, 0, sizeof busy);
    memcpy(busy.order_id, order_id, strlen(order_id) + 1);
    busy.status = EVT_ECR_BUSY;
    busy.error = EVT_ERR_BUSY;
    busy.refund = refund;
    return send_result(ecr, &busy);
}

evt_err evt_ecr_reply(evt_ecr *ecr, const evt_ecr_result *result)
{
    if (ecr == NULL || result == NULL || ecr->net == NULL ||
        memchr(result->order_id, '\0', sizeof result->order_id) == NULL) {
        return EVT_ERR_ARG;
    }
    evt_err save_err = EVT_OK;
    /* A refund's outcome is its record (store.refund_lookup reads it): saved under the order
     * id it would take the place of the sale's result. */
    if (result->status != EVT_ECR_BUSY && !result->refund) {
        save_err = ecr->store.save(ecr->store.ctx, result);
        if (save_err != EVT_OK) {
            EVT_LOGE(LOG_MOD, "could not store the result of order %s: %s", result->order_id,
                     evt_err_log_text(save_err));
        }
    }
    if (ecr->order_open && strcmp(ecr->open_order_id, result->order_id) == 0 &&
        result->refund == ecr->refund_open) {
        ecr->order_open = false;
        ecr->visit_open = false;
        ecr->refund_open = false;
    }
    EVT_LOGI(LOG_MOD, "order %s: %s (%s)", result->order_id, evt_ecr_status_name(result->status),
             evt_err_name(result->error));
    evt_err err = send_result(ecr, result);
    return save_err != EVT_OK ? save_err : err;
}

/* ---- reading a line -------------------------------------------------------------------- */

/*
 * A line is read while it is parsed (evt_jstream), never built into a tree: what the checks
 * need is kept as it passes — the verdict and value of each member the link knows, the first
 * member it does not, the item being read, the first problem of the items — so a sale of 100
 * items is read in the same memory as a sale of one (docs/ecr-link.md, "Parsing"). Nothing is
 * judged before the parser has accepted the whole line: a line that is not strict JSON gets
 * that answer, whatever else is wrong with it. The checks then run in the documented order,
 * not in the order the members came.
 */

/* The messages a POS sends; a member's bit set says which of them may carry it. */
enum { MSG_SALE, MSG_STATUS, MSG_AUTH, MSG_VISIT, MSG_FEES, MSG_REFUND, MSG_KINDS };
#define IN(msg) (1u << (msg))

/* Members of the messages; anything else is refused, so a misspelt optional field (a "totl"
 * meant as the cross-check) cannot pass unnoticed. Newer fields come with a new "v". */
enum {
    R_V,
    R_TYPE,
    R_ORDER_ID,
    R_ACCOUNT,
    R_ITEMS,
    R_TOTAL,
    R_SEQ,
    R_POS,
    R_NONCE,
    /* the visit's header (its texts in visit_texts order), then "fees" */
    R_OTP,
    R_MED_TYPE,
    R_DISE_CODG,
    R_DISE_NAME,
    R_DEPT_CODE,
    R_DEPT_NAME,
    R_ATDDR_NO,
    R_DR_NAME,
    R_CATY,
    R_LINES,
    R_BATCH,
    R_LAST,
    R_COUNT
};
static const char *const root_keys[R_COUNT] = {
    "v",         "type",       "order_id",  "use_personal_account",
    "items",     "total",      "seq",       "pos",
    "nonce",     "ipt_otp_no", "med_type",  "dise_codg",
    "dise_name", "dept_code",  "dept_name", "atddr_no",
    "dr_name",   "caty",       "lines",     "batch",
    "last"};
#define ALL_ORDERS (IN(MSG_SALE) | IN(MSG_STATUS) | IN(MSG_VISIT) | IN(MSG_FEES) | IN(MSG_REFUND))
#define VISIT_TEXT IN(MSG_VISIT)
static const uint8_t root_in[R_COUNT] = {
    ALL_ORDERS | IN(MSG_AUTH),    /* v */
    ALL_ORDERS | IN(MSG_AUTH),    /* type */
    ALL_ORDERS,                   /* order_id */
    IN(MSG_SALE) | IN(MSG_VISIT), /* use_personal_account */
    IN(MSG_SALE) | IN(MSG_FEES),  /* items */
    IN(MSG_SALE) | IN(MSG_VISIT), /* total */
    ALL_ORDERS | IN(MSG_AUTH),    /* seq */
    IN(MSG_AUTH),                 /* pos */
    IN(MSG_AUTH),                 /* nonce */
    VISIT_TEXT,
    VISIT_TEXT,
    VISIT_TEXT,
    VISIT_TEXT,
    VISIT_TEXT,
    VISIT_TEXT,
    VISIT_TEXT,
    VISIT_TEXT,
    VISIT_TEXT,    /* ipt_otp_no .. caty */
    IN(MSG_VISIT), /* lines */
    IN(MSG_FEES),  /* batch */
    IN(MSG_FEES),  /* last */
};

/* The visit's texts, R_OTP onwards in this order: where each goes, and whether it may be "". */
#define VISIT_FIELD(f, required)                                                                   \
    {                                                                                              \
        offsetof(evt_visit, f), sizeof(((evt_visit *)0)->f), required                              \
    }
static const struct {
    uint16_t offset, cap;
    bool required;
} visit_texts[R_LINES - R_OTP] = {
    VISIT_FIELD(ipt_otp_no, true), VISIT_FIELD(med_type, true),   VISIT_FIELD(dise_codg, false),
    VISIT_FIELD(dise_name, false), VISIT_FIELD(dept_code, false), VISIT_FIELD(dept_name, false),
    VISIT_FIELD(atddr_no, false),  VISIT_FIELD(dr_name, false),   VISIT_FIELD(caty, false),
};

/* Fields of an item, in the order they are checked and reported. */
enum { I_CODE, I_MEDINS, I_NAME, I_QTY, I_PRICE, I_AMOUNT, I_COUNT };
static const char *const item_keys[I_COUNT] = {
    "med_list_codg", "medins_list_codg", "name", "qty", "price", "amount"};

#define NO_MEMBER    0xFFu
#define KEY_ECHO_MAX 32 /* an unknown member is named in the detail only when short plain ASCII */

/* Strings are judged on the parser's token text, which holds them whole up to
 * EVT_JSTREAM_TEXT_BYTES - 1 bytes: every field that fits its buffer (the largest is a name)
 * comes whole, a longer one is "too long" by its full length. */
_Static_assert(EVT_ORDER_NAME_MAX + 1 <= EVT_JSTREAM_TEXT_BYTES &&
                   EVT_ORDER_ID_BYTES <= EVT_JSTREAM_TEXT_BYTES,
               "a field that fits is handed over whole");

/* The item being read. */
typedef struct item_reader {
    const char *why[I_COUNT]; /* each field's verdict, NULL when fine; "missing" until it comes */
    bool has_unknown;
    char unknown[KEY_ECHO_MAX + 1]; /* the first member that is no field, as echoed */
    char med_list_codg[EVT_ORDER_CODE_MAX + 1];
    char medins_list_codg[EVT_ORDER_MEDINS_CODE_MAX + 1];
    char name[EVT_ORDER_NAME_MAX + 1];
    int64_t quantity;
    evt_fen price;
    evt_fen amount; /* as given */
    bool amount_present;
} item_reader;

typedef struct line_reader {
    evt_jstream json;
    evt_jstream_keys keys; /* duplicate members are refused (an amount given twice) */
    evt_order *order;      /* second pass: the items are appended here; NULL: only validate */
    evt_json_kind root;    /* the top-level value */
    uint8_t member;        /* root member whose value comes next, NO_MEMBER: none of ours */
    uint8_t field;         /* the same for the item being read */
    bool in_items, in_item;
    evt_json_kind kind[R_COUNT]; /* EVT_JSON_ABSENT until the member comes */
    uint8_t type;                /* the MSG_* "type" names, MSG_KINDS for anything else */
    bool v_is_2, seq_ok;
    int64_t seq;
    const char *order_id_why, *nonce_why, *total_why; /* verdicts, NULL when fine */
    char order_id[EVT_ORDER_ID_BYTES];
    char nonce[HEX_OF(CHALLENGE_BYTES) + 1];
    evt_fen total;
    bool total_present;
    uint8_t unknown_seen; /* IN(msg): unknown[msg] holds the first member msg does not have */
    char unknown[MSG_KINDS][KEY_ECHO_MAX + 1];
    unsigned item_count;
    evt_fen sum;      /* of the item amounts so far */
    evt_err item_err; /* the first problem of the items, in their order */
    char item_detail[DETAIL_BYTES];
    item_reader item;
    evt_visit visit;       /* a visit header's texts as they came */
    const char *visit_why; /* the first visit text's verdict (NULL: all fine so far) */
    uint8_t visit_bad;     /* its member */
    bool lines_ok, batch_ok;
    int64_t lines, batch;
} line_reader;

static bool code_char(unsigned char c)
{
    return c > 0x20 && c < 0x7F;
}

/* Bytes >= 0x80 pass: display text is UTF-8, already checked by the parser. */
static bool text_char(unsigned char c)
{
    return c >= 0x20 && c != 0x7F;
}

/* A string of 1..cap-1 bytes, each accepted by char_ok (bad_char says why not), copied into
 * dst when fine. */
static const char *string_verdict(const evt_json_value *v, char *dst, size_t cap,
                                  bool (*char_ok)(unsigned char c), const char *bad_char)
{
    if (v->kind != EVT_JSON_STRING) {
        return "must be a string";
    }
    if (v->full_len == 0) {
        return "must not be empty";
    }
    if (v->full_len >= cap) {
        return "too long";
    }
    for (size_t i = 0; i < v->len; i++) {
        if (!char_ok((unsigned char)v->text[i])) {
            return bad_char;
        }
    }
    memcpy(dst, v->text, v->len + 1);
    return NULL;
}

/* Codes and ids: printable ASCII without spaces. */
static const char *code_verdict(const evt_json_value *v, char *dst, size_t cap)
{
    return string_verdict(v, dst, cap, code_char, "must be printable ASCII without spaces");
}

/* Amount as a decimal string or a JSON number, exact (evt_money_parse on its text). */
static const char *amount_verdict(const evt_json_value *v, bool required, evt_fen *out,
                                  bool *present)
{
    *out = 0;
    *present = false;
    if (v->kind != EVT_JSON_STRING && v->kind != EVT_JSON_NUMBER) {
        return "must be an amount (\"12.50\" or 12.50)";
    }
    evt_err err = evt_json_value_money(v, NULL, required, out, present, NULL);
    if (err == EVT_ERR_PROTO_FIELD_MISSING) {
        return "must not be empty";
    }
    if (err != EVT_OK || !*present) {
        return "not an exact amount with at most 2 decimals"; /* "" where it may be absent */
    }
    return *out < 0 ? "must not be negative" : NULL;
}

/* qty: a JSON integer 1..99999 ("2" and 1.5 are refused). */
static const char *qty_verdict(const evt_json_value *v, int64_t *out)
{
    if (v->kind != EVT_JSON_NUMBER ||
        evt_json_value_int(v, NULL, true, 1, EVT_ECR_ITEM_QTY_MAX, out, NULL, NULL) != EVT_OK) {
        return "must be a whole number 1-99999";
    }
    return NULL;
}

static uint8_t find_key(const char *key, const char *const *keys, unsigned count)
{
    for (unsigned i = 0; i < count; i++) {
        if (strcmp(key, keys[i]) == 0) {
            return (uint8_t)i;
        }
    }
    return NO_MEMBER;
}

/* An unknown member's name as the detail shows it: only short plain ASCII is echoed (it is the
 * POS's text), anything else as "". */
static void echo_key(const evt_jstream_token *tok, char out[KEY_ECHO_MAX + 1])
{
    bool plain = tok->full_len <= KEY_ECHO_MAX;
    for (size_t i = 0; plain && i < tok->len; i++) {
        plain = code_char((unsigned char)tok->text[i]);
    }
    size_t n = plain ? tok->len : 0;
    memcpy(out, tok->text, n);
    out[n] = '\0';
}

static void root_key(line_reader *r, const evt_jstream_token *tok)
{
    r->member = find_key(tok->text, root_keys, R_COUNT);
    unsigned in = r->member != NO_MEMBER ? root_in[r->member] : 0;
    for (unsigned msg = 0; msg < MSG_KINDS; msg++) {
        if ((in & IN(msg)) == 0 && (r->unknown_seen & IN(msg)) == 0) {
            r->unknown_seen |= (uint8_t)IN(msg);
            echo_key(tok, r->unknown[msg]);
        }
    }
}

static void root_value(line_reader *r, const evt_json_value *v)
{
    unsigned m = r->member;
    r->member = NO_MEMBER;
    if (m == NO_MEMBER) {
        return;
    }
    r->kind[m] = v->kind;
    switch (m) {
    case R_V:
        r->v_is_2 = v->kind == EVT_JSON_NUMBER && v->full_len == 1 && v->text[0] == '2';
        break;
    case R_TYPE:
        if (v->kind == EVT_JSON_STRING) {
            static const char *const types[MSG_KINDS] = {"sale",  "status", "auth",
                                                         "visit", "fees",   "refund"};
            r->type = find_key(v->text, types, MSG_KINDS);
            r->type = v->len == v->full_len && r->type != NO_MEMBER ? r->type : MSG_KINDS;
        }
        break;
    case R_ORDER_ID:
        r->order_id_why = code_verdict(v, r->order_id, sizeof r->order_id);
        break;
    case R_NONCE:
        r->nonce_why = code_verdict(v, r->nonce, sizeof r->nonce);
        break;
    case R_SEQ:
        r->seq_ok = v->kind == EVT_JSON_NUMBER &&
                    evt_json_value_int(v, NULL, true, 1, INT64_MAX, &r->seq, NULL, NULL) == EVT_OK;
        break;
    case R_TOTAL:
        r->total_why = amount_verdict(v, false, &r->total, &r->total_present);
        break;
    case R_ITEMS:
        r->in_items = v->kind == EVT_JSON_ARRAY;
        break;
    case R_LINES:
    case R_BATCH: {
        int64_t n = 0;
        bool ok = v->kind == EVT_JSON_NUMBER &&
                  evt_json_value_int(v, NULL, true, 1, INT64_MAX, &n, NULL, NULL) == EVT_OK;
        *(m == R_LINES ? &r->lines : &r->batch) = n;
        *(m == R_LINES ? &r->lines_ok : &r->batch_ok) = ok;
        break;
    }
    default: /* use_personal_account, last: their kind is their value; pos: anything */
        if (m >= R_OTP && m < R_LINES) {
            unsigned f = m - R_OTP;
            char *dst = (char *)&r->visit + visit_texts[f].offset;
            bool empty = v->kind == EVT_JSON_STRING && v->full_len == 0;
            const char *why = empty && !visit_texts[f].required
                                  ? NULL
                                  : string_verdict(v, dst, visit_texts[f].cap, text_char,
                                                   "must not contain control characters");
            if (why != NULL && r->visit_why == NULL) {
                r->visit_why = why;
                r->visit_bad = (uint8_t)m;
            }
        }
        break;
    }
}

static void item_begin(line_reader *r)
{
    item_reader *it = &r->item;
    memset(it, 0, sizeof *it);
    for (unsigned f = 0; f < I_AMOUNT; f++) {
        it->why[f] = "missing";
    }
    r->in_item = true;
    r->field = NO_MEMBER;
}

static void item_key(line_reader *r, const evt_jstream_token *tok)
{
    r->field = find_key(tok->text, item_keys, I_COUNT);
    if (r->field == NO_MEMBER && !r->item.has_unknown) {
        r->item.has_unknown = true;
        echo_key(tok, r->item.unknown);
    }
}

static void item_value(line_reader *r, const evt_json_value *v)
{
    item_reader *it = &r->item;
    unsigned f = r->field;
    r->field = NO_MEMBER;
    switch (f) {
    case I_CODE:
        it->why[f] = code_verdict(v, it->med_list_codg, sizeof it->med_list_codg);
        break;
    case I_MEDINS:
        it->why[f] = code_verdict(v, it->medins_list_codg, sizeof it->medins_list_codg);
        break;
    case I_NAME:
        it->why[f] = string_verdict(v, it->name, sizeof it->name, text_char,
                                    "must not contain control characters");
        break;
    case I_QTY:
        it->why[f] = qty_verdict(v, &it->quantity);
        break;
    case I_PRICE: {
        bool present = false;
        it->why[f] = amount_verdict(v, true, &it->price, &present);
        if (it->why[f] == NULL && it->price == 0) {
            it->why[f] = "must be greater than 0";
        }
        break;
    }
    case I_AMOUNT:
        it->why[f] = amount_verdict(v, false, &it->amount, &it->amount_present);
        break;
    default:
        break;
    }
}

/* The item just read, checked in the documented order; *amount = qty * price when fine. */
static evt_err item_verdict(const item_reader *it, unsigned index, char *detail, evt_fen *amount)
{
    if (it->has_unknown) {
        snprintf(detail, DETAIL_BYTES, "items[%u]: unknown field %s", index, it->unknown);
        return EVT_ERR_ECR_MALFORMED;
    }
    for (unsigned f = 0; f < I_AMOUNT; f++) {
        if (it->why[f] != NULL) {
            snprintf(detail, DETAIL_BYTES, "items[%u].%s: %s", index, item_keys[f], it->why[f]);
            return EVT_ERR_ECR_MALFORMED;
        }
    }
    /* price <= EVT_FEN_MAX and qty <= 99999 cannot overflow int64, but the product must
     * still fit a 16,2 field. */
    if (it->price > EVT_FEN_MAX / it->quantity) {
        snprintf(detail, DETAIL_BYTES, "items[%u].amount: qty * price too large", index);
        return EVT_ERR_ORDER_INVALID;
    }
    *amount = it->price * it->quantity;
    if (it->why[I_AMOUNT] != NULL) {
        snprintf(detail, DETAIL_BYTES, "items[%u].amount: %s", index, it->why[I_AMOUNT]);
        return EVT_ERR_ECR_MALFORMED;
    }
    if (it->amount_present && it->amount != *amount) {
        snprintf(detail, DETAIL_BYTES, "items[%u].amount: is not qty * price", index);
        return EVT_ERR_ORDER_INVALID;
    }
    return EVT_OK;
}

/* An element of "items" has passed (is_object: the item just read). Only the first problem
 * of the list is kept, as a reader of the whole list would report it; in the second pass a
 * good item goes into the order. */
static void item_end(line_reader *r, bool is_object)
{
    unsigned index = r->item_count++;
    r->in_item = false;
    if (r->item_err != EVT_OK) {
        return;
    }
    const item_reader *it = &r->item;
    char *detail = r->item_detail;
    evt_fen amount = 0;
    evt_err err = EVT_ERR_ECR_MALFORMED;
    if (!is_object) {
        snprintf(detail, DETAIL_BYTES, "items[%u]: must be an object", index);
    } else {
        err = item_verdict(it, index, detail, &amount);
    }
    if (err == EVT_OK && amount > EVT_FEN_MAX - r->sum) {
        snprintf(detail, DETAIL_BYTES, "total: sum of items too large");
        err = EVT_ERR_ORDER_INVALID;
    }
    if (err == EVT_OK && r->order != NULL) {
        err = evt_order_add_item(r->order, it->med_list_codg, it->medins_list_codg, it->name,
                                 (uint32_t)it->quantity, it->price);
        if (err != EVT_OK) {
            snprintf(detail, DETAIL_BYTES, "items[%u]: does not fit the order", index);
        }
    }
    r->sum += err == EVT_OK ? amount : 0;
    r->item_err = err;
}

/* evt_jstream callback: depth 0 is the message, 1 its members, 2 the elements of "items",
 * 3 the fields of an item; what lies deeper is only validated. */
static evt_err on_token(void *ctx, evt_jstream_event ev, const evt_jstream_token *tok)
{
    line_reader *r = ctx;
    evt_json_value v = evt_json_token_value(ev, tok);
    bool key = ev == EVT_JSTREAM_KEY;
    bool end = ev == EVT_JSTREAM_OBJECT_END || ev == EVT_JSTREAM_ARRAY_END;
    if (tok->depth == 0) {
        r->root = end ? r->root : v.kind;
    } else if (r->root != EVT_JSON_OBJECT) {
        /* not a message: nothing in it is looked at */
    } else if (tok->depth == 1) {
        if (key) {
            root_key(r, tok);
        } else if (end) {
            r->in_items = false; /* a member's array or object closed */
        } else {
            root_value(r, &v);
        }
    } else if (tok->depth == 2 && r->in_items) {
        if (ev == EVT_JSTREAM_OBJECT_BEGIN) {
            item_begin(r);
        } else if (ev == EVT_JSTREAM_OBJECT_END) {
            item_end(r, true);
        } else if (!end) {
            item_end(r, false);
        }
    } else if (tok->depth == 3 && r->in_item) {
        if (key) {
            item_key(r, tok);
        } else if (!end) {
            item_value(r, &v);
        }
    }
    return EVT_OK;
}

/* Reads a line's len bytes into r: EVT_OK when they are one strict JSON value, else the
 * parser's EVT_ERR_JSON_MALFORMED or EVT_ERR_JSON_TOO_LARGE. order NULL: validate only; else
 * the second pass, which appends the items to order. */
static evt_err read_line(line_reader *r, const uint8_t *text, size_t len, evt_order *order)
{
    memset(r, 0, sizeof *r);
    r->order = order;
    r->member = NO_MEMBER;
    r->field = NO_MEMBER;
    r->type = MSG_KINDS;
    r->order_id_why = "missing";
    r->nonce_why = "missing";
    evt_jstream_init(&r->json, &r->keys, on_token, r);
    evt_jstream_feed(&r->json, text, len); /* an error is kept and returned by finish */
    return evt_jstream_finish(&r->json);
}

/* The first member that message msg does not have, as the error detail; false when none. */
static bool unknown_member(const line_reader *r, unsigned msg, char *detail)
{
    if ((r->unknown_seen & IN(msg)) == 0) {
        return false;
    }
    snprintf(detail, DETAIL_BYTES, "unknown field %s", r->unknown[msg]);
    return true;
}

/* A member that must be true or false: false (with detail) when it is not. */
static bool bool_member(const line_reader *r, unsigned m, char *detail)
{
    evt_json_kind k = r->kind[m];
    if (k == EVT_JSON_TRUE || k == EVT_JSON_FALSE) {
        return true;
    }
    snprintf(detail, DETAIL_BYTES, "%s: %s", root_keys[m],
             k == EVT_JSON_ABSENT ? "missing" : "must be true or false");
    return false;
}

static evt_err items_verdict(const line_reader *r, char *detail);

/* The sale read into r, checked in the documented order: members, use_personal_account,
 * items, their count (too many before any item's problem: the POS must split the order in
 * any case), the first problem of the items, total. *total_out, *count_out when fine. */
static evt_err sale_verdict(const line_reader *r, char *detail, evt_fen *total_out,
                            unsigned *count_out)
{
    if (unknown_member(r, MSG_SALE, detail)) {
        return EVT_ERR_ECR_MALFORMED;
    }
    if (!bool_member(r, R_ACCOUNT, detail)) {
        return EVT_ERR_ECR_MALFORMED;
    }
    evt_err err = items_verdict(r, detail);
    if (err != EVT_OK) {
        return err;
    }
    if (r->total_why != NULL) {
        snprintf(detail, DETAIL_BYTES, "total: %s", r->total_why);
        return EVT_ERR_ECR_MALFORMED;
    }
    if (r->total_present && r->total != r->sum) {
        snprintf(detail, DETAIL_BYTES, "total: is not the sum of the item amounts");
        return EVT_ERR_ORDER_INVALID;
    }
    *total_out = r->sum;
    *count_out = r->item_count;
    return EVT_OK;
}

/* "items" of a sale or of a visit's batch: 1..EVT_ORDER_MAX_ITEMS good items (too many before
 * any item's problem: the sender must split them in any case). */
static evt_err items_verdict(const line_reader *r, char *detail)
{
    evt_json_kind items = r->kind[R_ITEMS];
    if (items != EVT_JSON_ARRAY) {
        snprintf(detail, DETAIL_BYTES, "items: %s",
                 items == EVT_JSON_ABSENT ? "missing" : "must be an array");
        return EVT_ERR_ECR_MALFORMED;
    }
    if (r->item_count < 1) {
        snprintf(detail, DETAIL_BYTES, "items: must hold 1 to %d items", EVT_ORDER_MAX_ITEMS);
        return EVT_ERR_ECR_MALFORMED;
    }
    if (r->item_count > EVT_ORDER_MAX_ITEMS) {
        /* Well-formed but beyond what the terminal settles in one sale (docs/ecr-link.md,
         * "Order size"): the POS splits it; nothing was started. */
        snprintf(detail, DETAIL_BYTES, "items: %u lines, above the terminal's maximum of %d",
                 r->item_count, EVT_ORDER_MAX_ITEMS);
        return EVT_ERR_ORDER_TOO_LARGE;
    }
    if (r->item_err != EVT_OK) {
        snprintf(detail, DETAIL_BYTES, "%s", r->item_detail);
        return r->item_err;
    }
    return EVT_OK;
}

/* "seq": the POS's sequence number, strictly growing on the connection: a line recorded and
 * played again cannot act twice. */
static bool fresh_seq(evt_ecr_conn *c, const line_reader *r)
{
    if (!r->seq_ok || (uint64_t)r->seq <= c->rx_seq) {
        return false;
    }
    c->rx_seq = (uint64_t)r->seq;
    return true;
}

/* ---- messages -------------------------------------------------------------------------- */

/* The visit header read into r, checked in the documented order (docs/ecr-link.md, "visit"). */
static evt_err visit_verdict(const evt_ecr *ecr, const line_reader *r, char *detail)
{
    if (unknown_member(r, MSG_VISIT, detail) || !bool_member(r, R_ACCOUNT, detail)) {
        return EVT_ERR_ECR_MALFORMED;
    }
    for (unsigned m = R_OTP; m < R_LINES; m++) {
        if (r->kind[m] == EVT_JSON_ABSENT && visit_texts[m - R_OTP].required) {
            snprintf(detail, DETAIL_BYTES, "%s: missing", root_keys[m]);
            return EVT_ERR_ECR_MALFORMED;
        }
    }
    const evt_visit *v = &r->visit;
    bool chronic = strcmp(v->med_type, "14") == 0;
    if (r->visit_why != NULL) {
        snprintf(detail, DETAIL_BYTES, "%s: %s", root_keys[r->visit_bad], r->visit_why);
    } else if (!chronic && strcmp(v->med_type, "11") != 0) {
        snprintf(detail, DETAIL_BYTES, "med_type: must be \"11\" or \"14\"");
    } else if (chronic && v->dise_codg[0] == '\0') {
        snprintf(detail, DETAIL_BYTES, "dise_codg: required for med_type 14");
    } else if (!r->lines_ok) {
        snprintf(detail, DETAIL_BYTES, "lines: %s",
                 r->kind[R_LINES] == EVT_JSON_ABSENT ? "missing" : "must be a whole number >= 1");
    } else if (r->total_why != NULL || !r->total_present) {
        snprintf(detail, DETAIL_BYTES, "total: %s", r->total_why ? r->total_why : "missing");
    } else if (r->total == 0) {
        snprintf(detail, DETAIL_BYTES, "total: must be greater than 0");
    } else if (r->lines > (int64_t)EVT_VISIT_MAX_LINES) {
        snprintf(detail, DETAIL_BYTES, "lines: above the terminal's maximum of %u",
                 EVT_VISIT_MAX_LINES);
        return EVT_ERR_ORDER_TOO_LARGE;
    } else if (r->total > ecr->order_max_total) {
        snprintf(detail, DETAIL_BYTES, "total: above the terminal's maximum");
        return EVT_ERR_ORDER_TOO_LARGE;
    } else {
        return EVT_OK;
    }
    return EVT_ERR_ECR_MALFORMED;
}

/* An order id already handed out, settled or in doubt gets its answer; busy when another is
 * being served. true when the link answered (the order is not handed out). */
static bool answered_already(evt_ecr *ecr, const char *order_id, evt_err *err)
{
    if (ecr->order_open && !ecr->refund_open && strcmp(ecr->open_order_id, order_id) == 0) {
        /* The POS resent the order it is waiting for (e.g. after reconnecting). */
        *err = send_ack(ecr, order_id, false);
        return true;
    }
    evt_ecr_result stored;
    if (ecr->store.lookup(ecr->store.ctx, order_id, &stored) == EVT_OK &&
        (stored.status == EVT_ECR_SETTLED || stored.status == EVT_ECR_UNKNOWN || stored.blocked)) {
        /* Idempotent: money moved (or may have) for this order; never a second settlement.
         * Refused and failed orders may be tried again, unless a supervisor must decide. */
        EVT_LOGI(LOG_MOD, "order %s repeated: stored result returned", order_id);
        *err = send_result(ecr, &stored);
        return true;
    }
    if (ecr->order_open || ecr->external_busy || ecr->serving_busy) {
        /* serving_busy: a pass of evt_ecr_serve_busy, which never hands anything out. */
        *err = send_busy(ecr, order_id, false);
        return true;
    }
    return false;
}

static evt_err handle_visit(evt_ecr *ecr, const line_reader *r, const char *order_id, bool *got)
{
    char detail[DETAIL_BYTES];
    evt_err code = visit_verdict(ecr, r, detail);
    if (code != EVT_OK) {
        return send_error(ecr, order_id, code, detail);
    }
    evt_err err = EVT_OK;
    if (answered_already(ecr, order_id, &err)) {
        return err;
    }
    ecr->visit = r->visit;
    memcpy(ecr->visit.visit_id, order_id, strlen(order_id) + 1);
    ecr->visit.use_personal_account = r->kind[R_ACCOUNT] == EVT_JSON_TRUE;
    ecr->visit.line_count = (uint32_t)r->lines;
    ecr->visit.total = r->total;
    ecr->visit_open = true;
    ecr->fees_batch = 0;
    ecr->order_open = true;
    memcpy(ecr->open_order_id, order_id, strlen(order_id) + 1);
    *got = true;
    EVT_LOGI(LOG_MOD, "visit %s accepted: %u fee lines announced", order_id, (unsigned)r->lines);
    return send_ack(ecr, order_id, false);
}

/* A batch of the open visit's fee lines, answering the terminal's "fees" request. */
static evt_err handle_fees(evt_ecr *ecr, line_reader *r, const uint8_t *text, size_t len,
                           const char *order_id)
{
    char detail[DETAIL_BYTES];
    evt_err code = EVT_ERR_ECR_MALFORMED;
    bool asked = ecr->fees_out != NULL && strcmp(ecr->open_order_id, order_id) == 0;
    if (unknown_member(r, MSG_FEES, detail) || !bool_member(r, R_LAST, detail)) {
        /* detail says why */
    } else if (!asked || !r->batch_ok || (uint64_t)r->batch != ecr->fees_batch) {
        snprintf(detail, sizeof detail, "batch: not the one asked for (%u)",
                 (unsigned)ecr->fees_batch);
    } else {
        code = items_verdict(r, detail);
    }
    if (code == EVT_OK) {
        /* Second pass over the same bytes, into the batch the terminal asked for. */
        evt_order *out = ecr->fees_out;
        evt_order_clear_items(out);
        if (read_line(r, text, len, out) != EVT_OK || items_verdict(r, detail) != EVT_OK) {
            code = EVT_ERR_INTERNAL;
            snprintf(detail, sizeof detail, "batch changed between passes");
        }
    }
    if (code != EVT_OK) {
        if (asked) {
            ecr->fees_err = code; /* the visit cannot go on without this batch */
        }
        return send_error(ecr, order_id, code, detail);
    }
    ecr->fees_got = true;
    ecr->fees_last = r->kind[R_LAST] == EVT_JSON_TRUE;
    return EVT_OK;
}

/* A sale read into r (the line's text, len bytes, is read again for the order). */
static evt_err handle_sale(evt_ecr *ecr, line_reader *r, const uint8_t *text, size_t len,
                           const char *order_id, evt_order *out, bool *got)
{
    char detail[DETAIL_BYTES];
    evt_fen order_total = 0;
    unsigned item_count = 0;
    evt_err code = sale_verdict(r, detail, &order_total, &item_count);
    if (code == EVT_OK && order_total > ecr->order_max_total) {
        /* A price typed with three zeros too many must not reach a patient's account. */
        char max[EVT_MONEY_TEXT_BYTES];
        evt_money_format(ecr->order_max_total, max, sizeof max);
        snprintf(detail, sizeof detail, "total: above the terminal's maximum %s", max);
        code = EVT_ERR_ORDER_TOO_LARGE;
    }
    if (code != EVT_OK) {
        return send_error(ecr, order_id, code, detail);
    }
    evt_err err = EVT_OK;
    if (answered_already(ecr, order_id, &err)) {
        return err;
    }
    /* Handed out: only now is the caller's order written (it holds the last receipt's order
     * until then), by a second pass over the same bytes, so the same verdict. */
    memset(out, 0, sizeof *out);
    memcpy(out->order_id, order_id, strlen(order_id) + 1);
    if (read_line(r, text, len, out) != EVT_OK ||
        sale_verdict(r, detail, &order_total, &item_count) != EVT_OK) {
        return send_error(ecr, order_id, EVT_ERR_INTERNAL, "order changed between passes");
    }
    out->source = EVT_ORDER_FROM_ECR;
    out->use_personal_account = r->kind[R_ACCOUNT] == EVT_JSON_TRUE;
    ecr->order_open = true;
    memcpy(ecr->open_order_id, order_id, strlen(order_id) + 1);
    *got = true;
    char total[EVT_MONEY_TEXT_BYTES];
    evt_money_format(order_total, total, sizeof total);
    EVT_LOGI(LOG_MOD, "order %s accepted: %u items, total %s", order_id, item_count, total);
    return send_ack(ecr, order_id, false);
}

/* A refund of the sale or visit order_id (docs/ecr-link.md "refund"): its stored outcome or
 * why it cannot be, at once; busy while anything runs (the same refund too: it waits for the
 * supervisor at the terminal); else handed out, acked. */
static evt_err handle_refund(evt_ecr *ecr, const line_reader *r, const char *order_id, bool *got)
{
    char detail[DETAIL_BYTES];
    if (unknown_member(r, MSG_REFUND, detail)) {
        return send_error(ecr, order_id, EVT_ERR_ECR_MALFORMED, detail);
    }
    if (ecr->store.refund_lookup == NULL) {
        return send_error(ecr, order_id, EVT_ERR_UNSUPPORTED, "refund: not taken from the POS");
    }
    bool running = ecr->order_open && ecr->refund_open && strcmp(ecr->open_order_id, order_id) == 0;
    evt_ecr_result answer;
    evt_err found = EVT_ERR_NOT_FOUND;
    if (!running) {
        memset(&answer, 0, sizeof answer);
        found = ecr->store.refund_lookup(ecr->store.ctx, order_id, &answer);
    }
    if (found == EVT_OK) {
        /* Never a second 2103: a refund made, in doubt or impossible is answered from the
         * order book. */
        memcpy(answer.order_id, order_id, strlen(order_id) + 1);
        answer.refund = true;
        EVT_LOGI(LOG_MOD, "refund of order %s answered: %s (%s)", order_id,
                 evt_ecr_status_name(answer.status), evt_err_name(answer.error));
        return send_result(ecr, &answer);
    }
    if (found != EVT_ERR_NOT_FOUND) {
        return send_error(ecr, order_id, found, "refund: the order book could not be read");
    }
    if (running || ecr->order_open || ecr->external_busy || ecr->serving_busy) {
        return send_busy(ecr, order_id, true);
    }
    ecr->order_open = true;
    ecr->refund_open = true;
    memcpy(ecr->open_order_id, order_id, strlen(order_id) + 1);
    *got = true;
    EVT_LOGI(LOG_MOD, "refund of order %s accepted", order_id);
    return send_ack(ecr, order_id, true);
}

static evt_err handle_status(evt_ecr *ecr, const line_reader *r, const char *order_id)
{
    char detail[DETAIL_BYTES];
    if (unknown_member(r, MSG_STATUS, detail)) {
        return send_error(ecr, order_id, EVT_ERR_ECR_MALFORMED, detail);
    }
    if (ecr->order_open && !ecr->refund_open && strcmp(ecr->open_order_id, order_id) == 0) {
        return send_ack(ecr, order_id, false);
    }
    evt_ecr_result stored;
    if (ecr->store.lookup(ecr->store.ctx, order_id, &stored) == EVT_OK) {
        return send_result(ecr, &stored);
    }
    return send_error(ecr, order_id, EVT_ERR_NOT_FOUND, "no result stored for this order");
}

/* One authenticated line (its signed text): read, check, act. Replies that cannot be sent
 * only cost the connection: never an error for the caller (EVT_ERR_NOMEM excepted). */
static evt_err dispatch_line(evt_ecr *ecr, const uint8_t *text, size_t len, evt_order *out,
                             bool *got)
{
    line_reader r; /* on the stack: the same few KiB for any line */
    evt_err err = read_line(&r, text, len, NULL);
    if (err == EVT_ERR_JSON_TOO_LARGE) {
        /* Valid JSON perhaps, but no message has that many members (docs/ecr-link.md). */
        send_error(ecr, NULL, EVT_ERR_ECR_MALFORMED,
                   "more than 128 fields in an object and the objects around it");
        return EVT_OK;
    }
    if (err != EVT_OK) {
        send_error(ecr, NULL, EVT_ERR_ECR_MALFORMED,
                   "not one valid JSON value (RFC 8259, UTF-8, no duplicate keys)");
        return EVT_OK;
    }
    if (r.root != EVT_JSON_OBJECT) {
        send_error(ecr, NULL, EVT_ERR_ECR_MALFORMED, "message must be a JSON object");
        return EVT_OK;
    }
    if (!fresh_seq(&ecr->client, &r)) {
        EVT_LOGW(LOG_MOD, "POS line with a missing or repeated seq: connection dropped");
        conn_close(ecr, &ecr->client, "sequence number not fresh");
        return EVT_OK;
    }
    char order_id[EVT_ORDER_ID_BYTES];
    memcpy(order_id, r.order_id, sizeof order_id);
    const char *why = r.order_id_why;
    const char *reply_id = why == NULL ? order_id : NULL;
    evt_json_kind type = r.kind[R_TYPE];
    if (r.kind[R_V] != EVT_JSON_ABSENT && !r.v_is_2) {
        err = send_error(ecr, reply_id, EVT_ERR_ECR_VERSION, "v: this terminal speaks v 2");
    } else if (type != EVT_JSON_STRING) {
        err = send_error(ecr, reply_id, EVT_ERR_ECR_MALFORMED,
                         type == EVT_JSON_ABSENT ? "type: missing" : "type: must be a string");
    } else if (r.type == MSG_AUTH || r.type == MSG_KINDS) {
        err = send_error(ecr, reply_id, EVT_ERR_ECR_MALFORMED,
                         "type: must be \"sale\", \"status\", \"visit\", \"fees\" or \"refund\"");
    } else if (why != NULL) {
        char detail[DETAIL_BYTES];
        snprintf(detail, sizeof detail, "order_id: %s",
                 strcmp(why, "too long") == 0 ? "longer than 40 characters" : why);
        err = send_error(ecr, NULL, EVT_ERR_ECR_MALFORMED, detail);
    } else if (r.type == MSG_SALE) {
        err = handle_sale(ecr, &r, text, len, order_id, out, got);
    } else if (r.type == MSG_VISIT) {
        err = handle_visit(ecr, &r, order_id, got);
    } else if (r.type == MSG_FEES) {
        err = handle_fees(ecr, &r, text, len, order_id);
    } else if (r.type == MSG_REFUND) {
        err = handle_refund(ecr, &r, order_id, got);
    } else {
        err = handle_status(ecr, &r, order_id);
    }
    return err == EVT_ERR_NOMEM ? err : EVT_OK;
}

/* A complete line from the current POS: authenticated first, then handled. */
static evt_err handle_line(evt_ecr *ecr, uint8_t *line, size_t len, evt_order *out, bool *got)
{
    size_t text_len = 0;
    if (!evt_ecr_auth_open_line(ecr->key, 'P', ecr->client.session, line, len, &text_len)) {
        EVT_LOGW(LOG_MOD, "POS line without a valid MAC: connection dropped");
        send_unauthenticated(ecr, &ecr->client, "mac: missing or wrong");
        conn_close(ecr, &ecr->client, "unauthenticated line");
        return EVT_OK;
    }
    return dispatch_line(ecr, line, text_len, out, got);
}

static bool blank_line(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != ' ' && p[i] != '\t') {
            return false;
        }
    }
    return true;
}

static void consume(evt_ecr_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->fill - n);
    c->fill -= n;
}

/* Handles complete lines in the current connection's buffer until one yields an order. */
static evt_err process_buffer(evt_ecr *ecr, evt_order *out, bool *got)
{
    evt_ecr_conn *c = &ecr->client;
    while (c->sock != NULL && c->fill > 0) {
        uint8_t *nl = memchr(c->buf, '\n', c->fill);
        if (c->discarding) {
            if (nl == NULL) {
                c->fill = 0;
                return EVT_OK;
            }
            consume(c, (size_t)(nl - c->buf) + 1);
            c->discarding = false;
            continue;
        }
        if (nl == NULL) {
            if (c->fill >= c->cap) {
                /* Too long to be one of ours: answer once, then resynchronise at the next
                 * newline so the link stays usable. */
                c->fill = 0;
                c->discarding = true;
                send_error(ecr, NULL, EVT_ERR_ECR_TOO_LONG, "line longer than 16384 bytes");
            }
            return EVT_OK;
        }
        size_t consumed = (size_t)(nl - c->buf) + 1;
        size_t len = consumed - 1;
        if (len > 0 && c->buf[len - 1] == '\r') {
            len--;
        }
        evt_err err = EVT_OK;
        if (len > EVT_ECR_LINE_MAX) {
            send_error(ecr, NULL, EVT_ERR_ECR_TOO_LONG, "line longer than 16384 bytes");
        } else if (!blank_line(c->buf, len)) {
            err = handle_line(ecr, c->buf, len, out, got);
        }
        if (c->sock == NULL) {
            return err; /* the connection (and its buffer) is gone */
        }
        consume(c, consumed);
        if (*got || err != EVT_OK || ecr->fees_got || ecr->fees_err != EVT_OK) {
            return err;
        }
    }
    return EVT_OK;
}

/* ---- authentication of new connections ------------------------------------------------- */

static void to_hex(const uint8_t *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 0x0F];
    }
    out[2 * n] = '\0';
}

/* A new connection: a fresh challenge in the hello, and a slot until it authenticates. */
static void admit(evt_ecr *ecr, evt_net_sock *sock)
{
    evt_ecr_conn *slot = NULL;
    for (size_t i = 0; i < EVT_ECR_PENDING_MAX && slot == NULL; i++) {
        slot = ecr->pending[i].sock == NULL ? &ecr->pending[i] : NULL;
    }
    uint8_t challenge[CHALLENGE_BYTES];
    if (slot == NULL || ecr->sys->entropy(ecr->sys->ctx, challenge, sizeof challenge) != EVT_OK) {
        /* More strangers than slots (or no randomness): refuse at once, keep the counter. */
        ecr->refused_connections++;
        ecr->net->close(ecr->net->ctx, sock);
        EVT_LOGW(LOG_MOD, "connection refused: %s",
                 slot == NULL ? "too many unauthenticated connections" : "no entropy");
        return;
    }
    slot->sock = sock;
    slot->fill = 0;
    slot->rx_seq = 0;
    slot->tx_seq = 0;
    slot->deadline = now_ms(ecr) + ecr->auth_timeout_ms;
    to_hex(challenge, sizeof challenge, slot->session);
    reply r;
    reply_begin(&r, "hello", NULL);
    evt_json_write_string(&r.w, "terminal", ecr->terminal_id);
    evt_json_write_string(&r.w, "challenge", slot->session);
    if (reply_send(ecr, slot, &r, false) != EVT_OK && slot->sock != NULL) {
        conn_close(ecr, slot, "hello not built");
    }
}

/* The auth line of a pending connection (its first len bytes; consumed with the line end):
 * MAC over the challenge, a nonce of the POS's own, seq 1. Success makes it the POS connection
 * (replacing the old one). */
static void authenticate(evt_ecr *ecr, evt_ecr_conn *p, uint8_t *line, size_t len, size_t consumed)
{
    size_t text_len = 0;
    line_reader r;
    char detail[DETAIL_BYTES] = "mac: missing or wrong";
    bool ok = evt_ecr_auth_open_line(ecr->key, 'P', p->session, line, len, &text_len) &&
              read_line(&r, line, text_len, NULL) == EVT_OK && r.root == EVT_JSON_OBJECT &&
              !unknown_member(&r, MSG_AUTH, detail);
    if (ok) {
        ok = r.type == MSG_AUTH && r.v_is_2 && r.nonce_why == NULL &&
             strlen(r.nonce) == HEX_OF(CHALLENGE_BYTES) && fresh_seq(p, &r);
        if (!ok) {
            snprintf(detail, sizeof detail, "auth: v 2, type auth, nonce (32 hex), seq 1");
        }
    }
    if (!ok) {
        ecr->refused_connections++;
        send_unauthenticated(ecr, p, detail);
        EVT_LOGW(LOG_MOD, "connection refused: %s", detail);
        conn_close(ecr, p, "not authenticated");
        return;
    }
    /* The session binds every later MAC to this connection and to both sides' randomness: a
     * line recorded on another connection is worthless here. */
    /* challenge (32 hex) + nonce (32 hex) = the 64 characters session holds */
    memcpy(p->session + HEX_OF(CHALLENGE_BYTES), r.nonce, HEX_OF(CHALLENGE_BYTES) + 1);
    if (ecr->client.sock != NULL) {
        conn_close(ecr, &ecr->client, "replaced by a newly authenticated POS connection");
    }
    uint8_t *buf = ecr->client.buf;
    size_t cap = ecr->client.cap;
    ecr->client = *p;
    ecr->client.buf = buf;
    ecr->client.cap = cap;
    /* What came right behind the auth line (a POS need not wait for auth_ok) is its first
     * request: it moves on to the POS connection's buffer. Dropping it would cut that line and
     * fail its MAC. */
    _Static_assert(sizeof ecr->pending_buf[0] <= EVT_ECR_LINE_MAX, "leftover fits the line buffer");
    ecr->client.fill = p->fill - consumed;
    memcpy(buf, p->buf + consumed, ecr->client.fill);
    memset(p, 0, sizeof *p);
    p->buf = ecr->pending_buf[p - ecr->pending];
    p->cap = sizeof ecr->pending_buf[0];
    EVT_LOGI(LOG_MOD, "POS connected and authenticated");
    reply ok_reply;
    reply_begin(&ok_reply, "auth_ok", NULL);
    evt_json_write_string(&ok_reply.w, "terminal", ecr->terminal_id);
    reply_send(ecr, &ecr->client, &ok_reply, true);
}

/* Reads what a pending connection sent (waiting at most wait_ms) and acts on a complete auth
 * line. */
static void serve_pending(evt_ecr *ecr, evt_ecr_conn *p, uint32_t wait_ms)
{
    if (now_ms(ecr) >= p->deadline) {
        ecr->refused_connections++;
        conn_close(ecr, p, "did not authenticate in time");
        return;
    }
    size_t n = 0;
    evt_err err =
        ecr->net->recv(ecr->net->ctx, p->sock, p->buf + p->fill, p->cap - p->fill, wait_ms, &n);
    if (err == EVT_ERR_NET_TIMEOUT) {
        return;
    }
    if (err != EVT_OK) {
        conn_close(ecr, p, evt_err_log_text(err));
        return;
    }
    p->fill += n;
    uint8_t *nl = memchr(p->buf, '\n', p->fill);
    if (nl == NULL) {
        if (p->fill >= p->cap) {
            /* Not an auth line (a stranger's sale, garbage): say so once, then hang up. */
            ecr->refused_connections++;
            send_unauthenticated(ecr, p, "first line must be an auth line");
            conn_close(ecr, p, "auth line too long");
        }
        return;
    }
    size_t len = (size_t)(nl - p->buf);
    size_t consumed = len + 1;
    if (len > 0 && p->buf[len - 1] == '\r') {
        len--;
    }
    authenticate(ecr, p, p->buf, len, consumed);
}

/* ---- the poll ---------------------------------------------------------------------------- */

static evt_err accept_new(evt_ecr *ecr, uint32_t wait_ms)
{
    for (int i = 0; i < ACCEPTS_PER_POLL; i++) {
        evt_net_sock *sock = NULL;
        evt_err err = ecr->net->accept(ecr->net->ctx, ecr->listener, i == 0 ? wait_ms : 0, &sock);
        if (err == EVT_ERR_NET_TIMEOUT) {
            return EVT_OK;
        }
        if (err != EVT_OK) {
            return err;
        }
        admit(ecr, sock);
    }
    return EVT_OK;
}

static uint32_t pending_count(const evt_ecr *ecr)
{
    uint32_t n = 0;
    for (size_t i = 0; i < EVT_ECR_PENDING_MAX; i++) {
        n += ecr->pending[i].sock != NULL;
    }
    return n;
}

/* One pass of the link (evt_ecr_poll); out NULL answers every new sale "busy". */
static evt_err poll_pass(evt_ecr *ecr, uint32_t timeout_ms, evt_order *out, bool *got)
{
    evt_err err = process_buffer(ecr, out, got);
    if (*got || err != EVT_OK) {
        return err;
    }
    /* The HAL waits on one socket at a time: the pass's wait goes to the POS connection when
     * there is one, else shared by the pending connections, else to the listener. Whoever
     * does not get it is only looked at (a new connection is accepted at the next pass). */
    uint32_t pending = pending_count(ecr);
    bool have_client = ecr->client.sock != NULL;
    uint32_t accept_wait = have_client || pending > 0 ? 0 : timeout_ms;
    evt_err listen_err = accept_new(ecr, accept_wait);
    uint32_t pending_wait = have_client || pending == 0 ? 0 : timeout_ms / pending;
    for (size_t i = 0; i < EVT_ECR_PENDING_MAX; i++) {
        if (ecr->pending[i].sock != NULL) {
            serve_pending(ecr, &ecr->pending[i], pending_wait);
        }
    }
    evt_ecr_conn *c = &ecr->client;
    if (c->sock != NULL) {
        uint32_t recv_wait = have_client ? timeout_ms : 0;
        size_t n = 0;
        evt_err rerr = ecr->net->recv(ecr->net->ctx, c->sock, c->buf + c->fill, c->cap - c->fill,
                                      recv_wait, &n);
        if (rerr == EVT_OK) {
            c->fill += n;
            err = process_buffer(ecr, out, got);
        } else if (rerr != EVT_ERR_NET_TIMEOUT) {
            conn_close(ecr, c, evt_err_log_text(rerr));
        }
    }
    return err != EVT_OK ? err : listen_err;
}

evt_err evt_ecr_poll(evt_ecr *ecr, uint32_t timeout_ms, evt_order *out, bool *got)
{
    if (got != NULL) {
        *got = false;
    }
    if (ecr == NULL || out == NULL || got == NULL || ecr->listener == NULL) {
        return EVT_ERR_ARG;
    }
    return poll_pass(ecr, timeout_ms, out, got);
}

evt_err evt_ecr_serve_busy(evt_ecr *ecr, uint32_t timeout_ms)
{
    if (ecr == NULL || ecr->listener == NULL) {
        return EVT_ERR_ARG;
    }
    if (ecr->visit_open) {
        /* The HIS is in the visit's conversation: its lines (fee batches sent ahead among
         * them) wait in order for evt_ecr_visit_fees, which asks for them. */
        return EVT_OK;
    }
    /* No order buffer: serving_busy answers every sale and visit before anything would be
     * handed out, so nothing is written. */
    bool got = false;
    ecr->serving_busy = true;
    evt_err err = poll_pass(ecr, timeout_ms, NULL, &got);
    ecr->serving_busy = false;
    return err;
}

/* ---- the outpatient visit's fee lines ------------------------------------------------------ */

const evt_visit *evt_ecr_visit(const evt_ecr *ecr)
{
    return ecr != NULL && ecr->visit_open ? &ecr->visit : NULL;
}

const char *evt_ecr_refund(const evt_ecr *ecr)
{
    return ecr != NULL && ecr->order_open && ecr->refund_open ? ecr->open_order_id : NULL;
}

evt_err evt_ecr_visit_fees(void *ctx, evt_order *batch, bool *last)
{
    evt_ecr *ecr = ctx;
    if (ecr == NULL || batch == NULL || last == NULL || !ecr->visit_open) {
        return EVT_ERR_ARG;
    }
    evt_ecr_conn *c = &ecr->client;
    reply r;
    reply_begin(&r, "fees", ecr->open_order_id);
    evt_json_write_int(&r.w, "batch", (int64_t)++ecr->fees_batch);
    evt_err err = reply_send(ecr, c, &r, true);
    ecr->fees_out = batch;
    ecr->fees_got = false;
    ecr->fees_err = EVT_OK;
    uint64_t deadline = now_ms(ecr) + EVT_ECR_FEES_TIMEOUT_MS;
    /* Bounded by the deadline: every pass waits for data or handles what came. */
    while (err == EVT_OK && !ecr->fees_got && ecr->fees_err == EVT_OK) {
        bool got = false; /* another order meanwhile gets "busy": nothing is handed out */
        err = process_buffer(ecr, batch, &got);
        uint64_t now = now_ms(ecr);
        if (err != EVT_OK || ecr->fees_got || ecr->fees_err != EVT_OK) {
            break;
        }
        if (c->sock == NULL) {
            err = EVT_ERR_NET_CLOSED;
        } else if (now >= deadline) {
            err = EVT_ERR_TIMEOUT;
        } else {
            size_t n = 0;
            evt_err rerr = ecr->net->recv(ecr->net->ctx, c->sock, c->buf + c->fill,
                                          c->cap - c->fill, (uint32_t)(deadline - now), &n);
            if (rerr == EVT_OK) {
                c->fill += n;
            } else if (rerr != EVT_ERR_NET_TIMEOUT) {
                conn_close(ecr, c, evt_err_log_text(rerr));
            }
        }
    }
    ecr->fees_out = NULL;
    *last = ecr->fees_last;
    return err != EVT_OK ? err : ecr->fees_got ? EVT_OK : ecr->fees_err;
}
