/*
 * Response side of evt_proto: the answer read while it arrives, typed outputs, insurance
 * choice, cross-checks.
 *
 * The body is never held: evt_jstream hands over one token at a time, and only the members
 * the terminal uses (the schema below) are kept, each in a slot as large as the field the
 * typed parser copies it into. A 1101 insurance list is reduced to its EVT_PERSON_MAX_INSU
 * best entries as they pass; 2101/2102 setldetail and detlcutinfo lists are validated and
 * forgotten. So an answer of any length is read in sizeof(evt_proto_answer) + the parser.
 */
#include "evt/proto.h"

#include <stdio.h>
#include <string.h>

#include "evt/arena.h"
#include "evt/jstream.h"

/* What is kept of an answer: X(id, parent, key, room). room: bytes kept of the value's text
 * incl. the NUL, one more than the largest field it is copied into, so that "too long" and a
 * UTF-8 cut are decided exactly as on the whole text. Containers keep only their kind. */
#define ANSWER_SCHEMA(X)                                                                           \
    X(N_INFCODE, N_ROOT, "infcode", 24)                                                            \
    X(N_REFMSGID, N_ROOT, "inf_refmsgid", 66)                                                      \
    X(N_ERR_MSG, N_ROOT, "err_msg", EVT_PROTO_MSG_BYTES + 1)                                       \
    X(N_WARN_MSG, N_ROOT, "warn_msg", EVT_PROTO_MSG_BYTES + 1)                                     \
    X(N_OUTPUT, N_ROOT, "output", 1)                                                               \
    X(N_SIGNINOUTB, N_OUTPUT, "signinoutb", 1)                                                     \
    X(N_SIGN_NO, N_SIGNINOUTB, "sign_no", EVT_SIGN_NO_BYTES + 1)                                   \
    X(N_DATA, N_OUTPUT, "data", 1)                                                                 \
    X(N_EC_TOKEN, N_DATA, "ecToken", 130)                                                          \
    X(N_ID_NO, N_DATA, "idNo", 34)                                                                 \
    X(N_USER_NAME, N_DATA, "userName", EVT_NAME_BYTES + 1)                                         \
    X(N_ID_TYPE, N_DATA, "idType", 9)                                                              \
    X(N_INSU_ORG, N_DATA, "insuOrg", 8)                                                            \
    X(N_EC_INDEX_NO, N_DATA, "ecIndexNo", 66)                                                      \
    X(N_D_MDTRT_ID, N_DATA, "mdtrt_id", 32)                                                        \
    X(N_EC_SHOW_TYPE, N_DATA, "ecShowType", 4)                                                     \
    X(N_HOLDER_NAME, N_DATA, "holderName", EVT_NAME_BYTES + 1)                                     \
    X(N_HOLDER_ID_NO, N_DATA, "holderIdNo", 34)                                                    \
    X(N_D_STMT_RSLT, N_DATA, "stmt_rslt", 4)                                                       \
    X(N_D_STMT_DSCR, N_DATA, "stmt_rslt_dscr", EVT_PROTO_MSG_BYTES + 1)                            \
    X(N_BASEINFO, N_OUTPUT, "baseinfo", 1)                                                         \
    X(N_B_PSN_NO, N_BASEINFO, "psn_no", 32)                                                        \
    X(N_B_CERT_TYPE, N_BASEINFO, "psn_cert_type", 5)                                               \
    X(N_B_CERTNO, N_BASEINFO, "certno", 34)                                                        \
    X(N_B_PSN_NAME, N_BASEINFO, "psn_name", EVT_NAME_BYTES + 1)                                    \
    X(N_B_GEND, N_BASEINFO, "gend", 3)                                                             \
    X(N_B_BRDY, N_BASEINFO, "brdy", 12)                                                            \
    X(N_B_AGE, N_BASEINFO, "age", 64)                                                              \
    X(N_INSUINFO, N_OUTPUT, "insuinfo", 1)                                                         \
    X(N_INSU_ENTRY, N_INSUINFO, "", 1) /* each element, read one at a time */                      \
    X(N_I_INSUTYPE, N_INSU_ENTRY, "insutype", 8)                                                   \
    X(N_I_PSN_TYPE, N_INSU_ENTRY, "psn_type", 8)                                                   \
    X(N_I_STAS, N_INSU_ENTRY, "psn_insu_stas", 4)                                                  \
    X(N_I_INSUPLC, N_INSU_ENTRY, "insuplc_admdvs", 8)                                              \
    X(N_I_PAUS_DATE, N_INSU_ENTRY, "paus_insu_date", 12)                                           \
    X(N_I_EMP_NAME, N_INSU_ENTRY, "emp_name", 102)                                                 \
    X(N_I_BALC, N_INSU_ENTRY, "balc", 24)                                                          \
    X(N_SETLINFO, N_OUTPUT, "setlinfo", 1)                                                         \
    X(N_S_SETL_ID, N_SETLINFO, "setl_id", 32)                                                      \
    X(N_S_MDTRT_ID, N_SETLINFO, "mdtrt_id", 32)                                                    \
    X(N_S_PSN_NO, N_SETLINFO, "psn_no", 32)                                                        \
    X(N_S_INSUTYPE, N_SETLINFO, "insutype", 8)                                                     \
    X(N_S_SETL_TIME, N_SETLINFO, "setl_time", 21)                                                  \
    X(N_S_MEDINS_SETL_ID, N_SETLINFO, "medins_setl_id", 32)                                        \
    X(N_S_CLR_OPTINS, N_SETLINFO, "clr_optins", 8)                                                 \
    X(N_S_CLR_WAY, N_SETLINFO, "clr_way", 8)                                                       \
    X(N_S_CLR_TYPE, N_SETLINFO, "clr_type", 8)                                                     \
    X(N_S_PSN_NAME, N_SETLINFO, "psn_name", EVT_NAME_BYTES + 1)                                    \
    X(N_S_MEDFEE, N_SETLINFO, "medfee_sumamt", 24)                                                 \
    X(N_S_FULAMT, N_SETLINFO, "fulamt_ownpay_amt", 24)                                             \
    X(N_S_OVERLMT, N_SETLINFO, "overlmt_selfpay", 24)                                              \
    X(N_S_PRESELF, N_SETLINFO, "preselfpay_amt", 24)                                               \
    X(N_S_INSCP, N_SETLINFO, "inscp_scp_amt", 24)                                                  \
    X(N_S_FUND, N_SETLINFO, "fund_pay_sumamt", 24)                                                 \
    X(N_S_PSN_PART, N_SETLINFO, "psn_part_amt", 24)                                                \
    X(N_S_ACCT, N_SETLINFO, "acct_pay", 24)                                                        \
    X(N_S_MULAID, N_SETLINFO, "acct_mulaid_pay", 24)                                               \
    X(N_S_CASH, N_SETLINFO, "psn_cash_pay", 24)                                                    \
    X(N_S_HOSP, N_SETLINFO, "hosp_part_amt", 24)                                                   \
    X(N_S_BALC, N_SETLINFO, "balc", 24)                                                            \
    /* result[]: a 2204's fee lines or a 3202's differing settlements, read one element at a       \
     * time; an element's members are the union of both (an answer has only one of them). */       \
    X(N_RESULT, N_OUTPUT, "result", 1)                                                             \
    X(N_RESULT_ENTRY, N_RESULT, "", 1)                                                             \
    X(N_F_AMOUNT, N_RESULT_ENTRY, "det_item_fee_sumamt", 24)                                       \
    X(N_F_FULAMT, N_RESULT_ENTRY, "fulamt_ownpay_amt", 24)                                         \
    X(N_F_OVERLMT, N_RESULT_ENTRY, "overlmt_amt", 24)                                              \
    X(N_F_PRESELF, N_RESULT_ENTRY, "preselfpay_amt", 24)                                           \
    X(N_F_LEVEL, N_RESULT_ENTRY, "chrgitm_lv", 4)                                                  \
    X(N_R_SETL_ID, N_RESULT_ENTRY, "setl_id", 32)                                                  \
    X(N_R_STMT_RSLT, N_RESULT_ENTRY, "stmt_rslt", 4)

