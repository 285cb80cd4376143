/*
 * Fuzz target: every platform answer (evt_proto, include/evt/proto.h).
 *
 * The input is a response body. evt_proto_response_parse, then every typed parser on the
 * same envelope: ack, 9001 sign-in, ec.query, 1101 person (+ the insurance choice with several
 * preferences), 2101/2102/2103 settlements. Invariants:
 * - results are only the documented errors; a refused envelope owns nothing;
 * - diag only ever names a field (letters, digits, '_', '.', '[', ']'): never a value;
 * - copied texts are terminated and valid UTF-8;
 * - infcode != 0: every typed parser says PLATFORM_REJECTED;
 * - an accepted settlement adds up (recomputed here), has the signs of its kind, the sale's
 *   person and total, and amounts equal to the body's texts read by the reference grammar;
 *   the same body with the total one fen off is MONEY_MISMATCH, with another person
 *   PERSON_MISMATCH;
 * - the insurance choice follows the documented preference order;
 * - the arena is empty after evt_proto_response_free.
 * Differential, since answers are read while they arrive (evt_jstream, no tree):
 * - against the tree parser (evt_json_parse): a body the streaming reader calls malformed is
 *   refused by the tree parser too (or is not an object), and a body the tree parser refuses
 *   is malformed for the streaming reader;
 * - against itself: the same body fed in random pieces (1 byte up to all of it, as TLS records
 *   would cut it) gives the same result, the same envelope and the same typed outputs.
 */
#include <stdio.h>
#include <string.h>

#include "evt/proto.h"
#include "fuzz_support.h"

static void check_diag(const evt_json_diag *diag)
{
    size_t n = strnlen(diag->field, sizeof diag->field);
    FUZZ_CHECK(n < sizeof diag->field, "diag not terminated");
    for (size_t i = 0; i < n; i++) {
        char c = diag->field[i];
        bool name = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '[' || c == ']';
        FUZZ_CHECK(name, "diag \"%s\" is not a field name", diag->field);
    }
}

static void check_text(const char *field, size_t size)
{
    size_t n = strnlen(field, size);
    FUZZ_CHECK(n < size, "text not terminated");
    FUZZ_CHECK(fuzz_utf8_valid((const uint8_t *)field, n), "text cut inside a character");
}

#define CHECK_TEXT(field) check_text((field), sizeof(field))

static bool is_error(evt_err err, const evt_err *allowed, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (err == allowed[i]) {
            return true;
        }
    }
    return false;
}

#define CHECK_RESULT(err, ...)                                                                     \
    do {                                                                                           \
        const evt_err allowed_[] = {EVT_OK, __VA_ARGS__};                                          \
        FUZZ_CHECK(is_error((err), allowed_, sizeof allowed_ / sizeof allowed_[0]), "%s",          \
                   evt_err_name(err));                                                             \
    } while (0)

/* ---- typed parsers ----------------------------------------------------------------------- */

static void check_sign_in(const evt_proto_response *resp)
{
    char sign_no[EVT_SIGN_NO_BYTES];
    evt_json_diag diag = {{0}};
    evt_err err = evt_proto_parse_sign_in(resp, sign_no, &diag);
    CHECK_RESULT(err, EVT_ERR_PLATFORM_REJECTED, EVT_ERR_PROTO_FIELD_MISSING,
                 EVT_ERR_PROTO_FIELD_INVALID);
    check_diag(&diag);
    CHECK_TEXT(sign_no);
    FUZZ_CHECK((err == EVT_OK) == (sign_no[0] != '\0'), "sign_no with %s", evt_err_name(err));
}

static void check_ec_query(const evt_proto_response *resp)
{
    evt_voucher_info v;
    evt_json_diag diag = {{0}};
    evt_err err = evt_proto_parse_ec_query(resp, &v, &diag);
    CHECK_RESULT(err, EVT_ERR_PLATFORM_REJECTED, EVT_ERR_PROTO_FIELD_MISSING,
                 EVT_ERR_PROTO_FIELD_INVALID);
    check_diag(&diag);
    if (err != EVT_OK) {
        return;
    }
    CHECK_TEXT(v.ec_token);
    CHECK_TEXT(v.id_no);
    CHECK_TEXT(v.user_name);
    CHECK_TEXT(v.id_type);
    CHECK_TEXT(v.insu_org);
    CHECK_TEXT(v.ec_index_no);
    CHECK_TEXT(v.holder_name);
    CHECK_TEXT(v.holder_id_no);
    FUZZ_CHECK(v.ec_token[0] && v.id_no[0] && v.user_name[0], "required identity field empty");
    FUZZ_CHECK(!v.via_family_account || (v.holder_name[0] && v.holder_id_no[0]),
               "family account code without its holder");
}

