/*
 * Envelope checks and the transactions (9001, 9002, ec.query, 1101, 2101, 2102, 2103, 2601);
 * the outpatient visit (2201-2208) is in clinic.c and the daily close (3201, 3202) in recon.c,
 * on the shared steps of txn_int.h.
 *
 * Contract: docs/protocol-decisions.md. Every request runs inside one IMMEDIATE SQLite
 * transaction, so two terminals settling at once see each other's debits and a crash leaves
 * either all or nothing of a settlement. The handler runs inside a savepoint: a business
 * refusal rolls its partial writes back, but the msgid and its stored refusal are kept.
 */
#include "emu.h"
#include "txn_int.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_uint refmsg_counter;

/* ---- small helpers ---- */

int fail(ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return -1;
}

int db_fail(ctx *c)
{
    fprintf(stderr, "platform-emu: sqlite: %s\n", sqlite3_errmsg(c->db));
    c->db_failed = true;
    return fail(c, "平台内部错误，请稍后重试");
}

/* A string member, or NULL when absent or not a string (numbers are not accepted for text
 * fields: the spec types them as strings and a strict peer says so). */
const char *str_member(json_object *o, const char *key)
{
    json_object *v;
    if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
        json_object_get_type(v) != json_type_string)
        return NULL;
    const char *s = json_object_get_string(v);
    if ((size_t)json_object_get_string_len(v) != strlen(s))
        return NULL;
    return s;
}

int need_str(ctx *c, json_object *o, const char *where, const char *key, size_t max_len,
             bool allow_empty, const char **out)
{
    json_object *v;
    if (o == NULL || !json_object_object_get_ex(o, key, &v))
        return fail(c, "入参缺少必填字段：%s%s", where, key);
    const char *s = str_member(o, key);
    if (s == NULL)
        return fail(c, "字段%s%s应为字符串", where, key);
    if (!allow_empty && s[0] == '\0')
        return fail(c, "字段%s%s不能为空", where, key);
    if (strlen(s) > max_len)
        return fail(c, "字段%s%s超长（最长%zu）", where, key, max_len);
    *out = s;
    return 0;
}

json_object *need_obj(ctx *c, json_object *o, const char *key)
{
    json_object *v;
    if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
        json_object_get_type(v) != json_type_object) {
        fail(c, "入参缺少对象：input.%s", key);
        return NULL;
    }
    return v;
}

void put_str(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, json_object_new_string(value ? value : ""));
}

static void put_infcode(ctx *c, json_object *env, int code)
{
    /* the spec's examples show both forms; the terminal must accept either */
    emu_amount_style style = c->cfg->style;
    bool as_string =
        style == EMU_STYLE_STRING || (style == EMU_STYLE_MIXED && (c->aw.rotation++ % 2) == 1);
    if (as_string)
        json_object_object_add(env, "infcode", json_object_new_string(code == 0 ? "0" : "-1"));
    else
        json_object_object_add(env, "infcode", json_object_new_int(code));
}

static char *serialise(json_object *o)
{
    const char *t =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    return strdup(t);
}

static json_object *envelope(ctx *c, int code, const char *err_msg, json_object *output)
{
    json_object *env = json_object_new_object();
    char compact[15], text[20], ref[48];
    emu_time_compact(c->now, compact);
    emu_time_text(c->now, text);
    snprintf(ref, sizeof ref, "120000%s%010u", compact, atomic_fetch_add(&refmsg_counter, 1));
    put_infcode(c, env, code);
    put_str(env, "inf_refmsgid", ref);
    put_str(env, "refmsg_time", compact);
    put_str(env, "respond_time", compact);
    put_str(env, "err_msg", err_msg);
    put_str(env, "warn_msg", c->warn);
    put_str(env, "cainfo", "");
    put_str(env, "signtype", "");
    json_object_object_add(env, "output", output ? output : json_object_new_object());
    return env;
}

char *emu_error_envelope(const char *err_msg)
{
    emu_config cfg = {.style = EMU_STYLE_NUMBER};
    ctx c = {.cfg = &cfg, .now = time(NULL)};
    json_object *env = envelope(&c, -1, err_msg, NULL);
    char *s = serialise(env);
    json_object_put(env);
    return s;
}

int next_seq(ctx *c, int64_t *seq)
{
    if (emu_db_exec(c->db, "UPDATE meta SET value = value + 1 WHERE key='seq'") != 0)
        return db_fail(c);
    if (emu_db_scalar(c->db, seq, "SELECT value FROM meta WHERE key='seq'", NULL) != 0)
        return db_fail(c);
    return 0;
}

int load_person(ctx *c, const char *psn_no, person *p)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT psn_no, name, certno, gend, brdy, naty, insutype, psn_type, "
                           "psn_insu_stas, psn_insu_date, paus_insu_date, insuplc_admdvs, "
                           "emp_name, offsite_filed, balance FROM persons WHERE psn_no=?",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, psn_no, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 1 : db_fail(c);
    }
    memset(p, 0, sizeof *p);
#define COL(i, field) snprintf(p->field, sizeof p->field, "%s", sqlite3_column_text(st, i))
    COL(0, psn_no);
    COL(1, name);
    COL(2, certno);
    COL(3, gend);
    COL(4, brdy);
    COL(5, naty);
    COL(6, insutype);
    COL(7, psn_type);
    COL(8, stas);
    COL(9, insu_date);
    COL(10, paus_date);
    COL(11, insuplc);
    COL(12, emp_name);
#undef COL
    p->offsite_filed = sqlite3_column_int(st, 13);
    p->has_balance = sqlite3_column_type(st, 14) != SQLITE_NULL;
    p->balance = p->has_balance ? sqlite3_column_int64(st, 14) : 0;
    sqlite3_finalize(st);
    return 0;
}

int age_of(const person *p, time_t now)
{
    struct tm tm;
    localtime_r(&now, &tm);
    int y = atoi(p->brdy), m = atoi(p->brdy + 5), d = atoi(p->brdy + 8);
    int age = tm.tm_year + 1900 - y;
    if (tm.tm_mon + 1 < m || (tm.tm_mon + 1 == m && tm.tm_mday < d))
        age--;
    return age;
}

const char *status_refusal(const char *stas)
{
    if (strcmp(stas, "1") == 0)
        return NULL;
    if (strcmp(stas, "2") == 0)
        return "暂停参保";
    if (strcmp(stas, "4") == 0)
        return "终止参保";
    return "非正常参保";
}