#define SCHEMA_ID(id, parent, key, room)    id,
#define SCHEMA_ROOM(id, parent, key, room)  +(room)
#define SCHEMA_ENTRY(id, parent, key, room) {parent, key, room},

typedef enum node_id {
    N_ROOT,
    ANSWER_SCHEMA(SCHEMA_ID) N_COUNT,
    N_NONE = 0xFF, /* a member the terminal does not use */
} node_id;

enum { POOL_BYTES = 1 ANSWER_SCHEMA(SCHEMA_ROOM) };

typedef struct schema_node {
    uint8_t parent;
    const char *key;
    uint16_t room;
} schema_node;

static const schema_node schema[N_COUNT] = {{N_NONE, "", 1}, ANSWER_SCHEMA(SCHEMA_ENTRY)};

/* Reading state: needed only while the body arrives (freed by evt_proto_response_end). */
typedef struct answer_reader {
    evt_jstream json;
    evt_jstream_keys keys;               /* duplicate members are refused */
    uint8_t open[EVT_JSTREAM_MAX_DEPTH]; /* schema node of each open container */
    uint8_t member;                      /* schema node of the value that comes next */
    uint16_t insu_seen;                  /* insuinfo elements begun */
    uint16_t entry_index;                /* index of the insuinfo entry being read */
    uint32_t fees_seen;                  /* 2204 result[] elements begun */
} answer_reader;

