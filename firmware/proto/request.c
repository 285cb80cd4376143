/* Request side of evt_proto: identity checks, msgid, time format, request envelopes. */
#include "evt/proto.h"

#include <stdio.h>
#include <string.h>

#include "evt/arena.h"

static bool is_leap(unsigned year)
{
    return (year % 4u == 0 && year % 100u != 0) || year % 400u == 0;
}

static unsigned days_in_month(unsigned year, unsigned month)
{
    static const uint8_t days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return month == 2 && is_leap(year) ? 29u : days[month - 1];
}

/* A real calendar date-time within 2000..2099 (the msgid's and the RTC's range). */
static bool datetime_valid(const evt_datetime *t)
{
    return t != NULL && t->year >= 2000 && t->year <= 2099 && t->month >= 1 && t->month <= 12 &&
           t->day >= 1 && t->day <= days_in_month(t->year, t->month) && t->hour <= 23 &&
           t->minute <= 59 && t->second <= 59;
}

static int compare_time(const evt_datetime *a, const evt_datetime *b)
{
    const unsigned av[6] = {a->year, a->month, a->day, a->hour, a->minute, a->second};
    const unsigned bv[6] = {b->year, b->month, b->day, b->hour, b->minute, b->second};
    for (int i = 0; i < 6; i++) {
        if (av[i] != bv[i]) {
            return av[i] < bv[i] ? -1 : 1;
        }
    }
    return 0;
}

/* Adds one second with calendar carry; false past the end of 2099. */
static bool next_second(evt_datetime *t)
{
    if (++t->second < 60) {
        return true;
    }
    t->second = 0;
    if (++t->minute < 60) {
        return true;
    }
    t->minute = 0;
    if (++t->hour < 24) {
        return true;
    }
    t->hour = 0;
    if (++t->day <= days_in_month(t->year, t->month)) {
        return true;
    }
    t->day = 1;
    if (++t->month <= 12) {
        return true;
    }
    t->month = 1;
    t->year++;
    return t->year <= 2099;
}

static char *put_digits(char *p, unsigned value, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + value % 10u);
        value /= 10u;
    }
    return p + width;
}

static bool read_digits(const char *p, int width, unsigned *value)
{
    unsigned v = 0;
    for (int i = 0; i < width; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        v = v * 10u + (unsigned)(p[i] - '0');
    }
    *value = v;
    return true;
}

evt_err evt_proto_format_time(const evt_datetime *t, char out[EVT_INF_TIME_BYTES])
{
    if (out == NULL || !datetime_valid(t)) {
        return EVT_ERR_ARG;
    }
    char *p = put_digits(out, t->year, 4);
    *p++ = '-';
    p = put_digits(p, t->month, 2);
    *p++ = '-';
    p = put_digits(p, t->day, 2);
    *p++ = ' ';
    p = put_digits(p, t->hour, 2);
    *p++ = ':';
    p = put_digits(p, t->minute, 2);
    *p++ = ':';
    p = put_digits(p, t->second, 2);
    *p = '\0';
    return EVT_OK;
}

/* 12 ASCII letters/digits: a fixmedins_code. */
static bool code_valid(const char *code)
{
    if (code == NULL || strlen(code) != 12) {
        return false;
    }
    for (size_t i = 0; i < 12; i++) {
        char c = code[i];
        bool alnum = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
        if (!alnum) {
            return false;
        }
    }
    return true;
}

/* Splits a msgid into its time and 4-digit sequence; false if malformed. */
static bool msgid_split(const char *msgid, evt_datetime *t, unsigned *sequence)
{
    if (msgid == NULL || strlen(msgid) != EVT_MSGID_LEN) {
        return false;
    }
    char code[13];
    memcpy(code, msgid, 12);
    code[12] = '\0';
    unsigned year, month, day, hour, minute, second;
    const char *p = msgid + 12;
    if (!code_valid(code) || !read_digits(p, 4, &year) || !read_digits(p + 4, 2, &month) ||
        !read_digits(p + 6, 2, &day) || !read_digits(p + 8, 2, &hour) ||
        !read_digits(p + 10, 2, &minute) || !read_digits(p + 12, 2, &second) ||
        !read_digits(p + 14, 4, sequence)) {
        return false;
    }
    /* 4 and 2 digits always fit the fields; datetime_valid checks the ranges. */
    *t = (evt_datetime){.year = (uint16_t)year,
                        .month = (uint8_t)month,
                        .day = (uint8_t)day,
                        .hour = (uint8_t)hour,
                        .minute = (uint8_t)minute,
                        .second = (uint8_t)second};
    return datetime_valid(t);
}

evt_err evt_msgid_validate(const char *msgid, const char *fixmedins_code)
{
    evt_datetime t;
    unsigned sequence;
    if (!msgid_split(msgid, &t, &sequence)) {
        return EVT_ERR_PROTO_MSGID;
    }
    if (fixmedins_code != NULL && strncmp(msgid, fixmedins_code, 12) != 0) {
        return EVT_ERR_PROTO_MSGID;
    }
    return EVT_OK;
}

evt_err evt_msgid_init(evt_msgid_gen *gen, const char *fixmedins_code, uint8_t slot,
                       const char *last_msgid)
{
    if (gen == NULL) {
        return EVT_ERR_ARG;
    }
    memset(gen, 0, sizeof *gen);
    if (!code_valid(fixmedins_code) || slot > 9) {
        return EVT_ERR_CONFIG_INVALID;
    }
    memcpy(gen->fixmedins_code, fixmedins_code, 13);
    gen->slot = slot;
    if (last_msgid == NULL || last_msgid[0] == '\0') {
        return EVT_OK;
    }
    evt_datetime t;
    unsigned sequence;
    if (!msgid_split(last_msgid, &t, &sequence)) {
        return EVT_ERR_PROTO_MSGID;
    }
    if (strncmp(last_msgid, fixmedins_code, 12) != 0) {
        return EVT_OK;
    }
    /* The slot digit is not compared: even if it was re-provisioned, continuing after the
     * old (second, counter) is always safe. */
    gen->has_last = true;
    gen->last_time = t;
    gen->last_counter = (uint16_t)(sequence % 1000u);
    return EVT_OK;
}