int adjust_balance(ctx *c, const char *psn_no, emu_fen delta)
{
    if (delta == 0)
        return 0;
    sqlite3_stmt *st;
    /* the WHERE clause is the no-negative-balance guarantee; the CHECK is the backstop */
    if (sqlite3_prepare_v2(c->db,
                           "UPDATE persons SET balance = balance + ?1 "
                           "WHERE psn_no = ?2 AND balance IS NOT NULL AND balance + ?1 >= 0",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_int64(st, 1, delta);
    sqlite3_bind_text(st, 2, psn_no, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(c);
    if (sqlite3_changes(c->db) != 1)
        return 1; /* would go negative */
    return 0;
}

/* ---- the person behind an ecToken ---- */

int check_token(ctx *c, const char *token, const char *psn_no, char holder[32])
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT psn_no, ifnull(holder,''), fixmedins_code, expires "
                           "FROM ec_tokens WHERE token=?",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? fail(c, "电子凭证令牌(ecToken)无效") : db_fail(c);
    }
    char owner[32], inst[32];
    snprintf(owner, sizeof owner, "%s", sqlite3_column_text(st, 0));
    if (holder)
        snprintf(holder, 32, "%s", sqlite3_column_text(st, 1));
    snprintf(inst, sizeof inst, "%s", sqlite3_column_text(st, 2));
    int64_t expires = sqlite3_column_int64(st, 3);
    sqlite3_finalize(st);
    if ((int64_t)c->now >= expires)
        return fail(c, "电子凭证令牌(ecToken)已过期，请重新扫码");
    if (strcmp(inst, c->fixmedins_code) != 0)
        return fail(c, "电子凭证令牌(ecToken)不属于本机构");
    if (psn_no && strcmp(owner, psn_no) != 0)
        return fail(c, "电子凭证令牌(ecToken)与人员编号psn_no不一致");
    return 0;
}

static int token_owner(ctx *c, const char *token, char owner[32])
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "SELECT psn_no FROM ec_tokens WHERE token=?", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(owner, 32, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : db_fail(c);
}

/* ---- 9001 / 9002 ---- */

static int txn_9001(ctx *c, json_object **out)
{
    json_object *in = need_obj(c, c->input, "signIn");
    const char *opter_no, *mac, *ip;
    if (in == NULL || need_str(c, in, "signIn.", "opter_no", 30, false, &opter_no) ||
        need_str(c, in, "signIn.", "mac", 20, false, &mac) ||
        need_str(c, in, "signIn.", "ip", 45, false, &ip))
        return -1;
    char sign_no[32], compact[15], tail[9], text[20];
    emu_time_compact(c->now, compact);
    emu_time_text(c->now, text);
    emu_random_hex(tail, 8);
    for (int i = 0; i < 8; i++)
        tail[i] = (char)('0' + (unsigned char)tail[i] % 10);
    snprintf(sign_no, sizeof sign_no, "%s%s", compact, tail);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO sign_ins(sign_no, fixmedins_code, opter, opter_no, mac, "
                           "ip, sign_time) VALUES (?,?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    const char *vals[] = {sign_no, c->fixmedins_code, c->opter, opter_no, mac, ip, text};
    for (int i = 0; i < 7; i++)
        sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(c);
    json_object *o = json_object_new_object(), *b = json_object_new_object();
    put_str(b, "sign_time", text);
    put_str(b, "sign_no", sign_no);
    json_object_object_add(o, "signinoutb", b);
    *out = o;
    return 0;
}

static int txn_9002(ctx *c, json_object **out)
{
    json_object *in = need_obj(c, c->input, "signOut");
    const char *sign_no, *opter_no;
    if (in == NULL || need_str(c, in, "signOut.", "sign_no", 30, false, &sign_no) ||
        need_str(c, in, "signOut.", "opter_no", 30, false, &opter_no))
        return -1;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "UPDATE sign_ins SET signed_out=1 WHERE sign_no=? AND opter_no=? AND "
                           "fixmedins_code=? AND signed_out=0",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, sign_no, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, opter_no, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->fixmedins_code, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(c);
    if (sqlite3_changes(c->db) != 1)
        return fail(c, "签退失败：签到编号不存在、不属于该操作员或已签退");
    char text[20];
    emu_time_text(c->now, text);
    json_object *o = json_object_new_object(), *b = json_object_new_object();
    put_str(b, "sign_time", text);
    json_object_object_add(o, "signoutoutb", b);
    *out = o;
    return 0;
}

/* ---- ec.query ---- */

static int txn_ec_query(ctx *c, json_object **out)
{
    json_object *d = need_obj(c, c->input, "data");
    const char *org, *btype, *op_id, *qr;
    if (d == NULL || need_str(c, d, "data.", "orgId", 30, false, &org) ||
        need_str(c, d, "data.", "businessType", 5, false, &btype) ||
        need_str(c, d, "data.", "operatorId", 30, false, &op_id) ||
        need_str(c, d, "data.", "ecQrCode", 512, false, &qr))
        return -1;
    if (strcmp(org, c->fixmedins_code) != 0)
        return fail(c, "orgId与定点机构编码fixmedins_code不一致");
    if (strcmp(btype, "01101") != 0 && strcmp(btype, "01301") != 0 && strcmp(btype, "02121") != 0)
        return fail(c, "不支持的业务类型businessType：%s", btype);

    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(
            c->db, "SELECT psn_no, ifnull(holder,''), expires, used FROM codes WHERE code=?", -1,
            &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, qr, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? fail(c, "电子凭证二维码无效") : db_fail(c);
    }
    char psn_no[32], holder[32];
    snprintf(psn_no, sizeof psn_no, "%s", sqlite3_column_text(st, 0));
    snprintf(holder, sizeof holder, "%s", sqlite3_column_text(st, 1));
    int64_t expires = sqlite3_column_int64(st, 2);
    int used = sqlite3_column_int(st, 3);
    sqlite3_finalize(st);
    if (used)
        return fail(c, "电子凭证二维码已使用，请刷新后重试");
    if ((int64_t)c->now >= expires)
        return fail(c, "电子凭证二维码已过期，请刷新后重试");

    person p, h;
    if (load_person(c, psn_no, &p) != 0)
        return c->db_failed ? -1 : fail(c, "电子凭证二维码无效");
    if (holder[0] && load_person(c, holder, &h) != 0)
        return c->db_failed ? -1 : fail(c, "电子凭证二维码无效");

    /* single use: a re-scan needs a refreshed code */
    if (sqlite3_prepare_v2(c->db, "UPDATE codes SET used=1 WHERE code=?", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, qr, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(c);

    char token[40], hex[33];
    emu_random_hex(hex, 32);
    snprintf(token, sizeof token, "ect%s", hex);
    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO ec_tokens(token, psn_no, holder, fixmedins_code, expires) "
                           "VALUES (?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, psn_no, -1, SQLITE_STATIC);
    if (holder[0])
        sqlite3_bind_text(st, 3, holder, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_text(st, 4, c->fixmedins_code, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)c->now + c->cfg->token_ttl_s);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(c);

    char index_src[64], index_hex[65];
    snprintf(index_src, sizeof index_src, "ecindex:%s", p.psn_no);
    emu_sha256_hex(index_src, strlen(index_src), index_hex);
    index_hex[32] = '\0';
    for (char *q = index_hex; *q; q++)
        if (*q >= 'a' && *q <= 'f')
            *q = (char)(*q - 'a' + 'A');

    json_object *o = json_object_new_object(), *data = json_object_new_object();
    put_str(data, "ecToken", token);
    put_str(data, "idNo", p.certno);
    put_str(data, "userName", p.name);
    put_str(data, "idType", "01");
    put_str(data, "insuOrg", p.insuplc);
    put_str(data, "ecIndexNo", index_hex);
    put_str(data, "ecShowType", holder[0] ? "02" : "01");
    put_str(data, "holderName", holder[0] ? h.name : "");
    put_str(data, "holderIdNo", holder[0] ? h.certno : "");
    json_object_object_add(o, "data", data);
    *out = o;
    return 0;
}

/* ---- 1101 ---- */

static int txn_1101(ctx *c, json_object **out)
{
    json_object *d = need_obj(c, c->input, "data");
    const char *cert_type, *cert_no, *certno, *name;
    if (d == NULL || need_str(c, d, "data.", "mdtrt_cert_type", 3, false, &cert_type) ||
        need_str(c, d, "data.", "mdtrt_cert_no", 50, false, &cert_no) ||
        need_str(c, d, "data.", "certno", 50, true, &certno) ||
        need_str(c, d, "data.", "psn_name", 50, true, &name))
        return -1;
    if (strcmp(cert_type, "01") != 0)
        return fail(c, "就诊凭证类型mdtrt_cert_type仅支持01（医保电子凭证）");
    char owner[32];
    int rc = token_owner(c, cert_no, owner);
    if (rc != 0)
        return rc < 0 ? -1 : fail(c, "电子凭证令牌(ecToken)无效");
    if (check_token(c, cert_no, NULL, NULL) != 0)
        return -1;
    person p;
    if (load_person(c, owner, &p) != 0)
        return c->db_failed ? -1 : fail(c, "人员信息不存在");
    if (certno[0] && strcmp(certno, p.certno) != 0)
        return fail(c, "证件号码certno与电子凭证不一致");
    if (name[0] && strcmp(name, p.name) != 0)
        return fail(c, "人员姓名psn_name与电子凭证不一致");

    json_object *o = json_object_new_object(), *base = json_object_new_object();
    put_str(base, "psn_no", p.psn_no);
    put_str(base, "psn_cert_type", "01");
    put_str(base, "certno", p.certno);
    put_str(base, "psn_name", p.name);
    put_str(base, "gend", p.gend);
    put_str(base, "naty", p.naty);
    put_str(base, "brdy", p.brdy);
    json_object_object_add(base, "age", json_object_new_int(age_of(&p, c->now)));
    json_object_object_add(o, "baseinfo", base);
    json_object *insu = json_object_new_array(), *i0 = json_object_new_object();
    if (p.has_balance)
        emu_put_fen(&c->aw, i0, "balc", p.balance);
    else
        emu_put_na(i0, "balc");
    put_str(i0, "insutype", p.insutype);
    put_str(i0, "psn_type", p.psn_type);
    put_str(i0, "psn_insu_stas", p.stas);
    put_str(i0, "psn_insu_date", p.insu_date);
    put_str(i0, "paus_insu_date", p.paus_date);
    put_str(i0, "cvlserv_flag", "0");
    put_str(i0, "insuplc_admdvs", p.insuplc);
    put_str(i0, "emp_name", p.emp_name);
    json_object_array_add(insu, i0);
    json_object_object_add(o, "insuinfo", insu);
    json_object_object_add(o, "idetinfo", json_object_new_array());
    *out = o;
    return 0;
}

/* ---- 2101 / 2102 ---- */

#define EMU_MAX_LINES 200

const char *class_level(emu_drug_class cls)
{
    return cls == EMU_CLASS_A ? "01" : cls == EMU_CLASS_B ? "02" : "03";
}

const char *selfpay_prop(emu_drug_class cls)
{
    return cls == EMU_CLASS_A ? "0.00" : cls == EMU_CLASS_B ? "0.10" : "1.00";
}

json_object *setlinfo_json(ctx *c, const person *p, const setl_view *v, const emu_split_result *s)
{
    json_object *o = json_object_new_object();
    int k = v->sign;
    if (v->setl_id)
        put_str(o, "setl_id", v->setl_id);
    if (v->mdtrt_id)
        put_str(o, "mdtrt_id", v->mdtrt_id);
    put_str(o, "psn_no", p->psn_no);
    put_str(o, "psn_name", p->name);
    put_str(o, "psn_cert_type", "01");
    put_str(o, "certno", p->certno);
    put_str(o, "gend", p->gend);
    put_str(o, "naty", p->naty);
    put_str(o, "brdy", p->brdy);
    json_object_object_add(o, "age", json_object_new_int(age_of(p, c->now)));
    put_str(o, "insutype", p->insutype);
    put_str(o, "psn_type", p->psn_type);
    put_str(o, "cvlserv_flag", "0");
    put_str(o, "setl_time", v->setl_time);
    put_str(o, "mdtrt_cert_type", "01");
    put_str(o, "med_type", v->med_type ? v->med_type : "41");
    emu_put_fen(&c->aw, o, "medfee_sumamt", k * s->total);
    emu_put_fen(&c->aw, o, "fulamt_ownpay_amt", k * s->fulamt_ownpay);
    emu_put_fen(&c->aw, o, "overlmt_selfpay", k * s->overlmt_selfpay);
    emu_put_fen(&c->aw, o, "preselfpay_amt", k * s->preselfpay);
    emu_put_fen(&c->aw, o, "inscp_scp_amt", k * s->inscp);
    emu_put_fen(&c->aw, o, "act_pay_dedc", 0);
    emu_put_fen(&c->aw, o, "pool_prop_selfpay", k * (s->inscp - s->fund));
    emu_put_fen(&c->aw, o, "cvlserv_pay", 0);
    emu_put_fen(&c->aw, o, "hifp_pay", k * s->fund);
    emu_put_fen(&c->aw, o, "hifmi_pay", 0);
    emu_put_fen(&c->aw, o, "hifob_pay", 0);
    emu_put_fen(&c->aw, o, "maf_pay", 0);
    emu_put_fen(&c->aw, o, "oth_pay", 0);
    emu_put_fen(&c->aw, o, "fund_pay_sumamt", k * s->fund);
    emu_put_fen(&c->aw, o, "psn_part_amt", k * s->psn_part);
    emu_put_fen(&c->aw, o, "acct_pay", k * s->acct_pay);
    emu_put_fen(&c->aw, o, "acct_mulaid_pay", k * s->mulaid_pay);
    emu_put_fen(&c->aw, o, "psn_cash_pay", k * s->cash);
    emu_put_na(o, "hosp_part_amt"); /* the institution bears no share in this model */
    if (v->balc_na)
        emu_put_na(o, "balc");
    else
        emu_put_fen(&c->aw, o, "balc", v->balc);
    char clr[8];
    snprintf(clr, sizeof clr, "%.4s00", p->insuplc);
    put_str(o, "clr_optins", clr);
    put_str(o, "clr_way", "1");
    put_str(o, "clr_type", v->med_type && strcmp(v->med_type, "41") != 0 ? "11" : "41");
    put_str(o, "medins_setl_id", v->medins_setl_id);
    put_str(o, "insuplc_admdvs", p->insuplc);
    return o;
}

json_object *setldetail_json(ctx *c, const person *p, const emu_split_result *s, int k)
{
    json_object *arr = json_object_new_array(), *d = json_object_new_object();
    bool employee = strcmp(p->insutype, "310") == 0;
    put_str(d, "fund_pay_type", employee ? "310100" : "390100");
    put_str(d, "fund_pay_type_name",
            employee ? "职工基本医疗保险统筹基金" : "城乡居民基本医疗保险基金");
    emu_put_fen(&c->aw, d, "inscp_scp_amt", k * s->inscp);
    emu_put_fen(&c->aw, d, "crt_payb_lmt_amt", 0);
    emu_put_fen(&c->aw, d, "fund_payamt", k * s->fund);
    put_str(d, "setl_proc_info", "");
    json_object_array_add(arr, d);
    return arr;
}

int parse_amount_field(ctx *c, json_object *o, const char *where, const char *key, int scale,
                       int64_t *out, json_object **raw)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return fail(c, "入参缺少必填字段：%s%s", where, key);
    emu_amt_result r = emu_json_dec(v, scale, out);
    if (r != EMU_AMT_OK)
        return fail(c, "字段%s%s不是合法金额/数量（最多%d位小数）", where, key, scale);
    if (raw)
        *raw = v;
    return 0;
}

/* Everything 2101 and 2102 share: checks and the split, no writes. */
typedef struct {
    person patient, authoriser;
    bool has_authoriser;
    emu_line lines[EMU_MAX_LINES];
    line_meta meta[EMU_MAX_LINES];
    size_t n;
    emu_split_result split;
    const char *fixmedins_setl_id;
} sale;

int load_class(ctx *c, const char *codg, emu_drug_class *cls, char type[8])
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT cls, med_chrgitm_type FROM catalogue WHERE med_list_codg=?", -1,
                           &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, codg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *cls = sqlite3_column_text(st, 0)[0] == 'A' ? EMU_CLASS_A : EMU_CLASS_B;
        snprintf(type, 8, "%s", sqlite3_column_text(st, 1));
    } else if (rc == SQLITE_DONE) {
        *cls = EMU_CLASS_NONE;
        snprintf(type, 8, "09");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(c);
}

int city_rule(ctx *c, const char *admdvs, emu_fen *retained, bool *allow_out)
{
    char city[5];
    snprintf(city, sizeof city, "%.4s", admdvs);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT retained_min, allow_out_of_city FROM region_rules WHERE city=?",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, city, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    /* a city without a rule shares nothing across city borders and keeps no minimum */
    *retained = 0;
    *allow_out = false;
    if (rc == SQLITE_ROW) {
        *retained = sqlite3_column_int64(st, 0);
        *allow_out = sqlite3_column_int(st, 1) != 0;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(c);
}

int parse_fee_line(ctx *c, json_object *d, const char *where, line_meta *m)
{
    const char *fee_time;
    int64_t amt, cnt, pric;
    if (need_str(c, d, where, "feedetl_sn", 30, false, &m->feedetl_sn) ||
        need_str(c, d, where, "fee_ocur_time", 19, false, &fee_time) ||
        need_str(c, d, where, "med_list_codg", 50, false, &m->med_list_codg) ||
        need_str(c, d, where, "medins_list_codg", 150, false, &m->medins_list_codg) ||
        parse_amount_field(c, d, where, "det_item_fee_sumamt", 2, &amt, NULL) ||
        parse_amount_field(c, d, where, "cnt", 4, &cnt, &m->cnt) ||
        parse_amount_field(c, d, where, "pric", 6, &pric, &m->pric))
        return -1;
    if (!emu_time_text_valid(fee_time))
        return fail(c, "字段%sfee_ocur_time格式错误", where);
    if (amt <= 0 || cnt <= 0 || pric < 0)
        return fail(c, "字段%s金额或数量必须为正", where);
    /* cnt (4 decimals) x pric (6 decimals) has 10 decimals; round half up to the fen */
    __int128 product = (__int128)cnt * pric;
    __int128 fen = (product + 50000000) / 100000000;
    if (fen != amt)
        return fail(c, "字段%sdet_item_fee_sumamt与单价×数量不符", where);
    memset(&m->line, 0, sizeof m->line);
    if (load_class(c, m->med_list_codg, &m->line.cls, m->chrgitm_type) != 0)
        return -1;
    m->line.amount = amt;
    m->uplmt = 0;
    if (m->line.cls == EMU_CLASS_NONE)
        return 0;
    if (emu_db_scalar(c->db, &m->uplmt, "SELECT pric_uplmt FROM price_limits WHERE med_list_codg=?",
                      m->med_list_codg, NULL) < 0)
        return db_fail(c); /* no row: no ceiling (uplmt stays 0) */
    if (m->uplmt > 0) {
        /* within the ceiling: cnt x pric_uplmt (fen), half up like the line's own amount */
        __int128 cap = ((__int128)cnt * m->uplmt + 5000) / 10000;
        if (amt > cap)
            m->line.overlmt = amt - (emu_fen)cap;
    }
    return 0;
}

json_object *fee_line_result_json(ctx *c, const line_meta *m)
{
    const emu_line *l = &m->line;
    json_object *d = json_object_new_object();
    emu_fen pre = emu_line_preselfpay(l);
    emu_fen over = l->cls == EMU_CLASS_NONE ? 0 : l->overlmt;
    put_str(d, "feedetl_sn", m->feedetl_sn);
    emu_put_fen(&c->aw, d, "det_item_fee_sumamt", l->amount);
    json_object_object_add(d, "cnt", json_object_get(m->cnt));
    json_object_object_add(d, "pric", json_object_get(m->pric));
    if (m->uplmt > 0)
        emu_put_fen(&c->aw, d, "pric_uplmt_amt", m->uplmt);
    else
        emu_put_na(d, "pric_uplmt_amt");
    put_str(d, "selfpay_prop", selfpay_prop(l->cls));
    emu_put_fen(&c->aw, d, "fulamt_ownpay_amt", l->cls == EMU_CLASS_NONE ? l->amount : 0);
    emu_put_fen(&c->aw, d, "overlmt_amt", over);
    emu_put_fen(&c->aw, d, "preselfpay_amt", pre);
    emu_put_fen(&c->aw, d, "inscp_scp_amt", l->cls == EMU_CLASS_NONE ? 0 : l->amount - over - pre);
    put_str(d, "chrgitm_lv", class_level(l->cls));
    put_str(d, "med_chrgitm_type", m->chrgitm_type);
    put_str(d, "list_sp_item_flag", "0");
    return d;
}

int check_patient(ctx *c, const char *psn_no, const char *cert_type, const char *cert_no,
                  const char *insutype, person *p)
{
    if (strcmp(cert_type, "01") != 0)
        return fail(c, "就诊凭证类型mdtrt_cert_type仅支持01（医保电子凭证）");
    int rc = load_person(c, psn_no, p);
    if (rc != 0)
        return rc < 0 ? -1 : fail(c, "人员编号psn_no不存在");
    if (strcmp(c->insuplc, p->insuplc) != 0)
        return fail(c, "参保地医保区划insuplc_admdvs与人员参保地不一致");
    if (check_token(c, cert_no, psn_no, NULL) != 0)
        return -1;
    if (strcmp(insutype, p->insutype) != 0)
        return fail(c, "险种类型insutype与人员参保险种不一致");
    const char *why = status_refusal(p->stas);
    if (why)
        return fail(c, "参保人%s（psn_insu_stas=%s），不能享受医保待遇", why, p->stas);
    if (strncmp(p->insuplc, c->inst_admdvs, 4) != 0 && !p->offsite_filed)
        return fail(c, "异地参保人员未办理异地就医备案，不能直接结算");
    return 0;
}

int split_payment(ctx *c, const person *p, bool use_account, const emu_line *lines, size_t n,
                  int fund_pct, person *authoriser, bool *has_authoriser, emu_split_result *out)
{
    /* the earliest 共济 authorisation pays; one beneficiary, one payer per settlement */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT authoriser FROM mutual_aid WHERE beneficiary=? "
                           "ORDER BY since, authoriser LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, p->psn_no, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    char auth_no[32] = "";
    if (rc == SQLITE_ROW)
        snprintf(auth_no, sizeof auth_no, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(c);
    *has_authoriser = false;
    emu_split_params sp = {
        .patient_has_account = p->has_balance,
        .use_account = use_account,
        .patient_balance = p->balance,
        .patient_normal = true,
        .fund_pct = fund_pct,
    };
    if (auth_no[0]) {
        if (load_person(c, auth_no, authoriser) != 0)
            return c->db_failed ? -1 : fail(c, "共济授权人信息不存在");
        *has_authoriser = true;
        const person *a = authoriser;
        sp.has_authoriser = true;
        sp.authoriser_normal = status_refusal(a->stas) == NULL && a->has_balance;
        sp.authoriser_balance = a->balance;
        if (city_rule(c, a->insuplc, &sp.retained_minimum, &sp.allow_out_of_city) != 0)
            return -1;
        sp.same_city = strncmp(a->insuplc, c->inst_admdvs, 4) == 0 &&
                       strncmp(p->insuplc, c->inst_admdvs, 4) == 0;
    }
    emu_split(lines, n, &sp, out);
    if (out->mulaid_refusal)
        snprintf(c->warn, sizeof c->warn, "家庭共济未支付：%s", out->mulaid_refusal);
    return 0;
}

static int prepare_sale(ctx *c, sale *s)
{
    json_object *di = need_obj(c, c->input, "druginfo");
    if (di == NULL)
        return -1;
    const char *psn_no, *cert_type, *cert_no, *begntime, *insutype, *acct_flag, *med_type;
    if (need_str(c, di, "druginfo.", "psn_no", 30, false, &psn_no) ||
        need_str(c, di, "druginfo.", "mdtrt_cert_type", 3, false, &cert_type) ||
        need_str(c, di, "druginfo.", "mdtrt_cert_no", 50, false, &cert_no) ||
        need_str(c, di, "druginfo.", "begntime", 19, false, &begntime) ||
        need_str(c, di, "druginfo.", "insutype", 6, false, &insutype) ||
        need_str(c, di, "druginfo.", "acct_used_flag", 1, false, &acct_flag) ||
        need_str(c, di, "druginfo.", "med_type", 6, false, &med_type) ||
        need_str(c, di, "druginfo.", "fixmedins_setl_id", 30, false, &s->fixmedins_setl_id))
        return -1;
    emu_fen sumamt;
    if (parse_amount_field(c, di, "druginfo.", "medfee_sumamt", 2, &sumamt, NULL))
        return -1;
    if (!emu_time_text_valid(begntime))
        return fail(c, "字段druginfo.begntime格式错误，应为yyyy-MM-dd HH:mm:ss");
    if (strcmp(acct_flag, "0") != 0 && strcmp(acct_flag, "1") != 0)
        return fail(c, "字段druginfo.acct_used_flag应为\"0\"或\"1\"");
    if (strcmp(med_type, "41") != 0)
        return fail(c, "药店购药医疗类别med_type应为41");
    if (check_patient(c, psn_no, cert_type, cert_no, insutype, &s->patient) != 0)
        return -1;

    json_object *details;
    if (!json_object_object_get_ex(c->input, "drugdetail", &details) ||
        json_object_get_type(details) != json_type_array)
        return fail(c, "入参缺少数组：input.drugdetail");
    size_t n = json_object_array_length(details);
    if (n == 0)
        return fail(c, "费用明细drugdetail不能为空");
    if (n > EMU_MAX_LINES)
        return fail(c, "费用明细超过%d条", EMU_MAX_LINES);
    emu_fen sum = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(details, i);
        char where[32];
        snprintf(where, sizeof where, "drugdetail[%zu].", i);
        if (json_object_get_type(d) != json_type_object)
            return fail(c, "%s应为对象", where);
        line_meta *m = &s->meta[i];
        if (parse_fee_line(c, d, where, m) != 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->meta[j].feedetl_sn, m->feedetl_sn) == 0)
                return fail(c, "费用明细流水号feedetl_sn重复：%s", m->feedetl_sn);
        s->lines[i] = m->line;
        sum += m->line.amount;
    }
    if (sum != sumamt)
        return fail(c, "医疗费总额medfee_sumamt与明细金额合计不符");
    s->n = n;

    return split_payment(c, &s->patient, acct_flag[0] == '1', s->lines, s->n, 0, &s->authoriser,
                         &s->has_authoriser, &s->split);
}

static json_object *detlcutinfo_json(ctx *c, const sale *s)
{
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < s->n; i++)
        json_object_array_add(arr, fee_line_result_json(c, &s->meta[i]));
    return arr;
}

int new_ids(ctx *c, char setl_id[40], char mdtrt_id[40])
{
    int64_t seq;
    char compact[15];
    if (next_seq(c, &seq) != 0)
        return -1;
    emu_time_compact(c->now, compact);
    snprintf(setl_id, 40, "STL%s%06lld", compact, (long long)seq);
    if (mdtrt_id != NULL)
        snprintf(mdtrt_id, 40, "MDT%s%06lld", compact, (long long)seq);
    return 0;
}

int record_settlement(ctx *c, const person *p, const setl_view *v, const char *fixmedins_setl_id,
                      const emu_split_result *r, const person *authoriser)
{
    if (adjust_balance(c, p->psn_no, -r->acct_pay) != 0 ||
        (r->mulaid_pay > 0 &&
         (authoriser == NULL || adjust_balance(c, authoriser->psn_no, -r->mulaid_pay) != 0)))
        return c->db_failed ? -1 : fail(c, "个人账户余额不足，结算失败");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(
            c->db,
            "INSERT INTO settlements(setl_id, mdtrt_id, msgid, fixmedins_code, "
            "fixmedins_setl_id, psn_no, insutype, setl_time, medfee_sumamt, "
            "fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, inscp_scp_amt, "
            "fund_pay_sumamt, psn_part_amt, acct_pay, acct_mulaid_pay, psn_cash_pay, "
            "authoriser, balc_after) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    const char *texts[] = {v->setl_id,        v->mdtrt_id, c->msgid,    c->fixmedins_code,
                           fixmedins_setl_id, p->psn_no,   p->insutype, v->setl_time};
    for (int i = 0; i < 8; i++)
        sqlite3_bind_text(st, i + 1, texts[i], -1, SQLITE_STATIC);
    const emu_fen nums[] = {r->total, r->fulamt_ownpay, r->overlmt_selfpay, r->preselfpay, r->inscp,
                            r->fund,  r->psn_part,      r->acct_pay,        r->mulaid_pay, r->cash};
    for (int i = 0; i < 10; i++)
        sqlite3_bind_int64(st, 9 + i, nums[i]);
    if (r->mulaid_pay > 0)
        sqlite3_bind_text(st, 19, authoriser->psn_no, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 19);
    if (p->has_balance)
        sqlite3_bind_int64(st, 20, p->balance - r->acct_pay);
    else
        sqlite3_bind_null(st, 20);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(c);
}

static int txn_2101_2102(ctx *c, bool settle, json_object **out)
{
    sale *s = calloc(1, sizeof *s);
    if (s == NULL)
        return fail(c, "平台内部错误，请稍后重试");
    int ret = -1;
    if (prepare_sale(c, s) != 0)
        goto done;
    const emu_split_result *r = &s->split;
    person *p = &s->patient;
    setl_view v = {.sign = 1, .medins_setl_id = c->msgid};
    emu_time_text(c->now, v.setl_time);
    v.balc_na = !p->has_balance;
    v.balc = p->balance - r->acct_pay;
    char setl_id[40] = "", mdtrt_id[40] = "";
    if (settle) {
        if (new_ids(c, setl_id, mdtrt_id) != 0)
            goto done;
        v.setl_id = setl_id;
        v.mdtrt_id = mdtrt_id;
        if (record_settlement(c, p, &v, s->fixmedins_setl_id, r,
                              s->has_authoriser ? &s->authoriser : NULL) != 0)
            goto done;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "setlinfo", setlinfo_json(c, p, &v, r));
    json_object_object_add(o, "setldetail", setldetail_json(c, p, r, 1));
    json_object_object_add(o, "detlcutinfo", detlcutinfo_json(c, s));
    *out = o;
    ret = 0;
done:
    free(s);
    return ret;
}

/* ---- 2103 and the reversal helpers ---- */

int load_settlement(ctx *c, const char *column, const char *value, stored_setl *out)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT setl_id, mdtrt_id, msgid, fixmedins_code, psn_no, ifnull(authoriser,''), "
             "cancelled, medfee_sumamt, fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, "
             "inscp_scp_amt, fund_pay_sumamt, psn_part_amt, acct_pay, acct_mulaid_pay, "
             "psn_cash_pay, ifnull((SELECT med_type FROM visits v WHERE v.mdtrt_id = "
             "settlements.mdtrt_id), '') FROM settlements WHERE %s=?",
             column);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 1 : db_fail(c);
    }
    memset(out, 0, sizeof *out);
    snprintf(out->setl_id, sizeof out->setl_id, "%s", sqlite3_column_text(st, 0));
    snprintf(out->mdtrt_id, sizeof out->mdtrt_id, "%s", sqlite3_column_text(st, 1));
    snprintf(out->msgid, sizeof out->msgid, "%s", sqlite3_column_text(st, 2));
    snprintf(out->inst, sizeof out->inst, "%s", sqlite3_column_text(st, 3));
    snprintf(out->psn_no, sizeof out->psn_no, "%s", sqlite3_column_text(st, 4));
    snprintf(out->authoriser, sizeof out->authoriser, "%s", sqlite3_column_text(st, 5));
    snprintf(out->cancelled, sizeof out->cancelled, "%s", sqlite3_column_text(st, 6));
    emu_split_result *r = &out->split;
    r->total = sqlite3_column_int64(st, 7);
    r->fulamt_ownpay = sqlite3_column_int64(st, 8);
    r->overlmt_selfpay = sqlite3_column_int64(st, 9);
    r->preselfpay = sqlite3_column_int64(st, 10);
    r->inscp = sqlite3_column_int64(st, 11);
    r->fund = sqlite3_column_int64(st, 12);
    r->psn_part = sqlite3_column_int64(st, 13);
    r->acct_pay = sqlite3_column_int64(st, 14);
    r->mulaid_pay = sqlite3_column_int64(st, 15);
    r->cash = sqlite3_column_int64(st, 16);
    snprintf(out->med_type, sizeof out->med_type, "%s", sqlite3_column_text(st, 17));
    sqlite3_finalize(st);
    return 0;
}

