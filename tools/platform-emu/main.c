/*
 * platform-emu CLI.
 *
 *   platform-emu init    --db F [--force]
 *   platform-emu serve   --db F --port P --cert C --key K [--bind 127.0.0.1] [--code-ttl 120]
 *                        [--token-ttl 1800] [--paas-id ID --paas-token T]
 *                        [--amount-style mixed|number|string] [--ready-file PATH]
 *                        [--ticket-lifetime S]   (TLS 1.3 session tickets; 0 = none issued)
 *   platform-emu code    --db F --person ALIAS [--holder ALIAS] [--ttl S]
 *   platform-emu fault   --db F --infno X|* --kind K [--value V] [--times N]
 *   platform-emu fault   --db F --infno tls --kind refuse_ticket [--times N]
 *   platform-emu fault   --db F --clear
 *   platform-emu balance --db F --person ALIAS
 *   platform-emu show    --db F
 *   platform-emu count   --db F --what settlements|reversals|cancellations|handled:INFNO|
 *                                  signed_in:OPTER
 *   platform-emu expire-sign-ins --db F   (every sign_no issued so far is refused from now on)
 *   platform-emu handled --db F --msgid M [--wait MS]
 *   platform-emu snapshot --db F --to FILE | --from FILE
 *   platform-emu audit   --db F
 *
 * Exit status: 0 ok, 1 failure, 2 usage error. See docs/platform-emulator.md.
 */
#include "emu.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    OPT_DB = 1000,
    OPT_FORCE,
    OPT_PORT,
    OPT_CERT,
    OPT_KEY,
    OPT_BIND,
    OPT_CODE_TTL,
    OPT_TOKEN_TTL,
    OPT_PAAS_ID,
    OPT_PAAS_TOKEN,
    OPT_STYLE,
    OPT_READY,
    OPT_TICKET_LIFETIME,
    OPT_PERSON,
    OPT_HOLDER,
    OPT_TTL,
    OPT_INFNO,
    OPT_KIND,
    OPT_VALUE,
    OPT_TIMES,
    OPT_CLEAR,
    OPT_WHAT,
    OPT_MSGID,
    OPT_WAIT,
    OPT_TO,
    OPT_FROM,
};

static const struct option options[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"force", no_argument, NULL, OPT_FORCE},
    {"port", required_argument, NULL, OPT_PORT},
    {"cert", required_argument, NULL, OPT_CERT},
    {"key", required_argument, NULL, OPT_KEY},
    {"bind", required_argument, NULL, OPT_BIND},
    {"code-ttl", required_argument, NULL, OPT_CODE_TTL},
    {"token-ttl", required_argument, NULL, OPT_TOKEN_TTL},
    {"paas-id", required_argument, NULL, OPT_PAAS_ID},
    {"paas-token", required_argument, NULL, OPT_PAAS_TOKEN},
    {"amount-style", required_argument, NULL, OPT_STYLE},
    {"msgid", required_argument, NULL, OPT_MSGID},
    {"wait", required_argument, NULL, OPT_WAIT},
    {"to", required_argument, NULL, OPT_TO},
    {"from", required_argument, NULL, OPT_FROM},
    {"ready-file", required_argument, NULL, OPT_READY},
    {"ticket-lifetime", required_argument, NULL, OPT_TICKET_LIFETIME},
    {"person", required_argument, NULL, OPT_PERSON},
    {"holder", required_argument, NULL, OPT_HOLDER},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"infno", required_argument, NULL, OPT_INFNO},
    {"kind", required_argument, NULL, OPT_KIND},
    {"value", required_argument, NULL, OPT_VALUE},
    {"times", required_argument, NULL, OPT_TIMES},
    {"clear", no_argument, NULL, OPT_CLEAR},
    {"what", required_argument, NULL, OPT_WHAT},
    {NULL, 0, NULL, 0},
};

typedef struct {
    const char *db, *cert, *key, *bind, *paas_id, *paas_token, *style, *ready, *person, *holder,
        *infno, *kind, *value, *what, *msgid, *to, *from;
    int port, code_ttl, token_ttl, ttl, times, wait_ms, ticket_lifetime;
    bool force, clear, port_set;
} args;

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "platform-emu: %s\n", msg);
    fprintf(stderr,
            "usage: platform-emu "
            "init|serve|code|fault|balance|show|count|handled|audit|expire-sign-ins "
            "--db FILE "
            "[options]\n"
            "       (see the header of tools/platform-emu/main.c or docs/platform-emulator.md)\n");
    return 2;
}

