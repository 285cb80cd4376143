/*
 * emu.server: the emulator as a terminal sees it, over real HTTPS on loopback. Every test
 * gets a fresh ledger and server process, signs in, and checks exact fen values against the
 * rules in docs/platform-emulator.md.
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

/* catalogue (see docs/platform-emulator.md) */
#define AMOXICILLIN "XJ01CAA040A001010100001" /* 甲 */
#define AMLODIPINE  "XC08CAA077A001010100001" /* 甲 */
#define VITAMIN_C   "XR05XAL047A001010100001" /* 乙 */
#define CHILD_COLD  "XR05CBA086A001020100001" /* 乙 */
#define UNLISTED    "XA11GAV003A001010100777" /* not in the catalogue */

typedef struct {
    emu_server srv;
    emu_term t;
} fixture;

static int start_with(void **state, const char *cert, const char *const *extra)
{
    fixture *f = calloc(1, sizeof *f);
    if (emu_server_start(&f->srv, cert, extra) != 0) {
        fprintf(stderr, "server did not start\n");
        free(f);
        return -1;
    }
    *state = f;
    if (cert && strcmp(cert, "server") != 0)
        return 0;
    if (emu_term_open(&f->t, &f->srv) != 0 || emu_sign_in(&f->t) != 0) {
        fprintf(stderr, "sign-in failed\n");
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    return start_with(state, "server", NULL);
}

static int setup_string_style(void **state)
{
    const char *extra[] = {"--amount-style", "string", NULL};
    return start_with(state, "server", extra);
}

static int setup_number_style(void **state)
{
    const char *extra[] = {"--amount-style", "number", NULL};
    return start_with(state, "server", extra);
}

static int setup_token_ttl0(void **state)
{
    const char *extra[] = {"--token-ttl", "0", NULL};
    return start_with(state, "server", extra);
}

static int setup_rogue(void **state)
{
    return start_with(state, "rogue-server", NULL);
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f == NULL)
        return 0;
    emu_term_close(&f->t);
    int rc = emu_server_stop(&f->srv);
    free(f);
    /* a server that does not stop cleanly on SIGTERM fails the test */
    return rc == 0 ? 0 : -1;
}

