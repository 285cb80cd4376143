/* evt_proto: golden requests, msgid sequence, gateway signature, response parsing in every
 * form the platform uses, malformed envelopes, cross-checks, insurance choice, no leaks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arena_fixture.h"
#include "evt/arena.h"
#include "evt/proto.h"

/* ---- fixtures --------------------------------------------------------------------------- */

#define CODE "P42120000001"
#define MSGID                                                                                      \
    CODE "20240315103000"                                                                          \
         "3000"

static const evt_proto_identity identity = {
    .fixmedins_code = CODE,
    .fixmedins_name = "咸宁市健民大药房",
    .mdtrtarea_admvs = "421202",
    .recer_sys_code = "EVT",
    .dev_no = "EVT-T1-0001",
    .dev_safe_info = NULL,
    .infver = "V1.0",
    .opter_type = "1",
    .opter = "0001",
    .opter_name = "王丽",
    .office_id = "D01",
    .office_name = "收银台",
    .business_type = "02121",
    .paas_id = "paas-42",
    .paas_token = "tok-secret-123",
    .msgid_slot = 3,
};

static evt_proto_envelope envelope(const char *sign_no, const char *region)
{
    return (evt_proto_envelope){
        .msgid = MSGID,
        .inf_time = {.year = 2024, .month = 3, .day = 15, .hour = 10, .minute = 30, .second = 0},
        .sign_no = sign_no,
        .insuplc_admdvs = region,
    };
}

/* The envelope every request starts with, written out from protocol.md's table. */
#define HEAD(infno, region, sign_no)                                                               \
    "{\"infno\":\"" infno "\",\"msgid\":\"" MSGID "\",\"mdtrtarea_admvs\":\"421202\","             \
    "\"insuplc_admdvs\":\"" region "\",\"recer_sys_code\":\"EVT\",\"dev_no\":\"EVT-T1-0001\","     \
    "\"dev_safe_info\":\"\",\"cainfo\":\"\",\"signtype\":\"\",\"infver\":\"V1.0\","                \
    "\"opter_type\":\"1\",\"opter\":\"0001\",\"opter_name\":\"王丽\","                           \
    "\"inf_time\":\"2024-03-15 10:30:00\",\"fixmedins_code\":\"" CODE "\","                        \
    "\"fixmedins_name\":\"咸宁市健民大药房\",\"sign_no\":\"" sign_no "\",\"input\":"

#define SIGN_NO "SN20240315000042"
#define PSN_NO  "42000000000000000000000001"
#define TOKEN   "ectk-7f3a9c"

static void make_order(evt_order *o)
{
    memset(o, 0, sizeof *o);
    strcpy(o->order_id, "POS-20240315-0007");
    o->source = EVT_ORDER_FROM_ECR;
    o->use_personal_account = true;
    assert_int_equal(
        evt_order_add_item(o, "XA01BCA001A001010100001", "YP0001", "阿莫西林胶囊", 2, 1230),
        EVT_OK);
    assert_int_equal(evt_order_add_item(o, "ZA01AAA0001010203040506", "YP0002", "板蓝根颗粒", 1, 5),
                     EVT_OK);
    assert_int_equal(o->total, 2465);
}

static void make_voucher(evt_voucher_info *v)
{
    memset(v, 0, sizeof *v);
    strcpy(v->ec_token, TOKEN);
    strcpy(v->id_no, "421202198001011234");
    strcpy(v->user_name, "张建国");
    strcpy(v->id_type, "01");
    strcpy(v->insu_org, "421200");
}

static void make_person(evt_person *p)
{
    memset(p, 0, sizeof *p);
    strcpy(p->psn_no, PSN_NO);
    strcpy(p->psn_name, "张建国");
    p->insu_count = 1;
    strcpy(p->insu[0].insutype, "310");
    strcpy(p->insu[0].psn_insu_stas, "1");
    strcpy(p->insu[0].insuplc_admdvs, "421200");
    p->insu[0].balc = 50000;
    p->insu[0].balc_present = true;
}

static char out[32768];
static size_t out_len;

/* ---- identity --------------------------------------------------------------------------- */

static void test_identity_check(void **state)
{
    (void)state;
    evt_json_diag diag = {{0}};
    assert_int_equal(evt_proto_identity_check(&identity, &diag), EVT_OK);

    evt_proto_identity id = identity;
    id.fixmedins_code = NULL;
    assert_int_equal(evt_proto_identity_check(&id, &diag), EVT_ERR_CONFIG_MISSING);
    assert_string_equal(diag.field, "fixmedins_code");
    id.fixmedins_code = "P4212000000"; /* 11 */
    assert_int_equal(evt_proto_identity_check(&id, &diag), EVT_ERR_CONFIG_INVALID);
    id.fixmedins_code = "P4212000000-";
    assert_int_equal(evt_proto_identity_check(&id, &diag), EVT_ERR_CONFIG_INVALID);

    id = identity;
    id.mdtrtarea_admvs = "42120";
    assert_int_equal(evt_proto_identity_check(&id, &diag), EVT_ERR_CONFIG_INVALID);
    assert_string_equal(diag.field, "mdtrtarea_admvs");
    id = identity;
    id.opter_type = "4";
    assert_int_equal(evt_proto_identity_check(&id, &diag), EVT_ERR_CONFIG_INVALID);
    assert_string_equal(diag.field, "opter_type");
    id = identity;
    id.opter = "0123456789012345678901234567890"; /* 31 > 30 */
    assert_int_equal(evt_proto_identity_check(&id, &diag), EVT_ERR_CONFIG_INVALID);
    assert_string_equal(diag.field, "opter");
    id = identity;
    id.opter_name = "\xff\xfe";
    assert_int_equal(evt_proto_identity_check(&id, &diag), EVT_ERR_CONFIG_INVALID);
    id = identity;
    id.infver = "";
    assert_int_equal(evt_proto_identity_check(&id, &diag), EVT_ERR_CONFIG_MISSING);
    assert_string_equal(diag.field, "infver");
    id = identity;
    id.msgid_slot = 10;
    assert_int_equal(evt_proto_identity_check(&id, &diag), EVT_ERR_CONFIG_INVALID);
    assert_string_equal(diag.field, "msgid_slot");
    id = identity;
    id.business_type = "2121";
    assert_int_equal(evt_proto_identity_check(&id, &diag), EVT_ERR_CONFIG_INVALID);
}

/* ---- msgid ------------------------------------------------------------------------------ */

static evt_datetime at(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s)
{
    return (evt_datetime){.year = (uint16_t)y,
                          .month = (uint8_t)mo,
                          .day = (uint8_t)d,
                          .hour = (uint8_t)h,
                          .minute = (uint8_t)mi,
                          .second = (uint8_t)s};
}

/* An id of this institution: CODE, the time as yyyyMMddHHmmss, the slot and a 3-digit count. */
static const char *msgid_of(const char *time14, const char *slot_count)
{
    static char id[EVT_MSGID_BYTES];
    snprintf(id, sizeof id, CODE "%s%s", time14, slot_count);
    return id;
}

static void expect_next(evt_msgid_gen *gen, evt_datetime now, const char *want)
{
    char id[EVT_MSGID_BYTES];
    assert_int_equal(evt_msgid_next(gen, &now, id), EVT_OK);
    assert_string_equal(id, want);
    assert_int_equal(evt_msgid_validate(id, CODE), EVT_OK);
}

static void test_msgid_sequence(void **state)
{
    (void)state;
    evt_msgid_gen gen;
    assert_int_equal(evt_msgid_init(&gen, CODE, 3, NULL), EVT_OK);
    expect_next(&gen, at(2024, 3, 15, 10, 30, 0), msgid_of("20240315103000", "3000"));
    expect_next(&gen, at(2024, 3, 15, 10, 30, 0), msgid_of("20240315103000", "3001"));
    expect_next(&gen, at(2024, 3, 15, 10, 30, 0), msgid_of("20240315103000", "3002"));
    /* A new second restarts the counter. */
    expect_next(&gen, at(2024, 3, 15, 10, 30, 1), msgid_of("20240315103001", "3000"));
    /* The clock steps back: keep the last second and count on. */
    expect_next(&gen, at(2024, 3, 15, 9, 0, 0), msgid_of("20240315103001", "3001"));
    expect_next(&gen, at(2023, 1, 1, 0, 0, 0), msgid_of("20240315103001", "3002"));
    /* Once the clock is ahead again, it is used. */
    expect_next(&gen, at(2024, 3, 15, 10, 30, 2), msgid_of("20240315103002", "3000"));
}

static void test_msgid_counter_overflow_moves_to_next_second(void **state)
{
    (void)state;
    evt_msgid_gen gen;
    assert_int_equal(evt_msgid_init(&gen, CODE, 0, NULL), EVT_OK);
    char id[EVT_MSGID_BYTES];
    evt_datetime now = at(2023, 12, 31, 23, 59, 59);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(evt_msgid_next(&gen, &now, id), EVT_OK);
    }
    assert_string_equal(id, msgid_of("20231231235959", "0999"));
    /* The 1001st in one second rolls over minute, hour, day, month and year. */
    expect_next(&gen, now, msgid_of("20240101000000", "0000"));
    expect_next(&gen, now, msgid_of("20240101000000", "0001"));

    /* Leap day. */
    assert_int_equal(evt_msgid_init(&gen, CODE, 0, msgid_of("20240228235959", "0999")), EVT_OK);
    expect_next(&gen, at(2024, 2, 28, 23, 59, 59), msgid_of("20240229000000", "0000"));
    assert_int_equal(evt_msgid_init(&gen, CODE, 0, msgid_of("20230228235959", "0999")), EVT_OK);
    expect_next(&gen, at(2023, 2, 28, 23, 59, 59), msgid_of("20230301000000", "0000"));
    /* End of the representable range. */
    assert_int_equal(evt_msgid_init(&gen, CODE, 0, msgid_of("20991231235959", "0999")), EVT_OK);
    now = at(2099, 12, 31, 23, 59, 59);
    assert_int_equal(evt_msgid_next(&gen, &now, id), EVT_ERR_PROTO_MSGID);
}

static void test_msgid_restore_after_reboot(void **state)
{
    (void)state;
    evt_msgid_gen gen;
    /* Persisted last id; the RTC came back an hour behind. */
    assert_int_equal(evt_msgid_init(&gen, CODE, 3, msgid_of("20240315103000", "3041")), EVT_OK);
    expect_next(&gen, at(2024, 3, 15, 9, 30, 0), msgid_of("20240315103000", "3042"));
    /* A different slot in the record (re-provisioned) still bounds the sequence. */
    assert_int_equal(evt_msgid_init(&gen, CODE, 3, msgid_of("20240315103000", "5998")), EVT_OK);
    expect_next(&gen, at(2024, 3, 15, 10, 30, 0), msgid_of("20240315103000", "3999"));
    /* Another institution's id cannot collide: ignored. */
    assert_int_equal(evt_msgid_init(&gen, CODE, 3,
                                    "H42120000009"
                                    "20300101000000"
                                    "3000"),
                     EVT_OK);
    expect_next(&gen, at(2024, 3, 15, 10, 30, 0), msgid_of("20240315103000", "3000"));
    /* "" is a fresh terminal; a corrupt record is an error, not a silent reset. */
    assert_int_equal(evt_msgid_init(&gen, CODE, 3, ""), EVT_OK);
    assert_int_equal(evt_msgid_init(&gen, CODE, 3, CODE "2024031510300"), EVT_ERR_PROTO_MSGID);
    assert_int_equal(evt_msgid_init(&gen, CODE, 3, msgid_of("20241315103000", "3000")),
                     EVT_ERR_PROTO_MSGID);
    assert_int_equal(evt_msgid_init(&gen, "P421", 3, NULL), EVT_ERR_CONFIG_INVALID);
    assert_int_equal(evt_msgid_init(&gen, CODE, 10, NULL), EVT_ERR_CONFIG_INVALID);
    /* An invalid clock reading is refused rather than encoded. */
    assert_int_equal(evt_msgid_init(&gen, CODE, 3, NULL), EVT_OK);
    char id[EVT_MSGID_BYTES];
    evt_datetime bad = at(2024, 2, 30, 0, 0, 0);
    assert_int_equal(evt_msgid_next(&gen, &bad, id), EVT_ERR_ARG);
    bad = at(1999, 12, 31, 0, 0, 0);
    assert_int_equal(evt_msgid_next(&gen, &bad, id), EVT_ERR_ARG);
    bad = at(2024, 1, 1, 24, 0, 0);
    assert_int_equal(evt_msgid_next(&gen, &bad, id), EVT_ERR_ARG);
}

