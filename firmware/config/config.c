/* evt_config: provisioning file parser. Table-driven: one row per key, one checker each. */
#include "evt/config.h"

#include "evt/money.h"

#include <stdio.h>
#include <string.h>

#include "evt/mask.h"

/* A checker stores the value or returns why not (English, never quoting the value). */
typedef const char *(*key_setter)(evt_config *cfg, const char *v, size_t n);

typedef struct key_def {
    const char *name;
    key_setter set;
    bool required;
} key_def;

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
    return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static uint8_t hex_value(char c)
{
    if (is_digit(c)) {
        return (uint8_t)(c - '0');
    }
    return (uint8_t)((c | 0x20) - 'a' + 10);
}

static void copy(char *dst, const char *v, size_t n)
{
    memcpy(dst, v, n);
    dst[n] = '\0';
}

/* Identifiers on the wire: printable ASCII without spaces. */
static const char *set_token(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap) {
        return "too long";
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0x21 || v[i] > 0x7E) {
            return "must be printable ASCII without spaces";
        }
    }
    copy(dst, v, n);
    return NULL;
}

/* Names shown on screens and receipts: UTF-8 without control characters. */
static const char *set_text(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap) {
        return "too long";
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)v[i] < 0x20 || v[i] == 0x7F) {
            return "contains control characters";
        }
    }
    copy(dst, v, n);
    return NULL;
}

static const char *set_digits(char *dst, size_t count, const char *v, size_t n, const char *why)
{
    if (n != count) {
        return why;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(v[i])) {
            return why;
        }
    }
    copy(dst, v, n);
    return NULL;
}

/* Unsigned decimal without sign or leading zeros (a leading zero often hides a typo). */
static bool parse_uint(const char *v, size_t n, uint32_t min, uint32_t max, uint32_t *out)
{
    if (n == 0 || n > 10 || (n > 1 && v[0] == '0')) {
        return false;
    }
    uint64_t value = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(v[i])) {
            return false;
        }
        value = value * 10u + (uint64_t)(v[i] - '0');
    }
    if (value < min || value > max) {
        return false;
    }
    *out = (uint32_t)value;
    return true;
}

/*
 * An amount in yuan as a price list writes it: at most 2 decimals ("12.5", "12.50"; not
 * "12.500", which the money module would read as the same fen but no price list prints),
 * exact through the money module, and above zero.
 */
static bool parse_positive_yuan(const char *v, size_t n, evt_fen *out)
{
    const char *dot = memchr(v, '.', n);
    if (dot != NULL && n - (size_t)(dot - v) - 1 > 2) {
        return false;
    }
    bool present = false;
    evt_fen fen = 0;
    if (evt_money_parse(v, n, &fen, &present) != EVT_OK || !present || fen <= 0) {
        return false;
    }
    *out = fen;
    return true;
}

/* RFC 1123 host name (also accepts dotted IPv4, whose labels are digits). */
static bool valid_hostname(const char *v, size_t n)
{
    if (n == 0 || n > 253) {
        return false;
    }
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == '.') {
            if (label == 0 || v[i - 1] == '-') {
                return false;
            }
            label = 0;
            continue;
        }
        if (!is_alnum(c) && c != '-') {
            return false;
        }
        if (c == '-' && label == 0) {
            return false;
        }
        if (++label > 63) {
            return false;
        }
    }
    return label > 0 && v[n - 1] != '-';
}

static bool valid_ipv4(const char *v, size_t n)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t start = i;
        while (i < n && is_digit(v[i])) {
            i++;
        }
        uint32_t octet;
        if (!parse_uint(v + start, i - start, 0, 255, &octet)) {
            return false;
        }
        if (part < 3) {
            if (i >= n || v[i] != '.') {
                return false;
            }
            i++;
        }
    }
    return i == n;
}

/* Hex digits of one IPv6 group starting at v[i], counting at most 5 (5 = too long). */
static size_t hex_group_len(const char *v, size_t n, size_t i)
{
    size_t k = 0;
    while (i + k < n && k < 5 && is_hex(v[i + k])) {
        k++;
    }
    return k;
}

