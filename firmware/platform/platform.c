/* evt_platform: see platform.h. */
#include "evt/platform.h"

#include <stdio.h>
#include <string.h>

#include "evt/arena.h"
#include "evt/https.h"
#include "evt/log.h"

#define MOD "platform"
/* Requests are written into the TLS connection while they are produced (the gateway signature
 * covers only the x-tif headers, not the body): this staging buffer is all the RAM a request
 * takes, whatever the order's size. 1 KiB pieces keep TLS records reasonably full. */
#define PLATFORM_REQUEST_BYTES 1024u
#define PLATFORM_OWED_VERSION  2
/* Journal twin names: the records guard money, so each survives one damaged copy. */
#define PLATFORM_TWIN_PENDING  "pend"
#define PLATFORM_TWIN_REVERSAL "rev"
/* Owed records collected per walk of the journal (it cannot be written while walked); the
 * callers loop until every record was handled, so this is a batch size, not a window. */
#define PLATFORM_OWED_BATCH 16

/* A settlement-type request whose outcome is not yet known (pend/) or known to need a 2601
 * (rev/). Stored as bytes in the journal; the version byte guards against format changes. */
typedef struct platform_owed {
    uint8_t version;
    char infno[9];
    char msgid[EVT_MSGID_BYTES];
    char psn_no[31];
    char insuplc[7];
    char order_ref[EVT_ORDER_ID_BYTES];
    uint32_t attempts;
} platform_owed;

/* A connection prepared ahead of need with keep_connection_s = 0 is closed after idling this
 * long (the scan may take a while; most gateways keep an idle connection 60 s or more). */
#define PLATFORM_PREPARED_IDLE_MS 30000u

struct evt_platform {
    const evt_hal *hal;
    const evt_config *cfg;
    evt_proto_identity id;
    char opter_type[4];
    evt_https_client *https;
    evt_journal *journal;
    evt_msgid_gen msgid;
    char sign_no[EVT_SIGN_NO_BYTES];
    uint8_t *request; /* staging buffer of the request being sent */
    /* rev/ records in the journal. Counted once at start-up and kept up to date here, so the
     * idle screen's every-pass question does not walk the journal on flash. */
    unsigned reversals_owed;
    evt_platform_owner owner;
    /* Connection policy (keep_connection_s): a conversation's end keeps the connection for at
     * most keep_ms; kept_since is when the last one ended (0 = none kept). */
    uint64_t keep_ms;
    uint64_t kept_since;
};

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static evt_err owed_load(evt_platform *p, const char *twin, const char *msgid, platform_owed *out)
{
    size_t len = 0;
    evt_err err = evt_journal_twin_get(p->journal, twin, msgid, out, sizeof *out, &len, NULL);
    if (err == EVT_ERR_OVERFLOW) {
        err = EVT_ERR_JOURNAL_CORRUPT;
    }
    if (err != EVT_OK) {
        return err;
    }
    if (len != sizeof *out || out->version != PLATFORM_OWED_VERSION) {
        return EVT_ERR_JOURNAL_CORRUPT;
    }
    out->msgid[sizeof out->msgid - 1] = '\0';
    out->infno[sizeof out->infno - 1] = '\0';
    out->psn_no[sizeof out->psn_no - 1] = '\0';
    out->insuplc[sizeof out->insuplc - 1] = '\0';
    out->order_ref[sizeof out->order_ref - 1] = '\0';
    return EVT_OK;
}

static evt_err owed_store(evt_platform *p, const char *twin, const platform_owed *owed)
{
    return evt_journal_twin_put(p->journal, twin, owed->msgid, owed, sizeof *owed);
}

static void owed_fill(platform_owed *owed, const char *infno, const char *msgid,
                      const evt_platform_settle_ref *ref)
{
    memset(owed, 0, sizeof *owed);
    owed->version = PLATFORM_OWED_VERSION;
    copy_str(owed->infno, sizeof owed->infno, infno);
    copy_str(owed->msgid, sizeof owed->msgid, msgid);
    copy_str(owed->psn_no, sizeof owed->psn_no, ref->psn_no);
    copy_str(owed->insuplc, sizeof owed->insuplc, ref->insuplc_admdvs);
    copy_str(owed->order_ref, sizeof owed->order_ref, ref->order_ref);
}

/* Collects up to PLATFORM_OWED_BATCH msgids of one twin name (the journal cannot be written
 * while it is being iterated, so the work happens after the walk). */
