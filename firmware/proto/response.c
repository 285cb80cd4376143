/* Response side of evt_proto: envelope, typed outputs, insurance choice, cross-checks. */
#include "evt/proto.h"

#include <stdio.h>
#include <string.h>

evt_err evt_proto_response_parse(const char *body, size_t len, evt_proto_response *out,
                                 evt_json_diag *diag)
{
    if (out == NULL || (body == NULL && len != 0)) {
        return EVT_ERR_ARG;
    }
    memset(out, 0, sizeof *out);
    evt_json_diag_set(diag, "");
    cJSON *root = NULL;
    evt_err err = evt_json_parse(body, len, &root);
    if (err != EVT_OK) {
        return err;
    }
    if (!cJSON_IsObject(root)) {
        evt_json_free(root);
        return EVT_ERR_JSON_MALFORMED;
    }
    /* infcode bounded to int32: real codes are small, and anything else is garbage. */
    err = evt_json_get_int(root, "infcode", true, INT32_MIN, INT32_MAX, &out->infcode, NULL, diag);
    if (err == EVT_OK && out->infcode == 0) {
        /* A refusal may carry output as "" or anything; a success must have an object, or
         * nothing ("" and null count as nothing: an acknowledgement such as 2601 needs no
         * output, and refusing it would keep a reversal retrying forever). */
        const cJSON *output = cJSON_GetObjectItemCaseSensitive(root, "output");
        bool empty = cJSON_IsString(output) && output->valuestring[0] == '\0';
        if (!empty) {
            err = evt_json_get_object(root, "output", false, &out->output, diag);
        }
    }
    if (err != EVT_OK) {
        evt_json_free(root);
        memset(out, 0, sizeof *out);
        return err;
    }
    /* Informational: a long or odd platform id must not turn a valid answer into an
     * unknown outcome, so it is cut rather than refused. */
    evt_json_get_text(root, "inf_refmsgid", out->inf_refmsgid, sizeof out->inf_refmsgid);
    evt_json_get_text(root, "err_msg", out->err_msg, sizeof out->err_msg);
    evt_json_get_text(root, "warn_msg", out->warn_msg, sizeof out->warn_msg);
    out->root = root;
    return EVT_OK;
}

void evt_proto_response_free(evt_proto_response *resp)
{
    if (resp != NULL) {
        evt_json_free(resp->root);
        resp->root = NULL;
        resp->output = NULL;
    }
}

evt_err evt_proto_parse_ack(const evt_proto_response *resp)
{
    if (resp == NULL || resp->root == NULL) {
        return EVT_ERR_ARG;
    }
    return resp->infcode == 0 ? EVT_OK : EVT_ERR_PLATFORM_REJECTED;
}

/* Success with an output object, then the named child object of output. */
static evt_err output_object(const evt_proto_response *resp, const char *key, const cJSON **obj,
                             evt_json_diag *diag)
{
    evt_err err = evt_proto_parse_ack(resp);
    if (err != EVT_OK) {
        return err;
    }
    if (resp->output == NULL) {
        evt_json_diag_set(diag, "output");
        return EVT_ERR_PROTO_FIELD_MISSING;
    }
    err = evt_json_get_object(resp->output, key, true, obj, diag);
    if (err != EVT_OK) {
        evt_json_diag_prefix(diag, "output");
    }
    return err;
}

/* A run of string getters on one object; path names the object for diag on failure. */
typedef struct str_field {
    const char *key;
    char *out;
    size_t cap;
    bool required;
} str_field;

static evt_err get_strings(const cJSON *obj, const str_field *fields, size_t count,
                           const char *path, evt_json_diag *diag)
{
    for (size_t i = 0; i < count; i++) {
        evt_err err = evt_json_get_string(obj, fields[i].key, fields[i].required, fields[i].out,
                                          fields[i].cap, diag);
        if (err != EVT_OK) {
            evt_json_diag_prefix(diag, path);
            return err;
        }
    }
    return EVT_OK;
}