static bool normal(const evt_insurance *insu)
{
    return strcmp(insu->psn_insu_stas, "1") == 0;
}

static void check_choice(const evt_person *p, const char *preferred)
{
    const evt_insurance *chosen = (const evt_insurance *)1;
    evt_err err = evt_proto_select_insurance(p, preferred, &chosen);
    const evt_insurance *want = NULL;
    for (int pass = 0; pass < 3 && want == NULL; pass++) {
        for (size_t i = 0; i < p->insu_count && want == NULL; i++) {
            const evt_insurance *in = &p->insu[i];
            bool match = pass == 0 ? preferred != NULL && preferred[0] != '\0' &&
                                         strcmp(in->insutype, preferred) == 0
                         : pass == 1 ? strcmp(in->insutype, "310") == 0
                                     : true;
            if (normal(in) && match) {
                want = in;
            }
        }
    }
    if (want != NULL) {
        FUZZ_CHECK(err == EVT_OK && chosen == want, "chose %s, want entry %td", evt_err_name(err),
                   want - p->insu);
    } else if (p->insu_count > 0) {
        FUZZ_CHECK(err == EVT_ERR_INSURANCE_SUSPENDED && chosen == &p->insu[0],
                   "no normal entry: %s", evt_err_name(err));
    } else {
        FUZZ_CHECK(err == EVT_ERR_INSURANCE_NONE && chosen == NULL, "no entry: %s",
                   evt_err_name(err));
    }
}

static void check_person(const evt_proto_response *resp)
{
    evt_person p;
    evt_json_diag diag = {{0}};
    evt_err err = evt_proto_parse_person(resp, &p, &diag);
    CHECK_RESULT(err, EVT_ERR_PLATFORM_REJECTED, EVT_ERR_PROTO_FIELD_MISSING,
                 EVT_ERR_PROTO_FIELD_INVALID, EVT_ERR_MONEY_INVALID);
    check_diag(&diag);
    if (err != EVT_OK) {
        return;
    }
    FUZZ_CHECK(p.insu_count <= EVT_PERSON_MAX_INSU, "insu_count %u", p.insu_count);
    FUZZ_CHECK(p.psn_no[0] && p.psn_name[0] && p.age <= 200, "person fields");
    CHECK_TEXT(p.psn_no);
    CHECK_TEXT(p.psn_name);
    CHECK_TEXT(p.certno);
    for (size_t i = 0; i < p.insu_count; i++) {
        const evt_insurance *in = &p.insu[i];
        CHECK_TEXT(in->insutype);
        CHECK_TEXT(in->psn_insu_stas);
        CHECK_TEXT(in->insuplc_admdvs);
        CHECK_TEXT(in->emp_name);
        FUZZ_CHECK(in->insutype[0] && in->psn_insu_stas[0] && in->insuplc_admdvs[0],
                   "insurance entry %zu: required field empty", i);
        FUZZ_CHECK(evt_money_in_range(in->balc) && (in->balc_present || in->balc == 0), "balc");
    }
    check_choice(&p, NULL);
    check_choice(&p, "310");
    check_choice(&p, "390");
    check_choice(&p, p.insu_count > 0 ? p.insu[p.insu_count - 1].insutype : "");
}

/* ---- settlements ------------------------------------------------------------------------- */

/* The amount in the body as the reference grammar reads it; false when absent or unreadable. */
static bool body_amount(const cJSON *setl, const char *key, evt_fen *out, bool *present)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(setl, key);
    *out = 0;
    *present = false;
    if (item == NULL || cJSON_IsNull(item)) {
        return true;
    }
    if (!cJSON_IsString(item) && !evt_json_is_number(item)) {
        return false;
    }
    return fuzz_ref_money((const uint8_t *)item->valuestring, strlen(item->valuestring), out,
                          present);
}

/* The body's output as the tree parser reads it: the reference the streaming reader's values
 * are compared with (NULL when the tree could not be built). */
static const cJSON *ref_output;

