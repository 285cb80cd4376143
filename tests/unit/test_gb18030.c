/* evt_gb18030 against the host's iconv, the reference the table was generated from. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <iconv.h>
#include <stdio.h>
#include <string.h>

#include "evt/gb18030.h"

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* What iconv makes of one code point; '?' where it refuses (as the firmware promises). */
static size_t iconv_reference(iconv_t cd, uint32_t cp, uint8_t *out)
{
    uint8_t in[4] = {(uint8_t)cp, (uint8_t)(cp >> 8), (uint8_t)(cp >> 16), (uint8_t)(cp >> 24)};
    char *inp = (char *)in, *outp = (char *)out;
    size_t inleft = 4, outleft = 8;
    iconv(cd, NULL, NULL, NULL, NULL);
    if (iconv(cd, &inp, &inleft, &outp, &outleft) == (size_t)-1) {
        out[0] = '?';
        return 1;
    }
    return 8 - outleft;
}

static void check_code_point(iconv_t cd, uint32_t cp)
{
    char utf8[4];
    size_t ulen = utf8_encode(cp, utf8);
    uint8_t want[8], got[8];
    size_t want_len = iconv_reference(cd, cp, want);
    size_t got_len = 0;
    evt_err err = evt_gb18030_from_utf8(utf8, ulen, got, sizeof got, &got_len);
    if (err != EVT_OK || got_len != want_len || memcmp(got, want, want_len) != 0) {
        fail_msg("U+%04X: got %zu bytes, iconv %zu bytes", (unsigned)cp, got_len, want_len);
    }
    /* The width rule must follow the encoding: one column only for one byte. */
    assert_int_equal(evt_gb18030_width(utf8, ulen), want_len == 1 ? 1 : 2);
    assert_int_equal(evt_gb18030_length(utf8, ulen), want_len);
}

static void test_every_bmp_code_point_matches_iconv(void **state)
{
    (void)state;
    iconv_t cd = iconv_open("GB18030", "UTF-32LE");
    assert_true(cd != (iconv_t)-1);
    size_t surrogates = 0;
    for (uint32_t cp = 0; cp <= 0xFFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            /* Not encodable in UTF-8 at all; see the invalid-input test. */
            surrogates++;
            continue;
        }
        check_code_point(cd, cp);
    }
    assert_int_equal(surrogates, 2048);
    iconv_close(cd);
}

static void test_supplementary_planes_match_iconv(void **state)
{
    (void)state;
    iconv_t cd = iconv_open("GB18030", "UTF-32LE");
    assert_true(cd != (iconv_t)-1);
    /* Every 97th code point plus both ends: the arithmetic is linear, so a dense sample shows
     * any off-by-one. */
    for (uint32_t cp = 0x10000; cp <= 0x10FFFF; cp += 97) {
        check_code_point(cd, cp);
    }
    check_code_point(cd, 0x10FFFF);
    check_code_point(cd, 0x20BB7); /* 𠮷, a name character outside the BMP */
    iconv_close(cd);
}

static void test_known_receipt_text(void **state)
{
    (void)state;
    const char *text = "医保结算单 A1";
    /* 医 D2BD 保 B1A3 结 BDE1 算 CBE3 单 B5A5 */
    const uint8_t want[] = {0xD2, 0xBD, 0xB1, 0xA3, 0xBD, 0xE1, 0xCB,
                            0xE3, 0xB5, 0xA5, ' ',  'A',  '1'};
    uint8_t out[32];
    size_t n = 0;
    assert_int_equal(evt_gb18030_from_utf8(text, strlen(text), out, sizeof out, &n), EVT_OK);
    assert_int_equal(n, sizeof want);
    assert_memory_equal(out, want, sizeof want);
    assert_int_equal(evt_gb18030_width(text, strlen(text)), 13);
    /* Euro sign and em dash (used for "no account") are two bytes; U+0080 is four. */
    uint8_t enc[4];
    assert_int_equal(evt_gb18030_encode(0x20AC, enc), 2);
    assert_int_equal(enc[0], 0xA2);
    assert_int_equal(enc[1], 0xE3);
    assert_int_equal(evt_gb18030_encode(0x2014, enc), 2);
    assert_int_equal(enc[0], 0xA1);
    assert_int_equal(enc[1], 0xAA);
    assert_int_equal(evt_gb18030_encode(0x80, enc), 4);
    assert_memory_equal(enc, "\x81\x30\x81\x30", 4);
    assert_int_equal(evt_gb18030_encode(0xFFFF, enc), 4);
    assert_memory_equal(enc, "\x84\x31\xA4\x39", 4);
    assert_int_equal(evt_gb18030_encode(0x10000, enc), 4);
    assert_memory_equal(enc, "\x90\x30\x81\x30", 4);
}

static void convert(const char *in, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    assert_int_equal(evt_gb18030_from_utf8(in, len, (uint8_t *)out, cap - 1, &n), EVT_OK);
    out[n] = '\0';
}

static void test_invalid_utf8_becomes_question_marks(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        /* Lone continuation, invalid lead bytes. */
        {"a\x80z", 3, "a?z"},
        {"\xC0\xAF\xFE\xFF", 4, "????"},
        /* Overlong 3-byte form of '/', encoded surrogate U+D800, past U+10FFFF: each maximal
         * invalid prefix is one '?' and the following bytes are looked at again. */
        {"\xE0\x80\xAF", 3, "???"},
        {"\xED\xA0\x80x", 4, "???x"},
        {"\xF4\x90\x80\x80", 4, "????"},
        /* Truncated sequences: a valid prefix then ASCII, and at the very end. */
        {"\xE5\x8Cz", 3, "?z"},
        {"ab\xE5\x8C", 4, "ab?"},
        {"\xF0\x9F\x98", 3, "?"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        convert(cases[i].in, cases[i].len, out, sizeof out);
        assert_string_equal(out, cases[i].want);
    }
    assert_int_equal(evt_gb18030_width("\xE5\x8C", 2), 1);
    /* Out-of-range code points handed to the encoder directly. */
    uint8_t enc[4];
    assert_int_equal(evt_gb18030_encode(0xD800, enc), 1);
    assert_int_equal(enc[0], '?');
    assert_int_equal(evt_gb18030_encode(0x110000, enc), 1);
    assert_int_equal(evt_gb18030_encode(EVT_GB18030_INVALID, enc), 1);
    assert_int_equal(enc[0], '?');
}

static void test_overflow_keeps_whole_characters(void **state)
{
    (void)state;
    const char *text = "ab医保";
    uint8_t out[5];
    size_t n = 99;
    assert_int_equal(evt_gb18030_from_utf8(text, strlen(text), out, 5, &n), EVT_ERR_OVERFLOW);
    assert_int_equal(n, 4); /* "ab" + 医, not half of 保 */
    assert_int_equal(evt_gb18030_from_utf8(text, strlen(text), out, 0, &n), EVT_ERR_OVERFLOW);
    assert_int_equal(n, 0);
    assert_int_equal(evt_gb18030_from_utf8(NULL, 3, out, 5, &n), EVT_ERR_ARG);
    assert_int_equal(evt_gb18030_from_utf8(text, 2, out, 5, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_gb18030_from_utf8("", 0, NULL, 0, &n), EVT_OK);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_bmp_code_point_matches_iconv),
        cmocka_unit_test(test_supplementary_planes_match_iconv),
        cmocka_unit_test(test_known_receipt_text),
        cmocka_unit_test(test_invalid_utf8_becomes_question_marks),
        cmocka_unit_test(test_overflow_keeps_whole_characters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