static bool parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return false;
    *out = (int)v;
    return true;
}

static int parse_args(int argc, char **argv, args *a)
{
    memset(a, 0, sizeof *a);
    a->bind = "127.0.0.1";
    a->code_ttl = 120;
    a->ticket_lifetime = EMU_TICKET_LIFETIME_DEFAULT_S;
    a->token_ttl = 1800;
    a->ttl = -1;
    a->times = 1;
    a->paas_id = "evt-paas-demo";
    a->paas_token = "evt-demo-token-1234";
    a->style = "mixed";
    int c;
    optind = 2; /* argv[1] is the subcommand */
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case OPT_DB:
            a->db = optarg;
            break;
        case OPT_FORCE:
            a->force = true;
            break;
        case OPT_PORT:
            if (!parse_int(optarg, 0, 65535, &a->port))
                return usage("--port needs 0..65535");
            a->port_set = true;
            break;
        case OPT_CERT:
            a->cert = optarg;
            break;
        case OPT_KEY:
            a->key = optarg;
            break;
        case OPT_BIND:
            a->bind = optarg;
            break;
        case OPT_CODE_TTL:
            if (!parse_int(optarg, 0, 86400, &a->code_ttl))
                return usage("--code-ttl needs 0..86400 seconds");
            break;
        case OPT_TOKEN_TTL:
            if (!parse_int(optarg, 0, 86400, &a->token_ttl))
                return usage("--token-ttl needs 0..86400 seconds");
            break;
        case OPT_PAAS_ID:
            a->paas_id = optarg;
            break;
        case OPT_PAAS_TOKEN:
            a->paas_token = optarg;
            break;
        case OPT_STYLE:
            a->style = optarg;
            break;
        case OPT_READY:
            a->ready = optarg;
            break;
        case OPT_TICKET_LIFETIME:
            /* RFC 8446 4.6.1: a ticket lives at most 7 days */
            if (!parse_int(optarg, 0, 604800, &a->ticket_lifetime))
                return usage("--ticket-lifetime needs 0..604800 seconds");
            break;
        case OPT_PERSON:
            a->person = optarg;
            break;
        case OPT_HOLDER:
            a->holder = optarg;
            break;
        case OPT_TTL:
            if (!parse_int(optarg, 0, 86400, &a->ttl))
                return usage("--ttl needs 0..86400 seconds");
            break;
        case OPT_INFNO:
            a->infno = optarg;
            break;
        case OPT_KIND:
            a->kind = optarg;
            break;
        case OPT_VALUE:
            a->value = optarg;
            break;
        case OPT_TIMES:
            if (!parse_int(optarg, 1, 1000000, &a->times))
                return usage("--times needs a positive count");
            break;
        case OPT_CLEAR:
            a->clear = true;
            break;
        case OPT_WHAT:
            a->what = optarg;
            break;
        case OPT_MSGID:
            a->msgid = optarg;
            break;
        case OPT_TO:
            a->to = optarg;
            break;
        case OPT_FROM:
            a->from = optarg;
            break;
        case OPT_WAIT:
            if (!parse_int(optarg, 0, 600000, &a->wait_ms))
                return usage("--wait needs 0..600000 milliseconds");
            break;
        default:
            return usage(NULL);
        }
    }
    if (optind != argc)
        return usage("unexpected argument");
    if (a->db == NULL)
        return usage("--db FILE is required");
    return 0;
}

static int open_ready_db(const char *path, sqlite3 **db)
{
    /* every command works on a fresh path too: the seed is idempotent */
    if (emu_db_init(path, false) != 0)
        return -1;
    return emu_db_open(path, db);
}