struct evt_proto_answer {
    answer_reader *reader;
    evt_json_value value[N_COUNT];
    char pool[POOL_BYTES];
    /* The kept list: no answer carries both (1101 insuinfo, 3202 result), so they share
     * their room; the first one met owns it, the other is counted as not usable. */
    uint8_t list_kind;
    union {
        /* The insurance list as it passed: the best entries. */
        evt_insurance insu[EVT_PERSON_MAX_INSU];
        /* 3202: the first differing settlements of the result list. */
        evt_proto_recon_diff diffs[EVT_PROTO_RECON_DIFF_MAX];
    };
    uint8_t insu_count;
    evt_err insu_err; /* or the list's first entry in error */
    evt_json_diag insu_diag;
    uint8_t diff_count;
    uint32_t diff_total; /* result elements, kept or not */
    /* The 2204 result[] as it passed: summed, or its first entry in error. */
    evt_fee_summary fees;
    evt_err fees_err;
    evt_json_diag fees_diag;
};

enum { LIST_NONE, LIST_INSU, LIST_DIFFS };

static const evt_json_value *value_of(const evt_proto_answer *a, node_id id)
{
    return &a->value[id];
}

/* Slots point into the pool; every one starts absent. */
static void slots_reset(evt_proto_answer *a, node_id first, node_id last)
{
    size_t offset = 0;
    for (unsigned id = 0; id < N_COUNT; id++) {
        if (id >= first && id <= last) {
            a->value[id] = (evt_json_value){EVT_JSON_ABSENT, a->pool + offset, 0, 0};
            a->pool[offset] = '\0';
        }
        offset += schema[id].room;
    }
}

static node_id find_child(node_id parent, const char *key)
{
    for (unsigned id = 1; id < N_COUNT; id++) {
        if (schema[id].parent == parent && strcmp(schema[id].key, key) == 0) {
            return (node_id)id;
        }
    }
    return N_NONE;
}

static void store(evt_proto_answer *a, node_id id, evt_jstream_event ev,
                  const evt_jstream_token *tok)
{
    evt_json_value *v = &a->value[id];
    size_t keep = tok->len < schema[id].room ? tok->len : schema[id].room - 1u;
    memcpy((char *)v->text, tok->text, keep);
    ((char *)v->text)[keep] = '\0';
    v->kind = evt_json_token_value(ev, tok).kind;
    v->len = keep;
    v->full_len = tok->full_len;
}

static void insurance_path(evt_json_diag *diag, unsigned index)
{
    char path[32];
    snprintf(path, sizeof path, "output.insuinfo[%u]", index);
    evt_json_diag_prefix(diag, path);
}

static evt_err parse_insurance(const evt_proto_answer *a, evt_insurance *insu, evt_json_diag *diag);

static bool insu_normal(const evt_insurance *insu)
{
    return strcmp(insu->psn_insu_stas, "1") == 0;
}

/* One insuinfo element has passed: kept, dropped, or the list's first error. */
static void insurance_done(evt_proto_answer *a, bool is_object, unsigned index)
{
    if (a->insu_err != EVT_OK) {
        return; /* only the first error is reported, as a reader of the whole list would */
    }
    if (a->list_kind == LIST_DIFFS) {
        a->insu_err = EVT_ERR_PROTO_FIELD_INVALID; /* a person list in a 3202 answer */
        insurance_path(&a->insu_diag, index);
        return;
    }
    evt_insurance insu;
    evt_err err = EVT_ERR_PROTO_FIELD_INVALID;
    evt_json_diag_set(&a->insu_diag, "");
    if (is_object) {
        err = parse_insurance(a, &insu, &a->insu_diag);
    }
    if (err != EVT_OK) {
        a->insu_err = err;
        insurance_path(&a->insu_diag, index);
        return;
    }
    a->list_kind = LIST_INSU;
    if (a->insu_count < EVT_PERSON_MAX_INSU) {
        a->insu[a->insu_count++] = insu;
    } else if (insu_normal(&insu)) {
        /* Full: a usable entry replaces one that could not be settled under anyway. */
        for (size_t k = 0; k < EVT_PERSON_MAX_INSU; k++) {
            if (!insu_normal(&a->insu[k])) {
                a->insu[k] = insu;
                break;
            }
        }
    }
}

