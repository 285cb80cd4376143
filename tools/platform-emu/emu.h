/*
 * platform-emu: a stand-in for the provincial medical-security platform (test peer).
 *
 * It is deliberately independent of the firmware: no evt_core, no cJSON, no mbedTLS. It reads
 * docs/protocol-decisions.md as its contract and is strict about it, so a firmware that
 * drifts from the contract fails against it. Host C with POSIX, libmicrohttpd + GnuTLS for
 * HTTPS, SQLite for the ledger, json-c for JSON (numbers keep their original text, so amounts
 * are parsed exactly as integer fen by emu_dec_parse, never through double).
 *
 * Files: fen.c (exact decimals), db.c (schema, seed, helpers), rules.c (the settlement split,
 * pure), txn.c (envelope checks and transactions), server.c (HTTPS, gateway headers, faults),
 * main.c (CLI). See docs/platform-emulator.md.
 */
#ifndef EMU_H
#define EMU_H

#include <json-c/json.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef int64_t emu_fen;

/* ---- exact decimals (fen.c) ---- */

/* Parses plain decimal text ("-12.30", "0.0000", "7") into an integer scaled by 10^scale.
 * Digits beyond `scale` must be zeros (exactness), no exponent, no '+', no blanks, no leading
 * zeros, at most 14 integer digits. Returns 0 or -1. */
int emu_dec_parse(const char *text, int scale, int64_t *out);
/* Yuan text with up to 2 significant decimals -> fen. */
int emu_fen_parse(const char *text, emu_fen *out);

typedef enum { EMU_AMT_OK = 0, EMU_AMT_EMPTY = 1, EMU_AMT_BAD = -1 } emu_amt_result;
/* A JSON amount as the platform spec allows it: number (its original text), string with the
 * same grammar, or "" (not applicable, EMU_AMT_EMPTY). Anything else is EMU_AMT_BAD. */
emu_amt_result emu_json_dec(json_object *v, int scale, int64_t *out);
emu_amt_result emu_json_fen(json_object *v, emu_fen *out);
/* "-12.30"; buf needs 24 bytes. */
const char *emu_fen_format(emu_fen fen, char *buf, size_t size);

/* ---- amount styles on the wire ---- */
typedef enum { EMU_STYLE_MIXED, EMU_STYLE_NUMBER, EMU_STYLE_STRING } emu_amount_style;

typedef struct {
    emu_amount_style style;
    unsigned rotation; /* advanced per emitted amount in mixed style */
} emu_amount_writer;

/* Appends `key` with the amount in the writer's style. */
void emu_put_fen(emu_amount_writer *w, json_object *obj, const char *key, emu_fen fen);
/* "Not applicable": always the empty string. */
void emu_put_na(json_object *obj, const char *key);
/* A JSON number whose serialised text is exactly `text` (no double involved). */
json_object *emu_json_number_text(const char *text);

/* ---- identity numbers ---- */
/* 18-character resident ID (GB 11643): digits, valid birth date, ISO 7064 check character. */
bool emu_certno_valid(const char *certno);

/* ---- ledger (db.c) ---- */
int emu_db_open(const char *path, sqlite3 **db);
/* Creates the schema and seeds the demo data unless already seeded; `force` starts over. */
int emu_db_init(const char *path, bool force);
int emu_db_exec(sqlite3 *db, const char *sql);
/* Single int64 result of a query with optional text parameters (NULL-terminated list). */
int emu_db_scalar(sqlite3 *db, int64_t *out, const char *sql, ...);
int emu_db_begin_immediate(sqlite3 *db);

/* Base32 (RFC 4648 alphabet, no padding) of `len` bytes from the system's random source. */
void emu_random_base32(char *out, size_t chars);
void emu_random_hex(char *out, size_t chars);
/* Issues a dynamic code for `person` (shown through `holder` when not NULL). Returns 0, or -1
 * with a message in err. */
int emu_issue_code(sqlite3 *db, const char *person_alias, const char *holder_alias, int ttl_s,
                   char *code, size_t code_size, char *err, size_t err_size);
/* The 16-character check part of a code, from its region and random part. */
void emu_code_check(const char *region_and_random, char out[17]);

/* ---- settlement split (rules.c), pure so it can be unit-tested ---- */
typedef enum { EMU_CLASS_A = 1, EMU_CLASS_B = 2, EMU_CLASS_NONE = 3 } emu_drug_class;

