/* evt_json: exact numbers, strict validation, typed getters, exact builders, no leaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arena_fixture.h"
#include "evt/arena.h"
#include "evt/json.h"

static cJSON *parse_ok(const char *text)
{
    cJSON *root = NULL;
    evt_err err = evt_json_parse(text, strlen(text), &root);
    if (err != EVT_OK) {
        fail_msg("rejected %s: %s", text, evt_err_name(err));
    }
    assert_non_null(root);
    return root;
}

static void expect_malformed(const char *text, size_t len)
{
    cJSON *root = (cJSON *)0x1;
    evt_err err = evt_json_parse(text, len, &root);
    if (err != EVT_ERR_JSON_MALFORMED) {
        fail_msg("accepted or wrong error for [%.*s]: %s", (int)len, text, evt_err_name(err));
    }
    assert_null(root);
}

static void expect_malformed_str(const char *text)
{
    expect_malformed(text, strlen(text));
}

static void test_numbers_keep_their_text(void **state)
{
    (void)state;
    cJSON *root = parse_ok("{\"a\":12.30,\"b\":0.0000,\"c\":-5.00,\"d\":12345678901234567890123,"
                           "\"e\":1e3,\"f\":0.1,\"g\":\"12.30\",\"h\":[1,2.50,-0]}");
    assert_string_equal(evt_json_number_text(cJSON_GetObjectItem(root, "a")), "12.30");
    assert_string_equal(evt_json_number_text(cJSON_GetObjectItem(root, "b")), "0.0000");
    assert_string_equal(evt_json_number_text(cJSON_GetObjectItem(root, "c")), "-5.00");
    assert_string_equal(evt_json_number_text(cJSON_GetObjectItem(root, "d")),
                        "12345678901234567890123");
    assert_string_equal(evt_json_number_text(cJSON_GetObjectItem(root, "e")), "1e3");
    assert_string_equal(evt_json_number_text(cJSON_GetObjectItem(root, "f")), "0.1");
    /* A string stays a string: the two forms remain distinguishable. */
    const cJSON *g = cJSON_GetObjectItem(root, "g");
    assert_true(cJSON_IsString(g));
    assert_false(evt_json_is_number(g));
    assert_null(evt_json_number_text(g));
    assert_string_equal(g->valuestring, "12.30");
    const cJSON *h = cJSON_GetObjectItem(root, "h");
    assert_int_equal(cJSON_GetArraySize(h), 3);
    assert_string_equal(evt_json_number_text(cJSON_GetArrayItem(h, 1)), "2.50");
    assert_string_equal(evt_json_number_text(cJSON_GetArrayItem(h, 2)), "-0");
    /* Nothing is ever a double. */
    for (const cJSON *c = root->child; c != NULL; c = c->next) {
        assert_false(cJSON_IsNumber(c));
    }
    evt_json_free(root);
}

static void test_top_level_scalars_and_whitespace(void **state)
{
    (void)state;
    cJSON *root = parse_ok(" \t\r\n42 \n");
    assert_string_equal(evt_json_number_text(root), "42");
    evt_json_free(root);
    root = parse_ok("\"x\"");
    assert_string_equal(root->valuestring, "x");
    evt_json_free(root);
    root = parse_ok("[true,false,null,{},[]]");
    assert_int_equal(cJSON_GetArraySize(root), 5);
    evt_json_free(root);
}