/*
 * RFC 4291 text form of an IPv6 address: eight groups of 1-4 hex digits, or fewer with one
 * "::", the last 32 bits optionally as dotted IPv4. Reads only v[0..n): values are slices
 * of the provisioning text, not C strings (a strstr here once read past the end of a value
 * into the next lines, and past the end of the file).
 */
static bool valid_ipv6(const char *v, size_t n)
{
    if (n < 2 || n > 45) {
        return false;
    }
    size_t i = 0;
    unsigned groups = 0;
    bool compressed = false;
    if (v[0] == ':') {
        if (v[1] != ':') {
            return false;
        }
        compressed = true;
        i = 2;
    }
    while (i < n) {
        size_t len = hex_group_len(v, n, i);
        if (i + len < n && v[i + len] == '.') {
            /* An embedded IPv4 address ends the literal and stands for two groups. */
            if (!valid_ipv4(v + i, n - i)) {
                return false;
            }
            groups += 2;
            break;
        }
        if (len == 0 || len > 4) {
            return false;
        }
        groups++;
        i += len;
        if (i == n) {
            break;
        }
        if (v[i] != ':' || ++i == n) {
            return false; /* a stray character, or a single colon at the end */
        }
        if (v[i] == ':') {
            if (compressed) {
                return false; /* "::" twice, or ":::" */
            }
            compressed = true;
            i++;
        }
    }
    return compressed ? groups <= 7 : groups == 8;
}

static const char *set_platform_url(evt_config *cfg, const char *v, size_t n)
{
    static const char scheme[] = "https://";
    const size_t slen = sizeof scheme - 1;
    if (n >= sizeof cfg->platform_url) {
        return "too long";
    }
    if (n < slen) {
        return "must start with https://";
    }
    for (size_t i = 0; i < slen; i++) {
        char c = v[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char)(c - 'A' + 'a');
        }
        if (c != scheme[i]) {
            return "must start with https://";
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0x21 || v[i] > 0x7E) {
            return "must be printable ASCII without spaces";
        }
    }
    const char *p = v + slen;
    const char *end = v + n;
    const char *auth_end = memchr(p, '/', (size_t)(end - p));
    if (auth_end == NULL) {
        auth_end = end;
    }
    const char *host = p;
    const char *host_end;
    const char *after_host;
    bool ipv6 = false;
    if (p < auth_end && *p == '[') {
        const char *close = memchr(p, ']', (size_t)(auth_end - p));
        if (close == NULL) {
            return "IPv6 literal without closing ]";
        }
        host = p + 1;
        host_end = close;
        after_host = close + 1;
        ipv6 = true;
        if (!valid_ipv6(host, (size_t)(host_end - host))) {
            return "invalid IPv6 literal";
        }
    } else {
        host_end = memchr(p, ':', (size_t)(auth_end - p));
        if (host_end == NULL) {
            host_end = auth_end;
        }
        after_host = host_end;
        if (!valid_hostname(host, (size_t)(host_end - host))) {
            return "invalid host (expected https://host[:port]/path)";
        }
    }
    uint32_t port = 443;
    if (after_host < auth_end) {
        if (*after_host != ':' ||
            !parse_uint(after_host + 1, (size_t)(auth_end - after_host - 1), 1, 65535, &port)) {
            return "invalid port (1-65535)";
        }
    }
    for (const char *q = auth_end; q < end; q++) {
        if (*q == '#') {
            return "must not contain a fragment (#)";
        }
    }
    copy(cfg->platform_url, v, n);
    copy(cfg->host, host, (size_t)(host_end - host));
    cfg->host_is_ipv6 = ipv6;
    cfg->port = (uint16_t)port;
    if (auth_end == end) {
        copy(cfg->path, "/", 1);
    } else {
        copy(cfg->path, auth_end, (size_t)(end - auth_end));
    }
    return NULL;
}

static const char *set_tls_server_name(evt_config *cfg, const char *v, size_t n)
{
    if (n >= sizeof cfg->tls_server_name) {
        return "too long";
    }
    if (!valid_hostname(v, n) && !valid_ipv6(v, n)) {
        return "must be a host name or IP literal";
    }
    copy(cfg->tls_server_name, v, n);
    return NULL;
}

static const char *set_time_server(evt_config *cfg, const char *v, size_t n)
{
    if (n >= sizeof cfg->time_server) {
        return "too long";
    }
    if (!valid_hostname(v, n)) {
        return "must be a host name or IPv4 literal";
    }
    copy(cfg->time_server, v, n);
    return NULL;
}