typedef struct {
    emu_fen amount;
    emu_drug_class cls;
    /* The part of amount above the item's price ceiling (pric_uplmt_amt x cnt): fully
     * self-paid (overlmt_selfpay), never in the policy scope. 0 for pharmacy lines. */
    emu_fen overlmt;
} emu_line;

typedef struct {
    /* per-line results are written by emu_split into these arrays (n entries each) */
    emu_fen total, fulamt_ownpay, overlmt_selfpay, preselfpay, inscp, fund, psn_part, acct_pay,
        mulaid_pay, cash;
    const char *mulaid_refusal; /* why 共济 paid nothing although something was left, or NULL */
} emu_split_result;

typedef struct {
    bool patient_has_account;   /* 310 with a personal account */
    bool use_account;           /* acct_used_flag "1" */
    emu_fen patient_balance;    /* own balance (ignored without an account) */
    bool has_authoriser;        /* a 共济 authorisation exists for the patient */
    bool patient_normal;        /* psn_insu_stas "1" */
    bool authoriser_normal;     /* authoriser psn_insu_stas "1" and insutype 310 */
    emu_fen authoriser_balance; /* authoriser's balance */
    emu_fen retained_minimum;   /* of the authoriser's city */
    bool same_city;             /* patient, authoriser and pharmacy in one city */
    bool allow_out_of_city;     /* authoriser city's rule */
    int fund_pct; /* fund's share of the policy scope in percent; 0 means the default 50 */
} emu_split_params;

/* preselfpay of a class-B line: 10 % of its part within the price ceiling, rounded down to the
 * fen. */
emu_fen emu_line_preselfpay(const emu_line *line);
void emu_split(const emu_line *lines, size_t n, const emu_split_params *p, emu_split_result *r);

/* ---- transactions (txn.c) ---- */
typedef struct {
    const char *db_path;
    int code_ttl_s;
    int token_ttl_s;
    emu_amount_style style;
} emu_config;

typedef struct {
    char *body;      /* malloc'd JSON text of the response */
    bool stored;     /* body was recorded under the msgid (settlement-type) */
    char infno[16];  /* for the log line */
    char msgid[40];  /* for the log line */
    char infcode[8]; /* "0" or "-1" */
    bool replayed;   /* idempotent replay of a stored response */
} emu_txn_result;

/* Handles one request body (already authenticated at the gateway). Always produces a response
 * envelope (HTTP 200). Serialises on the ledger with one IMMEDIATE transaction. */
void emu_txn_handle(const emu_config *cfg, sqlite3 *db, const char *body, emu_txn_result *res);
/* An error envelope body (malloc'd). */
char *emu_error_envelope(const char *err_msg);
/* Fault other_person: a 1101 answer whose baseinfo describes the person `alias` instead
 * (malloc'ed JSON; NULL when the body has no baseinfo or alias is unknown). */
char *emu_swap_person(const char *db_path, const char *body, const char *alias);

/* local time text helpers */
void emu_time_text(time_t t, char out[20]);    /* yyyy-MM-dd HH:mm:ss */
void emu_time_compact(time_t t, char out[15]); /* yyyyMMddHHmmss */
bool emu_time_text_valid(const char *s);       /* yyyy-MM-dd HH:mm:ss, a real date */
bool emu_time_compact_valid(const char *s, size_t len);
bool emu_digits(const char *s, size_t len); /* exactly `len` ASCII digits */

/* ---- server (server.c) ---- */
typedef struct {
    emu_config cfg;
    const char *bind_addr;
    int port;
    const char *cert_path;
    const char *key_path;
    const char *paas_id;
    const char *paas_token;
    const char *ready_file;
    /* TLS 1.3 session tickets: lifetime announced in each NewSessionTicket; 0 = none issued. */
    int ticket_lifetime_s;
} emu_server_opts;

/* What a production gateway announces (2 h). */
#define EMU_TICKET_LIFETIME_DEFAULT_S 7200

int emu_serve(const emu_server_opts *opts);

/* lower-case hex SHA-256 of s; out needs 65 bytes */
void emu_sha256_hex(const char *s, size_t len, char out[65]);

/* The answer body with a root member "pad_detail" (a list of 1 KiB entries) added so that it
 * is at least at_least bytes: the pad_answer fault. malloc'd; NULL on failure. */
char *emu_pad_answer(const char *body, size_t at_least);

#endif