static void check_settled(const evt_proto_response *resp, const evt_settlement *s,
                          evt_proto_settle_kind kind, evt_fen total, const char *psn_no)
{
    (void)resp;
    if (ref_output == NULL) {
        return;
    }
    const cJSON *setl = cJSON_GetObjectItemCaseSensitive(ref_output, "setlinfo");
    static const char *const keys[] = {"medfee_sumamt",   "fund_pay_sumamt", "acct_pay",
                                       "acct_mulaid_pay", "psn_cash_pay",    "hosp_part_amt",
                                       "psn_part_amt"};
    const evt_fen values[] = {s->medfee_sumamt,   s->fund_pay_sumamt, s->acct_pay,
                              s->acct_mulaid_pay, s->psn_cash_pay,    s->hosp_part_amt,
                              s->psn_part_amt};
    bool psn_part_present = false;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        evt_fen v = 0;
        bool present = false;
        FUZZ_CHECK(body_amount(setl, keys[i], &v, &present), "accepted unreadable %s", keys[i]);
        FUZZ_CHECK(v == values[i], "%s is %lld in the body, %lld parsed", keys[i], (long long)v,
                   (long long)values[i]);
        FUZZ_CHECK(evt_money_in_range(v), "%s beyond 16,2", keys[i]);
        FUZZ_CHECK(kind == EVT_PROTO_CANCEL ? v <= 0 : v >= 0, "%s has the wrong sign", keys[i]);
        if (strcmp(keys[i], "psn_part_amt") == 0) {
            psn_part_present = present;
        }
    }
    FUZZ_CHECK(s->fund_pay_sumamt + s->acct_pay + s->acct_mulaid_pay + s->psn_cash_pay +
                       s->hosp_part_amt ==
                   s->medfee_sumamt,
               "accepted settlement does not add up");
    FUZZ_CHECK(!psn_part_present ||
                   s->psn_part_amt == s->acct_pay + s->acct_mulaid_pay + s->psn_cash_pay,
               "accepted psn_part_amt is not the patient's share");
    FUZZ_CHECK(s->medfee_sumamt == (kind == EVT_PROTO_CANCEL ? -total : total), "total");
    FUZZ_CHECK(strcmp(s->psn_no, psn_no) == 0, "another person");
    FUZZ_CHECK(kind != EVT_PROTO_SETTLE || s->setl_id[0] != '\0', "2102 without setl_id");
    CHECK_TEXT(s->setl_id);
    CHECK_TEXT(s->psn_name);
    CHECK_TEXT(s->setl_time);
    FUZZ_CHECK(evt_proto_check_settlement(s, psn_part_present, kind, total, psn_no, NULL) == EVT_OK,
               "an accepted settlement fails its own check");
}

static void check_settlement(const evt_proto_response *resp, evt_proto_settle_kind kind)
{
    /* The sale's total and person as the body states them, so the fuzzer reaches the checks
     * after the parse; then one fen off and another person must be refused. */
    evt_fen total = 0;
    bool present = false;
    char psn_no[31] = "";
    const cJSON *setl = resp->output != NULL && ref_output != NULL
                            ? cJSON_GetObjectItemCaseSensitive(ref_output, "setlinfo")
                            : NULL;
    if (cJSON_IsObject(setl)) {
        evt_json_get_money(setl, "medfee_sumamt", false, &total, &present, NULL);
        evt_json_get_string(setl, "psn_no", false, psn_no, sizeof psn_no, NULL);
    }
    if (kind == EVT_PROTO_CANCEL) {
        total = -total;
    }
    evt_settlement s;
    evt_json_diag diag = {{0}};
    evt_err err = evt_proto_parse_settlement(resp, kind, total, psn_no, &s, &diag);
    CHECK_RESULT(err, EVT_ERR_PLATFORM_REJECTED, EVT_ERR_PROTO_FIELD_MISSING,
                 EVT_ERR_PROTO_FIELD_INVALID, EVT_ERR_MONEY_INVALID, EVT_ERR_MONEY_MISMATCH,
                 EVT_ERR_PROTO_PERSON_MISMATCH);
    check_diag(&diag);
    if (err != EVT_OK) {
        return;
    }
    check_settled(resp, &s, kind, total, psn_no);

    err = evt_proto_parse_settlement(resp, kind, total + 1, psn_no, &s, &diag);
    FUZZ_CHECK(err == EVT_ERR_MONEY_MISMATCH &&
                   strcmp(diag.field, "output.setlinfo.medfee_sumamt") == 0,
               "total one fen off: %s at %s", evt_err_name(err), diag.field);
    char other[32];
    snprintf(other, sizeof other, "%sX", psn_no);
    err = evt_proto_parse_settlement(resp, kind, total, other, &s, &diag);
    FUZZ_CHECK(err == EVT_ERR_PROTO_PERSON_MISMATCH, "another person: %s", evt_err_name(err));
}