typedef struct owed_list {
    char msgid[PLATFORM_OWED_BATCH][EVT_MSGID_BYTES];
    unsigned count;
    unsigned total;
} owed_list;

static evt_err owed_collect_visit(void *arg, const char *id)
{
    owed_list *list = arg;
    list->total++;
    if (list->count < PLATFORM_OWED_BATCH) {
        copy_str(list->msgid[list->count], EVT_MSGID_BYTES, id);
        list->count++;
    }
    return EVT_OK;
}

static evt_err owed_collect(evt_platform *p, const char *twin, owed_list *list)
{
    memset(list, 0, sizeof *list);
    return evt_journal_twin_iterate(p->journal, twin, owed_collect_visit, list);
}

/* pend -> rev: the outcome can no longer be learned, so it is reversed. The rev record is
 * written before the pend record is dropped: a power cut in between leaves both, and the boot
 * recovery converts the pend again (same key, same value). */
static evt_err owed_to_reversal(evt_platform *p, const char *msgid)
{
    platform_owed owed;
    evt_err err = owed_load(p, PLATFORM_TWIN_PENDING, msgid, &owed);
    if (err == EVT_ERR_JOURNAL_CORRUPT) {
        /* Neither copy readable: the msgid (the key) is all that is left. Without psn_no the
         * 2601 cannot be built; keep the record and say so loudly (two damaged records). */
        EVT_LOGE(MOD, "pending record %s unreadable: a supervisor must reconcile it", msgid);
        return err;
    }
    if (err != EVT_OK) {
        return err;
    }
    err = owed_store(p, PLATFORM_TWIN_REVERSAL, &owed);
    if (err != EVT_OK) {
        return err;
    }
    p->reversals_owed++;
    EVT_LOGW(MOD, "outcome of %s msgid %s unknown: reversal owed", owed.infno, msgid);
    err = evt_journal_twin_del(p->journal, PLATFORM_TWIN_PENDING, msgid);
    return err == EVT_ERR_NOT_FOUND ? EVT_OK : err;
}

/* A pending request found at start-up: dropped when the owner recorded its outcome (the power
 * went after the answer was written but before this record was), otherwise reversed. */
static evt_err recover_one(evt_platform *p, const char *msgid)
{
    platform_owed owed;
    evt_err err = owed_load(p, PLATFORM_TWIN_PENDING, msgid, &owed);
    if (err == EVT_OK && p->owner.outcome_recorded != NULL &&
        p->owner.outcome_recorded(p->owner.ctx, owed.order_ref, msgid)) {
        EVT_LOGI(MOD, "pending %s msgid %s: outcome recorded before the restart", owed.infno,
                 msgid);
        err = evt_journal_twin_del(p->journal, PLATFORM_TWIN_PENDING, msgid);
        return err == EVT_ERR_NOT_FOUND ? EVT_OK : err;
    }
    return owed_to_reversal(p, msgid);
}

evt_err evt_platform_recover(evt_platform *p)
{
    owed_list list;
    evt_err err;
    bool progress;
    /* Bounded: every pass removes each msgid it collected, except unreadable ones, which stay
     * for a supervisor; a pass that removed nothing ends the loop. */
    do {
        err = owed_collect(p, PLATFORM_TWIN_PENDING, &list);
        if (err != EVT_OK) {
            return err;
        }
        progress = false;
        for (unsigned i = 0; i < list.count; i++) {
            err = recover_one(p, list.msgid[i]);
            if (err == EVT_OK || err == EVT_ERR_NOT_FOUND) {
                progress = true;
            } else if (err != EVT_ERR_JOURNAL_CORRUPT) {
                return err;
            }
        }
    } while (list.total > list.count && progress);
    err = owed_collect(p, PLATFORM_TWIN_REVERSAL, &list);
    p->reversals_owed = list.total;
    return err;
}

