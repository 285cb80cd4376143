/*
 * evt_voucher: local classification of a scanned QR payload, before any network call.
 *
 * Customers often show the wrong code (a WeChat/Alipay/UnionPay payment code, a web link).
 * Sending those to the platform's decoder wastes a round trip and, worse, pushes a payment
 * credential to a third party; refusing them here lets the cashier say exactly what was
 * shown. Anything that passes is only a *candidate*: the platform (ec.query) decides.
 * The rules and their reasons are in docs/voucher.md.
 *
 * The duplicate guard remembers SHA-256 digests (never the text) of the codes already
 * accepted in the current sale, so a code scanned twice cannot start a second settlement.
 */
#ifndef EVT_VOUCHER_H
#define EVT_VOUCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"

#define EVT_VOUCHER_MIN_LEN 20  /* shortest accepted e-voucher candidate */
#define EVT_VOUCHER_MAX_LEN 512 /* longest; longer payloads are EVT_ERR_VOUCHER_TOO_LONG */

typedef enum evt_voucher_kind {
    EVT_VOUCHER_KIND_EVOUCHER,   /* e-voucher candidate: send to ec.query */
    EVT_VOUCHER_KIND_WECHAT_PAY, /* 18 digits, prefix 10..15 */
    EVT_VOUCHER_KIND_ALIPAY,     /* 16..24 digits, prefix 25..30 */
    EVT_VOUCHER_KIND_UNIONPAY,   /* 19 digits, prefix 62 */
    EVT_VOUCHER_KIND_URL,        /* scheme://..., www...., alipays:, weixin: */
    EVT_VOUCHER_KIND_TOO_LONG,   /* over EVT_VOUCHER_MAX_LEN bytes */
    EVT_VOUCHER_KIND_BINARY,     /* control characters, DEL or non-ASCII bytes */
    EVT_VOUCHER_KIND_UNKNOWN,    /* empty, too short, whitespace inside, other shapes */
} evt_voucher_kind;

typedef struct evt_voucher_class {
    evt_voucher_kind kind;
    evt_err err;     /* EVT_OK for a candidate, otherwise the refusal naming the kind */
    size_t code_len; /* payload length without the one stripped trailing CR/LF */
} evt_voucher_class;

/*
 * Classifies len bytes of payload (not NUL-terminated; may contain any byte). One trailing
 * line terminator ("\r\n", "\n" or "\r", as serial scan engines append) is stripped first;
 * the code to send is then payload[0 .. out->code_len). Returns out->err:
 * EVT_OK, EVT_ERR_VOUCHER_{WECHAT_PAY,ALIPAY,UNIONPAY,URL,TOO_LONG,BINARY,UNKNOWN};
 * EVT_ERR_ARG for a NULL out or a NULL payload with len > 0 (out is untouched then).
 */
evt_err evt_voucher_classify(const uint8_t *payload, size_t len, evt_voucher_class *out);

/* "evoucher", "wechat_pay", ... — stable names for logs and tests. */
const char *evt_voucher_kind_name(evt_voucher_kind kind);

/*
 * Log-safe description of a payload: "kind=evoucher len=46 head=12". head is at most the
 * first 2 characters, and only when they are letters or digits (a payment code's prefix, a
 * voucher's province digits): never enough to rebuild or replay the code. Always
 * NUL-terminates (truncates when cap is small); returns the length written.
 */
size_t evt_voucher_describe(const uint8_t *payload, size_t len, char *out, size_t cap);

/* Codes remembered per sale; the oldest is forgotten when a sale scans more (see docs). */
#define EVT_VOUCHER_GUARD_SLOTS 16

typedef struct evt_voucher_guard {
    uint8_t digest[EVT_VOUCHER_GUARD_SLOTS][32];
    uint8_t count; /* valid digests */
    uint8_t next;  /* slot the next digest goes to */
} evt_voucher_guard;

/* Empties the guard (and wipes its digests). Call at sale start and sale end. */
void evt_voucher_guard_reset(evt_voucher_guard *guard);

/*
 * Records the code (the same trailing CR/LF stripping as classify, so "X\r\n" and "X" are
 * one code). Returns EVT_ERR_VOUCHER_DUPLICATE if it was already accepted in this sale
 * (nothing changes then), EVT_OK when it is new and now remembered, EVT_ERR_ARG for NULL,
 * EVT_ERR_INTERNAL if hashing failed.
 */
evt_err evt_voucher_guard_accept(evt_voucher_guard *guard, const uint8_t *code, size_t len);

/* Like accept, without recording: EVT_OK (not seen) or EVT_ERR_VOUCHER_DUPLICATE. */
evt_err evt_voucher_guard_check(const evt_voucher_guard *guard, const uint8_t *code, size_t len);

#endif /* EVT_VOUCHER_H */