static const char *set_ca_file(evt_config *cfg, const char *v, size_t n)
{
    return set_text(cfg->ca_file, sizeof cfg->ca_file, v, n);
}

static const char *set_fixmedins_code(evt_config *cfg, const char *v, size_t n)
{
    if (n != 12) {
        return "must be 12 letters or digits";
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_alnum(v[i])) {
            return "must be 12 letters or digits";
        }
    }
    copy(cfg->fixmedins_code, v, n);
    return NULL;
}

static const char *set_fixmedins_name(evt_config *cfg, const char *v, size_t n)
{
    return set_text(cfg->fixmedins_name, sizeof cfg->fixmedins_name, v, n);
}

static const char *set_mdtrtarea_admvs(evt_config *cfg, const char *v, size_t n)
{
    return set_digits(cfg->mdtrtarea_admvs, 6, v, n, "must be 6 digits");
}

static const char *set_recer_sys_code(evt_config *cfg, const char *v, size_t n)
{
    return set_token(cfg->recer_sys_code, sizeof cfg->recer_sys_code, v, n);
}

static const char *set_dev_no(evt_config *cfg, const char *v, size_t n)
{
    return set_token(cfg->dev_no, sizeof cfg->dev_no, v, n);
}

static const char *set_msgid_slot(evt_config *cfg, const char *v, size_t n)
{
    if (n != 1 || !is_digit(v[0])) {
        return "must be one digit 0-9";
    }
    cfg->msgid_slot = (uint8_t)(v[0] - '0');
    return NULL;
}

static const char *set_opter(evt_config *cfg, const char *v, size_t n)
{
    return set_token(cfg->opter, sizeof cfg->opter, v, n);
}

static const char *set_opter_name(evt_config *cfg, const char *v, size_t n)
{
    return set_text(cfg->opter_name, sizeof cfg->opter_name, v, n);
}

static const char *set_opter_type(evt_config *cfg, const char *v, size_t n)
{
    if (n != 1 || v[0] < '1' || v[0] > '3') {
        return "must be 1, 2 or 3";
    }
    cfg->opter_type = (uint8_t)(v[0] - '0');
    return NULL;
}

static const char *set_paas_id(evt_config *cfg, const char *v, size_t n)
{
    return set_token(cfg->paas_id, sizeof cfg->paas_id, v, n);
}

static const char *set_paas_token(evt_config *cfg, const char *v, size_t n)
{
    return set_token(cfg->paas_token, sizeof cfg->paas_token, v, n);
}

static const char *set_infver(evt_config *cfg, const char *v, size_t n)
{
    return set_token(cfg->infver, sizeof cfg->infver, v, n);
}

static const char *set_ecr_port(evt_config *cfg, const char *v, size_t n)
{
    uint32_t port;
    if (n == 1 && v[0] == '0') {
        cfg->ecr_port = 0;
        return NULL;
    }
    if (!parse_uint(v, n, 1, 65535, &port)) {
        return "must be 0 (off) or a port 1-65535";
    }
    cfg->ecr_port = (uint16_t)port;
    return NULL;
}

static const char *set_ecr_bind(evt_config *cfg, const char *v, size_t n)
{
    if (n >= sizeof cfg->ecr_bind || (!valid_ipv4(v, n) && !valid_ipv6(v, n))) {
        return "must be an IPv4 or IPv6 address literal";
    }
    copy(cfg->ecr_bind, v, n);
    return NULL;
}

/* 64 hex digits. Like paas_token, the reason never quotes the value, and a key that is all
 * zeros is the placeholder of a template, not a pairing key. */
static const char *set_ecr_key(evt_config *cfg, const char *v, size_t n)
{
    static const char why[] = "must be 64 hex digits (32 bytes)";
    if (n != 2 * EVT_CONFIG_ECR_KEY_BYTES) {
        return why;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_hex(v[i])) {
            return why;
        }
    }
    uint8_t any = 0;
    for (size_t i = 0; i < EVT_CONFIG_ECR_KEY_BYTES; i++) {
        cfg->ecr_key[i] = (uint8_t)(hex_value(v[2 * i]) << 4 | hex_value(v[2 * i + 1]));
        any |= cfg->ecr_key[i];
    }
    if (any == 0) {
        memset(cfg->ecr_key, 0, sizeof cfg->ecr_key);
        return "must not be all zeros (a template placeholder, not a key)";
    }
    cfg->ecr_key_set = true;
    return NULL;
}