/* ---- differential ------------------------------------------------------------------------- */

static void check_against_tree(const uint8_t *data, size_t len, evt_err err)
{
    cJSON *tree = NULL;
    evt_err terr = evt_json_parse((const char *)data, len, &tree);
    if (terr == EVT_ERR_NOMEM || err == EVT_ERR_NOMEM || err == EVT_ERR_JSON_TOO_LARGE) {
        evt_json_free(tree);
        return;
    }
    bool tree_object = terr == EVT_OK && cJSON_IsObject(tree);
    evt_json_free(tree);
    if (err == EVT_ERR_JSON_MALFORMED) {
        FUZZ_CHECK(!tree_object, "streaming reader refused a JSON object the tree parser took");
    }
    if (terr == EVT_ERR_JSON_MALFORMED) {
        FUZZ_CHECK(err == EVT_ERR_JSON_MALFORMED,
                   "streaming reader took what the tree parser "
                   "refused: %s",
                   evt_err_name(err));
    }
}

/* What a reader of the answer can see; compared between whole and piecewise reads. */
typedef struct seen {
    evt_err err;
    evt_json_diag diag;
    int64_t infcode;
    char texts[3][EVT_PROTO_MSG_BYTES];
    evt_err person_err, settle_err, fees_err;
    evt_person person;
    evt_settlement settlement;
    /* The daily close's answers: 3201's verdict, 3202's differing settlements (a list reduced
     * while it arrives, like insuinfo). */
    evt_err recon_err, detail_err;
    bool balanced;
    char dscr[EVT_PROTO_MSG_BYTES];
    unsigned diff_count;
    uint32_t diff_total;
    evt_proto_recon_diff diffs[EVT_PROTO_RECON_DIFF_MAX];
    evt_fee_summary fees; /* a 2204 answer of one line of 1.00 */
} seen;

static void observe(evt_err err, evt_proto_response *resp, const evt_json_diag *diag, seen *out)
{
    memset(out, 0, sizeof *out);
    out->err = err;
    out->diag = *diag;
    if (err != EVT_OK) {
        return;
    }
    out->infcode = resp->infcode;
    snprintf(out->texts[0], sizeof out->texts[0], "%s", resp->inf_refmsgid);
    snprintf(out->texts[1], sizeof out->texts[1], "%s", resp->err_msg);
    snprintf(out->texts[2], sizeof out->texts[2], "%s", resp->warn_msg);
    evt_json_diag d;
    out->person_err = evt_proto_parse_person(resp, &out->person, &d);
    out->settle_err =
        evt_proto_parse_settlement(resp, EVT_PROTO_SETTLE, 0, "", &out->settlement, &d);
    out->recon_err = evt_proto_parse_recon_totals(resp, &out->balanced, out->dscr, &d);
    const evt_proto_recon_diff *diffs = NULL;
    out->detail_err =
        evt_proto_parse_recon_detail(resp, &diffs, &out->diff_count, &out->diff_total, &d);
    if (out->detail_err == EVT_OK) {
        FUZZ_CHECK(out->diff_count <= EVT_PROTO_RECON_DIFF_MAX &&
                       out->diff_count <= out->diff_total,
                   "3202 differences: %u kept of %u", out->diff_count, (unsigned)out->diff_total);
        memcpy(out->diffs, diffs, out->diff_count * sizeof *diffs);
        for (unsigned i = 0; i < out->diff_count; i++) {
            CHECK_TEXT(out->diffs[i].setl_id);
            CHECK_TEXT(out->diffs[i].rslt);
        }
    } else {
        out->diff_count = 0;
        out->diff_total = 0;
    }
    CHECK_TEXT(out->dscr);
    if (out->person_err != EVT_OK) {
        memset(&out->person, 0, sizeof out->person);
    }
    if (out->settle_err != EVT_OK) {
        memset(&out->settlement, 0, sizeof out->settlement);
    }
    /* The 2204 result[] is summed while it passes: the same verdict however it arrives. */
    out->fees_err = evt_proto_parse_fee_lines(resp, 1, 100, &out->fees, &d);
    if (out->fees_err != EVT_OK) {
        memset(&out->fees, 0, sizeof out->fees);
    } else {
        FUZZ_CHECK(out->fees.lines == 1 && out->fees.amount == 100 &&
                       out->fees.by_class[0] + out->fees.by_class[1] + out->fees.by_class[2] == 1 &&
                       out->fees.overlmt_amt <= 100 && out->fees.preselfpay_amt <= 100 &&
                       out->fees.fulamt_ownpay_amt <= 100,
                   "2204 summary");
    }
}

