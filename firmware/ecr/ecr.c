/* evt_ecr: JSON-lines link to the pharmacy's POS software; protocol in docs/ecr-link.md. */
#include "evt/ecr.h"

#include <stdio.h>
#include <string.h>

#include "ecr_auth.h"
#include "evt/arena.h"
#include "evt/json.h"
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

/* Prints root as one line and sends it on c; root is freed. On an authenticated connection
 * the line carries the terminal's next sequence number and its MAC (docs/ecr-link.md). */
static evt_err send_tree_on(evt_ecr *ecr, evt_ecr_conn *c, cJSON *root, bool sign)
{
    evt_err err = EVT_OK;
    if (sign) {
        err = evt_json_add_int(root, "seq", (int64_t)(c->tx_seq + 1));
    }
    char *text = err == EVT_OK ? evt_malloc(REPLY_BYTES) : NULL;
    if (text == NULL) {
        evt_json_free(root);
        return err != EVT_OK ? err : EVT_ERR_NOMEM;
    }
    size_t len = 0;
    err = evt_json_print(root, text, REPLY_BYTES - ECR_AUTH_SUFFIX_LEN - 2, &len);
    evt_json_free(root);
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

static evt_err send_tree(evt_ecr *ecr, cJSON *root)
{
    return send_tree_on(ecr, &ecr->client, root, true);
}

/* Starts a reply object with "v" and "type". */
static evt_err new_reply(const char *type, const char *order_id, cJSON **out)
{
    evt_err err = evt_json_new_object(out);
    if (err == EVT_OK) {
        err = evt_json_add_int(*out, "v", EVT_ECR_PROTOCOL_VERSION);
    }
    if (err == EVT_OK) {
        err = evt_json_add_string(*out, "type", type);
    }
    if (err == EVT_OK && order_id != NULL) {
        err = evt_json_add_string(*out, "order_id", order_id);
    }
    if (err != EVT_OK) {
        evt_json_free(*out);
        *out = NULL;
    }
    return err;
}

static evt_err error_tree(const char *order_id, evt_err code, const char *detail, cJSON **root)
{
    evt_err err = new_reply("error", order_id, root);
    if (err != EVT_OK) {
        return err;
    }
    err = evt_json_add_string(*root, "error", evt_err_name(code));
    if (err == EVT_OK) {
        err = evt_json_add_string(*root, "message", evt_err_cashier_text(code));
    }
    if (err == EVT_OK) {
        err = evt_json_add_string(*root, "detail", detail);
    }
    if (err != EVT_OK) {
        evt_json_free(*root);
    }
    return err;
}

static evt_err send_error(evt_ecr *ecr, const char *order_id, evt_err code, const char *detail)
{
    EVT_LOGW(LOG_MOD, "refused POS message: %s: %s", evt_err_name(code), detail);
    cJSON *root;
    evt_err err = error_tree(order_id, code, detail, &root);
    return err == EVT_OK ? send_tree(ecr, root) : err;
}

static evt_err send_ack(evt_ecr *ecr, const char *order_id)
{
    cJSON *root;
    evt_err err = new_reply("ack", order_id, &root);
    return err == EVT_OK ? send_tree(ecr, root) : err;
}

static evt_err add_amount(cJSON *obj, const char *key, evt_fen fen, bool present)
{
    char text[24] = "";
    if (present && evt_money_format(fen, text, sizeof text) == 0) {
        return EVT_ERR_ARG;
    }
    return evt_json_add_string(obj, key, text);
}

static evt_err send_result(evt_ecr *ecr, const evt_ecr_result *r)
{
    cJSON *root;
    evt_err err = new_reply("result", r->order_id, &root);
    if (err != EVT_OK) {
        return err;
    }
    const char *message = r->message;
    if (message[0] == '\0') {
        message = r->status == EVT_ECR_SETTLED ? "结算成功" : evt_err_cashier_text(r->error);
    }
    err = evt_json_add_string(root, "status", evt_ecr_status_name(r->status));
    if (err == EVT_OK) {
        err = evt_json_add_string(root, "error", evt_err_name(r->error));
    }
    if (err == EVT_OK) {
        err = evt_json_add_string(root, "message", message);
    }
    if (err == EVT_OK && r->status == EVT_ECR_SETTLED) {
        err = evt_json_add_string(root, "setl_id", r->setl_id);
        if (err == EVT_OK) {
            err = evt_json_add_string(root, "msgid", r->msgid);
        }
        static const char *const keys[] = {"total", "fund", "account", "mutual_aid", "cash"};
        const evt_fen values[] = {r->total, r->fund, r->account, r->mutual_aid, r->cash};
        for (size_t i = 0; err == EVT_OK && i < sizeof keys / sizeof keys[0]; i++) {
            err = add_amount(root, keys[i], values[i], true);
        }
        if (err == EVT_OK) {
            err = add_amount(root, "balance", r->balance, r->balance_present);
        }
    } else if (err == EVT_OK && r->status == EVT_ECR_UNKNOWN && r->msgid[0] != '\0') {
        err = evt_json_add_string(root, "msgid", r->msgid);
    }
    if (err == EVT_OK && r->blocked) {
        err = evt_json_add_bool(root, "blocked", true);
    }
    if (err != EVT_OK) {
        evt_json_free(root);
        return err;
    }
    return send_tree(ecr, root);
}

static evt_err send_busy(evt_ecr *ecr, const char *order_id)
{
    evt_ecr_result busy;
    memset(&busy, 0, sizeof busy);
    memcpy(busy.order_id, order_id, strlen(order_id) + 1);
    busy.status = EVT_ECR_BUSY;
    busy.error = EVT_ERR_BUSY;
    return send_result(ecr, &busy);
}

evt_err evt_ecr_reply(evt_ecr *ecr, const evt_ecr_result *result)
{
    if (ecr == NULL || result == NULL || ecr->net == NULL ||
        memchr(result->order_id, '\0', sizeof result->order_id) == NULL) {
        return EVT_ERR_ARG;
    }
    evt_err save_err = EVT_OK;
    if (result->status != EVT_ECR_BUSY) {
        save_err = ecr->store.save(ecr->store.ctx, result);
        if (save_err != EVT_OK) {
            EVT_LOGE(LOG_MOD, "could not store the result of order %s: %s", result->order_id,
                     evt_err_log_text(save_err));
        }
    }
    if (ecr->order_open && strcmp(ecr->open_order_id, result->order_id) == 0) {
        ecr->order_open = false;
    }
    EVT_LOGI(LOG_MOD, "order %s: %s (%s)", result->order_id, evt_ecr_status_name(result->status),
             evt_err_name(result->error));
    evt_err err = send_result(ecr, result);
    return save_err != EVT_OK ? save_err : err;
}

/* ---- validation ------------------------------------------------------------------------ */

/* Fields of each message; anything else is refused, so a misspelt optional field (a "totl"
 * meant as the cross-check) cannot pass unnoticed. Newer fields come with a new "v". */
static const char *const sale_keys[] = {"v",     "type",  "order_id", "use_personal_account",
                                        "items", "total", "seq",      NULL};
static const char *const status_keys[] = {"v", "type", "order_id", "seq", NULL};
static const char *const item_keys[] = {"med_list_codg", "medins_list_codg", "name", "qty",
                                        "price",         "amount",           NULL};

static bool unknown_key(const cJSON *obj, const char *const *allowed, char *detail,
                        const char *prefix)
{
    for (const cJSON *c = obj->child; c != NULL; c = c->next) {
        bool known = false;
        for (size_t i = 0; allowed[i] != NULL && !known; i++) {
            known = strcmp(c->string, allowed[i]) == 0;
        }
        if (known) {
            continue;
        }
        /* Echo the key only when it is short plain ASCII: it is the POS's text. */
        bool plain = strlen(c->string) <= 32;
        for (const char *p = c->string; plain && *p != '\0'; p++) {
            plain = *p > 0x20 && *p < 0x7F;
        }
        snprintf(detail, DETAIL_BYTES, "%sunknown field %s", prefix, plain ? c->string : "");
        return true;
    }
    return false;
}

/* A required string of 1..cap-1 bytes, each accepted by char_ok; bad_char says why not. */
static const char *get_string(const cJSON *obj, const char *key, char *dst, size_t cap,
                              bool (*char_ok)(unsigned char c), const char *bad_char)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (item == NULL) {
        return "missing";
    }
    if (!cJSON_IsString(item)) {
        return "must be a string";
    }
    size_t len = strlen(item->valuestring);
    if (len == 0) {
        return "must not be empty";
    }
    if (len >= cap) {
        return "too long";
    }
    for (size_t i = 0; i < len; i++) {
        if (!char_ok((unsigned char)item->valuestring[i])) {
            return bad_char;
        }
    }
    memcpy(dst, item->valuestring, len + 1);
    return NULL;
}

