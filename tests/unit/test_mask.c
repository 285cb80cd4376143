/* evt_mask: names (Chinese, compound surnames, ASCII), ID numbers, invalid UTF-8, small
 * buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "evt/mask.h"

static void expect_name(const char *in, const char *want)
{
    char out[64];
    assert_int_equal(evt_mask_name(in, out, sizeof out), EVT_OK);
    assert_string_equal(out, want);
}

static void expect_id(const char *in, const char *want)
{
    char out[64];
    assert_int_equal(evt_mask_id(in, out, sizeof out), EVT_OK);
    assert_string_equal(out, want);
}

static void test_name_chinese(void **state)
{
    (void)state;
    expect_name("张建国", "张*国");
    expect_name("张三", "张*");
    expect_name("李", "*");
    expect_name("", "");
}

static void test_name_compound_surname(void **state)
{
    (void)state;
    /* Compound surnames only keep their first character: the rule is per character, and
     * keeping two would reveal most of a three-character name. */
    expect_name("欧阳娜娜", "欧**娜");
    expect_name("司马相如", "司**如");
    expect_name("欧阳修", "欧*修");
    expect_name("买买提·艾力", "买****力");
}

static void test_name_ascii_and_mixed(void **state)
{
    (void)state;
    expect_name("John Smith", "J********h");
    expect_name("Li", "L*");
    expect_name("X", "*");
    expect_name("王Wei", "王**i");
    /* 4-byte characters (CJK extension B, used in some rare names) count as one. */
    expect_name("\xF0\xA0\x80\x80\xE5\xBC\xA0\xE4\xB8\x89", "\xF0\xA0\x80\x80*\xE4\xB8\x89");
}

static void test_name_invalid_utf8(void **state)
{
    (void)state;
    expect_name("\xE5\xBC", "***");                 /* truncated sequence */
    expect_name("\xC0\xAF", "***");                 /* overlong '/' */
    expect_name("\xED\xA0\x80\xE4\xB8\x89", "***"); /* surrogate */
    expect_name("\xF4\x90\x80\x80", "***");         /* beyond U+10FFFF */
    expect_name("abc\xFF", "***");
    expect_name("\x80\xE4\xB8\x89", "***"); /* stray continuation byte */
    expect_id("1201\xFF"
              "0419800101123",
              "***");
}

static void test_name_small_buffer(void **state)
{
    (void)state;
    char out[8];
    /* 张*国 needs 3 + 1 + 3 + NUL = 8 bytes. */
    assert_int_equal(evt_mask_name("张建国", out, 8), EVT_OK);
    assert_string_equal(out, "张*国");
    memset(out, 'x', sizeof out);
    assert_int_equal(evt_mask_name("张建国", out, 7), EVT_ERR_OVERFLOW);
    assert_string_equal(out, ""); /* nothing half-masked left behind */
    assert_int_equal(evt_mask_name("李", out, 2), EVT_OK);
    assert_string_equal(out, "*");
    assert_int_equal(evt_mask_name("李", out, 1), EVT_ERR_OVERFLOW);
    assert_int_equal(evt_mask_name("\xFF", out, 3), EVT_ERR_OVERFLOW);
    assert_int_equal(evt_mask_name("\xFF", out, 4), EVT_OK);
    assert_string_equal(out, "***");
    assert_int_equal(evt_mask_name("", out, 1), EVT_OK);
    assert_string_equal(out, "");
}

static void test_bad_args(void **state)
{
    (void)state;
    char out[8];
    assert_int_equal(evt_mask_name(NULL, out, sizeof out), EVT_ERR_ARG);
    assert_int_equal(evt_mask_name("a", NULL, 8), EVT_ERR_ARG);
    assert_int_equal(evt_mask_name("a", out, 0), EVT_ERR_ARG);
    assert_int_equal(evt_mask_id(NULL, out, sizeof out), EVT_ERR_ARG);
    assert_int_equal(evt_mask_id("1", NULL, 8), EVT_ERR_ARG);
}

static void test_id_18_and_15(void **state)
{
    (void)state;
    expect_id("120104198001011234", "1201**********1234");
    expect_id("12010419800101123X", "1201**********123X");
    expect_id("120104800101123", "1201*******1123");
}

static void test_id_short_and_other(void **state)
{
    (void)state;
    expect_id("12345678", "********");
    expect_id("1234567", "*******");
    expect_id("", "");
    expect_id("123456789", "1234*6789");
    /* Passport-style and Hong Kong/Macau permit numbers follow the same rule. */
    expect_id("E12345678", "E123*5678");
    expect_id("H1234567890", "H123***7890");
}

static void test_id_small_buffer(void **state)
{
    (void)state;
    char out[19];
    assert_int_equal(evt_mask_id("120104198001011234", out, sizeof out), EVT_OK);
    assert_string_equal(out, "1201**********1234");
    assert_int_equal(evt_mask_id("120104198001011234", out, 18), EVT_ERR_OVERFLOW);
    assert_string_equal(out, "");
    assert_int_equal(evt_mask_id("12345678", out, 8), EVT_ERR_OVERFLOW);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    size_t chars = 99;
    assert_true(evt_mask_utf8_valid("和平区康宁大药房", strlen("和平区康宁大药房"), &chars));
    assert_int_equal(chars, 8);
    assert_true(evt_mask_utf8_valid("", 0, &chars));
    assert_int_equal(chars, 0);
    assert_true(evt_mask_utf8_valid(NULL, 0, NULL));
    assert_false(evt_mask_utf8_valid("a\0b", 3, NULL));             /* embedded NUL */
    assert_false(evt_mask_utf8_valid("\xE0\x80\x80", 3, NULL));     /* overlong 3-byte */
    assert_false(evt_mask_utf8_valid("\xF0\x80\x80\x80", 4, NULL)); /* overlong 4-byte */
    assert_true(evt_mask_utf8_valid("\xF4\x8F\xBF\xBF", 4, NULL));  /* U+10FFFF */
    assert_true(evt_mask_utf8_valid("\xEF\xBB\xBF", 3, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_chinese),         cmocka_unit_test(test_name_compound_surname),
        cmocka_unit_test(test_name_ascii_and_mixed), cmocka_unit_test(test_name_invalid_utf8),
        cmocka_unit_test(test_name_small_buffer),    cmocka_unit_test(test_bad_args),
        cmocka_unit_test(test_id_18_and_15),         cmocka_unit_test(test_id_short_and_other),
        cmocka_unit_test(test_id_small_buffer),      cmocka_unit_test(test_utf8_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
