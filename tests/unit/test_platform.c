/*
 * evt_platform against a scripted GnuTLS server (tests/support/tls_test_server) with its
 * journal on the RAM NOR model behind a storage that fails on demand (fake_hal): sign-in and
 * sign_no, the msgid persisted before use, the HTTP classification (only 200 with a complete
 * envelope, or a 4xx that refuses, is the platform's answer), settlement-type bookkeeping (pend
 * journalled before sending, settle_done, reversals, the owner's hooks), start-up recovery and
 * the retries of owed reversals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "arena_fixture.h"
#include "evt/arena.h"
#include "evt/config.h"
#include "evt/https.h"
#include "evt/log.h"
#include "evt/platform.h"
#include "fake_hal.h"
#include "ram_nor.h"
#include "sale_script.h"
#include "skip_policy.h"
#include "tls_test_server.h"

#define ARENA_BYTES  (1024u * 1024u)
#define FLASH_BYTES  (64u * 1024u)
#define SECTOR_BYTES 4096u
#define MAX_KEYS     512u

static unsigned char arena_buf[ARENA_BYTES] __attribute__((aligned(16)));
static fake_sys sys;
static tls_ts_peer peer;

/* The transaction engine's side of the settlement bookkeeping, as the platform sees it. */
typedef struct owner_probe {
    evt_platform *p;
    char recorded[4][EVT_MSGID_BYTES]; /* outcome_recorded answers true for these */
    unsigned recorded_count;
    unsigned asked;
    char asked_ref[4][EVT_ORDER_ID_BYTES];
    unsigned reversed_calls;
    char reversed_ref[EVT_ORDER_ID_BYTES];
    char reversed_msgid[EVT_MSGID_BYTES];
    evt_platform_owed_state owed_in_hook; /* what the journal held while the hook ran */
    evt_err reversed_result;              /* what the hook answers */
} owner_probe;

typedef struct fx {
    tls_test_server *srv;
    gate_net net;
    evt_ram_nor nor;
    flaky_storage flash;
    uint32_t work[EVT_JOURNAL_WORK_SIZE(FLASH_BYTES / SECTOR_BYTES, MAX_KEYS) / 4];
    evt_journal j;
    evt_config cfg;
    evt_hal hal;
    evt_platform *p;
    owner_probe owner;
} fx;

/* ---- owner hooks ---------------------------------------------------------------------------- */

static bool probe_outcome_recorded(void *ctx, const char *order_ref, const char *msgid)
{
    owner_probe *o = ctx;
    if (o->asked < 4) {
        snprintf(o->asked_ref[o->asked], EVT_ORDER_ID_BYTES, "%s", order_ref);
    }
    o->asked++;
    for (unsigned i = 0; i < o->recorded_count; i++) {
        if (strcmp(o->recorded[i], msgid) == 0) {
            return true;
        }
    }
    return false;
}

static evt_err probe_reversed(void *ctx, const char *order_ref, const char *msgid)
{
    owner_probe *o = ctx;
    o->reversed_calls++;
    snprintf(o->reversed_ref, sizeof o->reversed_ref, "%s", order_ref);
    snprintf(o->reversed_msgid, sizeof o->reversed_msgid, "%s", msgid);
    o->owed_in_hook = evt_platform_owed(o->p, msgid);
    return o->reversed_result;
}

/* ---- fixture --------------------------------------------------------------------------------- */

static void fx_boot(fx *f, unsigned port)
{
    char text[2048], msg[128];
    ss_config_text(text, sizeof text, port, NULL);
    assert_int_equal(evt_config_parse(text, strlen(text), &f->cfg, msg, sizeof msg), EVT_OK);
    assert_int_equal(evt_journal_open(&f->j, &f->flash.hal, f->work, sizeof f->work, NULL), EVT_OK);
    f->hal = (evt_hal){.sys = &sys.hal, .net = &f->net.hal, .storage = &f->flash.hal};
    assert_int_equal(evt_platform_new(&f->cfg, peer.ca_pem, &f->hal, &f->j, &f->p), EVT_OK);
    f->owner.p = f->p;
    evt_platform_owner owner = {
        .ctx = &f->owner, .outcome_recorded = probe_outcome_recorded, .reversed = probe_reversed};
    evt_platform_set_owner(f->p, &owner);
}

/* Power off and on: the RAM state is gone, the flash stays. */
static void fx_reboot(fx *f)
{
    evt_platform_free(f->p);
    f->p = NULL;
    atomic_store(&f->flash.fail_reads, 0);
    atomic_store(&f->flash.fail_programs, 0);
    fx_boot(f, f->cfg.port);
}

static int setup(void **state)
{
    arena_fixture_setup(state);
    fake_sys_init(&sys);
    *state = NULL;
    if (!peer.have_peer) {
        return 0;
    }
    assert_int_equal(evt_https_platform_init(&sys.hal), EVT_OK);
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    tls_ts_options o = {.cert_file = peer.certs.server_pem, .key_file = peer.certs.server_key};
    f->srv = tls_ts_start(&o);
    assert_non_null(f->srv);
    gate_net_init(&f->net);
    assert_int_equal(evt_ram_nor_init(&f->nor, FLASH_BYTES, SECTOR_BYTES), EVT_OK);
    flaky_storage_init(&f->flash, &f->nor.hal);
    fx_boot(f, tls_ts_port(f->srv));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (f != NULL) {
        evt_platform_free(f->p);
        tls_ts_stop(f->srv);
        evt_ram_nor_free(&f->nor);
        free(f);
        evt_https_platform_deinit();
    }
    (void)state;
    return arena_fixture_teardown_over(arena_buf, sizeof arena_buf);
}

static fx *fixture(void **state)
{
    if (*state == NULL) {
        tls_ts_peer_require(&peer);
    }
    return *state;
}

/* ---- requests -------------------------------------------------------------------------------- */

static evt_err build_person(void *arg, const evt_proto_identity *id, const evt_proto_envelope *env,
                            evt_json_writer *w, evt_json_diag *diag)
{
    (void)arg;
    evt_voucher_info v;
    memset(&v, 0, sizeof v);
    snprintf(v.ec_token, sizeof v.ec_token, "ECTOKEN0001");
    snprintf(v.id_no, sizeof v.id_no, SS_CERTNO);
    snprintf(v.user_name, sizeof v.user_name, SS_NAME);
    snprintf(v.insu_org, sizeof v.insu_org, SS_REGION);
    return evt_proto_write_person_query(id, env, &v, w, diag);
}

static evt_err build_ec_query(void *arg, const evt_proto_identity *id,
                              const evt_proto_envelope *env, evt_json_writer *w,
                              evt_json_diag *diag)
{
    (void)arg;
    return evt_proto_write_ec_query(id, env, SS_CODE, w, diag);
}