static int cmd_serve(const args *a)
{
    if (!a->port_set || a->cert == NULL || a->key == NULL)
        return usage("serve needs --port, --cert and --key");
    emu_server_opts o = {
        .cfg = {.db_path = a->db, .code_ttl_s = a->code_ttl, .token_ttl_s = a->token_ttl},
        .bind_addr = a->bind,
        .port = a->port,
        .cert_path = a->cert,
        .key_path = a->key,
        .paas_id = a->paas_id,
        .paas_token = a->paas_token,
        .ready_file = a->ready,
        .ticket_lifetime_s = a->ticket_lifetime,
    };
    if (strcmp(a->style, "mixed") == 0)
        o.cfg.style = EMU_STYLE_MIXED;
    else if (strcmp(a->style, "number") == 0)
        o.cfg.style = EMU_STYLE_NUMBER;
    else if (strcmp(a->style, "string") == 0)
        o.cfg.style = EMU_STYLE_STRING;
    else
        return usage("--amount-style is mixed, number or string");
    /* the code TTL is a property of issued codes; the server records the default for `code` */
    sqlite3 *db;
    if (open_ready_db(a->db, &db) != 0)
        return 1;
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta VALUES ('code_ttl', '%d')", a->code_ttl);
    int rc = emu_db_exec(db, sql);
    sqlite3_close(db);
    if (rc != 0)
        return 1;
    return emu_serve(&o);
}

static int cmd_code(const args *a)
{
    if (a->person == NULL)
        return usage("code needs --person ALIAS");
    sqlite3 *db;
    if (open_ready_db(a->db, &db) != 0)
        return 1;
    int ttl = a->ttl;
    if (ttl < 0) {
        int64_t v = 120;
        if (emu_db_scalar(db, &v, "SELECT value FROM meta WHERE key='code_ttl'", NULL) < 0)
            v = 120;
        ttl = (int)v;
    }
    char code[64], err[256];
    int rc = emu_issue_code(db, a->person, a->holder, ttl, code, sizeof code, err, sizeof err);
    sqlite3_close(db);
    if (rc != 0) {
        fprintf(stderr, "platform-emu: %s\n", err);
        return 1;
    }
    printf("%s\n", code);
    return 0;
}

