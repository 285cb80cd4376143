/* evt_voucher: classification of scanned payloads and the per-sale duplicate guard. */
#include "evt/voucher.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

/* Serial scan engines end each code with CR, LF or CR LF; exactly one is not payload. */
static size_t strip_terminator(const uint8_t *p, size_t len)
{
    if (len >= 2 && p[len - 2] == '\r' && p[len - 1] == '\n') {
        return len - 2;
    }
    if (len >= 1 && (p[len - 1] == '\n' || p[len - 1] == '\r')) {
        return len - 1;
    }
    return len;
}

static bool is_alpha(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

static bool has_prefix_ci(const uint8_t *p, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    if (len < n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (lower(p[i]) != (uint8_t)prefix[i]) {
            return false;
        }
    }
    return true;
}

/* RFC 3986 scheme followed by "://", or the app schemes that omit the slashes. */
static bool looks_like_url(const uint8_t *p, size_t len)
{
    static const char *const prefixes[] = {"www.", "alipays:", "alipay:", "weixin:", "wxp:"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        if (has_prefix_ci(p, len, prefixes[i])) {
            return true;
        }
    }
    if (len == 0 || !is_alpha(p[0])) {
        return false;
    }
    /* Real schemes are short; the bound keeps a long code containing "://" late from
     * being mistaken for a link. */
    for (size_t i = 1; i < len && i <= 32; i++) {
        uint8_t c = p[i];
        if (c == ':') {
            return len - i >= 3 && p[i + 1] == '/' && p[i + 2] == '/';
        }
        if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') {
            return false;
        }
    }
    return false;
}

static bool is_space(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Characters an e-voucher candidate may use: base32/base64(url) text and simple separators. */
static bool is_code_char(uint8_t c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.' || c == '=' || c == '+' ||
           c == '/' || c == ':';
}

static unsigned two_digit_prefix(const uint8_t *p)
{
    return (unsigned)(p[0] - '0') * 10u + (unsigned)(p[1] - '0');
}

/* Payment codes are all digits; their issuers publish length and prefix ranges. */
static evt_voucher_kind classify_digits(const uint8_t *p, size_t len)
{
    unsigned prefix = len >= 2 ? two_digit_prefix(p) : 0;
    if (len == 18 && prefix >= 10 && prefix <= 15) {
        return EVT_VOUCHER_KIND_WECHAT_PAY;
    }
    if (len >= 16 && len <= 24 && prefix >= 25 && prefix <= 30) {
        return EVT_VOUCHER_KIND_ALIPAY;
    }
    if (len == 19 && prefix == 62) {
        return EVT_VOUCHER_KIND_UNIONPAY;
    }
    return EVT_VOUCHER_KIND_UNKNOWN;
}

static evt_voucher_kind classify_kind(const uint8_t *p, size_t len)
{
    if (len == 0) {
        return EVT_VOUCHER_KIND_UNKNOWN;
    }
    if (len > EVT_VOUCHER_MAX_LEN) {
        return EVT_VOUCHER_KIND_TOO_LONG;
    }
    /* Before the byte check: a link with a Chinese path is still best reported as a link. */
    if (looks_like_url(p, len)) {
        return EVT_VOUCHER_KIND_URL;
    }
    bool all_digits = true;
    bool whitespace = false;
    bool other_chars = false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        if (is_space(c)) {
            whitespace = true;
        } else if (c < 0x20 || c >= 0x7F) {
            return EVT_VOUCHER_KIND_BINARY;
        } else if (!is_code_char(c)) {
            other_chars = true;
        }
        if (!is_digit(c)) {
            all_digits = false;
        }
    }
    if (whitespace || other_chars) {
        return EVT_VOUCHER_KIND_UNKNOWN;
    }
    if (all_digits) {
        /* All-digit payloads are payment codes or bar codes, never e-vouchers. */
        return classify_digits(p, len);
    }
    if (len < EVT_VOUCHER_MIN_LEN) {
        return EVT_VOUCHER_KIND_UNKNOWN;
    }
    return EVT_VOUCHER_KIND_EVOUCHER;
}

static evt_err kind_err(evt_voucher_kind kind)
{
    switch (kind) {
    case EVT_VOUCHER_KIND_EVOUCHER:
        return EVT_OK;
    case EVT_VOUCHER_KIND_WECHAT_PAY:
        return EVT_ERR_VOUCHER_WECHAT_PAY;
    case EVT_VOUCHER_KIND_ALIPAY:
        return EVT_ERR_VOUCHER_ALIPAY;
    case EVT_VOUCHER_KIND_UNIONPAY:
        return EVT_ERR_VOUCHER_UNIONPAY;
    case EVT_VOUCHER_KIND_URL:
        return EVT_ERR_VOUCHER_URL;
    case EVT_VOUCHER_KIND_TOO_LONG:
        return EVT_ERR_VOUCHER_TOO_LONG;
    case EVT_VOUCHER_KIND_BINARY:
        return EVT_ERR_VOUCHER_BINARY;
    case EVT_VOUCHER_KIND_UNKNOWN:
        break;
    }
    return EVT_ERR_VOUCHER_UNKNOWN;
}