static void test_strings_with_escapes_and_chinese(void **state)
{
    (void)state;
    cJSON *root = parse_ok("{\"m\":\"\\u7535\\u5b50\\\"\\\\\\/\\n1.5\",\"n\":\"电子凭证\","
                           "\"e\":\"\\ud83d\\ude00\",\"k\":\"-1\"}");
    assert_string_equal(cJSON_GetObjectItem(root, "m")->valuestring, "电子\"\\/\n1.5");
    assert_string_equal(cJSON_GetObjectItem(root, "n")->valuestring, "电子凭证");
    assert_string_equal(cJSON_GetObjectItem(root, "e")->valuestring, "\xf0\x9f\x98\x80");
    /* Digits inside strings are not numbers. */
    assert_true(cJSON_IsString(cJSON_GetObjectItem(root, "k")));
    evt_json_free(root);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        " ",
        "{",
        "{\"a\":1",
        "{\"a\":1,}",
        "[1,]",
        "[1 2]",
        "{\"a\" 1}",
        "{\"a\":}",
        "{a:1}",
        "{1:2}",
        "{\"a\":1}}",
        "{\"a\":1} x",
        "{\"a\":1}{}",
        "{\"a\":01}",
        "{\"a\":+1}",
        "{\"a\":.5}",
        "{\"a\":1.}",
        "{\"a\":1e}",
        "{\"a\":1e+}",
        "{\"a\":-}",
        "{\"a\":NaN}",
        "{\"a\":Infinity}",
        "{\"a\":0x10}",
        "{\"a\":tru}",
        "{\"a\":True}",
        "{\"a\":nul}",
        "{\"a\":'x'}",
        "{\"a\":\"x}",
        "{\"a\":\"x\\\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\u12G4\"}",
        "{\"a\":\"\\u0000\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":\"nl\nhere\"}",
        "{\"a\":\"\xff\"}",
        "{\"a\":\"\xc0\xaf\"}",         /* overlong '/' */
        "{\"a\":\"\xe0\x80\xaf\"}",     /* overlong */
        "{\"a\":\"\xed\xa0\x80\"}",     /* UTF-8 encoded surrogate */
        "{\"a\":\"\xf4\x90\x80\x80\"}", /* above U+10FFFF */
        "{\"a\":\"\xe7\x94\"}",         /* truncated sequence */
        "{\"a\":\"\x80\"}",             /* lone continuation byte */
        "{\"a\":1,\"a\":2}",            /* duplicate key */
        "{\"o\":{\"x\":\"1\",\"y\":2,\"x\":3}}",
        "\xef\xbb\xbf{}", /* byte order mark */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_malformed_str(bad[i]);
    }
    /* NUL bytes anywhere inside the length. */
    expect_malformed("{\"a\":1}\0", 8);
    expect_malformed("{\"a\":\"x\0y\"}", 11);
    /* Truncation at every length of a valid envelope. */
    static const char env[] = "{\"infcode\":0,\"output\":{\"setlinfo\":{\"acct_pay\":\"12.30\","
                              "\"psn_name\":\"张三\"}},\"err_msg\":\"\"}";
    for (size_t n = 0; n < sizeof env - 1; n++) {
        expect_malformed(env, n);
    }
    cJSON *root = parse_ok(env);
    evt_json_free(root);
}

static void test_depth_limit(void **state)
{
    (void)state;
    char deep[2 * EVT_JSON_MAX_DEPTH + 4];
    size_t n = 0;
    for (int i = 0; i < EVT_JSON_MAX_DEPTH; i++) {
        deep[n++] = '[';
    }
    for (int i = 0; i < EVT_JSON_MAX_DEPTH; i++) {
        deep[n++] = ']';
    }
    cJSON *root = NULL;
    assert_int_equal(evt_json_parse(deep, n, &root), EVT_OK);
    evt_json_free(root);
    char deeper[2 * EVT_JSON_MAX_DEPTH + 4];
    n = 0;
    for (int i = 0; i <= EVT_JSON_MAX_DEPTH; i++) {
        deeper[n++] = '[';
    }
    for (int i = 0; i <= EVT_JSON_MAX_DEPTH; i++) {
        deeper[n++] = ']';
    }
    expect_malformed(deeper, n);
}

static void test_out_of_memory_is_not_malformed(void **state)
{
    (void)state;
    /* Fill the arena so a valid document cannot be built; the error must say so. */
    void *hog[ARENA_FIXTURE_HOG_MAX];
    size_t count = arena_fixture_exhaust(hog);
    cJSON *root = NULL;
    const char *doc = "{\"a\":[1,2,3,4,5,6,7,8,9,10],\"b\":\"some text that needs room\"}";
    assert_int_equal(evt_json_parse(doc, strlen(doc), &root), EVT_ERR_NOMEM);
    assert_null(root);
    arena_fixture_release(hog, count);
}