static const char *set_order_keep_days(evt_config *cfg, const char *v, size_t n)
{
    uint32_t days = 0;
    if (!parse_uint(v, n, 1, 366, &days)) {
        return "must be a whole number of days 1-366";
    }
    cfg->order_keep_days = days;
    return NULL;
}

/* hex digits into bytes; false unless exactly 2*len digits */
static bool hex_bytes(const char *v, size_t n, uint8_t *out, size_t len)
{
    if (n != 2 * len) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_hex(v[i])) {
            return false;
        }
    }
    for (size_t i = 0; i < len; i++) {
        out[i] = (uint8_t)(hex_value(v[2 * i]) << 4 | hex_value(v[2 * i + 1]));
    }
    return true;
}

/* "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>": the reason never quotes the value. */
static const char *set_pin_hash(evt_pin_hash *h, const char *v, size_t n)
{
    static const char why[] =
        "must be pbkdf2-sha256$<iterations 1000-1000000>$<salt, 16-64 hex>$<hash, 64 hex> "
        "(tools/pin-hash)";
    static const char scheme[] = "pbkdf2-sha256$";
    const size_t slen = sizeof scheme - 1;
    if (n <= slen || memcmp(v, scheme, slen) != 0) {
        return why;
    }
    const char *p = v + slen, *end = v + n;
    const char *d1 = memchr(p, '$', (size_t)(end - p));
    const char *d2 = d1 != NULL ? memchr(d1 + 1, '$', (size_t)(end - d1 - 1)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '$', (size_t)(end - d2 - 1)) != NULL) {
        return why;
    }
    size_t salt_digits = (size_t)(d2 - d1 - 1);
    if (!parse_uint(p, (size_t)(d1 - p), 1000, 1000000, &h->iterations) || salt_digits % 2 != 0 ||
        salt_digits < 16 || salt_digits > 2 * EVT_PIN_SALT_MAX ||
        !hex_bytes(d1 + 1, salt_digits, h->salt, salt_digits / 2) ||
        !hex_bytes(d2 + 1, (size_t)(end - d2 - 1), h->hash, sizeof h->hash)) {
        memset(h, 0, sizeof *h);
        return why;
    }
    h->salt_len = (uint8_t)(salt_digits / 2);
    h->set = true;
    return NULL;
}

static const char *set_supervisor_pin(evt_config *cfg, const char *v, size_t n)
{
    return set_pin_hash(&cfg->supervisor_pin, v, n);
}

static const char *set_order_max_total(evt_config *cfg, const char *v, size_t n)
{
    return parse_positive_yuan(v, n, &cfg->order_max_total)
               ? NULL
               : "must be a positive amount in yuan with at most 2 decimals, like 20000.00";
}

static const char *set_paper_width_mm(evt_config *cfg, const char *v, size_t n)
{
    if (n == 2 && memcmp(v, "58", 2) == 0) {
        cfg->paper_width_mm = 58;
    } else if (n == 2 && memcmp(v, "80", 2) == 0) {
        cfg->paper_width_mm = 80;
    } else {
        return "must be 58 or 80";
    }
    return NULL;
}

static const char *set_receipt_qr(evt_config *cfg, const char *v, size_t n)
{
    if (n == 6 && memcmp(v, "raster", 6) == 0) {
        cfg->receipt_qr = EVT_RECEIPT_QR_RASTER;
    } else if (n == 6 && memcmp(v, "native", 6) == 0) {
        cfg->receipt_qr = EVT_RECEIPT_QR_NATIVE;
    } else {
        return "must be raster or native";
    }
    return NULL;
}

static const char *set_http_timeout_ms(evt_config *cfg, const char *v, size_t n)
{
    return parse_uint(v, n, 1000, 600000, &cfg->http_timeout_ms)
               ? NULL
               : "must be milliseconds 1000-600000";
}

static const char *set_connect_timeout_ms(evt_config *cfg, const char *v, size_t n)
{
    return parse_uint(v, n, 100, 600000, &cfg->connect_timeout_ms)
               ? NULL
               : "must be milliseconds 100-600000";
}