evt_err evt_proto_parse_sign_in(const evt_proto_response *resp, char sign_no[EVT_SIGN_NO_BYTES],
                                evt_json_diag *diag)
{
    if (sign_no == NULL) {
        return EVT_ERR_ARG;
    }
    sign_no[0] = '\0';
    const cJSON *outb = NULL;
    evt_err err = output_object(resp, "signinoutb", &outb, diag);
    if (err != EVT_OK) {
        return err;
    }
    char tmp[EVT_SIGN_NO_BYTES];
    const str_field fields[] = {{"sign_no", tmp, sizeof tmp, true}};
    err = get_strings(outb, fields, 1, "output.signinoutb", diag);
    if (err == EVT_OK) {
        memcpy(sign_no, tmp, sizeof tmp);
    }
    return err;
}

evt_err evt_proto_parse_ec_query(const evt_proto_response *resp, evt_voucher_info *out,
                                 evt_json_diag *diag)
{
    if (out == NULL) {
        return EVT_ERR_ARG;
    }
    const cJSON *data = NULL;
    evt_err err = output_object(resp, "data", &data, diag);
    if (err != EVT_OK) {
        return err;
    }
    evt_voucher_info v;
    memset(&v, 0, sizeof v);
    char show_type[3];
    const str_field fields[] = {
        {"ecToken", v.ec_token, sizeof v.ec_token, true},
        {"idNo", v.id_no, sizeof v.id_no, true},
        {"userName", v.user_name, sizeof v.user_name, true},
        {"idType", v.id_type, sizeof v.id_type, false},
        {"insuOrg", v.insu_org, sizeof v.insu_org, false},
        {"ecIndexNo", v.ec_index_no, sizeof v.ec_index_no, false},
        {"ecShowType", show_type, sizeof show_type, false},
    };
    err = get_strings(data, fields, sizeof fields / sizeof fields[0], "output.data", diag);
    if (err != EVT_OK) {
        return err;
    }
    if (strcmp(show_type, "02") == 0) {
        /* 亲情账户代展码: the cashier must see whose app showed the code. */
        v.via_family_account = true;
        const str_field holder[] = {
            {"holderName", v.holder_name, sizeof v.holder_name, true},
            {"holderIdNo", v.holder_id_no, sizeof v.holder_id_no, true},
        };
        err = get_strings(data, holder, 2, "output.data", diag);
        if (err != EVT_OK) {
            return err;
        }
    } else if (show_type[0] != '\0' && strcmp(show_type, "01") != 0) {
        evt_json_diag_set(diag, "output.data.ecShowType");
        return EVT_ERR_PROTO_FIELD_INVALID;
    }
    *out = v;
    return EVT_OK;
}

/* age: number(4,1) in the national specification, so 45, "45", 45.6 and "45.6" all occur.
 * Whole years are kept (floored) without going through double. */
static evt_err get_age(const cJSON *obj, uint16_t *age, evt_json_diag *diag)
{
    *age = 0;
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, "age");
    if (item == NULL || cJSON_IsNull(item)) {
        return EVT_OK;
    }
    const char *text = NULL;
    if (cJSON_IsString(item)) {
        text = item->valuestring;
    } else {
        text = evt_json_number_text(item);
    }
    if (text == NULL) {
        evt_json_diag_set(diag, "age");
        return EVT_ERR_PROTO_FIELD_INVALID;
    }
    if (text[0] == '\0') {
        return EVT_OK;
    }
    unsigned years = 0;
    size_t i = 0;
    for (; text[i] >= '0' && text[i] <= '9'; i++) {
        years = years * 10u + (unsigned)(text[i] - '0');
        if (i >= 3 || years > 200u) {
            evt_json_diag_set(diag, "age");
            return EVT_ERR_PROTO_FIELD_INVALID;
        }
    }
    bool ok = i > 0 && !(text[0] == '0' && i > 1);
    if (ok && text[i] == '.') {
        size_t frac = ++i;
        while (text[i] >= '0' && text[i] <= '9') {
            i++;
        }
        ok = i > frac;
    }
    if (!ok || text[i] != '\0') {
        evt_json_diag_set(diag, "age");
        return EVT_ERR_PROTO_FIELD_INVALID;
    }
    *age = (uint16_t)years;
    return EVT_OK;
}