evt_err evt_msgid_next(evt_msgid_gen *gen, const evt_datetime *now, char out[EVT_MSGID_BYTES])
{
    if (gen == NULL || out == NULL || !datetime_valid(now)) {
        return EVT_ERR_ARG;
    }
    if (gen->fixmedins_code[0] == '\0') {
        return EVT_ERR_CONFIG_INVALID; /* never initialised */
    }
    evt_datetime t = *now;
    unsigned counter = 0;
    if (gen->has_last && compare_time(now, &gen->last_time) <= 0) {
        /* Same second, or the clock went back: continue after the last id. */
        t = gen->last_time;
        counter = gen->last_counter + 1u;
        if (counter > 999u) {
            if (!next_second(&t)) {
                return EVT_ERR_PROTO_MSGID;
            }
            counter = 0;
        }
    }
    memcpy(out, gen->fixmedins_code, 12);
    char *p = out + 12;
    p = put_digits(p, t.year, 4);
    p = put_digits(p, t.month, 2);
    p = put_digits(p, t.day, 2);
    p = put_digits(p, t.hour, 2);
    p = put_digits(p, t.minute, 2);
    p = put_digits(p, t.second, 2);
    p = put_digits(p, gen->slot, 1);
    p = put_digits(p, counter, 3);
    *p = '\0';
    gen->has_last = true;
    gen->last_time = t;
    gen->last_counter = (uint16_t)counter;
    return EVT_OK;
}