static char *to_text(json_object *o)
{
    return strdup(
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

static void assert_err_contains(json_object *r, const char *needle)
{
    assert_non_null(r);
    assert_false(emu_ok(r));
    if (strstr(emu_err_msg(r), needle) == NULL) {
        fprintf(stderr, "err_msg '%s' lacks '%s'\n", emu_err_msg(r), needle);
        fail();
    }
}

static void scan_ok(fixture *f, const char *person, const char *holder, emu_scan_result *s)
{
    int rc = emu_scan(&f->t, person, holder, s);
    if (rc != 0)
        fprintf(stderr, "scan %s: step %d: %s\n", person, rc,
                emu_err_msg(s->person ? s->person : s->ec));
    assert_int_equal(rc, 0);
}

/* Sends 2101 or 2102 for a sale; returns the response. */
static json_object *sale(fixture *f, const char *infno, const emu_scan_result *s,
                         const char *insutype, bool use_account, const emu_test_line *lines,
                         size_t n, char msgid[31])
{
    json_object *in = emu_sale_input(s, insutype, use_account, lines, n, "ORD-TEST-1");
    return emu_call(&f->t, infno, in, s->insuplc, msgid);
}

#define SETL(r, k) emu_path_fen((r), "output.setlinfo." k)

static void assert_split(json_object *r, emu_fen total, emu_fen fund, emu_fen acct, emu_fen mulaid,
                         emu_fen cash)
{
    assert_non_null(r);
    if (!emu_ok(r))
        fprintf(stderr, "refused: %s\n", emu_err_msg(r));
    assert_true(emu_ok(r));
    assert_int_equal(SETL(r, "medfee_sumamt"), total);
    assert_int_equal(SETL(r, "fund_pay_sumamt"), fund);
    assert_int_equal(SETL(r, "acct_pay"), acct);
    assert_int_equal(SETL(r, "acct_mulaid_pay"), mulaid);
    assert_int_equal(SETL(r, "psn_cash_pay"), cash);
    assert_int_equal(SETL(r, "hosp_part_amt"), EMU_NA);
}

/* ---- transport and gateway ---- */

static void keep_alive_and_sign_in(void **state)
{
    fixture *f = *state;
    assert_true(f->t.conn.open);
    int fd = f->t.conn.fd;
    emu_scan_result s;
    scan_ok(f, "employee", NULL, &s); /* code + ec.query + 1101 on the sign-in connection */
    assert_true(f->t.conn.open);
    assert_int_equal(f->t.conn.fd, fd);
    assert_int_equal(strlen(f->t.sign_no), 22);
    emu_scan_free(&s);
}

static void gateway_rejections(void **state)
{
    fixture *f = *state;
    static const struct {
        emu_gw gw;
        const char *needle;
    } cases[] = {
        {{.omit_header = "x-tif-paasid"}, "x-tif-paasid"},
        {{.omit_header = "x-tif-timestamp"}, "x-tif-timestamp"},
        {{.omit_header = "x-tif-nonce"}, "x-tif-nonce"},
        {{.omit_header = "x-tif-signature"}, "x-tif-signature"},
        {{.paas_id = "evt-paas-other"}, "未知的x-tif-paasid"},
        {{.token = "wrong-token"}, "签名"},
        {{.signature = "00000000000000000000000000000000000000000000000000000000000000"
                       "00"},
         "签名"},
        {{.ts_offset = -301}, "300秒"},
        /* +302, not +301: the stamp is whole seconds, and a request that crosses a second
         * boundary on its way (a TLS handshake under ASan on a loaded machine) would arrive
         * with +300 and be inside the window. */
        {{.ts_offset = 302}, "300秒"},
        {{.nonce = "ABCDEF0123456789ABCDEF0123456789"}, "x-tif-nonce"},
        {{.nonce = "0123"}, "x-tif-nonce"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object *env = emu_envelope(&f->t, "1101", NULL, NULL, NULL);
        char *body = to_text(env);
        emu_http_resp r;
        emu_send(&f->t, &cases[i].gw, body, &r);
        assert_int_equal(r.status, 401);
        json_object *o = json_tokener_parse(r.body);
        assert_err_contains(o, cases[i].needle);
        json_object_put(o);
        emu_http_resp_free(&r);
        free(body);
        json_object_put(env);
    }
    /* inside the window is fine, and a nonce is good exactly once */
    const char *nonce = "0123456789abcdef0123456789abcdef";
    emu_gw ok = {.ts_offset = -290, .nonce = nonce};
    json_object *env = emu_envelope(&f->t, "9001", NULL, NULL, NULL);
    json_object *in = json_object_new_object(), *si = json_object_new_object();
    json_object_object_add(si, "opter_no", json_object_new_string("0001"));
    json_object_object_add(si, "mac", json_object_new_string("02:00:00:00:00:01"));
    json_object_object_add(si, "ip", json_object_new_string("127.0.0.1"));
    json_object_object_add(in, "signIn", si);
    json_object_object_add(env, "input", in);
    char *body = to_text(env);
    emu_http_resp r;
    assert_int_equal(emu_send(&f->t, &ok, body, &r), 0);
    assert_int_equal(r.status, 200);
    emu_http_resp_free(&r);
    emu_gw again = {.nonce = nonce};
    emu_send(&f->t, &again, body, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "nonce已使用"));
    emu_http_resp_free(&r);
    free(body);
    json_object_put(env);
}

static void untrusted_certificate(void **state)
{
    fixture *f = *state;
    emu_conn c;
    /* same names, wrong issuer: must not verify */
    int rc = emu_conn_open(&c, f->srv.port, EMU_CERT_DIR "/ca.pem", "platform.evt.test");
    assert_true(rc < 0);
    /* the rogue chain itself is fine, so the failure above was the trust decision */
    assert_int_equal(emu_conn_open(&c, f->srv.port, EMU_CERT_DIR "/rogue-ca.pem", "localhost"), 0);
    emu_conn_close(&c);
    assert_true(emu_conn_open(&c, f->srv.port, EMU_CERT_DIR "/rogue-ca.pem", "wrong.example") < 0);
}

/* ---- envelope ---- */

static json_object *send_modified(fixture *f, const char *infno, json_object *input,
                                  const char *insuplc, const char *key, const char *value)
{
    json_object *env = emu_envelope(&f->t, infno, input, insuplc, NULL);
    if (value)
        json_object_object_add(env, key, json_object_new_string(value));
    else if (key)
        json_object_object_del(env, key);
    char *body = to_text(env);
    json_object *r = emu_call_body(&f->t, body);
    free(body);
    json_object_put(env);
    return r;
}

static void envelope_checks(void **state)
{
    fixture *f = *state;
    static const struct {
        const char *infno, *insuplc, *key, *value, *needle;
    } cases[] = {
        {"1101", NULL, "msgid", "H1201040000120261125100000001", "msgid格式错误"},
        {"1101", NULL, "msgid", "H12010400001202613251000000001", "msgid格式错误"},
        {"1101", NULL, "msgid", "H12010400002202611251000000001", "前12位"},
        {"1101", NULL, "inf_time", "2026/11/25 10:00:00", "inf_time"},
        {"1101", NULL, "mdtrtarea_admvs", "12010", "mdtrtarea_admvs"},
        {"1101", NULL, "mdtrtarea_admvs", "420100", "不符"},
        {"1101", NULL, "opter", NULL, "opter"},
        {"1101", NULL, "opter_type", "9", "opter_type"},
        {"1101", NULL, "fixmedins_name", NULL, "fixmedins_name"},
        {"1101", NULL, "sign_no", "", "sign_no缺失"},
        {"1101", NULL, "sign_no", "20260101000000123456", "sign_no无效"},
        {"1101", NULL, "input", NULL, "input"},
        {"2101", "", "insuplc_admdvs", NULL, "insuplc_admdvs"},
        {"2101", "4201", NULL, NULL, "insuplc_admdvs"},
        {"9999", NULL, NULL, NULL, "不支持的交易编号"},
        {"1101", NULL, "infno", NULL, "infno"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_object *in = json_object_new_object();
        json_object_object_add(in, "data", json_object_new_object());
        json_object *r =
            send_modified(f, cases[i].infno, in, cases[i].insuplc, cases[i].key, cases[i].value);
        assert_err_contains(r, cases[i].needle);
        json_object_put(r);
    }
    /* unknown institution: the msgid prefix follows it */
    json_object *env = emu_envelope(&f->t, "1101", NULL, NULL, NULL);
    json_object_object_add(env, "fixmedins_code", json_object_new_string("H99999999999"));
    json_object_object_add(env, "msgid", json_object_new_string("H99999999999202611251000000001"));
    char *body = to_text(env);
    json_object *r = emu_call_body(&f->t, body);
    assert_err_contains(r, "不存在");
    json_object_put(r);
    free(body);
    json_object_put(env);
    /* not JSON at all */
    r = emu_call_body(&f->t, "{\"infno\": \"1101\",");
    assert_err_contains(r, "JSON");
    json_object_put(r);
    /* another operator cannot use this operator's sign_no */
    f->t.opter = "0002";
    json_object *in = json_object_new_object();
    json_object_object_add(in, "data", json_object_new_object());
    r = emu_call(&f->t, "1101", in, NULL, NULL);
    assert_err_contains(r, "不属于当前操作员");
    json_object_put(r);
    /* the second seeded institution signs in on its own */
    f->t.opter = "0001";
    f->t.fixmedins_code = "H12010400002";
    assert_int_equal(emu_sign_in(&f->t), 0);
}

/* ---- msgid rules ---- */

static void msgid_duplicate_and_idempotent_replay(void **state)
{
    fixture *f = *state;
    emu_scan_result s;
    scan_ok(f, "employee", NULL, &s);
    /* a non-settlement msgid is single use */
    json_object *env = emu_envelope(&f->t, "1101", NULL, NULL, NULL);
    char *body = to_text(env);
    json_object *r = emu_call_body(&f->t, body);
    json_object_put(r);
    r = emu_call_body(&f->t, body);
    assert_err_contains(r, "报文ID重复");
    json_object_put(r);
    free(body);
    json_object_put(env);

    /* a settlement msgid is a retry: the stored answer, byte for byte, money moved once */
    emu_test_line l[] = {{AMOXICILLIN, 2, "12.50", "25.00"}};
    json_object *in = emu_sale_input(&s, "310", true, l, 1, "ORD-1");
    env = emu_envelope(&f->t, "2102", in, s.insuplc, NULL);
    body = to_text(env);
    emu_http_resp r1, r2;
    assert_int_equal(emu_send(&f->t, NULL, body, &r1), 0);
    assert_int_equal(emu_send(&f->t, NULL, body, &r2), 0);
    assert_string_equal(r1.body, r2.body);
    json_object *o = json_tokener_parse(r1.body);
    assert_split(o, Y(25, 0), Y(12, 50), Y(12, 50), 0, 0);
    json_object_put(o);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2987, 50));
    assert_int_equal(emu_count(&f->srv, "settlements"), 1);
    char *log = emu_server_log(&f->srv);
    assert_non_null(strstr(log, "replayed"));
    free(log);
    emu_http_resp_free(&r1);
    emu_http_resp_free(&r2);
    /* same msgid, different content: a terminal bug, refused */
    json_object *di = emu_path(env, "input.druginfo");
    json_object_object_add(di, "fixmedins_setl_id", json_object_new_string("ORD-2"));
    char *body2 = to_text(env);
    r = emu_call_body(&f->t, body2);
    assert_err_contains(r, "与原交易内容不一致");
    json_object_put(r);
    assert_int_equal(emu_count(&f->srv, "settlements"), 1);
    free(body2);
    free(body);
    json_object_put(env);
    emu_scan_free(&s);
}

/* ---- splits ---- */

static void own_account_sale(void **state)
{
    fixture *f = *state;
    emu_scan_result s;
    scan_ok(f, "employee", NULL, &s);
    assert_string_equal(emu_path_str(s.ec, "output.data.ecShowType"), "01");
    assert_string_equal(emu_path_str(s.ec, "output.data.userName"), "张建国");
    assert_string_equal(emu_path_str(s.ec, "output.data.idNo"), "120104198103150314");
    assert_string_equal(emu_path_str(s.ec, "output.data.holderName"), "");
    assert_int_equal(emu_path_fen(s.person, "output.insuinfo.0.balc"), Y(3000, 0));
    assert_string_equal(emu_path_str(s.person, "output.baseinfo.gend"), "1");
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    int age = tm.tm_year + 1900 - 1981 - ((tm.tm_mon + 1) * 100 + tm.tm_mday < 315 ? 1 : 0);
    assert_int_equal(json_object_get_int(emu_path(s.person, "output.baseinfo.age")), age);

    emu_test_line l[] = {
        {AMOXICILLIN, 2, "12.50", "25.00"},
        {VITAMIN_C, 1, "6.80", "6.80"},
        {UNLISTED, 1, "30.00", "30.00"},
    };
    json_object *pre = sale(f, "2101", &s, "310", true, l, 3, NULL);
    assert_split(pre, Y(61, 80), Y(15, 56), Y(46, 24), 0, 0);
    assert_null(emu_path(pre, "output.setlinfo.setl_id"));
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0)); /* 2101 moves nothing */

    json_object *r = sale(f, "2102", &s, "310", true, l, 3, NULL);
    assert_split(r, Y(61, 80), Y(15, 56), Y(46, 24), 0, 0);
    assert_int_equal(SETL(r, "fulamt_ownpay_amt"), Y(30, 0));
    assert_int_equal(SETL(r, "preselfpay_amt"), 68);
    assert_int_equal(SETL(r, "inscp_scp_amt"), Y(31, 12));
    assert_int_equal(SETL(r, "psn_part_amt"), Y(46, 24));
    assert_int_equal(SETL(r, "balc"), Y(2953, 76));
    assert_non_null(emu_path_str(r, "output.setlinfo.setl_id"));
    assert_non_null(emu_path_str(r, "output.setlinfo.mdtrt_id"));
    assert_string_equal(emu_path_str(r, "output.detlcutinfo.0.chrgitm_lv"), "01");
    assert_string_equal(emu_path_str(r, "output.detlcutinfo.1.chrgitm_lv"), "02");
    assert_string_equal(emu_path_str(r, "output.detlcutinfo.2.chrgitm_lv"), "03");
    assert_int_equal(emu_path_fen(r, "output.setldetail.0.fund_payamt"), Y(15, 56));
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2953, 76));
    json_object_put(pre);
    json_object_put(r);

    /* not using the account: all of the patient's share is cash */
    emu_scan_result s2;
    scan_ok(f, "stranger", NULL, &s2);
    r = sale(f, "2102", &s2, "310", false, l, 1, NULL);
    assert_split(r, Y(25, 0), Y(12, 50), 0, 0, Y(12, 50));
    assert_int_equal(SETL(r, "balc"), Y(860, 0));
    json_object_put(r);
    emu_scan_free(&s);
    emu_scan_free(&s2);
}

