/*
 * evt_platform: one conversation with the medical-security platform.
 *
 * Owns what every transaction shares — the HTTPS client (one kept-alive connection per
 * sale), the msgid generator (its state persisted in the journal before each use), the
 * operator's sign_no, the gateway signature — and the unknown-outcome rule of protocol.md:
 * a settlement-type request is journalled before it is sent; when no valid answer comes back
 * the record becomes a reversal (2601) owed to the platform, retried until acknowledged,
 * across reboots.
 */
#ifndef EVT_PLATFORM_H
#define EVT_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "evt/config.h"
#include "evt/err.h"
#include "evt/hal.h"
#include "evt/https.h"
#include "evt/journal.h"
#include "evt/proto.h"

/* Writes one request body for the given envelope (a thin adapter over evt_proto_write_*). It is
 * called twice per request — once to count and check it, once while it is sent — and must write
 * the same bytes both times (docs/money-and-json.md, "Writing requests"). */
typedef evt_err (*evt_platform_build_fn)(void *arg, const evt_proto_identity *id,
                                         const evt_proto_envelope *env, evt_json_writer *w,
                                         evt_json_diag *diag);

/* What a settlement-type request is about, journalled before it is sent. */
typedef struct evt_platform_settle_ref {
    const char *psn_no;
    const char *insuplc_admdvs;
    const char *order_ref; /* the owner's id of the business case (the POS order id) */
    /* Called once the msgid is known and the request built, before anything is journalled or
     * sent: the owner records that this msgid may move money. An error stops the call and
     * nothing is sent. May be NULL. */
    evt_err (*before_send)(void *ctx, const char *msgid);
    void *ctx;
} evt_platform_settle_ref;

/*
 * The owner of settlement-type requests (the transaction engine): the platform asks it whether
 * an outcome it still holds as pending after a restart was recorded, and tells it when a
 * reversal was acknowledged. Both run from the main loop; neither may call back into the
 * platform.
 */
typedef struct evt_platform_owner {
    void *ctx;
    /* True when the owner recorded the outcome of msgid (its answer arrived and was written
     * before power went): the pending record is then stale and is dropped, not reversed. */
    bool (*outcome_recorded)(void *ctx, const char *order_ref, const char *msgid);
    /* The platform acknowledged the reversal of msgid: no money moved. The owner records it;
     * an error keeps the reversal owed (the 2601 is repeated later, harmlessly). */
    evt_err (*reversed)(void *ctx, const char *order_ref, const char *msgid);
} evt_platform_owner;

typedef struct evt_platform_reply {
    evt_proto_response resp; /* parsed envelope when answered; evt_platform_reply_free */
    char msgid[EVT_MSGID_BYTES];
    int http_status;
    bool request_sent;  /* the platform may have received the request */
    bool answered;      /* a complete, well-formed envelope came back */
    evt_json_diag diag; /* field named by a parse error, for the log */
} evt_platform_reply;

typedef struct evt_platform evt_platform;

/* Creates the platform client; does not connect, does not look at owed records yet.
 * ca_pem NUL-terminated. */
evt_err evt_platform_new(const evt_config *cfg, const char *ca_pem, const evt_hal *hal,
                         evt_journal *journal, evt_platform **out);
void evt_platform_free(evt_platform *p);

/* Sets the owner (copied). Call before evt_platform_recover. */
void evt_platform_set_owner(evt_platform *p, const evt_platform_owner *owner);

/*
 * Start-up recovery: every request still pending was sent (or about to be) when power went.
 * Those whose outcome the owner recorded are dropped; the others become reversals owed.
 * Counts the reversals owed. Journal errors.
 */
evt_err evt_platform_recover(evt_platform *p);

/* 9001 for the operator on shift; keeps sign_no. */
evt_err evt_platform_sign_in(evt_platform *p);
bool evt_platform_signed_in(const evt_platform *p);

/*
 * The operator on shift (the envelope's opter/opter_name; both strings must outlive the shift,
 * e.g. the provisioning's). Drops the sign_no: the next call signs the new operator in. NULL:
 * nobody — every call that needs a sign_no is then refused with EVT_ERR_NOT_SIGNED_IN before
 * anything is sent. Legacy provisioning (opter without operator_N lines) starts with opter on
 * shift; otherwise nobody is.
 */
void evt_platform_set_operator(evt_platform *p, const char *opter, const char *opter_name);
/* The operator id on shift, NULL when nobody. */
const char *evt_platform_operator(const evt_platform *p);
/* 9002 for the sign_no held (if any; a sign_no the platform says is dead counts as signed out),
 * then nobody is on shift, whatever the answer. */
