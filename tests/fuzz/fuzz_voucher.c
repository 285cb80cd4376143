/*
 * Fuzz target: scanned payloads (evt_voucher, include/evt/voucher.h).
 *
 * - evt_voucher_classify on the whole input, compared with a reference written here from the
 *   rules of docs/voucher.md (a differential check against the documentation);
 * - evt_voucher_describe at every buffer size the input picks: the text is exactly
 *   "kind=<name> len=<n>[ head=<at most 2 letters/digits of the code>]", a smaller buffer
 *   gives a prefix of it, and never more of the code than the head;
 * - the per-sale guard, fed the input split at '|' into codes (a piece starting with 'c' is
 *   checked, every other accepted), against a model that
 *   remembers the last 16 distinct codes accepted (after the same terminator stripping).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evt/voucher.h"
#include "fuzz_support.h"

/* ---- reference classification (docs/voucher.md, rules in order) ------------------------- */

static size_t strip_one_terminator(const uint8_t *p, size_t len)
{
    if (len >= 2 && p[len - 2] == '\r' && p[len - 1] == '\n') {
        return len - 2;
    }
    if (len >= 1 && (p[len - 1] == '\r' || p[len - 1] == '\n')) {
        return len - 1;
    }
    return len;
}

static bool letter(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool prefix_ci(const uint8_t *p, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    if (len < n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c >= 'A' && c <= 'Z') {
            c = (uint8_t)(c + 32);
        }
        if (c != (uint8_t)prefix[i]) {
            return false;
        }
    }
    return true;
}

/* Rule 4: "scheme://" with a scheme of at most 32 characters, or an app prefix. */
static bool reference_url(const uint8_t *p, size_t len)
{
    static const char *const prefixes[] = {"www.", "alipays:", "alipay:", "weixin:", "wxp:"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        if (prefix_ci(p, len, prefixes[i])) {
            return true;
        }
    }
    size_t scheme = 0;
    while (scheme < len &&
           (scheme == 0 ? letter(p[0])
                        : letter(p[scheme]) || digit(p[scheme]) || p[scheme] == '+' ||
                              p[scheme] == '-' || p[scheme] == '.')) {
        scheme++;
    }
    return scheme >= 1 && scheme <= 32 && len - scheme >= 3 && memcmp(p + scheme, "://", 3) == 0;
}

static evt_voucher_kind reference_kind(const uint8_t *p, size_t n)
{
    if (n == 0) {
        return EVT_VOUCHER_KIND_UNKNOWN; /* rule 2 */
    }
    if (n > 512) {
        return EVT_VOUCHER_KIND_TOO_LONG; /* rule 3 */
    }
    if (reference_url(p, n)) {
        return EVT_VOUCHER_KIND_URL;
    }
    for (size_t i = 0; i < n; i++) { /* rule 5 */
        uint8_t c = p[i];
        bool space = c == ' ' || (c >= '\t' && c <= '\r');
        if ((c < 0x20 && !space) || c >= 0x7F) {
            return EVT_VOUCHER_KIND_BINARY;
        }
    }
    bool all_digits = true;
    for (size_t i = 0; i < n; i++) { /* rules 6 and 7 */
        uint8_t c = p[i];
        if (!letter(c) && !digit(c) && strchr("-_.=+/:", c) == NULL) {
            return EVT_VOUCHER_KIND_UNKNOWN;
        }
        all_digits = all_digits && digit(c);
    }
    if (all_digits) { /* rule 8 */
        unsigned prefix = n >= 2 ? (unsigned)(p[0] - '0') * 10u + (unsigned)(p[1] - '0') : 0;
        if (n == 18 && prefix >= 10 && prefix <= 15) {
            return EVT_VOUCHER_KIND_WECHAT_PAY;
        }
        if (n >= 16 && n <= 24 && prefix >= 25 && prefix <= 30) {
            return EVT_VOUCHER_KIND_ALIPAY;
        }
        if (n == 19 && prefix == 62) {
            return EVT_VOUCHER_KIND_UNIONPAY;
        }
        return EVT_VOUCHER_KIND_UNKNOWN;
    }
    return n < 20 ? EVT_VOUCHER_KIND_UNKNOWN : EVT_VOUCHER_KIND_EVOUCHER; /* rules 9, 10 */
}

