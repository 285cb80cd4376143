/* evt_voucher: classification of scanned payloads, log-safe descriptions, duplicate guard. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "evt/voucher.h"

/* Shape of the emulator's codes: region (6) + base32 random (24) + base32 check (16). */
#define EMU_CODE                                                                                   \
    "120104"                                                                                       \
    "K7Q2MZ4XW3RJ5TNB6YHC2D4F"                                                                     \
    "G7JKLMNPQRSTUV23"

static evt_err classify_str(const char *s, evt_voucher_class *cls)
{
    return evt_voucher_classify((const uint8_t *)s, strlen(s), cls);
}

static void expect_kind(const char *s, evt_voucher_kind kind, evt_err err)
{
    evt_voucher_class cls;
    evt_err got = classify_str(s, &cls);
    if (got != err || cls.kind != kind) {
        fail_msg("payload of %zu bytes: got %s/%s, want %s/%s", strlen(s),
                 evt_voucher_kind_name(cls.kind), evt_err_name(got), evt_voucher_kind_name(kind),
                 evt_err_name(err));
    }
    assert_int_equal(cls.err, got);
}

static void test_emulator_code_is_candidate(void **state)
{
    (void)state;
    assert_int_equal(strlen(EMU_CODE), 46);
    evt_voucher_class cls;
    assert_int_equal(classify_str(EMU_CODE, &cls), EVT_OK);
    assert_int_equal(cls.kind, EVT_VOUCHER_KIND_EVOUCHER);
    assert_int_equal(cls.code_len, 46);
}

static void test_other_candidate_shapes(void **state)
{
    (void)state;
    /* The firmware must not depend on the emulator's shape: base64, separators, lowercase. */
    expect_kind("aGVsbG8td29ybGQtZXZvdWNoZXI=", EVT_VOUCHER_KIND_EVOUCHER, EVT_OK);
    expect_kind("EC01:120000:ab_cd-ef.gh+ij/kl", EVT_VOUCHER_KIND_EVOUCHER, EVT_OK);
    expect_kind("ABCDEFGHIJ0123456789", EVT_VOUCHER_KIND_EVOUCHER, EVT_OK); /* exactly 20 */
    char max[EVT_VOUCHER_MAX_LEN + 1];
    memset(max, 'A', EVT_VOUCHER_MAX_LEN);
    max[EVT_VOUCHER_MAX_LEN] = '\0';
    expect_kind(max, EVT_VOUCHER_KIND_EVOUCHER, EVT_OK);
}

static void test_trailing_terminator_stripped_once(void **state)
{
    (void)state;
    evt_voucher_class cls;
    assert_int_equal(classify_str(EMU_CODE "\r\n", &cls), EVT_OK);
    assert_int_equal(cls.code_len, 46);
    assert_int_equal(classify_str(EMU_CODE "\n", &cls), EVT_OK);
    assert_int_equal(cls.code_len, 46);
    assert_int_equal(classify_str(EMU_CODE "\r", &cls), EVT_OK);
    assert_int_equal(cls.code_len, 46);
    /* Only one terminator is the engine's; a second one is part of a strange payload. */
    assert_int_equal(classify_str(EMU_CODE "\n\n", &cls), EVT_ERR_VOUCHER_UNKNOWN);
    assert_int_equal(classify_str(EMU_CODE "\r\n\r\n", &cls), EVT_ERR_VOUCHER_UNKNOWN);
    /* A 512-byte code plus CR LF is still within the limit. */
    char buf[EVT_VOUCHER_MAX_LEN + 2];
    memset(buf, 'B', EVT_VOUCHER_MAX_LEN);
    buf[EVT_VOUCHER_MAX_LEN] = '\r';
    buf[EVT_VOUCHER_MAX_LEN + 1] = '\n';
    assert_int_equal(evt_voucher_classify((const uint8_t *)buf, sizeof buf, &cls), EVT_OK);
    assert_int_equal(cls.code_len, EVT_VOUCHER_MAX_LEN);
}