evt_err evt_platform_sign_out(evt_platform *p);

/*
 * Sends one transaction and parses the envelope.
 * EVT_OK: HTTP 200 with a complete envelope, infcode 0 (reply->resp.output holds the output).
 * EVT_ERR_PLATFORM_REJECTED: a complete envelope with infcode != 0, under HTTP 200 or a 4xx
 * (the gateway refusing before any processing): a definitive refusal (reply->resp.err_msg).
 * Other errors: no answer the terminal fully understands (transport, TLS, HTTP — including
 * any status but 200 with a success body, JSON); reply->request_sent tells whether the
 * platform may have seen it.
 * settle != NULL marks a settlement-type request: it is journalled (pending) before sending
 * and must be finished with evt_platform_settle_done.
 * A refusal naming the sign_no (expired, signed out) drops it, so the next call signs in
 * again (9001); a call that cannot move money (settle == NULL, not 9002) is then sent once more
 * at once, a settlement-type one never (its refusal is its known outcome).
 */
evt_err evt_platform_call(evt_platform *p, const char *infno, const char *insuplc_admdvs,
                          evt_platform_build_fn build, void *build_arg,
                          const evt_platform_settle_ref *settle, evt_platform_reply *reply);
void evt_platform_reply_free(evt_platform_reply *reply);

/*
 * Finishes a settlement-type request. outcome_known = true when the platform's answer is
 * definitive and consistent (settled, or refused by a business error): the pending record is
 * dropped. false when money may have moved without a usable answer: the record becomes a
 * reversal owed (2601), and one attempt is made at once. *reversed tells whether that
 * attempt was acknowledged.
 */
evt_err evt_platform_settle_done(evt_platform *p, const char *msgid, bool outcome_known,
                                 bool *reversed);

/* Sends the owed reversals, at most max_attempts requests; *left (may be NULL) = still owed. */
evt_err evt_platform_retry_reversals(evt_platform *p, unsigned max_attempts, unsigned *left);
/* Reversals still owed. */
unsigned evt_platform_pending_reversals(const evt_platform *p);

typedef enum evt_platform_owed_state {
    EVT_PLATFORM_OWED_NONE,     /* nothing held for this msgid */
    EVT_PLATFORM_OWED_PENDING,  /* sent, outcome not yet decided */
    EVT_PLATFORM_OWED_REVERSAL, /* 2601 owed */
} evt_platform_owed_state;

/* What the journal holds for msgid. A record that no copy of reads back intact counts as owed:
 * the safe answer. */
evt_platform_owed_state evt_platform_owed(evt_platform *p, const char *msgid);

/*
 * Records a reversal owed for a settlement-type request the owner knows may have been sent
 * (e.g. its own record says so and the platform's record is gone). A 2601 for a msgid the
 * platform never saw is acknowledged and bars that msgid, so owing one too many is harmless.
 */
evt_err evt_platform_owe_reversal(evt_platform *p, const char *infno, const char *msgid,
                                  const evt_platform_settle_ref *ref);

/*
 * The end of a conversation (a sale, the sign-in, a pass of reversal retries). With
 * keep_connection_s = 0 (the default) it closes the connection. Otherwise the connection is
 * kept idle for the next conversation and closed by evt_platform_idle (or the next call or
 * prepare) once it has idled keep_connection_s; a kept connection the platform closed in the
 * meantime is found by the probe before the next request and replaced (docs/https-client.md).
 */
void evt_platform_disconnect(evt_platform *p);
/* Closes the connection now, whatever the policy. */
void evt_platform_close(evt_platform *p);
/* Main-loop housekeeping: closes a kept connection that idled keep_connection_s (a prepared
 * one: see evt_platform_prepare). Cheap. */
void evt_platform_idle(evt_platform *p);
/*
 * Connects ahead of need (call when an order arrives, before the code is scanned): TCP and
 * the TLS handshake (resumed when a ticket is held) happen while the cashier works, so the
 * sale's first request finds the connection up. A kept connection is probed without waiting
 * and replaced if the platform closed it. Sends nothing of any request; errors are only
 * advisory (the first call connects again itself). The prepared connection counts as idle
 * until the first call: evt_platform_idle closes it after keep_connection_s (30 s when that
 * is 0), so an order abandoned before the scan does not leave it open.
 */
evt_err evt_platform_prepare(evt_platform *p);
/* The HTTPS client's counters (connections, full/resumed handshakes), for logs and tests. */
void evt_platform_https_info(const evt_platform *p, evt_https_info *out);

#endif /* EVT_PLATFORM_H */
