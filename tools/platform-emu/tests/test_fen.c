/* emu.fen: the emulator's own exact decimal parser and amount writer, and the ID check. */
#include "emu.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static void accepts_exact_forms(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        emu_fen fen;
    } ok[] = {
        {"0", 0},          {"0.0000", 0}, {"12.30", 1230},
        {"12.3", 1230},    {"12", 1200},  {"-12.30", -1230},
        {"0.01", 1},       {"-0.01", -1}, {"7.000000", 700},
        {"100.10", 10010}, {"-0", 0},     {"99999999999999.99", 9999999999999999},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        emu_fen f = -42;
        assert_int_equal(emu_fen_parse(ok[i].text, &f), 0);
        assert_int_equal(f, ok[i].fen);
    }
}

static void rejects_inexact_and_foreign_forms(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "-",
        ".5",
        "12.",
        "12.345",
        "1e3",
        "1E2",
        "+1",
        " 1",
        "1 ",
        "012.30",
        "00",
        "0x10",
        "12,30",
        "--1",
        "1.2.3",
        "NaN",
        "Infinity",
        "123456789012345", /* 15 integer digits: beyond 16,2 */
        "12.301",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        emu_fen f = 77;
        assert_int_equal(emu_fen_parse(bad[i], &f), -1);
        assert_int_equal(f, 77); /* untouched on failure */
    }
}

static void other_scales(void **state)
{
    (void)state;
    int64_t v;
    assert_int_equal(emu_dec_parse("1.5", 4, &v), 0);
    assert_int_equal(v, 15000);
    assert_int_equal(emu_dec_parse("28.000000", 6, &v), 0);
    assert_int_equal(v, 28000000);
    assert_int_equal(emu_dec_parse("0.0000001", 6, &v), -1);
    assert_int_equal(emu_dec_parse("3", 0, &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(emu_dec_parse("3.0", 0, &v), 0);
    assert_int_equal(emu_dec_parse("3.1", 0, &v), -1);
}

static void json_forms(void **state)
{
    (void)state;
    json_object *o = json_tokener_parse(
        "{\"n\":12.30,\"z\":0.0000,\"i\":7,\"s\":\"12.30\",\"e\":\"\",\"x\":1e3,\"b\":true,"
        "\"nul\":null,\"ss\":\" 1\",\"big\":123456789012345678901,\"neg\":-0.50}");
    emu_fen f;
    json_object *v;
    json_object_object_get_ex(o, "n", &v);
    assert_int_equal(emu_json_fen(v, &f), EMU_AMT_OK);
    assert_int_equal(f, 1230);
    json_object_object_get_ex(o, "z", &v);
    assert_int_equal(emu_json_fen(v, &f), EMU_AMT_OK);
    assert_int_equal(f, 0);
    json_object_object_get_ex(o, "i", &v);
    assert_int_equal(emu_json_fen(v, &f), EMU_AMT_OK);
    assert_int_equal(f, 700);
    json_object_object_get_ex(o, "s", &v);
    assert_int_equal(emu_json_fen(v, &f), EMU_AMT_OK);
    assert_int_equal(f, 1230);
    json_object_object_get_ex(o, "neg", &v);
    assert_int_equal(emu_json_fen(v, &f), EMU_AMT_OK);
    assert_int_equal(f, -50);
    json_object_object_get_ex(o, "e", &v);
    assert_int_equal(emu_json_fen(v, &f), EMU_AMT_EMPTY);
    const char *bad[] = {"x", "b", "nul", "ss", "big"};
    for (size_t i = 0; i < 5; i++) {
        json_object_object_get_ex(o, bad[i], &v);
        assert_int_equal(emu_json_fen(v, &f), EMU_AMT_BAD);
    }
    assert_int_equal(emu_json_fen(NULL, &f), EMU_AMT_BAD);
    json_object_put(o);
}

static void formats_and_writes_every_style(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(emu_fen_format(0, buf, sizeof buf), "0.00");
    assert_string_equal(emu_fen_format(1230, buf, sizeof buf), "12.30");
    assert_string_equal(emu_fen_format(-5, buf, sizeof buf), "-0.05");
    assert_string_equal(emu_fen_format(INT64_MIN + 1, buf, sizeof buf), "-92233720368547758.07");

    emu_amount_writer num = {.style = EMU_STYLE_NUMBER}, str = {.style = EMU_STYLE_STRING},
                      mix = {.style = EMU_STYLE_MIXED};
    json_object *o = json_object_new_object();
    emu_put_fen(&num, o, "a", 1230);
    emu_put_fen(&str, o, "b", 1230);
    emu_put_fen(&num, o, "c", 0);
    emu_put_na(o, "d");
    assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                        "{\"a\":12.30,\"b\":\"12.30\",\"c\":0.00,\"d\":\"\"}");
    json_object_put(o);

    /* mixed: over a few amounts both forms of non-zero and several forms of zero appear, and
     * every one of them reads back to the same fen */
    o = json_object_new_object();
    char key[8];
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "k%d", i);
        emu_put_fen(&mix, o, key, i < 4 ? 1230 : 0);
    }
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    assert_non_null(strstr(text, ":12.30"));
    assert_non_null(strstr(text, ":\"12.30\""));
    assert_non_null(strstr(text, ":0,") ? strstr(text, ":0,") : strstr(text, ":0}"));
    assert_non_null(strstr(text, ":0.0000"));
    json_object *back = json_tokener_parse(text);
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "k%d", i);
        json_object *v;
        emu_fen f;
        assert_true(json_object_object_get_ex(back, key, &v));
        assert_int_equal(emu_json_fen(v, &f), EMU_AMT_OK);
        assert_int_equal(f, i < 4 ? 1230 : 0);
    }
    json_object_put(back);
    json_object_put(o);
}

static void certno_check(void **state)
{
    (void)state;
    /* the seeded persons */
    const char *seeded[] = {"120104198103150314", "120104195406020468", "120104201805200157",
                            "120104199308110628", "120104197401090773", "421202195810230285"};
    for (size_t i = 0; i < 6; i++)
        assert_true(emu_certno_valid(seeded[i]));
    assert_true(emu_certno_valid("11010519491231002X"));  /* the GB 11643 example */
    assert_false(emu_certno_valid("120104198103150315")); /* wrong check character */
    assert_false(emu_certno_valid("120104198102300314")); /* 30 February */
    assert_false(emu_certno_valid("12010419810315031"));
    assert_false(emu_certno_valid("1201041981031503141"));
    assert_false(emu_certno_valid("12010419810315031x"));
}

static void time_formats(void **state)
{
    (void)state;
    assert_true(emu_time_text_valid("2026-11-25 09:05:00"));
    assert_true(emu_time_text_valid("2024-02-29 23:59:59"));
    assert_false(emu_time_text_valid("2026-02-29 10:00:00"));
    assert_false(emu_time_text_valid("2026-11-25T09:05:00"));
    assert_false(emu_time_text_valid("2026-11-25 24:00:00"));
    assert_false(emu_time_text_valid("2026-11-25 9:05:00"));
    assert_true(emu_time_compact_valid("20261125090500", 14));
    assert_false(emu_time_compact_valid("20261325090500", 14));
    assert_false(emu_time_compact_valid("2026112509050", 13));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accepts_exact_forms),
        cmocka_unit_test(rejects_inexact_and_foreign_forms),
        cmocka_unit_test(other_scales),
        cmocka_unit_test(json_forms),
        cmocka_unit_test(formats_and_writes_every_style),
        cmocka_unit_test(certno_check),
        cmocka_unit_test(time_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