static void family_account_child_resident(void **state)
{
    fixture *f = *state;
    emu_scan_result s;
    scan_ok(f, "child", "employee", &s);
    assert_string_equal(emu_path_str(s.ec, "output.data.ecShowType"), "02");
    assert_string_equal(emu_path_str(s.ec, "output.data.userName"), "张小宇");
    assert_string_equal(emu_path_str(s.ec, "output.data.holderName"), "张建国");
    assert_string_equal(emu_path_str(s.ec, "output.data.holderIdNo"), "120104198103150314");
    assert_string_equal(emu_path_str(s.person, "output.insuinfo.0.insutype"), "390");
    assert_int_equal(emu_path_fen(s.person, "output.insuinfo.0.balc"), EMU_NA);
    emu_test_line l[] = {{CHILD_COLD, 1, "18.60", "18.60"}};
    json_object *r = sale(f, "2102", &s, "390", true, l, 1, NULL);
    assert_split(r, Y(18, 60), Y(8, 37), 0, 0, Y(10, 23));
    assert_int_equal(SETL(r, "balc"), EMU_NA);
    assert_string_equal(emu_path_str(r, "output.setldetail.0.fund_pay_type"), "390100");
    /* the holder's account is never touched by a 亲情账户 display */
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    json_object_put(r);
    /* wrong insutype for the person */
    r = sale(f, "2101", &s, "310", true, l, 1, NULL);
    assert_err_contains(r, "insutype");
    json_object_put(r);
    emu_scan_free(&s);

    /* no binding, no display through someone else's app */
    char out[128];
    const char *args[] = {"code", "--person", "stranger", "--holder", "employee", NULL};
    assert_int_equal(emu_cli(&f->srv, out, sizeof out, args), 1);
}