static void test_get_string(void **state)
{
    (void)state;
    cJSON *root = parse_ok("{\"s\":\"abc\",\"n\":12345678901234567890,\"e\":\"\",\"z\":null,"
                           "\"o\":{},\"a\":[],\"b\":true,\"cn\":\"张三\"}");
    char out[8];
    evt_json_diag diag = {{0}};
    assert_int_equal(evt_json_get_string(root, "s", true, out, sizeof out, &diag), EVT_OK);
    assert_string_equal(out, "abc");
    assert_int_equal(evt_json_get_string(root, "cn", true, out, sizeof out, &diag), EVT_OK);
    assert_string_equal(out, "张三");
    /* Exactly fits: 6 bytes + NUL into 7. Too long by one: refused, never cut. */
    assert_int_equal(evt_json_get_string(root, "cn", true, out, 7, &diag), EVT_OK);
    assert_int_equal(evt_json_get_string(root, "cn", true, out, 6, &diag),
                     EVT_ERR_PROTO_FIELD_INVALID);
    assert_string_equal(diag.field, "cn");
    assert_string_equal(out, "");
    /* A number where a code is expected: its exact text. */
    char big[32];
    assert_int_equal(evt_json_get_string(root, "n", true, big, sizeof big, &diag), EVT_OK);
    assert_string_equal(big, "12345678901234567890");

    assert_int_equal(evt_json_get_string(root, "missing", true, out, sizeof out, &diag),
                     EVT_ERR_PROTO_FIELD_MISSING);
    assert_string_equal(diag.field, "missing");
    assert_int_equal(evt_json_get_string(root, "z", true, out, sizeof out, &diag),
                     EVT_ERR_PROTO_FIELD_MISSING);
    assert_int_equal(evt_json_get_string(root, "e", true, out, sizeof out, &diag),
                     EVT_ERR_PROTO_FIELD_MISSING);
    assert_string_equal(diag.field, "e");
    strcpy(out, "junk");
    assert_int_equal(evt_json_get_string(root, "missing", false, out, sizeof out, &diag), EVT_OK);
    assert_string_equal(out, "");
    assert_int_equal(evt_json_get_string(root, "e", false, out, sizeof out, &diag), EVT_OK);
    assert_int_equal(evt_json_get_string(root, "z", false, out, sizeof out, &diag), EVT_OK);
    static const char *const wrong[] = {"o", "a", "b"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(evt_json_get_string(root, wrong[i], false, out, sizeof out, &diag),
                         EVT_ERR_PROTO_FIELD_INVALID);
        assert_string_equal(diag.field, wrong[i]);
    }
    /* Not an object to look into. */
    const cJSON *arr = cJSON_GetObjectItem(root, "a");
    assert_int_equal(evt_json_get_string(arr, "s", true, out, sizeof out, &diag),
                     EVT_ERR_PROTO_FIELD_INVALID);
    assert_int_equal(evt_json_get_string(NULL, "s", true, out, sizeof out, &diag), EVT_ERR_ARG);
    assert_int_equal(evt_json_get_string(root, "s", true, out, 0, NULL), EVT_ERR_ARG);
    evt_json_free(root);
}

static void test_get_text_truncates_on_utf8_boundary(void **state)
{
    (void)state;
    cJSON *root = parse_ok("{\"m\":\"电子凭证二维码无效\",\"a\":\"abcdef\",\"n\":-1,\"o\":{}}");
    char out[8];
    /* 3-byte characters: 7 bytes of room hold two of them (6 bytes), not two and a third. */
    evt_json_get_text(root, "m", out, sizeof out);
    assert_string_equal(out, "电子");
    char out10[10];
    evt_json_get_text(root, "m", out10, sizeof out10);
    assert_string_equal(out10, "电子凭");
    char out4[4];
    evt_json_get_text(root, "m", out4, sizeof out4);
    assert_string_equal(out4, "电");
    char out3[3];
    evt_json_get_text(root, "m", out3, sizeof out3);
    assert_string_equal(out3, "");
    evt_json_get_text(root, "a", out4, sizeof out4);
    assert_string_equal(out4, "abc");
    evt_json_get_text(root, "n", out4, sizeof out4);
    assert_string_equal(out4, "-1");
    evt_json_get_text(root, "o", out4, sizeof out4);
    assert_string_equal(out4, "");
    evt_json_get_text(root, "none", out4, sizeof out4);
    assert_string_equal(out4, "");
    evt_json_free(root);

    assert_int_equal(evt_json_utf8_prefix("a\xc3\xa9", 3, 2), 1);
    assert_int_equal(evt_json_utf8_prefix("a\xc3\xa9", 3, 3), 3);
    assert_int_equal(evt_json_utf8_prefix("\xf0\x9f\x98\x80x", 5, 3), 0);
    assert_int_equal(evt_json_utf8_prefix("\xf0\x9f\x98\x80x", 5, 4), 4);
}