/* A settlement-type request: the platform only numbers, journals, signs and sends it. */
static evt_err build_settle_like(void *arg, const evt_proto_identity *id,
                                 const evt_proto_envelope *env, evt_json_writer *w,
                                 evt_json_diag *diag)
{
    (void)arg;
    (void)id;
    (void)diag;
    evt_json_write_object(w, NULL);
    evt_json_write_string(w, "infno", "2102");
    evt_json_write_string(w, "msgid", env->msgid);
    evt_json_write_string(w, "sign_no", env->sign_no);
    evt_json_write_string(w, "insuplc_admdvs", env->insuplc_admdvs);
    evt_json_write_object(w, "input");
    evt_json_write_end(w);
    return evt_json_write_end(w);
}

static evt_err call_person(fx *f, evt_platform_reply *r)
{
    return evt_platform_call(f->p, EVT_INFNO_PERSON, SS_REGION, build_person, NULL, NULL, r);
}

static evt_err call_settle_ref(fx *f, const evt_platform_settle_ref *ref, evt_platform_reply *r)
{
    return evt_platform_call(f->p, EVT_INFNO_SETTLE, SS_REGION, build_settle_like, NULL, ref, r);
}

static evt_err call_settle(fx *f, const char *order_ref, evt_platform_reply *r)
{
    evt_platform_settle_ref ref = {
        .psn_no = SS_PSN_NO, .insuplc_admdvs = SS_REGION, .order_ref = order_ref};
    return call_settle_ref(f, &ref, r);
}

static void sign_in(fx *f)
{
    ss_push(f->srv, ss_sign_in());
    assert_int_equal(evt_platform_sign_in(f->p), EVT_OK);
    assert_true(evt_platform_signed_in(f->p));
}

static tls_ts_stats stats_of_srv(fx *f)
{
    tls_ts_stats st;
    tls_ts_get_stats(f->srv, &st);
    return st;
}

static size_t requests(fx *f)
{
    return tls_ts_request_count(f->srv);
}

static void assert_infnos(fx *f, size_t from, const char *want)
{
    char got[512];
    ss_infnos(f->srv, from, got, sizeof got);
    assert_string_equal(got, want);
}

/* A settlement-type request whose answer is lost (the server read it and hung up): its pend
 * record stays until settle_done. Returns its msgid. */
static void lost_settlement(fx *f, const char *order_ref, char msgid[EVT_MSGID_BYTES])
{
    tls_ts_push(f->srv, (tls_ts_step){.action = TLS_TS_CLOSE_NO_RESPONSE});
    evt_platform_reply r;
    evt_err err = call_settle(f, order_ref, &r);
    assert_int_not_equal(err, EVT_OK);
    assert_true(r.request_sent);
    assert_false(r.answered);
    snprintf(msgid, EVT_MSGID_BYTES, "%s", r.msgid);
    evt_platform_reply_free(&r);
    evt_platform_disconnect(f->p);
    assert_int_equal(evt_platform_owed(f->p, msgid), EVT_PLATFORM_OWED_PENDING);
}

/* ---- the connection policy (keep_connection_s, prepare) ----------------------------------------
 */

static evt_https_info https_of(fx *f)
{
    evt_https_info info;
    evt_platform_https_info(f->p, &info);
    return info;
}

static void person_call_ok(fx *f)
{
    ss_push(f->srv, ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, "1", ""));
    evt_platform_reply r;
    assert_int_equal(call_person(f, &r), EVT_OK);
    evt_platform_reply_free(&r);
}

static void default_policy_closes_at_the_end(void **state)
{
    fx *f = fixture(state);
    sign_in(f);
    evt_platform_disconnect(f->p);
    assert_false(https_of(f).connected);
    assert_true(tls_ts_wait_closed(f->srv, 1, 3000));
    person_call_ok(f);
    assert_int_equal(https_of(f).connections_opened, 2);
    evt_platform_disconnect(f->p);
    assert_false(https_of(f).connected);

    /* Prepared for an order that never reaches the platform: closed after 30 s of idling. */
    assert_int_equal(evt_platform_prepare(f->p), EVT_OK);
    assert_true(https_of(f).connected);
    fake_sys_advance(&sys, 29000);
    evt_platform_idle(f->p);
    assert_true(https_of(f).connected);
    fake_sys_advance(&sys, 1000);
    evt_platform_idle(f->p);
    assert_false(https_of(f).connected);
}

static void kept_connection_reused_then_closed_after_idle(void **state)
{
    fx *f = fixture(state);
    evt_platform_free(f->p);
    char text[2048], msg[128];
    ss_config_text(text, sizeof text, tls_ts_port(f->srv), "keep_connection_s = 30\n");
    assert_int_equal(evt_config_parse(text, strlen(text), &f->cfg, msg, sizeof msg), EVT_OK);
    assert_int_equal(f->cfg.keep_connection_s, 30);
    assert_int_equal(evt_platform_new(&f->cfg, peer.ca_pem, &f->hal, &f->j, &f->p), EVT_OK);

    /* The sign-in's connection outlives the conversation and serves the next one. */
    sign_in(f);
    evt_platform_disconnect(f->p);
    assert_true(https_of(f).connected);
    fake_sys_advance(&sys, 29000);
    evt_platform_idle(f->p); /* not yet */
    assert_true(https_of(f).connected);
    person_call_ok(f);
    assert_int_equal(https_of(f).connections_opened, 1);
    assert_int_equal(stats_of_srv(f).connections_accepted, 1);

    /* Idle for keep_connection_s: closed by the terminal, before the platform's timeout. */
    evt_platform_disconnect(f->p);
    fake_sys_advance(&sys, 30000);
    evt_platform_idle(f->p);
    assert_false(https_of(f).connected);
    assert_true(tls_ts_wait_closed(f->srv, 1, 3000));

    /* Prepared ahead of need: the call finds the connection up. */
    assert_int_equal(evt_platform_prepare(f->p), EVT_OK);
    assert_true(https_of(f).connected);
    assert_int_equal(https_of(f).connections_opened, 2);
    person_call_ok(f);
    assert_int_equal(https_of(f).connections_opened, 2);

    /* A kept connection that idled too long is not used by the next call either. */
    evt_platform_disconnect(f->p);
    fake_sys_advance(&sys, 31000);
    person_call_ok(f);
    assert_int_equal(https_of(f).connections_opened, 3);
    evt_platform_close(f->p);
    assert_false(https_of(f).connected);
}

/* ---- sign-in -----------------------------------------------------------------------------------
 */