static bool code_char(unsigned char c)
{
    return c > 0x20 && c < 0x7F;
}

/* Bytes >= 0x80 pass: display text is UTF-8, already checked by the parser. */
static bool text_char(unsigned char c)
{
    return c >= 0x20 && c != 0x7F;
}

/* Codes and ids: printable ASCII without spaces. */
static const char *get_code(const cJSON *obj, const char *key, char *dst, size_t cap)
{
    return get_string(obj, key, dst, cap, code_char, "must be printable ASCII without spaces");
}

/* Display text: no control characters. */
static const char *get_text(const cJSON *obj, const char *key, char *dst, size_t cap)
{
    return get_string(obj, key, dst, cap, text_char, "must not contain control characters");
}

/* Amount as a decimal string or a JSON number, exact (evt_money_parse). */
static const char *get_amount(const cJSON *obj, const char *key, bool required, evt_fen *out,
                              bool *present)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    *present = false;
    *out = 0;
    if (item == NULL) {
        return required ? "missing" : NULL;
    }
    if (!cJSON_IsString(item) && !evt_json_is_number(item)) {
        return "must be an amount (\"12.50\" or 12.50)";
    }
    evt_err err = evt_json_get_money(obj, key, required, out, present, NULL);
    if (err == EVT_ERR_PROTO_FIELD_MISSING || (err == EVT_OK && !*present && required)) {
        return "must not be empty";
    }
    if (err != EVT_OK || (!*present && cJSON_IsString(item))) {
        return "not an exact amount with at most 2 decimals";
    }
    if (*out < 0) {
        return "must not be negative";
    }
    return NULL;
}