static const char *set_keep_connection_s(evt_config *cfg, const char *v, size_t n)
{
    return parse_uint(v, n, 0, 3600, &cfg->keep_connection_s) ? NULL : "must be seconds 0-3600";
}

static const char *set_office_id(evt_config *cfg, const char *v, size_t n)
{
    return set_token(cfg->office_id, sizeof cfg->office_id, v, n);
}

static const char *set_office_name(evt_config *cfg, const char *v, size_t n)
{
    return set_text(cfg->office_name, sizeof cfg->office_name, v, n);
}

static const char *set_business_type(evt_config *cfg, const char *v, size_t n)
{
    return set_digits(cfg->business_type, 5, v, n, "must be 5 digits (e.g. 02121)");
}

/* "med_list_codg|medins_list_codg|name|price": one keyable item. */
static const char *set_item(evt_config *cfg, unsigned index, const char *v, size_t n)
{
    evt_config_item *it = &cfg->items[index];
    const char *field[4];
    size_t len[4];
    const char *p = v;
    const char *end = v + n;
    for (unsigned f = 0; f < 4; f++) {
        const char *bar = f < 3 ? memchr(p, '|', (size_t)(end - p)) : NULL;
        if (f < 3 && bar == NULL) {
            return "expected med_list_codg|medins_list_codg|name|price";
        }
        field[f] = p;
        len[f] = (size_t)((bar ? bar : end) - p);
        p = bar ? bar + 1 : end;
    }
    if (len[0] == 0 || len[2] == 0) {
        return "catalogue code and name are required";
    }
    const char *why = set_token(it->med_list_codg, sizeof it->med_list_codg, field[0], len[0]);
    if (why == NULL && len[1] > 0) {
        why = set_token(it->medins_list_codg, sizeof it->medins_list_codg, field[1], len[1]);
    }
    if (why == NULL) {
        why = set_text(it->name, sizeof it->name, field[2], len[2]);
    }
    if (why != NULL) {
        return why;
    }
    if (!parse_positive_yuan(field[3], len[3], &it->price)) {
        return "price must be a positive amount like 12.50";
    }
    return NULL;
}

#define ITEM_SETTER(i)                                                                             \
    static const char *set_item_##i(evt_config *cfg, const char *v, size_t n)                      \
    {                                                                                              \
        return set_item(cfg, i - 1, v, n);                                                         \
    }
ITEM_SETTER(1)
ITEM_SETTER(2)
ITEM_SETTER(3)
ITEM_SETTER(4)
ITEM_SETTER(5)
ITEM_SETTER(6)
ITEM_SETTER(7)
ITEM_SETTER(8)
ITEM_SETTER(9)

/* "id|name|role|PIN hash": one operator who logs in at the terminal. */
static const char *parse_operator(evt_config_operator *op, const char *v, size_t n)
{
    memset(op, 0, sizeof *op);
    const char *field[4];
    size_t len[4];
    const char *p = v;
    const char *end = v + n;
    for (unsigned f = 0; f < 4; f++) {
        const char *bar = f < 3 ? memchr(p, '|', (size_t)(end - p)) : NULL;
        if (f < 3 && bar == NULL) {
            return "expected id|name|cashier or supervisor|PIN hash";
        }
        field[f] = p;
        len[f] = (size_t)((bar ? bar : end) - p);
        p = bar ? bar + 1 : end;
    }
    if (len[0] == 0 || len[1] == 0) {
        return "operator id and name are required";
    }
    const char *why = set_token(op->id, sizeof op->id, field[0], len[0]);
    if (why == NULL) {
        why = set_text(op->name, sizeof op->name, field[1], len[1]);
    }
    if (why != NULL) {
        return why;
    }
    if (len[2] == 7 && memcmp(field[2], "cashier", 7) == 0) {
        op->role = EVT_OPERATOR_CASHIER;
    } else if (len[2] == 10 && memcmp(field[2], "supervisor", 10) == 0) {
        op->role = EVT_OPERATOR_SUPERVISOR;
    } else {
        return "role must be cashier or supervisor";
    }
    return set_pin_hash(&op->pin, field[3], len[3]);
}