static void test_get_int(void **state)
{
    (void)state;
    cJSON *root = parse_ok("{\"n0\":0,\"s0\":\"0\",\"nm1\":-1,\"sm1\":\"-1\",\"big\":"
                           "9223372036854775807,\"min\":-9223372036854775808,\"over\":"
                           "9223372036854775808,\"f\":1.0,\"e\":1e2,\"lz\":\"01\",\"sp\":\" 1\","
                           "\"plus\":\"+1\",\"empty\":\"\",\"b\":false,\"age\":\"45\"}");
    int64_t v;
    bool present;
    evt_json_diag diag;
    assert_int_equal(evt_json_get_int(root, "n0", true, -9, 9, &v, &present, &diag), EVT_OK);
    assert_int_equal(v, 0);
    assert_true(present);
    assert_int_equal(evt_json_get_int(root, "s0", true, -9, 9, &v, &present, &diag), EVT_OK);
    assert_int_equal(v, 0);
    assert_int_equal(evt_json_get_int(root, "nm1", true, -9, 9, &v, NULL, &diag), EVT_OK);
    assert_int_equal(v, -1);
    assert_int_equal(evt_json_get_int(root, "sm1", true, -9, 9, &v, NULL, &diag), EVT_OK);
    assert_int_equal(v, -1);
    assert_int_equal(evt_json_get_int(root, "age", true, 0, 200, &v, NULL, &diag), EVT_OK);
    assert_int_equal(v, 45);
    assert_int_equal(evt_json_get_int(root, "big", true, INT64_MIN, INT64_MAX, &v, NULL, &diag),
                     EVT_OK);
    assert_true(v == INT64_MAX);
    assert_int_equal(evt_json_get_int(root, "min", true, INT64_MIN, INT64_MAX, &v, NULL, &diag),
                     EVT_OK);
    assert_true(v == INT64_MIN);
    static const char *const invalid[] = {"over", "f", "e", "lz", "sp", "plus", "b"};
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        assert_int_equal(
            evt_json_get_int(root, invalid[i], true, INT64_MIN, INT64_MAX, &v, NULL, &diag),
            EVT_ERR_PROTO_FIELD_INVALID);
        assert_string_equal(diag.field, invalid[i]);
    }
    /* Range. */
    assert_int_equal(evt_json_get_int(root, "age", true, 0, 44, &v, NULL, &diag),
                     EVT_ERR_PROTO_FIELD_INVALID);
    assert_int_equal(evt_json_get_int(root, "nm1", true, 0, 9, &v, NULL, &diag),
                     EVT_ERR_PROTO_FIELD_INVALID);
    /* Absent and "". */
    assert_int_equal(evt_json_get_int(root, "none", true, 0, 9, &v, NULL, &diag),
                     EVT_ERR_PROTO_FIELD_MISSING);
    assert_int_equal(evt_json_get_int(root, "empty", true, 0, 9, &v, NULL, &diag),
                     EVT_ERR_PROTO_FIELD_MISSING);
    assert_int_equal(evt_json_get_int(root, "empty", false, 0, 9, &v, &present, &diag), EVT_OK);
    assert_false(present);
    assert_int_equal(evt_json_get_int(root, "none", false, 0, 9, &v, &present, &diag), EVT_OK);
    assert_false(present);
    assert_int_equal(v, 0);
    evt_json_free(root);
}

static void test_get_money_all_forms(void **state)
{
    (void)state;
    cJSON *root = parse_ok("{\"n\":12.30,\"n1\":12.3,\"ni\":12,\"z\":0,\"z4\":0.0000,\"neg\":-5.00,"
                           "\"s\":\"12.30\",\"sz\":\"0\",\"empty\":\"\",\"null\":null,"
                           "\"exp\":1e3,\"sexp\":\"1e3\",\"frac\":1.005,\"sfrac\":\"1.005\","
                           "\"lz\":\"01\",\"sp\":\" 1\",\"huge\":123456789012345678,"
                           "\"b\":true,\"o\":{},\"a\":[1]}");
    struct {
        const char *key;
        evt_fen want;
    } ok[] = {{"n", 1230}, {"n1", 1230},  {"ni", 1200}, {"z", 0},
              {"z4", 0},   {"neg", -500}, {"s", 1230},  {"sz", 0}};
    evt_json_diag diag;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        evt_fen fen = -1;
        bool present = false;
        assert_int_equal(evt_json_get_money(root, ok[i].key, true, &fen, &present, &diag), EVT_OK);
        assert_true(present);
        assert_int_equal(fen, ok[i].want);
    }
    evt_fen fen = 5;
    bool present = true;
    assert_int_equal(evt_json_get_money(root, "empty", false, &fen, &present, &diag), EVT_OK);
    assert_false(present);
    assert_int_equal(fen, 0);
    assert_int_equal(evt_json_get_money(root, "null", false, &fen, &present, &diag), EVT_OK);
    assert_false(present);
    assert_int_equal(evt_json_get_money(root, "absent", false, &fen, &present, &diag), EVT_OK);
    assert_false(present);
    assert_int_equal(evt_json_get_money(root, "empty", true, &fen, &present, &diag),
                     EVT_ERR_PROTO_FIELD_MISSING);
    assert_string_equal(diag.field, "empty");
    assert_int_equal(evt_json_get_money(root, "absent", true, &fen, NULL, &diag),
                     EVT_ERR_PROTO_FIELD_MISSING);
    assert_string_equal(diag.field, "absent");
    static const char *const bad[] = {"exp", "sexp", "frac", "sfrac", "lz", "sp", "huge"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(evt_json_get_money(root, bad[i], false, &fen, &present, &diag),
                         EVT_ERR_MONEY_INVALID);
        assert_string_equal(diag.field, bad[i]);
        assert_false(present);
    }
    static const char *const wrong[] = {"b", "o", "a"};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(evt_json_get_money(root, wrong[i], false, &fen, &present, &diag),
                         EVT_ERR_PROTO_FIELD_INVALID);
    }
    evt_json_free(root);
}