/* Gives the money of a live settlement back and marks it with `how` ("2103" or "2601"). */
int undo_settlement(ctx *c, const stored_setl *s, const char *how)
{
    if (adjust_balance(c, s->psn_no, s->split.acct_pay) != 0 ||
        (s->authoriser[0] && adjust_balance(c, s->authoriser, s->split.mulaid_pay) != 0))
        return c->db_failed ? -1 : fail(c, "平台内部错误：退回账户失败");
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "UPDATE settlements SET cancelled=? WHERE setl_id=?", -1, &st,
                           NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, how, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s->setl_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(c);
}

static int txn_2103(ctx *c, json_object **out)
{
    json_object *d = need_obj(c, c->input, "data");
    const char *setl_id, *psn_no;
    if (d == NULL || need_str(c, d, "data.", "setl_id", 30, false, &setl_id) ||
        need_str(c, d, "data.", "psn_no", 30, false, &psn_no))
        return -1;
    return cancel_settlement(c, setl_id, psn_no, NULL, out);
}

int cancel_settlement(ctx *c, const char *setl_id, const char *psn_no, const char *mdtrt_id,
                      json_object **out)
{
    stored_setl s;
    int rc = load_settlement(c, "setl_id", setl_id, &s);
    if (rc != 0)
        return rc < 0 ? -1 : fail(c, "结算记录不存在：%s", setl_id);
    if (strcmp(s.psn_no, psn_no) != 0)
        return fail(c, "结算记录与人员编号psn_no不一致");
    if (strcmp(s.inst, c->fixmedins_code) != 0)
        return fail(c, "不能撤销其他定点机构的结算");
    /* a visit's settlement is cancelled by 2208 (with its mdtrt_id), a pharmacy sale's by 2103 */
    int64_t is_visit = 0;
    if (emu_db_scalar(c->db, &is_visit, "SELECT count(*) FROM visits WHERE mdtrt_id=?", s.mdtrt_id,
                      NULL) != 0)
        return db_fail(c);
    if (mdtrt_id == NULL && is_visit)
        return fail(c, "门诊结算应使用2208撤销");
    if (mdtrt_id != NULL && (!is_visit || strcmp(mdtrt_id, s.mdtrt_id) != 0))
        return fail(c, "结算记录与就诊ID mdtrt_id不一致");
    if (strcmp(s.cancelled, "2103") == 0 || strcmp(s.cancelled, "2208") == 0)
        return fail(c, "该结算已撤销，不能重复撤销");
    if (strcmp(s.cancelled, "2601") == 0)
        return fail(c, "该结算已冲正，不能撤销");
    person p;
    if (load_person(c, psn_no, &p) != 0)
        return c->db_failed ? -1 : fail(c, "人员编号psn_no不存在");
    if (strcmp(c->insuplc, p.insuplc) != 0)
        return fail(c, "参保地医保区划insuplc_admdvs与人员参保地不一致");
    if (undo_settlement(c, &s, mdtrt_id == NULL ? "2103" : "2208") != 0)
        return -1;
    char cancel_id[40];
    if (new_ids(c, cancel_id, NULL) != 0)
        return -1;
    setl_view v = {.sign = -1,
                   .setl_id = cancel_id,
                   .mdtrt_id = s.mdtrt_id,
                   .medins_setl_id = c->msgid,
                   .med_type = s.med_type[0] ? s.med_type : NULL};
    emu_time_text(c->now, v.setl_time);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO cancellations(setl_id, orig_setl_id, msgid, time) "
                           "VALUES (?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, cancel_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, s.setl_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->msgid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, v.setl_time, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(c);
    /* balance after the refund */
    if (load_person(c, psn_no, &p) != 0)
        return db_fail(c);
    v.balc_na = !p.has_balance;
    v.balc = p.balance;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "setlinfo", setlinfo_json(c, &p, &v, &s.split));
    json_object_object_add(o, "setldetail", setldetail_json(c, &p, &s.split, -1));
    *out = o;
    return 0;
}