static uint64_t rng = UINT64_C(0x1234567887654321);
static uint64_t rng_next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_msgid_never_repeats_with_a_jumpy_clock(void **state)
{
    (void)state;
    /* Time + counter part of consecutive ids must strictly increase whatever the clock does
     * (forward, stuck, backwards), including across a simulated reboot: then no id repeats. */
    evt_msgid_gen gen;
    assert_int_equal(evt_msgid_init(&gen, CODE, 7, NULL), EVT_OK);
    char prev[EVT_MSGID_BYTES] = "";
    char id[EVT_MSGID_BYTES];
    evt_datetime now = at(2024, 6, 30, 23, 59, 50);
    for (int i = 0; i < 20000; i++) {
        uint64_t r = rng_next() % 100u;
        if (r < 3) {
            now = at(2024, 6, 30, (unsigned)(rng_next() % 24u), 0, 0); /* jump, often back */
        } else if (r < 40) {
            now.second = (uint8_t)((now.second + 1u) % 60u);
        }
        if (i == 10000) {
            assert_int_equal(evt_msgid_init(&gen, CODE, 7, prev), EVT_OK); /* reboot */
        }
        assert_int_equal(evt_msgid_next(&gen, &now, id), EVT_OK);
        assert_int_equal(evt_msgid_validate(id, CODE), EVT_OK);
        if (prev[0] != '\0' && strcmp(id + 12, prev + 12) <= 0) {
            fail_msg("msgid went backwards: %s after %s", id, prev);
        }
        memcpy(prev, id, sizeof id);
    }
}

static void test_msgid_validate(void **state)
{
    (void)state;
    assert_int_equal(evt_msgid_validate(MSGID, CODE), EVT_OK);
    assert_int_equal(evt_msgid_validate(MSGID, NULL), EVT_OK);
    assert_int_equal(evt_msgid_validate(MSGID, "H42120000001"), EVT_ERR_PROTO_MSGID);
    static const char *const bad[] = {
        "",
        CODE "20240315103000"
             "300", /* 29 */
        CODE "20240315103000"
             "30000", /* 31 */
        CODE "2024031510300a"
             "3000", /* letter in time */
        CODE "20240230103000"
             "3000", /* 30 February */
        CODE "20240315253000"
             "3000", /* hour 25 */
        CODE "20240315106000"
             "3000", /* minute 60 */
        CODE "20240315103000"
             "300x", /* letter in sequence */
        "P4212000000-"
        "20240315103000"
        "3000", /* code not alphanumeric */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(evt_msgid_validate(bad[i], NULL), EVT_ERR_PROTO_MSGID);
    }
    assert_int_equal(evt_msgid_validate(NULL, NULL), EVT_ERR_PROTO_MSGID);
}

static void test_format_time(void **state)
{
    (void)state;
    char t[EVT_INF_TIME_BYTES];
    evt_datetime dt = at(2024, 2, 29, 7, 5, 9);
    assert_int_equal(evt_proto_format_time(&dt, t), EVT_OK);
    assert_string_equal(t, "2024-02-29 07:05:09");
    dt = at(2023, 2, 29, 7, 5, 9);
    assert_int_equal(evt_proto_format_time(&dt, t), EVT_ERR_ARG);
}

/* ---- gateway ---------------------------------------------------------------------------- */