evt_err evt_platform_new(const evt_config *cfg, const char *ca_pem, const evt_hal *hal,
                         evt_journal *journal, evt_platform **out)
{
    evt_platform *p = evt_calloc(1, sizeof *p);
    if (p == NULL) {
        return EVT_ERR_NOMEM;
    }
    p->hal = hal;
    p->cfg = cfg;
    p->journal = journal;
    snprintf(p->opter_type, sizeof p->opter_type, "%u", (unsigned)cfg->opter_type);
    evt_config_operator first;
    evt_config_operator_get(cfg, 0, &first);
    p->id = (evt_proto_identity){
        .fixmedins_code = cfg->fixmedins_code,
        .fixmedins_name = cfg->fixmedins_name,
        .mdtrtarea_admvs = cfg->mdtrtarea_admvs,
        .recer_sys_code = cfg->recer_sys_code,
        .dev_no = cfg->dev_no,
        .dev_safe_info = "",
        .infver = cfg->infver,
        .opter_type = p->opter_type,
        /* Checked below with the first operator; with operator_N lines nobody is on shift
         * until one logs in (legacy provisioning: opter always is). */
        .opter = cfg->operator_count == 0 ? cfg->opter : first.id,
        .opter_name = cfg->operator_count == 0 ? cfg->opter_name : first.name,
        .office_id = cfg->office_id,
        .office_name = cfg->office_name,
        .business_type = cfg->business_type,
        .paas_id = cfg->paas_id,
        .paas_token = cfg->paas_token,
        .msgid_slot = cfg->msgid_slot,
    };
    evt_json_diag diag = {{0}};
    evt_err err = evt_proto_identity_check(&p->id, &diag);
    if (err != EVT_OK) {
        EVT_LOGE(MOD, "provisioning incomplete for the platform: %s", diag.field);
        evt_free(p);
        return err;
    }
    if (cfg->operator_count > 0) {
        evt_platform_set_operator(p, NULL, NULL);
    }

    char last_msgid[EVT_MSGID_BYTES] = "";
    size_t len = 0;
    err = evt_journal_get(journal, EVT_JOURNAL_KEY_MSGID, last_msgid, sizeof last_msgid - 1, &len);
    if (err == EVT_OK) {
        last_msgid[len] = '\0';
    } else if (err != EVT_ERR_NOT_FOUND) {
        evt_free(p);
        return err;
    }
    err = evt_msgid_init(&p->msgid, cfg->fixmedins_code, cfg->msgid_slot, last_msgid);
    if (err != EVT_OK) {
        /* A damaged state record must not stop the counter; the clock still orders ids. */
        EVT_LOGW(MOD, "stored msgid state unusable (%s); starting afresh", evt_err_name(err));
        err = evt_msgid_init(&p->msgid, cfg->fixmedins_code, cfg->msgid_slot, NULL);
        if (err != EVT_OK) {
            evt_free(p);
            return err;
        }
    }

    p->request = evt_malloc(PLATFORM_REQUEST_BYTES);
    evt_https_config hc = {
        .host = cfg->host,
        .port = cfg->port,
        .path = cfg->path,
        .server_name = cfg->tls_server_name[0] ? cfg->tls_server_name : NULL,
        .ca_pem = ca_pem,
        .connect_timeout_ms = cfg->connect_timeout_ms,
        .io_timeout_ms = cfg->http_timeout_ms,
        .max_body = EVT_PROTO_ANSWER_MAX_BYTES,
    };
    p->keep_ms = (uint64_t)cfg->keep_connection_s * 1000u;
    err = p->request ? evt_https_client_new(&hc, hal->net, hal->sys, &p->https) : EVT_ERR_NOMEM;
    if (err != EVT_OK) {
        evt_platform_free(p);
        return err;
    }
    *out = p;
    return EVT_OK;
}

void evt_platform_set_owner(evt_platform *p, const evt_platform_owner *owner)
{
    p->owner = *owner;
}

void evt_platform_free(evt_platform *p)
{
    if (p == NULL) {
        return;
    }
    evt_https_client_free(p->https);
    evt_free(p->request);
    evt_free(p);
}

static uint64_t platform_now_ms(const evt_platform *p)
{
    return p->hal->sys->monotonic_ms(p->hal->sys->ctx);
}

void evt_platform_disconnect(evt_platform *p)
{
    evt_https_info info;
    evt_https_get_info(p->https, &info);
    if (p->keep_ms == 0 || !info.connected) {
        p->kept_since = 0;
        evt_https_disconnect(p->https);
        return;
    }
    /* Kept for the next conversation; +1 so that a clock at 0 still marks one as kept. */
    p->kept_since = platform_now_ms(p) + 1u;
}

void evt_platform_close(evt_platform *p)
{
    p->kept_since = 0;
    evt_https_disconnect(p->https);
}

/* How long a kept (or prepared) connection may idle before the terminal closes it. */
static uint64_t keep_limit_ms(const evt_platform *p)
{
    return p->keep_ms ? p->keep_ms : PLATFORM_PREPARED_IDLE_MS;
}