/* Checked here, read again from the text when needed (evt_config_operator_get). */
#define OPERATOR_SETTER(i)                                                                         \
    static const char *set_operator_##i(evt_config *cfg, const char *v, size_t n)                  \
    {                                                                                              \
        (void)cfg;                                                                                 \
        evt_config_operator op;                                                                    \
        return parse_operator(&op, v, n);                                                          \
    }
OPERATOR_SETTER(1)
OPERATOR_SETTER(2)
OPERATOR_SETTER(3)
OPERATOR_SETTER(4)
OPERATOR_SETTER(5)
OPERATOR_SETTER(6)
OPERATOR_SETTER(7)
OPERATOR_SETTER(8)

static const key_def keys[] = {
    {"platform_url", set_platform_url, true},
    {"tls_server_name", set_tls_server_name, false},
    {"ca_file", set_ca_file, true},
    {"time_server", set_time_server, false},
    {"fixmedins_code", set_fixmedins_code, true},
    {"fixmedins_name", set_fixmedins_name, true},
    {"mdtrtarea_admvs", set_mdtrtarea_admvs, true},
    {"recer_sys_code", set_recer_sys_code, true},
    {"dev_no", set_dev_no, true},
    {"msgid_slot", set_msgid_slot, true},
    {"opter", set_opter, false}, /* legacy: required without operator_N (see the parser) */
    {"opter_name", set_opter_name, false},
    {"opter_type", set_opter_type, true},
    {"paas_id", set_paas_id, true},
    {"paas_token", set_paas_token, true},
    {"infver", set_infver, false},
    {"ecr_port", set_ecr_port, false},
    {"ecr_bind", set_ecr_bind, false},
    {"ecr_key", set_ecr_key, false}, /* required while ecr_port is not 0: see the parser */
    {"order_max_total", set_order_max_total, false},
    {"order_keep_days", set_order_keep_days, false},
    {"supervisor_pin", set_supervisor_pin, false},
    {"paper_width_mm", set_paper_width_mm, false},
    {"receipt_qr", set_receipt_qr, false},
    {"http_timeout_ms", set_http_timeout_ms, false},
    {"connect_timeout_ms", set_connect_timeout_ms, false},
    {"keep_connection_s", set_keep_connection_s, false},
    {"office_id", set_office_id, true},
    {"office_name", set_office_name, true},
    {"business_type", set_business_type, false},
    {"item_1", set_item_1, false},
    {"item_2", set_item_2, false},
    {"item_3", set_item_3, false},
    {"item_4", set_item_4, false},
    {"item_5", set_item_5, false},
    {"item_6", set_item_6, false},
    {"item_7", set_item_7, false},
    {"item_8", set_item_8, false},
    {"item_9", set_item_9, false},
    {"operator_1", set_operator_1, false},
    {"operator_2", set_operator_2, false},
    {"operator_3", set_operator_3, false},
    {"operator_4", set_operator_4, false},
    {"operator_5", set_operator_5, false},
    {"operator_6", set_operator_6, false},
    {"operator_7", set_operator_7, false},
    {"operator_8", set_operator_8, false},
};

#define KEY_COUNT (sizeof keys / sizeof keys[0])

static void apply_defaults(evt_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    copy(cfg->infver, "V1.0", 4);
    copy(cfg->ecr_bind, "127.0.0.1", 9);
    cfg->paper_width_mm = 58;
    cfg->receipt_qr = EVT_RECEIPT_QR_RASTER;
    cfg->http_timeout_ms = 15000;
    cfg->connect_timeout_ms = 5000;
    cfg->order_max_total = EVT_CONFIG_DEFAULT_ORDER_MAX_TOTAL;
    cfg->order_keep_days = EVT_CONFIG_DEFAULT_ORDER_KEEP_DAYS;
    copy(cfg->business_type, "02121", 5);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && is_blank(**s)) {
        (*s)++;
    }
    while (*e > *s && is_blank((*e)[-1])) {
        (*e)--;
    }
}

static evt_err fail(evt_config *out, evt_err err, char *msg, size_t cap, unsigned line,
                    const char *key, const char *why)
{
    memset(out, 0, sizeof *out);
    if (msg != NULL && cap > 0) {
        if (key != NULL) {
            snprintf(msg, cap, "line %u: %s: %s", line, key, why);
        } else {
            snprintf(msg, cap, "line %u: %s", line, why);
        }
    }
    return err;
}

