/* evt_money: every amount form the platform sends, every form it must refuse, round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "evt/money.h"

static evt_err parse(const char *text, evt_fen *out, bool *present)
{
    return evt_money_parse(text, strlen(text), out, present);
}

static void expect_amount(const char *text, evt_fen want)
{
    evt_fen fen = -1;
    bool present = false;
    assert_int_equal(parse(text, &fen, &present), EVT_OK);
    assert_true(present);
    if (fen != want) {
        fail_msg("\"%s\": got %lld fen, want %lld", text, (long long)fen, (long long)want);
    }
}

static void expect_invalid(const char *text, size_t len)
{
    evt_fen fen = 77;
    bool present = true;
    evt_err err = evt_money_parse(text, len, &fen, &present);
    if (err != EVT_ERR_MONEY_INVALID) {
        fail_msg("\"%.*s\" accepted or wrong error %s", (int)len, text, evt_err_name(err));
    }
    assert_int_equal(fen, 0);
    assert_false(present);
}

static void expect_invalid_str(const char *text)
{
    expect_invalid(text, strlen(text));
}

static void test_platform_forms(void **state)
{
    (void)state;
    expect_amount("12.30", 1230);
    expect_amount("12.3", 1230);
    expect_amount("12", 1200);
    expect_amount("0", 0);
    expect_amount("0.0", 0);
    expect_amount("0.00", 0);
    expect_amount("0.0000", 0);
    expect_amount("-5.00", -500);
    expect_amount("-0.05", -5);
    expect_amount("-0", 0);
    expect_amount("-0.00", 0);
    expect_amount("0.01", 1);
    expect_amount("0.1", 10);
    expect_amount("0.10", 10);
    expect_amount("100", 10000);
    expect_amount("1234.56", 123456);
    expect_amount("12.300000", 1230); /* padded to the 16,6 scale */
    expect_amount("99999999999999.99", EVT_FEN_MAX);
    expect_amount("-99999999999999.99", -EVT_FEN_MAX);
    expect_amount("99999999999999", INT64_C(9999999999999900));
}

static void test_empty_is_not_applicable(void **state)
{
    (void)state;
    evt_fen fen = 99;
    bool present = true;
    assert_int_equal(evt_money_parse("", 0, &fen, &present), EVT_OK);
    assert_int_equal(fen, 0);
    assert_false(present);
    assert_int_equal(evt_money_parse(NULL, 0, &fen, &present), EVT_OK);
    assert_false(present);
    /* present is optional for callers that do not care. */
    assert_int_equal(evt_money_parse("1.00", 4, &fen, NULL), EVT_OK);
    assert_int_equal(fen, 100);
}

static void test_rejections(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "1e3",
        "1E3",
        "1.0e2",
        "12.30e0",
        "+1",
        " 1",
        "1 ",
        "1,000",
        "1_000",
        "01",
        "00",
        "00.10",
        "-01",
        "1.",
        ".5",
        "-.5",
        "-",
        "--1",
        "1.005",
        "0.001",
        "1.2.3",
        "1..2",
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "\xe2\x88\x9e",
        /* ∞ */ "¥12",
        "12元",
        "0x10",
        "12.3O",
        "1 2",
        "\t1",
        "1\n",
        "12.3000001", /* more than six decimals, even though zero-valued digits follow */
        "0.0000000",
        "123456789012345",       /* 15 integer digits: over 16,2 */
        "100000000000000.00",    /* EVT_FEN_MAX + 1 fen */
        "9223372036854775807",   /* INT64_MAX as yuan */
        "92233720368547758.07",  /* INT64_MAX in fen, as text */
        "-92233720368547758.08", /* INT64_MIN in fen, as text */
        "18446744073709551616",  /* 2^64: would wrap an unsigned accumulator to 0 */
        "99999999999999999999999999999999999999.99",
        "true",
        "null",
        "\"1\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_invalid_str(bad[i]);
    }
    /* A NUL inside the given length is not a terminator. */
    expect_invalid("1\0"
                   "2",
                   3);
    expect_invalid("12.30\0", 6);
}

static void test_length_bounds_the_text(void **state)
{
    (void)state;
    /* Only len bytes are read: the rest of the buffer is not part of the amount. */
    evt_fen fen = 0;
    assert_int_equal(evt_money_parse("12.30xyz", 5, &fen, NULL), EVT_OK);
    assert_int_equal(fen, 1230);
    assert_int_equal(evt_money_parse("123", 1, &fen, NULL), EVT_OK);
    assert_int_equal(fen, 100);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    bool present;
    evt_fen fen;
    assert_int_equal(evt_money_parse("1", 1, NULL, &present), EVT_ERR_ARG);
    assert_int_equal(evt_money_parse(NULL, 1, &fen, &present), EVT_ERR_ARG);
}