void evt_platform_idle(evt_platform *p)
{
    /* Closed by us before the platform's idle timeout can close it under a request. */
    if (p->kept_since != 0 && platform_now_ms(p) + 1u - p->kept_since >= keep_limit_ms(p)) {
        EVT_LOGI(MOD, "kept connection idle for %lu s; closed",
                 (unsigned long)(keep_limit_ms(p) / 1000u));
        evt_platform_close(p);
    }
}

evt_err evt_platform_prepare(evt_platform *p)
{
    evt_platform_idle(p);
    evt_err err = evt_https_connect_ahead(p->https);
    /* Idle from now until the first call: an order abandoned before it reaches the platform
     * must not leave the connection open for ever. */
    p->kept_since = err == EVT_OK ? platform_now_ms(p) + 1u : 0;
    return err;
}

void evt_platform_https_info(const evt_platform *p, evt_https_info *out)
{
    evt_https_get_info(p->https, out);
}

void evt_platform_reply_free(evt_platform_reply *reply)
{
    evt_proto_response_free(&reply->resp);
}

static bool needs_sign_no(const char *infno)
{
    return strcmp(infno, EVT_INFNO_SIGN_IN) != 0 && strcmp(infno, EVT_INFNO_EC_QUERY) != 0;
}

/* Next msgid, persisted before it is used so that no two requests ever share one. */
static evt_err next_msgid(evt_platform *p, evt_datetime *now, char msgid[EVT_MSGID_BYTES])
{
    evt_err err = p->hal->sys->local_time(p->hal->sys->ctx, now);
    if (err != EVT_OK) {
        return err;
    }
    err = evt_msgid_next(&p->msgid, now, msgid);
    if (err != EVT_OK) {
        return err;
    }
    return evt_journal_put(p->journal, EVT_JOURNAL_KEY_MSGID, msgid, strlen(msgid));
}

static evt_err journal_pending(evt_platform *p, const char *infno, const char *msgid,
                               const evt_platform_settle_ref *settle)
{
    platform_owed owed;
    owed_fill(&owed, infno, msgid, settle);
    return owed_store(p, PLATFORM_TWIN_PENDING, &owed);
}

/* evt_https body sink: each decrypted piece of the answer into the streaming parser. A body
 * that is already known to be invalid is still read to its end (the HTTP framing decides
 * whether the connection stays usable); the parser keeps its first error for _end. */
static evt_err answer_piece(void *ctx, const uint8_t *data, size_t len)
{
    evt_proto_response_feed(ctx, data, len);
    return EVT_OK;
}

/* The request body, written a second time while it is sent: the same builder and envelope as
 * the counting pass, so the same bytes. */
typedef struct request_source {
    evt_platform *p;
    evt_platform_build_fn build;
    void *build_arg;
    const evt_proto_envelope *env;
    evt_json_diag *diag;
} request_source;

static evt_err produce_request(void *ctx, evt_https_put_fn put, void *put_ctx)
{
    request_source *src = ctx;
    evt_json_writer w;
    evt_json_writer_init(&w, src->p->request, PLATFORM_REQUEST_BYTES, put, put_ctx);
    evt_err err = src->build(src->build_arg, &src->p->id, src->env, &w, src->diag);
    evt_err fin = evt_json_writer_finish(&w, NULL);
    return err != EVT_OK ? err : fin;
}