static void mutual_aid_parent(void **state)
{
    fixture *f = *state;
    emu_scan_result s;
    scan_ok(f, "parent", "employee", &s);
    assert_string_equal(emu_path_str(s.ec, "output.data.ecShowType"), "02");
    emu_test_line l[] = {{AMLODIPINE, 3, "28.00", "84.00"}};
    json_object *r = sale(f, "2102", &s, "310", true, l, 1, NULL);
    assert_split(r, Y(84, 0), Y(42, 0), Y(35, 20), Y(6, 80), 0);
    assert_int_equal(SETL(r, "balc"), 0);
    assert_int_equal(emu_balance(&f->srv, "parent"), 0);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2993, 20));
    json_object_put(r);

    /* the authoriser keeps the retained minimum (2000.00 in 1201) */
    emu_test_line big[] = {{AMLODIPINE, 100, "28.00", "2800.00"}};
    r = sale(f, "2102", &s, "310", true, big, 1, NULL);
    assert_split(r, Y(2800, 0), Y(1400, 0), 0, Y(993, 20), Y(406, 80));
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2000, 0));
    json_object_put(r);
    emu_test_line one[] = {{AMLODIPINE, 1, "28.00", "28.00"}};
    r = sale(f, "2102", &s, "310", true, one, 1, NULL);
    assert_split(r, Y(28, 0), Y(14, 0), 0, 0, Y(14, 0));
    assert_non_null(strstr(emu_warn_msg(r), "留存"));
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2000, 0));
    emu_scan_free(&s);
}