static const char *get_qty(const cJSON *obj, uint32_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, "qty");
    if (item == NULL) {
        return "missing";
    }
    int64_t value = 0;
    if (!evt_json_is_number(item) ||
        evt_json_get_int(obj, "qty", true, 1, EVT_ECR_ITEM_QTY_MAX, &value, NULL, NULL) != EVT_OK) {
        return "must be a whole number 1-99999";
    }
    *out = (uint32_t)value;
    return NULL;
}

/* One item as validated, before it goes into the order. */
typedef struct parsed_item {
    char med_list_codg[EVT_ORDER_CODE_MAX + 1];
    char medins_list_codg[EVT_ORDER_MEDINS_CODE_MAX + 1];
    char name[EVT_ORDER_NAME_MAX + 1];
    uint32_t quantity;
    evt_fen price;
    evt_fen amount;
} parsed_item;

/* Validates one item into *it; on failure fills detail and returns the error code. */
static evt_err parse_item(const cJSON *obj, size_t index, parsed_item *it, char *detail)
{
    char prefix[24];
    snprintf(prefix, sizeof prefix, "items[%u].", (unsigned)index);
    if (!cJSON_IsObject(obj)) {
        snprintf(detail, DETAIL_BYTES, "items[%u]: must be an object", (unsigned)index);
        return EVT_ERR_ECR_MALFORMED;
    }
    char where[24];
    snprintf(where, sizeof where, "items[%u]: ", (unsigned)index);
    if (unknown_key(obj, item_keys, detail, where)) {
        return EVT_ERR_ECR_MALFORMED;
    }
    memset(it, 0, sizeof *it);
    const char *field = "med_list_codg";
    const char *why = get_code(obj, field, it->med_list_codg, sizeof it->med_list_codg);
    if (why == NULL) {
        field = "medins_list_codg";
        why = get_code(obj, field, it->medins_list_codg, sizeof it->medins_list_codg);
    }
    if (why == NULL) {
        field = "name";
        why = get_text(obj, field, it->name, sizeof it->name);
    }
    if (why == NULL) {
        field = "qty";
        why = get_qty(obj, &it->quantity);
    }
    bool present = false;
    if (why == NULL) {
        field = "price";
        why = get_amount(obj, field, true, &it->price, &present);
        if (why == NULL && it->price == 0) {
            why = "must be greater than 0";
        }
    }
    if (why != NULL) {
        snprintf(detail, DETAIL_BYTES, "%s%s: %s", prefix, field, why);
        return EVT_ERR_ECR_MALFORMED;
    }
    /* price <= EVT_FEN_MAX and qty <= 99999 cannot overflow int64, but the product must
     * still fit a 16,2 field. */
    if (it->price > EVT_FEN_MAX / (evt_fen)it->quantity) {
        snprintf(detail, DETAIL_BYTES, "%samount: qty * price too large", prefix);
        return EVT_ERR_ORDER_INVALID;
    }
    it->amount = it->price * (evt_fen)it->quantity;
    evt_fen given = 0;
    why = get_amount(obj, "amount", false, &given, &present);
    if (why != NULL) {
        snprintf(detail, DETAIL_BYTES, "%samount: %s", prefix, why);
        return EVT_ERR_ECR_MALFORMED;
    }
    if (present && given != it->amount) {
        snprintf(detail, DETAIL_BYTES, "%samount: is not qty * price", prefix);
        return EVT_ERR_ORDER_INVALID;
    }
    return EVT_OK;
}

