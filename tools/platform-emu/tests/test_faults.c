/*
 * emu.faults: every fault knob, set through the CLI while the server runs, as the firmware's
 * integration tests will use them. What matters most is whether money moved: close_before and
 * http_status/business_error process nothing; close_mid and malformed_json process the
 * settlement and lose the answer (the unknown-outcome case that 2601 or a retry resolves).
 */
#include "emu_client.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define Y(yuan, fen) ((emu_fen)(yuan)*100 + (fen))
#define AMOXICILLIN  "XJ01CAA040A001010100001"

typedef struct {
    emu_server srv;
    emu_term t;
    emu_scan_result s;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    *state = f;
    if (emu_server_start(&f->srv, "server", NULL) != 0)
        return -1;
    if (emu_term_open(&f->t, &f->srv) != 0 || emu_sign_in(&f->t) != 0)
        return -1;
    return emu_scan(&f->t, "employee", NULL, &f->s) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    fixture *f = *state;
    emu_scan_free(&f->s);
    emu_term_close(&f->t);
    int rc = emu_server_stop(&f->srv);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void set_fault(fixture *f, const char *infno, const char *kind, const char *value,
                      const char *times)
{
    const char *args[12] = {"fault", "--infno", infno, "--kind", kind};
    int n = 5;
    if (value) {
        args[n++] = "--value";
        args[n++] = value;
    }
    if (times) {
        args[n++] = "--times";
        args[n++] = times;
    }
    args[n] = NULL;
    assert_int_equal(emu_cli(&f->srv, NULL, 0, args), 0);
}

static long pending_faults(fixture *f)
{
    sqlite3 *db;
    int64_t n = -1;
    assert_int_equal(emu_db_open(f->srv.db, &db), 0);
    assert_int_equal(emu_db_scalar(db, &n, "SELECT ifnull(sum(remaining),0) FROM faults", NULL), 0);
    sqlite3_close(db);
    return (long)n;
}

/* A 2102 body for 25.00 of amoxicillin: fund 12.50, account 12.50. */
static char *settle_body(fixture *f, char msgid[31])
{
    emu_test_line l[] = {{AMOXICILLIN, 2, "12.50", "25.00"}};
    json_object *env = emu_envelope(&f->t, "2102", emu_sale_input(&f->s, "310", true, l, 1, "O-1"),
                                    f->s.insuplc, msgid);
    char *body = strdup(json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(env);
    return body;
}

static json_object *reverse(fixture *f, const char *omsgid)
{
    json_object *in = json_object_new_object(), *d = json_object_new_object();
    json_object_object_add(d, "psn_no", json_object_new_string(f->s.psn_no));
    json_object_object_add(d, "omsgid", json_object_new_string(omsgid));
    json_object_object_add(d, "oinfno", json_object_new_string("2102"));
    json_object_object_add(in, "data", d);
    return emu_call(&f->t, "2601", in, f->s.insuplc, NULL);
}

static double elapsed_ms(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1000.0 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* A 2102 under a fault that waits 400 ms (delay: before processing; hold_answer: after
 * processing, before answering): slow, but processed once, and the fault used up. */
static void slow_settlement(fixture *f, const char *kind)
{
    set_fault(f, "2102", kind, "400", NULL);
    char msgid[31];
    char *body = settle_body(f, msgid);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    emu_http_resp r;
    assert_int_equal(emu_send(&f->t, NULL, body, &r), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(elapsed_ms(&a, &b) >= 400.0);
    assert_int_equal(r.status, 200);
    json_object *o = json_tokener_parse(r.body);
    assert_true(emu_ok(o));
    json_object_put(o);
    emu_http_resp_free(&r);
    free(body);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2987, 50));
    assert_int_equal(pending_faults(f), 0);
}

static void delay(void **state)
{
    slow_settlement(*state, "delay");
}

/* Seen from the client the same slow success as delay; that the ledger shows the settlement
 * while the answer is held is what target.sale_mps2 waits for before it cuts the power. */
static void hold_answer(void **state)
{
    slow_settlement(*state, "hold_answer");
}

static void close_before(void **state)
{
    fixture *f = *state;
    set_fault(f, "2102", "close_before", NULL, NULL);
    char msgid[31];
    char *body = settle_body(f, msgid);
    emu_http_resp r;
    assert_int_not_equal(emu_send(&f->t, NULL, body, &r), 0);
    assert_true(r.closed);
    assert_int_equal(r.status, 0);
    emu_http_resp_free(&r);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    assert_int_equal(emu_count(&f->srv, "settlements"), 0);
    /* nothing was processed: the same msgid now settles normally, on a new connection */
    assert_int_equal(emu_send(&f->t, NULL, body, &r), 0);
    json_object *o = json_tokener_parse(r.body);
    assert_true(emu_ok(o));
    json_object_put(o);
    emu_http_resp_free(&r);
    free(body);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2987, 50));
}

