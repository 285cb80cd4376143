/*
 * Internal to platform-emu's transaction handlers: the request context, the ledger's person
 * and settlement views and the steps the pharmacy sale (txn.c) and the outpatient visit
 * (clinic.c) share. Not a public interface: emu.h is.
 */
#ifndef EMU_TXN_INT_H
#define EMU_TXN_INT_H

#include "emu.h"

typedef struct {
    const emu_config *cfg;
    sqlite3 *db;
    json_object *input;
    const char *infno, *msgid, *fixmedins_code, *opter, *insuplc;
    char inst_admdvs[8];
    time_t now;
    emu_amount_writer aw;
    char err[512];
    char warn[256];
    bool db_failed;
} ctx;

typedef struct {
    char psn_no[32], name[64], certno[24], gend[4], brdy[16], naty[8], insutype[8], psn_type[8],
        stas[4], insu_date[16], paus_date[16], insuplc[8], emp_name[128];
    int offsite_filed;
    bool has_balance;
    emu_fen balance;
} person;

typedef struct {
    const char *setl_id, *mdtrt_id, *medins_setl_id;
    char setl_time[20];
    int sign; /* -1 for a cancelling entry */
    bool balc_na;
    emu_fen balc;
    const char *med_type; /* NULL: 41 (pharmacy) */
} setl_view;

typedef struct {
    char setl_id[40], mdtrt_id[40], msgid[40], inst[16], psn_no[32], authoriser[32], cancelled[8];
    char med_type[8]; /* the visit's for an outpatient settlement, else "" */
    emu_split_result split;
} stored_setl;

/* One fee line of a request (drugdetail[] / feedetail[]) as read and classified. */
typedef struct {
    const char *feedetl_sn, *med_list_codg, *medins_list_codg;
    json_object *cnt, *pric; /* echoed in the answer as they came */
    char chrgitm_type[8];
    emu_line line; /* amount, class, over-limit part */
    int64_t uplmt; /* price ceiling per unit in fen, 0 for none */
} line_meta;

/* Every function returns 0 on success and -1 after fail()/db_fail() filled c->err, unless
 * it says otherwise. */
int fail(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int db_fail(ctx *c);
const char *str_member(json_object *o, const char *key);
int need_str(ctx *c, json_object *o, const char *where, const char *key, size_t max_len,
             bool allow_empty, const char **out);
json_object *need_obj(ctx *c, json_object *o, const char *key);
void put_str(json_object *o, const char *key, const char *value);
int parse_amount_field(ctx *c, json_object *o, const char *where, const char *key, int scale,
                       int64_t *out, json_object **raw);
int next_seq(ctx *c, int64_t *seq);
/* 1 when there is no such person. */
int load_person(ctx *c, const char *psn_no, person *p);
int age_of(const person *p, time_t now);
/* NULL for a normal insurance status, else why it cannot settle. */
const char *status_refusal(const char *stas);
/* 1 when the balance would go negative. */
int adjust_balance(ctx *c, const char *psn_no, emu_fen delta);
int check_token(ctx *c, const char *token, const char *psn_no, char holder[32]);
/* Reads and checks one fee line (amount = cnt x pric, classes, price ceiling). */
int parse_fee_line(ctx *c, json_object *d, const char *where, line_meta *m);
/* The answer's per-line entry (detlcutinfo[] of 2101/2102, result[] of 2204). */
json_object *fee_line_result_json(ctx *c, const line_meta *m);
/* The patient of a settlement-type request, checked: exists, insured where the envelope says,
 * the e-voucher token is theirs, the insurance type matches, normal status, filed if from
 * another city. `where` prefixes field names in messages. */
int check_patient(ctx *c, const char *psn_no, const char *cert_type, const char *cert_no,
                  const char *insutype, person *p);
const char *class_level(emu_drug_class cls);
const char *selfpay_prop(emu_drug_class cls);
int load_class(ctx *c, const char *codg, emu_drug_class *cls, char type[8]);
int city_rule(ctx *c, const char *admdvs, emu_fen *retained, bool *allow_out);
/* Who pays what for these lines: the split with the patient's account and the earliest 共济
 * authoriser's (*authoriser filled when there is one); c->warn says why 共济 paid nothing. */
int split_payment(ctx *c, const person *patient, bool use_account, const emu_line *lines, size_t n,
                  int fund_pct, person *authoriser, bool *has_authoriser, emu_split_result *out);
/* Moves the money of a settlement and stores it (setl_id and mdtrt_id in v). */
int record_settlement(ctx *c, const person *p, const setl_view *v, const char *fixmedins_setl_id,
                      const emu_split_result *r, const person *authoriser);
json_object *setlinfo_json(ctx *c, const person *p, const setl_view *v, const emu_split_result *s);
json_object *setldetail_json(ctx *c, const person *p, const emu_split_result *s, int k);
/* 1 when there is no such settlement. */
int load_settlement(ctx *c, const char *column, const char *value, stored_setl *out);
int undo_settlement(ctx *c, const stored_setl *s, const char *how);
/* 2103 (mdtrt_id NULL: a pharmacy sale) and 2208 (a visit's settlement): the money back, the
 * cancelling entry stored and answered. */
int cancel_settlement(ctx *c, const char *setl_id, const char *psn_no, const char *mdtrt_id,
                      json_object **out);
/* A new setl_id (and mdtrt_id when mdtrt_id is not NULL) from the ledger's sequence. */
int new_ids(ctx *c, char setl_id[40], char mdtrt_id[40]);

/* The outpatient visit (clinic.c). */
int emu_clinic_2201(ctx *c, json_object **out);
int emu_clinic_2202(ctx *c, json_object **out);
int emu_clinic_2203(ctx *c, json_object **out);
int emu_clinic_2204(ctx *c, json_object **out);
int emu_clinic_2205(ctx *c, json_object **out);
int emu_clinic_2206_2207(ctx *c, bool settle, json_object **out);
int emu_clinic_2208(ctx *c, json_object **out);

/* The daily close (recon.c). */
int emu_recon_3201(ctx *c, json_object **out);
int emu_recon_3202(ctx *c, json_object **out);

#endif