static void test_get_containers(void **state)
{
    (void)state;
    cJSON *root = parse_ok("{\"o\":{\"x\":1},\"a\":[{},{}],\"s\":\"x\",\"z\":null}");
    const cJSON *child;
    evt_json_diag diag;
    assert_int_equal(evt_json_get_object(root, "o", true, &child, &diag), EVT_OK);
    assert_true(cJSON_IsObject(child));
    assert_int_equal(evt_json_get_array(root, "a", true, &child, &diag), EVT_OK);
    assert_int_equal(cJSON_GetArraySize(child), 2);
    assert_int_equal(evt_json_get_object(root, "a", true, &child, &diag),
                     EVT_ERR_PROTO_FIELD_INVALID);
    assert_null(child);
    assert_int_equal(evt_json_get_array(root, "o", true, &child, &diag),
                     EVT_ERR_PROTO_FIELD_INVALID);
    assert_int_equal(evt_json_get_object(root, "s", true, &child, &diag),
                     EVT_ERR_PROTO_FIELD_INVALID);
    assert_string_equal(diag.field, "s");
    assert_int_equal(evt_json_get_object(root, "z", true, &child, &diag),
                     EVT_ERR_PROTO_FIELD_MISSING);
    assert_int_equal(evt_json_get_object(root, "none", false, &child, &diag), EVT_OK);
    assert_null(child);
    evt_json_free(root);
}

static void test_diag_paths(void **state)
{
    (void)state;
    evt_json_diag diag;
    evt_json_diag_set(&diag, "acct_pay");
    evt_json_diag_prefix(&diag, "setlinfo");
    evt_json_diag_prefix(&diag, "output");
    assert_string_equal(diag.field, "output.setlinfo.acct_pay");
    evt_json_diag_set(&diag, "");
    evt_json_diag_prefix(&diag, "output");
    assert_string_equal(diag.field, "output");
    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[99] = '\0';
    evt_json_diag_set(&diag, longname);
    assert_int_equal(strlen(diag.field), EVT_JSON_FIELD_BYTES - 1);
    evt_json_diag_prefix(&diag, "p");
    assert_int_equal(strlen(diag.field), EVT_JSON_FIELD_BYTES - 1);
    evt_json_diag_set(NULL, "x");
    evt_json_diag_prefix(NULL, "x");
}