static void sign_in_keeps_sign_no_for_later_calls(void **state)
{
    fx *f = fixture(state);
    assert_false(evt_platform_signed_in(f->p));
    sign_in(f);
    char v[64];
    assert_true(ss_request_field(f->srv, 0, "infno", v, sizeof v));
    assert_string_equal(v, "9001");
    ss_request_field(f->srv, 0, "sign_no", v, sizeof v);
    assert_string_equal(v, "");
    ss_request_field(f->srv, 0, "opter_no", v, sizeof v);
    assert_string_equal(v, "0001");
    /* The board's addresses, as it reports them. */
    ss_request_field(f->srv, 0, "ip", v, sizeof v);
    assert_string_equal(v, "192.0.2.7");
    ss_request_field(f->srv, 0, "mac", v, sizeof v);
    assert_string_equal(v, "02-00-00-00-00-07");

    ss_push(f->srv, ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, "1", ""));
    evt_platform_reply r;
    assert_int_equal(call_person(f, &r), EVT_OK);
    assert_true(r.answered);
    assert_int_equal(r.http_status, 200);
    assert_infnos(f, 0, "9001,1101");
    ss_request_field(f->srv, 1, "sign_no", v, sizeof v);
    assert_string_equal(v, SS_SIGN_NO);
    ss_request_field(f->srv, 1, "msgid", v, sizeof v);
    assert_string_equal(v, r.msgid);
    assert_memory_equal(r.msgid, "H12010400001", 12);
    evt_platform_reply_free(&r);
}

static void refused_sign_in_is_not_signed_in(void **state)
{
    fx *f = fixture(state);
    ss_push(f->srv, ss_refused("操作员未登记"));
    assert_int_equal(evt_platform_sign_in(f->p), EVT_ERR_PLATFORM_REJECTED);
    assert_false(evt_platform_signed_in(f->p));

    /* A transaction that needs a sign_no signs in first; refused, it is not sent at all. */
    ss_push(f->srv, ss_refused("操作员未登记"));
    evt_platform_reply r;
    assert_int_equal(call_person(f, &r), EVT_ERR_NOT_SIGNED_IN);
    assert_false(r.request_sent);
    evt_platform_reply_free(&r);
    assert_infnos(f, 0, "9001,9001");

    /* ec.query needs none: it goes out as it is, without a sign_no. */
    ss_push(f->srv, ss_voucher(SS_CERTNO, SS_NAME));
    assert_int_equal(
        evt_platform_call(f->p, EVT_INFNO_EC_QUERY, NULL, build_ec_query, NULL, NULL, &r), EVT_OK);
    evt_platform_reply_free(&r);
    assert_infnos(f, 0, "9001,9001,ec.query");
    char v[64];
    ss_request_field(f->srv, 2, "sign_no", v, sizeof v);
    assert_string_equal(v, "");

    /* Once the platform accepts the operator, the waiting transaction follows the 9001. */
    ss_push(f->srv, ss_sign_in());
    ss_push(f->srv, ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, "1", ""));
    assert_int_equal(call_person(f, &r), EVT_OK);
    evt_platform_reply_free(&r);
    assert_infnos(f, 0, "9001,9001,ec.query,9001,1101");
    ss_request_field(f->srv, 4, "sign_no", v, sizeof v);
    assert_string_equal(v, SS_SIGN_NO);
}

/* ---- msgid -------------------------------------------------------------------------------------
 */

static void msgid_persisted_before_use(void **state)
{
    fx *f = fixture(state);
    /* A journal that refuses the write: the msgid cannot be kept, so nothing leaves. */
    atomic_store(&f->flash.fail_programs, -1);
    assert_int_equal(evt_platform_sign_in(f->p), EVT_ERR_STORAGE_IO);
    assert_int_equal(requests(f), 0);
    tls_ts_stats st;
    tls_ts_get_stats(f->srv, &st);
    assert_int_equal(st.connections_accepted, 0);

    fx_reboot(f);
    sign_in(f);
    /* The clock runs an hour fast for this call (the certificate is valid for a year). */
    sys.wall_offset_s = 3600;
    ss_push(f->srv, ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, "1", ""));
    evt_platform_reply r;
    assert_int_equal(call_person(f, &r), EVT_OK);
    char last[EVT_MSGID_BYTES] = "";
    size_t len = 0;
    assert_int_equal(evt_journal_get(&f->j, EVT_JOURNAL_KEY_MSGID, last, sizeof last - 1, &len),
                     EVT_OK);
    assert_string_equal(last, r.msgid);
    evt_platform_reply_free(&r);

    /* After a restart with the clock set right, an hour behind that msgid, the stored msgid
     * still orders the next one after it: no msgid is ever used twice. */
    fx_reboot(f);
    sys.wall_offset_s = 0;
    ss_push(f->srv, ss_sign_in());
    ss_push(f->srv, ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, "1", ""));
    assert_int_equal(call_person(f, &r), EVT_OK);
    assert_infnos(f, 0, "9001,1101,9001,1101");
    char sign_in_msgid[EVT_MSGID_BYTES];
    ss_request_field(f->srv, 2, "msgid", sign_in_msgid, sizeof sign_in_msgid);
    assert_true(strcmp(sign_in_msgid, last) > 0);
    assert_true(strcmp(r.msgid, sign_in_msgid) > 0);
    evt_platform_reply_free(&r);
}

/* ---- what counts as the platform's answer ------------------------------------------------------
 */

typedef struct http_case {
    const char *what;
    tls_ts_step step;
    evt_err want;
    bool answered;
    int status;
    const char *err_msg;
} http_case;

