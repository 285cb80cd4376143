/*
 * evt_config: the provisioning file a technician writes for one terminal (docs/provisioning.md).
 *
 * Format: UTF-8 text, one `key = value` per line, whitespace around key and value trimmed,
 * lines starting with '#' are comments, blank lines ignored, CR LF accepted. There are no
 * inline comments (tokens and names may contain '#'). Every key at most once; unknown keys
 * are errors, so a typo never silently falls back to a default.
 *
 * Parsed into a fixed struct (no heap); only the operator lines are read from the text again
 * later (evt_config_operator_get). Errors name the key and the line in a caller's
 * buffer and never quote a value, so a message can be logged or shown as is (the secrets,
 * paas_token and ecr_key, never appear in it). Field sizes are the platform's field lengths in
 * bytes, + 1 for NUL.
 */
#ifndef EVT_CONFIG_H
#define EVT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"
#include "evt/money.h"
#include "evt/receipt.h"

/* Receipt QR mode: evt_receipt_qr_mode from receipt.h (one definition for both modules). */

#define EVT_CONFIG_MAX_ITEMS 9
/* The POS pairing key of the ECR link: 32 bytes, provisioned as 64 hex digits. */
#define EVT_CONFIG_ECR_KEY_BYTES 32
/* order_max_total when the file has none: 20000.00 yuan. */
#define EVT_CONFIG_DEFAULT_ORDER_MAX_TOTAL ((evt_fen)2000000)

/* order_keep_days when the file has none: today's and yesterday's orders stay re-sendable. */
#define EVT_CONFIG_DEFAULT_ORDER_KEEP_DAYS 2u

/* A PIN as stored: PBKDF2-HMAC-SHA256 of the PIN with a salt, never the PIN itself.
 * Provisioned as "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>" (tools/pin-hash). */
#define EVT_PIN_SALT_MAX   32
#define EVT_PIN_HASH_BYTES 32
typedef struct evt_pin_hash {
    bool set;
    uint32_t iterations; /* 1000 .. 1000000 */
    uint8_t salt[EVT_PIN_SALT_MAX];
    uint8_t salt_len; /* 8 .. 32 */
    uint8_t hash[EVT_PIN_HASH_BYTES];
} evt_pin_hash;

/* Operators (operator_1 .. operator_8 = "id|name|cashier or supervisor|PIN hash"): each logs
 * in at the terminal with a PIN and signs in (9001) for the shift. Without operator lines the
 * legacy opter/opter_name is the terminal's one operator, signed in at start-up without a PIN.
 * The lines are checked by evt_config_parse but not held in evt_config (8 x 160 B of RAM the
 * sale would carry): evt_config_operator_get reads one from the text when it is needed. */
#define EVT_CONFIG_MAX_OPERATORS 8
#define EVT_CONFIG_OPERATOR_ID   31 /* 30 characters + NUL: the envelope's opter */
typedef enum evt_operator_role {
    EVT_OPERATOR_CASHIER = 1,
    EVT_OPERATOR_SUPERVISOR = 2,
} evt_operator_role;

typedef struct evt_config_operator {
    char id[EVT_CONFIG_OPERATOR_ID]; /* "" = unused slot */
    char name[51];                   /* UTF-8, staff name as printed on receipts */
    uint8_t role;                    /* evt_operator_role */
    evt_pin_hash pin;
} evt_config_operator;

typedef struct evt_config_item {
    char med_list_codg[51];
    char medins_list_codg[31];
    char name[101];
    evt_fen price; /* unit price, fen */
} evt_config_item;

