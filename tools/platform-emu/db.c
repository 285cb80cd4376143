/*
 * The ledger: one SQLite file in WAL mode so the running server and the CLI (issuing codes,
 * setting faults, reading balances) can use it at the same time. Money is INTEGER fen and a
 * CHECK keeps every balance >= 0 even if a rule were wrong.
 */
#include "emu.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS institutions("
    " fixmedins_code TEXT PRIMARY KEY, name TEXT NOT NULL, admdvs TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS persons("
    " psn_no TEXT PRIMARY KEY, alias TEXT NOT NULL UNIQUE, certno TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL, gend TEXT NOT NULL CHECK(gend IN ('1','2')), brdy TEXT NOT NULL,"
    " naty TEXT NOT NULL DEFAULT '01',"
    " insutype TEXT NOT NULL CHECK(insutype IN ('310','390')), psn_type TEXT NOT NULL,"
    " psn_insu_stas TEXT NOT NULL, psn_insu_date TEXT NOT NULL,"
    " paus_insu_date TEXT NOT NULL DEFAULT '', insuplc_admdvs TEXT NOT NULL,"
    " emp_name TEXT NOT NULL DEFAULT '',"
    /* 异地就医备案: a patient insured in another city may only settle here after filing */
    " offsite_filed INTEGER NOT NULL DEFAULT 0,"
    " balance INTEGER CHECK(balance IS NULL OR balance >= 0),"
    " CHECK((insutype = '390') = (balance IS NULL)));"
    "CREATE TABLE IF NOT EXISTS family_accounts("
    " holder TEXT NOT NULL REFERENCES persons(psn_no),"
    " relative TEXT NOT NULL REFERENCES persons(psn_no), relation TEXT NOT NULL,"
    " since TEXT NOT NULL, PRIMARY KEY(holder, relative));"
    "CREATE TABLE IF NOT EXISTS mutual_aid("
    " authoriser TEXT NOT NULL REFERENCES persons(psn_no),"
    " beneficiary TEXT NOT NULL REFERENCES persons(psn_no), relation TEXT NOT NULL,"
    " since TEXT NOT NULL, PRIMARY KEY(authoriser, beneficiary));"
    "CREATE TABLE IF NOT EXISTS region_rules("
    " city TEXT PRIMARY KEY, name TEXT NOT NULL, retained_min INTEGER NOT NULL,"
    " allow_out_of_city INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS catalogue("
    " med_list_codg TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL,"
    " cls TEXT NOT NULL CHECK(cls IN ('A','B')), med_chrgitm_type TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS codes("
    " code TEXT PRIMARY KEY, psn_no TEXT NOT NULL, holder TEXT, issued INTEGER NOT NULL,"
    " expires INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS ec_tokens("
    " token TEXT PRIMARY KEY, psn_no TEXT NOT NULL, holder TEXT, fixmedins_code TEXT NOT NULL,"
    " expires INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS sign_ins("
    " sign_no TEXT PRIMARY KEY, fixmedins_code TEXT NOT NULL, opter TEXT NOT NULL,"
    " opter_no TEXT NOT NULL, mac TEXT NOT NULL, ip TEXT NOT NULL, sign_time TEXT NOT NULL,"
    " signed_out INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS settlements("
    " setl_id TEXT PRIMARY KEY, mdtrt_id TEXT NOT NULL, msgid TEXT NOT NULL UNIQUE,"
    " fixmedins_code TEXT NOT NULL, fixmedins_setl_id TEXT NOT NULL, psn_no TEXT NOT NULL,"
    " insutype TEXT NOT NULL, setl_time TEXT NOT NULL, medfee_sumamt INTEGER NOT NULL,"
    " fulamt_ownpay_amt INTEGER NOT NULL, overlmt_selfpay INTEGER NOT NULL,"
    " preselfpay_amt INTEGER NOT NULL, inscp_scp_amt INTEGER NOT NULL,"
    " fund_pay_sumamt INTEGER NOT NULL, psn_part_amt INTEGER NOT NULL,"
    " acct_pay INTEGER NOT NULL, acct_mulaid_pay INTEGER NOT NULL,"
    " psn_cash_pay INTEGER NOT NULL, authoriser TEXT, balc_after INTEGER,"
    /* '' live, '2103' cancelled by the institution, '2601' reversed after an unknown outcome */
    " cancelled TEXT NOT NULL DEFAULT '');"
    /* The outpatient visit (clinic.c). A visit is registered (2201), described (2203), gets
     * fee lines in batches (2204, undone per batch by 2205) and is settled (2207) or
     * abandoned (2202). At most one live settlement per visit (settlements.mdtrt_id). */
    "CREATE TABLE IF NOT EXISTS visits("
    " mdtrt_id TEXT PRIMARY KEY, psn_no TEXT NOT NULL, insutype TEXT NOT NULL,"
    " fixmedins_code TEXT NOT NULL, ipt_otp_no TEXT NOT NULL, begntime TEXT NOT NULL,"
    " dept_name TEXT NOT NULL, dr_name TEXT NOT NULL,"
    " med_type TEXT NOT NULL DEFAULT '', dise_codg TEXT NOT NULL DEFAULT '',"
    " dise_name TEXT NOT NULL DEFAULT '',"
    /* open, cancelled (2202) */
    " state TEXT NOT NULL DEFAULT 'open', UNIQUE(fixmedins_code, ipt_otp_no));"
    "CREATE TABLE IF NOT EXISTS fee_lines("
    " mdtrt_id TEXT NOT NULL REFERENCES visits(mdtrt_id), feedetl_sn TEXT NOT NULL,"
    " chrg_bchno TEXT NOT NULL, med_list_codg TEXT NOT NULL, medins_list_codg TEXT NOT NULL,"
    " amount INTEGER NOT NULL CHECK(amount > 0), cls INTEGER NOT NULL,"
    " overlmt INTEGER NOT NULL DEFAULT 0, live INTEGER NOT NULL DEFAULT 1,"
    " PRIMARY KEY(mdtrt_id, feedetl_sn));"
    /* Price ceilings (pric_uplmt_amt) of catalogue items, fen per unit: above it is over-limit. */
    "CREATE TABLE IF NOT EXISTS price_limits("
    " med_list_codg TEXT PRIMARY KEY, pric_uplmt INTEGER NOT NULL CHECK(pric_uplmt > 0));"
    /* 门诊慢特病 recognition: who may settle med_type 14 for which disease. */
    "CREATE TABLE IF NOT EXISTS chronic_certs("
    " psn_no TEXT NOT NULL REFERENCES persons(psn_no), dise_codg TEXT NOT NULL,"
    " dise_name TEXT NOT NULL, since TEXT NOT NULL, PRIMARY KEY(psn_no, dise_codg));"
    "CREATE TABLE IF NOT EXISTS cancellations("
    " setl_id TEXT PRIMARY KEY, orig_setl_id TEXT NOT NULL, msgid TEXT NOT NULL UNIQUE,"
    " time TEXT NOT NULL, reversed INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS msgids("
    " msgid TEXT PRIMARY KEY, infno TEXT NOT NULL, input_digest TEXT NOT NULL,"
    " response TEXT NOT NULL, time INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS nonces(nonce TEXT PRIMARY KEY, seen INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS reversals("
    " omsgid TEXT PRIMARY KEY, oinfno TEXT NOT NULL, psn_no TEXT NOT NULL,"
    " msgid TEXT NOT NULL,"
    /* applied: money moved back; not_found: the original never arrived (and is now barred);
     * nothing: the original moved no money (failed, or not a money transaction) */
    " outcome TEXT NOT NULL, time TEXT NOT NULL);"
    /* Every request that passed the gateway, as the server handled it: what tests wait on
     * instead of sleeping (a delayed request is recorded when it was finally processed). */
    "CREATE TABLE IF NOT EXISTS handled("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, msgid TEXT NOT NULL, infno TEXT NOT NULL,"
    " outcome TEXT NOT NULL, time INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS faults("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, infno TEXT NOT NULL, kind TEXT NOT NULL,"
    " value TEXT NOT NULL DEFAULT '', remaining INTEGER NOT NULL CHECK(remaining > 0));";