static void only_200_or_refusing_4xx_is_an_answer(void **state)
{
    fx *f = fixture(state);
    sign_in(f);
    /* The bodies are built once (the builders' buffers rotate) and copied by the server. */
    char success[4096], refusal[512];
    snprintf(success, sizeof success, "%s", ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, "1", ""));
    snprintf(refusal, sizeof refusal, "%s", ss_refused("签名校验失败"));
    const http_case cases[] = {
        {"200 + infcode 0", {TLS_TS_REPLY, 200, 0, success, false}, EVT_OK, true, 200, ""},
        {"200 + infcode -1",
         {TLS_TS_REPLY, 200, 0, refusal, false},
         EVT_ERR_PLATFORM_REJECTED,
         true,
         200,
         "签名校验失败"},
        {"202 + success body",
         {TLS_TS_REPLY, 202, 0, success, false},
         EVT_ERR_HTTP_STATUS,
         false,
         202,
         ""},
        {"204 + success body",
         {TLS_TS_REPLY, 204, 0, success, true},
         EVT_ERR_HTTP_STATUS,
         false,
         204,
         ""},
        {"206 + success body",
         {TLS_TS_REPLY, 206, 0, success, false},
         EVT_ERR_HTTP_STATUS,
         false,
         206,
         ""},
        {"302 + success body",
         {TLS_TS_REPLY, 302, 0, success, false},
         EVT_ERR_HTTP_STATUS,
         false,
         302,
         ""},
        {"401 + refusing envelope",
         {TLS_TS_REPLY, 401, 0, refusal, false},
         EVT_ERR_PLATFORM_REJECTED,
         true,
         401,
         "签名校验失败"},
        {"403 + refusing envelope",
         {TLS_TS_REPLY, 403, 0, refusal, true},
         EVT_ERR_PLATFORM_REJECTED,
         true,
         403,
         "签名校验失败"},
        {"400 + infcode 0",
         {TLS_TS_REPLY, 400, 0, success, false},
         EVT_ERR_HTTP_STATUS,
         false,
         400,
         ""},
        {"429 + text body",
         {TLS_TS_REPLY, 429, 0, "Too Many Requests", false},
         EVT_ERR_HTTP_STATUS,
         false,
         429,
         ""},
        {"500 + refusing envelope",
         {TLS_TS_REPLY, 500, 0, refusal, false},
         EVT_ERR_HTTP_STATUS,
         false,
         500,
         ""},
        {"502 + success body",
         {TLS_TS_REPLY, 502, 0, success, false},
         EVT_ERR_HTTP_STATUS,
         false,
         502,
         ""},
        {"503 + empty body", {TLS_TS_REPLY, 503, 0, "", true}, EVT_ERR_HTTP_STATUS, false, 503, ""},
        {"200 + malformed JSON",
         {TLS_TS_REPLY, 200, 0, "{\"infcode\":0,\"output\":", false},
         EVT_ERR_JSON_MALFORMED,
         false,
         200,
         ""},
        {"200 + envelope without infcode",
         {TLS_TS_REPLY, 200, 0, "{\"output\":{}}", false},
         EVT_ERR_PROTO_FIELD_MISSING,
         false,
         200,
         ""},
        {"200 + truncated body",
         {.action = TLS_TS_CLOSE_MID_BODY},
         EVT_ERR_NET_CLOSED,
         false,
         200,
         ""},
        {"closed without an answer",
         {.action = TLS_TS_CLOSE_NO_RESPONSE},
         EVT_ERR_NET_CLOSED,
         false,
         0,
         ""},
        {"TLS alert instead of an answer",
         {.action = TLS_TS_ALERT},
         EVT_ERR_TLS_ALERT,
         false,
         0,
         ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const http_case *c = &cases[i];
        tls_ts_push(f->srv, c->step);
        size_t before = requests(f);
        evt_platform_reply r;
        evt_err err = call_person(f, &r);
        if (err != c->want || r.answered != c->answered || r.http_status != c->status ||
            !r.request_sent || strcmp(r.resp.err_msg, c->err_msg) != 0) {
            fail_msg("%s: got %s answered=%d http=%d sent=%d err_msg \"%s\"", c->what,
                     evt_err_name(err), r.answered, r.http_status, r.request_sent, r.resp.err_msg);
        }
        /* Only an answer has an envelope the caller may read. */
        assert_true(r.answered == (r.resp.root != NULL));
        assert_int_equal(requests(f), before + 1);
        evt_platform_reply_free(&r);
        evt_platform_disconnect(f->p);
    }
}