bool evt_proto_is_settlement(const char *infno)
{
    static const char *const settlement[] = {"2102", "2103", "2207", "2208"};
    if (infno == NULL) {
        return false;
    }
    for (size_t i = 0; i < sizeof settlement / sizeof settlement[0]; i++) {
        if (strcmp(infno, settlement[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* ---- identity ---------------------------------------------------------------------------- */

typedef enum field_form {
    FORM_TEXT,      /* any UTF-8 text up to max bytes */
    FORM_CODE12,    /* fixmedins_code */
    FORM_DIGITS,    /* exactly max ASCII digits */
    FORM_OPTER_TYPE /* "1", "2" or "3" */
} field_form;

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

static bool all_digits(const char *s, size_t n)
{
    if (strlen(s) != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static bool form_ok(const char *value, field_form form, size_t max)
{
    size_t n = strlen(value);
    switch (form) {
    case FORM_CODE12:
        return code_valid(value);
    case FORM_DIGITS:
        return all_digits(value, max);
    case FORM_OPTER_TYPE:
        return n == 1 && value[0] >= '1' && value[0] <= '3';
    case FORM_TEXT:
    default:
        return n <= max && evt_json_text_valid(value, n);
    }
}

/* One identity key: missing when required and empty, invalid when it has the wrong form. */
static evt_err check_config(const char *name, const char *value, bool required, field_form form,
                            size_t max, evt_json_diag *diag)
{
    const char *v = or_empty(value);
    if (v[0] == '\0') {
        if (!required) {
            return EVT_OK;
        }
        evt_json_diag_set(diag, name);
        return EVT_ERR_CONFIG_MISSING;
    }
    if (!form_ok(v, form, max)) {
        evt_json_diag_set(diag, name);
        return EVT_ERR_CONFIG_INVALID;
    }
    return EVT_OK;
}

evt_err evt_proto_identity_check(const evt_proto_identity *id, evt_json_diag *diag)
{
    if (id == NULL) {
        return EVT_ERR_ARG;
    }
    const struct {
        const char *name;
        const char *value;
        bool required;
        field_form form;
        size_t max;
    } keys[] = {
        {"fixmedins_code", id->fixmedins_code, true, FORM_CODE12, 12},
        {"fixmedins_name", id->fixmedins_name, true, FORM_TEXT, 200},
        {"mdtrtarea_admvs", id->mdtrtarea_admvs, true, FORM_DIGITS, 6},
        {"recer_sys_code", id->recer_sys_code, false, FORM_TEXT, 10},
        {"dev_no", id->dev_no, false, FORM_TEXT, 100},
        {"dev_safe_info", id->dev_safe_info, false, FORM_TEXT, 2000},
        {"infver", id->infver, true, FORM_TEXT, 6},
        {"opter_type", id->opter_type, true, FORM_OPTER_TYPE, 1},
        {"opter", id->opter, true, FORM_TEXT, 30},
        {"opter_name", id->opter_name, true, FORM_TEXT, 50},
        {"office_id", id->office_id, false, FORM_TEXT, 30},
        {"office_name", id->office_name, false, FORM_TEXT, 100},
        {"business_type", id->business_type, false, FORM_DIGITS, 5},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        evt_err err = check_config(keys[i].name, keys[i].value, keys[i].required, keys[i].form,
                                   keys[i].max, diag);
        if (err != EVT_OK) {
            return err;
        }
    }
    if (id->msgid_slot > 9) {
        evt_json_diag_set(diag, "msgid_slot");
        return EVT_ERR_CONFIG_INVALID;
    }
    return EVT_OK;
}

/* ---- request envelopes ------------------------------------------------------------------ */

/* A caller-supplied value: required non-empty (unless optional) UTF-8 of at most max bytes. */
static evt_err check_arg(const char *name, const char *value, bool required, size_t max,
                         evt_json_diag *diag)
{
    const char *v = or_empty(value);
    size_t n = strlen(v);
    if ((required && n == 0) || n > max || !evt_json_text_valid(v, n)) {
        evt_json_diag_set(diag, name);
        return EVT_ERR_ARG;
    }
    return EVT_OK;
}

static bool region_valid(const char *s)
{
    return s != NULL && all_digits(s, 6);
}

/* Checks everything the envelope needs and writes it up to an open "input" object: the
 * envelope's members, in the platform's order, then "input":{. insuplc_admdvs is written as
 * given ("" when no person is involved). Nothing is written when a check fails. */
static evt_err request_begin(evt_json_writer *w, const evt_proto_identity *id,
                             const evt_proto_envelope *env, const char *infno, bool needs_sign_no,
                             const char *insuplc_admdvs, evt_json_diag *diag)
{
    if (w == NULL || id == NULL || env == NULL) {
        return EVT_ERR_ARG;
    }
    evt_err err = evt_proto_identity_check(id, diag);
    if (err != EVT_OK) {
        return err;
    }
    if (evt_msgid_validate(env->msgid, id->fixmedins_code) != EVT_OK) {
        evt_json_diag_set(diag, "msgid");
        return EVT_ERR_PROTO_MSGID;
    }
    char inf_time[EVT_INF_TIME_BYTES];
    if (evt_proto_format_time(&env->inf_time, inf_time) != EVT_OK) {
        evt_json_diag_set(diag, "inf_time");
        return EVT_ERR_ARG;
    }
    const char *sign_no = "";
    if (needs_sign_no) {
        sign_no = or_empty(env->sign_no);
        if (sign_no[0] == '\0') {
            evt_json_diag_set(diag, "sign_no");
            return EVT_ERR_NOT_SIGNED_IN;
        }
        err = check_arg("sign_no", sign_no, true, EVT_SIGN_NO_BYTES - 1, diag);
        if (err != EVT_OK) {
            return err;
        }
    }

    err = evt_json_write_object(w, NULL);
    const struct {
        const char *key;
        const char *value;
    } fields[] = {
        {"infno", infno},
        {"msgid", env->msgid},
        {"mdtrtarea_admvs", id->mdtrtarea_admvs},
        {"insuplc_admdvs", insuplc_admdvs},
        {"recer_sys_code", id->recer_sys_code},
        {"dev_no", id->dev_no},
        {"dev_safe_info", id->dev_safe_info},
        {"cainfo", ""},
        {"signtype", ""},
        {"infver", id->infver},
        {"opter_type", id->opter_type},
        {"opter", id->opter},
        {"opter_name", id->opter_name},
        {"inf_time", inf_time},
        {"fixmedins_code", id->fixmedins_code},
        {"fixmedins_name", id->fixmedins_name},
        {"sign_no", sign_no},
    };
    for (size_t i = 0; err == EVT_OK && i < sizeof fields / sizeof fields[0]; i++) {
        err = evt_json_write_string(w, fields[i].key, fields[i].value);
    }
    if (err == EVT_OK) {
        err = evt_json_write_object(w, "input");
    }
    return err;
}

/* Closes "input" and the envelope unless err; err (or the writer's error) is passed through so
 * builders can end every path with one call. */
static evt_err request_finish(evt_json_writer *w, evt_err err)
{
    if (err == EVT_OK) {
        err = evt_json_write_end(w);
    }
    if (err == EVT_OK) {
        err = evt_json_write_end(w);
    }
    return err;
}

/* Writes string fields in order; stops at the first failure. */
typedef struct kv {
    const char *key;
    const char *value;
} kv;

static evt_err add_strings(evt_json_writer *w, const kv *fields, size_t count)
{
    evt_err err = EVT_OK;
    for (size_t i = 0; err == EVT_OK && i < count; i++) {
        err = evt_json_write_string(w, fields[i].key, fields[i].value);
    }
    return err;
}

/* Ends a begun request whose "input" is one object of string fields. */
static evt_err request_finish_strings(evt_json_writer *w, const char *object_key, const kv *fields,
                                      size_t count)
{
    evt_err err = evt_json_write_object(w, object_key);
    if (err == EVT_OK) {
        err = add_strings(w, fields, count);
    }
    if (err == EVT_OK) {
        err = evt_json_write_end(w);
    }
    return request_finish(w, err);
}

/* The evt_proto_build_* forms: one request into out (cap bytes incl. the NUL), as
 * evt_json_print would have printed it. A check that fails is reported before a missing
 * buffer is. */
typedef struct to_buffer {
    evt_json_writer w;
    char *out;
    size_t cap;
} to_buffer;

static evt_json_writer *buffer_writer(to_buffer *b, char *out, size_t cap)
{
    b->out = out;
    b->cap = cap;
    /* Without a buffer the request is only counted: its checks still decide the error. */
    evt_json_writer_init(&b->w, out != NULL && cap > 0 ? (uint8_t *)out : NULL, cap, NULL, NULL);
    return &b->w;
}

static evt_err buffer_done(to_buffer *b, evt_err err, size_t *len)
{
    size_t n = 0;
    evt_err fin = evt_json_writer_finish(&b->w, &n);
    if (err == EVT_OK) {
        err = fin;
    }
    if (err == EVT_OK && (b->out == NULL || b->cap == 0)) {
        err = EVT_ERR_ARG;
    }
    if (err == EVT_OK && len != NULL) {
        *len = n;
    }
    return err;
}

evt_err evt_proto_write_sign_in(const evt_proto_identity *id, const evt_proto_envelope *env,
                                const char *mac, const char *ip, evt_json_writer *w,
                                evt_json_diag *diag)
{
    evt_err err = check_arg("mac", mac, false, 20, diag);
    if (err == EVT_OK) {
        err = check_arg("ip", ip, false, 40, diag);
    }
    if (err != EVT_OK) {
        return err;
    }
    err = request_begin(w, id, env, EVT_INFNO_SIGN_IN, false, "", diag);
    if (err != EVT_OK) {
        return err;
    }
    const kv fields[] = {{"opter_no", id->opter}, {"mac", mac}, {"ip", ip}};
    return request_finish_strings(w, "signIn", fields, sizeof fields / sizeof fields[0]);
}

evt_err evt_proto_build_sign_in(const evt_proto_identity *id, const evt_proto_envelope *env,
                                const char *mac, const char *ip, char *out, size_t cap, size_t *len,
                                evt_json_diag *diag)
{
    to_buffer b;
    evt_json_writer *w = buffer_writer(&b, out, cap);
    return buffer_done(&b, evt_proto_write_sign_in(id, env, mac, ip, w, diag), len);
}

evt_err evt_proto_write_sign_out(const evt_proto_identity *id, const evt_proto_envelope *env,
                                 evt_json_writer *w, evt_json_diag *diag)
{
    evt_err err = request_begin(w, id, env, EVT_INFNO_SIGN_OUT, true, "", diag);
    if (err != EVT_OK) {
        return err;
    }
    const kv fields[] = {{"sign_no", env->sign_no}, {"opter_no", id->opter}};
    return request_finish_strings(w, "signOut", fields, sizeof fields / sizeof fields[0]);
}

evt_err evt_proto_build_sign_out(const evt_proto_identity *id, const evt_proto_envelope *env,
                                 char *out, size_t cap, size_t *len, evt_json_diag *diag)
{
    to_buffer b;
    evt_json_writer *w = buffer_writer(&b, out, cap);
    return buffer_done(&b, evt_proto_write_sign_out(id, env, w, diag), len);
}

/* Longest QR payload accepted for ec.query; e-voucher codes are far shorter, and the
 * voucher classifier refuses long payloads before this point anyway. */
#define EC_QR_MAX 512

evt_err evt_proto_write_ec_query(const evt_proto_identity *id, const evt_proto_envelope *env,
                                 const char *qr_text, evt_json_writer *w, evt_json_diag *diag)
{
    evt_err err = check_arg("ecQrCode", qr_text, true, EC_QR_MAX, diag);
    if (err != EVT_OK) {
        return err;
    }
    if (id != NULL && or_empty(id->business_type)[0] == '\0') {
        evt_json_diag_set(diag, "business_type");
        return EVT_ERR_CONFIG_MISSING;
    }
    err = request_begin(w, id, env, EVT_INFNO_EC_QUERY, false, "", diag);
    if (err != EVT_OK) {
        return err;
    }
    const kv fields[] = {
        {"orgId", id->fixmedins_code}, {"businessType", id->business_type},
        {"operatorId", id->opter},     {"operatorName", id->opter_name},
        {"officeId", id->office_id},   {"officeName", id->office_name},
        {"ecQrCode", qr_text},
    };
    return request_finish_strings(w, "data", fields, sizeof fields / sizeof fields[0]);
}

evt_err evt_proto_build_ec_query(const evt_proto_identity *id, const evt_proto_envelope *env,
                                 const char *qr_text, char *out, size_t cap, size_t *len,
                                 evt_json_diag *diag)
{
    to_buffer b;
    evt_json_writer *w = buffer_writer(&b, out, cap);
    return buffer_done(&b, evt_proto_write_ec_query(id, env, qr_text, w, diag), len);
}

evt_err evt_proto_write_person_query(const evt_proto_identity *id, const evt_proto_envelope *env,
                                     const evt_voucher_info *voucher, evt_json_writer *w,
                                     evt_json_diag *diag)
{
    if (voucher == NULL) {
        return EVT_ERR_ARG;
    }
    evt_err err = check_arg("ecToken", voucher->ec_token, true, sizeof voucher->ec_token - 1, diag);
    if (err == EVT_OK) {
        err = check_arg("idNo", voucher->id_no, false, sizeof voucher->id_no - 1, diag);
    }
    if (err == EVT_OK) {
        err = check_arg("userName", voucher->user_name, false, sizeof voucher->user_name - 1, diag);
    }
    if (err != EVT_OK) {
        return err;
    }
    /* The insured region is known from the decoded voucher; the envelope carries it so a
     * cross-region (异地) query is routed right. */
    const char *region = region_valid(voucher->insu_org) ? voucher->insu_org : "";
    err = request_begin(w, id, env, EVT_INFNO_PERSON, true, region, diag);
    if (err != EVT_OK) {
        return err;
    }
    const kv fields[] = {
        {"mdtrt_cert_type", "01"},
        {"mdtrt_cert_no", voucher->ec_token},
        {"card_sn", ""},
        {"begntime", ""},
        {"psn_cert_type", "01"},
        {"certno", voucher->id_no},
        {"psn_name", voucher->user_name},
    };
    return request_finish_strings(w, "data", fields, sizeof fields / sizeof fields[0]);
}

evt_err evt_proto_build_person_query(const evt_proto_identity *id, const evt_proto_envelope *env,
                                     const evt_voucher_info *voucher, char *out, size_t cap,
                                     size_t *len, evt_json_diag *diag)
{
    to_buffer b;
    evt_json_writer *w = buffer_writer(&b, out, cap);
    return buffer_done(&b, evt_proto_write_person_query(id, env, voucher, w, diag), len);
}

/* strlen that stops at cap (strnlen is POSIX, not C11): cap means "no terminator". */
static size_t bounded_len(const char *s, size_t cap)
{
    size_t n = 0;
    while (n < cap && s[n] != '\0') {
        n++;
    }
    return n;
}

/* The order must be internally consistent before it is sent: the platform settles exactly
 * what it receives, and a wrong line total would be charged as sent. */
static evt_err check_order(const evt_order *order, evt_json_diag *diag)
{
    if (order->item_count == 0 || order->item_count > EVT_ORDER_MAX_ITEMS) {
        evt_json_diag_set(diag, "item_count");
        return EVT_ERR_ORDER_INVALID;
    }
    size_t id_len = bounded_len(order->order_id, sizeof order->order_id);
    /* fixmedins_setl_id is 30 characters on the wire, although an order id may hold 40. */
    if (id_len == 0 || id_len > 30 || !evt_json_text_valid(order->order_id, id_len)) {
        evt_json_diag_set(diag, "fixmedins_setl_id");
        return EVT_ERR_ORDER_INVALID;
    }
    evt_fen sum = 0;
    for (unsigned i = 0; i < order->item_count; i++) {
        /* Plain data: an order not built by evt_order_add_item is checked all the same. */
        const evt_order_line *line = &order->lines[i];
        const evt_order_item it = evt_order_item_at(order, i);
        const char *bad = NULL;
        size_t codg = strlen(it.med_list_codg);
        size_t medins = strlen(it.medins_list_codg);
        if (codg == 0 || codg > EVT_ORDER_CODE_MAX ||
            !evt_json_text_valid(it.med_list_codg, codg)) {
            bad = "med_list_codg";
        } else if (medins == 0 || medins > EVT_ORDER_MEDINS_CODE_MAX ||
                   !evt_json_text_valid(it.medins_list_codg, medins)) {
            bad = "medins_list_codg";
        } else if (line->quantity == 0) {
            bad = "cnt";
        } else if (line->price <= 0 || line->price > EVT_FEN_MAX / (evt_fen)line->quantity) {
            bad = "pric";
        } else if (sum > EVT_FEN_MAX - it.amount) {
            bad = "medfee_sumamt";
        }
        if (bad != NULL) {
            evt_json_diag_set(diag, bad);
            return EVT_ERR_ORDER_INVALID;
        }
        sum += it.amount;
    }
    if (sum != order->total) {
        evt_json_diag_set(diag, "medfee_sumamt");
        return EVT_ERR_ORDER_INVALID;
    }
    return EVT_OK;
}

/* The amounts a detail line of a drug sale (2101/2102) and of a visit (2204) both end with,
 * and the end of the line's object. */
static evt_err end_line_amounts(evt_json_writer *w, const evt_order_item *it)
{
    evt_err err = evt_json_write_money(w, "det_item_fee_sumamt", it->amount);
    if (err == EVT_OK) {
        err = evt_json_write_int(w, "cnt", (int64_t)it->quantity);
    }
    if (err == EVT_OK) {
        err = evt_json_write_money(w, "pric", it->price);
    }
    if (err == EVT_OK) {
        err = evt_json_write_end(w);
    }
    return err;
}

/* One drugdetail line. feedetl_sn is the line's 1-based position in decimal. */
static evt_err add_drug_detail(evt_json_writer *w, const evt_order_item *it, unsigned line,
                               const char *fee_time)
{
    char sn[12];
    snprintf(sn, sizeof sn, "%u", line);
    evt_err err = evt_json_write_object(w, NULL);
    if (err == EVT_OK) {
        const kv fields[] = {
            {"feedetl_sn", sn},
            {"rxno", ""},
            {"rx_circ_flag", "0"},
            {"fee_ocur_time", fee_time},
            {"med_list_codg", it->med_list_codg},
            {"medins_list_codg", it->medins_list_codg},
        };
        err = add_strings(w, fields, sizeof fields / sizeof fields[0]);
    }
    return err == EVT_OK ? end_line_amounts(w, it) : err;
}

evt_err evt_proto_write_drug_settle(const evt_proto_identity *id, const evt_proto_envelope *env,
                                    bool final, const evt_proto_sale *sale, evt_json_writer *w,
                                    evt_json_diag *diag)
{
    if (sale == NULL || sale->order == NULL || sale->person == NULL || sale->voucher == NULL ||
        sale->insurance == NULL) {
        return EVT_ERR_ARG;
    }
    const evt_order *order = sale->order;
    const evt_insurance *insu = sale->insurance;
    evt_err err = check_order(order, diag);
    if (err != EVT_OK) {
        return err;
    }
    err = check_arg("psn_no", sale->person->psn_no, true, sizeof sale->person->psn_no - 1, diag);
    if (err == EVT_OK) {
        err = check_arg("mdtrt_cert_no", sale->voucher->ec_token, true,
                        sizeof sale->voucher->ec_token - 1, diag);
    }
    if (err == EVT_OK) {
        err = check_arg("insutype", insu->insutype, true, sizeof insu->insutype - 1, diag);
    }
    if (err == EVT_OK && !region_valid(insu->insuplc_admdvs)) {
        evt_json_diag_set(diag, "insuplc_admdvs");
        err = EVT_ERR_ARG;
    }
    char begntime[EVT_INF_TIME_BYTES];
    if (err == EVT_OK && evt_proto_format_time(&sale->begntime, begntime) != EVT_OK) {
        evt_json_diag_set(diag, "begntime");
        err = EVT_ERR_ARG;
    }
    if (err != EVT_OK) {
        return err;
    }

    err = request_begin(w, id, env, final ? EVT_INFNO_SETTLE : EVT_INFNO_PRESETTLE, true,
                        insu->insuplc_admdvs, diag);
    if (err != EVT_OK) {
        return err;
    }
    err = evt_json_write_object(w, "druginfo");
    if (err == EVT_OK) {
        const kv head[] = {
            {"psn_no", sale->person->psn_no},
            {"mdtrt_cert_type", "01"},
            {"mdtrt_cert_no", sale->voucher->ec_token},
            {"begntime", begntime},
        };
        err = add_strings(w, head, sizeof head / sizeof head[0]);
    }
    if (err == EVT_OK) {
        err = evt_json_write_money(w, "medfee_sumamt", order->total);
    }
    if (err == EVT_OK) {
        const kv tail[] = {
            {"insutype", insu->insutype},
            {"acct_used_flag", order->use_personal_account ? "1" : "0"},
            {"med_type", "41"},
            {"dise_codg", ""},
            {"dise_name", ""},
            {"invono", ""},
            {"fixmedins_setl_id", order->order_id},
        };
        err = add_strings(w, tail, sizeof tail / sizeof tail[0]);
    }
    if (err == EVT_OK) {
        err = evt_json_write_end(w);
    }
    if (err == EVT_OK) {
        err = evt_json_write_array(w, "drugdetail");
    }
    for (unsigned i = 0; err == EVT_OK && i < order->item_count; i++) {
        const evt_order_item it = evt_order_item_at(order, i);
        err = add_drug_detail(w, &it, i + 1u, begntime);
    }
    if (err == EVT_OK) {
        err = evt_json_write_end(w);
    }
    return request_finish(w, err);
}

evt_err evt_proto_build_drug_settle(const evt_proto_identity *id, const evt_proto_envelope *env,
                                    bool final, const evt_proto_sale *sale, char *out, size_t cap,
                                    size_t *len, evt_json_diag *diag)
{
    to_buffer b;
    evt_json_writer *w = buffer_writer(&b, out, cap);
    return buffer_done(&b, evt_proto_write_drug_settle(id, env, final, sale, w, diag), len);
}

static evt_err check_person_region(const evt_proto_envelope *env, evt_json_diag *diag)
{
    if (env == NULL) {
        return EVT_ERR_ARG;
    }
    if (!region_valid(env->insuplc_admdvs)) {
        evt_json_diag_set(diag, "insuplc_admdvs");
        return EVT_ERR_ARG;
    }
    return EVT_OK;
}

/* 2103 and 2208 differ only by the visit's mdtrt_id (NULL: a sale's 2103). */
static evt_err write_cancel(const evt_proto_identity *id, const evt_proto_envelope *env,
                            const char *setl_id, const char *mdtrt_id, const char *psn_no,
                            evt_json_writer *w, evt_json_diag *diag)
{
    evt_err err = check_arg("setl_id", setl_id, true, 30, diag);
    if (err == EVT_OK && mdtrt_id != NULL) {
        err = check_arg("mdtrt_id", mdtrt_id, true, 30, diag);
    }
    if (err == EVT_OK) {
        err = check_arg("psn_no", psn_no, true, 30, diag);
    }
    if (err == EVT_OK) {
        err = check_person_region(env, diag);
    }
    if (err != EVT_OK) {
        return err;
    }
    err = request_begin(w, id, env,
                        mdtrt_id != NULL ? EVT_INFNO_VISIT_SETTLE_CANCEL : EVT_INFNO_SETTLE_CANCEL,
                        true, env->insuplc_admdvs, diag);
    if (err != EVT_OK) {
        return err;
    }
    const kv sale[] = {{"setl_id", setl_id}, {"psn_no", psn_no}};
    const kv visit[] = {{"setl_id", setl_id}, {"mdtrt_id", mdtrt_id}, {"psn_no", psn_no}};
    return mdtrt_id != NULL
               ? request_finish_strings(w, "data", visit, sizeof visit / sizeof visit[0])
               : request_finish_strings(w, "data", sale, sizeof sale / sizeof sale[0]);
}

evt_err evt_proto_write_settle_cancel(const evt_proto_identity *id, const evt_proto_envelope *env,
                                      const char *setl_id, const char *psn_no, evt_json_writer *w,
                                      evt_json_diag *diag)
{
    return write_cancel(id, env, setl_id, NULL, psn_no, w, diag);
}

evt_err evt_proto_write_visit_settle_cancel(const evt_proto_identity *id,
                                            const evt_proto_envelope *env, const char *setl_id,
                                            const char *mdtrt_id, const char *psn_no,
                                            evt_json_writer *w, evt_json_diag *diag)
{
    return write_cancel(id, env, setl_id, mdtrt_id, psn_no, w, diag);
}

evt_err evt_proto_build_settle_cancel(const evt_proto_identity *id, const evt_proto_envelope *env,
                                      const char *setl_id, const char *psn_no, char *out,
                                      size_t cap, size_t *len, evt_json_diag *diag)
{
    to_buffer b;
    evt_json_writer *w = buffer_writer(&b, out, cap);
    return buffer_done(&b, evt_proto_write_settle_cancel(id, env, setl_id, psn_no, w, diag), len);
}

evt_err evt_proto_write_reversal(const evt_proto_identity *id, const evt_proto_envelope *env,
                                 const char *psn_no, const char *omsgid, const char *oinfno,
                                 evt_json_writer *w, evt_json_diag *diag)
{
    evt_err err = check_arg("psn_no", psn_no, true, 30, diag);
    if (err == EVT_OK && (id == NULL || evt_msgid_validate(omsgid, id->fixmedins_code) != EVT_OK)) {
        evt_json_diag_set(diag, "omsgid");
        err = EVT_ERR_ARG;
    }
    if (err == EVT_OK) {
        err = check_arg("oinfno", oinfno, true, 8, diag);
    }
    if (err == EVT_OK) {
        err = check_person_region(env, diag);
    }
    if (err != EVT_OK) {
        return err;
    }
    err = request_begin(w, id, env, EVT_INFNO_REVERSAL, true, env->insuplc_admdvs, diag);
    if (err != EVT_OK) {
        return err;
    }
    const kv fields[] = {{"psn_no", psn_no}, {"omsgid", omsgid}, {"oinfno", oinfno}};
    return request_finish_strings(w, "data", fields, sizeof fields / sizeof fields[0]);
}

evt_err evt_proto_build_reversal(const evt_proto_identity *id, const evt_proto_envelope *env,
                                 const char *psn_no, const char *omsgid, const char *oinfno,
                                 char *out, size_t cap, size_t *len, evt_json_diag *diag)
{
    to_buffer b;
    evt_json_writer *w = buffer_writer(&b, out, cap);
    return buffer_done(&b, evt_proto_write_reversal(id, env, psn_no, omsgid, oinfno, w, diag), len);
}

/* ---- the outpatient visit (2201-2207) ------------------------------------------------------ */

/* One feedetail line of a 2204. */
static evt_err add_fee_line(evt_json_writer *w, const evt_proto_visit *v, const evt_order_item *it,
                            uint32_t sn, const char *fee_time)
{
    char sn_text[12];
    snprintf(sn_text, sizeof sn_text, "%lu", (unsigned long)sn);
    evt_err err = evt_json_write_object(w, NULL);
    if (err == EVT_OK) {
        const kv fields[] = {
            {"feedetl_sn", sn_text},
            {"mdtrt_id", v->mdtrt_id},
            {"psn_no", v->psn_no},
            {"chrg_bchno", v->chrg_bchno},
            {"med_type", v->med_type},
            {"fee_ocur_time", fee_time},
            {"med_list_codg", it->med_list_codg},
            {"medins_list_codg", it->medins_list_codg},
        };
        err = add_strings(w, fields, sizeof fields / sizeof fields[0]);
    }
    return err == EVT_OK ? end_line_amounts(w, it) : err;
}

/* The fields every request of a visit carries are checked once, whatever the infno takes. */
static evt_err check_visit(const evt_proto_envelope *env, const char *infno,
                           const evt_proto_visit *v, char begntime[EVT_INF_TIME_BYTES],
                           evt_json_diag *diag)
{
    evt_err err = check_person_region(env, diag);
    if (err == EVT_OK) {
        err = check_arg("psn_no", v->psn_no, true, 30, diag);
    }
    bool registering = strcmp(infno, EVT_INFNO_VISIT_REGISTER) == 0;
    if (err == EVT_OK) {
        err = check_arg("mdtrt_id", v->mdtrt_id, !registering, 30, diag);
    }
    if (err == EVT_OK) {
        /* 2201 and 2202 are about the registration alone. */
        err = check_arg("med_type", v->med_type, strchr("3467", infno[3]) != NULL, 6, diag);
    }
    const kv optional[] = {
        {"ipt_otp_no", v->ipt_otp_no},  {"atddr_no", v->atddr_no},
        {"dr_name", v->dr_name},        {"dept_code", v->dept_code},
        {"dept_name", v->dept_name},    {"caty", v->caty},
        {"dise_codg", v->dise_codg},    {"dise_name", v->dise_name},
        {"chrg_bchno", v->chrg_bchno},  {"insutype", v->insutype},
        {"mdtrt_cert_no", v->ec_token},
    };
    for (size_t i = 0; err == EVT_OK && i < sizeof optional / sizeof optional[0]; i++) {
        err = check_arg(optional[i].key, optional[i].value, false, 100, diag);
    }
    if (err == EVT_OK && evt_proto_format_time(&v->begntime, begntime) != EVT_OK) {
        evt_json_diag_set(diag, "begntime");
        err = EVT_ERR_ARG;
    }
    if (err == EVT_OK && strcmp(infno, EVT_INFNO_VISIT_FEES) == 0) {
        err = v->batch != NULL ? check_order(v->batch, diag) : EVT_ERR_ARG;
    }
    return err;
}

evt_err evt_proto_write_visit(const evt_proto_identity *id, const evt_proto_envelope *env,
                              const char *infno, const evt_proto_visit *v, evt_json_writer *w,
                              evt_json_diag *diag)
{
    if (v == NULL || infno == NULL) {
        return EVT_ERR_ARG;
    }
    char begntime[EVT_INF_TIME_BYTES];
    evt_err err = check_visit(env, infno, v, begntime, diag);
    if (err == EVT_OK) {
        err = request_begin(w, id, env, infno, true, env->insuplc_admdvs, diag);
    }
    if (err != EVT_OK) {
        return err;
    }
    const char *acct = v->use_personal_account ? "1" : "0";
    switch (infno[3]) {
    case '1': {
        const kv f[] = {{"psn_no", v->psn_no},
                        {"insutype", v->insutype},
                        {"begntime", begntime},
                        {"mdtrt_cert_type", "01"},
                        {"mdtrt_cert_no", v->ec_token},
                        {"ipt_otp_no", v->ipt_otp_no},
                        {"atddr_no", v->atddr_no},
                        {"dr_name", v->dr_name},
                        {"dept_code", v->dept_code},
                        {"dept_name", v->dept_name},
                        {"caty", v->caty}};
        return request_finish_strings(w, "data", f, sizeof f / sizeof f[0]);
    }
    case '2': {
        const kv f[] = {
            {"psn_no", v->psn_no}, {"mdtrt_id", v->mdtrt_id}, {"ipt_otp_no", v->ipt_otp_no}};
        return request_finish_strings(w, "data", f, sizeof f / sizeof f[0]);
    }
    case '3': {
        const kv f[] = {{"mdtrt_id", v->mdtrt_id},  {"psn_no", v->psn_no},
                        {"med_type", v->med_type},  {"begntime", begntime},
                        {"main_cond_dscr", ""},     {"dise_codg", v->dise_codg},
                        {"dise_name", v->dise_name}};
        err = request_finish_strings(w, "mdtrtinfo", f, sizeof f / sizeof f[0]);
        return err;
    }
    case '4':
        err = evt_json_write_array(w, "feedetail");
        for (unsigned i = 0; err == EVT_OK && i < v->batch->item_count; i++) {
            const evt_order_item it = evt_order_item_at(v->batch, i);
            err = add_fee_line(w, v, &it, v->first_sn + i, begntime);
        }
        if (err == EVT_OK) {
            err = evt_json_write_end(w);
        }
        return request_finish(w, err);
    case '5': {
        const kv f[] = {
            {"mdtrt_id", v->mdtrt_id}, {"chrg_bchno", v->chrg_bchno}, {"psn_no", v->psn_no}};
        return request_finish_strings(w, "data", f, sizeof f / sizeof f[0]);
    }
    default: /* 2206, 2207 */
        err = evt_json_write_object(w, "data");
        if (err == EVT_OK) {
            const kv head[] = {{"psn_no", v->psn_no},
                               {"mdtrt_cert_type", "01"},
                               {"mdtrt_cert_no", v->ec_token},
                               {"med_type", v->med_type}};
            err = add_strings(w, head, sizeof head / sizeof head[0]);
        }
        if (err == EVT_OK) {
            err = evt_json_write_money(w, "medfee_sumamt", v->medfee_sumamt);
        }
        if (err == EVT_OK) {
            const kv tail[] = {{"psn_setlway", "01"},
                               {"mdtrt_id", v->mdtrt_id},
                               {"chrg_bchno", v->chrg_bchno},
                               {"insutype", v->insutype},
                               {"acct_used_flag", acct}};
            err = add_strings(w, tail, sizeof tail / sizeof tail[0]);
        }
        if (err == EVT_OK) {
            err = evt_json_write_end(w);
        }
        return request_finish(w, err);
    }
}

/* The period, clearing type and institution 3201 and 3202 share. */
static evt_err recon_period(evt_json_writer *w, const evt_proto_recon *r)
{
    const kv fields[] = {{"clr_type", r->clr_type},
                         {"setl_optins", r->setl_optins},
                         {"stmt_begndate", r->begndate},
                         {"stmt_enddate", r->enddate}};
    return add_strings(w, fields, sizeof fields / sizeof fields[0]);
}

evt_err evt_proto_write_recon_totals(const evt_proto_identity *id, const evt_proto_envelope *env,
                                     const evt_proto_recon *r, evt_json_writer *w,
                                     evt_json_diag *diag)
{
    evt_err err = request_begin(w, id, env, EVT_INFNO_RECON_TOTALS, true, "", diag);
    if (err == EVT_OK) {
        err = evt_json_write_object(w, "data");
    }
    if (err == EVT_OK) {
        err = evt_json_write_string(w, "insutype", r->insutype);
    }
    if (err == EVT_OK) {
        err = recon_period(w, r);
    }
    if (err == EVT_OK) {
        err = evt_json_write_money(w, "medfee_sumamt", r->total);
    }
    if (err == EVT_OK) {
        err = evt_json_write_money(w, "fund_pay_sumamt", r->fund);
    }
    if (err == EVT_OK) {
        err = evt_json_write_money(w, "acct_pay", r->account);
    }
    if (err == EVT_OK) {
        err = evt_json_write_int(w, "fixmedins_setl_cnt", (int64_t)r->count);
    }
    if (err == EVT_OK) {
        err = evt_json_write_end(w);
    }
    return request_finish(w, err);
}

evt_err evt_proto_write_recon_detail(const evt_proto_identity *id, const evt_proto_envelope *env,
                                     const evt_proto_recon *r, evt_proto_recon_lines_fn lines,
                                     void *ctx, evt_json_writer *w, evt_json_diag *diag)
{
    evt_err err = request_begin(w, id, env, EVT_INFNO_RECON_DETAIL, true, "", diag);
    if (err == EVT_OK) {
        err = evt_json_write_object(w, "data");
    }
    if (err == EVT_OK) {
        err = recon_period(w, r);
    }
    if (err == EVT_OK) {
        err = evt_json_write_end(w);
    }
    if (err == EVT_OK) {
        err = evt_json_write_array(w, "detail");
    }
    if (err == EVT_OK) {
        err = lines(ctx, w);
    }
    if (err == EVT_OK) {
        err = evt_json_write_end(w);
    }
    return request_finish(w, err);
}

evt_err evt_proto_write_recon_line(evt_json_writer *w, const char *setl_id, bool refunded,
                                   evt_fen total, evt_fen fund, evt_fen account)
{
    evt_err err = evt_json_write_object(w, NULL);
    const kv fields[] = {{"setl_id", setl_id}, {"refd_setl_flag", refunded ? "1" : "0"}};
    if (err == EVT_OK) {
        err = add_strings(w, fields, 2);
    }
    if (err == EVT_OK) {
        err = evt_json_write_money(w, "medfee_sumamt", total);
    }
    if (err == EVT_OK) {
        err = evt_json_write_money(w, "fund_pay_sumamt", fund);
    }
    if (err == EVT_OK) {
        err = evt_json_write_money(w, "acct_pay", account);
    }
    return err == EVT_OK ? evt_json_write_end(w) : err;
}