/* Validates the sale message. With order NULL nothing is stored (*total, *count still
 * filled): the caller's order buffer holds the last receipt's order until a sale is really
 * handed out (evt_ecr_poll), so it is written only by a second pass over the same tree. */
static evt_err parse_sale(const cJSON *root, evt_order *order, evt_fen *total_out,
                          unsigned *count_out, char *detail)
{
    if (unknown_key(root, sale_keys, detail, "")) {
        return EVT_ERR_ECR_MALFORMED;
    }
    const cJSON *acct = cJSON_GetObjectItemCaseSensitive(root, "use_personal_account");
    if (acct == NULL || !cJSON_IsBool(acct)) {
        snprintf(detail, DETAIL_BYTES, "use_personal_account: %s",
                 acct == NULL ? "missing" : "must be true or false");
        return EVT_ERR_ECR_MALFORMED;
    }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
    if (items == NULL || !cJSON_IsArray(items)) {
        snprintf(detail, DETAIL_BYTES, "items: %s", items == NULL ? "missing" : "must be an array");
        return EVT_ERR_ECR_MALFORMED;
    }
    int count = cJSON_GetArraySize(items);
    if (count < 1) {
        snprintf(detail, DETAIL_BYTES, "items: must hold 1 to %d items", EVT_ORDER_MAX_ITEMS);
        return EVT_ERR_ECR_MALFORMED;
    }
    if (count > EVT_ORDER_MAX_ITEMS) {
        /* Well-formed but beyond what the terminal settles in one sale (docs/ecr-link.md,
         * "Order size"): the POS splits it; nothing was started. */
        snprintf(detail, DETAIL_BYTES, "items: %d lines, above the terminal's maximum of %d", count,
                 EVT_ORDER_MAX_ITEMS);
        return EVT_ERR_ORDER_TOO_LARGE;
    }
    if (order != NULL) {
        evt_order_clear_items(order);
    }
    evt_fen sum = 0;
    size_t index = 0;
    for (const cJSON *obj = items->child; obj != NULL; obj = obj->next, index++) {
        parsed_item it;
        evt_err err = parse_item(obj, index, &it, detail);
        if (err != EVT_OK) {
            return err;
        }
        if (it.amount > EVT_FEN_MAX - sum) {
            snprintf(detail, DETAIL_BYTES, "total: sum of items too large");
            return EVT_ERR_ORDER_INVALID;
        }
        sum += it.amount;
        if (order != NULL) {
            err = evt_order_add_item(order, it.med_list_codg, it.medins_list_codg, it.name,
                                     it.quantity, it.price);
            if (err != EVT_OK) {
                snprintf(detail, DETAIL_BYTES, "items[%u]: does not fit the order",
                         (unsigned)index);
                return err;
            }
        }
    }
    evt_fen total = 0;
    bool present = false;
    const char *why = get_amount(root, "total", false, &total, &present);
    if (why != NULL) {
        snprintf(detail, DETAIL_BYTES, "total: %s", why);
        return EVT_ERR_ECR_MALFORMED;
    }
    if (present && total != sum) {
        snprintf(detail, DETAIL_BYTES, "total: is not the sum of the item amounts");
        return EVT_ERR_ORDER_INVALID;
    }
    if (order != NULL) {
        order->source = EVT_ORDER_FROM_ECR;
        order->use_personal_account = cJSON_IsTrue(acct);
    }
    *total_out = sum;
    *count_out = (unsigned)count;
    return EVT_OK;
}