static evt_err send_and_parse(evt_platform *p, const char *infno, size_t body_len,
                              request_source *src, evt_platform_reply *reply)
{
    uint8_t entropy[16];
    evt_err err = p->hal->sys->entropy(p->hal->sys->ctx, entropy, sizeof entropy);
    if (err != EVT_OK) {
        return err;
    }
    evt_proto_gateway gw;
    err = evt_proto_gateway_sign(&p->id, p->hal->sys->unix_seconds(p->hal->sys->ctx), entropy, &gw);
    if (err != EVT_OK) {
        return err;
    }
    const evt_https_header headers[] = {
        {"x-tif-paasid", gw.paasid},
        {"x-tif-timestamp", gw.timestamp},
        {"x-tif-nonce", gw.nonce},
        {"x-tif-signature", gw.signature},
    };
    /* The answer is parsed while it arrives: nothing of the body is kept but what the
     * terminal uses (evt_proto_response_begin), so its length costs no memory. */
    err = evt_proto_response_begin(&reply->resp);
    if (err != EVT_OK) {
        return err;
    }
    const evt_https_sink sink = {.ctx = &reply->resp, .write = answer_piece};
    const evt_https_body_source body = {.ctx = src, .produce = produce_request};
    evt_https_request req = {
        .body_len = body_len,
        .body_source = &body,
        .headers = headers,
        .header_count = sizeof headers / sizeof headers[0],
        .body_sink = &sink,
    };
    evt_https_response resp;
    memset(&resp, 0, sizeof resp);
    err = evt_https_post(p->https, &req, &resp);
    reply->request_sent = resp.request_sent;
    reply->http_status = resp.status;
    /* Only two things are the platform's word (docs/protocol-decisions.md): HTTP 200 with a
     * complete envelope (success or business refusal), and a 4xx with a complete envelope
     * that refuses (the gateway turning the request away before any processing: signature,
     * timestamp). Everything else is not understood — for a settlement an unknown outcome:
     * another 2xx (202 may mean "still processing"), a 4xx claiming success, any 5xx (a
     * gateway whose back end did process the request), a body that does not parse. */
    bool ok_200 = err == EVT_OK && resp.status == 200;
    bool gateway_4xx = err == EVT_ERR_HTTP_STATUS && resp.status >= 400 && resp.status < 500;
    if (err == EVT_OK && !ok_200) {
        err = EVT_ERR_HTTP_STATUS;
    }
    if (ok_200 || gateway_4xx) {
        /* The whole body went through the parser: its verdict. */
        evt_err perr = evt_proto_response_end(&reply->resp, &reply->diag);
        if (perr != EVT_OK) {
            err = ok_200 ? perr : err;
        } else if (ok_200 || reply->resp.infcode != 0) {
            reply->answered = true;
            err = reply->resp.infcode == 0 ? EVT_OK : EVT_ERR_PLATFORM_REJECTED;
        } else {
            evt_proto_response_free(&reply->resp);
            memset(&reply->resp, 0, sizeof reply->resp);
        }
    } else {
        /* No complete body (or not one to read): what was parsed of it is dropped. */
        evt_proto_response_free(&reply->resp);
        memset(&reply->resp, 0, sizeof reply->resp);
    }
    if (err != EVT_OK && !reply->answered) {
        evt_https_info info;
        evt_https_get_info(p->https, &info);
        EVT_LOGE(MOD,
                 "%s msgid %s: no valid answer: %s (http %d, mbedtls -0x%04x, verify 0x%x%s%s)",
                 infno, reply->msgid, evt_err_name(err), resp.status,
                 (unsigned)-info.last_mbedtls_error, (unsigned)info.last_verify_flags,
                 reply->diag.field[0] ? ", field " : "", reply->diag.field);
    } else {
        EVT_LOGI(MOD, "%s msgid %s: infcode %ld over %s%s", infno, reply->msgid,
                 (long)reply->resp.infcode, resp.tls_version ? resp.tls_version : "?",
                 resp.connection_reused ? " (kept alive)" : "");
    }
    evt_https_response_free(&resp);
    return err;
}

static evt_err call_once(evt_platform *p, const char *infno, const char *insuplc_admdvs,
                         evt_platform_build_fn build, void *build_arg,
                         const evt_platform_settle_ref *settle, evt_platform_reply *reply)
{
    memset(reply, 0, sizeof *reply);
    evt_platform_idle(p);
    p->kept_since = 0;
    if (needs_sign_no(infno) && p->sign_no[0] == '\0') {
        evt_err err = evt_platform_sign_in(p);
        if (err != EVT_OK) {
            return err == EVT_ERR_PLATFORM_REJECTED ? EVT_ERR_NOT_SIGNED_IN : err;
        }
    }
    evt_datetime now;
    evt_err err = next_msgid(p, &now, reply->msgid);
    if (err != EVT_OK) {
        return err;
    }
    evt_proto_envelope env = {
        .msgid = reply->msgid,
        .inf_time = now,
        .sign_no = p->sign_no,
        .insuplc_admdvs = insuplc_admdvs,
    };
    /* Counted (and checked) first: Content-Length comes before the body. */
    size_t body_len = 0;
    evt_json_writer counter;
    evt_json_writer_init(&counter, NULL, 0, NULL, NULL);
    err = build(build_arg, &p->id, &env, &counter, &reply->diag);
    evt_err counted = evt_json_writer_finish(&counter, &body_len);
    err = err != EVT_OK ? err : counted;
    if (err != EVT_OK) {
        EVT_LOGE(MOD, "%s: request not built: %s (field %s)", infno, evt_err_name(err),
                 reply->diag.field);
        return err;
    }
    if (settle != NULL && settle->before_send != NULL) {
        err = settle->before_send(settle->ctx, reply->msgid);
        if (err != EVT_OK) {
            EVT_LOGE(MOD, "%s: owner could not record msgid %s: %s", infno, reply->msgid,
                     evt_err_name(err));
            return err;
        }
    }
    if (settle != NULL) {
        err = journal_pending(p, infno, reply->msgid, settle);
        if (err != EVT_OK) {
            /* Not journalled means not sent: the unknown-outcome rule cannot be kept. */
            EVT_LOGE(MOD, "%s: cannot journal before sending: %s", infno, evt_err_name(err));
            return err;
        }
    }
    request_source src = {
        .p = p, .build = build, .build_arg = build_arg, .env = &env, .diag = &reply->diag};
    return send_and_parse(p, infno, body_len, &src, reply);
}