static void check_classify(const uint8_t *data, size_t len)
{
    evt_voucher_class cls;
    evt_err err = evt_voucher_classify(data, len, &cls);
    size_t code_len = strip_one_terminator(data, len);
    evt_voucher_kind want = reference_kind(data, code_len);
    FUZZ_CHECK(err == cls.err, "return value %s but class err %s", evt_err_name(err),
               evt_err_name(cls.err));
    FUZZ_CHECK(cls.code_len == code_len, "code_len %zu, want %zu", cls.code_len, code_len);
    FUZZ_CHECK(cls.kind == want, "kind %s, the documented rules say %s",
               evt_voucher_kind_name(cls.kind), evt_voucher_kind_name(want));
    FUZZ_CHECK((err == EVT_OK) == (cls.kind == EVT_VOUCHER_KIND_EVOUCHER), "kind %s with error %s",
               evt_voucher_kind_name(cls.kind), evt_err_name(err));
}

/* ---- log-safe description ----------------------------------------------------------------- */

static void check_describe(const uint8_t *data, size_t len, size_t small_cap)
{
    char full[128];
    size_t n = evt_voucher_describe(data, len, full, sizeof full);
    FUZZ_CHECK(n == strlen(full) && n < sizeof full, "describe length %zu", n);

    evt_voucher_class cls;
    evt_voucher_classify(data, len, &cls);
    char want[128];
    int w = snprintf(want, sizeof want, "kind=%s len=%zu", evt_voucher_kind_name(cls.kind),
                     cls.code_len);
    size_t head = 0;
    while (head < 2 && head < cls.code_len && (letter(data[head]) || digit(data[head]))) {
        head++;
    }
    if (head > 0) {
        snprintf(want + w, sizeof want - (size_t)w, " head=%.*s", (int)head, (const char *)data);
    }
    FUZZ_CHECK(strcmp(full, want) == 0, "describe gave \"%s\", want \"%s\"", full, want);

    char *small = malloc(small_cap); /* exact size: a write past it is an ASan report */
    FUZZ_CHECK(small != NULL, "host out of memory");
    size_t m = evt_voucher_describe(data, len, small, small_cap);
    size_t expect = n < small_cap - 1 ? n : small_cap - 1;
    FUZZ_CHECK(m == expect && strlen(small) == m && memcmp(small, full, m) == 0,
               "describe into %zu bytes gave \"%s\"", small_cap, small);
    free(small);
}

/* ---- duplicate guard against a model ---------------------------------------------------- */

typedef struct guard_model {
    const uint8_t *code[EVT_VOUCHER_GUARD_SLOTS];
    size_t len[EVT_VOUCHER_GUARD_SLOTS];
    size_t count, next;
} guard_model;

static bool model_has(const guard_model *m, const uint8_t *code, size_t len)
{
    for (size_t i = 0; i < m->count; i++) {
        if (m->len[i] == len && (len == 0 || memcmp(m->code[i], code, len) == 0)) {
            return true;
        }
    }
    return false;
}

static void check_guard(const uint8_t *data, size_t len)
{
    evt_voucher_guard guard;
    evt_voucher_guard_reset(&guard);
    guard_model model = {0};
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && data[i] != '|') {
            continue;
        }
        const uint8_t *code = data + start;
        size_t n = i - start;
        start = i + 1;
        size_t stripped = strip_one_terminator(code, n);
        bool seen = model_has(&model, code, stripped);
        /* A piece starting with 'c' is only checked; every other is accepted. */
        if (n > 0 && code[0] == 'c') {
            evt_err err = evt_voucher_guard_check(&guard, code, n);
            FUZZ_CHECK(err == (seen ? EVT_ERR_VOUCHER_DUPLICATE : EVT_OK), "check: %s (seen %d)",
                       evt_err_name(err), seen);
            continue;
        }
        evt_err err = evt_voucher_guard_accept(&guard, code, n);
        FUZZ_CHECK(err == (seen ? EVT_ERR_VOUCHER_DUPLICATE : EVT_OK), "accept: %s (seen %d)",
                   evt_err_name(err), seen);
        if (!seen) {
            model.code[model.next] = code;
            model.len[model.next] = stripped;
            model.next = (model.next + 1) % EVT_VOUCHER_GUARD_SLOTS;
            if (model.count < EVT_VOUCHER_GUARD_SLOTS) {
                model.count++;
            }
        }
    }
    evt_voucher_guard_reset(&guard);
    static const evt_voucher_guard zero;
    FUZZ_CHECK(memcmp(&guard, &zero, sizeof guard) == 0, "reset left digests behind");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_setup(FUZZ_ARENA_BYTES);
    check_classify(data, len);
    check_describe(data, len, len > 0 ? 1u + data[0] % 48u : 1u);
    check_guard(data, len);
    fuzz_arena_check_empty("voucher");
    return 0;
}
