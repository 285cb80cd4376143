/*
 * evt_jstream and the answers read while they arrive (evt_proto_response_begin/_feed/_end):
 * the same verdict whatever the pieces, fixed memory whatever the length, the strictness of
 * docs/money-and-json.md deep inside lists the terminal does not keep.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena_fixture.h"
#include "evt/arena.h"
#include "evt/jstream.h"
#include "evt/proto.h"

#define PSN_NO "42010000000000000001"

/* Counts events; the verdict of a whole document. */
typedef struct tally {
    unsigned events, numbers;
    char last_number[64];
} tally;

static evt_err count(void *ctx, evt_jstream_event ev, const evt_jstream_token *tok)
{
    tally *t = ctx;
    t->events++;
    if (ev == EVT_JSTREAM_NUMBER) {
        t->numbers++;
        snprintf(t->last_number, sizeof t->last_number, "%s", tok->text);
    }
    return EVT_OK;
}

static evt_err parse_in_pieces(const char *text, size_t len, size_t piece, tally *t)
{
    evt_jstream s;
    evt_jstream_keys keys;
    memset(t, 0, sizeof *t);
    evt_jstream_init(&s, &keys, count, t);
    for (size_t pos = 0; pos < len; pos += piece) {
        size_t n = len - pos < piece ? len - pos : piece;
        evt_err err = evt_jstream_feed(&s, text + pos, n);
        if (err != EVT_OK) {
            return err;
        }
    }
    return evt_jstream_finish(&s);
}

static void test_pieces_do_not_change_the_verdict(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        evt_err want;
    } cases[] = {
        {"{\"a\":[1,-0.5,2e3,\"x\\u4e2d\\ud83d\\ude00\"],\"b\":{\"c\":null,\"d\":true}}", EVT_OK},
        {" 12.30 ", EVT_OK},
        {"0", EVT_OK},
        {"{\"a\":1,\"a\":2}", EVT_ERR_JSON_MALFORMED},        /* duplicate key */
        {"{\"a\":1} x", EVT_ERR_JSON_MALFORMED},              /* trailing garbage */
        {"{\"a\":\"\xC0\xAF\"}", EVT_ERR_JSON_MALFORMED},     /* overlong */
        {"{\"a\":\"\xED\xA0\x80\"}", EVT_ERR_JSON_MALFORMED}, /* surrogate in UTF-8 */
        {"{\"a\":\"\\u0000\"}", EVT_ERR_JSON_MALFORMED},
        {"{\"a\":\"\\ud800x\"}", EVT_ERR_JSON_MALFORMED},
        {"[01]", EVT_ERR_JSON_MALFORMED},
        {"[1.]", EVT_ERR_JSON_MALFORMED},
        {"[1,]", EVT_ERR_JSON_MALFORMED},
        {"{\"a\":1", EVT_ERR_JSON_MALFORMED},
        {"", EVT_ERR_JSON_MALFORMED},
        {"-", EVT_ERR_JSON_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = strlen(cases[i].text);
        tally whole;
        evt_err want = parse_in_pieces(cases[i].text, len, len + 1, &whole);
        if (want != cases[i].want) {
            fail_msg("case %zu: %s", i, evt_err_name(want));
        }
        for (size_t piece = 1; piece <= len; piece++) {
            tally t;
            assert_int_equal(parse_in_pieces(cases[i].text, len, piece, &t), want);
            assert_int_equal(t.events, whole.events);
            assert_string_equal(t.last_number, whole.last_number);
        }
    }
}

typedef struct cut_seen {
    size_t len, full_len;
    char head[8];
} cut_seen;

static evt_err see_string(void *ctx, evt_jstream_event ev, const evt_jstream_token *tok)
{
    cut_seen *c = ctx;
    if (ev == EVT_JSTREAM_STRING) {
        c->len = tok->len;
        c->full_len = tok->full_len;
        memcpy(c->head, tok->text, 4);
        assert_int_equal(tok->text[tok->len], '\0');
    }
    return EVT_OK;
}

static void test_long_tokens_are_cut_but_counted(void **state)
{
    (void)state;
    /* "\u4e2d" x 1000 decodes to 3000 bytes: the text kept is a prefix, the length whole. */
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "[\"");
    for (int i = 0; i < 1000; i++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "\\u4e2d");
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "\"]");
    evt_jstream s;
    cut_seen c = {0, 0, ""};
    evt_jstream_init(&s, NULL, see_string, &c);
    assert_int_equal(evt_jstream_feed(&s, text, n), EVT_OK);
    assert_int_equal(evt_jstream_finish(&s), EVT_OK);
    assert_int_equal(c.len, EVT_JSTREAM_TEXT_BYTES - 1);
    assert_int_equal(c.full_len, 3000);
    assert_memory_equal(c.head, "中", 3);
}