/* ---- 2601 ---- */

static int record_reversal(ctx *c, const char *omsgid, const char *oinfno, const char *psn_no,
                           const char *outcome)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO reversals(omsgid, oinfno, psn_no, msgid, outcome, time) "
                           "VALUES (?,?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    char text[20];
    emu_time_text(c->now, text);
    const char *vals[] = {omsgid, oinfno, psn_no, c->msgid, outcome, text};
    for (int i = 0; i < 6; i++)
        sqlite3_bind_text(st, i + 1, vals[i], -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(c);
}

/* Undoes an applied 2103: the settlement becomes live again, its money is taken again. */
static int undo_cancellation(ctx *c, const char *cancel_msgid, bool *applied)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "SELECT orig_setl_id FROM cancellations WHERE msgid=? AND reversed=0",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, cancel_msgid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    char orig[40] = "";
    if (rc == SQLITE_ROW)
        snprintf(orig, sizeof orig, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        *applied = false;
        return 0;
    }
    if (rc != SQLITE_ROW)
        return db_fail(c);
    stored_setl s;
    if (load_settlement(c, "setl_id", orig, &s) != 0)
        return db_fail(c);
    if (adjust_balance(c, s.psn_no, -s.split.acct_pay) != 0 ||
        (s.authoriser[0] && adjust_balance(c, s.authoriser, -s.split.mulaid_pay) != 0))
        return c->db_failed ? -1 : fail(c, "冲正失败：原撤销已生效且账户余额已变动，请人工处理");
    char *q1 = sqlite3_mprintf("UPDATE settlements SET cancelled='' WHERE setl_id=%Q", orig);
    char *q2 = sqlite3_mprintf("UPDATE cancellations SET reversed=1 WHERE msgid=%Q", cancel_msgid);
    int bad = emu_db_exec(c->db, q1) != 0 || emu_db_exec(c->db, q2) != 0;
    sqlite3_free(q1);
    sqlite3_free(q2);
    if (bad)
        return db_fail(c);
    *applied = true;
    return 0;
}