static void test_builders_emit_exact_numbers(void **state)
{
    (void)state;
    cJSON *root = NULL;
    assert_int_equal(evt_json_new_object(&root), EVT_OK);
    assert_int_equal(evt_json_add_money(root, "amt", 1230), EVT_OK);
    assert_int_equal(evt_json_add_money(root, "tiny", 1), EVT_OK);
    assert_int_equal(evt_json_add_money(root, "neg", -500), EVT_OK);
    assert_int_equal(evt_json_add_money(root, "max", EVT_FEN_MAX), EVT_OK);
    assert_int_equal(evt_json_add_money(root, "over", EVT_FEN_MAX + 1), EVT_ERR_ARG);
    assert_int_equal(evt_json_add_int(root, "cnt", 3), EVT_OK);
    assert_int_equal(evt_json_add_int(root, "m", INT64_MIN), EVT_OK);
    assert_int_equal(evt_json_add_string(root, "s", "张三\"\\"), EVT_OK);
    assert_int_equal(evt_json_add_string(root, "null", NULL), EVT_OK);
    cJSON *arr, *item, *obj;
    assert_int_equal(evt_json_add_array(root, "list", &arr), EVT_OK);
    assert_int_equal(evt_json_append_object(arr, &item), EVT_OK);
    assert_int_equal(evt_json_add_money(item, "pric", 10), EVT_OK);
    assert_int_equal(evt_json_add_object(root, "o", &obj), EVT_OK);
    assert_int_equal(evt_json_append_object(obj, &item), EVT_ERR_ARG); /* not an array */

    char buf[512];
    size_t len = 0;
    assert_int_equal(evt_json_print(root, buf, sizeof buf, &len), EVT_OK);
    static const char want[] =
        "{\"amt\":12.30,\"tiny\":0.01,\"neg\":-5.00,\"max\":99999999999999.99,\"cnt\":3,"
        "\"m\":-9223372036854775808,\"s\":\"张三\\\"\\\\\",\"null\":\"\",\"list\":[{\"pric\":"
        "0.10}],\"o\":{}}";
    assert_string_equal(buf, want);
    assert_int_equal(len, strlen(want));

    /* Too small: refused, nothing partial left that looks like JSON. */
    assert_int_equal(evt_json_print(root, buf, 20, &len), EVT_ERR_OVERFLOW);
    assert_string_equal(buf, "");

    /* What we print, we parse back to the same amounts. */
    cJSON *back = parse_ok(want);
    evt_fen fen;
    assert_int_equal(evt_json_get_money(back, "amt", true, &fen, NULL, NULL), EVT_OK);
    assert_int_equal(fen, 1230);
    assert_int_equal(evt_json_get_money(back, "max", true, &fen, NULL, NULL), EVT_OK);
    assert_true(fen == EVT_FEN_MAX);
    /* A parsed tree prints its numbers verbatim too. */
    char again[512];
    assert_int_equal(evt_json_print(back, again, sizeof again, NULL), EVT_OK);
    assert_string_equal(again, want);
    evt_json_free(back);
    evt_json_free(root);
}

static void test_parsed_tree_reprints_original_number_text(void **state)
{
    (void)state;
    const char *doc = "{\"a\":0.0000,\"b\":[1e3,-0,12345678901234567890123]}";
    cJSON *root = parse_ok(doc);
    char buf[128];
    assert_int_equal(evt_json_print(root, buf, sizeof buf, NULL), EVT_OK);
    assert_string_equal(buf, doc);
    evt_json_free(root);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    cJSON *root;
    assert_int_equal(evt_json_parse(NULL, 1, &root), EVT_ERR_ARG);
    assert_int_equal(evt_json_parse("{}", 2, NULL), EVT_ERR_ARG);
    assert_int_equal(evt_json_new_object(NULL), EVT_ERR_ARG);
    assert_int_equal(evt_json_add_string(NULL, "k", "v"), EVT_ERR_ARG);
    assert_int_equal(evt_json_add_money(NULL, "k", 1), EVT_ERR_ARG);
    char buf[4];
    assert_int_equal(evt_json_print(NULL, buf, sizeof buf, NULL), EVT_ERR_ARG);
    evt_json_free(NULL);
}

/* ---- writer ------------------------------------------------------------------------------ */

/* Every byte the sink was given, and how often. */
typedef struct collected {
    char text[4096];
    size_t len;
    unsigned calls;
    unsigned fail_at; /* 1-based call that fails; 0 = never */
} collected;

static evt_err collect(void *ctx, const uint8_t *data, size_t len)
{
    collected *c = ctx;
    c->calls++;
    if (c->fail_at != 0 && c->calls == c->fail_at) {
        return EVT_ERR_NET_IO;
    }
    assert_true(c->len + len < sizeof c->text);
    memcpy(c->text + c->len, data, len);
    c->len += len;
    c->text[c->len] = '\0';
    return EVT_OK;
}

/* The same document as a cJSON tree (printed by evt_json_print) and through the writer. */
static const char *const writer_strings[] = {
    "",
    "plain",
    "quote \" backslash \\ slash /",
    "\b\f\n\r\t",
    "\x01\x02\x1f\x7f",
    "阿莫西林胶囊 0.25g×24粒",
    "€𝄞",
};