/* The platform refused the envelope's sign_no (expired, signed out elsewhere, another day's):
 * its err_msg names the field (the emulator: "签到编号sign_no无效…"; platforms word it 签到). */
static bool sign_no_refused(const evt_platform_reply *reply)
{
    return reply->answered && (strstr(reply->resp.err_msg, "sign_no") != NULL ||
                               strstr(reply->resp.err_msg, "签到") != NULL);
}

evt_err evt_platform_call(evt_platform *p, const char *infno, const char *insuplc_admdvs,
                          evt_platform_build_fn build, void *build_arg,
                          const evt_platform_settle_ref *settle, evt_platform_reply *reply)
{
    evt_err err = call_once(p, infno, insuplc_admdvs, build, build_arg, settle, reply);
    if (err != EVT_ERR_PLATFORM_REJECTED || !needs_sign_no(infno) || !sign_no_refused(reply)) {
        return err;
    }
    EVT_LOGW(MOD, "%s msgid %s: sign_no refused; signing in again", infno, reply->msgid);
    p->sign_no[0] = '\0'; /* the next call signs in again whatever happens here */
    /* Sent again only when nothing can move twice: a refused envelope was not processed, but a
     * settlement-type request has its own record of this refusal (the owner ends the case) and
     * 9002 of a dead sign_no has nothing left to end. */
    if (settle != NULL || strcmp(infno, EVT_INFNO_SIGN_OUT) == 0) {
        return err;
    }
    evt_platform_reply_free(reply);
    return call_once(p, infno, insuplc_admdvs, build, build_arg, settle, reply);
}

typedef struct sign_in_arg {
    char ip[64];
    char mac[32];
} sign_in_arg;

static evt_err build_sign_in(void *arg, const evt_proto_identity *id, const evt_proto_envelope *env,
                             evt_json_writer *w, evt_json_diag *diag)
{
    const sign_in_arg *sa = arg;
    return evt_proto_write_sign_in(id, env, sa->mac, sa->ip, w, diag);
}

evt_err evt_platform_sign_in(evt_platform *p)
{
    /* The platform records where an operator signs in from; the board knows its addresses. */
    sign_in_arg sa = {.ip = "0.0.0.0", .mac = "00-00-00-00-00-00"};
    if (p->hal->net->local_identity != NULL) {
        p->hal->net->local_identity(p->hal->net->ctx, sa.ip, sizeof sa.ip, sa.mac, sizeof sa.mac);
    }
    p->sign_no[0] = '\0'; /* a new sign-in replaces the old one, also when it fails */
    if (p->id.opter[0] == '\0') {
        return EVT_ERR_NOT_SIGNED_IN; /* nobody on shift: nothing goes out in anyone's name */
    }
    evt_platform_reply reply;
    evt_err err = evt_platform_call(p, EVT_INFNO_SIGN_IN, NULL, build_sign_in, &sa, NULL, &reply);
    if (err == EVT_OK) {
        err = evt_proto_parse_sign_in(&reply.resp, p->sign_no, &reply.diag);
    }
    if (err == EVT_OK) {
        EVT_LOGI(MOD, "operator %s signed in", p->id.opter);
    } else {
        p->sign_no[0] = '\0';
    }
    evt_platform_reply_free(&reply);
    return err;
}

bool evt_platform_signed_in(const evt_platform *p)
{
    return p->sign_no[0] != '\0';
}

void evt_platform_set_operator(evt_platform *p, const char *opter, const char *opter_name)
{
    p->id.opter = opter != NULL ? opter : "";
    p->id.opter_name = opter_name != NULL ? opter_name : "";
    p->sign_no[0] = '\0'; /* a sign_no belongs to the operator who signed in */
}

const char *evt_platform_operator(const evt_platform *p)
{
    return p->id.opter[0] != '\0' ? p->id.opter : NULL;
}