static void test_gateway_signature_known_vector(void **state)
{
    (void)state;
    const uint8_t entropy[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    evt_proto_gateway gw;
    assert_int_equal(evt_proto_gateway_sign(&identity, 1700000000, entropy, &gw), EVT_OK);
    assert_string_equal(gw.paasid, "paas-42");
    assert_string_equal(gw.timestamp, "1700000000");
    assert_string_equal(gw.nonce, "000102030405060708090a0b0c0d0e0f");
    /* printf '%s' "1700000000tok-secret-123000102030405060708090a0b0c0d0e0f1700000000" |
     *     sha256sum */
    assert_string_equal(gw.signature,
                        "08bdffeb11131dc7430999c3f743ba8d288f9715b35938a639e10e74180c7a2c");

    const uint8_t high[16] = {0xff, 0xfe, 0xab, 0xcd, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x9a};
    assert_int_equal(evt_proto_gateway_sign(&identity, 1, high, &gw), EVT_OK);
    assert_string_equal(gw.nonce, "fffeabcd10000000000000000000009a");
    assert_string_equal(gw.timestamp, "1");
}

static void test_gateway_errors(void **state)
{
    (void)state;
    const uint8_t entropy[16] = {0};
    evt_proto_gateway gw;
    evt_proto_identity id = identity;
    id.paas_token = "";
    assert_int_equal(evt_proto_gateway_sign(&id, 1700000000, entropy, &gw), EVT_ERR_CONFIG_MISSING);
    id = identity;
    id.paas_id = NULL;
    assert_int_equal(evt_proto_gateway_sign(&id, 1700000000, entropy, &gw), EVT_ERR_CONFIG_MISSING);
    id.paas_id = "paas 42\r\nx-evil: 1";
    assert_int_equal(evt_proto_gateway_sign(&id, 1700000000, entropy, &gw), EVT_ERR_CONFIG_INVALID);
    assert_int_equal(evt_proto_gateway_sign(&identity, 0, entropy, &gw), EVT_ERR_ARG);
    assert_int_equal(evt_proto_gateway_sign(&identity, 1, NULL, &gw), EVT_ERR_ARG);
}

/* ---- golden requests -------------------------------------------------------------------- */

static void expect_request(evt_err err, const char *want)
{
    if (err != EVT_OK) {
        fail_msg("builder failed: %s", evt_err_name(err));
    }
    if (strcmp(out, want) != 0) {
        fail_msg("request differs\n got: %s\nwant: %s", out, want);
    }
    assert_int_equal(out_len, strlen(want));
    /* And it is valid JSON by our own strict parser. */
    cJSON *root = NULL;
    assert_int_equal(evt_json_parse(out, out_len, &root), EVT_OK);
    evt_json_free(root);
}

static void test_golden_sign_in_out(void **state)
{
    (void)state;
    evt_proto_envelope env = envelope(NULL, NULL);
    evt_json_diag diag;
    expect_request(evt_proto_build_sign_in(&identity, &env, "02:00:00:00:00:01", "192.168.1.20",
                                           out, sizeof out, &out_len, &diag),
                   HEAD("9001", "", "") "{\"signIn\":{\"opter_no\":\"0001\","
                                        "\"mac\":\"02:00:00:00:00:01\",\"ip\":\"192.168.1.20\"}}}");
    env = envelope(SIGN_NO, NULL);
    expect_request(evt_proto_build_sign_out(&identity, &env, out, sizeof out, &out_len, &diag),
                   HEAD("9002", "", SIGN_NO) "{\"signOut\":{\"sign_no\":\"" SIGN_NO "\","
                                             "\"opter_no\":\"0001\"}}}");
}

static void test_golden_ec_query(void **state)
{
    (void)state;
    evt_proto_envelope env = envelope(SIGN_NO, NULL);
    evt_json_diag diag;
    const char *qr = "421200ABCDEFGHIJKLMNOPQRSTUVWX2345672345672345";
    expect_request(
        evt_proto_build_ec_query(&identity, &env, qr, out, sizeof out, &out_len, &diag),
        HEAD("ec.query", "", "") "{\"data\":{\"orgId\":\"" CODE "\","
                                 "\"businessType\":\"02121\",\"operatorId\":\"0001\","
                                 "\"operatorName\":\"王丽\",\"officeId\":\"D01\","
                                 "\"officeName\":\"收银台\",\"ecQrCode\":"
                                 "\"421200ABCDEFGHIJKLMNOPQRSTUVWX2345672345672345\"}}}");
    /* A quote in the payload is escaped, not allowed to break out of the string. */
    expect_request(
        evt_proto_build_ec_query(&identity, &env, "a\"b", out, sizeof out, &out_len, &diag),
        HEAD("ec.query", "", "") "{\"data\":{\"orgId\":\"" CODE "\","
                                 "\"businessType\":\"02121\",\"operatorId\":\"0001\","
                                 "\"operatorName\":\"王丽\",\"officeId\":\"D01\","
                                 "\"officeName\":\"收银台\",\"ecQrCode\":\"a\\\"b\"}}}");
    assert_int_equal(
        evt_proto_build_ec_query(&identity, &env, "", out, sizeof out, &out_len, &diag),
        EVT_ERR_ARG);
    assert_string_equal(diag.field, "ecQrCode");
    assert_int_equal(
        evt_proto_build_ec_query(&identity, &env, "\xff\x01", out, sizeof out, &out_len, &diag),
        EVT_ERR_ARG);
    evt_proto_identity id = identity;
    id.business_type = NULL;
    assert_int_equal(evt_proto_build_ec_query(&id, &env, qr, out, sizeof out, &out_len, &diag),
                     EVT_ERR_CONFIG_MISSING);
    assert_string_equal(diag.field, "business_type");
}

static void test_golden_person_query(void **state)
{
    (void)state;
    evt_proto_envelope env = envelope(SIGN_NO, NULL);
    evt_voucher_info v;
    make_voucher(&v);
    evt_json_diag diag;
    expect_request(
        evt_proto_build_person_query(&identity, &env, &v, out, sizeof out, &out_len, &diag),
        HEAD("1101", "421200", SIGN_NO) "{\"data\":{\"mdtrt_cert_type\":\"01\","
                                        "\"mdtrt_cert_no\":\"" TOKEN "\",\"card_sn\":\"\","
                                        "\"begntime\":\"\",\"psn_cert_type\":\"01\","
                                        "\"certno\":\"421202198001011234\","
                                        "\"psn_name\":\"张建国\"}}}");
    v.ec_token[0] = '\0';
    assert_int_equal(
        evt_proto_build_person_query(&identity, &env, &v, out, sizeof out, &out_len, &diag),
        EVT_ERR_ARG);
    assert_string_equal(diag.field, "ecToken");
}

#define DRUG_INPUT(amount_total)                                                                   \
    "{\"druginfo\":{\"psn_no\":\"" PSN_NO "\",\"mdtrt_cert_type\":\"01\","                         \
    "\"mdtrt_cert_no\":\"" TOKEN "\",\"begntime\":\"2024-03-15 10:29:00\","                        \
    "\"medfee_sumamt\":" amount_total ",\"insutype\":\"310\",\"acct_used_flag\":\"1\","            \
    "\"med_type\":\"41\",\"dise_codg\":\"\",\"dise_name\":\"\",\"invono\":\"\","                   \
    "\"fixmedins_setl_id\":\"POS-20240315-0007\"},\"drugdetail\":["                                \
    "{\"feedetl_sn\":\"1\",\"rxno\":\"\",\"rx_circ_flag\":\"0\","                                  \
    "\"fee_ocur_time\":\"2024-03-15 10:29:00\",\"med_list_codg\":\"XA01BCA001A001010100001\","     \
    "\"medins_list_codg\":\"YP0001\",\"det_item_fee_sumamt\":24.60,\"cnt\":2,\"pric\":12.30},"     \
    "{\"feedetl_sn\":\"2\",\"rxno\":\"\",\"rx_circ_flag\":\"0\","                                  \
    "\"fee_ocur_time\":\"2024-03-15 10:29:00\",\"med_list_codg\":\"ZA01AAA0001010203040506\","     \
    "\"medins_list_codg\":\"YP0002\",\"det_item_fee_sumamt\":0.05,\"cnt\":1,\"pric\":0.05}]}}"

static evt_err build_drug(bool final, const evt_order *order, const evt_person *person,
                          const evt_voucher_info *voucher, const evt_insurance *insu,
                          evt_json_diag *diag)
{
    evt_proto_envelope env = envelope(SIGN_NO, NULL);
    evt_proto_sale sale = {.order = order,
                           .person = person,
                           .voucher = voucher,
                           .insurance = insu,
                           .begntime = at(2024, 3, 15, 10, 29, 0)};
    return evt_proto_build_drug_settle(&identity, &env, final, &sale, out, sizeof out, &out_len,
                                       diag);
}

/* The good sale every settlement test starts from, built with the person's first insurance. */
typedef struct sale_inputs {
    evt_order order;
    evt_person person;
    evt_voucher_info voucher;
    evt_json_diag diag;
} sale_inputs;

static void make_sale(sale_inputs *in)
{
    make_order(&in->order);
    make_person(&in->person);
    make_voucher(&in->voucher);
}

static evt_err build_sale(sale_inputs *in, bool final)
{
    return build_drug(final, &in->order, &in->person, &in->voucher, &in->person.insu[0], &in->diag);
}

/* A final request for an order the builder must refuse; field NULL where none is named. */
static void expect_bad_order(sale_inputs *in, const char *field)
{
    assert_int_equal(build_sale(in, true), EVT_ERR_ORDER_INVALID);
    if (field != NULL) {
        assert_string_equal(in->diag.field, field);
    }
}

static void test_golden_drug_settlement(void **state)
{
    (void)state;
    sale_inputs in;
    make_sale(&in);
    expect_request(build_sale(&in, false), HEAD("2101", "421200", SIGN_NO) DRUG_INPUT("24.65"));
    expect_request(build_sale(&in, true), HEAD("2102", "421200", SIGN_NO) DRUG_INPUT("24.65"));

    /* acct_used_flag follows the order; insutype and region follow the chosen insurance. */
    in.order.use_personal_account = false;
    strcpy(in.person.insu[0].insutype, "390");
    strcpy(in.person.insu[0].insuplc_admdvs, "120000");
    assert_int_equal(build_sale(&in, true), EVT_OK);
    assert_non_null(strstr(out, "\"acct_used_flag\":\"0\""));
    assert_non_null(strstr(out, "\"insutype\":\"390\""));
    assert_non_null(strstr(out, "\"insuplc_admdvs\":\"120000\""));
}

static void test_drug_settlement_field_by_field(void **state)
{
    (void)state;
    /* The same request read back through the exact parser, as the emulator would. */
    sale_inputs in;
    make_sale(&in);
    evt_order *order = &in.order;
    evt_order_clear_items(order);
    /* A large price survives exactly: 3 x EVT_FEN_MAX / 3 is exactly EVT_FEN_MAX. */
    assert_int_equal(evt_order_add_item(order, "XA01BCA001A001010100001", "YP0001", "阿莫西林胶囊",
                                        3, EVT_FEN_MAX / 3),
                     EVT_OK);
    evt_json_diag diag;
    assert_int_equal(build_sale(&in, true), EVT_OK);
    cJSON *root = NULL;
    assert_int_equal(evt_json_parse(out, out_len, &root), EVT_OK);
    const cJSON *input = cJSON_GetObjectItem(root, "input");
    const cJSON *info = cJSON_GetObjectItem(input, "druginfo");
    evt_fen fen;
    assert_int_equal(evt_json_get_money(info, "medfee_sumamt", true, &fen, NULL, &diag), EVT_OK);
    assert_true(fen == order->total);
    const cJSON *details = cJSON_GetObjectItem(input, "drugdetail");
    assert_int_equal(cJSON_GetArraySize(details), 1);
    const cJSON *d0 = cJSON_GetArrayItem(details, 0);
    assert_string_equal(evt_json_number_text(cJSON_GetObjectItem(d0, "pric")), "33333333333333.33");
    assert_string_equal(evt_json_number_text(cJSON_GetObjectItem(d0, "det_item_fee_sumamt")),
                        "99999999999999.99");
    int64_t cnt;
    assert_int_equal(evt_json_get_int(d0, "cnt", true, 1, 1000, &cnt, NULL, &diag), EVT_OK);
    assert_int_equal(cnt, 3);
    char msgid[EVT_MSGID_BYTES];
    assert_int_equal(evt_json_get_string(root, "msgid", true, msgid, sizeof msgid, &diag), EVT_OK);
    assert_string_equal(msgid, MSGID);
    evt_json_free(root);
}

static void test_drug_settlement_rejects_bad_orders(void **state)
{
    (void)state;
    sale_inputs in;
    make_sale(&in);
    evt_order *order = &in.order;
    order->total = 2466;
    expect_bad_order(&in, "medfee_sumamt");
    /* A line's amount is quantity x price by construction (evt_order keeps no separate
     * amount to disagree); the stored numbers themselves are still checked. */
    make_order(order);
    order->lines[0].quantity = 0;
    expect_bad_order(&in, "cnt");
    make_order(order);
    order->lines[1].price = -5;
    order->total = 2455;
    expect_bad_order(&in, "pric");
    make_order(order);
    order->lines[0].quantity = 4000000000u;
    order->lines[0].price = EVT_FEN_MAX;
    expect_bad_order(&in, "pric");
    make_order(order);
    order->item_count = 0;
    expect_bad_order(&in, NULL);
    make_order(order);
    order->item_count = EVT_ORDER_MAX_ITEMS + 1;
    expect_bad_order(&in, NULL);
    make_order(order);
    order->text[order->lines[0].text] = '\0'; /* an empty med_list_codg */
    expect_bad_order(&in, "med_list_codg");
    make_order(order);
    order->order_id[0] = '\0';
    expect_bad_order(&in, "fixmedins_setl_id");
    strcpy(order->order_id, "POS-0123456789-0123456789-01234"); /* 31 */
    expect_bad_order(&in, "fixmedins_setl_id");

    make_order(order);
    evt_insurance insu = in.person.insu[0];
    strcpy(insu.insuplc_admdvs, "4212");
    assert_int_equal(build_drug(true, order, &in.person, &in.voucher, &insu, &in.diag),
                     EVT_ERR_ARG);
    assert_string_equal(in.diag.field, "insuplc_admdvs");
    in.person.psn_no[0] = '\0';
    assert_int_equal(build_sale(&in, true), EVT_ERR_ARG);
    assert_string_equal(in.diag.field, "psn_no");
    assert_int_equal(build_drug(true, order, NULL, &in.voucher, &in.person.insu[0], &in.diag),
                     EVT_ERR_ARG);
}

static void test_drug_settlement_all_lines(void **state)
{
    (void)state;
    sale_inputs in;
    make_sale(&in);
    evt_order *order = &in.order;
    evt_order_clear_items(order);
    for (unsigned i = 0; i < EVT_ORDER_MAX_ITEMS; i++) {
        char code[32], medins[16];
        snprintf(code, sizeof code, "XA01BCA001A0010101%05u", i);
        snprintf(medins, sizeof medins, "YP%04u", i);
        assert_int_equal(
            evt_order_add_item(order, code, medins, "板蓝根颗粒", i + 1, 101 * (evt_fen)(i + 1)),
            EVT_OK);
    }
    assert_int_equal(build_sale(&in, true), EVT_OK);
    assert_non_null(strstr(out, "\"feedetl_sn\":\"32\""));
    assert_non_null(strstr(out, "\"feedetl_sn\":\"10\""));
    assert_non_null(strstr(out, "\"feedetl_sn\":\"9\""));
    /* Too small an output buffer is reported, not truncated. */
    char small[512];
    evt_proto_envelope env = envelope(SIGN_NO, NULL);
    evt_proto_sale sale = {.order = order,
                           .person = &in.person,
                           .voucher = &in.voucher,
                           .insurance = &in.person.insu[0],
                           .begntime = at(2024, 3, 15, 10, 29, 0)};
    assert_int_equal(evt_proto_build_drug_settle(&identity, &env, true, &sale, small, sizeof small,
                                                 &out_len, &in.diag),
                     EVT_ERR_OVERFLOW);
}

static void test_golden_cancel_and_reversal(void **state)
{
    (void)state;
    evt_proto_envelope env = envelope(SIGN_NO, "421200");
    evt_json_diag diag;
    expect_request(evt_proto_build_settle_cancel(&identity, &env, "SETL0001", PSN_NO, out,
                                                 sizeof out, &out_len, &diag),
                   HEAD("2103", "421200", SIGN_NO) "{\"data\":{\"setl_id\":\"SETL0001\","
                                                   "\"psn_no\":\"" PSN_NO "\"}}}");
    const char *omsgid = CODE "20240315102959"
                              "3007";
    expect_request(evt_proto_build_reversal(&identity, &env, PSN_NO, omsgid, "2102", out,
                                            sizeof out, &out_len, &diag),
                   HEAD("2601", "421200", SIGN_NO) "{\"data\":{\"psn_no\":\"" PSN_NO "\","
                                                   "\"omsgid\":\"" CODE "20240315102959"
                                                   "3007\",\"oinfno\":\"2102\"}}}");

    env.insuplc_admdvs = NULL;
    assert_int_equal(evt_proto_build_settle_cancel(&identity, &env, "SETL0001", PSN_NO, out,
                                                   sizeof out, &out_len, &diag),
                     EVT_ERR_ARG);
    assert_string_equal(diag.field, "insuplc_admdvs");
    env.insuplc_admdvs = "421200";
    assert_int_equal(evt_proto_build_settle_cancel(&identity, &env, "", PSN_NO, out, sizeof out,
                                                   &out_len, &diag),
                     EVT_ERR_ARG);
    assert_string_equal(diag.field, "setl_id");
    assert_int_equal(evt_proto_build_reversal(&identity, &env, PSN_NO, "garbage", "2102", out,
                                              sizeof out, &out_len, &diag),
                     EVT_ERR_ARG);
    assert_string_equal(diag.field, "omsgid");
    assert_int_equal(evt_proto_build_reversal(&identity, &env, PSN_NO, omsgid, "", out, sizeof out,
                                              &out_len, &diag),
                     EVT_ERR_ARG);
    assert_string_equal(diag.field, "oinfno");
}

static void test_envelope_errors(void **state)
{
    (void)state;
    evt_json_diag diag;
    /* Everything but 9001 and ec.query needs a sign-in. */
    evt_proto_envelope env = envelope(NULL, NULL);
    assert_int_equal(evt_proto_build_sign_out(&identity, &env, out, sizeof out, &out_len, &diag),
                     EVT_ERR_NOT_SIGNED_IN);
    env = envelope("", "421200");
    assert_int_equal(evt_proto_build_settle_cancel(&identity, &env, "S1", PSN_NO, out, sizeof out,
                                                   &out_len, &diag),
                     EVT_ERR_NOT_SIGNED_IN);
    /* msgid of another institution, or malformed. */
    env = envelope(SIGN_NO, NULL);
    env.msgid = "H42120000009"
                "20240315103000"
                "3000";
    assert_int_equal(evt_proto_build_sign_out(&identity, &env, out, sizeof out, &out_len, &diag),
                     EVT_ERR_PROTO_MSGID);
    assert_string_equal(diag.field, "msgid");
    env.msgid = NULL;
    assert_int_equal(evt_proto_build_sign_out(&identity, &env, out, sizeof out, &out_len, &diag),
                     EVT_ERR_PROTO_MSGID);
    env = envelope(SIGN_NO, NULL);
    env.inf_time.month = 13;
    assert_int_equal(evt_proto_build_sign_out(&identity, &env, out, sizeof out, &out_len, &diag),
                     EVT_ERR_ARG);
    assert_string_equal(diag.field, "inf_time");
    /* Configuration problems surface from every builder. */
    env = envelope(SIGN_NO, NULL);
    evt_proto_identity id = identity;
    id.mdtrtarea_admvs = NULL;
    assert_int_equal(evt_proto_build_sign_out(&id, &env, out, sizeof out, &out_len, &diag),
                     EVT_ERR_CONFIG_MISSING);
    assert_string_equal(diag.field, "mdtrtarea_admvs");
    assert_int_equal(evt_proto_build_sign_out(&identity, &env, out, 100, &out_len, &diag),
                     EVT_ERR_OVERFLOW);
    assert_int_equal(evt_proto_build_sign_out(&identity, &env, NULL, 0, &out_len, &diag),
                     EVT_ERR_ARG);
}

/* The 2102 as the firmware built it before requests were written out: a cJSON tree of the
 * envelope, druginfo and one drugdetail object per line, printed whole. */
static void tree_drug_settle(const sale_inputs *in, char *buf, size_t cap)
{
    const evt_order *o = &in->order;
    cJSON *root = NULL, *input = NULL, *info = NULL, *details = NULL, *d = NULL;
    assert_int_equal(evt_json_new_object(&root), EVT_OK);
    const char *const envelope_fields[][2] = {
        {"infno", "2102"},
        {"msgid", MSGID},
        {"mdtrtarea_admvs", "421202"},
        {"insuplc_admdvs", "421200"},
        {"recer_sys_code", "EVT"},
        {"dev_no", "EVT-T1-0001"},
        {"dev_safe_info", ""},
        {"cainfo", ""},
        {"signtype", ""},
        {"infver", "V1.0"},
        {"opter_type", "1"},
        {"opter", "0001"},
        {"opter_name", "王丽"},
        {"inf_time", "2024-03-15 10:30:00"},
        {"fixmedins_code", CODE},
        {"fixmedins_name", "咸宁市健民大药房"},
        {"sign_no", SIGN_NO},
    };
    for (size_t i = 0; i < sizeof envelope_fields / sizeof envelope_fields[0]; i++) {
        assert_int_equal(evt_json_add_string(root, envelope_fields[i][0], envelope_fields[i][1]),
                         EVT_OK);
    }
    assert_int_equal(evt_json_add_object(root, "input", &input), EVT_OK);
    assert_int_equal(evt_json_add_object(input, "druginfo", &info), EVT_OK);
    evt_json_add_string(info, "psn_no", in->person.psn_no);
    evt_json_add_string(info, "mdtrt_cert_type", "01");
    evt_json_add_string(info, "mdtrt_cert_no", in->voucher.ec_token);
    evt_json_add_string(info, "begntime", "2024-03-15 10:29:00");
    evt_json_add_money(info, "medfee_sumamt", o->total);
    evt_json_add_string(info, "insutype", in->person.insu[0].insutype);
    evt_json_add_string(info, "acct_used_flag", o->use_personal_account ? "1" : "0");
    evt_json_add_string(info, "med_type", "41");
    evt_json_add_string(info, "dise_codg", "");
    evt_json_add_string(info, "dise_name", "");
    evt_json_add_string(info, "invono", "");
    evt_json_add_string(info, "fixmedins_setl_id", o->order_id);
    assert_int_equal(evt_json_add_array(input, "drugdetail", &details), EVT_OK);
    for (unsigned i = 0; i < o->item_count; i++) {
        char sn[12];
        snprintf(sn, sizeof sn, "%u", i + 1);
        assert_int_equal(evt_json_append_object(details, &d), EVT_OK);
        evt_json_add_string(d, "feedetl_sn", sn);
        evt_json_add_string(d, "rxno", "");
        evt_json_add_string(d, "rx_circ_flag", "0");
        evt_json_add_string(d, "fee_ocur_time", "2024-03-15 10:29:00");
        const evt_order_item it = evt_order_item_at(o, i);
        evt_json_add_string(d, "med_list_codg", it.med_list_codg);
        evt_json_add_string(d, "medins_list_codg", it.medins_list_codg);
        evt_json_add_money(d, "det_item_fee_sumamt", it.amount);
        evt_json_add_int(d, "cnt", it.quantity);
        assert_int_equal(evt_json_add_money(d, "pric", it.price), EVT_OK);
    }
    assert_int_equal(evt_json_print(root, buf, cap, NULL), EVT_OK);
    evt_json_free(root);
}

typedef struct streamed {
    char text[32768];
    size_t len;
    size_t largest_piece;
} streamed;

static evt_err stream_into(void *ctx, const uint8_t *data, size_t len)
{
    streamed *st = ctx;
    assert_true(st->len + len < sizeof st->text);
    memcpy(st->text + st->len, data, len);
    st->len += len;
    st->text[st->len] = '\0';
    st->largest_piece = len > st->largest_piece ? len : st->largest_piece;
    return EVT_OK;
}

/* The longest order, written out through a 1 KiB staging buffer as the platform client sends
 * it: byte for byte what the tree builder printed, in pieces no larger than the buffer. */
static void test_longest_order_streamed_equals_tree(void **state)
{
    (void)state;
    sale_inputs in;
    make_sale(&in);
    evt_order *order = &in.order;
    evt_order_clear_items(order);
    for (unsigned i = 0; i < EVT_ORDER_MAX_ITEMS; i++) {
        char code[32], medins[16], name[32];
        snprintf(code, sizeof code, "XN06BXA012A00101%07u", i * 7919u);
        snprintf(medins, sizeof medins, "YP\"%u\\%u", i, i % 3);
        snprintf(name, sizeof name, "药品\t%u", i);
        assert_int_equal(evt_order_add_item(order, code, medins, name, 1 + (i * 37u) % 99999u,
                                            1 + (evt_fen)i * 12345),
                         EVT_OK);
    }
    static char tree[32768];
    tree_drug_settle(&in, tree, sizeof tree);

    static streamed st;
    memset(&st, 0, sizeof st);
    uint8_t stage[1024];
    evt_json_writer w;
    evt_json_writer_init(&w, stage, sizeof stage, stream_into, &st);
    evt_proto_envelope env = envelope(SIGN_NO, NULL);
    evt_proto_sale sale = {.order = order,
                           .person = &in.person,
                           .voucher = &in.voucher,
                           .insurance = &in.person.insu[0],
                           .begntime = at(2024, 3, 15, 10, 29, 0)};
    assert_int_equal(evt_proto_write_drug_settle(&identity, &env, true, &sale, &w, &in.diag),
                     EVT_OK);
    size_t len = 0;
    assert_int_equal(evt_json_writer_finish(&w, &len), EVT_OK);
    assert_string_equal(st.text, tree);
    assert_int_equal(len, strlen(tree));
    assert_int_equal(st.largest_piece, sizeof stage);
    /* And the buffer form prints the same. */
    assert_int_equal(build_sale(&in, true), EVT_OK);
    assert_string_equal(out, tree);
}

static void test_builders_need_no_arena(void **state)
{
    (void)state;
    /* Requests are written out, not built as a tree: with the arena exhausted the largest
     * request is still written whole, and takes nothing from it. */
    void *hog[ARENA_FIXTURE_HOG_MAX];
    size_t count = arena_fixture_exhaust(hog);
    evt_arena_stats st;
    sale_inputs in;
    make_sale(&in);
    evt_arena_get_stats(&st);
    size_t before = st.in_use;
    assert_int_equal(build_sale(&in, true), EVT_OK);
    evt_arena_get_stats(&st);
    assert_int_equal(st.in_use, before);
    arena_fixture_release(hog, count);
}

/* ---- responses -------------------------------------------------------------------------- */

static evt_err parse_resp(const char *body, evt_proto_response *resp, evt_json_diag *diag)
{
    return evt_proto_response_parse(body, strlen(body), resp, diag);
}

static void test_response_infcode_number_and_string(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "{\"infcode\":0,\"inf_refmsgid\":\"4212000020240315103000123456\","
        "\"output\":{\"signinoutb\":{\"sign_time\":\"2024-03-15 10:30:00\","
        "\"sign_no\":\"" SIGN_NO "\"}}}",
        "{\"infcode\":\"0\",\"output\":{\"signinoutb\":{\"sign_no\":\"" SIGN_NO "\"}}}",
        "{\"infcode\":\"0\",\"output\":{\"signinoutb\":{\"sign_no\":"
        "12345"
        "}}}",
    };
    for (size_t i = 0; i < 3; i++) {
        evt_proto_response resp;
        evt_json_diag diag;
        assert_int_equal(parse_resp(ok[i], &resp, &diag), EVT_OK);
        assert_int_equal(resp.infcode, 0);
        char sign_no[EVT_SIGN_NO_BYTES];
        assert_int_equal(evt_proto_parse_sign_in(&resp, sign_no, &diag), EVT_OK);
        assert_string_equal(sign_no, i == 2 ? "12345" : SIGN_NO);
        if (i == 0) {
            assert_string_equal(resp.inf_refmsgid, "4212000020240315103000123456");
        }
        evt_proto_response_free(&resp);
    }
    static const char *const refused[] = {
        "{\"infcode\":-1,\"err_msg\":\"报文ID重复\",\"output\":\"\"}",
        "{\"infcode\":\"-1\",\"err_msg\":\"报文ID重复\",\"output\":null}",
        "{\"infcode\":\"-1\",\"err_msg\":\"报文ID重复\"}",
        "{\"infcode\":1,\"err_msg\":\"报文ID重复\",\"output\":[1]}",
    };
    for (size_t i = 0; i < 4; i++) {
        evt_proto_response resp;
        evt_json_diag diag;
        assert_int_equal(parse_resp(refused[i], &resp, &diag), EVT_OK);
        assert_true(resp.infcode != 0);
        assert_string_equal(resp.err_msg, "报文ID重复");
        assert_null(resp.output);
        char sign_no[EVT_SIGN_NO_BYTES];
        assert_int_equal(evt_proto_parse_sign_in(&resp, sign_no, &diag), EVT_ERR_PLATFORM_REJECTED);
        assert_int_equal(evt_proto_parse_ack(&resp), EVT_ERR_PLATFORM_REJECTED);
        evt_proto_response_free(&resp);
    }
}