/* Demo data. ID numbers carry valid check characters (tests verify them); birth dates give
 * the ages the demo script talks about in late 2026. */
static const char seed_sql[] =
    "INSERT INTO institutions VALUES"
    " ('H12010400001','和平区康宁大药房','120104'),"
    " ('H12010400002','南开区仁心诊所','120104');"
    "INSERT INTO persons(psn_no,alias,certno,name,gend,brdy,insutype,psn_type,psn_insu_stas,"
    " psn_insu_date,paus_insu_date,insuplc_admdvs,emp_name,offsite_filed,balance) VALUES"
    " ('12010400000010000301','employee','120104198103150314','张建国','1','1981-03-15',"
    "  '310','1101','1','2003-07-01','','120104','天津港联物流有限公司',0,300000),"
    " ('12010400000010000302','parent','120104195406020468','李秀英','2','1954-06-02',"
    "  '310','1102','1','1986-09-01','','120104','天津第二纺织机械厂',0,3520),"
    " ('12010400000010000303','child','120104201805200157','张小宇','1','2018-05-20',"
    "  '390','1503','1','2018-07-01','','120104','',0,NULL),"
    " ('12010400000010000304','stranger','120104199308110628','王丽华','2','1993-08-11',"
    "  '310','1101','1','2015-09-01','','120104','天津华信软件有限公司',0,86000),"
    " ('12010400000010000305','suspended','120104197401090773','赵志强','1','1974-01-09',"
    "  '310','1101','2','1996-04-01','2026-03-01','120104','天津宏达建材有限公司',0,152300),"
    " ('42120200000020000071','remote_parent','421202195810230285','陈桂兰','2','1958-10-23',"
    "  '310','1102','1','1983-05-01','','421202','咸宁市纺织厂',1,1000);"
    "INSERT INTO family_accounts VALUES"
    " ('12010400000010000301','12010400000010000302','父母','2024-11-02'),"
    " ('12010400000010000301','12010400000010000303','子女','2024-11-02');"
    "INSERT INTO mutual_aid VALUES"
    " ('12010400000010000301','12010400000010000302','父母','2025-03-10'),"
    " ('12010400000010000301','42120200000020000071','近亲属','2025-06-18');"
    "INSERT INTO region_rules VALUES"
    " ('1201','天津市',200000,0),"
    " ('4212','咸宁市',0,0);"
    "INSERT INTO catalogue VALUES"
    " ('XJ01CAA040A001010100001','阿莫西林胶囊','0.25g*24粒','A','09'),"
    " ('XA02BCA001A001010100001','奥美拉唑肠溶胶囊','20mg*14粒','A','09'),"
    " ('XC08CAA077A001010100001','苯磺酸氨氯地平片','5mg*28片','A','09'),"
    " ('XA10BAA030A001010300582','盐酸二甲双胍片','0.5g*20片','A','09'),"
    " ('XN02BEA010A001010200446','对乙酰氨基酚片','0.5g*12片','A','09'),"
    " ('XR05XAL047A001010100001','维生素C片','0.1g*100片','B','09'),"
    " ('XR05CBA086A001020100001','小儿氨酚黄那敏颗粒','6g*10袋','B','09'),"
    " ('XC10AAA050A001010101873','阿托伐他汀钙片','20mg*7片','B','09'),"
    " ('XJ01FAA090A001010101106','克拉霉素片','0.25g*6片','B','09'),"
    /* clinic services: 诊察费 (02), 化验费 (04), 治疗费 (05) */
    " ('001102000010000','普通门诊诊查费','次','A','02'),"
    " ('250101001000000','血细胞分析（血常规）','次','A','04'),"
    " ('250302002000000','糖化血红蛋白测定','次','B','04'),"
    " ('120400001000000','静脉输液','次','B','05');"
    /* price ceilings (fen per unit): above them the line is over-limit */
    "INSERT INTO price_limits VALUES"
    " ('001102000010000',1000),"
    " ('250101001000000',2000),"
    " ('XC08CAA077A001010100001',2800);"
    /* 门诊慢特病 recognitions */
    "INSERT INTO chronic_certs VALUES"
    " ('12010400000010000301','I10.x00','高血压','2023-04-12'),"
    " ('12010400000010000302','E11.900','2型糖尿病','2019-09-30');"
    "INSERT INTO meta VALUES ('seeded','1'), ('seq','0');";