static evt_err build_sign_out(void *arg, const evt_proto_identity *id,
                              const evt_proto_envelope *env, evt_json_writer *w,
                              evt_json_diag *diag)
{
    (void)arg;
    return evt_proto_write_sign_out(id, env, w, diag);
}

evt_err evt_platform_sign_out(evt_platform *p)
{
    evt_err err = EVT_OK;
    if (p->sign_no[0] != '\0') {
        evt_platform_reply reply;
        err = evt_platform_call(p, EVT_INFNO_SIGN_OUT, NULL, build_sign_out, NULL, NULL, &reply);
        if (err == EVT_OK) {
            err = evt_proto_parse_ack(&reply.resp);
        }
        evt_platform_reply_free(&reply);
        if (err == EVT_ERR_PLATFORM_REJECTED && sign_no_refused(&reply)) {
            err = EVT_OK; /* already signed out (or expired) at the platform: nothing to end */
        }
        EVT_LOGI(MOD, "operator %s sign-out: %s", p->id.opter, evt_err_name(err));
        evt_platform_disconnect(p);
    }
    evt_platform_set_operator(p, NULL, NULL);
    return err;
}

typedef struct reversal_arg {
    const platform_owed *owed;
} reversal_arg;

static evt_err build_reversal(void *arg, const evt_proto_identity *id,
                              const evt_proto_envelope *env, evt_json_writer *w,
                              evt_json_diag *diag)
{
    const reversal_arg *ra = arg;
    return evt_proto_write_reversal(id, env, ra->owed->psn_no, ra->owed->msgid, ra->owed->infno, w,
                                    diag);
}

/* The reversal of msgid was acknowledged: the owner records it first, then the record goes. If
 * the owner cannot record it, the reversal stays owed and is repeated later (harmless). */
static evt_err reversal_done(evt_platform *p, const platform_owed *owed)
{
    if (p->owner.reversed != NULL) {
        evt_err err = p->owner.reversed(p->owner.ctx, owed->order_ref, owed->msgid);
        if (err != EVT_OK) {
            EVT_LOGE(MOD, "reversal of msgid %s acknowledged but not recorded: %s", owed->msgid,
                     evt_err_name(err));
            return err;
        }
    }
    evt_err err = evt_journal_twin_del(p->journal, PLATFORM_TWIN_REVERSAL, owed->msgid);
    if (err == EVT_OK && p->reversals_owed > 0) {
        p->reversals_owed--;
    }
    return err == EVT_ERR_NOT_FOUND ? EVT_OK : err;
}

/* One 2601 for a reversal owed; drops the record when the platform acknowledges it. */
static evt_err reverse_one(evt_platform *p, const char *msgid, bool *acknowledged)
{
    platform_owed owed;
    evt_err err = owed_load(p, PLATFORM_TWIN_REVERSAL, msgid, &owed);
    *acknowledged = false;
    if (err != EVT_OK) {
        if (err == EVT_ERR_JOURNAL_CORRUPT) {
            /* No copy readable (two damaged records): the 2601 cannot be built. The record
             * stays, the idle screen keeps counting it, and the log says who must act. */
            EVT_LOGE(MOD, "reversal record %s unreadable: a supervisor must reconcile it", msgid);
        }
        return err;
    }
    reversal_arg ra = {.owed = &owed};
    evt_platform_reply reply;
    err = evt_platform_call(p, EVT_INFNO_REVERSAL, owed.insuplc, build_reversal, &ra, NULL, &reply);
    if (err == EVT_OK) {
        err = evt_proto_parse_ack(&reply.resp);
    }
    if (err == EVT_OK) {
        *acknowledged = true;
        EVT_LOGI(MOD, "reversal of %s msgid %s acknowledged (2601 msgid %s)", owed.infno,
                 owed.msgid, reply.msgid);
        err = reversal_done(p, &owed);
    } else {
        owed.attempts++;
        EVT_LOGW(MOD, "reversal of msgid %s not acknowledged (%s), attempt %u", owed.msgid,
                 evt_err_name(err), (unsigned)owed.attempts);
        owed_store(p, PLATFORM_TWIN_REVERSAL, &owed);
    }
    evt_platform_reply_free(&reply);
    return err;
}