static void expect_format(evt_fen fen, const char *want)
{
    char buf[EVT_MONEY_TEXT_BYTES];
    size_t n = evt_money_format(fen, buf, sizeof buf);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void test_format(void **state)
{
    (void)state;
    expect_format(0, "0.00");
    expect_format(1, "0.01");
    expect_format(10, "0.10");
    expect_format(99, "0.99");
    expect_format(100, "1.00");
    expect_format(1230, "12.30");
    expect_format(-5, "-0.05");
    expect_format(-500, "-5.00");
    expect_format(-123456, "-1234.56");
    expect_format(EVT_FEN_MAX, "99999999999999.99");
    expect_format(INT64_MAX, "92233720368547758.07");
    expect_format(INT64_MIN, "-92233720368547758.08");
}

static void test_format_capacity(void **state)
{
    (void)state;
    char buf[8];
    memset(buf, 'x', sizeof buf);
    /* "1234.56" needs 7 chars + NUL = 8. */
    assert_int_equal(evt_money_format(123456, buf, 8), 7);
    assert_string_equal(buf, "1234.56");
    assert_int_equal(evt_money_format(123456, buf, 7), 0);
    assert_string_equal(buf, "");
    assert_int_equal(evt_money_format(-1, buf, 5), 0); /* "-0.01" needs 6 */
    assert_int_equal(evt_money_format(-1, buf, 6), 5);
    assert_string_equal(buf, "-0.01");
    assert_int_equal(evt_money_format(1, NULL, 10), 0);
    assert_int_equal(evt_money_format(1, buf, 0), 0);
    char big[EVT_MONEY_TEXT_BYTES];
    assert_true(evt_money_format(INT64_MIN, big, sizeof big) > 0);
}

static void test_in_range(void **state)
{
    (void)state;
    assert_true(evt_money_in_range(0));
    assert_true(evt_money_in_range(EVT_FEN_MAX));
    assert_true(evt_money_in_range(-EVT_FEN_MAX));
    assert_false(evt_money_in_range(EVT_FEN_MAX + 1));
    assert_false(evt_money_in_range(-EVT_FEN_MAX - 1));
    assert_false(evt_money_in_range(INT64_MIN));
}

/* xorshift64*: deterministic so a failure reproduces. */
static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static void round_trip(evt_fen fen)
{
    char buf[EVT_MONEY_TEXT_BYTES];
    size_t n = evt_money_format(fen, buf, sizeof buf);
    assert_true(n > 0);
    evt_fen back = 0;
    bool present = false;
    assert_int_equal(evt_money_parse(buf, n, &back, &present), EVT_OK);
    assert_true(present);
    if (back != fen) {
        fail_msg("%lld -> \"%s\" -> %lld", (long long)fen, buf, (long long)back);
    }
}

static void test_property_format_parse_round_trip(void **state)
{
    (void)state;
    /* Boundaries first, then random values of every magnitude (uniform over bit lengths so
     * small amounts, the common case, are not drowned out by huge ones). */
    static const evt_fen edges[] = {0,
                                    1,
                                    -1,
                                    9,
                                    10,
                                    99,
                                    100,
                                    101,
                                    -99,
                                    -100,
                                    EVT_FEN_MAX,
                                    -EVT_FEN_MAX,
                                    EVT_FEN_MAX - 1,
                                    1000000,
                                    123456789};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        round_trip(edges[i]);
    }
    for (int i = 0; i < 200000; i++) {
        uint64_t r = rng_next();
        unsigned bits = (unsigned)(r % 54u); /* EVT_FEN_MAX < 2^54 */
        uint64_t magnitude = bits == 0 ? 0 : (rng_next() >> (64u - bits));
        evt_fen fen = (evt_fen)(magnitude % (uint64_t)(EVT_FEN_MAX + 1));
        round_trip((r & 1u) ? -fen : fen);
    }
}

static void test_property_parse_of_padded_forms(void **state)
{
    (void)state;
    /* Every way the platform may write one amount parses to the same fen. */
    for (int i = 0; i < 20000; i++) {
        evt_fen fen = (evt_fen)(rng_next() % UINT64_C(100000000));
        char canon[EVT_MONEY_TEXT_BYTES];
        size_t n = evt_money_format(fen, canon, sizeof canon);
        char form[40];
        evt_fen back;
        /* Four decimals: "12.3000". */
        memcpy(form, canon, n);
        memcpy(form + n, "00", 3);
        assert_int_equal(parse(form, &back, NULL), EVT_OK);
        assert_int_equal(back, fen);
        /* Trailing zero dropped: "12.3", or "12" when both decimals are zero. */
        memcpy(form, canon, n + 1);
        size_t m = n;
        if (form[m - 1] == '0') {
            form[--m] = '\0';
            if (form[m - 1] == '0') {
                form[m -= 2] = '\0';
            }
        }
        assert_int_equal(parse(form, &back, NULL), EVT_OK);
        assert_int_equal(back, fen);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_platform_forms),
        cmocka_unit_test(test_empty_is_not_applicable),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_length_bounds_the_text),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_capacity),
        cmocka_unit_test(test_in_range),
        cmocka_unit_test(test_property_format_parse_round_trip),
        cmocka_unit_test(test_property_parse_of_padded_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