static void test_members_beyond_the_limit(void **state)
{
    (void)state;
    /* More members in one object than any platform answer has: refused as too large, not
     * as out of memory. */
    char text[8192];
    size_t n = (size_t)snprintf(text, sizeof text, "{");
    for (int i = 0; i <= EVT_JSTREAM_MAX_KEYS; i++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "%s\"k%d\":%d", i ? "," : "", i, i);
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "}");
    tally t;
    assert_int_equal(parse_in_pieces(text, n, n, &t), EVT_ERR_JSON_TOO_LARGE);
    /* Closed objects give their keys back: many entries of a list are fine. */
    n = (size_t)snprintf(text, sizeof text, "[");
    for (int i = 0; i < 200; i++) {
        n += (size_t)snprintf(text + n, sizeof text - n, "%s{\"a\":%d,\"b\":2}", i ? "," : "", i);
    }
    n += (size_t)snprintf(text + n, sizeof text - n, "]");
    assert_int_equal(parse_in_pieces(text, n, 7, &t), EVT_OK);
}

/* ---- answers ------------------------------------------------------------------------------ */

typedef struct text_buf {
    char *p;
    size_t len, cap;
} text_buf;

static void put(text_buf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 1;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
}

/* A 2102 answer with `lines` detlcutinfo entries and `funds` setldetail entries (as a
 * platform sends for a long order), and a long warn_msg. */
static text_buf settle_answer(unsigned lines, unsigned funds)
{
    text_buf b = {malloc(1024), 0, 1024};
    put(&b, "{\"infcode\":0,\"inf_refmsgid\":\"R1\",\"warn_msg\":\"");
    for (int i = 0; i < 200; i++) {
        put(&b, "注");
    }
    put(&b, "\",\"output\":{\"setlinfo\":{\"setl_id\":\"S1\",\"psn_no\":\"" PSN_NO "\","
            "\"psn_name\":\"张建国\",\"medfee_sumamt\":\"24.65\",\"fund_pay_sumamt\":12.32,"
            "\"acct_pay\":12.33,\"psn_cash_pay\":0,\"balc\":\"\"},\"setldetail\":[");
    for (unsigned i = 0; i < funds; i++) {
        put(&b,
            "%s{\"fund_pay_type\":\"3101%02u\",\"fund_payamt\":1.%02u,\"setl_proc_info\":\"%s\"}",
            i ? "," : "", i % 100, i % 100, "基本医疗保险统筹基金支出");
    }
    put(&b, "],\"detlcutinfo\":[");
    for (unsigned i = 0; i < lines; i++) {
        put(&b,
            "%s{\"feedetl_sn\":\"%u\",\"det_item_fee_sumamt\":12.50,\"cnt\":1,\"pric\":\"12.50\","
            "\"pric_uplmt_amt\":99999.99,\"selfpay_prop\":0.1000,\"fulamt_ownpay_amt\":0,"
            "\"chrgitm_lv\":\"01\",\"med_chrgitm_type\":\"09\",\"bas_medn_flag\":\"1\","
            "\"memo\":\"%0400u\"}",
            i ? "," : "", i + 1, i);
    }
    put(&b, "]}}");
    return b;
}

/* Parses body in pieces of `piece` bytes; returns the arena's peak during the parse. */
static size_t parse_answer(const text_buf *body, size_t piece, evt_settlement *s)
{
    evt_arena_reset_peak();
    evt_proto_response resp;
    evt_json_diag diag;
    assert_int_equal(evt_proto_response_begin(&resp), EVT_OK);
    for (size_t pos = 0; pos < body->len; pos += piece) {
        size_t n = body->len - pos < piece ? body->len - pos : piece;
        assert_int_equal(evt_proto_response_feed(&resp, body->p + pos, n), EVT_OK);
    }
    assert_int_equal(evt_proto_response_end(&resp, &diag), EVT_OK);
    assert_int_equal(evt_proto_parse_settlement(&resp, EVT_PROTO_SETTLE, 2465, PSN_NO, s, &diag),
                     EVT_OK);
    assert_int_equal(strlen(resp.warn_msg), 255 - 255 % 3);
    evt_proto_response_free(&resp);
    evt_arena_stats st;
    evt_arena_get_stats(&st);
    assert_int_equal(st.in_use, 0);
    return st.peak;
}