static void close_mid(void **state)
{
    fixture *f = *state;
    set_fault(f, "2102", "close_mid", NULL, NULL);
    char msgid[31];
    char *body = settle_body(f, msgid);
    emu_http_resp r;
    assert_int_not_equal(emu_send(&f->t, NULL, body, &r), 0);
    assert_true(r.closed);
    assert_false(r.complete);
    assert_true(r.body_len < r.content_length);
    assert_null(json_tokener_parse(r.body));
    emu_http_resp_free(&r);
    /* money moved although the answer was lost */
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2987, 50));
    assert_int_equal(emu_count(&f->srv, "settlements"), 1);
    /* a retry with the same msgid gets the stored answer and moves nothing */
    assert_int_equal(emu_send(&f->t, NULL, body, &r), 0);
    json_object *o = json_tokener_parse(r.body);
    assert_true(emu_ok(o));
    assert_int_equal(emu_path_fen(o, "output.setlinfo.acct_pay"), Y(12, 50));
    json_object_put(o);
    emu_http_resp_free(&r);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2987, 50));
    /* and 2601 gives it back */
    o = reverse(f, msgid);
    assert_true(emu_ok(o));
    json_object_put(o);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    free(body);
}

static void malformed_json(void **state)
{
    fixture *f = *state;
    set_fault(f, "2102", "malformed_json", NULL, NULL);
    char msgid[31];
    char *body = settle_body(f, msgid);
    emu_http_resp r;
    assert_int_equal(emu_send(&f->t, NULL, body, &r), 0); /* complete HTTP message */
    assert_int_equal(r.status, 200);
    assert_null(json_tokener_parse(r.body));
    emu_http_resp_free(&r);
    assert_true(f->t.conn.open); /* the connection survives */
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2987, 50));
    json_object *o = reverse(f, msgid);
    assert_true(emu_ok(o));
    json_object_put(o);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    assert_int_equal(emu_count(&f->srv, "reversals"), 1);
    free(body);
}

static void http_status(void **state)
{
    fixture *f = *state;
    set_fault(f, "*", "http_status", "503", NULL);
    char msgid[31];
    char *body = settle_body(f, msgid);
    emu_http_resp r;
    assert_int_equal(emu_send(&f->t, NULL, body, &r), 0);
    assert_int_equal(r.status, 503);
    emu_http_resp_free(&r);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    assert_int_equal(emu_count(&f->srv, "settlements"), 0);
    json_object *o = reverse(f, msgid); /* the terminal cannot know: 2601 says "never arrived" */
    assert_true(emu_ok(o));
    json_object_put(o);
    free(body);
}

static void business_error(void **state)
{
    fixture *f = *state;
    set_fault(f, "2102", "business_error", "医保中心结算服务维护中", NULL);
    set_fault(f, "2102", "business_error", NULL, NULL);
    char msgid[31];
    char *body = settle_body(f, msgid);
    emu_http_resp r;
    assert_int_equal(emu_send(&f->t, NULL, body, &r), 0);
    assert_int_equal(r.status, 200);
    json_object *o = json_tokener_parse(r.body);
    assert_false(emu_ok(o));
    assert_string_equal(emu_err_msg(o), "医保中心结算服务维护中");
    json_object_put(o);
    emu_http_resp_free(&r);
    assert_int_equal(emu_send(&f->t, NULL, body, &r), 0);
    o = json_tokener_parse(r.body);
    assert_false(emu_ok(o));
    assert_string_equal(emu_err_msg(o), "医保平台系统繁忙，请稍后重试");
    json_object_put(o);
    emu_http_resp_free(&r);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    /* nothing was recorded under the msgid: it settles once the faults are used up */
    assert_int_equal(emu_send(&f->t, NULL, body, &r), 0);
    o = json_tokener_parse(r.body);
    assert_true(emu_ok(o));
    json_object_put(o);
    emu_http_resp_free(&r);
    free(body);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2987, 50));
}

static void times_precedence_and_clear(void **state)
{
    fixture *f = *state;
    set_fault(f, "*", "http_status", "502", "3");
    set_fault(f, "1101", "http_status", "500", "2");
    assert_int_equal(pending_faults(f), 5);
    json_object *in = json_object_new_object();
    json_object *env = emu_envelope(&f->t, "1101", in, NULL, NULL);
    char *body = strdup(json_object_to_json_string(env));
    json_object_put(env);
    int want[] = {500, 500, 502};
    for (int i = 0; i < 3; i++) {
        emu_http_resp r;
        assert_int_equal(emu_send(&f->t, NULL, body, &r), 0);
        assert_int_equal(r.status, want[i]);
        emu_http_resp_free(&r);
    }
    assert_int_equal(pending_faults(f), 2);
    const char *clear[] = {"fault", "--clear", NULL};
    assert_int_equal(emu_cli(&f->srv, NULL, 0, clear), 0);
    assert_int_equal(pending_faults(f), 0);
    emu_http_resp r;
    assert_int_equal(emu_send(&f->t, NULL, body, &r), 0);
    assert_int_equal(r.status, 200);
    emu_http_resp_free(&r);
    free(body);
    char *log = emu_server_log(&f->srv);
    assert_non_null(strstr(log, "fault=http_status:500"));
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(delay, setup, teardown),
        cmocka_unit_test_setup_teardown(hold_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(close_before, setup, teardown),
        cmocka_unit_test_setup_teardown(close_mid, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_json, setup, teardown),
        cmocka_unit_test_setup_teardown(http_status, setup, teardown),
        cmocka_unit_test_setup_teardown(business_error, setup, teardown),
        cmocka_unit_test_setup_teardown(times_precedence_and_clear, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