static bool insu_normal(const evt_insurance *insu)
{
    return strcmp(insu->psn_insu_stas, "1") == 0;
}

static evt_err parse_insurance(const cJSON *entry, evt_insurance *insu, evt_json_diag *diag)
{
    memset(insu, 0, sizeof *insu);
    if (!cJSON_IsObject(entry)) {
        evt_json_diag_set(diag, "");
        return EVT_ERR_PROTO_FIELD_INVALID;
    }
    const str_field fields[] = {
        {"insutype", insu->insutype, sizeof insu->insutype, true},
        {"psn_type", insu->psn_type, sizeof insu->psn_type, false},
        {"psn_insu_stas", insu->psn_insu_stas, sizeof insu->psn_insu_stas, true},
        {"insuplc_admdvs", insu->insuplc_admdvs, sizeof insu->insuplc_admdvs, true},
        {"paus_insu_date", insu->paus_insu_date, sizeof insu->paus_insu_date, false},
    };
    evt_err err = get_strings(entry, fields, sizeof fields / sizeof fields[0], "", diag);
    if (err != EVT_OK) {
        return err;
    }
    /* The employer's name is display text only; a long one is cut, not refused. */
    evt_json_get_text(entry, "emp_name", insu->emp_name, sizeof insu->emp_name);
    /* balc is "" for resident insurance (no personal account). */
    return evt_json_get_money(entry, "balc", false, &insu->balc, &insu->balc_present, diag);
}

static void diag_insuinfo_path(evt_json_diag *diag, size_t index)
{
    char path[32];
    snprintf(path, sizeof path, "output.insuinfo[%u]", (unsigned)index);
    evt_json_diag_prefix(diag, path);
}

evt_err evt_proto_parse_person(const evt_proto_response *resp, evt_person *out, evt_json_diag *diag)
{
    if (out == NULL) {
        return EVT_ERR_ARG;
    }
    const cJSON *base = NULL;
    evt_err err = output_object(resp, "baseinfo", &base, diag);
    if (err != EVT_OK) {
        return err;
    }
    evt_person p;
    memset(&p, 0, sizeof p);
    const str_field fields[] = {
        {"psn_no", p.psn_no, sizeof p.psn_no, true},
        {"psn_cert_type", p.psn_cert_type, sizeof p.psn_cert_type, false},
        {"certno", p.certno, sizeof p.certno, false},
        {"psn_name", p.psn_name, sizeof p.psn_name, true},
        {"gend", p.gend, sizeof p.gend, false},
        {"brdy", p.brdy, sizeof p.brdy, false},
    };
    err = get_strings(base, fields, sizeof fields / sizeof fields[0], "output.baseinfo", diag);
    if (err == EVT_OK) {
        err = get_age(base, &p.age, diag);
        if (err != EVT_OK) {
            evt_json_diag_prefix(diag, "output.baseinfo");
        }
    }
    if (err != EVT_OK) {
        return err;
    }

    const cJSON *list = NULL;
    err = evt_json_get_array(resp->output, "insuinfo", false, &list, diag);
    if (err != EVT_OK) {
        evt_json_diag_prefix(diag, "output");
        return err;
    }
    size_t index = 0;
    const cJSON *entry = NULL;
    cJSON_ArrayForEach(entry, list)
    {
        evt_insurance insu;
        err = parse_insurance(entry, &insu, diag);
        if (err != EVT_OK) {
            diag_insuinfo_path(diag, index);
            return err;
        }
        if (p.insu_count < EVT_PERSON_MAX_INSU) {
            p.insu[p.insu_count++] = insu;
        } else if (insu_normal(&insu)) {
            /* Full: a usable entry replaces one that could not be settled under anyway. */
            for (size_t k = 0; k < EVT_PERSON_MAX_INSU; k++) {
                if (!insu_normal(&p.insu[k])) {
                    p.insu[k] = insu;
                    break;
                }
            }
        }
        index++;
    }
    *out = p;
    return EVT_OK;
}