static int cmd_fault(const args *a)
{
    sqlite3 *db;
    if (open_ready_db(a->db, &db) != 0)
        return 1;
    int rc = 1;
    if (a->clear) {
        rc = emu_db_exec(db, "DELETE FROM faults") == 0 ? 0 : 1;
        goto out;
    }
    if (a->infno == NULL || a->kind == NULL) {
        sqlite3_close(db);
        return usage("fault needs --infno X|* and --kind K (or --clear)");
    }
    static const char *const kinds[] = {"delay",          "close_before", "close_mid",
                                        "malformed_json", "http_status",  "business_error",
                                        "status_body",    "other_person", "hold_answer",
                                        "pad_answer",     "refuse_ticket"};
    bool known = false;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        known = known || strcmp(a->kind, kinds[i]) == 0;
    if (!known) {
        sqlite3_close(db);
        return usage("--kind is delay, close_before, close_mid, malformed_json, http_status, "
                     "business_error, status_body, other_person, hold_answer, pad_answer or "
                     "refuse_ticket");
    }
    /* refuse_ticket acts on TLS connections, not on requests: it only goes with --infno tls. */
    if ((strcmp(a->kind, "refuse_ticket") == 0) != (strcmp(a->infno, "tls") == 0)) {
        sqlite3_close(db);
        return usage("refuse_ticket goes with --infno tls, and --infno tls only with it");
    }
    int v;
    if (strcmp(a->kind, "pad_answer") == 0 &&
        (a->value == NULL || !parse_int(a->value, 1, 16 * 1024 * 1024, &v))) {
        sqlite3_close(db);
        return usage("pad_answer needs --value BYTES (1..16777216)");
    }
    if ((strcmp(a->kind, "delay") == 0 || strcmp(a->kind, "hold_answer") == 0) &&
        (a->value == NULL || !parse_int(a->value, 0, 600000, &v))) {
        sqlite3_close(db);
        return usage("delay and hold_answer need --value MILLISECONDS (0..600000)");
    }
    if (strcmp(a->kind, "http_status") == 0 &&
        (a->value == NULL || !parse_int(a->value, 400, 599, &v))) {
        sqlite3_close(db);
        return usage("http_status needs --value 400..599");
    }
    if (strcmp(a->kind, "status_body") == 0 &&
        (a->value == NULL || !parse_int(a->value, 200, 599, &v))) {
        sqlite3_close(db);
        return usage("status_body needs --value 200..599");
    }
    if (strcmp(a->kind, "other_person") == 0 && a->value == NULL) {
        sqlite3_close(db);
        return usage("other_person needs --value ALIAS");
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO faults(infno, kind, value, remaining) VALUES (?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_text(st, 1, a->infno, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->value ? a->value : "", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, a->times);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : 1;
    sqlite3_finalize(st);
out:
    if (rc != 0)
        fprintf(stderr, "platform-emu: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc;
}

static int cmd_balance(const args *a)
{
    if (a->person == NULL)
        return usage("balance needs --person ALIAS");
    sqlite3 *db;
    if (open_ready_db(a->db, &db) != 0)
        return 1;
    sqlite3_stmt *st;
    int rc = 1;
    if (sqlite3_prepare_v2(db, "SELECT balance FROM persons WHERE alias=?", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, a->person, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            if (sqlite3_column_type(st, 0) == SQLITE_NULL) {
                fprintf(stderr,
                        "platform-emu: '%s' is resident insurance (390): no personal "
                        "account\n",
                        a->person);
            } else {
                char buf[32];
                printf("%s\n", emu_fen_format(sqlite3_column_int64(st, 0), buf, sizeof buf));
                rc = 0;
            }
        } else {
            fprintf(stderr, "platform-emu: unknown person alias '%s'\n", a->person);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return rc;
}

static int cmd_count(const args *a)
{
    const char *sql = NULL, *bind = NULL;
    if (a->what && strncmp(a->what, "handled:", 8) == 0) {
        sql = "SELECT count(*) FROM handled WHERE infno=?";
        bind = a->what + 8;
    } else if (a->what && strcmp(a->what, "settlements") == 0)
        sql = "SELECT count(*) FROM settlements";
    else if (a->what && strcmp(a->what, "reversals") == 0)
        sql = "SELECT count(*) FROM reversals";
    else if (a->what && strcmp(a->what, "cancellations") == 0)
        sql = "SELECT count(*) FROM cancellations";
    else if (a->what && strcmp(a->what, "live_settlements") == 0)
        sql = "SELECT count(*) FROM settlements WHERE cancelled=''";
    else if (a->what && strcmp(a->what, "live_amount") == 0)
        sql = "SELECT ifnull(sum(medfee_sumamt),0) FROM settlements WHERE cancelled=''";
    else if (a->what && strcmp(a->what, "open_visits") == 0)
        sql = "SELECT count(*) FROM visits WHERE state='open'";
    else if (a->what && strcmp(a->what, "cancelled_visits") == 0)
        sql = "SELECT count(*) FROM visits WHERE state='cancelled'";
    else if (a->what && strcmp(a->what, "live_fee_lines") == 0)
        sql = "SELECT count(*) FROM fee_lines WHERE live=1";
    else if (a->what && strncmp(a->what, "signed_in:", 10) == 0) {
        sql = "SELECT count(*) FROM sign_ins WHERE opter=? AND signed_out=0";
        bind = a->what + 10;
    } else
        return usage("--what is settlements, reversals, cancellations, live_settlements, "
                     "live_amount (fen), open_visits, cancelled_visits, live_fee_lines, "
                     "handled:INFNO or signed_in:OPTER");
    sqlite3 *db;
    if (open_ready_db(a->db, &db) != 0)
        return 1;
    int64_t n = 0;
    int rc = emu_db_scalar(db, &n, sql, bind, NULL);
    sqlite3_close(db);
    if (rc != 0)
        return 1;
    printf("%lld\n", (long long)n);
    return 0;
}

/* What a platform does at midnight or when an operator signs in on another terminal: every
 * sign_no issued so far stops being valid (refused like a signed-out one). */
static int cmd_expire_sign_ins(const args *a)
{
    sqlite3 *db;
    if (open_ready_db(a->db, &db) != 0)
        return 1;
    int rc = emu_db_exec(db, "UPDATE sign_ins SET signed_out=1 WHERE signed_out=0");
    if (rc == 0)
        printf("%d\n", sqlite3_changes(db));
    sqlite3_close(db);
    return rc == 0 ? 0 : 1;
}

static const char *col(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static const char *fen_col(sqlite3_stmt *st, int i, char *buf)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return "-";
    return emu_fen_format(sqlite3_column_int64(st, i), buf, 32);
}

static int cmd_show(const args *a)
{
    sqlite3 *db;
    if (open_ready_db(a->db, &db) != 0)
        return 1;
    sqlite3_stmt *st;
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    printf("== persons (balances in yuan) ==\n");
    if (sqlite3_prepare_v2(db,
                           "SELECT alias, name, insutype, psn_insu_stas, insuplc_admdvs, balance "
                           "FROM persons ORDER BY rowid",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            printf("%-14s %-6s insutype=%s stas=%s region=%s balance=%s\n", col(st, 0), col(st, 1),
                   col(st, 2), col(st, 3), col(st, 4), fen_col(st, 5, b1));
        sqlite3_finalize(st);
    }
    printf("== settlements ==\n");
    if (sqlite3_prepare_v2(
            db,
            "SELECT s.setl_id, s.setl_time, p.alias, s.medfee_sumamt, s.fund_pay_sumamt, "
            "s.acct_pay, s.acct_mulaid_pay, s.psn_cash_pay, ifnull(a.alias,''), s.cancelled, "
            "s.msgid FROM settlements s JOIN persons p ON p.psn_no=s.psn_no "
            "LEFT JOIN persons a ON a.psn_no=s.authoriser ORDER BY s.rowid",
            -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *state = col(st, 9);
            printf("%s %s %-14s total=%s fund=%s acct=%s mulaid=%s%s%s cash=%s msgid=%s%s\n",
                   col(st, 0), col(st, 1), col(st, 2), fen_col(st, 3, b1), fen_col(st, 4, b2),
                   fen_col(st, 5, b3), fen_col(st, 6, b4), col(st, 8)[0] ? " from " : "",
                   col(st, 8), fen_col(st, 7, b5), col(st, 10),
                   strcmp(state, "2103") == 0   ? " [cancelled]"
                   : strcmp(state, "2601") == 0 ? " [reversed]"
                                                : "");
        }
        sqlite3_finalize(st);
    }
    printf("== cancellations (2103) ==\n");
    if (sqlite3_prepare_v2(db,
                           "SELECT setl_id, orig_setl_id, time, msgid, reversed FROM "
                           "cancellations ORDER BY rowid",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            printf("%s cancels %s at %s msgid=%s%s\n", col(st, 0), col(st, 1), col(st, 2),
                   col(st, 3), sqlite3_column_int(st, 4) ? " [undone by 2601]" : "");
        sqlite3_finalize(st);
    }
    printf("== reversals (2601) ==\n");
    if (sqlite3_prepare_v2(db,
                           "SELECT omsgid, oinfno, outcome, time, msgid FROM reversals "
                           "ORDER BY rowid",
                           -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            printf("omsgid=%s oinfno=%s outcome=%s at %s msgid=%s\n", col(st, 0), col(st, 1),
                   col(st, 2), col(st, 3), col(st, 4));
        sqlite3_finalize(st);
    }
    printf("== totals (live settlements) ==\n");
    if (sqlite3_prepare_v2(db,
                           "SELECT count(*), ifnull(sum(medfee_sumamt),0), "
                           "ifnull(sum(fund_pay_sumamt),0), ifnull(sum(acct_pay),0), "
                           "ifnull(sum(acct_mulaid_pay),0), ifnull(sum(psn_cash_pay),0) "
                           "FROM settlements WHERE cancelled=''",
                           -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            printf("count=%d total=%s fund=%s acct=%s mulaid=%s cash=%s\n",
                   sqlite3_column_int(st, 0), fen_col(st, 1, b1), fen_col(st, 2, b2),
                   fen_col(st, 3, b3), fen_col(st, 4, b4), fen_col(st, 5, b5));
        sqlite3_finalize(st);
    }
    printf("== pending faults ==\n");
    if (sqlite3_prepare_v2(db, "SELECT infno, kind, value, remaining FROM faults ORDER BY id", -1,
                           &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            printf("infno=%s kind=%s value=%s remaining=%d\n", col(st, 0), col(st, 1), col(st, 2),
                   sqlite3_column_int(st, 3));
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return 0;
}

/* How the server handled a msgid (all records, oldest first, one per line). Waits up to
 * --wait ms for a first record: a delayed request is recorded only once it was processed. */
static int cmd_handled(const args *a)
{
    if (a->msgid == NULL)
        return usage("--msgid is required");
    sqlite3 *db;
    if (open_ready_db(a->db, &db) != 0)
        return 1;
    int found = 0;
    /* Bounded: one look per 20 ms until the deadline. */
    for (int waited = 0;; waited += 20) {
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(db, "SELECT infno, outcome FROM handled WHERE msgid=? ORDER BY seq",
                               -1, &st, NULL) != SQLITE_OK)
            break;
        sqlite3_bind_text(st, 1, a->msgid, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            printf("%s %s\n", col(st, 0), col(st, 1));
            found++;
        }
        sqlite3_finalize(st);
        if (found > 0 || waited >= a->wait_ms)
            break;
        struct timespec d = {0, 20 * 1000000L};
        nanosleep(&d, NULL);
    }
    sqlite3_close(db);
    return found > 0 ? 0 : 1;
}

/* The whole ledger copied to (--to) or from (--from) a file with SQLite's online backup, so a
 * campaign can put the platform back where it was before a step; safe while serving. */
static int cmd_snapshot(const args *a)
{
    if ((a->to == NULL) == (a->from == NULL))
        return usage("snapshot needs --to FILE or --from FILE");
    sqlite3 *db, *file;
    if (open_ready_db(a->db, &db) != 0)
        return 1;
    if (sqlite3_open(a->to ? a->to : a->from, &file) != SQLITE_OK) {
        sqlite3_close(file);
        sqlite3_close(db);
        return 1;
    }
    sqlite3_busy_timeout(file, 10000);
    sqlite3 *dst = a->to ? file : db, *src = a->to ? db : file;
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    int rc = 1;
    if (b != NULL) {
        int step;
        /* Bounded: a busy ledger is retried for at most 10 s (500 x 20 ms). */
        for (int i = 0; i < 500; i++) {
            step = sqlite3_backup_step(b, -1);
            if (step != SQLITE_BUSY && step != SQLITE_LOCKED)
                break;
            struct timespec d = {0, 20 * 1000000L};
            nanosleep(&d, NULL);
        }
        rc = sqlite3_backup_finish(b) == SQLITE_OK ? 0 : 1;
    }
    if (rc != 0)
        fprintf(stderr, "platform-emu: snapshot failed: %s\n", sqlite3_errmsg(dst));
    sqlite3_close(file);
    sqlite3_close(db);
    return rc;
}

/* Money per order, for the campaigns' audits: every fixmedins_setl_id with its settlements
 * still standing, reversed (2601) and cancelled (2103). */
static int cmd_audit(const args *a)
{
    sqlite3 *db;
    if (open_ready_db(a->db, &db) != 0)
        return 1;
    sqlite3_stmt *st;
    int rc = 1;
    if (sqlite3_prepare_v2(db,
                           "SELECT fixmedins_setl_id, sum(cancelled=''), sum(cancelled='2601'), "
                           "sum(cancelled='2103'), ifnull(sum(CASE WHEN cancelled='' THEN "
                           "medfee_sumamt END),0) FROM settlements GROUP BY fixmedins_setl_id "
                           "ORDER BY min(rowid)",
                           -1, &st, NULL) == SQLITE_OK) {
        char b[32];
        while (sqlite3_step(st) == SQLITE_ROW)
            printf("%s live=%d reversed=%d cancelled=%d amount=%s\n", col(st, 0),
                   sqlite3_column_int(st, 1), sqlite3_column_int(st, 2), sqlite3_column_int(st, 3),
                   emu_fen_format(sqlite3_column_int64(st, 4), b, sizeof b));
        sqlite3_finalize(st);
        rc = 0;
    }
    sqlite3_close(db);
    return rc;
}

int main(int argc, char **argv)
{
    /* The platform keeps China Standard Time whatever the host's zone: setl_time, sign_time
     * and code expiry are compared with the terminals' local time (UTC+8, no DST). A POSIX
     * TZ string needs no tzdata. */
    setenv("TZ", "CST-8", 1);
    tzset();
    if (argc < 2)
        return usage(NULL);
    const char *cmd = argv[1];
    args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc;
    if (strcmp(cmd, "init") == 0)
        return emu_db_init(a.db, a.force) == 0 ? 0 : 1;
    if (strcmp(cmd, "serve") == 0)
        return cmd_serve(&a);
    if (strcmp(cmd, "code") == 0)
        return cmd_code(&a);
    if (strcmp(cmd, "fault") == 0)
        return cmd_fault(&a);
    if (strcmp(cmd, "balance") == 0)
        return cmd_balance(&a);
    if (strcmp(cmd, "show") == 0)
        return cmd_show(&a);
    if (strcmp(cmd, "count") == 0)
        return cmd_count(&a);
    if (strcmp(cmd, "handled") == 0)
        return cmd_handled(&a);
    if (strcmp(cmd, "audit") == 0)
        return cmd_audit(&a);
    if (strcmp(cmd, "snapshot") == 0)
        return cmd_snapshot(&a);
    if (strcmp(cmd, "expire-sign-ins") == 0)
        return cmd_expire_sign_ins(&a);
    return usage("unknown subcommand");
}