evt_err evt_platform_settle_done(evt_platform *p, const char *msgid, bool outcome_known,
                                 bool *reversed)
{
    *reversed = false;
    if (outcome_known) {
        evt_err err = evt_journal_twin_del(p->journal, PLATFORM_TWIN_PENDING, msgid);
        return err == EVT_ERR_NOT_FOUND ? EVT_OK : err;
    }
    evt_err err = owed_to_reversal(p, msgid);
    if (err != EVT_OK) {
        return err;
    }
    /* The failed connection is useless now; the reversal gets a fresh one. */
    evt_https_disconnect(p->https);
    reverse_one(p, msgid, reversed);
    return EVT_OK;
}

/* The owed reversals to try in one pass: those tried least often so far. A reversal the
 * platform keeps refusing (its attempts grow) then cannot keep the others waiting behind it,
 * whatever order the journal walk finds them in. */
typedef struct retry_pick {
    evt_platform *p;
    unsigned max;
    unsigned count;
    unsigned total;
    char msgid[PLATFORM_OWED_BATCH][EVT_MSGID_BYTES];
    uint32_t attempts[PLATFORM_OWED_BATCH];
} retry_pick;

static evt_err retry_pick_visit(void *arg, const char *id)
{
    retry_pick *rp = arg;
    rp->total++;
    platform_owed owed;
    /* An unreadable record sorts first: trying it is what reports it. */
    uint32_t attempts =
        owed_load(rp->p, PLATFORM_TWIN_REVERSAL, id, &owed) == EVT_OK ? owed.attempts : 0;
    unsigned slot = rp->count;
    if (rp->count == rp->max) {
        slot = 0;
        for (unsigned i = 1; i < rp->count; i++) {
            slot = rp->attempts[i] > rp->attempts[slot] ? i : slot;
        }
        if (rp->attempts[slot] <= attempts) {
            return EVT_OK; /* every picked one was tried at most as often */
        }
    } else {
        rp->count++;
    }
    copy_str(rp->msgid[slot], EVT_MSGID_BYTES, id);
    rp->attempts[slot] = attempts;
    return EVT_OK;
}

evt_err evt_platform_retry_reversals(evt_platform *p, unsigned max_attempts, unsigned *left)
{
    retry_pick *rp = &(retry_pick){.p = p};
    rp->max = max_attempts < PLATFORM_OWED_BATCH ? max_attempts : PLATFORM_OWED_BATCH;
    evt_err err = rp->max == 0 ? EVT_OK
                               : evt_journal_twin_iterate(p->journal, PLATFORM_TWIN_REVERSAL,
                                                          retry_pick_visit, rp);
    if (err != EVT_OK) {
        return err;
    }
    unsigned remaining = rp->total;
    for (unsigned i = 0; i < rp->count; i++) {
        bool ack = false;
        evt_err rerr = reverse_one(p, rp->msgid[i], &ack);
        if (ack) {
            remaining -= rerr == EVT_OK ? 1u : 0u; /* not recorded by the owner: still owed */
        } else if (rerr != EVT_ERR_PLATFORM_REJECTED && rerr != EVT_ERR_JOURNAL_CORRUPT) {
            break; /* the platform is unreachable: the others would fail the same way */
        }
    }
    if (left != NULL) {
        *left = remaining;
    }
    return EVT_OK;
}

unsigned evt_platform_pending_reversals(const evt_platform *p)
{
    return p->reversals_owed;
}

static bool twin_exists(evt_platform *p, const char *twin, const char *msgid)
{
    size_t len = 0;
    evt_err err = evt_journal_twin_get(p->journal, twin, msgid, NULL, 0, &len, NULL);
    return err != EVT_ERR_NOT_FOUND;
}

evt_platform_owed_state evt_platform_owed(evt_platform *p, const char *msgid)
{
    if (twin_exists(p, PLATFORM_TWIN_REVERSAL, msgid)) {
        return EVT_PLATFORM_OWED_REVERSAL;
    }
    return twin_exists(p, PLATFORM_TWIN_PENDING, msgid) ? EVT_PLATFORM_OWED_PENDING
                                                        : EVT_PLATFORM_OWED_NONE;
}

evt_err evt_platform_owe_reversal(evt_platform *p, const char *infno, const char *msgid,
                                  const evt_platform_settle_ref *ref)
{
    if (twin_exists(p, PLATFORM_TWIN_REVERSAL, msgid)) {
        return EVT_OK;
    }
    platform_owed owed;
    owed_fill(&owed, infno, msgid, ref);
    evt_err err = owed_store(p, PLATFORM_TWIN_REVERSAL, &owed);
    if (err == EVT_OK) {
        p->reversals_owed++;
        EVT_LOGW(MOD, "%s msgid %s may have been sent: reversal owed", infno, msgid);
    }
    return err;
}