evt_err evt_proto_select_insurance(const evt_person *person, const char *preferred_insutype,
                                   const evt_insurance **out)
{
    if (person == NULL || out == NULL) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    size_t count =
        person->insu_count <= EVT_PERSON_MAX_INSU ? person->insu_count : EVT_PERSON_MAX_INSU;
    const evt_insurance *preferred = NULL, *employee = NULL, *any = NULL, *refused = NULL;
    for (size_t i = 0; i < count; i++) {
        const evt_insurance *insu = &person->insu[i];
        if (!insu_normal(insu)) {
            if (refused == NULL) {
                refused = insu;
            }
            continue;
        }
        if (preferred == NULL && preferred_insutype != NULL && preferred_insutype[0] != '\0' &&
            strcmp(insu->insutype, preferred_insutype) == 0) {
            preferred = insu;
        }
        if (employee == NULL && strcmp(insu->insutype, "310") == 0) {
            employee = insu;
        }
        if (any == NULL) {
            any = insu;
        }
    }
    const evt_insurance *chosen = preferred != NULL ? preferred : employee != NULL ? employee : any;
    if (chosen != NULL) {
        *out = chosen;
        return EVT_OK;
    }
    if (refused != NULL) {
        *out = refused;
        return EVT_ERR_INSURANCE_SUSPENDED;
    }
    return EVT_ERR_INSURANCE_NONE;
}

typedef struct amount_field {
    const char *key;
    evt_fen *out;
    bool required;
    bool *present;
} amount_field;

evt_err evt_proto_parse_settlement(const evt_proto_response *resp, evt_proto_settle_kind kind,
                                   evt_fen order_total, const char *psn_no, evt_settlement *out,
                                   evt_json_diag *diag)
{
    if (out == NULL) {
        return EVT_ERR_ARG;
    }
    const cJSON *setl = NULL;
    evt_err err = output_object(resp, "setlinfo", &setl, diag);
    if (err != EVT_OK) {
        return err;
    }
    evt_settlement s;
    memset(&s, 0, sizeof s);
    const str_field fields[] = {
        {"setl_id", s.setl_id, sizeof s.setl_id, false},
        {"mdtrt_id", s.mdtrt_id, sizeof s.mdtrt_id, false},
        {"psn_no", s.psn_no, sizeof s.psn_no, true},
        {"insutype", s.insutype, sizeof s.insutype, false},
        {"setl_time", s.setl_time, sizeof s.setl_time, false},
        {"medins_setl_id", s.medins_setl_id, sizeof s.medins_setl_id, false},
        {"clr_optins", s.clr_optins, sizeof s.clr_optins, false},
        {"clr_way", s.clr_way, sizeof s.clr_way, false},
        {"clr_type", s.clr_type, sizeof s.clr_type, false},
    };
    err = get_strings(setl, fields, sizeof fields / sizeof fields[0], "output.setlinfo", diag);
    if (err != EVT_OK) {
        return err;
    }
    /* Display text; cut rather than refuse a settlement over a long name. */
    evt_json_get_text(setl, "psn_name", s.psn_name, sizeof s.psn_name);

    bool psn_part_present = false;
    const amount_field amounts[] = {
        {"medfee_sumamt", &s.medfee_sumamt, true, NULL},
        {"fulamt_ownpay_amt", &s.fulamt_ownpay_amt, false, NULL},
        {"overlmt_selfpay", &s.overlmt_selfpay, false, NULL},
        {"preselfpay_amt", &s.preselfpay_amt, false, NULL},
        {"inscp_scp_amt", &s.inscp_scp_amt, false, NULL},
        {"fund_pay_sumamt", &s.fund_pay_sumamt, true, NULL},
        {"psn_part_amt", &s.psn_part_amt, false, &psn_part_present},
        {"acct_pay", &s.acct_pay, true, NULL},
        {"acct_mulaid_pay", &s.acct_mulaid_pay, false, NULL},
        {"psn_cash_pay", &s.psn_cash_pay, true, NULL},
        {"hosp_part_amt", &s.hosp_part_amt, false, NULL},
        {"balc", &s.balc, false, &s.balc_present},
    };
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        err = evt_json_get_money(setl, amounts[i].key, amounts[i].required, amounts[i].out,
                                 amounts[i].present, diag);
        if (err != EVT_OK) {
            evt_json_diag_prefix(diag, "output.setlinfo");
            return err;
        }
    }
    err = evt_proto_check_settlement(&s, psn_part_present, kind, order_total, psn_no, diag);
    if (err != EVT_OK) {
        evt_json_diag_prefix(diag, "output.setlinfo");
        return err;
    }
    *out = s;
    return EVT_OK;
}