static evt_err missing(evt_config *out, char *msg, size_t cap, const char *key, const char *why)
{
    memset(out, 0, sizeof *out);
    if (msg != NULL && cap > 0) {
        snprintf(msg, cap, "missing key: %s%s", key, why);
    }
    return EVT_ERR_CONFIG_MISSING;
}

evt_err evt_config_parse(const char *text, size_t len, evt_config *out, char *msg, size_t msg_cap)
{
    if (text == NULL || out == NULL) {
        return EVT_ERR_ARG;
    }
    if (msg != NULL && msg_cap > 0) {
        msg[0] = '\0';
    }
    apply_defaults(out);
    unsigned seen_line[KEY_COUNT] = {0};

    const char *p = text;
    const char *end = text + len;
    /* Windows editors prefix a byte order mark; it is not part of the first key. */
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
    }
    unsigned line_no = 0;
    while (p < end) {
        line_no++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl != NULL ? nl : end;
        const char *next = nl != NULL ? nl + 1 : end;
        if (line_end > p && line_end[-1] == '\r') {
            line_end--;
        }
        if (!evt_mask_utf8_valid(p, (size_t)(line_end - p), NULL)) {
            return fail(out, EVT_ERR_CONFIG_INVALID, msg, msg_cap, line_no, NULL,
                        "not valid UTF-8 text");
        }
        const char *s = p;
        const char *e = line_end;
        p = next;
        trim(&s, &e);
        if (s == e || *s == '#') {
            continue;
        }
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (eq == NULL) {
            return fail(out, EVT_ERR_CONFIG_INVALID, msg, msg_cap, line_no, NULL,
                        "expected key = value");
        }
        const char *ks = s;
        const char *ke = eq;
        const char *vs = eq + 1;
        const char *ve = e;
        trim(&ks, &ke);
        trim(&vs, &ve);
        size_t klen = (size_t)(ke - ks);
        bool key_ok = klen > 0 && klen <= 32;
        for (size_t i = 0; key_ok && i < klen; i++) {
            char c = ks[i];
            key_ok = (c >= 'a' && c <= 'z') || is_digit(c) || c == '_';
        }
        if (!key_ok) {
            /* Not echoed: a line like "<token> = ..." must not put the token in a log. */
            return fail(out, EVT_ERR_CONFIG_INVALID, msg, msg_cap, line_no, NULL,
                        "invalid key name (expected lowercase key = value)");
        }
        char key[33];
        copy(key, ks, klen);
        size_t k = 0;
        while (k < KEY_COUNT && strcmp(keys[k].name, key) != 0) {
            k++;
        }
        if (k == KEY_COUNT) {
            return fail(out, EVT_ERR_CONFIG_INVALID, msg, msg_cap, line_no, "unknown key", key);
        }
        if (seen_line[k] != 0) {
            char first[40];
            snprintf(first, sizeof first, "already set on line %u", seen_line[k]);
            return fail(out, EVT_ERR_CONFIG_INVALID, msg, msg_cap, line_no, key, first);
        }
        seen_line[k] = line_no;
        if (vs == ve) {
            return fail(out, EVT_ERR_CONFIG_INVALID, msg, msg_cap, line_no, key,
                        "empty value (remove the line to use the default)");
        }
        const char *why = keys[k].set(out, vs, (size_t)(ve - vs));
        if (why != NULL) {
            return fail(out, EVT_ERR_CONFIG_INVALID, msg, msg_cap, line_no, key, why);
        }
    }
    for (size_t k = 0; k < KEY_COUNT; k++) {
        if (keys[k].required && seen_line[k] == 0) {
            return missing(out, msg, msg_cap, keys[k].name, "");
        }
    }
    /* Operators: operator_1 .. operator_N without gaps, ids unique; or the legacy opter. */
    size_t first_op = 0;
    while (strcmp(keys[first_op].name, "operator_1") != 0) {
        first_op++;
    }
    unsigned ops = 0;
    while (ops < EVT_CONFIG_MAX_OPERATORS && seen_line[first_op + ops] != 0) {
        ops++;
    }
    out->text = text;
    out->text_len = len;
    out->operator_count = (uint8_t)ops;
    const char *why = NULL;
    for (unsigned i = ops; i < EVT_CONFIG_MAX_OPERATORS && why == NULL; i++) {
        if (seen_line[first_op + i] != 0) {
            why = "operator_N: numbered without gaps from operator_1";
        }
    }
    evt_config_operator a, b;
    for (unsigned i = 0; i < ops && why == NULL; i++) {
        evt_config_operator_get(out, i, &a);
        out->supervisor_count += a.role == EVT_OPERATOR_SUPERVISOR;
        for (unsigned k = 0; k < i && why == NULL; k++) {
            evt_config_operator_get(out, k, &b);
            if (strcmp(a.id, b.id) == 0) {
                why = "operator_N: two operators with one id";
            }
        }
    }
    if (why == NULL && ops > 0 && (out->opter[0] != '\0' || out->opter_name[0] != '\0')) {
        why = "opter/opter_name: not with operator_N lines (each operator signs in)";
    }
    if (why == NULL && out->supervisor_count > 0 && out->supervisor_pin.set) {
        /* A shared PIN beside the supervisors' own would authorise without saying who. */
        why = "supervisor_pin: not with supervisor operators (each supervisor has their own PIN)";
    }
    if (why != NULL) {
        memset(out, 0, sizeof *out);
        if (msg != NULL && msg_cap > 0) {
            snprintf(msg, msg_cap, "%s", why);
        }
        return EVT_ERR_CONFIG_INVALID;
    }
    if (ops == 0 && (out->opter[0] == '\0' || out->opter_name[0] == '\0')) {
        return missing(out, msg, msg_cap, out->opter[0] == '\0' ? "opter" : "opter_name",
                       " (or operator_1 lines)");
    }
    if (out->ecr_port != 0 && !out->ecr_key_set) {
        /* An open ECR port without a key would take orders from anyone on the LAN. */
        return missing(out, msg, msg_cap, "ecr_key", " (required when ecr_port is not 0)");
    }
    if (out->tls_server_name[0] == '\0') {
        /* host fits: both buffers are sized for the longest host name. */
        copy(out->tls_server_name, out->host, strlen(out->host));
    }
    return EVT_OK;
}