/* One 2204 result[] element has passed: added to the summary, or the list's first error. */
static void fee_done(evt_proto_answer *a, bool is_object, uint32_t index)
{
    if (a->fees_err != EVT_OK) {
        return;
    }
    evt_json_diag *diag = &a->fees_diag;
    evt_err err = is_object ? EVT_OK : EVT_ERR_PROTO_FIELD_INVALID;
    evt_fen amounts[4] = {0};
    static const node_id ids[4] = {N_F_AMOUNT, N_F_FULAMT, N_F_OVERLMT, N_F_PRESELF};
    for (unsigned i = 0; err == EVT_OK && i < 4; i++) {
        err = evt_json_value_money(value_of(a, ids[i]), schema[ids[i]].key, i == 0, &amounts[i],
                                   NULL, diag);
        /* A part of a line (self-paid, over the ceiling) is never more than the line. */
        if (err == EVT_OK && (amounts[i] < 0 || amounts[i] > amounts[0])) {
            evt_json_diag_set(diag, schema[ids[i]].key);
            err = EVT_ERR_PROTO_FIELD_INVALID;
        }
    }
    char level[4] = "";
    if (err == EVT_OK) {
        err = evt_json_value_string(value_of(a, N_F_LEVEL), "chrgitm_lv", true, level, sizeof level,
                                    diag);
    }
    unsigned cls = (unsigned)(level[0] == '0' ? level[1] - '1' : 3);
    if (err == EVT_OK && (cls > 2 || level[2] != '\0')) {
        evt_json_diag_set(diag, "chrgitm_lv");
        err = EVT_ERR_PROTO_FIELD_INVALID;
    }
    evt_fee_summary *f = &a->fees;
    if (err == EVT_OK && (amounts[0] > EVT_FEN_MAX - f->amount)) {
        evt_json_diag_set(diag, "det_item_fee_sumamt");
        err = EVT_ERR_MONEY_MISMATCH;
    }
    if (err != EVT_OK) {
        char path[32];
        snprintf(path, sizeof path, "output.result[%lu]", (unsigned long)index);
        evt_json_diag_prefix(diag, path);
        a->fees_err = err;
        return;
    }
    /* Each part is at most its line, so the parts' sums stay within the lines' total. */
    f->lines++;
    f->by_class[cls]++;
    f->amount += amounts[0];
    f->fulamt_ownpay_amt += amounts[1];
    f->overlmt_amt += amounts[2];
    f->preselfpay_amt += amounts[3];
}

/* One 3202 result element has passed: the first EVT_PROTO_RECON_DIFF_MAX are kept. */
static void recon_diff_done(evt_proto_answer *a)
{
    a->diff_total++;
    if (a->list_kind == LIST_INSU) {
        return; /* counted: a 3202 parse of this answer sees differences it cannot name */
    }
    a->list_kind = LIST_DIFFS;
    if (a->diff_count < EVT_PROTO_RECON_DIFF_MAX) {
        evt_proto_recon_diff *d = &a->diffs[a->diff_count++];
        evt_json_value_text(value_of(a, N_R_SETL_ID), d->setl_id, sizeof d->setl_id);
        evt_json_value_text(value_of(a, N_R_STMT_RSLT), d->rslt, sizeof d->rslt);
    }
}

/* evt_jstream callback: follows the path and keeps the schema's members. */
static evt_err on_token(void *ctx, evt_jstream_event ev, const evt_jstream_token *tok)
{
    evt_proto_answer *a = ctx;
    answer_reader *r = a->reader;
    unsigned d = tok->depth;
    node_id parent = d == 0 ? N_NONE : (node_id)r->open[d - 1];

    if (ev == EVT_JSTREAM_KEY) {
        r->member =
            parent != N_NONE && tok->len == tok->full_len ? find_child(parent, tok->text) : N_NONE;
        return EVT_OK;
    }
    if (ev == EVT_JSTREAM_OBJECT_END || ev == EVT_JSTREAM_ARRAY_END) {
        if (r->open[d] == N_INSU_ENTRY) {
            insurance_done(a, true, r->entry_index);
        } else if (r->open[d] == N_RESULT_ENTRY) {
            /* Whichever answer this is, its reader looks only at its own summary. */
            fee_done(a, true, r->fees_seen - 1u);
            recon_diff_done(a);
        }
        return EVT_OK;
    }
    /* A value: whose is it? */
    node_id id = r->member;
    if (d == 0) {
        id = N_ROOT;
    } else if (parent == N_NONE) {
        id = N_NONE;
    } else if (parent == N_INSUINFO) {
        id = N_INSU_ENTRY; /* an element of the insurance list */
        unsigned index = r->insu_seen++;
        if (ev == EVT_JSTREAM_OBJECT_BEGIN) {
            r->entry_index = (uint16_t)index;
            slots_reset(a, N_INSU_ENTRY, N_I_BALC);
        } else {
            insurance_done(a, false, index);
            id = N_NONE;
        }
    } else if (parent == N_RESULT) {
        id = N_RESULT_ENTRY;
        r->fees_seen++;
        if (ev == EVT_JSTREAM_OBJECT_BEGIN) {
            slots_reset(a, N_RESULT_ENTRY, N_R_STMT_RSLT);
        } else {
            fee_done(a, false, r->fees_seen - 1u);
            a->diff_total++; /* not an object: still a difference the platform reported */
            id = N_NONE;
        }
    }
    r->member = N_NONE;
    if (id != N_NONE) {
        store(a, id, ev, tok);
    }
    if (ev == EVT_JSTREAM_OBJECT_BEGIN || ev == EVT_JSTREAM_ARRAY_BEGIN) {
        /* Members are followed only inside a container of the expected kind. */
        bool array_node = id == N_INSUINFO || id == N_RESULT;
        bool follow = id != N_NONE && (ev == EVT_JSTREAM_ARRAY_BEGIN) == array_node;
        r->open[d] = follow ? (uint8_t)id : (uint8_t)N_NONE;
    }
    return EVT_OK;
}