static evt_err mismatch(evt_json_diag *diag, const char *field)
{
    evt_json_diag_set(diag, field);
    return EVT_ERR_MONEY_MISMATCH;
}

evt_err evt_proto_check_settlement(const evt_settlement *s, bool psn_part_present,
                                   evt_proto_settle_kind kind, evt_fen order_total,
                                   const char *psn_no, evt_json_diag *diag)
{
    if (s == NULL || psn_no == NULL) {
        return EVT_ERR_ARG;
    }
    if (kind == EVT_PROTO_SETTLE && s->setl_id[0] == '\0') {
        evt_json_diag_set(diag, "setl_id");
        return EVT_ERR_PROTO_FIELD_MISSING;
    }
    if (strcmp(s->psn_no, psn_no) != 0) {
        evt_json_diag_set(diag, "psn_no");
        return EVT_ERR_PROTO_PERSON_MISMATCH;
    }
    /* Every amount is within 16,2 (the parser guarantees it; a journalled record is checked
     * here again), so these sums of at most six terms cannot overflow int64. */
    const struct {
        const char *key;
        evt_fen value;
    } amounts[] = {
        {"medfee_sumamt", s->medfee_sumamt},     {"fulamt_ownpay_amt", s->fulamt_ownpay_amt},
        {"overlmt_selfpay", s->overlmt_selfpay}, {"preselfpay_amt", s->preselfpay_amt},
        {"inscp_scp_amt", s->inscp_scp_amt},     {"fund_pay_sumamt", s->fund_pay_sumamt},
        {"psn_part_amt", s->psn_part_amt},       {"acct_pay", s->acct_pay},
        {"acct_mulaid_pay", s->acct_mulaid_pay}, {"psn_cash_pay", s->psn_cash_pay},
        {"hosp_part_amt", s->hosp_part_amt},
    };
    bool cancel = kind == EVT_PROTO_CANCEL;
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        evt_fen v = amounts[i].value;
        if (!evt_money_in_range(v) || (!cancel && v < 0) || (cancel && v > 0)) {
            return mismatch(diag, amounts[i].key);
        }
    }
    evt_fen paid =
        s->fund_pay_sumamt + s->acct_pay + s->acct_mulaid_pay + s->psn_cash_pay + s->hosp_part_amt;
    if (paid != s->medfee_sumamt) {
        return mismatch(diag, "medfee_sumamt");
    }
    if (psn_part_present && s->psn_part_amt != s->acct_pay + s->acct_mulaid_pay + s->psn_cash_pay) {
        return mismatch(diag, "psn_part_amt");
    }
    if (s->medfee_sumamt != (cancel ? -order_total : order_total)) {
        return mismatch(diag, "medfee_sumamt");
    }
    return EVT_OK;
}