static void check_pieces(const uint8_t *data, size_t len, const seen *whole)
{
    uint32_t seed = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        seed = (seed ^ data[i]) * 16777619u;
    }
    fuzz_rng rng;
    fuzz_rng_seed(&rng, seed);
    evt_proto_response resp;
    evt_json_diag diag = {{0}};
    evt_err err = evt_proto_response_begin(&resp);
    if (err != EVT_OK) {
        return; /* NOMEM: nothing to compare */
    }
    for (size_t pos = 0; pos < len;) {
        size_t left = len - pos;
        size_t n = 1 + fuzz_rng_below(&rng, left < 64 ? (uint32_t)left : 64u);
        evt_proto_response_feed(&resp, data + pos, n);
        pos += n;
    }
    err = evt_proto_response_end(&resp, &diag);
    seen pieces;
    observe(err, &resp, &diag, &pieces);
    FUZZ_CHECK(pieces.err == whole->err && strcmp(pieces.diag.field, whole->diag.field) == 0,
               "in pieces: %s at %s, whole: %s at %s", evt_err_name(pieces.err), pieces.diag.field,
               evt_err_name(whole->err), whole->diag.field);
    FUZZ_CHECK(memcmp(&pieces, whole, sizeof pieces) == 0,
               "read in pieces, the answer differs from the whole read");
    evt_proto_response_free(&resp);
}

/* ---- the target -------------------------------------------------------------------------- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_setup(FUZZ_ARENA_BYTES);
    evt_proto_response resp;
    evt_json_diag diag = {{0}};
    evt_err err = evt_proto_response_parse((const char *)data, len, &resp, &diag);
    CHECK_RESULT(err, EVT_ERR_JSON_MALFORMED, EVT_ERR_JSON_TOO_LARGE, EVT_ERR_PROTO_FIELD_MISSING,
                 EVT_ERR_PROTO_FIELD_INVALID, EVT_ERR_NOMEM);
    check_diag(&diag);
    check_against_tree(data, len, err);
    seen whole;
    observe(err, &resp, &diag, &whole);
    check_pieces(data, len, &whole);
    if (err != EVT_OK) {
        FUZZ_CHECK(resp.root == NULL && resp.output == NULL, "refused envelope owns a tree");
        fuzz_arena_check_empty("proto (refused)");
        return 0;
    }
    FUZZ_CHECK(resp.infcode >= INT32_MIN && resp.infcode <= INT32_MAX, "infcode range");
    FUZZ_CHECK(resp.infcode == 0 || resp.output == NULL || resp.output == resp.root, "output");
    CHECK_TEXT(resp.inf_refmsgid);
    CHECK_TEXT(resp.err_msg);
    CHECK_TEXT(resp.warn_msg);

    evt_err ack = evt_proto_parse_ack(&resp);
    FUZZ_CHECK(ack == (resp.infcode == 0 ? EVT_OK : EVT_ERR_PLATFORM_REJECTED), "ack: %s",
               evt_err_name(ack));
    if (resp.infcode != 0) {
        char sign_no[EVT_SIGN_NO_BYTES];
        evt_person p;
        evt_settlement s;
        FUZZ_CHECK(evt_proto_parse_sign_in(&resp, sign_no, NULL) == EVT_ERR_PLATFORM_REJECTED &&
                       evt_proto_parse_person(&resp, &p, NULL) == EVT_ERR_PLATFORM_REJECTED &&
                       evt_proto_parse_settlement(&resp, EVT_PROTO_SETTLE, 0, "", &s, NULL) ==
                           EVT_ERR_PLATFORM_REJECTED,
                   "a refusal parsed as an answer");
    }
    cJSON *tree = NULL;
    ref_output = NULL;
    if (evt_json_parse((const char *)data, len, &tree) == EVT_OK) {
        ref_output = cJSON_GetObjectItemCaseSensitive(tree, "output");
    }
    check_sign_in(&resp);
    check_ec_query(&resp);
    check_person(&resp);
    check_settlement(&resp, EVT_PROTO_PRESETTLE);
    check_settlement(&resp, EVT_PROTO_SETTLE);
    check_settlement(&resp, EVT_PROTO_CANCEL);
    ref_output = NULL;
    evt_json_free(tree);
    evt_proto_response_free(&resp);
    fuzz_arena_check_empty("proto");
    return 0;
}