typedef struct evt_config {
    /* Platform endpoint, https only. host is a name or an IP literal (IPv6 without its
     * brackets); port defaults to 443; path defaults to "/". */
    char platform_url[257];
    char host[254];
    uint16_t port;
    char path[257];
    bool host_is_ipv6;
    char tls_server_name[254]; /* defaults to host */
    char ca_file[257];         /* path of the PEM CA bundle; the board loads it */
    /* SNTP server that boards with an lwIP stack set their clock from (name or IPv4 literal);
     * empty: the battery-backed RTC alone. Boards with an OS leave the clock to it. */
    char time_server[254];

    char fixmedins_code[13];  /* 12 characters, e.g. H12010400001 */
    char fixmedins_name[201]; /* UTF-8 */
    char mdtrtarea_admvs[7];  /* 6 digits */
    char recer_sys_code[11];
    char dev_no[101];    /* terminal id */
    uint8_t msgid_slot;  /* 0..9, different for each terminal of one institution */
    char opter[31];      /* legacy single operator id ("" when operator_N lines are used) */
    char opter_name[51]; /* UTF-8 */
    uint8_t opter_type;  /* 1 staff, 2 self-service terminal, 3 mobile terminal */
    char paas_id[65];
    char paas_token[129]; /* secret: never log */
    char infver[7];       /* default "V1.0" */

    uint16_t ecr_port; /* 0 = ECR link off (default) */
    char ecr_bind[46]; /* IPv4/IPv6 literal, default "127.0.0.1" */
    /* Secret shared with the pharmacy POS: never log. Required when ecr_port is not 0. */
    uint8_t ecr_key[EVT_CONFIG_ECR_KEY_BYTES];
    bool ecr_key_set;
    evt_fen order_max_total;  /* largest order total accepted, > 0; default 20000.00 yuan */
    uint32_t order_keep_days; /* order records kept at least this long, 1..366 (default 2) */
    /* Releases blocked orders and authorises refunds when no operator is a supervisor (then it
     * is refused: supervisor_count); unset without supervisors = nobody at the terminal. */
    evt_pin_hash supervisor_pin;
    uint8_t paper_width_mm;         /* 58 (default) or 80 */
    evt_receipt_qr_mode receipt_qr; /* default raster */
    uint32_t http_timeout_ms;       /* default 15000 */
    uint32_t connect_timeout_ms;    /* default 5000 */
    /* How long the platform connection is kept idle after a conversation ends (a sale, the
     * sign-in) for the next one to reuse, 0..3600 s; 0 (default) = closed at once. Set it
     * below the platform's idle timeout (docs/performance.md). */
    uint32_t keep_connection_s;

    uint8_t operator_count; /* operator_1 .. operator_<count>; 0 = legacy opter */
    /* Operators of role supervisor among them. When not 0 they, and only they, authorise
     * refunds and releases, each with their own PIN, and supervisor_pin is not allowed (one
     * rule: who authorised is always known); when 0 supervisor_pin does, as before. */
    uint8_t supervisor_count;
    /* The text parsed (the caller's, not copied): evt_config_operator_get reads the operator
     * lines from it, so it must outlive the struct when operator_count is not 0. */
    const char *text;
    size_t text_len;

    char office_id[31];    /* for ec.query officeId */
    char office_name[101]; /* for ec.query officeName, UTF-8 */
    char business_type[6]; /* ec.query businessType, default "02121" (pharmacy purchase) */

    /* Items the cashier can key in by number when the POS is down (item_1 .. item_9 =
     * "med_list_codg|medins_list_codg|name|price"). An empty med_list_codg = unused slot. */
    evt_config_item items[EVT_CONFIG_MAX_ITEMS];
} evt_config;

/*
 * Parses len bytes of text into *out (fully overwritten; defaults applied). On error returns
 * EVT_ERR_CONFIG_INVALID (bad syntax, unknown or duplicate key, bad value) or
 * EVT_ERR_CONFIG_MISSING (a required key absent, also ecr_key while ecr_port is not 0) and
 * writes e.g. "line 7: mdtrtarea_admvs: must be 6 digits" or "missing key: paas_token" into msg
 * (msg_cap bytes incl. NUL; msg may be NULL). EVT_ERR_ARG for NULL text/out.
 * On error *out is left zeroed, never half-filled.
 */
evt_err evt_config_parse(const char *text, size_t len, evt_config *out, char *msg, size_t msg_cap);

/* Operator index (0-based, < operator_count) read from cfg->text into *out. EVT_ERR_NOT_FOUND
 * beyond operator_count; EVT_ERR_CONFIG_INVALID if the text no longer holds it (changed). */
evt_err evt_config_operator_get(const evt_config *cfg, unsigned index, evt_config_operator *out);
/* The operator with this id, or EVT_ERR_NOT_FOUND (*out zeroed). */
evt_err evt_config_operator_find(const evt_config *cfg, const char *id, evt_config_operator *out);

#endif /* EVT_CONFIG_H */