static void tree_document(char *out, size_t cap)
{
    cJSON *root = NULL;
    assert_int_equal(evt_json_new_object(&root), EVT_OK);
    for (size_t i = 0; i < sizeof writer_strings / sizeof writer_strings[0]; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%u\n\"", (unsigned)i);
        assert_int_equal(evt_json_add_string(root, key, writer_strings[i]), EVT_OK);
    }
    assert_int_equal(evt_json_add_money(root, "m", -123456), EVT_OK);
    assert_int_equal(evt_json_add_money(root, "max", EVT_FEN_MAX), EVT_OK);
    assert_int_equal(evt_json_add_int(root, "i", INT64_MIN), EVT_OK);
    assert_int_equal(evt_json_add_int(root, "z", 0), EVT_OK);
    assert_int_equal(evt_json_add_bool(root, "yes", true), EVT_OK);
    assert_int_equal(evt_json_add_bool(root, "no", false), EVT_OK);
    cJSON *empty = NULL, *arr = NULL, *inner = NULL, *o = NULL;
    assert_int_equal(evt_json_add_object(root, "empty", &empty), EVT_OK);
    assert_int_equal(evt_json_add_array(root, "none", &empty), EVT_OK);
    assert_int_equal(evt_json_add_array(root, "arr", &arr), EVT_OK);
    for (int n = 0; n < 3; n++) {
        assert_int_equal(evt_json_append_object(arr, &o), EVT_OK);
        assert_int_equal(evt_json_add_int(o, "n", n), EVT_OK);
        assert_int_equal(evt_json_add_object(o, "in", &inner), EVT_OK);
        assert_int_equal(evt_json_add_string(inner, "s", writer_strings[n]), EVT_OK);
    }
    assert_int_equal(evt_json_print(root, out, cap, NULL), EVT_OK);
    evt_json_free(root);
}

static evt_err writer_document(evt_json_writer *w)
{
    evt_json_write_object(w, NULL);
    for (size_t i = 0; i < sizeof writer_strings / sizeof writer_strings[0]; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%u\n\"", (unsigned)i);
        evt_json_write_string(w, key, writer_strings[i]);
    }
    evt_json_write_money(w, "m", -123456);
    evt_json_write_money(w, "max", EVT_FEN_MAX);
    evt_json_write_int(w, "i", INT64_MIN);
    evt_json_write_int(w, "z", 0);
    evt_json_write_bool(w, "yes", true);
    evt_json_write_bool(w, "no", false);
    evt_json_write_object(w, "empty");
    evt_json_write_end(w);
    evt_json_write_array(w, "none");
    evt_json_write_end(w);
    evt_json_write_array(w, "arr");
    for (int n = 0; n < 3; n++) {
        evt_json_write_object(w, NULL);
        evt_json_write_int(w, "n", n);
        evt_json_write_object(w, "in");
        evt_json_write_string(w, "s", writer_strings[n]);
        evt_json_write_end(w);
        evt_json_write_end(w);
    }
    evt_json_write_end(w);
    return evt_json_write_end(w);
}

static void test_writer_prints_what_cjson_prints(void **state)
{
    (void)state;
    static char want[4096];
    tree_document(want, sizeof want);
    size_t want_len = strlen(want);

    /* Buffer mode. */
    static char buf[4096];
    evt_json_writer w;
    size_t len = 0;
    evt_json_writer_init(&w, (uint8_t *)buf, sizeof buf, NULL, NULL);
    assert_int_equal(writer_document(&w), EVT_OK);
    assert_int_equal(evt_json_writer_finish(&w, &len), EVT_OK);
    assert_string_equal(buf, want);
    assert_int_equal(len, want_len);

    /* Counting mode: the same length, no text. */
    evt_json_writer_init(&w, NULL, 0, NULL, NULL);
    assert_int_equal(writer_document(&w), EVT_OK);
    assert_int_equal(evt_json_writer_finish(&w, &len), EVT_OK);
    assert_int_equal(len, want_len);

    /* Sink mode through staging buffers of every size from 1 byte: the same bytes, in
     * pieces no larger than the staging buffer. */
    static uint8_t stage[97];
    for (size_t cap = 1; cap <= sizeof stage; cap += cap < 8 ? 1 : 15) {
        collected c;
        memset(&c, 0, sizeof c);
        evt_json_writer_init(&w, stage, cap, collect, &c);
        assert_int_equal(writer_document(&w), EVT_OK);
        assert_int_equal(evt_json_writer_finish(&w, &len), EVT_OK);
        assert_string_equal(c.text, want);
        assert_int_equal(len, want_len);
        assert_int_equal(c.calls, (want_len + cap - 1) / cap);
    }
}