static void test_wechat_pay(void **state)
{
    (void)state;
    expect_kind("134567890123456789", EVT_VOUCHER_KIND_WECHAT_PAY, EVT_ERR_VOUCHER_WECHAT_PAY);
    expect_kind("101234567890123456", EVT_VOUCHER_KIND_WECHAT_PAY, EVT_ERR_VOUCHER_WECHAT_PAY);
    expect_kind("151234567890123456\r\n", EVT_VOUCHER_KIND_WECHAT_PAY, EVT_ERR_VOUCHER_WECHAT_PAY);
    /* Outside the prefix range or the length: not WeChat. */
    expect_kind("161234567890123456", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("091234567890123456", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("13456789012345678", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("1345678901234567890", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
}

static void test_alipay(void **state)
{
    (void)state;
    expect_kind("2512345678901234", EVT_VOUCHER_KIND_ALIPAY, EVT_ERR_VOUCHER_ALIPAY); /* 16 */
    expect_kind("281234567890123456", EVT_VOUCHER_KIND_ALIPAY, EVT_ERR_VOUCHER_ALIPAY);
    expect_kind("301234567890123456789012", EVT_VOUCHER_KIND_ALIPAY,
                EVT_ERR_VOUCHER_ALIPAY); /* 24 */
    expect_kind("251234567890123", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("2512345678901234567890123", EVT_VOUCHER_KIND_UNKNOWN,
                EVT_ERR_VOUCHER_UNKNOWN); /* 25 digits */
    expect_kind("311234567890123456", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("241234567890123456", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
}

static void test_unionpay(void **state)
{
    (void)state;
    expect_kind("6212345678901234567", EVT_VOUCHER_KIND_UNIONPAY, EVT_ERR_VOUCHER_UNIONPAY);
    expect_kind("621234567890123456", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("62123456789012345678", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
}

static void test_all_digits_never_voucher(void **state)
{
    (void)state;
    /* Long enough for a voucher, but all digits: a bar code or unknown payment code. */
    expect_kind("12345678901234567890123456789012345", EVT_VOUCHER_KIND_UNKNOWN,
                EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("1", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
}

static void test_urls(void **state)
{
    (void)state;
    expect_kind("https://example.com/pay?id=1", EVT_VOUCHER_KIND_URL, EVT_ERR_VOUCHER_URL);
    expect_kind("HTTP://EXAMPLE.COM/A", EVT_VOUCHER_KIND_URL, EVT_ERR_VOUCHER_URL);
    expect_kind("wxp://f2f0abcdefg", EVT_VOUCHER_KIND_URL, EVT_ERR_VOUCHER_URL);
    expect_kind("alipays://platformapi/startapp", EVT_VOUCHER_KIND_URL, EVT_ERR_VOUCHER_URL);
    expect_kind("alipays:x", EVT_VOUCHER_KIND_URL, EVT_ERR_VOUCHER_URL);
    expect_kind("weixin:abc", EVT_VOUCHER_KIND_URL, EVT_ERR_VOUCHER_URL);
    expect_kind("www.example.com", EVT_VOUCHER_KIND_URL, EVT_ERR_VOUCHER_URL);
    expect_kind("WWW.EXAMPLE.COM/ABCDEFGHIJ", EVT_VOUCHER_KIND_URL, EVT_ERR_VOUCHER_URL);
    expect_kind("ftp://h", EVT_VOUCHER_KIND_URL, EVT_ERR_VOUCHER_URL);
    expect_kind("x-custom+app.v2://deep/link", EVT_VOUCHER_KIND_URL, EVT_ERR_VOUCHER_URL);
    /* A link with a Chinese path is reported as a link, not as binary. */
    expect_kind("https://example.com/医保", EVT_VOUCHER_KIND_URL, EVT_ERR_VOUCHER_URL);
    /* "://" deep inside a code is not a scheme; ':' without "//" is not either. */
    expect_kind("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ://x", EVT_VOUCHER_KIND_EVOUCHER, EVT_OK);
    expect_kind("EC01:ABCDEFGHIJKLMNOPQRSTUV", EVT_VOUCHER_KIND_EVOUCHER, EVT_OK);
    expect_kind("1http://example.com/abcdef", EVT_VOUCHER_KIND_EVOUCHER, EVT_OK);
}

static void test_too_long(void **state)
{
    (void)state;
    char big[EVT_VOUCHER_MAX_LEN + 2];
    memset(big, 'A', EVT_VOUCHER_MAX_LEN + 1);
    big[EVT_VOUCHER_MAX_LEN + 1] = '\0';
    expect_kind(big, EVT_VOUCHER_KIND_TOO_LONG, EVT_ERR_VOUCHER_TOO_LONG);
    /* Even a long binary blob or a long URL is reported as too long first. */
    memcpy(big, "https://", 8);
    expect_kind(big, EVT_VOUCHER_KIND_TOO_LONG, EVT_ERR_VOUCHER_TOO_LONG);
    uint8_t bin[600];
    memset(bin, 0xFF, sizeof bin);
    evt_voucher_class cls;
    assert_int_equal(evt_voucher_classify(bin, sizeof bin, &cls), EVT_ERR_VOUCHER_TOO_LONG);
}

static void test_binary(void **state)
{
    (void)state;
    expect_kind("ABCDEFGHIJ\x01KLMNOPQRSTUVWXYZ", EVT_VOUCHER_KIND_BINARY, EVT_ERR_VOUCHER_BINARY);
    expect_kind("ABCDEFGHIJ\x7FKLMNOPQRSTUVWXYZ", EVT_VOUCHER_KIND_BINARY, EVT_ERR_VOUCHER_BINARY);
    expect_kind("医保电子凭证医保电子凭证", EVT_VOUCHER_KIND_BINARY, EVT_ERR_VOUCHER_BINARY);
    expect_kind("\x1B[0mABCDEFGHIJKLMNOPQRST", EVT_VOUCHER_KIND_BINARY, EVT_ERR_VOUCHER_BINARY);
    /* An embedded NUL is binary too (length-based API, not C strings). */
    const uint8_t nul[] = {'A', 'B', 'C', 0,   'D', 'E', 'F', 'G', 'H', 'I', 'J',
                           'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S', 'T', 'U'};
    evt_voucher_class cls;
    assert_int_equal(evt_voucher_classify(nul, sizeof nul, &cls), EVT_ERR_VOUCHER_BINARY);
}

static void test_unknown_shapes(void **state)
{
    (void)state;
    expect_kind("", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("\r\n", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("ABCDEFGHIJ0123456789"
                "X"
                "\t",
                EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("ABCDEFGHIJ012345678", EVT_VOUCHER_KIND_UNKNOWN,
                EVT_ERR_VOUCHER_UNKNOWN); /* 19 chars */
    expect_kind("ABCDEFGHIJ 0123456789ABC", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind(" " EMU_CODE, EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("line one of a note\nline two of a note", EVT_VOUCHER_KIND_UNKNOWN,
                EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("WIFI:T:WPA;S:pharmacy-guest;P:secret123;;", EVT_VOUCHER_KIND_UNKNOWN,
                EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("mailto:someone@example.com", EVT_VOUCHER_KIND_UNKNOWN, EVT_ERR_VOUCHER_UNKNOWN);
    expect_kind("BEGIN:VCARD-VERSION:3.0-N:Zhang;San", EVT_VOUCHER_KIND_UNKNOWN,
                EVT_ERR_VOUCHER_UNKNOWN);
}

static void test_bad_args(void **state)
{
    (void)state;
    evt_voucher_class cls = {.kind = EVT_VOUCHER_KIND_URL};
    assert_int_equal(evt_voucher_classify(NULL, 3, &cls), EVT_ERR_ARG);
    assert_int_equal(cls.kind, EVT_VOUCHER_KIND_URL); /* untouched */
    assert_int_equal(evt_voucher_classify((const uint8_t *)"x", 1, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_voucher_classify(NULL, 0, &cls), EVT_ERR_VOUCHER_UNKNOWN);
}

static void test_describe_never_leaks_code(void **state)
{
    (void)state;
    char out[64];
    size_t n = evt_voucher_describe((const uint8_t *)EMU_CODE "\r\n", 48, out, sizeof out);
    assert_string_equal(out, "kind=evoucher len=46 head=12");
    assert_int_equal(n, strlen(out));
    assert_null(strstr(out, "120104"));

    evt_voucher_describe((const uint8_t *)"134567890123456789", 18, out, sizeof out);
    assert_string_equal(out, "kind=wechat_pay len=18 head=13");
    evt_voucher_describe((const uint8_t *)"https://x.cn/a", 14, out, sizeof out);
    assert_string_equal(out, "kind=url len=14 head=ht");
    evt_voucher_describe((const uint8_t *)"\xE5\x8C\xBB", 3, out, sizeof out);
    assert_string_equal(out, "kind=binary len=3");
    evt_voucher_describe((const uint8_t *)"A\x01", 2, out, sizeof out);
    assert_string_equal(out, "kind=binary len=2 head=A");
    evt_voucher_describe(NULL, 0, out, sizeof out);
    assert_string_equal(out, "kind=unknown len=0");
    evt_voucher_describe(NULL, 5, out, sizeof out);
    assert_string_equal(out, "");

    /* Small buffers truncate and stay terminated. */
    char tiny[8];
    n = evt_voucher_describe((const uint8_t *)EMU_CODE, 46, tiny, sizeof tiny);
    assert_int_equal(n, 7);
    assert_string_equal(tiny, "kind=ev");
    assert_int_equal(evt_voucher_describe((const uint8_t *)EMU_CODE, 46, tiny, 0), 0);
}

static void test_guard_duplicates(void **state)
{
    (void)state;
    evt_voucher_guard guard;
    evt_voucher_guard_reset(&guard);
    const uint8_t *a = (const uint8_t *)EMU_CODE;
    const uint8_t *b = (const uint8_t *)"120104AAAAAAAAAAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB";
    assert_int_equal(evt_voucher_guard_check(&guard, a, 46), EVT_OK);
    assert_int_equal(evt_voucher_guard_accept(&guard, a, 46), EVT_OK);
    assert_int_equal(evt_voucher_guard_check(&guard, a, 46), EVT_ERR_VOUCHER_DUPLICATE);
    assert_int_equal(evt_voucher_guard_accept(&guard, a, 46), EVT_ERR_VOUCHER_DUPLICATE);
    /* The same code with the engine's terminator is the same code. */
    assert_int_equal(evt_voucher_guard_accept(&guard, (const uint8_t *)EMU_CODE "\r\n", 48),
                     EVT_ERR_VOUCHER_DUPLICATE);
    assert_int_equal(evt_voucher_guard_accept(&guard, b, 46), EVT_OK);
    assert_int_equal(guard.count, 2);

    /* Only digests are kept, never the text. */
    assert_null(memmem(&guard, sizeof guard, "120104", 6));

    /* Sale end: everything forgotten and wiped. */
    evt_voucher_guard_reset(&guard);
    assert_int_equal(guard.count, 0);
    static const uint8_t zero[sizeof(evt_voucher_guard)];
    assert_memory_equal(&guard, zero, sizeof guard);
    assert_int_equal(evt_voucher_guard_accept(&guard, a, 46), EVT_OK);
}

static void test_guard_ring(void **state)
{
    (void)state;
    evt_voucher_guard guard;
    evt_voucher_guard_reset(&guard);
    char code[32];
    for (int i = 0; i < EVT_VOUCHER_GUARD_SLOTS + 1; i++) {
        snprintf(code, sizeof code, "CODE%02dABCDEFGHIJKLMNOP", i);
        assert_int_equal(evt_voucher_guard_accept(&guard, (const uint8_t *)code, strlen(code)),
                         EVT_OK);
    }
    assert_int_equal(guard.count, EVT_VOUCHER_GUARD_SLOTS);
    /* The oldest was forgotten (the platform still refuses a reused dynamic code); the
     * newest ones are remembered. */
    snprintf(code, sizeof code, "CODE%02dABCDEFGHIJKLMNOP", 0);
    assert_int_equal(evt_voucher_guard_check(&guard, (const uint8_t *)code, strlen(code)), EVT_OK);
    for (int i = 1; i < EVT_VOUCHER_GUARD_SLOTS + 1; i++) {
        snprintf(code, sizeof code, "CODE%02dABCDEFGHIJKLMNOP", i);
        assert_int_equal(evt_voucher_guard_check(&guard, (const uint8_t *)code, strlen(code)),
                         EVT_ERR_VOUCHER_DUPLICATE);
    }
    assert_int_equal(evt_voucher_guard_accept(NULL, (const uint8_t *)"x", 1), EVT_ERR_ARG);
    assert_int_equal(evt_voucher_guard_check(&guard, NULL, 1), EVT_ERR_ARG);
    evt_voucher_guard_reset(NULL); /* harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emulator_code_is_candidate),
        cmocka_unit_test(test_other_candidate_shapes),
        cmocka_unit_test(test_trailing_terminator_stripped_once),
        cmocka_unit_test(test_wechat_pay),
        cmocka_unit_test(test_alipay),
        cmocka_unit_test(test_unionpay),
        cmocka_unit_test(test_all_digits_never_voucher),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_unknown_shapes),
        cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_describe_never_leaks_code),
        cmocka_unit_test(test_guard_duplicates),
        cmocka_unit_test(test_guard_ring),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