evt_err evt_proto_response_begin(evt_proto_response *out)
{
    if (out == NULL) {
        return EVT_ERR_ARG;
    }
    memset(out, 0, sizeof *out);
    evt_proto_answer *a = evt_calloc(1, sizeof *a);
    answer_reader *r = a != NULL ? evt_calloc(1, sizeof *r) : NULL;
    if (r == NULL) {
        evt_free(a);
        return EVT_ERR_NOMEM;
    }
    a->reader = r;
    slots_reset(a, N_ROOT, (node_id)(N_COUNT - 1));
    r->member = N_NONE;
    evt_jstream_init(&r->json, &r->keys, on_token, a);
    out->root = a;
    return EVT_OK;
}

evt_err evt_proto_response_feed(evt_proto_response *resp, const void *data, size_t len)
{
    if (resp == NULL || resp->root == NULL || resp->root->reader == NULL) {
        return EVT_ERR_ARG;
    }
    return evt_jstream_feed(&resp->root->reader->json, data, len);
}

/* The envelope of a complete document. */
static evt_err read_envelope(evt_proto_response *out, evt_json_diag *diag)
{
    const evt_proto_answer *a = out->root;
    if (value_of(a, N_ROOT)->kind != EVT_JSON_OBJECT) {
        return EVT_ERR_JSON_MALFORMED;
    }
    /* infcode bounded to int32: real codes are small, and anything else is garbage. */
    evt_err err = evt_json_value_int(value_of(a, N_INFCODE), "infcode", true, INT32_MIN, INT32_MAX,
                                     &out->infcode, NULL, diag);
    if (err != EVT_OK) {
        return err;
    }
    if (out->infcode == 0) {
        /* A refusal may carry output as "" or anything; a success must have an object, or
         * nothing ("" and null count as nothing: an acknowledgement such as 2601 needs no
         * output, and refusing it would keep a reversal retrying forever). */
        const evt_json_value *output = value_of(a, N_OUTPUT);
        bool empty = output->kind == EVT_JSON_STRING && output->full_len == 0;
        if (output->kind == EVT_JSON_OBJECT) {
            out->output = a;
        } else if (!empty && output->kind != EVT_JSON_ABSENT && output->kind != EVT_JSON_NULL) {
            evt_json_diag_set(diag, "output");
            return EVT_ERR_PROTO_FIELD_INVALID;
        }
    }
    /* Informational: a long or odd platform id must not turn a valid answer into an
     * unknown outcome, so it is cut rather than refused. */
    evt_json_value_text(value_of(a, N_REFMSGID), out->inf_refmsgid, sizeof out->inf_refmsgid);
    evt_json_value_text(value_of(a, N_ERR_MSG), out->err_msg, sizeof out->err_msg);
    evt_json_value_text(value_of(a, N_WARN_MSG), out->warn_msg, sizeof out->warn_msg);
    return EVT_OK;
}

evt_err evt_proto_response_end(evt_proto_response *out, evt_json_diag *diag)
{
    evt_json_diag_set(diag, "");
    if (out == NULL || out->root == NULL || out->root->reader == NULL) {
        return EVT_ERR_ARG;
    }
    evt_err err = evt_jstream_finish(&out->root->reader->json);
    evt_free(out->root->reader);
    out->root->reader = NULL;
    if (err == EVT_OK) {
        err = read_envelope(out, diag);
    }
    if (err != EVT_OK) {
        evt_proto_response_free(out);
        memset(out, 0, sizeof *out);
    }
    return err;
}