static void regional_restriction(void **state)
{
    fixture *f = *state;
    emu_scan_result s;
    scan_ok(f, "remote_parent", NULL, &s);
    assert_string_equal(s.insuplc, "421202");
    emu_test_line l[] = {{AMLODIPINE, 3, "28.00", "84.00"}};
    json_object *r = sale(f, "2102", &s, "310", true, l, 1, NULL);
    assert_split(r, Y(84, 0), Y(42, 0), Y(10, 0), 0, Y(32, 0));
    assert_non_null(strstr(emu_warn_msg(r), "市域外"));
    assert_int_equal(emu_balance(&f->srv, "remote_parent"), 0);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    json_object_put(r);
    emu_scan_free(&s);
}

static void exec_sql(fixture *f, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(emu_db_open(f->srv.db, &db), 0);
    assert_int_equal(emu_db_exec(db, sql), 0);
    sqlite3_close(db);
}

static void insured_status_checks(void **state)
{
    fixture *f = *state;
    emu_scan_result s;
    scan_ok(f, "suspended", NULL, &s);
    assert_string_equal(emu_path_str(s.person, "output.insuinfo.0.psn_insu_stas"), "2");
    assert_string_equal(emu_path_str(s.person, "output.insuinfo.0.paus_insu_date"), "2026-03-01");
    emu_test_line l[] = {{AMLODIPINE, 1, "28.00", "28.00"}};
    json_object *r = sale(f, "2101", &s, "310", true, l, 1, NULL);
    assert_err_contains(r, "暂停参保");
    json_object_put(r);
    r = sale(f, "2102", &s, "310", true, l, 1, NULL);
    assert_err_contains(r, "暂停参保");
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "suspended"), Y(1523, 0));
    assert_int_equal(emu_count(&f->srv, "settlements"), 0);
    emu_scan_free(&s);

    /* a suspended authoriser shares nothing; the patient's own account still pays */
    exec_sql(f, "UPDATE persons SET psn_insu_stas='2', paus_insu_date='2026-11-01' "
                "WHERE alias='employee'");
    scan_ok(f, "parent", NULL, &s);
    emu_test_line m[] = {{AMLODIPINE, 3, "28.00", "84.00"}};
    r = sale(f, "2102", &s, "310", true, m, 1, NULL);
    assert_split(r, Y(84, 0), Y(42, 0), Y(35, 20), 0, Y(6, 80));
    assert_non_null(strstr(emu_warn_msg(r), "授权人"));
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    json_object_put(r);
    emu_scan_free(&s);
}

static void sale_input_checks(void **state)
{
    fixture *f = *state;
    emu_scan_result s;
    scan_ok(f, "employee", NULL, &s);
    emu_test_line wrong_total[] = {{AMOXICILLIN, 2, "12.50", "25.01"}};
    json_object *r = sale(f, "2101", &s, "310", true, wrong_total, 1, NULL);
    assert_err_contains(r, "单价×数量");
    json_object_put(r);
    /* medfee_sumamt must be the sum of the lines */
    emu_test_line l[] = {{AMOXICILLIN, 2, "12.50", "25.00"}};
    json_object *in = emu_sale_input(&s, "310", true, l, 1, "ORD-X");
    json_object_object_add(emu_path(in, "druginfo"), "medfee_sumamt",
                           emu_json_number_text("25.10"));
    r = emu_call(&f->t, "2101", in, s.insuplc, NULL);
    assert_err_contains(r, "medfee_sumamt");
    json_object_put(r);
    /* an amount with three decimals is not an amount */
    in = emu_sale_input(&s, "310", true, l, 1, "ORD-X");
    json_object_object_add(emu_path(in, "druginfo"), "medfee_sumamt",
                           emu_json_number_text("25.001"));
    r = emu_call(&f->t, "2101", in, s.insuplc, NULL);
    assert_err_contains(r, "medfee_sumamt");
    json_object_put(r);
    /* ecToken of another person */
    emu_scan_result other;
    scan_ok(f, "stranger", NULL, &other);
    snprintf(other.token, sizeof other.token, "%s", s.token);
    r = sale(f, "2101", &other, "310", true, l, 1, NULL);
    assert_err_contains(r, "ecToken");
    json_object_put(r);
    emu_scan_free(&other);
    emu_scan_free(&s);
}