/* The value of key in an already parsed text (the parser has checked every line). */
static bool find_value(const char *text, size_t len, const char *key, const char **vs,
                       const char **ve)
{
    const char *p = text;
    const char *end = text + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) {
        p += 3;
    }
    size_t klen = strlen(key);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *s = p;
        const char *e = nl != NULL ? nl : end;
        p = nl != NULL ? nl + 1 : end;
        if (e > s && e[-1] == '\r') {
            e--;
        }
        trim(&s, &e);
        const char *eq = s < e && *s != '#' ? memchr(s, '=', (size_t)(e - s)) : NULL;
        const char *ke = eq;
        if (eq == NULL) {
            continue;
        }
        trim(&s, &ke);
        if ((size_t)(ke - s) == klen && memcmp(s, key, klen) == 0) {
            *vs = eq + 1;
            *ve = e;
            trim(vs, ve);
            return true;
        }
    }
    return false;
}

evt_err evt_config_operator_get(const evt_config *cfg, unsigned index, evt_config_operator *out)
{
    memset(out, 0, sizeof *out);
    if (cfg == NULL || cfg->text == NULL || index >= cfg->operator_count) {
        return EVT_ERR_NOT_FOUND;
    }
    char key[16];
    snprintf(key, sizeof key, "operator_%u", index + 1);
    const char *vs = NULL, *ve = NULL;
    if (!find_value(cfg->text, cfg->text_len, key, &vs, &ve) ||
        parse_operator(out, vs, (size_t)(ve - vs)) != NULL) {
        memset(out, 0, sizeof *out);
        return EVT_ERR_CONFIG_INVALID;
    }
    return EVT_OK;
}

evt_err evt_config_operator_find(const evt_config *cfg, const char *id, evt_config_operator *out)
{
    for (unsigned i = 0; cfg != NULL && i < cfg->operator_count; i++) {
        if (evt_config_operator_get(cfg, i, out) == EVT_OK && strcmp(out->id, id) == 0) {
            return EVT_OK;
        }
    }
    memset(out, 0, sizeof *out);
    return EVT_ERR_NOT_FOUND;
}