evt_err evt_proto_response_parse(const char *body, size_t len, evt_proto_response *out,
                                 evt_json_diag *diag)
{
    if (out == NULL || (body == NULL && len != 0)) {
        return EVT_ERR_ARG;
    }
    evt_json_diag_set(diag, "");
    evt_err err = evt_proto_response_begin(out);
    if (err != EVT_OK) {
        return err;
    }
    evt_proto_response_feed(out, body, len); /* an error is kept and returned by _end */
    return evt_proto_response_end(out, diag);
}

void evt_proto_response_free(evt_proto_response *resp)
{
    if (resp != NULL && resp->root != NULL) {
        evt_free(resp->root->reader);
        evt_free(resp->root);
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
static evt_err output_object(const evt_proto_response *resp, node_id id, evt_json_diag *diag)
{
    evt_err err = evt_proto_parse_ack(resp);
    if (err != EVT_OK) {
        return err;
    }
    if (resp->output == NULL) {
        evt_json_diag_set(diag, "output");
        return EVT_ERR_PROTO_FIELD_MISSING;
    }
    const evt_json_value *v = value_of(resp->output, id);
    if (v->kind == EVT_JSON_ABSENT || v->kind == EVT_JSON_NULL) {
        err = EVT_ERR_PROTO_FIELD_MISSING;
    } else if (v->kind != EVT_JSON_OBJECT) {
        err = EVT_ERR_PROTO_FIELD_INVALID;
    }
    if (err != EVT_OK) {
        evt_json_diag_set(diag, schema[id].key);
        evt_json_diag_prefix(diag, "output");
    }
    return err;
}

/* A run of string getters on one object; path names the object for diag on failure. */
typedef struct str_field {
    node_id id;
    char *out;
    size_t cap;
    bool required;
} str_field;

static evt_err get_strings(const evt_proto_answer *a, const str_field *fields, size_t count,
                           const char *path, evt_json_diag *diag)
{
    for (size_t i = 0; i < count; i++) {
        node_id id = fields[i].id;
        evt_err err = evt_json_value_string(value_of(a, id), schema[id].key, fields[i].required,
                                            fields[i].out, fields[i].cap, diag);
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
    evt_err err = output_object(resp, N_SIGNINOUTB, diag);
    if (err != EVT_OK) {
        return err;
    }
    char tmp[EVT_SIGN_NO_BYTES];
    const str_field fields[] = {{N_SIGN_NO, tmp, sizeof tmp, true}};
    err = get_strings(resp->output, fields, 1, "output.signinoutb", diag);
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
    evt_err err = output_object(resp, N_DATA, diag);
    if (err != EVT_OK) {
        return err;
    }
    evt_voucher_info v;
    memset(&v, 0, sizeof v);
    char show_type[3];
    const str_field fields[] = {
        {N_EC_TOKEN, v.ec_token, sizeof v.ec_token, true},
        {N_ID_NO, v.id_no, sizeof v.id_no, true},
        {N_USER_NAME, v.user_name, sizeof v.user_name, true},
        {N_ID_TYPE, v.id_type, sizeof v.id_type, false},
        {N_INSU_ORG, v.insu_org, sizeof v.insu_org, false},
        {N_EC_INDEX_NO, v.ec_index_no, sizeof v.ec_index_no, false},
        {N_EC_SHOW_TYPE, show_type, sizeof show_type, false},
    };
    err = get_strings(resp->output, fields, sizeof fields / sizeof fields[0], "output.data", diag);
    if (err != EVT_OK) {
        return err;
    }
    if (strcmp(show_type, "02") == 0) {
        /* 亲情账户代展码: the cashier must see whose app showed the code. */
        v.via_family_account = true;
        const str_field holder[] = {
            {N_HOLDER_NAME, v.holder_name, sizeof v.holder_name, true},
            {N_HOLDER_ID_NO, v.holder_id_no, sizeof v.holder_id_no, true},
        };
        err = get_strings(resp->output, holder, 2, "output.data", diag);
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
static evt_err get_age(const evt_json_value *item, uint16_t *age, evt_json_diag *diag)
{
    *age = 0;
    if (item->kind == EVT_JSON_ABSENT || item->kind == EVT_JSON_NULL) {
        return EVT_OK;
    }
    if ((item->kind != EVT_JSON_STRING && item->kind != EVT_JSON_NUMBER) ||
        item->len != item->full_len) {
        evt_json_diag_set(diag, "age");
        return EVT_ERR_PROTO_FIELD_INVALID;
    }
    const char *text = item->text;
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

/* The insuinfo entry just read (its slots). */
static evt_err parse_insurance(const evt_proto_answer *a, evt_insurance *insu, evt_json_diag *diag)
{
    memset(insu, 0, sizeof *insu);
    const str_field fields[] = {
        {N_I_INSUTYPE, insu->insutype, sizeof insu->insutype, true},
        {N_I_PSN_TYPE, insu->psn_type, sizeof insu->psn_type, false},
        {N_I_STAS, insu->psn_insu_stas, sizeof insu->psn_insu_stas, true},
        {N_I_INSUPLC, insu->insuplc_admdvs, sizeof insu->insuplc_admdvs, true},
        {N_I_PAUS_DATE, insu->paus_insu_date, sizeof insu->paus_insu_date, false},
    };
    evt_err err = get_strings(a, fields, sizeof fields / sizeof fields[0], "", diag);
    if (err != EVT_OK) {
        return err;
    }
    /* The employer's name is display text only; a long one is cut, not refused. */
    evt_json_value_text(value_of(a, N_I_EMP_NAME), insu->emp_name, sizeof insu->emp_name);
    /* balc is "" for resident insurance (no personal account). */
    return evt_json_value_money(value_of(a, N_I_BALC), "balc", false, &insu->balc,
                                &insu->balc_present, diag);
}

evt_err evt_proto_parse_person(const evt_proto_response *resp, evt_person *out, evt_json_diag *diag)
{
    if (out == NULL) {
        return EVT_ERR_ARG;
    }
    evt_err err = output_object(resp, N_BASEINFO, diag);
    if (err != EVT_OK) {
        return err;
    }
    const evt_proto_answer *a = resp->output;
    evt_person p;
    memset(&p, 0, sizeof p);
    const str_field fields[] = {
        {N_B_PSN_NO, p.psn_no, sizeof p.psn_no, true},
        {N_B_CERT_TYPE, p.psn_cert_type, sizeof p.psn_cert_type, false},
        {N_B_CERTNO, p.certno, sizeof p.certno, false},
        {N_B_PSN_NAME, p.psn_name, sizeof p.psn_name, true},
        {N_B_GEND, p.gend, sizeof p.gend, false},
        {N_B_BRDY, p.brdy, sizeof p.brdy, false},
    };
    err = get_strings(a, fields, sizeof fields / sizeof fields[0], "output.baseinfo", diag);
    if (err == EVT_OK) {
        err = get_age(value_of(a, N_B_AGE), &p.age, diag);
        if (err != EVT_OK) {
            evt_json_diag_prefix(diag, "output.baseinfo");
        }
    }
    if (err != EVT_OK) {
        return err;
    }
    evt_json_kind list = value_of(a, N_INSUINFO)->kind;
    if (list != EVT_JSON_ABSENT && list != EVT_JSON_NULL && list != EVT_JSON_ARRAY) {
        evt_json_diag_set(diag, "output.insuinfo");
        return EVT_ERR_PROTO_FIELD_INVALID;
    }
    if (list == EVT_JSON_ARRAY) {
        if (a->insu_err != EVT_OK) {
            if (diag != NULL) {
                *diag = a->insu_diag;
            }
            return a->insu_err;
        }
        p.insu_count = a->insu_count;
        memcpy(p.insu, a->insu, sizeof p.insu);
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
    node_id id;
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
    evt_err err = output_object(resp, N_SETLINFO, diag);
    if (err != EVT_OK) {
        return err;
    }
    const evt_proto_answer *a = resp->output;
    evt_settlement s;
    memset(&s, 0, sizeof s);
    const str_field fields[] = {
        {N_S_SETL_ID, s.setl_id, sizeof s.setl_id, false},
        {N_S_MDTRT_ID, s.mdtrt_id, sizeof s.mdtrt_id, false},
        {N_S_PSN_NO, s.psn_no, sizeof s.psn_no, true},
        {N_S_INSUTYPE, s.insutype, sizeof s.insutype, false},
        {N_S_SETL_TIME, s.setl_time, sizeof s.setl_time, false},
        {N_S_MEDINS_SETL_ID, s.medins_setl_id, sizeof s.medins_setl_id, false},
        {N_S_CLR_OPTINS, s.clr_optins, sizeof s.clr_optins, false},
        {N_S_CLR_WAY, s.clr_way, sizeof s.clr_way, false},
        {N_S_CLR_TYPE, s.clr_type, sizeof s.clr_type, false},
    };
    err = get_strings(a, fields, sizeof fields / sizeof fields[0], "output.setlinfo", diag);
    if (err != EVT_OK) {
        return err;
    }
    /* Display text; cut rather than refuse a settlement over a long name. */
    evt_json_value_text(value_of(a, N_S_PSN_NAME), s.psn_name, sizeof s.psn_name);

    bool psn_part_present = false;
    const amount_field amounts[] = {
        {N_S_MEDFEE, &s.medfee_sumamt, true, NULL},
        {N_S_FULAMT, &s.fulamt_ownpay_amt, false, NULL},
        {N_S_OVERLMT, &s.overlmt_selfpay, false, NULL},
        {N_S_PRESELF, &s.preselfpay_amt, false, NULL},
        {N_S_INSCP, &s.inscp_scp_amt, false, NULL},
        {N_S_FUND, &s.fund_pay_sumamt, true, NULL},
        {N_S_PSN_PART, &s.psn_part_amt, false, &psn_part_present},
        {N_S_ACCT, &s.acct_pay, true, NULL},
        {N_S_MULAID, &s.acct_mulaid_pay, false, NULL},
        {N_S_CASH, &s.psn_cash_pay, true, NULL},
        {N_S_HOSP, &s.hosp_part_amt, false, NULL},
        {N_S_BALC, &s.balc, false, &s.balc_present},
    };
    for (size_t i = 0; i < sizeof amounts / sizeof amounts[0]; i++) {
        node_id id = amounts[i].id;
        err = evt_json_value_money(value_of(a, id), schema[id].key, amounts[i].required,
                                   amounts[i].out, amounts[i].present, diag);
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
    size_t note =
        evt_json_utf8_prefix(resp->warn_msg, strlen(resp->warn_msg), sizeof s.platform_note - 1);
    memcpy(s.platform_note, resp->warn_msg, note);
    s.platform_note[note] = '\0';
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

evt_err evt_proto_parse_visit_register(const evt_proto_response *resp, char mdtrt_id[31],
                                       evt_json_diag *diag)
{
    evt_err err = output_object(resp, N_DATA, diag);
    if (err == EVT_OK) {
        const str_field f[] = {{N_D_MDTRT_ID, mdtrt_id, 31, true}};
        err = get_strings(resp->output, f, 1, "output.data", diag);
    }
    return err;
}

evt_err evt_proto_parse_fee_lines(const evt_proto_response *resp, uint32_t lines, evt_fen amount,
                                  evt_fee_summary *out, evt_json_diag *diag)
{
    evt_err err = evt_proto_parse_ack(resp);
    if (err != EVT_OK) {
        return err;
    }
    const evt_proto_answer *a = resp->output;
    if (a == NULL || value_of(a, N_RESULT)->kind != EVT_JSON_ARRAY) {
        evt_json_diag_set(diag, "output.result");
        return a == NULL || value_of(a, N_RESULT)->kind == EVT_JSON_ABSENT
                   ? EVT_ERR_PROTO_FIELD_MISSING
                   : EVT_ERR_PROTO_FIELD_INVALID;
    }
    if (a->fees_err != EVT_OK) {
        *diag = a->fees_diag;
        return a->fees_err;
    }
    /* The platform must have taken exactly the lines sent: anything else is not this batch. */
    if (a->fees.lines != lines || a->fees.amount != amount) {
        evt_json_diag_set(diag, "output.result");
        return EVT_ERR_MONEY_MISMATCH;
    }
    *out = a->fees;
    return EVT_OK;
}

evt_err evt_proto_parse_recon_totals(const evt_proto_response *resp, bool *balanced,
                                     char dscr[EVT_PROTO_MSG_BYTES], evt_json_diag *diag)
{
    evt_err err = output_object(resp, N_DATA, diag);
    char rslt[2];
    const str_field fields[] = {{N_D_STMT_RSLT, rslt, sizeof rslt, true},
                                {N_D_STMT_DSCR, dscr, EVT_PROTO_MSG_BYTES, false}};
    dscr[0] = '\0';
    if (err == EVT_OK) {
        err = get_strings(resp->output, fields, 2, "output.data", diag);
    }
    if (err == EVT_OK && strcmp(rslt, "0") != 0 && strcmp(rslt, "1") != 0) {
        evt_json_diag_set(diag, "output.data.stmt_rslt");
        err = EVT_ERR_PROTO_FIELD_INVALID;
    }
    *balanced = err == EVT_OK && rslt[0] == '0';
    return err;
}

evt_err evt_proto_parse_recon_detail(const evt_proto_response *resp,
                                     const evt_proto_recon_diff **diffs, unsigned *count,
                                     uint32_t *total, evt_json_diag *diag)
{
    evt_err err = evt_proto_parse_ack(resp);
    if (err == EVT_OK &&
        (resp->output == NULL || value_of(resp->output, N_RESULT)->kind != EVT_JSON_ARRAY)) {
        evt_json_diag_set(diag, "output.result");
        err = EVT_ERR_PROTO_FIELD_MISSING;
    }
    if (err != EVT_OK) {
        return err;
    }
    *diffs = resp->output->diffs;
    *count = resp->output->diff_count;
    *total = resp->output->diff_total;
    return EVT_OK;
}