evt_err evt_voucher_classify(const uint8_t *payload, size_t len, evt_voucher_class *out)
{
    if (out == NULL || (payload == NULL && len > 0)) {
        return EVT_ERR_ARG;
    }
    size_t code_len = strip_terminator(payload, len);
    out->kind = classify_kind(payload, code_len);
    out->err = kind_err(out->kind);
    out->code_len = code_len;
    return out->err;
}

const char *evt_voucher_kind_name(evt_voucher_kind kind)
{
    switch (kind) {
    case EVT_VOUCHER_KIND_EVOUCHER:
        return "evoucher";
    case EVT_VOUCHER_KIND_WECHAT_PAY:
        return "wechat_pay";
    case EVT_VOUCHER_KIND_ALIPAY:
        return "alipay";
    case EVT_VOUCHER_KIND_UNIONPAY:
        return "unionpay";
    case EVT_VOUCHER_KIND_URL:
        return "url";
    case EVT_VOUCHER_KIND_TOO_LONG:
        return "too_long";
    case EVT_VOUCHER_KIND_BINARY:
        return "binary";
    case EVT_VOUCHER_KIND_UNKNOWN:
        break;
    }
    return "unknown";
}

size_t evt_voucher_describe(const uint8_t *payload, size_t len, char *out, size_t cap)
{
    if (out == NULL || cap == 0) {
        return 0;
    }
    evt_voucher_class cls;
    if (evt_voucher_classify(payload, len, &cls) == EVT_ERR_ARG) {
        out[0] = '\0';
        return 0;
    }
    char head[3] = {0};
    size_t head_len = 0;
    for (size_t i = 0; i < 2 && i < cls.code_len; i++) {
        uint8_t c = payload[i];
        if (!is_alpha(c) && !is_digit(c)) {
            break;
        }
        head[head_len++] = (char)c;
    }
    int n;
    if (head_len > 0) {
        n = snprintf(out, cap, "kind=%s len=%u head=%s", evt_voucher_kind_name(cls.kind),
                     (unsigned)cls.code_len, head);
    } else {
        n = snprintf(out, cap, "kind=%s len=%u", evt_voucher_kind_name(cls.kind),
                     (unsigned)cls.code_len);
    }
    if (n < 0) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)n < cap ? (size_t)n : cap - 1;
}

void evt_voucher_guard_reset(evt_voucher_guard *guard)
{
    if (guard != NULL) {
        mbedtls_platform_zeroize(guard, sizeof *guard);
    }
}

static evt_err digest_of(const uint8_t *code, size_t len, uint8_t digest[32])
{
    size_t code_len = strip_terminator(code, len);
    return mbedtls_sha256(code, code_len, digest, 0) == 0 ? EVT_OK : EVT_ERR_INTERNAL;
}

static bool guard_has(const evt_voucher_guard *guard, const uint8_t digest[32])
{
    for (size_t i = 0; i < guard->count && i < EVT_VOUCHER_GUARD_SLOTS; i++) {
        if (memcmp(guard->digest[i], digest, 32) == 0) {
            return true;
        }
    }
    return false;
}

evt_err evt_voucher_guard_check(const evt_voucher_guard *guard, const uint8_t *code, size_t len)
{
    if (guard == NULL || (code == NULL && len > 0)) {
        return EVT_ERR_ARG;
    }
    uint8_t digest[32];
    evt_err err = digest_of(code, len, digest);
    if (err == EVT_OK && guard_has(guard, digest)) {
        err = EVT_ERR_VOUCHER_DUPLICATE;
    }
    mbedtls_platform_zeroize(digest, sizeof digest);
    return err;
}

evt_err evt_voucher_guard_accept(evt_voucher_guard *guard, const uint8_t *code, size_t len)
{
    if (guard == NULL || (code == NULL && len > 0)) {
        return EVT_ERR_ARG;
    }
    uint8_t digest[32];
    evt_err err = digest_of(code, len, digest);
    if (err == EVT_OK && guard_has(guard, digest)) {
        err = EVT_ERR_VOUCHER_DUPLICATE;
    }
    if (err == EVT_OK) {
        uint8_t slot = guard->next % EVT_VOUCHER_GUARD_SLOTS;
        memcpy(guard->digest[slot], digest, 32);
        guard->next = (uint8_t)((slot + 1) % EVT_VOUCHER_GUARD_SLOTS);
        if (guard->count < EVT_VOUCHER_GUARD_SLOTS) {
            guard->count++;
        }
    }
    mbedtls_platform_zeroize(digest, sizeof digest);
    return err;
}