static void test_long_answer_in_fixed_memory(void **state)
{
    (void)state;
    text_buf small = settle_answer(1, 1);
    text_buf large = settle_answer(300, 40); /* about 200 KB */
    assert_true(large.len > 150u * 1024u);
    evt_settlement a, b, c;
    size_t peak_small = parse_answer(&small, small.len, &a);
    size_t peak_large = parse_answer(&large, 1500, &b); /* TLS-record-sized pieces */
    size_t peak_bytes = parse_answer(&large, 1, &c);
    print_message("answer of %zu B: arena peak %zu B; of %zu B: %zu B\n", small.len, peak_small,
                  large.len, peak_large);
    assert_int_equal(peak_large, peak_small);
    assert_int_equal(peak_bytes, peak_small);
    assert_true(peak_small < 8u * 1024u);
    assert_memory_equal(&a, &b, sizeof a);
    assert_memory_equal(&a, &c, sizeof a);
    assert_int_equal(b.acct_pay, 1233);
    free(small.p);
    free(large.p);
}

static evt_err parse_body(const char *body, evt_proto_response *resp, evt_json_diag *diag)
{
    return evt_proto_response_parse(body, strlen(body), resp, diag);
}

static void test_strict_inside_lists_the_terminal_skips(void **state)
{
    (void)state;
    static const char *const bad[] = {
        /* a key twice in an entry of a list nobody keeps */
        "{\"infcode\":0,\"output\":{\"detlcutinfo\":[{\"a\":1,\"a\":1}]}}",
        /* invalid UTF-8 deep inside */
        "{\"infcode\":0,\"output\":{\"detlcutinfo\":[{\"memo\":\"\xF5\x80\x80\x80\"}]}}",
        /* a bad number in a skipped member */
        "{\"infcode\":0,\"output\":{\"setldetail\":[{\"fund_payamt\":01}]}}",
        /* garbage after the answer */
        "{\"infcode\":0,\"output\":{}}{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        evt_proto_response resp;
        evt_json_diag diag;
        assert_int_equal(parse_body(bad[i], &resp, &diag), EVT_ERR_JSON_MALFORMED);
        assert_null(resp.root);
    }
    /* The same name in different objects is fine. */
    evt_proto_response resp;
    evt_json_diag diag;
    assert_int_equal(parse_body("{\"infcode\":0,\"output\":{\"setlinfo\":{\"psn_no\":\"1\"},"
                                "\"baseinfo\":{\"psn_no\":\"1\"},\"x\":[{\"psn_no\":1},"
                                "{\"psn_no\":2}]}}",
                                &resp, &diag),
                     EVT_OK);
    evt_proto_response_free(&resp);
}

static void test_long_insurance_list_keeps_the_best(void **state)
{
    (void)state;
    text_buf b = {malloc(1024), 0, 1024};
    put(&b, "{\"infcode\":0,\"output\":{\"baseinfo\":{\"psn_no\":\"" PSN_NO "\","
            "\"psn_name\":\"张建国\",\"age\":45.6},\"insuinfo\":[");
    for (unsigned i = 0; i < 60; i++) {
        /* only the 50th entry is in normal status */
        put(&b,
            "%s{\"insutype\":\"%s\",\"psn_insu_stas\":\"%s\",\"insuplc_admdvs\":\"421200\","
            "\"balc\":\"%u.00\",\"emp_name\":\"某某有限公司\"}",
            i ? "," : "", i == 49 ? "310" : "390", i == 49 ? "1" : "4", i);
    }
    put(&b, "]}}");
    evt_proto_response resp;
    evt_json_diag diag;
    assert_int_equal(evt_proto_response_parse(b.p, b.len, &resp, &diag), EVT_OK);
    evt_person p;
    assert_int_equal(evt_proto_parse_person(&resp, &p, &diag), EVT_OK);
    assert_int_equal(p.insu_count, EVT_PERSON_MAX_INSU);
    assert_int_equal(p.age, 45);
    const evt_insurance *chosen = NULL;
    assert_int_equal(evt_proto_select_insurance(&p, NULL, &chosen), EVT_OK);
    assert_string_equal(chosen->insutype, "310");
    assert_int_equal(chosen->balc, 4900);
    evt_proto_response_free(&resp);
    /* An invalid entry after many good ones is still found, and named. */
    b.len -= 3;
    put(&b, ",{\"insutype\":\"310\"}]}}");
    assert_int_equal(evt_proto_response_parse(b.p, b.len, &resp, &diag), EVT_OK);
    assert_int_equal(evt_proto_parse_person(&resp, &p, &diag), EVT_ERR_PROTO_FIELD_MISSING);
    assert_string_equal(diag.field, "output.insuinfo[60].psn_insu_stas");
    evt_proto_response_free(&resp);
    free(b.p);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, arena_fixture_setup, arena_fixture_teardown)

int main(void)
{
    arena_fixture_init();
    const struct CMUnitTest tests[] = {
        T(test_pieces_do_not_change_the_verdict),
        T(test_long_tokens_are_cut_but_counted),
        T(test_members_beyond_the_limit),
        T(test_long_answer_in_fixed_memory),
        T(test_strict_inside_lists_the_terminal_skips),
        T(test_long_insurance_list_keeps_the_best),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