/* ---- messages -------------------------------------------------------------------------- */

static evt_err handle_sale(evt_ecr *ecr, const cJSON *root, const char *order_id, evt_order *out,
                           bool *got)
{
    char detail[DETAIL_BYTES];
    evt_fen order_total = 0;
    unsigned item_count = 0;
    evt_err code = parse_sale(root, NULL, &order_total, &item_count, detail);
    if (code == EVT_OK && order_total > ecr->order_max_total) {
        /* A price typed with three zeros too many must not reach a patient's account. */
        char max[24];
        evt_money_format(ecr->order_max_total, max, sizeof max);
        snprintf(detail, sizeof detail, "total: above the terminal's maximum %s", max);
        code = EVT_ERR_ORDER_TOO_LARGE;
    }
    if (code != EVT_OK) {
        return send_error(ecr, order_id, code, detail);
    }
    if (ecr->order_open && strcmp(ecr->open_order_id, order_id) == 0) {
        /* The POS resent the sale it is waiting for (e.g. after reconnecting). */
        return send_ack(ecr, order_id);
    }
    evt_ecr_result stored;
    if (ecr->store.lookup(ecr->store.ctx, order_id, &stored) == EVT_OK &&
        (stored.status == EVT_ECR_SETTLED || stored.status == EVT_ECR_UNKNOWN || stored.blocked)) {
        /* Idempotent: money moved (or may have) for this order; never a second settlement.
         * Refused and failed orders may be tried again, unless a supervisor must decide. */
        EVT_LOGI(LOG_MOD, "order %s repeated: stored result returned", order_id);
        return send_result(ecr, &stored);
    }
    if (ecr->order_open || ecr->external_busy) {
        return send_busy(ecr, order_id);
    }
    /* Handed out: only now is the caller's order written (the same tree, so the same
     * verdict as the validating pass above). */
    memset(out, 0, sizeof *out);
    memcpy(out->order_id, order_id, strlen(order_id) + 1);
    if (parse_sale(root, out, &order_total, &item_count, detail) != EVT_OK) {
        return send_error(ecr, order_id, EVT_ERR_INTERNAL, "order changed between passes");
    }
    ecr->order_open = true;
    memcpy(ecr->open_order_id, order_id, strlen(order_id) + 1);
    *got = true;
    char total[24];
    evt_money_format(order_total, total, sizeof total);
    EVT_LOGI(LOG_MOD, "order %s accepted: %u items, total %s", order_id, item_count, total);
    return send_ack(ecr, order_id);
}

static evt_err handle_status(evt_ecr *ecr, const cJSON *root, const char *order_id)
{
    char detail[DETAIL_BYTES];
    if (unknown_key(root, status_keys, detail, "")) {
        return send_error(ecr, order_id, EVT_ERR_ECR_MALFORMED, detail);
    }
    if (ecr->order_open && strcmp(ecr->open_order_id, order_id) == 0) {
        return send_ack(ecr, order_id);
    }
    evt_ecr_result stored;
    if (ecr->store.lookup(ecr->store.ctx, order_id, &stored) == EVT_OK) {
        return send_result(ecr, &stored);
    }
    return send_error(ecr, order_id, EVT_ERR_NOT_FOUND, "no result stored for this order");
}