static void expect_sign_in_error(const char *body, evt_err want, const char *field)
{
    evt_proto_response resp;
    evt_json_diag diag;
    assert_int_equal(parse_resp(body, &resp, &diag), EVT_OK);
    char sign_no[EVT_SIGN_NO_BYTES];
    assert_int_equal(evt_proto_parse_sign_in(&resp, sign_no, &diag), want);
    assert_string_equal(diag.field, field);
    evt_proto_response_free(&resp);
}

static void test_response_malformed_envelopes(void **state)
{
    (void)state;
    struct {
        const char *body;
        evt_err err;
        const char *field;
    } cases[] = {
        {"", EVT_ERR_JSON_MALFORMED, ""},
        {"<html>502 Bad Gateway</html>", EVT_ERR_JSON_MALFORMED, ""},
        {"{\"infcode\":0,\"output\":{\"setlinfo\":{\"acct_pay\":12.3", EVT_ERR_JSON_MALFORMED, ""},
        {"[{\"infcode\":0}]", EVT_ERR_JSON_MALFORMED, ""},
        {"\"ok\"", EVT_ERR_JSON_MALFORMED, ""},
        {"{\"output\":{}}", EVT_ERR_PROTO_FIELD_MISSING, "infcode"},
        {"{\"infcode\":null}", EVT_ERR_PROTO_FIELD_MISSING, "infcode"},
        {"{\"infcode\":\"\"}", EVT_ERR_PROTO_FIELD_MISSING, "infcode"},
        {"{\"infcode\":\"ok\"}", EVT_ERR_PROTO_FIELD_INVALID, "infcode"},
        {"{\"infcode\":0.0}", EVT_ERR_PROTO_FIELD_INVALID, "infcode"},
        {"{\"infcode\":true}", EVT_ERR_PROTO_FIELD_INVALID, "infcode"},
        {"{\"infcode\":99999999999}", EVT_ERR_PROTO_FIELD_INVALID, "infcode"},
        {"{\"infcode\":0,\"output\":\"x\"}", EVT_ERR_PROTO_FIELD_INVALID, "output"},
        {"{\"infcode\":0,\"output\":[]}", EVT_ERR_PROTO_FIELD_INVALID, "output"},
        {"{\"infcode\":0,\"infcode\":-1}", EVT_ERR_JSON_MALFORMED, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        evt_proto_response resp;
        evt_json_diag diag;
        evt_err err = parse_resp(cases[i].body, &resp, &diag);
        if (err != cases[i].err) {
            fail_msg("case %zu: got %s", i, evt_err_name(err));
        }
        assert_string_equal(diag.field, cases[i].field);
        assert_null(resp.root);
        evt_proto_response_free(&resp); /* harmless on a failed parse */
    }
    /* A success with no output is a valid envelope; parsers that need output say so. */
    evt_proto_response resp;
    evt_json_diag diag;
    assert_int_equal(parse_resp("{\"infcode\":0,\"output\":\"\"}", &resp, &diag), EVT_OK);
    assert_int_equal(evt_proto_parse_ack(&resp), EVT_OK);
    evt_proto_response_free(&resp);
    expect_sign_in_error("{\"infcode\":0,\"output\":\"\"}", EVT_ERR_PROTO_FIELD_MISSING, "output");
    expect_sign_in_error("{\"infcode\":0,\"output\":{\"signinoutb\":[]}}",
                         EVT_ERR_PROTO_FIELD_INVALID, "output.signinoutb");
    expect_sign_in_error("{\"infcode\":0,\"output\":{\"signinoutb\":{\"sign_no\":\"\"}}}",
                         EVT_ERR_PROTO_FIELD_MISSING, "output.signinoutb.sign_no");
}

static void test_response_truncated_at_every_length(void **state)
{
    (void)state;
    static const char body[] =
        "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S1\",\"psn_no\":\"" PSN_NO "\","
        "\"medfee_sumamt\":24.65,\"fund_pay_sumamt\":12.32,\"acct_pay\":12.33,"
        "\"psn_cash_pay\":0}},\"err_msg\":\"成功\"}";
    for (size_t n = 0; n < sizeof body - 1; n++) {
        evt_proto_response resp;
        evt_err err = evt_proto_response_parse(body, n, &resp, NULL);
        if (err == EVT_OK) {
            fail_msg("truncated body of %zu bytes accepted", n);
        }
    }
    evt_proto_response resp;
    assert_int_equal(evt_proto_response_parse(body, sizeof body - 1, &resp, NULL), EVT_OK);
    evt_proto_response_free(&resp);
}

static void test_err_msg_truncated_on_utf8_boundary(void **state)
{
    (void)state;
    /* "a" + 100 x "无" = 301 bytes; 255 bytes of room hold "a" + 84 characters (253 bytes). */
    char body[512];
    size_t n = (size_t)snprintf(body, sizeof body, "{\"infcode\":-1,\"err_msg\":\"a");
    for (int i = 0; i < 100; i++) {
        memcpy(body + n, "无", 3);
        n += 3;
    }
    n += (size_t)snprintf(body + n, sizeof body - n, "\",\"warn_msg\":\"注意\"}");
    evt_proto_response resp;
    assert_int_equal(evt_proto_response_parse(body, n, &resp, NULL), EVT_OK);
    assert_int_equal(strlen(resp.err_msg), 253);
    assert_true(evt_json_text_valid(resp.err_msg, strlen(resp.err_msg)));
    assert_memory_equal(resp.err_msg + 250, "无", 3);
    assert_string_equal(resp.warn_msg, "注意");
    evt_proto_response_free(&resp);
}

static void test_parse_ec_query(void **state)
{
    (void)state;
    evt_proto_response resp;
    evt_voucher_info v;
    evt_json_diag diag;
    assert_int_equal(parse_resp("{\"infcode\":0,\"output\":{\"data\":{\"ecToken\":\"" TOKEN "\","
                                "\"idNo\":\"421202198001011234\",\"userName\":\"张建国\","
                                "\"idType\":\"01\",\"insuOrg\":\"421200\",\"ecIndexNo\":\"IDX9\","
                                "\"ecShowType\":\"01\"}}}",
                                &resp, &diag),
                     EVT_OK);
    assert_int_equal(evt_proto_parse_ec_query(&resp, &v, &diag), EVT_OK);
    assert_string_equal(v.ec_token, TOKEN);
    assert_string_equal(v.id_no, "421202198001011234");
    assert_string_equal(v.user_name, "张建国");
    assert_string_equal(v.insu_org, "421200");
    assert_string_equal(v.ec_index_no, "IDX9");
    assert_false(v.via_family_account);
    assert_string_equal(v.holder_name, "");
    evt_proto_response_free(&resp);

    /* 亲情账户代展码: the holder is named. */
    assert_int_equal(
        parse_resp("{\"infcode\":\"0\",\"output\":{\"data\":{\"ecToken\":\"t2\","
                   "\"idNo\":\"421202201801011234\",\"userName\":\"张小宝\","
                   "\"insuOrg\":\"421200\",\"ecShowType\":\"02\","
                   "\"holderName\":\"张建国\",\"holderIdNo\":\"421202198001011234\"}}}",
                   &resp, &diag),
        EVT_OK);
    assert_int_equal(evt_proto_parse_ec_query(&resp, &v, &diag), EVT_OK);
    assert_true(v.via_family_account);
    assert_string_equal(v.user_name, "张小宝");
    assert_string_equal(v.holder_name, "张建国");
    assert_string_equal(v.holder_id_no, "421202198001011234");
    evt_proto_response_free(&resp);

    /* No ecShowType (platforms without the marker): the person's own code. */
    assert_int_equal(parse_resp("{\"infcode\":0,\"output\":{\"data\":{\"ecToken\":\"t\","
                                "\"idNo\":\"1\",\"userName\":\"x\"}}}",
                                &resp, &diag),
                     EVT_OK);
    assert_int_equal(evt_proto_parse_ec_query(&resp, &v, &diag), EVT_OK);
    assert_false(v.via_family_account);
    evt_proto_response_free(&resp);

    struct {
        const char *body;
        evt_err err;
        const char *field;
    } bad[] = {
        {"{\"infcode\":0,\"output\":{\"data\":{\"ecToken\":\"t\",\"idNo\":\"1\",\"userName\":"
         "\"x\",\"ecShowType\":\"02\",\"holderName\":\"h\"}}}",
         EVT_ERR_PROTO_FIELD_MISSING, "output.data.holderIdNo"},
        {"{\"infcode\":0,\"output\":{\"data\":{\"ecToken\":\"t\",\"idNo\":\"1\",\"userName\":"
         "\"x\",\"ecShowType\":\"03\"}}}",
         EVT_ERR_PROTO_FIELD_INVALID, "output.data.ecShowType"},
        {"{\"infcode\":0,\"output\":{\"data\":{\"idNo\":\"1\",\"userName\":\"x\"}}}",
         EVT_ERR_PROTO_FIELD_MISSING, "output.data.ecToken"},
        {"{\"infcode\":0,\"output\":{\"data\":{\"ecToken\":{},\"idNo\":\"1\",\"userName\":\"x\"}}}",
         EVT_ERR_PROTO_FIELD_INVALID, "output.data.ecToken"},
        {"{\"infcode\":0,\"output\":{}}", EVT_ERR_PROTO_FIELD_MISSING, "output.data"},
        {"{\"infcode\":0}", EVT_ERR_PROTO_FIELD_MISSING, "output"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse_resp(bad[i].body, &resp, &diag), EVT_OK);
        evt_err err = evt_proto_parse_ec_query(&resp, &v, &diag);
        if (err != bad[i].err || strcmp(diag.field, bad[i].field) != 0) {
            fail_msg("case %zu: %s at %s", i, evt_err_name(err), diag.field);
        }
        evt_proto_response_free(&resp);
    }
    assert_int_equal(
        parse_resp("{\"infcode\":-1,\"err_msg\":\"电子凭证二维码已过期，请刷新后重试\"}", &resp,
                   &diag),
        EVT_OK);
    assert_int_equal(evt_proto_parse_ec_query(&resp, &v, &diag), EVT_ERR_PLATFORM_REJECTED);
    assert_string_equal(resp.err_msg, "电子凭证二维码已过期，请刷新后重试");
    evt_proto_response_free(&resp);
}

#define PERSON_BODY(insuinfo)                                                                      \
    "{\"infcode\":0,\"output\":{\"baseinfo\":{\"psn_no\":\"" PSN_NO "\",\"psn_cert_type\":\"01\"," \
    "\"certno\":\"421202198001011234\",\"psn_name\":\"张建国\",\"gend\":\"1\",\"naty\":\"01\"," \
    "\"brdy\":\"1980-01-01\",\"age\":44.2},\"insuinfo\":" insuinfo ",\"idetinfo\":[]}}"

static void expect_person_error(const char *body, evt_err want, const char *field)
{
    evt_proto_response resp;
    evt_person p;
    evt_json_diag diag;
    assert_int_equal(parse_resp(body, &resp, &diag), EVT_OK);
    assert_int_equal(evt_proto_parse_person(&resp, &p, &diag), want);
    assert_string_equal(diag.field, field);
    evt_proto_response_free(&resp);
}

/* A person answer with only psn_no, psn_name and the given age text. */
static const char *person_aged(const char *age)
{
    static char body[256];
    snprintf(body, sizeof body,
             "{\"infcode\":0,\"output\":{\"baseinfo\":{\"psn_no\":\"x\",\"psn_name\":\"y\","
             "\"age\":%s}}}",
             age);
    return body;
}

static void test_parse_person(void **state)
{
    (void)state;
    evt_proto_response resp;
    evt_person p;
    evt_json_diag diag;
    assert_int_equal(
        parse_resp(
            PERSON_BODY("[{\"balc\":1234.50,\"insutype\":\"310\",\"psn_type\":\"11\","
                        "\"psn_insu_stas\":\"1\",\"psn_insu_date\":\"2005-07-01\","
                        "\"paus_insu_date\":\"\",\"cvlserv_flag\":\"0\","
                        "\"insuplc_admdvs\":\"421200\",\"emp_name\":\"咸宁市某某有限公司\"},"
                        "{\"balc\":\"\",\"insutype\":\"390\",\"psn_type\":\"\",\"psn_insu_stas\":"
                        "\"2\",\"paus_insu_date\":\"2023-12-31\",\"insuplc_admdvs\":\"421200\"}]"),
            &resp, &diag),
        EVT_OK);
    assert_int_equal(evt_proto_parse_person(&resp, &p, &diag), EVT_OK);
    assert_string_equal(p.psn_no, PSN_NO);
    assert_string_equal(p.psn_name, "张建国");
    assert_string_equal(p.certno, "421202198001011234");
    assert_string_equal(p.gend, "1");
    assert_string_equal(p.brdy, "1980-01-01");
    assert_int_equal(p.age, 44);
    assert_int_equal(p.insu_count, 2);
    assert_string_equal(p.insu[0].insutype, "310");
    assert_true(p.insu[0].balc_present);
    assert_int_equal(p.insu[0].balc, 123450);
    assert_string_equal(p.insu[0].emp_name, "咸宁市某某有限公司");
    assert_false(p.insu[1].balc_present);
    assert_string_equal(p.insu[1].paus_insu_date, "2023-12-31");
    evt_proto_response_free(&resp);

    /* age forms. */
    static const struct {
        const char *age;
        uint16_t want;
    } ages[] = {{"45", 45}, {"\"45\"", 45}, {"45.9", 45}, {"\"0.5\"", 0}, {"\"\"", 0}, {"null", 0}};
    for (size_t i = 0; i < sizeof ages / sizeof ages[0]; i++) {
        assert_int_equal(parse_resp(person_aged(ages[i].age), &resp, &diag), EVT_OK);
        assert_int_equal(evt_proto_parse_person(&resp, &p, &diag), EVT_OK);
        assert_int_equal(p.age, ages[i].want);
        assert_int_equal(p.insu_count, 0);
        evt_proto_response_free(&resp);
    }
    static const char *const bad_ages[] = {"-1",      "1e2",    "\"45岁\"", "1000",
                                           "\"045\"", "\"4.\"", "{}"};
    for (size_t i = 0; i < sizeof bad_ages / sizeof bad_ages[0]; i++) {
        expect_person_error(person_aged(bad_ages[i]), EVT_ERR_PROTO_FIELD_INVALID,
                            "output.baseinfo.age");
    }

    /* A broken entry is named with its index. */
    expect_person_error(PERSON_BODY("[{\"insutype\":\"310\",\"psn_insu_stas\":\"1\","
                                    "\"insuplc_admdvs\":\"421200\",\"balc\":0},"
                                    "{\"insutype\":\"390\",\"insuplc_admdvs\":\"421200\"}]"),
                        EVT_ERR_PROTO_FIELD_MISSING, "output.insuinfo[1].psn_insu_stas");
    expect_person_error(PERSON_BODY("[{\"insutype\":\"310\",\"psn_insu_stas\":\"1\","
                                    "\"insuplc_admdvs\":\"421200\",\"balc\":1.005}]"),
                        EVT_ERR_MONEY_INVALID, "output.insuinfo[0].balc");
    expect_person_error(PERSON_BODY("[\"310\"]"), EVT_ERR_PROTO_FIELD_INVALID,
                        "output.insuinfo[0]");
    expect_person_error(PERSON_BODY("{}"), EVT_ERR_PROTO_FIELD_INVALID, "output.insuinfo");
}

static void test_parse_person_keeps_normal_entries_when_full(void **state)
{
    (void)state;
#define SUSP(t) "{\"insutype\":\"" t "\",\"psn_insu_stas\":\"4\",\"insuplc_admdvs\":\"421200\"}"
    evt_proto_response resp;
    evt_person p;
    evt_json_diag diag;
    assert_int_equal(
        parse_resp(PERSON_BODY("[" SUSP("391") "," SUSP("392") "," SUSP("393") "," SUSP(
                       "394") ","
                              "{\"insutype\":\"310\",\"psn_insu_stas\":\"1\","
                              "\"insuplc_admdvs\":\"421200\",\"balc\":\"10.00\"}]"),
                   &resp, &diag),
        EVT_OK);
#undef SUSP
    assert_int_equal(evt_proto_parse_person(&resp, &p, &diag), EVT_OK);
    assert_int_equal(p.insu_count, EVT_PERSON_MAX_INSU);
    const evt_insurance *chosen = NULL;
    assert_int_equal(evt_proto_select_insurance(&p, NULL, &chosen), EVT_OK);
    assert_string_equal(chosen->insutype, "310");
    assert_int_equal(chosen->balc, 1000);
    evt_proto_response_free(&resp);
}

static void test_select_insurance(void **state)
{
    (void)state;
    evt_person p;
    memset(&p, 0, sizeof p);
    const evt_insurance *chosen = (const evt_insurance *)&p;
    assert_int_equal(evt_proto_select_insurance(&p, NULL, &chosen), EVT_ERR_INSURANCE_NONE);
    assert_null(chosen);

    p.insu_count = 2;
    strcpy(p.insu[0].insutype, "390");
    strcpy(p.insu[0].psn_insu_stas, "2");
    strcpy(p.insu[0].paus_insu_date, "2023-12-31");
    strcpy(p.insu[1].insutype, "310");
    strcpy(p.insu[1].psn_insu_stas, "4");
    assert_int_equal(evt_proto_select_insurance(&p, NULL, &chosen), EVT_ERR_INSURANCE_SUSPENDED);
    assert_ptr_equal(chosen, &p.insu[0]);
    assert_string_equal(chosen->paus_insu_date, "2023-12-31");

    /* Normal status wins over order; 310 preferred among normal ones; an explicit choice
     * wins when it is normal. */
    strcpy(p.insu[1].psn_insu_stas, "1");
    assert_int_equal(evt_proto_select_insurance(&p, NULL, &chosen), EVT_OK);
    assert_ptr_equal(chosen, &p.insu[1]);
    strcpy(p.insu[0].psn_insu_stas, "1");
    assert_int_equal(evt_proto_select_insurance(&p, NULL, &chosen), EVT_OK);
    assert_ptr_equal(chosen, &p.insu[1]);
    assert_int_equal(evt_proto_select_insurance(&p, "390", &chosen), EVT_OK);
    assert_ptr_equal(chosen, &p.insu[0]);
    strcpy(p.insu[0].psn_insu_stas, "2");
    assert_int_equal(evt_proto_select_insurance(&p, "390", &chosen), EVT_OK);
    assert_ptr_equal(chosen, &p.insu[1]);
    assert_int_equal(evt_proto_select_insurance(NULL, NULL, &chosen), EVT_ERR_ARG);
}

/* ---- settlements ------------------------------------------------------------------------ */

/* A 24.65 sale: fund 12.32, own account 10.00, mutual aid 2.00, cash 0.33. The amounts are
 * given in a rotating mix of forms, as the emulator does. */
#define SETL_BODY(extra)                                                                           \
    "{\"infcode\":0,\"inf_refmsgid\":\"r1\",\"output\":{\"setlinfo\":{" extra                      \
    "\"mdtrt_id\":\"M0001\",\"psn_no\":\"" PSN_NO "\",\"psn_name\":\"张建国\","                 \
    "\"insutype\":\"310\",\"setl_time\":\"2024-03-15 10:30:01\",\"clr_optins\":\"421200\","        \
    "\"clr_way\":\"1\",\"clr_type\":\"41\",\"medfee_sumamt\":24.65,"                               \
    "\"fulamt_ownpay_amt\":\"0.05\",\"overlmt_selfpay\":0,\"preselfpay_amt\":\"2.46\","            \
    "\"inscp_scp_amt\":22.14,\"fund_pay_sumamt\":\"12.32\",\"psn_part_amt\":12.33,"                \
    "\"acct_pay\":\"10.00\",\"acct_mulaid_pay\":2.0,\"psn_cash_pay\":\"0.33\","                    \
    "\"hosp_part_amt\":\"\",\"balc\":\"400.00\"},\"setldetail\":[{\"fund_pay_type\":\"310100\","   \
    "\"fund_payamt\":12.32}]}}"

static evt_err parse_setl(const char *body, evt_proto_settle_kind kind, evt_fen total,
                          evt_settlement *s, evt_json_diag *diag)
{
    evt_proto_response resp;
    evt_err err = parse_resp(body, &resp, diag);
    if (err != EVT_OK) {
        return err;
    }
    err = evt_proto_parse_settlement(&resp, kind, total, PSN_NO, s, diag);
    evt_proto_response_free(&resp);
    return err;
}

/* The envelope's warn_msg comes with the split, for the cashier; a long one is cut on a
 * character boundary, never refused. */
static void test_settlement_keeps_the_platform_note(void **state)
{
    (void)state;
    const char *plain = SETL_BODY("\"setl_id\":\"S0001\",");
    const char *at = strstr(plain, "\"output\"");
    assert_non_null(at);
    char body[4096], note[256] = "";
    for (int i = 0; i < 60; i++) {
        strcat(note, "共");
    }
    snprintf(body, sizeof body, "%.*s\"warn_msg\":\"%s\",%s", (int)(at - plain), plain, note, at);
    evt_settlement s;
    evt_json_diag diag;
    assert_int_equal(parse_setl(body, EVT_PROTO_SETTLE, 2465, &s, &diag), EVT_OK);
    assert_int_equal(strlen(s.platform_note), 42 * 3); /* 42 whole characters in 127 bytes */
    assert_int_equal(strncmp(s.platform_note, note, 42 * 3), 0);
    assert_int_equal(parse_setl(plain, EVT_PROTO_SETTLE, 2465, &s, &diag), EVT_OK);
    assert_string_equal(s.platform_note, "");
}

static void test_parse_settlement_all_forms(void **state)
{
    (void)state;
    evt_settlement s;
    evt_json_diag diag;
    assert_int_equal(
        parse_setl(SETL_BODY("\"setl_id\":\"S0001\","), EVT_PROTO_SETTLE, 2465, &s, &diag), EVT_OK);
    assert_string_equal(s.setl_id, "S0001");
    assert_string_equal(s.mdtrt_id, "M0001");
    assert_string_equal(s.psn_no, PSN_NO);
    assert_string_equal(s.psn_name, "张建国");
    assert_string_equal(s.clr_type, "41");
    assert_int_equal(s.medfee_sumamt, 2465);
    assert_int_equal(s.fulamt_ownpay_amt, 5);
    assert_int_equal(s.overlmt_selfpay, 0);
    assert_int_equal(s.preselfpay_amt, 246);
    assert_int_equal(s.inscp_scp_amt, 2214);
    assert_int_equal(s.fund_pay_sumamt, 1232);
    assert_int_equal(s.psn_part_amt, 1233);
    assert_int_equal(s.acct_pay, 1000);
    assert_int_equal(s.acct_mulaid_pay, 200);
    assert_int_equal(s.psn_cash_pay, 33);
    assert_int_equal(s.hosp_part_amt, 0);
    assert_true(s.balc_present);
    assert_int_equal(s.balc, 40000);

    /* 2101 has no setl_id and that is fine. */
    assert_int_equal(parse_setl(SETL_BODY(""), EVT_PROTO_PRESETTLE, 2465, &s, &diag), EVT_OK);
    assert_string_equal(s.setl_id, "");

    /* Zero forms, absent optional amounts, resident insurance without balance. */
    assert_int_equal(
        parse_setl(
            "{\"infcode\":\"0\",\"output\":{\"setlinfo\":{\"setl_id\":\"S2\",\"psn_no\":\"" PSN_NO
            "\",\"medfee_sumamt\":\"5.00\",\"fund_pay_sumamt\":0.0000,\"acct_pay\":0,"
            "\"psn_cash_pay\":5,\"balc\":\"\"}}}",
            EVT_PROTO_SETTLE, 500, &s, &diag),
        EVT_OK);
    assert_int_equal(s.psn_cash_pay, 500);
    assert_int_equal(s.acct_mulaid_pay, 0);
    assert_false(s.balc_present);

    /* Hospital-borne share closes the sum. */
    assert_int_equal(
        parse_setl(
            "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S3\",\"psn_no\":\"" PSN_NO
            "\",\"medfee_sumamt\":10.00,\"fund_pay_sumamt\":4.00,\"acct_pay\":3.00,"
            "\"psn_cash_pay\":2.00,\"hosp_part_amt\":1.00,\"psn_part_amt\":5.00}}}",
            EVT_PROTO_SETTLE, 1000, &s, &diag),
        EVT_OK);
    assert_int_equal(s.hosp_part_amt, 100);
}

static void expect_setl_error(const char *body, evt_proto_settle_kind kind, evt_fen total,
                              evt_err want, const char *field)
{
    evt_settlement s;
    memset(&s, 0x5a, sizeof s);
    evt_json_diag diag;
    evt_err err = parse_setl(body, kind, total, &s, &diag);
    if (err != want || strcmp(diag.field, field) != 0) {
        fail_msg("want %s at %s, got %s at %s", evt_err_name(want), field, evt_err_name(err),
                 diag.field);
    }
}

#define MINI(fields)                                                                               \
    "{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S9\",\"psn_no\":\"" PSN_NO             \
    "\"," fields "}}}"

static void test_settlement_mismatches(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        evt_proto_settle_kind kind;
        evt_fen total;
        evt_err err;
        const char *field;
    } cases[] = {
        /* One fen off. */
        {MINI("\"medfee_sumamt\":10.00,\"fund_pay_sumamt\":4.00,\"acct_pay\":3.00,"
              "\"psn_cash_pay\":2.99"),
         EVT_PROTO_SETTLE, 1000, EVT_ERR_MONEY_MISMATCH, "output.setlinfo.medfee_sumamt"},
        /* Mutual aid counts in the sum: leaving it out unbalances. */
        {MINI("\"medfee_sumamt\":10.00,\"fund_pay_sumamt\":4.00,\"acct_pay\":3.00,"
              "\"acct_mulaid_pay\":1.00,\"psn_cash_pay\":3.00"),
         EVT_PROTO_SETTLE, 1000, EVT_ERR_MONEY_MISMATCH, "output.setlinfo.medfee_sumamt"},
        /* psn_part_amt disagrees with its parts. */
        {MINI("\"medfee_sumamt\":10.00,\"fund_pay_sumamt\":4.00,\"acct_pay\":3.00,"
              "\"psn_cash_pay\":3.00,\"psn_part_amt\":5.00"),
         EVT_PROTO_SETTLE, 1000, EVT_ERR_MONEY_MISMATCH, "output.setlinfo.psn_part_amt"},
        /* Balanced but not this order's total. */
        {MINI("\"medfee_sumamt\":10.00,\"fund_pay_sumamt\":4.00,\"acct_pay\":3.00,"
              "\"psn_cash_pay\":3.00"),
         EVT_PROTO_SETTLE, 1001, EVT_ERR_MONEY_MISMATCH, "output.setlinfo.medfee_sumamt"},
        /* Negative amount on a sale, even if it balances. */
        {MINI("\"medfee_sumamt\":10.00,\"fund_pay_sumamt\":11.00,\"acct_pay\":0,"
              "\"psn_cash_pay\":-1.00"),
         EVT_PROTO_PRESETTLE, 1000, EVT_ERR_MONEY_MISMATCH, "output.setlinfo.psn_cash_pay"},
        /* 2102 without setl_id. */
        {"{\"infcode\":0,\"output\":{\"setlinfo\":{\"psn_no\":\"" PSN_NO "\","
         "\"medfee_sumamt\":1,\"fund_pay_sumamt\":1,\"acct_pay\":0,"
         "\"psn_cash_pay\":0}}}",
         EVT_PROTO_SETTLE, 100, EVT_ERR_PROTO_FIELD_MISSING, "output.setlinfo.setl_id"},
        /* Another person's settlement. */
        {"{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S\",\"psn_no\":"
         "\"42000000000000000000000002\",\"medfee_sumamt\":1,\"fund_pay_sumamt\":1,"
         "\"acct_pay\":0,\"psn_cash_pay\":0}}}",
         EVT_PROTO_SETTLE, 100, EVT_ERR_PROTO_PERSON_MISMATCH, "output.setlinfo.psn_no"},
        /* Amount forms that are not exact fen. */
        {MINI("\"medfee_sumamt\":1e1,\"fund_pay_sumamt\":4.00,\"acct_pay\":3.00,"
              "\"psn_cash_pay\":3.00"),
         EVT_PROTO_SETTLE, 1000, EVT_ERR_MONEY_INVALID, "output.setlinfo.medfee_sumamt"},
        {MINI("\"medfee_sumamt\":10.00,\"fund_pay_sumamt\":\"4.001\",\"acct_pay\":3,"
              "\"psn_cash_pay\":3"),
         EVT_PROTO_SETTLE, 1000, EVT_ERR_MONEY_INVALID, "output.setlinfo.fund_pay_sumamt"},
        /* Required amounts: absent or "". */
        {MINI("\"medfee_sumamt\":10.00,\"fund_pay_sumamt\":10.00,\"acct_pay\":0"), EVT_PROTO_SETTLE,
         1000, EVT_ERR_PROTO_FIELD_MISSING, "output.setlinfo.psn_cash_pay"},
        {MINI("\"medfee_sumamt\":\"\",\"fund_pay_sumamt\":10.00,\"acct_pay\":0,"
              "\"psn_cash_pay\":0"),
         EVT_PROTO_SETTLE, 1000, EVT_ERR_PROTO_FIELD_MISSING, "output.setlinfo.medfee_sumamt"},
        {MINI("\"medfee_sumamt\":true,\"fund_pay_sumamt\":10.00,\"acct_pay\":0,"
              "\"psn_cash_pay\":0"),
         EVT_PROTO_SETTLE, 1000, EVT_ERR_PROTO_FIELD_INVALID, "output.setlinfo.medfee_sumamt"},
        /* Wrong shapes of the envelope around it. */
        {"{\"infcode\":0,\"output\":{}}", EVT_PROTO_SETTLE, 1000, EVT_ERR_PROTO_FIELD_MISSING,
         "output.setlinfo"},
        {"{\"infcode\":0,\"output\":{\"setlinfo\":[]}}", EVT_PROTO_SETTLE, 1000,
         EVT_ERR_PROTO_FIELD_INVALID, "output.setlinfo"},
        {"{\"infcode\":0}", EVT_PROTO_SETTLE, 1000, EVT_ERR_PROTO_FIELD_MISSING, "output"},
        {"{\"infcode\":\"2001\",\"err_msg\":\"余额不足\"}", EVT_PROTO_SETTLE, 1000,
         EVT_ERR_PLATFORM_REJECTED, ""},
        {"{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S\"", EVT_PROTO_SETTLE, 1000,
         EVT_ERR_JSON_MALFORMED, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_setl_error(cases[i].body, cases[i].kind, cases[i].total, cases[i].err,
                          cases[i].field);
    }
}

static void test_settlement_cancel(void **state)
{
    (void)state;
    evt_settlement s;
    evt_json_diag diag;
    /* The cancelling entry carries the sale's amounts negated. */
    assert_int_equal(
        parse_setl("{\"infcode\":0,\"output\":{\"setlinfo\":{\"setl_id\":\"S0001-C\","
                   "\"psn_no\":\"" PSN_NO "\",\"medfee_sumamt\":-24.65,\"fund_pay_sumamt\":"
                   "\"-12.32\",\"psn_part_amt\":-12.33,\"acct_pay\":-10.00,\"acct_mulaid_pay\":"
                   "\"-2.00\",\"psn_cash_pay\":-0.33,\"hosp_part_amt\":\"\",\"balc\":410.00}}}",
                   EVT_PROTO_CANCEL, 2465, &s, &diag),
        EVT_OK);
    assert_int_equal(s.medfee_sumamt, -2465);
    assert_int_equal(s.acct_mulaid_pay, -200);
    assert_int_equal(s.balc, 41000);
    /* A positive amount in a cancel, or a total that is not the sale's, is refused. */
    expect_setl_error(MINI("\"medfee_sumamt\":-10.00,\"fund_pay_sumamt\":-11.00,\"acct_pay\":0,"
                           "\"psn_cash_pay\":1.00"),
                      EVT_PROTO_CANCEL, 1000, EVT_ERR_MONEY_MISMATCH,
                      "output.setlinfo.psn_cash_pay");
    expect_setl_error(MINI("\"medfee_sumamt\":-10.00,\"fund_pay_sumamt\":-10.00,\"acct_pay\":0,"
                           "\"psn_cash_pay\":0"),
                      EVT_PROTO_CANCEL, 900, EVT_ERR_MONEY_MISMATCH,
                      "output.setlinfo.medfee_sumamt");
}

static void test_check_settlement_journalled(void **state)
{
    (void)state;
    evt_settlement s;
    memset(&s, 0, sizeof s);
    strcpy(s.setl_id, "S1");
    strcpy(s.psn_no, PSN_NO);
    s.medfee_sumamt = 1000;
    s.fund_pay_sumamt = 1000;
    evt_json_diag diag;
    assert_int_equal(evt_proto_check_settlement(&s, false, EVT_PROTO_SETTLE, 1000, PSN_NO, &diag),
                     EVT_OK);
    /* A corrupt record with out-of-range values cannot overflow the sum check. */
    s.acct_pay = INT64_MAX;
    s.psn_cash_pay = INT64_MAX;
    assert_int_equal(evt_proto_check_settlement(&s, false, EVT_PROTO_SETTLE, 1000, PSN_NO, &diag),
                     EVT_ERR_MONEY_MISMATCH);
    assert_string_equal(diag.field, "acct_pay");
    assert_int_equal(evt_proto_check_settlement(NULL, false, EVT_PROTO_SETTLE, 1, PSN_NO, &diag),
                     EVT_ERR_ARG);
}

static void test_is_settlement(void **state)
{
    (void)state;
    static const char *const settling[] = {"2102", "2103", "2207", "2208"};
    static const char *const not_settling[] = {"2101",     "2206",  "2601", "9001",
                                               "ec.query", "21020", ""};
    for (size_t i = 0; i < sizeof settling / sizeof settling[0]; i++) {
        assert_true(evt_proto_is_settlement(settling[i]));
    }
    for (size_t i = 0; i < sizeof not_settling / sizeof not_settling[0]; i++) {
        assert_false(evt_proto_is_settlement(not_settling[i]));
    }
    assert_false(evt_proto_is_settlement(NULL));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, arena_fixture_setup, arena_fixture_teardown)

/* ---- the outpatient visit (2201-2207) ----------------------------------------------------- */

/* One visit request written into out through the writer (NUL-terminated). */
static evt_err write_visit(const char *infno, const evt_proto_visit *v, char *req, size_t cap,
                           evt_json_diag *diag)
{
    evt_proto_envelope env = envelope("SN1", "421202");
    evt_json_writer w;
    evt_json_writer_init(&w, (uint8_t *)req, cap - 1, NULL, NULL);
    evt_err err = evt_proto_write_visit(&identity, &env, infno, v, &w, diag);
    size_t len = 0;
    evt_err fin = evt_json_writer_finish(&w, &len);
    req[err == EVT_OK && fin == EVT_OK ? len : 0] = '\0';
    return err != EVT_OK ? err : fin;
}

static void test_visit_requests(void **state)
{
    (void)state;
    static char text[8192];
    evt_order batch;
    memset(&batch, 0, sizeof batch);
    snprintf(batch.order_id, sizeof batch.order_id, "V1");
    assert_int_equal(evt_order_add_item(&batch, "001102000010000", "MZ1", "诊查费", 1, 1500),
                     EVT_OK);
    assert_int_equal(evt_order_add_item(&batch, "XA11GAV003A001010100777", "YP7", "自费", 2, 1250),
                     EVT_OK);
    evt_proto_visit v = {
        .psn_no = PSN_NO,
        .insutype = "310",
        .ec_token = "tok",
        .begntime = {.year = 2024, .month = 3, .day = 15, .hour = 10, .minute = 0, .second = 0},
        .ipt_otp_no = "MZ0001",
        .mdtrt_id = "MDT1",
        .med_type = "11",
        .chrg_bchno = "2",
        .batch = &batch,
        .first_sn = 101,
        .medfee_sumamt = 11800,
    };
    evt_json_diag diag = {{0}};
    assert_int_equal(write_visit(EVT_INFNO_VISIT_UNREGISTER, &v, text, sizeof text, &diag), EVT_OK);
    assert_string_equal(text, HEAD("2202", "421202", "SN1") "{\"data\":{\"psn_no\":\"" PSN_NO
                                                            "\",\"mdtrt_id\":\"MDT1\","
                                                            "\"ipt_otp_no\":\"MZ0001\"}}}");
    /* 2204: the batch's lines numbered on from first_sn, all in its chrg_bchno */
    assert_int_equal(write_visit(EVT_INFNO_VISIT_FEES, &v, text, sizeof text, &diag), EVT_OK);
    assert_non_null(strstr(text, "\"feedetail\":[{\"feedetl_sn\":\"101\",\"mdtrt_id\":\"MDT1\""));
    assert_non_null(strstr(text, "{\"feedetl_sn\":\"102\""));
    assert_non_null(strstr(text, "\"chrg_bchno\":\"2\",\"med_type\":\"11\",\"fee_ocur_time\":"
                                 "\"2024-03-15 10:00:00\""));
    assert_non_null(strstr(text, "\"det_item_fee_sumamt\":25.00,\"cnt\":2,\"pric\":12.50}"));
    /* 2207: the visit's total, psn_setlway 01 */
    assert_int_equal(write_visit(EVT_INFNO_VISIT_SETTLE, &v, text, sizeof text, &diag), EVT_OK);
    assert_non_null(strstr(text, "\"infno\":\"2207\""));
    assert_non_null(strstr(text, "\"medfee_sumamt\":118.00,\"psn_setlway\":\"01\""));
    /* 2203 needs med_type; 2204 a batch that adds up */
    v.med_type = "";
    assert_int_equal(write_visit(EVT_INFNO_VISIT_INFO, &v, text, sizeof text, &diag), EVT_ERR_ARG);
    assert_string_equal(diag.field, "med_type");
    v.med_type = "11";
    batch.total += 1;
    assert_int_equal(write_visit(EVT_INFNO_VISIT_FEES, &v, text, sizeof text, &diag),
                     EVT_ERR_ORDER_INVALID);
}

#define FEE_ANSWER(entries) "{\"infcode\":0,\"output\":{\"result\":[" entries "]}}"
#define FEE_A_OVER                                                                                 \
    "{\"feedetl_sn\":\"1\",\"det_item_fee_sumamt\":15.00,\"overlmt_amt\":\"5.00\","                \
    "\"preselfpay_amt\":0,\"fulamt_ownpay_amt\":\"\",\"chrgitm_lv\":\"01\"}"
#define FEE_C                                                                                      \
    "{\"feedetl_sn\":\"2\",\"det_item_fee_sumamt\":\"25.00\",\"overlmt_amt\":0,"                   \
    "\"preselfpay_amt\":0,\"fulamt_ownpay_amt\":25,\"chrgitm_lv\":\"03\"}"

static evt_err parse_fees(const char *body, uint32_t lines, evt_fen amount, evt_fee_summary *f,
                          evt_json_diag *diag)
{
    evt_proto_response resp;
    evt_err err = parse_resp(body, &resp, diag);
    if (err == EVT_OK) {
        err = evt_proto_parse_fee_lines(&resp, lines, amount, f, diag);
        evt_proto_response_free(&resp);
    }
    return err;
}

static void test_parse_fee_lines(void **state)
{
    (void)state;
    evt_fee_summary f;
    evt_json_diag diag = {{0}};
    assert_int_equal(parse_fees(FEE_ANSWER(FEE_A_OVER "," FEE_C), 2, 4000, &f, &diag), EVT_OK);
    assert_int_equal(f.lines, 2);
    assert_int_equal(f.by_class[0], 1);
    assert_int_equal(f.by_class[2], 1);
    assert_int_equal(f.amount, 4000);
    assert_int_equal(f.overlmt_amt, 500);
    assert_int_equal(f.fulamt_ownpay_amt, 2500);
    /* Not the batch sent: a line more, a line less, another total. */
    assert_int_equal(parse_fees(FEE_ANSWER(FEE_A_OVER "," FEE_C), 3, 4000, &f, &diag),
                     EVT_ERR_MONEY_MISMATCH);
    assert_int_equal(parse_fees(FEE_ANSWER(FEE_A_OVER), 2, 4000, &f, &diag),
                     EVT_ERR_MONEY_MISMATCH);
    assert_int_equal(parse_fees(FEE_ANSWER(FEE_A_OVER "," FEE_C), 2, 4001, &f, &diag),
                     EVT_ERR_MONEY_MISMATCH);
    /* A part larger than its line, an unknown class, a missing amount: the entry is named. */
    assert_int_equal(
        parse_fees(FEE_ANSWER(FEE_A_OVER ",{\"det_item_fee_sumamt\":1,\"overlmt_amt\":2,"
                                         "\"chrgitm_lv\":\"01\"}"),
                   2, 1600, &f, &diag),
        EVT_ERR_PROTO_FIELD_INVALID);
    assert_string_equal(diag.field, "output.result[1].overlmt_amt");
    assert_int_equal(parse_fees(FEE_ANSWER("{\"det_item_fee_sumamt\":1,\"chrgitm_lv\":\"04\"}"), 1,
                                100, &f, &diag),
                     EVT_ERR_PROTO_FIELD_INVALID);
    assert_string_equal(diag.field, "output.result[0].chrgitm_lv");
    assert_int_equal(parse_fees(FEE_ANSWER("{\"chrgitm_lv\":\"01\"}"), 1, 100, &f, &diag),
                     EVT_ERR_PROTO_FIELD_MISSING);
    assert_int_equal(parse_fees("{\"infcode\":0,\"output\":{}}", 1, 100, &f, &diag),
                     EVT_ERR_PROTO_FIELD_MISSING);
    assert_int_equal(parse_fees("{\"infcode\":1,\"err_msg\":\"请分批上传\"}", 1, 100, &f, &diag),
                     EVT_ERR_PLATFORM_REJECTED);

    /* 2201: the visit's id */
    evt_proto_response resp;
    char mdtrt_id[31];
    assert_int_equal(
        parse_resp("{\"infcode\":0,\"output\":{\"data\":{\"mdtrt_id\":\"MDT9\"}}}", &resp, &diag),
        EVT_OK);
    assert_int_equal(evt_proto_parse_visit_register(&resp, mdtrt_id, &diag), EVT_OK);
    assert_string_equal(mdtrt_id, "MDT9");
    evt_proto_response_free(&resp);
    assert_int_equal(parse_resp("{\"infcode\":0,\"output\":{\"data\":{}}}", &resp, &diag), EVT_OK);
    assert_int_equal(evt_proto_parse_visit_register(&resp, mdtrt_id, &diag),
                     EVT_ERR_PROTO_FIELD_MISSING);
    evt_proto_response_free(&resp);
}

int main(void)
{
    arena_fixture_init();
    const struct CMUnitTest tests[] = {
        T(test_identity_check),
        T(test_visit_requests),
        T(test_parse_fee_lines),
        T(test_msgid_sequence),
        T(test_msgid_counter_overflow_moves_to_next_second),
        T(test_msgid_restore_after_reboot),
        T(test_msgid_never_repeats_with_a_jumpy_clock),
        T(test_msgid_validate),
        T(test_format_time),
        T(test_gateway_signature_known_vector),
        T(test_gateway_errors),
        T(test_golden_sign_in_out),
        T(test_golden_ec_query),
        T(test_golden_person_query),
        T(test_golden_drug_settlement),
        T(test_drug_settlement_field_by_field),
        T(test_drug_settlement_rejects_bad_orders),
        T(test_drug_settlement_all_lines),
        T(test_golden_cancel_and_reversal),
        T(test_envelope_errors),
        T(test_builders_need_no_arena),
        T(test_longest_order_streamed_equals_tree),
        T(test_response_infcode_number_and_string),
        T(test_response_malformed_envelopes),
        T(test_response_truncated_at_every_length),
        T(test_err_msg_truncated_on_utf8_boundary),
        T(test_parse_ec_query),
        T(test_parse_person),
        T(test_parse_person_keeps_normal_entries_when_full),
        T(test_select_insurance),
        T(test_parse_settlement_all_forms),
        T(test_settlement_keeps_the_platform_note),
        T(test_settlement_mismatches),
        T(test_settlement_cancel),
        T(test_check_settlement_journalled),
        T(test_is_settlement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