static int txn_2601(ctx *c, json_object **out)
{
    json_object *d = need_obj(c, c->input, "data");
    const char *psn_no, *omsgid, *oinfno;
    if (d == NULL || need_str(c, d, "data.", "psn_no", 30, false, &psn_no) ||
        need_str(c, d, "data.", "omsgid", 30, false, &omsgid) ||
        need_str(c, d, "data.", "oinfno", 10, false, &oinfno))
        return -1;
    if (strlen(omsgid) != 30 || strncmp(omsgid, c->fixmedins_code, 12) != 0)
        return fail(c, "原报文ID omsgid格式错误或不属于本机构");
    if (strcmp(omsgid, c->msgid) == 0)
        return fail(c, "原报文ID omsgid不能是本冲正报文自身");
    person p;
    int rc = load_person(c, psn_no, &p);
    if (rc != 0)
        return rc < 0 ? -1 : fail(c, "人员编号psn_no不存在");
    if (strcmp(c->insuplc, p.insuplc) != 0)
        return fail(c, "参保地医保区划insuplc_admdvs与人员参保地不一致");

    /* a repeated reversal (new msgid) finds the first one and changes nothing */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "SELECT oinfno, psn_no FROM reversals WHERE omsgid=?", -1, &st,
                           NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, omsgid, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        bool same = strcmp((const char *)sqlite3_column_text(st, 0), oinfno) == 0 &&
                    strcmp((const char *)sqlite3_column_text(st, 1), psn_no) == 0;
        sqlite3_finalize(st);
        if (!same)
            return fail(c, "原交易已冲正，且原交易编号或人员编号与本次不一致");
        *out = json_object_new_object();
        return 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_fail(c);

    if (sqlite3_prepare_v2(c->db, "SELECT infno FROM msgids WHERE msgid=?", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, omsgid, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    char seen_infno[16] = "";
    if (rc == SQLITE_ROW)
        snprintf(seen_infno, sizeof seen_infno, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(c);

    const char *outcome = "nothing";
    if (rc == SQLITE_DONE) {
        /* never arrived: acknowledge, and bar the original should it still turn up */
        outcome = "not_found";
    } else if (strcmp(seen_infno, oinfno) != 0) {
        return fail(c, "原交易编号oinfno与原报文不符");
    } else if (strcmp(oinfno, "2102") == 0 || strcmp(oinfno, "2207") == 0) {
        stored_setl s;
        rc = load_settlement(c, "msgid", omsgid, &s);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            if (strcmp(s.psn_no, psn_no) != 0)
                return fail(c, "原结算与人员编号psn_no不一致");
            if (s.cancelled[0] == '\0') {
                if (undo_settlement(c, &s, "2601") != 0)
                    return -1;
                outcome = "applied";
            }
        }
    } else if (strcmp(oinfno, "2103") == 0 || strcmp(oinfno, "2208") == 0) {
        bool applied = false;
        if (undo_cancellation(c, omsgid, &applied) != 0)
            return -1;
        if (applied)
            outcome = "applied";
    }
    if (record_reversal(c, omsgid, oinfno, psn_no, outcome) != 0)
        return -1;
    *out = json_object_new_object();
    return 0;
}

/* ---- envelope ---- */

static bool idempotent_infno(const char *infno)
{
    /* money-moving transactions: a repeated msgid is a retry of the same request */
    return strcmp(infno, "2102") == 0 || strcmp(infno, "2103") == 0 || strcmp(infno, "2207") == 0 ||
           strcmp(infno, "2208") == 0 || strcmp(infno, "2601") == 0;
}

static bool needs_psn(const char *infno)
{
    /* the pharmacy sale, the outpatient visit (2201-2208) and the reversal */
    return strcmp(infno, "2101") == 0 || strcmp(infno, "2102") == 0 || strcmp(infno, "2103") == 0 ||
           strcmp(infno, "2601") == 0 ||
           (strncmp(infno, "220", 3) == 0 && infno[3] >= '1' && infno[3] <= '8' &&
            infno[4] == '\0');
}

static bool needs_sign_in(const char *infno)
{
    return strcmp(infno, "9001") != 0 && strcmp(infno, "ec.query") != 0;
}

static int check_envelope(ctx *c, json_object *req)
{
    const char *v;
    if (need_str(c, req, "", "mdtrtarea_admvs", 6, false, &v))
        return -1;
    if (!emu_digits(v, 6))
        return fail(c, "就医地医保区划mdtrtarea_admvs应为6位数字");
    if (strcmp(v, c->inst_admdvs) != 0)
        return fail(c, "就医地医保区划mdtrtarea_admvs与定点机构所在区划%s不符", c->inst_admdvs);
    if (need_str(c, req, "", "inf_time", 19, false, &v))
        return -1;
    if (!emu_time_text_valid(v))
        return fail(c, "交易时间inf_time格式错误，应为yyyy-MM-dd HH:mm:ss");
    if (need_str(c, req, "", "opter", 30, false, &c->opter) ||
        need_str(c, req, "", "opter_type", 3, false, &v))
        return -1;
    if (strcmp(v, "1") != 0 && strcmp(v, "2") != 0 && strcmp(v, "3") != 0)
        return fail(c, "经办人类别opter_type应为1、2或3");
    if (need_str(c, req, "", "fixmedins_name", 200, false, &v))
        return -1;
    if (needs_psn(c->infno)) {
        if (need_str(c, req, "", "insuplc_admdvs", 6, false, &c->insuplc))
            return -1;
        if (!emu_digits(c->insuplc, 6))
            return fail(c, "参保地医保区划insuplc_admdvs应为6位数字");
    }
    if (needs_sign_in(c->infno)) {
        const char *sign_no = str_member(req, "sign_no");
        if (sign_no == NULL || sign_no[0] == '\0')
            return fail(c, "签到编号sign_no缺失，请先签到(9001)");
        if (strlen(sign_no) > 30)
            return fail(c, "字段sign_no超长（最长30）");
        int64_t ok = 0;
        if (emu_db_scalar(c->db, &ok,
                          "SELECT count(*) FROM sign_ins WHERE sign_no=? AND fixmedins_code=? "
                          "AND opter=? AND signed_out=0",
                          sign_no, c->fixmedins_code, c->opter, NULL) != 0)
            return db_fail(c);
        if (ok == 0)
            return fail(c, "签到编号sign_no无效、已签退或不属于当前操作员");
    }
    if (!json_object_is_type(c->input, json_type_object))
        return fail(c, "入参缺少对象：input");
    return 0;
}

static int store_msgid(ctx *c, const char *digest, const char *response)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db,
                           "INSERT INTO msgids(msgid, infno, input_digest, response, time) "
                           "VALUES (?,?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(c);
    sqlite3_bind_text(st, 1, c->msgid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->infno, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, digest, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, response, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)c->now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : db_fail(c);
}

static void finish(emu_txn_result *res, ctx *c, char *body, int code)
{
    res->body = body;
    snprintf(res->infcode, sizeof res->infcode, "%d", code);
    (void)c;
}

static void respond_error(emu_txn_result *res, ctx *c)
{
    json_object *env = envelope(c, -1, c->err, NULL);
    finish(res, c, serialise(env), -1);
    json_object_put(env);
}

void emu_txn_handle(const emu_config *cfg, sqlite3 *db, const char *body, emu_txn_result *res)
{
    memset(res, 0, sizeof *res);
    static atomic_uint rotation_seed;
    ctx c = {.cfg = cfg, .db = db, .now = time(NULL)};
    c.aw.style = cfg->style;
    c.aw.rotation = atomic_fetch_add(&rotation_seed, 1);
    snprintf(res->infno, sizeof res->infno, "-");
    snprintf(res->msgid, sizeof res->msgid, "-");

    json_tokener *tok = json_tokener_new();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *req = json_tokener_parse_ex(tok, body, (int)strlen(body));
    bool complete = json_tokener_get_error(tok) == json_tokener_success &&
                    json_tokener_get_parse_end(tok) == strlen(body);
    json_tokener_free(tok);
    if (req == NULL || !complete || !json_object_is_type(req, json_type_object)) {
        fail(&c, "请求报文不是合法的JSON对象");
        respond_error(res, &c);
        json_object_put(req);
        return;
    }

    bool in_txn = false;
    if (need_str(&c, req, "", "infno", 10, false, &c.infno) ||
        need_str(&c, req, "", "msgid", 30, false, &c.msgid) ||
        need_str(&c, req, "", "fixmedins_code", 12, false, &c.fixmedins_code))
        goto refuse;
    snprintf(res->infno, sizeof res->infno, "%s", c.infno);
    snprintf(res->msgid, sizeof res->msgid, "%s", c.msgid);
    if (!json_object_object_get_ex(req, "input", &c.input)) {
        fail(&c, "入参缺少对象：input");
        goto refuse;
    }
    {
        size_t ml = strlen(c.msgid);
        bool digits4 = ml == 30 && emu_digits(c.msgid + 26, 4);
        if (ml != 30 || !emu_time_compact_valid(c.msgid + 12, 14) || !digits4) {
            fail(&c, "报文ID msgid格式错误：应为定点机构编码(12位)+yyyyMMddHHmmss(14位)+4位顺序号");
            goto refuse;
        }
        if (strncmp(c.msgid, c.fixmedins_code, 12) != 0) {
            fail(&c, "报文ID msgid前12位与定点机构编码fixmedins_code不一致");
            goto refuse;
        }
    }

    if (emu_db_begin_immediate(db) != 0) {
        c.db_failed = true;
        fail(&c, "平台内部错误，请稍后重试");
        goto refuse;
    }
    in_txn = true;
    {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT admdvs FROM institutions WHERE fixmedins_code=?", -1,
                               &st, NULL) != SQLITE_OK) {
            db_fail(&c);
            goto refuse;
        }
        sqlite3_bind_text(st, 1, c.fixmedins_code, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            snprintf(c.inst_admdvs, sizeof c.inst_admdvs, "%s", sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        if (rc != SQLITE_ROW) {
            if (rc != SQLITE_DONE)
                db_fail(&c);
            else
                fail(&c, "定点医药机构编码fixmedins_code不存在");
            goto refuse;
        }
    }

    /* msgid: replay, duplicate or barred by an earlier reversal */
    char digest_src_hex[65];
    {
        const char *input_text = json_object_to_json_string_ext(
            c.input, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        size_t len = strlen(c.infno) + 1 + strlen(input_text);
        char *src = malloc(len + 1);
        if (src == NULL) {
            fail(&c, "平台内部错误，请稍后重试");
            goto refuse;
        }
        snprintf(src, len + 1, "%s\n%s", c.infno, input_text);
        emu_sha256_hex(src, len, digest_src_hex);
        free(src);

        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT infno, input_digest, response FROM msgids WHERE msgid=?",
                               -1, &st, NULL) != SQLITE_OK) {
            db_fail(&c);
            goto refuse;
        }
        sqlite3_bind_text(st, 1, c.msgid, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            bool same_infno = strcmp((const char *)sqlite3_column_text(st, 0), c.infno) == 0;
            bool same_input = strcmp((const char *)sqlite3_column_text(st, 1), digest_src_hex) == 0;
            if (same_infno && idempotent_infno(c.infno) && same_input) {
                res->body = strdup((const char *)sqlite3_column_text(st, 2));
                res->replayed = true;
                sqlite3_finalize(st);
                emu_db_exec(db, "COMMIT");
                /* the stored body tells whether it was a success; the log wants the code */
                json_object *old = json_tokener_parse(res->body), *ic;
                snprintf(res->infcode, sizeof res->infcode, "%s",
                         old && json_object_object_get_ex(old, "infcode", &ic)
                             ? json_object_get_string(ic)
                             : "?");
                json_object_put(old);
                json_object_put(req);
                return;
            }
            sqlite3_finalize(st);
            if (same_infno && idempotent_infno(c.infno))
                fail(&c, "报文ID重复：与原交易内容不一致");
            else
                fail(&c, "报文ID重复");
            goto refuse;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            db_fail(&c);
            goto refuse;
        }
    }

    if (check_envelope(&c, req) != 0)
        goto refuse;

    {
        int64_t barred = 0;
        if (emu_db_scalar(db, &barred,
                          "SELECT count(*) FROM reversals WHERE omsgid=? AND outcome='not_found'",
                          c.msgid, NULL) != 0) {
            db_fail(&c);
            goto refuse;
        }
        json_object *output = NULL;
        int rc;
        if (emu_db_exec(db, "SAVEPOINT txn") != 0) {
            db_fail(&c);
            goto refuse;
        }
        if (barred)
            rc = fail(&c, "原交易已冲正，不能再处理");
        else if (strcmp(c.infno, "9001") == 0)
            rc = txn_9001(&c, &output);
        else if (strcmp(c.infno, "9002") == 0)
            rc = txn_9002(&c, &output);
        else if (strcmp(c.infno, "ec.query") == 0)
            rc = txn_ec_query(&c, &output);
        else if (strcmp(c.infno, "1101") == 0)
            rc = txn_1101(&c, &output);
        else if (strcmp(c.infno, "2101") == 0)
            rc = txn_2101_2102(&c, false, &output);
        else if (strcmp(c.infno, "2102") == 0)
            rc = txn_2101_2102(&c, true, &output);
        else if (strcmp(c.infno, "2103") == 0)
            rc = txn_2103(&c, &output);
        else if (strcmp(c.infno, "2601") == 0)
            rc = txn_2601(&c, &output);
        else if (strcmp(c.infno, "2201") == 0)
            rc = emu_clinic_2201(&c, &output);
        else if (strcmp(c.infno, "2202") == 0)
            rc = emu_clinic_2202(&c, &output);
        else if (strcmp(c.infno, "2203") == 0)
            rc = emu_clinic_2203(&c, &output);
        else if (strcmp(c.infno, "2204") == 0)
            rc = emu_clinic_2204(&c, &output);
        else if (strcmp(c.infno, "2205") == 0)
            rc = emu_clinic_2205(&c, &output);
        else if (strcmp(c.infno, "2206") == 0)
            rc = emu_clinic_2206_2207(&c, false, &output);
        else if (strcmp(c.infno, "2207") == 0)
            rc = emu_clinic_2206_2207(&c, true, &output);
        else if (strcmp(c.infno, "2208") == 0)
            rc = emu_clinic_2208(&c, &output);
        else if (strcmp(c.infno, "3201") == 0)
            rc = emu_recon_3201(&c, &output);
        else if (strcmp(c.infno, "3202") == 0)
            rc = emu_recon_3202(&c, &output);
        else
            rc = fail(&c, "不支持的交易编号infno：%s", c.infno);
        if (c.db_failed) {
            json_object_put(output);
            goto refuse;
        }
        if (rc != 0) {
            json_object_put(output);
            output = NULL;
            c.warn[0] = '\0';
            if (emu_db_exec(db, "ROLLBACK TO txn") != 0) {
                c.db_failed = true;
                goto refuse;
            }
        }
        emu_db_exec(db, "RELEASE txn");
        json_object *env = envelope(&c, rc == 0 ? 0 : -1, rc == 0 ? "" : c.err, output);
        char *text = serialise(env);
        json_object_put(env);
        if (store_msgid(&c, digest_src_hex, text) != 0 || emu_db_exec(db, "COMMIT") != 0) {
            free(text);
            c.db_failed = true;
            fail(&c, "平台内部错误，请稍后重试");
            goto refuse;
        }
        res->stored = true;
        finish(res, &c, text, rc == 0 ? 0 : -1);
        json_object_put(req);
        return;
    }

refuse:
    if (in_txn)
        emu_db_exec(db, "ROLLBACK");
    respond_error(res, &c);
    json_object_put(req);
}

char *emu_swap_person(const char *db_path, const char *body, const char *alias)
{
    json_object *env = json_tokener_parse(body), *out, *base;
    if (env == NULL || !json_object_object_get_ex(env, "output", &out) ||
        !json_object_object_get_ex(out, "baseinfo", &base)) {
        json_object_put(env);
        return NULL;
    }
    sqlite3 *db;
    char *text = NULL;
    if (emu_db_open(db_path, &db) != 0) {
        json_object_put(env);
        return NULL;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT psn_no, certno, name, gend, brdy FROM persons WHERE alias=?",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, alias, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            static const char *const keys[] = {"psn_no", "certno", "psn_name", "gend", "brdy"};
            for (int i = 0; i < 5; i++)
                json_object_object_add(
                    base, keys[i],
                    json_object_new_string((const char *)sqlite3_column_text(st, i)));
            text = serialise(env);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    json_object_put(env);
    return text;
}
