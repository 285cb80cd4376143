/*
 * sale_script: the platform's side of a pharmacy sale, for tests that script the GnuTLS test
 * server (tls_test_server) request by request: canned response envelopes (sign-in, ec.query,
 * 1101, 2101/2102 settlements, acknowledgements, refusals) and readers of the requests the
 * server got (infno, a field's value).
 *
 * The body builders return text in one of a few rotating static buffers: push it to the server
 * (which copies it) before building many more. Main thread only.
 */
#ifndef EVT_SALE_SCRIPT_H
#define EVT_SALE_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include <stdatomic.h>
#include <stdint.h>

#include "evt/journal.h"
#include "evt/money.h"
#include "evt/sale.h"
#include "ram_nor.h"
#include "tls_test_server.h"

/* The canned patient: an employee-insured (310) person of Tianjin Heping district. */
#define SS_CODE    "120104ABCDEFGHJKMNPQRSTVWXYZ2345ABCDEFGHJKMNPQ"
#define SS_CODE_2  "120104ZYXWVTSRQPNMKJHGFEDCBA5432ZYXWVTSRQPNMKJ"
#define SS_CODE_3  "120104QQQQRRRRSSSSTTTTVVVVWWWW2222333344445555"
#define SS_PSN_NO  "12010400000000000000000001"
#define SS_CERTNO  "12010419800101123X"
#define SS_NAME    "张建国"
#define SS_REGION  "120104"
#define SS_SIGN_NO "SN20240315000001"

/* A sale's split; the canned one is a 31.80 order: fund 15.56, own account 16.24. */
typedef struct ss_split {
    evt_fen total, fund, account, mutual_aid, cash, balance;
    bool balance_present;
} ss_split;
extern const ss_split SS_SPLIT;

/* Provisioning text for a terminal talking to https://127.0.0.1:port (the test server's
 * certificate names 127.0.0.1), with extra lines appended (may be NULL). */
void ss_config_text(char *out, size_t cap, unsigned port, const char *extra);

/* One-item order of SS_SPLIT.total (2 x 15.90). */
void ss_order(evt_order *o, const char *order_id);

const char *ss_sign_in(void);
/* {"infcode":-1,"err_msg":...}: a business refusal. */
const char *ss_refused(const char *err_msg);
/* {"infcode":0,"output":{}}: 2601's acknowledgement. */
const char *ss_ack(void);
/* ec.query: the code is the person's own. */
const char *ss_voucher(const char *id_no, const char *name);
/* 1101 with one 310 insurance in SS_REGION (status "1" normal, "2" suspended ...). */
const char *ss_person(const char *psn_no, const char *certno, const char *name, const char *stas,
                      const char *paus_date);
/* 2101 (setl_id NULL: absent) or 2102 answer with the split. */
const char *ss_settlement(const char *setl_id, const char *psn_no, const ss_split *split);

/* Pushes a 200 reply with body (TLS_TS_REPLY). */
void ss_push(tls_test_server *srv, const char *body);
/* Pushes a reply with another status. */
void ss_push_status(tls_test_server *srv, int status, const char *body, bool close);
/* ec.query, 1101 and 2101 of the canned patient. */
void ss_push_until_2102(tls_test_server *srv);

/* The value of "key":"value" (first occurrence) in text; "" when absent. */
void ss_field(const char *text, const char *key, char *out, size_t cap);
/* Request i's infno ("" when none). */
void ss_request_infno(tls_test_server *srv, size_t i, char *out, size_t cap);
/* Request i's field (see ss_field); false when there is no request i. */
bool ss_request_field(tls_test_server *srv, size_t i, const char *key, char *out, size_t cap);
/* infnos of requests from..end, comma separated ("ec.query,1101,2101,2102"). */
void ss_infnos(tls_test_server *srv, size_t from, char *out, size_t cap);
/* Requests from..end whose body carries "key":"value". */
size_t ss_count_with(tls_test_server *srv, size_t from, const char *key, const char *value);

/*
 * The terminal's flash as it was the moment a request with a given infno reached the server:
 * what a power cut at that moment would leave (the terminal is then waiting for the answer, so
 * the image is stable). Install ss_snapshot_hook with tls_ts_set_request_hook.
 */
typedef struct ss_snapshot {
    const evt_ram_nor *nor;
    char infno[16];
    uint8_t *image; /* malloc'ed, nor->size bytes */
    atomic_bool taken;
} ss_snapshot;
void ss_snapshot_arm(ss_snapshot *s, const evt_ram_nor *nor, const char *infno);
void ss_snapshot_hook(void *arg, size_t index, const char *request, size_t len);
void ss_snapshot_free(ss_snapshot *s);

/* A journal mounted on a copy of an image (to read what a snapshot holds, or to boot on it). */
#define SS_IMAGE_MAX_KEYS 512u
typedef struct ss_image_journal {
    evt_ram_nor nor;
    uint32_t work[EVT_JOURNAL_WORK_SIZE(64, SS_IMAGE_MAX_KEYS) / 4];
    evt_journal j;
} ss_image_journal;
/* EVT_OK when mounted; image NULL = blank flash. */
evt_err ss_image_journal_open(ss_image_journal *ij, const uint8_t *image, uint32_t size,
                              uint32_t sector_size);
void ss_image_journal_close(ss_image_journal *ij);

/* Flips one bit in the value of every record of key the flash holds (superseded ones too), so
 * none reads back intact. Returns the records hit. */
unsigned ss_damage_key(evt_ram_nor *nor, const char *key);

#endif /* EVT_SALE_SCRIPT_H */