/* ---- codes and tokens ---- */

static json_object *ec_query(fixture *f, const char *code)
{
    json_object *in = json_object_new_object(), *d = json_object_new_object();
    json_object_object_add(d, "orgId", json_object_new_string("H12010400001"));
    json_object_object_add(d, "businessType", json_object_new_string("02121"));
    json_object_object_add(d, "operatorId", json_object_new_string("0001"));
    json_object_object_add(d, "operatorName", json_object_new_string("刘晓梅"));
    json_object_object_add(d, "officeId", json_object_new_string(""));
    json_object_object_add(d, "officeName", json_object_new_string(""));
    json_object_object_add(d, "ecQrCode", json_object_new_string(code));
    json_object_object_add(in, "data", d);
    return emu_call(&f->t, "ec.query", in, NULL, NULL);
}

static void codes_expired_reused_unknown(void **state)
{
    fixture *f = *state;
    char code[64];
    const char *expired[] = {"code", "--person", "employee", "--ttl", "0", NULL};
    assert_int_equal(emu_cli(&f->srv, code, sizeof code, expired), 0);
    assert_int_equal(strlen(code), 46);
    assert_memory_equal(code, "120104", 6);
    json_object *r = ec_query(f, code);
    assert_err_contains(r, "电子凭证二维码已过期，请刷新后重试");
    json_object_put(r);

    const char *fresh[] = {"code", "--person", "employee", NULL};
    assert_int_equal(emu_cli(&f->srv, code, sizeof code, fresh), 0);
    r = ec_query(f, code);
    assert_true(emu_ok(r));
    json_object_put(r);
    r = ec_query(f, code);
    assert_err_contains(r, "电子凭证二维码已使用，请刷新后重试");
    json_object_put(r);

    code[45] = code[45] == 'A' ? 'B' : 'A';
    r = ec_query(f, code);
    assert_err_contains(r, "电子凭证二维码无效");
    json_object_put(r);
    r = ec_query(f, "https://example.com/not-a-voucher");
    assert_err_contains(r, "电子凭证二维码无效");
    json_object_put(r);
}

static void token_expiry(void **state)
{
    fixture *f = *state;
    emu_scan_result s;
    assert_int_equal(emu_scan(&f->t, "employee", NULL, &s), -3);
    assert_err_contains(s.person, "已过期");
    emu_scan_free(&s);
}

/* ---- cancel and reversal ---- */

static void cancel_restores_both_balances(void **state)
{
    fixture *f = *state;
    emu_scan_result s;
    scan_ok(f, "parent", "employee", &s);
    emu_test_line l[] = {{AMLODIPINE, 3, "28.00", "84.00"}};
    json_object *r = sale(f, "2102", &s, "310", true, l, 1, NULL);
    assert_split(r, Y(84, 0), Y(42, 0), Y(35, 20), Y(6, 80), 0);
    char setl_id[40];
    snprintf(setl_id, sizeof setl_id, "%s", emu_path_str(r, "output.setlinfo.setl_id"));
    json_object_put(r);

    json_object *in = json_object_new_object(), *d = json_object_new_object();
    json_object_object_add(d, "setl_id", json_object_new_string(setl_id));
    json_object_object_add(d, "psn_no", json_object_new_string("12010400000010000304"));
    json_object_object_add(in, "data", d);
    r = emu_call(&f->t, "2103", in, "120104", NULL);
    assert_err_contains(r, "psn_no");
    json_object_put(r);

    in = json_object_new_object();
    d = json_object_new_object();
    json_object_object_add(d, "setl_id", json_object_new_string(setl_id));
    json_object_object_add(d, "psn_no", json_object_new_string(s.psn_no));
    json_object_object_add(in, "data", d);
    json_object *again = json_object_get(in);
    r = emu_call(&f->t, "2103", in, s.insuplc, NULL);
    assert_split(r, -Y(84, 0), -Y(42, 0), -Y(35, 20), -Y(6, 80), 0);
    assert_int_equal(SETL(r, "balc"), Y(35, 20));
    assert_string_not_equal(emu_path_str(r, "output.setlinfo.setl_id"), setl_id);
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "parent"), Y(35, 20));
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    assert_int_equal(emu_count(&f->srv, "cancellations"), 1);

    r = emu_call(&f->t, "2103", again, s.insuplc, NULL);
    assert_err_contains(r, "已撤销");
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    emu_scan_free(&s);
}