static void test_writer_errors_are_sticky(void **state)
{
    (void)state;
    evt_json_writer w;
    char buf[64];
    size_t len = 99;
    /* A key where none belongs, and none where one must be. */
    evt_json_writer_init(&w, (uint8_t *)buf, sizeof buf, NULL, NULL);
    assert_int_equal(evt_json_write_object(&w, "root"), EVT_ERR_ARG);
    assert_int_equal(evt_json_write_string(&w, NULL, "x"), EVT_ERR_ARG);
    assert_int_equal(evt_json_writer_finish(&w, &len), EVT_ERR_ARG);
    assert_int_equal(len, 0);
    assert_string_equal(buf, "");
    evt_json_writer_init(&w, (uint8_t *)buf, sizeof buf, NULL, NULL);
    evt_json_write_object(&w, NULL);
    assert_int_equal(evt_json_write_string(&w, NULL, "x"), EVT_ERR_ARG);
    /* Unclosed, or nothing at all. */
    evt_json_writer_init(&w, (uint8_t *)buf, sizeof buf, NULL, NULL);
    evt_json_write_array(&w, NULL);
    assert_int_equal(evt_json_writer_finish(&w, NULL), EVT_ERR_ARG);
    evt_json_writer_init(&w, (uint8_t *)buf, sizeof buf, NULL, NULL);
    assert_int_equal(evt_json_writer_finish(&w, NULL), EVT_ERR_ARG);
    evt_json_writer_init(&w, (uint8_t *)buf, sizeof buf, NULL, NULL);
    assert_int_equal(evt_json_write_end(&w), EVT_ERR_ARG);
    /* Deeper than EVT_JSON_WRITER_DEPTH. */
    evt_json_writer_init(&w, NULL, 0, NULL, NULL);
    evt_json_write_array(&w, NULL);
    for (int d = 1; d < EVT_JSON_WRITER_DEPTH; d++) {
        assert_int_equal(evt_json_write_array(&w, NULL), EVT_OK);
    }
    assert_int_equal(evt_json_write_array(&w, NULL), EVT_ERR_ARG);
    /* Money out of range. */
    evt_json_writer_init(&w, NULL, 0, NULL, NULL);
    evt_json_write_object(&w, NULL);
    assert_int_equal(evt_json_write_money(&w, "m", EVT_FEN_MAX + 1), EVT_ERR_ARG);
    /* Overflow of the buffer (the NUL counts), and after it nothing more is written. */
    evt_json_writer_init(&w, (uint8_t *)buf, 8, NULL, NULL);
    evt_json_write_object(&w, NULL);
    assert_int_equal(evt_json_write_string(&w, "k", "v"), EVT_ERR_OVERFLOW);
    assert_int_equal(evt_json_write_end(&w), EVT_ERR_OVERFLOW);
    assert_int_equal(evt_json_writer_finish(&w, &len), EVT_ERR_OVERFLOW);
    assert_string_equal(buf, "");
    evt_json_writer_init(&w, (uint8_t *)buf, 8, NULL, NULL);
    evt_json_write_object(&w, NULL);
    evt_json_write_string(&w, "k", "");
    evt_json_write_end(&w); /* {"k":""} is 8 bytes: no room for the NUL */
    assert_int_equal(evt_json_writer_finish(&w, &len), EVT_ERR_OVERFLOW);
    /* The sink's error stops the writer at once. */
    collected c;
    memset(&c, 0, sizeof c);
    c.fail_at = 2;
    uint8_t stage[4];
    evt_json_writer_init(&w, stage, sizeof stage, collect, &c);
    writer_document(&w);
    assert_int_equal(evt_json_writer_finish(&w, &len), EVT_ERR_NET_IO);
    assert_int_equal(c.calls, 2);
    assert_int_equal(c.len, 4);
    /* A sink without a staging buffer is refused. */
    evt_json_writer_init(&w, NULL, 0, collect, &c);
    assert_int_equal(evt_json_write_object(&w, NULL), EVT_ERR_ARG);
}

/* Every test must give back every byte it took from the arena. */
#define T(fn) cmocka_unit_test_setup_teardown(fn, arena_fixture_setup, arena_fixture_teardown)

int main(void)
{
    arena_fixture_init();
    const struct CMUnitTest tests[] = {
        T(test_numbers_keep_their_text),
        T(test_top_level_scalars_and_whitespace),
        T(test_strings_with_escapes_and_chinese),
        T(test_malformed),
        T(test_depth_limit),
        T(test_out_of_memory_is_not_malformed),
        T(test_get_string),
        T(test_get_text_truncates_on_utf8_boundary),
        T(test_get_int),
        T(test_get_money_all_forms),
        T(test_get_containers),
        T(test_diag_paths),
        T(test_builders_emit_exact_numbers),
        T(test_parsed_tree_reprints_original_number_text),
        T(test_bad_arguments),
        T(test_writer_prints_what_cjson_prints),
        T(test_writer_errors_are_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