/* "seq": the POS's sequence number, strictly growing on the connection: a line recorded and
 * played again cannot act twice. */
static bool fresh_seq(evt_ecr_conn *c, const cJSON *root)
{
    int64_t seq = 0;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, "seq");
    if (item == NULL || !evt_json_is_number(item) ||
        evt_json_get_int(root, "seq", true, 1, INT64_MAX, &seq, NULL, NULL) != EVT_OK ||
        (uint64_t)seq <= c->rx_seq) {
        return false;
    }
    c->rx_seq = (uint64_t)seq;
    return true;
}

/* One authenticated line (its signed text): parse, check, act. Replies that cannot be sent
 * only cost the connection: never an error for the caller (EVT_ERR_NOMEM excepted). */
static evt_err dispatch_line(evt_ecr *ecr, const uint8_t *text, size_t len, evt_order *out,
                             bool *got)
{
    cJSON *root = NULL;
    evt_err err = evt_json_parse((const char *)text, len, &root);
    if (err == EVT_ERR_NOMEM) {
        send_error(ecr, NULL, EVT_ERR_NOMEM, "message too large for the terminal's memory");
        return EVT_ERR_NOMEM;
    }
    if (err != EVT_OK) {
        send_error(ecr, NULL, EVT_ERR_ECR_MALFORMED,
                   "not one valid JSON value (RFC 8259, UTF-8, no duplicate keys)");
        return EVT_OK;
    }
    if (!cJSON_IsObject(root)) {
        send_error(ecr, NULL, EVT_ERR_ECR_MALFORMED, "message must be a JSON object");
        evt_json_free(root);
        return EVT_OK;
    }
    if (!fresh_seq(&ecr->client, root)) {
        evt_json_free(root);
        EVT_LOGW(LOG_MOD, "POS line with a missing or repeated seq: connection dropped");
        conn_close(ecr, &ecr->client, "sequence number not fresh");
        return EVT_OK;
    }
    char order_id[EVT_ORDER_ID_BYTES] = "";
    const char *why = get_code(root, "order_id", order_id, sizeof order_id);
    const char *reply_id = why == NULL ? order_id : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
    if (v != NULL && (!evt_json_is_number(v) || strcmp(evt_json_number_text(v), "2") != 0)) {
        err = send_error(ecr, reply_id, EVT_ERR_ECR_VERSION, "v: this terminal speaks v 2");
    } else if (type == NULL || !cJSON_IsString(type)) {
        err = send_error(ecr, reply_id, EVT_ERR_ECR_MALFORMED,
                         type == NULL ? "type: missing" : "type: must be a string");
    } else if (strcmp(type->valuestring, "sale") != 0 && strcmp(type->valuestring, "status") != 0) {
        err = send_error(ecr, reply_id, EVT_ERR_ECR_MALFORMED,
                         "type: must be \"sale\" or \"status\"");
    } else if (why != NULL) {
        char detail[DETAIL_BYTES];
        snprintf(detail, sizeof detail, "order_id: %s",
                 strcmp(why, "too long") == 0 ? "longer than 40 characters" : why);
        err = send_error(ecr, NULL, EVT_ERR_ECR_MALFORMED, detail);
    } else if (strcmp(type->valuestring, "sale") == 0) {
        err = handle_sale(ecr, root, order_id, out, got);
    } else {
        err = handle_status(ecr, root, order_id);
    }
    evt_json_free(root);
    return err == EVT_ERR_NOMEM ? err : EVT_OK;
}