static json_object *reversal(fixture *f, const char *psn_no, const char *omsgid, const char *oinfno,
                             const char *insuplc)
{
    json_object *in = json_object_new_object(), *d = json_object_new_object();
    json_object_object_add(d, "psn_no", json_object_new_string(psn_no));
    json_object_object_add(d, "omsgid", json_object_new_string(omsgid));
    json_object_object_add(d, "oinfno", json_object_new_string(oinfno));
    json_object_object_add(in, "data", d);
    return emu_call(&f->t, "2601", in, insuplc, NULL);
}

static void reversal_2601(void **state)
{
    fixture *f = *state;
    emu_scan_result s;
    scan_ok(f, "parent", "employee", &s);
    emu_test_line l[] = {{AMLODIPINE, 3, "28.00", "84.00"}};
    char msgid[31];
    json_object *r = sale(f, "2102", &s, "310", true, l, 1, msgid);
    assert_true(emu_ok(r));
    char setl_id[40];
    snprintf(setl_id, sizeof setl_id, "%s", emu_path_str(r, "output.setlinfo.setl_id"));
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2993, 20));

    r = reversal(f, s.psn_no, msgid, "2102", s.insuplc);
    assert_true(emu_ok(r));
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "parent"), Y(35, 20));
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    /* repeating is harmless */
    r = reversal(f, s.psn_no, msgid, "2102", s.insuplc);
    assert_true(emu_ok(r));
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    assert_int_equal(emu_count(&f->srv, "reversals"), 1);
    /* a reversed settlement cannot be cancelled */
    json_object *in = json_object_new_object(), *d = json_object_new_object();
    json_object_object_add(d, "setl_id", json_object_new_string(setl_id));
    json_object_object_add(d, "psn_no", json_object_new_string(s.psn_no));
    json_object_object_add(in, "data", d);
    r = emu_call(&f->t, "2103", in, s.insuplc, NULL);
    assert_err_contains(r, "已冲正");
    json_object_put(r);

    /* a reversal for a settlement that never arrived is acknowledged, and bars it */
    char ghost[31];
    emu_next_msgid(&f->t, ghost);
    r = reversal(f, s.psn_no, ghost, "2102", s.insuplc);
    assert_true(emu_ok(r));
    json_object_put(r);
    json_object *env = emu_envelope(
        &f->t, "2102", emu_sale_input(&s, "310", true, l, 1, "ORD-LATE"), s.insuplc, NULL);
    json_object_object_add(env, "msgid", json_object_new_string(ghost));
    char *body = to_text(env);
    r = emu_call_body(&f->t, body);
    assert_err_contains(r, "已冲正");
    json_object_put(r);
    free(body);
    json_object_put(env);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    assert_int_equal(emu_count(&f->srv, "settlements"), 1);

    /* reversing a cancellation puts the settlement back */
    r = sale(f, "2102", &s, "310", true, l, 1, NULL);
    assert_true(emu_ok(r));
    snprintf(setl_id, sizeof setl_id, "%s", emu_path_str(r, "output.setlinfo.setl_id"));
    json_object_put(r);
    in = json_object_new_object();
    d = json_object_new_object();
    json_object_object_add(d, "setl_id", json_object_new_string(setl_id));
    json_object_object_add(d, "psn_no", json_object_new_string(s.psn_no));
    json_object_object_add(in, "data", d);
    char cancel_msgid[31];
    r = emu_call(&f->t, "2103", in, s.insuplc, cancel_msgid);
    assert_true(emu_ok(r));
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
    r = reversal(f, s.psn_no, cancel_msgid, "2103", s.insuplc);
    assert_true(emu_ok(r));
    json_object_put(r);
    assert_int_equal(emu_balance(&f->srv, "parent"), 0);
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(2993, 20));
    /* oinfno must match what the original was */
    r = reversal(f, s.psn_no, cancel_msgid, "2102", s.insuplc);
    assert_err_contains(r, "不一致");
    json_object_put(r);
    emu_scan_free(&s);
}

/* ---- styles, logs, CLI ---- */

static void check_all_amounts(json_object *o, json_type want, int depth)
{
    static const char *const amount_keys[] = {"medfee_sumamt", "fund_pay_sumamt", "acct_pay",
                                              "psn_cash_pay",  "inscp_scp_amt",   "fund_payamt",
                                              "balc",          "acct_mulaid_pay"};
    if (depth > 6 || o == NULL)
        return;
    if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++)
            check_all_amounts(json_object_array_get_idx(o, i), want, depth + 1);
        return;
    }
    if (!json_object_is_type(o, json_type_object))
        return;
    json_object_object_foreach(o, key, val)
    {
        for (size_t i = 0; i < sizeof amount_keys / sizeof amount_keys[0]; i++)
            if (strcmp(key, amount_keys[i]) == 0) {
                bool is_string = json_object_is_type(val, json_type_string);
                if (want == json_type_string)
                    assert_true(is_string);
                else
                    assert_false(is_string);
            }
        check_all_amounts(val, want, depth + 1);
    }
}