int emu_db_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "platform-emu: sqlite: %s\n", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int emu_db_open(const char *path, sqlite3 **db)
{
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        fprintf(stderr, "platform-emu: cannot open %s: %s\n", path, sqlite3_errmsg(*db));
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    /* the CLI and the server write concurrently; wait for each other instead of failing */
    sqlite3_busy_timeout(*db, 10000);
    if (emu_db_exec(*db, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON;") != 0) {
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    return 0;
}

int emu_db_begin_immediate(sqlite3 *db)
{
    return emu_db_exec(db, "BEGIN IMMEDIATE");
}

int emu_db_scalar(sqlite3 *db, int64_t *out, const char *sql, ...)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "platform-emu: sqlite: %s\n", sqlite3_errmsg(db));
        return -1;
    }
    va_list ap;
    va_start(ap, sql);
    for (int i = 1;; i++) {
        const char *arg = va_arg(ap, const char *);
        if (arg == NULL)
            break;
        sqlite3_bind_text(st, i, arg, -1, SQLITE_TRANSIENT);
    }
    va_end(ap);
    int rc = sqlite3_step(st);
    int ret = -1;
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        ret = 0;
    } else if (rc == SQLITE_DONE) {
        ret = 1; /* no row */
    } else {
        fprintf(stderr, "platform-emu: sqlite: %s\n", sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return ret;
}

int emu_db_init(const char *path, bool force)
{
    if (force) {
        /* start over: the demo's balances come back to their seeded values */
        char extra[4096];
        unlink(path);
        snprintf(extra, sizeof extra, "%s-wal", path);
        unlink(extra);
        snprintf(extra, sizeof extra, "%s-shm", path);
        unlink(extra);
    }
    sqlite3 *db;
    if (emu_db_open(path, &db) != 0)
        return -1;
    int rc = -1;
    if (emu_db_begin_immediate(db) != 0)
        goto out;
    if (emu_db_exec(db, schema_sql) != 0)
        goto rollback;
    int64_t seeded = 0;
    int q = emu_db_scalar(db, &seeded, "SELECT count(*) FROM meta WHERE key='seeded'", NULL);
    if (q < 0)
        goto rollback;
    if (seeded == 0 && emu_db_exec(db, seed_sql) != 0)
        goto rollback;
    if (emu_db_exec(db, "COMMIT") != 0)
        goto rollback;
    rc = 0;
    goto out;
rollback:
    emu_db_exec(db, "ROLLBACK");
out:
    sqlite3_close(db);
    return rc;
}

static int lookup_person(sqlite3 *db, const char *alias, char psn_no[32], char region[8])
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT psn_no, insuplc_admdvs FROM persons WHERE alias=?", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, alias, -1, SQLITE_STATIC);
    int rc = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(psn_no, 32, "%s", (const char *)sqlite3_column_text(st, 0));
        if (region)
            snprintf(region, 8, "%s", (const char *)sqlite3_column_text(st, 1));
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int emu_issue_code(sqlite3 *db, const char *person_alias, const char *holder_alias, int ttl_s,
                   char *code, size_t code_size, char *err, size_t err_size)
{
    char psn[32], region[8], holder[32] = "";
    if (code_size < 47) {
        snprintf(err, err_size, "code buffer too small");
        return -1;
    }
    if (lookup_person(db, person_alias, psn, region) != 0) {
        snprintf(err, err_size, "unknown person alias '%s'", person_alias);
        return -1;
    }
    if (holder_alias) {
        if (lookup_person(db, holder_alias, holder, NULL) != 0) {
            snprintf(err, err_size, "unknown holder alias '%s'", holder_alias);
            return -1;
        }
        int64_t bound = 0;
        if (emu_db_scalar(db, &bound,
                          "SELECT count(*) FROM family_accounts WHERE holder=? AND relative=?",
                          holder, psn, NULL) != 0 ||
            bound == 0) {
            snprintf(err, err_size,
                     "'%s' has no family-account (亲情账户) binding for '%s': refused",
                     holder_alias, person_alias);
            return -1;
        }
    }
    char head[40], check[17];
    char random_part[25];
    emu_random_base32(random_part, 24);
    snprintf(head, sizeof head, "%s%s", region, random_part);
    emu_code_check(head, check);
    snprintf(code, code_size, "%s%s", head, check);

    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO codes(code, psn_no, holder, issued, expires) "
                           "VALUES (?, ?, ?, ?, ?)",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, err_size, "sqlite: %s", sqlite3_errmsg(db));
        return -1;
    }
    time_t now = time(NULL);
    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, psn, -1, SQLITE_STATIC);
    if (holder[0])
        sqlite3_bind_text(st, 3, holder, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 3);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)now + ttl_s);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    if (rc != 0)
        snprintf(err, err_size, "sqlite: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}