/* A complete line from the current POS: authenticated first, then handled. */
static evt_err handle_line(evt_ecr *ecr, uint8_t *line, size_t len, evt_order *out, bool *got)
{
    size_t text_len = 0;
    if (!evt_ecr_auth_open_line(ecr->key, 'P', ecr->client.session, line, len, &text_len)) {
        EVT_LOGW(LOG_MOD, "POS line without a valid MAC: connection dropped");
        cJSON *root;
        if (error_tree(NULL, EVT_ERR_ECR_UNAUTHENTICATED, "mac: missing or wrong", &root) ==
            EVT_OK) {
            send_tree_on(ecr, &ecr->client, root, false);
        }
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
        if (*got || err != EVT_OK) {
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
    cJSON *root;
    evt_err err = new_reply("hello", NULL, &root);
    if (err == EVT_OK) {
        err = evt_json_add_string(root, "terminal", ecr->terminal_id);
    }
    if (err == EVT_OK) {
        err = evt_json_add_string(root, "challenge", slot->session);
    }
    if (err == EVT_OK) {
        send_tree_on(ecr, slot, root, false);
    } else {
        evt_json_free(root);
        conn_close(ecr, slot, "hello not built");
    }
}

static const char *const auth_keys[] = {"v", "type", "pos", "nonce", "seq", NULL};

/* The auth line of a pending connection (its first len bytes; consumed with the line end):
 * MAC over the challenge, a nonce of the POS's own, seq 1. Success makes it the POS connection
 * (replacing the old one). */
static void authenticate(evt_ecr *ecr, evt_ecr_conn *p, uint8_t *line, size_t len, size_t consumed)
{
    size_t text_len = 0;
    cJSON *root = NULL;
    char nonce[HEX_OF(CHALLENGE_BYTES) + 1] = "";
    char detail[DETAIL_BYTES] = "mac: missing or wrong";
    bool ok = evt_ecr_auth_open_line(ecr->key, 'P', p->session, line, len, &text_len) &&
              evt_json_parse((const char *)line, text_len, &root) == EVT_OK &&
              cJSON_IsObject(root) && !unknown_key(root, auth_keys, detail, "");
    if (ok) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "type");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "v");
        const char *why = get_code(root, "nonce", nonce, sizeof nonce);
        ok = type != NULL && cJSON_IsString(type) && strcmp(type->valuestring, "auth") == 0 &&
             v != NULL && evt_json_is_number(v) && strcmp(evt_json_number_text(v), "2") == 0 &&
             why == NULL && strlen(nonce) == HEX_OF(CHALLENGE_BYTES) && fresh_seq(p, root);
        if (!ok) {
            snprintf(detail, sizeof detail, "auth: v 2, type auth, nonce (32 hex), seq 1");
        }
    }
    evt_json_free(root);
    if (!ok) {
        ecr->refused_connections++;
        cJSON *err_root;
        if (error_tree(NULL, EVT_ERR_ECR_UNAUTHENTICATED, detail, &err_root) == EVT_OK) {
            send_tree_on(ecr, p, err_root, false);
        }
        EVT_LOGW(LOG_MOD, "connection refused: %s", detail);
        conn_close(ecr, p, "not authenticated");
        return;
    }
    /* The session binds every later MAC to this connection and to both sides' randomness: a
     * line recorded on another connection is worthless here. */
    /* challenge (32 hex) + nonce (32 hex) = the 64 characters session holds */
    memcpy(p->session + HEX_OF(CHALLENGE_BYTES), nonce, HEX_OF(CHALLENGE_BYTES) + 1);
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
    cJSON *root_ok;
    if (new_reply("auth_ok", NULL, &root_ok) == EVT_OK) {
        if (evt_json_add_string(root_ok, "terminal", ecr->terminal_id) == EVT_OK) {
            send_tree(ecr, root_ok);
        } else {
            evt_json_free(root_ok);
        }
    }
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
            cJSON *root;
            if (error_tree(NULL, EVT_ERR_ECR_UNAUTHENTICATED, "first line must be an auth line",
                           &root) == EVT_OK) {
                send_tree_on(ecr, p, root, false);
            }
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

evt_err evt_ecr_poll(evt_ecr *ecr, uint32_t timeout_ms, evt_order *out, bool *got)
{
    if (got != NULL) {
        *got = false;
    }
    if (ecr == NULL || out == NULL || got == NULL || ecr->listener == NULL) {
        return EVT_ERR_ARG;
    }
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