static void style_sale(fixture *f, json_type want)
{
    emu_scan_result s;
    scan_ok(f, "employee", NULL, &s);
    check_all_amounts(s.person, want, 0);
    json_object *ic = emu_path(s.person, "infcode");
    assert_true(
        json_object_is_type(ic, want == json_type_string ? json_type_string : json_type_int));
    emu_test_line l[] = {{AMOXICILLIN, 2, "12.50", "25.00"}};
    json_object *r = sale(f, "2102", &s, "310", true, l, 1, NULL);
    assert_split(r, Y(25, 0), Y(12, 50), Y(12, 50), 0, 0);
    check_all_amounts(r, want, 0);
    json_object_put(r);
    emu_scan_free(&s);
}

static void string_style(void **state)
{
    style_sale(*state, json_type_string);
}

static void number_style(void **state)
{
    style_sale(*state, json_type_double);
}

static void log_has_no_personal_data(void **state)
{
    fixture *f = *state;
    emu_scan_result s;
    scan_ok(f, "parent", "employee", &s);
    emu_test_line l[] = {{AMLODIPINE, 3, "28.00", "84.00"}};
    json_object *r = sale(f, "2102", &s, "310", true, l, 1, NULL);
    assert_true(emu_ok(r));
    json_object_put(r);
    char *log = emu_server_log(&f->srv);
    assert_non_null(strstr(log, "infno=2102"));
    const char *secrets[] = {"李秀英", "张建国", "120104195406020468", "120104198103150314",
                             s.token,  s.code};
    for (size_t i = 0; i < 6; i++)
        assert_null(strstr(log, secrets[i]));
    free(log);
    emu_scan_free(&s);
}

static void cli_commands(void **state)
{
    fixture *f = *state;
    char out[8192];
    const char *child[] = {"balance", "--person", "child", NULL};
    assert_int_equal(emu_cli(&f->srv, out, sizeof out, child), 1);
    const char *nobody[] = {"balance", "--person", "nobody", NULL};
    assert_int_equal(emu_cli(&f->srv, out, sizeof out, nobody), 1);
    const char *bad_what[] = {"count", "--what", "sales", NULL};
    assert_int_equal(emu_cli(&f->srv, out, sizeof out, bad_what), 2);
    const char *bad_kind[] = {"fault", "--infno", "*", "--kind", "explode", NULL};
    assert_int_equal(emu_cli(&f->srv, out, sizeof out, bad_kind), 2);
    const char *bad_delay[] = {"fault", "--infno", "*", "--kind", "delay", NULL};
    assert_int_equal(emu_cli(&f->srv, out, sizeof out, bad_delay), 2);
    const char *bad_status[] = {"fault",       "--infno", "*",   "--kind",
                                "http_status", "--value", "200", NULL};
    assert_int_equal(emu_cli(&f->srv, out, sizeof out, bad_status), 2);
    const char *stranger[] = {"balance", "--person", "stranger", NULL};
    assert_int_equal(emu_cli(&f->srv, out, sizeof out, stranger), 0);
    assert_string_equal(out, "860.00");
    const char *show[] = {"show", NULL};
    assert_int_equal(emu_cli(&f->srv, out, sizeof out, show), 0);
    assert_non_null(strstr(out, "== settlements =="));
    assert_non_null(strstr(out, "remote_parent"));
    const char *init[] = {"init", NULL};
    assert_int_equal(emu_cli(&f->srv, out, sizeof out, init), 0); /* idempotent */
    assert_int_equal(emu_balance(&f->srv, "employee"), Y(3000, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keep_alive_and_sign_in, setup, teardown),
        cmocka_unit_test_setup_teardown(gateway_rejections, setup, teardown),
        cmocka_unit_test_setup_teardown(untrusted_certificate, setup_rogue, teardown),
        cmocka_unit_test_setup_teardown(envelope_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(msgid_duplicate_and_idempotent_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(own_account_sale, setup, teardown),
        cmocka_unit_test_setup_teardown(family_account_child_resident, setup, teardown),
        cmocka_unit_test_setup_teardown(mutual_aid_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(regional_restriction, setup, teardown),
        cmocka_unit_test_setup_teardown(insured_status_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(sale_input_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(codes_expired_reused_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(token_expiry, setup_token_ttl0, teardown),
        cmocka_unit_test_setup_teardown(cancel_restores_both_balances, setup, teardown),
        cmocka_unit_test_setup_teardown(reversal_2601, setup, teardown),
        cmocka_unit_test_setup_teardown(string_style, setup_string_style, teardown),
        cmocka_unit_test_setup_teardown(number_style, setup_number_style, teardown),
        cmocka_unit_test_setup_teardown(log_has_no_personal_data, setup, teardown),
        cmocka_unit_test_setup_teardown(cli_commands, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