/* A port with a bound socket that does not listen: connecting is refused by the kernel. */
static int refused_port(unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t sl = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &sl) != 0) {
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static void refused_connection_is_not_sent(void **state)
{
    fx *f = fixture(state);
    unsigned port = 0;
    int fd = refused_port(&port);
    assert_true(fd >= 0);
    evt_platform_free(f->p);
    f->p = NULL;
    fx_boot(f, port);
    evt_platform_reply r;
    assert_int_equal(
        evt_platform_call(f->p, EVT_INFNO_EC_QUERY, NULL, build_ec_query, NULL, NULL, &r),
        EVT_ERR_NET_CONNECT);
    assert_false(r.request_sent);
    assert_false(r.answered);
    evt_platform_reply_free(&r);
    close(fd);
}

/* ---- settlement-type requests -------------------------------------------------------------------
 */

typedef struct before_probe {
    fx *f;
    char msgid[EVT_MSGID_BYTES];
    evt_platform_owed_state owed;
    char journal_msgid[EVT_MSGID_BYTES];
    evt_err answer;
    bool break_journal; /* the journal refuses every write from now on */
} before_probe;

static evt_err probe_before_send(void *ctx, const char *msgid)
{
    before_probe *b = ctx;
    snprintf(b->msgid, sizeof b->msgid, "%s", msgid);
    b->owed = evt_platform_owed(b->f->p, msgid);
    size_t len = 0;
    memset(b->journal_msgid, 0, sizeof b->journal_msgid);
    evt_journal_get(&b->f->j, EVT_JOURNAL_KEY_MSGID, b->journal_msgid, sizeof b->journal_msgid - 1,
                    &len);
    if (b->break_journal) {
        atomic_store(&b->f->flash.fail_programs, -1);
    }
    return b->answer;
}

static void settlement_journalled_before_sending(void **state)
{
    fx *f = fixture(state);
    sign_in(f);
    ss_snapshot snap = {0};
    ss_snapshot_arm(&snap, &f->nor, "2102");
    tls_ts_set_request_hook(f->srv, ss_snapshot_hook, &snap);
    before_probe b = {.f = f};
    evt_platform_settle_ref ref = {.psn_no = SS_PSN_NO,
                                   .insuplc_admdvs = SS_REGION,
                                   .order_ref = "ORD-1",
                                   .before_send = probe_before_send,
                                   .ctx = &b};
    ss_push(f->srv, ss_settlement("S0001", SS_PSN_NO, &SS_SPLIT));
    evt_platform_reply r;
    assert_int_equal(call_settle_ref(f, &ref, &r), EVT_OK);
    /* The owner heard of the msgid after it was persisted and before the pend record. */
    assert_string_equal(b.msgid, r.msgid);
    assert_string_equal(b.journal_msgid, r.msgid);
    assert_int_equal(b.owed, EVT_PLATFORM_OWED_NONE);
    /* When the request reached the platform, the flash already held the pend record. */
    tls_ts_set_request_hook(f->srv, NULL, NULL);
    assert_true(atomic_load(&snap.taken));
    ss_image_journal ij;
    assert_int_equal(ss_image_journal_open(&ij, snap.image, FLASH_BYTES, SECTOR_BYTES), EVT_OK);
    size_t len = 0;
    assert_int_equal(evt_journal_twin_get(&ij.j, "pend", r.msgid, NULL, 0, &len, NULL),
                     EVT_ERR_OVERFLOW);
    assert_true(len > 0);
    ss_image_journal_close(&ij);
    ss_snapshot_free(&snap);

    /* Until the caller says how it ended, it stays pending. */
    assert_int_equal(evt_platform_owed(f->p, r.msgid), EVT_PLATFORM_OWED_PENDING);
    bool reversed = true;
    size_t before = requests(f);
    assert_int_equal(evt_platform_settle_done(f->p, r.msgid, true, &reversed), EVT_OK);
    assert_false(reversed);
    assert_int_equal(evt_platform_owed(f->p, r.msgid), EVT_PLATFORM_OWED_NONE);
    assert_int_equal(requests(f), before);
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
    evt_platform_reply_free(&r);
}

static void settlement_not_journalled_is_not_sent(void **state)
{
    fx *f = fixture(state);
    sign_in(f);
    size_t before = requests(f);
    /* The owner could not record the msgid: nothing is journalled, nothing sent. */
    before_probe b = {.f = f, .answer = EVT_ERR_JOURNAL_FULL};
    evt_platform_settle_ref ref = {.psn_no = SS_PSN_NO,
                                   .insuplc_admdvs = SS_REGION,
                                   .order_ref = "ORD-1",
                                   .before_send = probe_before_send,
                                   .ctx = &b};
    evt_platform_reply r;
    assert_int_equal(call_settle_ref(f, &ref, &r), EVT_ERR_JOURNAL_FULL);
    assert_false(r.request_sent);
    evt_platform_reply_free(&r);
    assert_int_equal(evt_platform_owed(f->p, b.msgid), EVT_PLATFORM_OWED_NONE);
    assert_int_equal(requests(f), before);

    /* The pend record itself cannot be written: not sent either. */
    b = (before_probe){.f = f, .answer = EVT_OK, .break_journal = true};
    assert_int_equal(call_settle_ref(f, &ref, &r), EVT_ERR_STORAGE_IO);
    assert_false(r.request_sent);
    evt_platform_reply_free(&r);
    assert_int_equal(requests(f), before);
    fx_reboot(f);
    assert_int_equal(evt_platform_owed(f->p, b.msgid), EVT_PLATFORM_OWED_NONE);
}

static void unknown_outcome_reversed_at_once(void **state)
{
    fx *f = fixture(state);
    sign_in(f);
    char msgid[EVT_MSGID_BYTES];
    lost_settlement(f, "ORD-7", msgid);
    tls_ts_stats st;
    tls_ts_get_stats(f->srv, &st);
    unsigned conns = st.connections_accepted;
    size_t before = requests(f);

    ss_push(f->srv, ss_ack());
    bool reversed = false;
    assert_int_equal(evt_platform_settle_done(f->p, msgid, false, &reversed), EVT_OK);
    assert_true(reversed);
    /* One 2601, on a connection of its own, naming the lost request. */
    assert_infnos(f, before, "2601");
    tls_ts_get_stats(f->srv, &st);
    assert_int_equal(st.connections_accepted, conns + 1);
    char v[64];
    ss_request_field(f->srv, before, "omsgid", v, sizeof v);
    assert_string_equal(v, msgid);
    ss_request_field(f->srv, before, "oinfno", v, sizeof v);
    assert_string_equal(v, "2102");
    ss_request_field(f->srv, before, "psn_no", v, sizeof v);
    assert_string_equal(v, SS_PSN_NO);
    ss_request_field(f->srv, before, "insuplc_admdvs", v, sizeof v);
    assert_string_equal(v, SS_REGION);
    /* The owner recorded the reversal while the platform still held it owed; then it went. */
    assert_int_equal(f->owner.reversed_calls, 1);
    assert_string_equal(f->owner.reversed_ref, "ORD-7");
    assert_string_equal(f->owner.reversed_msgid, msgid);
    assert_int_equal(f->owner.owed_in_hook, EVT_PLATFORM_OWED_REVERSAL);
    assert_int_equal(evt_platform_owed(f->p, msgid), EVT_PLATFORM_OWED_NONE);
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
}

static void unacknowledged_reversal_stays_owed(void **state)
{
    fx *f = fixture(state);
    sign_in(f);
    char msgid[EVT_MSGID_BYTES];
    lost_settlement(f, "ORD-8", msgid);
    size_t before = requests(f);
    tls_ts_push(f->srv, (tls_ts_step){.action = TLS_TS_CLOSE_NO_RESPONSE});
    bool reversed = true;
    assert_int_equal(evt_platform_settle_done(f->p, msgid, false, &reversed), EVT_OK);
    assert_false(reversed);
    assert_infnos(f, before, "2601");
    assert_int_equal(f->owner.reversed_calls, 0);
    assert_int_equal(evt_platform_owed(f->p, msgid), EVT_PLATFORM_OWED_REVERSAL);
    assert_int_equal(evt_platform_pending_reversals(f->p), 1);

    /* It survives a restart, and the next retry ends it. */
    fx_reboot(f);
    assert_int_equal(evt_platform_recover(f->p), EVT_OK);
    assert_int_equal(evt_platform_pending_reversals(f->p), 1);
    ss_push(f->srv, ss_sign_in());
    ss_push(f->srv, ss_ack());
    unsigned left = 99;
    assert_int_equal(evt_platform_retry_reversals(f->p, 4, &left), EVT_OK);
    assert_int_equal(left, 0);
    assert_infnos(f, before, "2601,9001,2601");
    assert_int_equal(f->owner.reversed_calls, 1);
    assert_int_equal(evt_platform_owed(f->p, msgid), EVT_PLATFORM_OWED_NONE);
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
}

static void owner_error_keeps_reversal_owed(void **state)
{
    fx *f = fixture(state);
    sign_in(f);
    char msgid[EVT_MSGID_BYTES];
    lost_settlement(f, "ORD-9", msgid);
    f->owner.reversed_result = EVT_ERR_STORAGE_IO;
    ss_push(f->srv, ss_ack());
    bool reversed = false;
    assert_int_equal(evt_platform_settle_done(f->p, msgid, false, &reversed), EVT_OK);
    assert_int_equal(f->owner.reversed_calls, 1);
    /* Not recorded by the owner: the reversal stays owed (a repeated 2601 is harmless). */
    assert_int_equal(evt_platform_owed(f->p, msgid), EVT_PLATFORM_OWED_REVERSAL);
    assert_int_equal(evt_platform_pending_reversals(f->p), 1);

    f->owner.reversed_result = EVT_OK;
    ss_push(f->srv, ss_ack());
    size_t before = requests(f);
    assert_int_equal(evt_platform_retry_reversals(f->p, 4, NULL), EVT_OK);
    assert_infnos(f, before, "2601");
    assert_int_equal(f->owner.reversed_calls, 2);
    assert_int_equal(evt_platform_owed(f->p, msgid), EVT_PLATFORM_OWED_NONE);
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
}

/* ---- start-up recovery
 * --------------------------------------------------------------------------- */

static void recover_drops_recorded_and_reverses_the_others(void **state)
{
    fx *f = fixture(state);
    sign_in(f);
    char recorded[EVT_MSGID_BYTES], open[EVT_MSGID_BYTES];
    lost_settlement(f, "ORD-A", recorded);
    lost_settlement(f, "ORD-B", open);

    /* Power went before either was finished; the owner had recorded the outcome of A. */
    fx_reboot(f);
    snprintf(f->owner.recorded[0], EVT_MSGID_BYTES, "%s", recorded);
    f->owner.recorded_count = 1;
    size_t before = requests(f);
    assert_int_equal(evt_platform_recover(f->p), EVT_OK);
    assert_int_equal(requests(f), before); /* recovery only journals */
    assert_int_equal(f->owner.asked, 2);
    bool a_asked =
        strcmp(f->owner.asked_ref[0], "ORD-A") == 0 || strcmp(f->owner.asked_ref[1], "ORD-A") == 0;
    bool b_asked =
        strcmp(f->owner.asked_ref[0], "ORD-B") == 0 || strcmp(f->owner.asked_ref[1], "ORD-B") == 0;
    assert_true(a_asked && b_asked);
    assert_int_equal(evt_platform_owed(f->p, recorded), EVT_PLATFORM_OWED_NONE);
    assert_int_equal(evt_platform_owed(f->p, open), EVT_PLATFORM_OWED_REVERSAL);
    assert_int_equal(evt_platform_pending_reversals(f->p), 1);

    ss_push(f->srv, ss_sign_in());
    ss_push(f->srv, ss_ack());
    assert_int_equal(evt_platform_retry_reversals(f->p, 4, NULL), EVT_OK);
    assert_infnos(f, before, "9001,2601");
    char v[64];
    ss_request_field(f->srv, before + 1, "omsgid", v, sizeof v);
    assert_string_equal(v, open);
    assert_string_equal(f->owner.reversed_ref, "ORD-B");
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
}

/* ---- owed reversals
 * ------------------------------------------------------------------------------ */

#define MANY_OWED 20

typedef struct reversal_desk {
    char refused[8][EVT_MSGID_BYTES]; /* omsgids refused every time */
    unsigned refuse_first;            /* how many distinct omsgids to refuse, first come */
    unsigned refused_count;
    unsigned seen;
} reversal_desk;

/* The platform's 2601 desk: acknowledges, except the first refuse_first distinct originals it
 * is asked about, which it refuses every time. */
static bool desk_respond(void *arg, const char *request, size_t len, tls_ts_step *step)
{
    (void)len;
    reversal_desk *d = arg;
    const char *body = strstr(request, "\r\n\r\n");
    char infno[16], omsgid[EVT_MSGID_BYTES];
    ss_field(body, "infno", infno, sizeof infno);
    ss_field(body, "omsgid", omsgid, sizeof omsgid);
    *step = (tls_ts_step){.action = TLS_TS_REPLY, .raw = ss_ack()};
    if (strcmp(infno, "9001") == 0) {
        step->raw = ss_sign_in();
        return true;
    }
    d->seen++;
    for (unsigned i = 0; i < d->refused_count; i++) {
        if (strcmp(d->refused[i], omsgid) == 0) {
            step->raw = "{\"infcode\":-1,\"err_msg\":\"原交易状态不允许冲正\"}";
            return true;
        }
    }
    if (d->refused_count < d->refuse_first) {
        snprintf(d->refused[d->refused_count++], EVT_MSGID_BYTES, "%s", omsgid);
        step->raw = "{\"infcode\":-1,\"err_msg\":\"原交易状态不允许冲正\"}";
    }
    return true;
}

static void owe_many(fx *f, char msgids[MANY_OWED][EVT_MSGID_BYTES])
{
    for (unsigned i = 0; i < MANY_OWED; i++) {
        /* msgids of requests that may have left (e.g. from orders' own records). */
        snprintf(msgids[i], EVT_MSGID_BYTES, "H1201040000120240315103000%04u", 3000 + i);
        char order[16];
        snprintf(order, sizeof order, "ORD-%u", i);
        evt_platform_settle_ref ref = {
            .psn_no = SS_PSN_NO, .insuplc_admdvs = SS_REGION, .order_ref = order};
        assert_int_equal(evt_platform_owe_reversal(f->p, EVT_INFNO_SETTLE, msgids[i], &ref),
                         EVT_OK);
    }
    assert_int_equal(evt_platform_pending_reversals(f->p), MANY_OWED);
}

static void more_than_a_batch_of_owed_reversals_all_retried(void **state)
{
    fx *f = fixture(state);
    char msgids[MANY_OWED][EVT_MSGID_BYTES];
    owe_many(f, msgids);
    reversal_desk desk = {0};
    tls_ts_set_responder(f->srv, desk_respond, &desk);
    /* Four per pass, as the idle loop does: every pass makes progress until none is left. */
    unsigned want_left = MANY_OWED;
    for (unsigned pass = 0; pass < 5; pass++) {
        unsigned left = 99;
        assert_int_equal(evt_platform_retry_reversals(f->p, 4, &left), EVT_OK);
        want_left -= 4;
        assert_int_equal(left, want_left);
        assert_int_equal(evt_platform_pending_reversals(f->p), want_left);
        evt_platform_disconnect(f->p);
    }
    for (unsigned i = 0; i < MANY_OWED; i++) {
        assert_int_equal(ss_count_with(f->srv, 0, "omsgid", msgids[i]), 1);
        assert_int_equal(evt_platform_owed(f->p, msgids[i]), EVT_PLATFORM_OWED_NONE);
    }
    assert_int_equal(f->owner.reversed_calls, MANY_OWED);
    tls_ts_set_responder(f->srv, NULL, NULL);
}

static void refused_reversal_stays_owed_and_the_next_is_tried(void **state)
{
    fx *f = fixture(state);
    char msgids[MANY_OWED][EVT_MSGID_BYTES];
    owe_many(f, msgids);
    reversal_desk desk = {.refuse_first = 1};
    tls_ts_set_responder(f->srv, desk_respond, &desk);
    unsigned left = 99;
    assert_int_equal(evt_platform_retry_reversals(f->p, 3, &left), EVT_OK);
    tls_ts_set_responder(f->srv, NULL, NULL);
    /* A refusal is the platform's word on that one reversal: the pass goes on. */
    assert_int_equal(desk.seen, 3);
    assert_int_equal(left, MANY_OWED - 2);
    assert_int_equal(evt_platform_owed(f->p, desk.refused[0]), EVT_PLATFORM_OWED_REVERSAL);
    assert_int_equal(evt_platform_pending_reversals(f->p), MANY_OWED - 2);
}

/* Reversals the platform keeps refusing (the original's state does not allow it: a person must
 * sort them out) must not stop the others from being sent: every owed reversal is retried over
 * the idle loop's passes, not only the first few the journal walk happens to find. */
static void refused_reversals_do_not_starve_the_others(void **state)
{
    fx *f = fixture(state);
    char msgids[MANY_OWED][EVT_MSGID_BYTES];
    owe_many(f, msgids);
    reversal_desk desk = {.refuse_first = 4};
    tls_ts_set_responder(f->srv, desk_respond, &desk);
    /* Bounded: twice the passes that would do if every pass tried four new ones. */
    for (unsigned pass = 0; pass < 2 * MANY_OWED / 4; pass++) {
        assert_int_equal(evt_platform_retry_reversals(f->p, 4, NULL), EVT_OK);
        evt_platform_disconnect(f->p);
    }
    tls_ts_set_responder(f->srv, NULL, NULL);
    assert_int_equal(desk.refused_count, 4);
    unsigned still_owed = 0;
    for (unsigned i = 0; i < MANY_OWED; i++) {
        bool refused = false;
        for (unsigned k = 0; k < desk.refused_count; k++) {
            refused = refused || strcmp(desk.refused[k], msgids[i]) == 0;
        }
        if (refused) {
            assert_int_equal(evt_platform_owed(f->p, msgids[i]), EVT_PLATFORM_OWED_REVERSAL);
        } else if (evt_platform_owed(f->p, msgids[i]) != EVT_PLATFORM_OWED_NONE) {
            still_owed++;
        }
    }
    if (still_owed > 0) {
        fail_msg("%u of %u reversals the platform would acknowledge were never sent", still_owed,
                 MANY_OWED - desk.refused_count);
    }
    assert_int_equal(evt_platform_pending_reversals(f->p), desk.refused_count);
}

/* *left is what is still owed, also when the owner could not record an acknowledged one. */
static void retry_left_counts_what_is_still_owed(void **state)
{
    fx *f = fixture(state);
    const char *msgid = "H12010400001202403151030002003";
    evt_platform_settle_ref ref = {
        .psn_no = SS_PSN_NO, .insuplc_admdvs = SS_REGION, .order_ref = "ORD-L"};
    assert_int_equal(evt_platform_owe_reversal(f->p, EVT_INFNO_SETTLE, msgid, &ref), EVT_OK);
    f->owner.reversed_result = EVT_ERR_STORAGE_IO;
    ss_push(f->srv, ss_sign_in());
    ss_push(f->srv, ss_ack());
    unsigned left = 99;
    assert_int_equal(evt_platform_retry_reversals(f->p, 4, &left), EVT_OK);
    assert_int_equal(f->owner.reversed_calls, 1);
    assert_int_equal(evt_platform_owed(f->p, msgid), EVT_PLATFORM_OWED_REVERSAL);
    assert_int_equal(evt_platform_pending_reversals(f->p), 1);
    assert_int_equal(left, 1);
}

static void owe_reversal_once_per_msgid(void **state)
{
    fx *f = fixture(state);
    const char *msgid = "H12010400001202403151030002001";
    assert_int_equal(evt_platform_owed(f->p, msgid), EVT_PLATFORM_OWED_NONE);
    evt_platform_settle_ref ref = {
        .psn_no = "12010400000000000000000009", .insuplc_admdvs = "120105", .order_ref = "ORD-X"};
    assert_int_equal(evt_platform_owe_reversal(f->p, EVT_INFNO_SETTLE, msgid, &ref), EVT_OK);
    assert_int_equal(evt_platform_owe_reversal(f->p, EVT_INFNO_SETTLE, msgid, &ref), EVT_OK);
    assert_int_equal(evt_platform_owed(f->p, msgid), EVT_PLATFORM_OWED_REVERSAL);
    assert_int_equal(evt_platform_pending_reversals(f->p), 1);

    /* The 2601 is built from what was owed. */
    ss_push(f->srv, ss_sign_in());
    ss_push(f->srv, ss_ack());
    assert_int_equal(evt_platform_retry_reversals(f->p, 4, NULL), EVT_OK);
    assert_infnos(f, 0, "9001,2601");
    char v[64];
    ss_request_field(f->srv, 1, "omsgid", v, sizeof v);
    assert_string_equal(v, msgid);
    ss_request_field(f->srv, 1, "psn_no", v, sizeof v);
    assert_string_equal(v, "12010400000000000000000009");
    ss_request_field(f->srv, 1, "insuplc_admdvs", v, sizeof v);
    assert_string_equal(v, "120105");
    assert_string_equal(f->owner.reversed_ref, "ORD-X");
    assert_int_equal(evt_platform_owed(f->p, msgid), EVT_PLATFORM_OWED_NONE);
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
}

static void unreadable_reversal_record_stays_owed(void **state)
{
    fx *f = fixture(state);
    const char *msgid = "H12010400001202403151030002002";
    evt_platform_settle_ref ref = {
        .psn_no = SS_PSN_NO, .insuplc_admdvs = SS_REGION, .order_ref = "ORD-R"};
    assert_int_equal(evt_platform_owe_reversal(f->p, EVT_INFNO_SETTLE, msgid, &ref), EVT_OK);
    char key[64];
    snprintf(key, sizeof key, "rev/%s", msgid);
    assert_int_equal(ss_damage_key(&f->nor, key), 1);
    snprintf(key, sizeof key, "rev#%s", msgid);
    assert_int_equal(ss_damage_key(&f->nor, key), 1);
    /* Neither copy reads back: the safe answer is "owed", and no 2601 can be built. */
    assert_int_equal(evt_platform_owed(f->p, msgid), EVT_PLATFORM_OWED_REVERSAL);
    assert_int_equal(evt_platform_pending_reversals(f->p), 1);
    unsigned left = 0;
    assert_int_equal(evt_platform_retry_reversals(f->p, 4, &left), EVT_OK);
    assert_int_equal(left, 1);
    assert_int_equal(requests(f), 0);
    assert_true(fake_sys_logged(&sys, "a supervisor must reconcile it"));
}

/* ---- program
 * ------------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    evt_arena_init(arena_buf, sizeof arena_buf);
    fake_sys_init(&sys);
    evt_log_init(&sys.hal);
    return tls_ts_peer_setup(&peer, "test_platform");
}

static int group_teardown(void **state)
{
    (void)state;
    tls_ts_peer_teardown(&peer);
    return 0;
}

/* ---- operators and shifts ------------------------------------------------------------------ */

#define SIGN_NO_DEAD "签到编号sign_no无效、已签退或不属于当前操作员"

/* The platform expired the sign_no (midnight, a sign-in elsewhere): a person query is refused
 * for it, the terminal signs in again and sends the query once more. */
static void stale_sign_no_renewed_and_query_sent_again(void **state)
{
    fx *f = fixture(state);
    sign_in(f);
    ss_push(f->srv, ss_refused(SIGN_NO_DEAD));
    ss_push(f->srv, ss_sign_in());
    ss_push(f->srv, ss_person(SS_PSN_NO, SS_CERTNO, SS_NAME, "1", ""));
    evt_platform_reply r;
    assert_int_equal(call_person(f, &r), EVT_OK);
    evt_platform_reply_free(&r);
    assert_infnos(f, 0, "9001,1101,9001,1101");
    char a[64], b[64];
    ss_request_field(f->srv, 1, "msgid", a, sizeof a);
    ss_request_field(f->srv, 3, "msgid", b, sizeof b);
    assert_string_not_equal(a, b); /* a new request, not a replay */
    assert_true(evt_platform_signed_in(f->p));
}

/* A settlement refused for its sign_no is never sent again by the platform client: the refusal
 * is its outcome (the owner records it); only the next call signs in again. */
static void stale_sign_no_never_resends_a_settlement(void **state)
{
    fx *f = fixture(state);
    sign_in(f);
    ss_push(f->srv, ss_refused(SIGN_NO_DEAD));
    evt_platform_reply r;
    assert_int_equal(call_settle(f, "ORD-S1", &r), EVT_ERR_PLATFORM_REJECTED);
    assert_true(r.answered);
    bool reversed = true;
    assert_int_equal(evt_platform_settle_done(f->p, r.msgid, true, &reversed), EVT_OK);
    evt_platform_reply_free(&r);
    assert_infnos(f, 0, "9001,2102");
    assert_false(evt_platform_signed_in(f->p));
    ss_push(f->srv, ss_sign_in());
    person_call_ok(f);
    assert_infnos(f, 0, "9001,2102,9001,1101");
}

/* A refusal that does not name the sign_no is only a refusal: no new sign-in, nothing resent. */
static void other_refusal_keeps_sign_no(void **state)
{
    fx *f = fixture(state);
    sign_in(f);
    ss_push(f->srv, ss_refused("人员信息不存在"));
    evt_platform_reply r;
    assert_int_equal(call_person(f, &r), EVT_ERR_PLATFORM_REJECTED);
    evt_platform_reply_free(&r);
    assert_infnos(f, 0, "9001,1101");
    assert_true(evt_platform_signed_in(f->p));
}

/* Nobody on shift: nothing that needs a sign_no leaves the terminal, not even a 9001. */
static void nobody_on_shift_sends_nothing(void **state)
{
    fx *f = fixture(state);
    evt_platform_set_operator(f->p, NULL, NULL);
    assert_null(evt_platform_operator(f->p));
    evt_platform_reply r;
    assert_int_equal(call_person(f, &r), EVT_ERR_NOT_SIGNED_IN);
    assert_false(r.request_sent);
    evt_platform_reply_free(&r);
    assert_int_equal(call_settle(f, "ORD-N1", &r), EVT_ERR_NOT_SIGNED_IN);
    evt_platform_reply_free(&r);
    assert_int_equal(evt_platform_sign_in(f->p), EVT_ERR_NOT_SIGNED_IN);
    assert_int_equal(requests(f), 0);
    assert_string_equal(r.msgid, ""); /* not even a msgid was spent, nothing journalled */
    assert_int_equal(evt_platform_pending_reversals(f->p), 0);
}

/* An operator's shift: 9001 in their name, their sign_no on every call, 9002 at the end. */
static void operator_shift_signs_in_and_out(void **state)
{
    fx *f = fixture(state);
    evt_platform_set_operator(f->p, "0002", "王丽");
    assert_string_equal(evt_platform_operator(f->p), "0002");
    sign_in(f);
    person_call_ok(f);
    ss_push(f->srv, ss_ack());
    assert_int_equal(evt_platform_sign_out(f->p), EVT_OK);
    assert_null(evt_platform_operator(f->p));
    assert_false(evt_platform_signed_in(f->p));
    assert_infnos(f, 0, "9001,1101,9002");
    char v[64];
    ss_request_field(f->srv, 0, "opter_no", v, sizeof v);
    assert_string_equal(v, "0002");
    for (size_t i = 0; i < 3; i++) {
        ss_request_field(f->srv, i, "opter", v, sizeof v);
        assert_string_equal(v, "0002");
    }
    ss_request_field(f->srv, 2, "sign_no", v, sizeof v);
    assert_string_equal(v, SS_SIGN_NO);
    /* A sign-out refused because the sign_no is dead already ends the shift too, without a
     * new 9001 just to sign it out. */
    evt_platform_set_operator(f->p, "0002", "王丽");
    sign_in(f);
    ss_push(f->srv, ss_refused(SIGN_NO_DEAD));
    assert_int_equal(evt_platform_sign_out(f->p), EVT_OK);
    assert_infnos(f, 0, "9001,1101,9002,9001,9002");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sign_in_keeps_sign_no_for_later_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(default_policy_closes_at_the_end, setup, teardown),
        cmocka_unit_test_setup_teardown(kept_connection_reused_then_closed_after_idle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refused_sign_in_is_not_signed_in, setup, teardown),
        cmocka_unit_test_setup_teardown(msgid_persisted_before_use, setup, teardown),
        cmocka_unit_test_setup_teardown(only_200_or_refusing_4xx_is_an_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_connection_is_not_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(settlement_journalled_before_sending, setup, teardown),
        cmocka_unit_test_setup_teardown(settlement_not_journalled_is_not_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_outcome_reversed_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(unacknowledged_reversal_stays_owed, setup, teardown),
        cmocka_unit_test_setup_teardown(owner_error_keeps_reversal_owed, setup, teardown),
        cmocka_unit_test_setup_teardown(recover_drops_recorded_and_reverses_the_others, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(more_than_a_batch_of_owed_reversals_all_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refused_reversal_stays_owed_and_the_next_is_tried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refused_reversals_do_not_starve_the_others, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(retry_left_counts_what_is_still_owed, setup, teardown),
        cmocka_unit_test_setup_teardown(owe_reversal_once_per_msgid, setup, teardown),
        cmocka_unit_test_setup_teardown(unreadable_reversal_record_stays_owed, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_sign_no_renewed_and_query_sent_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(stale_sign_no_never_resends_a_settlement, setup, teardown),
        cmocka_unit_test_setup_teardown(other_refusal_keeps_sign_no, setup, teardown),
        cmocka_unit_test_setup_teardown(nobody_on_shift_sends_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(operator_shift_signs_in_and_out, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
