/*
 * evt_https: HTTP/1.1 over mbedTLS on the evt_hal_net contract. See include/evt/https.h for
 * the contract and docs/https-client.md for the reasoning.
 *
 * This file is the connection: TLS, the reconnect rule, the request. Response framing is
 * the I/O-free parser of http1.c, fed the decrypted bytes by tls_read.
 */
#include "evt/https.h"

#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "evt/arena.h"
#include "evt/log.h"

#include "http1.h"

/* What the client sends follows the rules the response parser checks. */
#define is_field_value evt_http1_is_field_value

#define MOD "https"

/* Time the close_notify of a deliberate disconnect may take; the peer's answer is not awaited. */
#define CLOSE_NOTIFY_TIMEOUT_MS 200u

typedef enum phase {
    PHASE_HANDSHAKE,
    PHASE_EXCHANGE,
} phase;

struct evt_https_client {
    const evt_hal_net *net;
    const evt_hal_sys *sys;

    char *host;
    char *server_name;
    char *path;
    uint16_t port;
    uint32_t connect_timeout_ms;
    uint32_t io_timeout_ms;
    size_t max_body;

    mbedtls_x509_crt ca;
    mbedtls_ssl_config conf;
    mbedtls_ssl_context ssl;
    bool ssl_ready; /* ssl set up (buffers allocated) */
    bool connected; /* handshake done, connection usable for another request */

    evt_net_sock *sock;
    /* Bio state. */
    uint64_t deadline_ms;
    bool probing;      /* liveness check: the HAL must not wait at all */
    size_t bytes_sent; /* bytes the transport accepted since the last reset */
    evt_err net_err;   /* what the HAL said when the bio failed */

    /* Decrypted response bytes not yet parsed, and the HTTP/1.1 framing state. */
    evt_http1_reader rx;

    /* TLS 1.3 session resumption: the last ticket the server sent, serialised
     * (mbedtls_ssl_session_save), in RAM only. session_len == 0: none held. */
    uint8_t session[EVT_HTTPS_SESSION_MAX_BYTES];
    size_t session_len;
    bool session_offered;        /* the connection being set up offered the stored ticket */
    uint32_t handshake_verifies; /* certificates verified in the current handshake */

    /* Diagnostics. */
    uint32_t connections_opened;
    uint32_t full_handshakes;
    uint32_t resumed_handshakes;
    uint32_t cert_verifications;
    uint32_t tickets_received;
    const char *tls_version;
    const char *ciphersuite;
    int last_mbedtls_error;
    uint32_t last_verify_flags;
    evt_err last_net_error;
};

/* ---------------------------------------------------------------------------------------- */
/* Small helpers */

static uint64_t now_ms(const evt_https_client *c)
{
    return c->sys->monotonic_ms(c->sys->ctx);
}

static uint32_t remaining_ms(const evt_https_client *c)
{
    uint64_t now = now_ms(c);
    if (now >= c->deadline_ms) {
        return 0;
    }
    uint64_t left = c->deadline_ms - now;
    return left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}

static char *arena_strdup(const char *s)
{
    size_t n = strlen(s);
    char *p = evt_malloc(n + 1);
    if (p) {
        memcpy(p, s, n + 1);
    }
    return p;
}

static size_t append(char *dst, size_t cap, size_t pos, const char *src)
{
    size_t n = strlen(src);
    if (pos + n < cap) {
        memcpy(dst + pos, src, n);
    }
    return pos + n; /* the caller sized dst by a first pass; overflow means a sizing bug */
}

static size_t append_u(char *dst, size_t cap, size_t pos, unsigned long v)
{
    char tmp[24];
    size_t i = sizeof(tmp);
    tmp[--i] = '\0';
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return append(dst, cap, pos, tmp + i);
}

/* ---------------------------------------------------------------------------------------- */
/* mbedTLS bio onto evt_hal_net */

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    evt_https_client *c = ctx;
    size_t sent = 0;
    evt_err err = c->net->send(c->net->ctx, c->sock, buf, len, remaining_ms(c), &sent);
    if (err == EVT_OK) {
        c->bytes_sent += sent;
        return (int)sent;
    }
    c->net_err = err;
    c->last_net_error = err;
    return MBEDTLS_ERR_NET_SEND_FAILED;
}

static int bio_recv_timeout(void *ctx, unsigned char *buf, size_t len, uint32_t unused_timeout)
{
    (void)unused_timeout; /* our own deadlines rule, not mbedTLS's per-read timeout */
    evt_https_client *c = ctx;
    size_t got = 0;
    uint32_t wait = c->probing ? 0 : remaining_ms(c);
    evt_err err = c->net->recv(c->net->ctx, c->sock, buf, len, wait, &got);
    if (err == EVT_OK) {
        return (int)got;
    }
    c->net_err = err;
    if (!c->probing || err != EVT_ERR_NET_TIMEOUT) {
        c->last_net_error = err;
    }
    switch (err) {
    case EVT_ERR_NET_CLOSED:
        return 0; /* mbedTLS reports end of stream as MBEDTLS_ERR_SSL_CONN_EOF */
    case EVT_ERR_NET_TIMEOUT:
        return MBEDTLS_ERR_SSL_TIMEOUT;
    default:
        return MBEDTLS_ERR_NET_RECV_FAILED;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Error mapping */

static bool is_alloc_error(int ret)
{
    return ret == MBEDTLS_ERR_SSL_ALLOC_FAILED || ret == MBEDTLS_ERR_X509_ALLOC_FAILED ||
           ret == MBEDTLS_ERR_MPI_ALLOC_FAILED || ret == MBEDTLS_ERR_PK_ALLOC_FAILED ||
           ret == MBEDTLS_ERR_ECP_ALLOC_FAILED;
}

static evt_err map_verify_flags(uint32_t flags)
{
    /* Precedence: a chain we do not trust says nothing reliable about names or dates; a name
     * mismatch means the wrong server even if the clock is off; dates come last. */
    if (flags & (MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_REVOKED |
                 MBEDTLS_X509_BADCERT_MISSING | MBEDTLS_X509_BADCERT_SKIP_VERIFY |
                 MBEDTLS_X509_BADCERT_OTHER | MBEDTLS_X509_BADCERT_KEY_USAGE |
                 MBEDTLS_X509_BADCERT_EXT_KEY_USAGE | MBEDTLS_X509_BADCERT_NS_CERT_TYPE |
                 MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK |
                 MBEDTLS_X509_BADCERT_BAD_KEY)) {
        return EVT_ERR_TLS_CERT_UNTRUSTED;
    }
    if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
        return EVT_ERR_TLS_HOSTNAME;
    }
    if (flags & (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE |
                 MBEDTLS_X509_BADCRL_EXPIRED | MBEDTLS_X509_BADCRL_FUTURE)) {
        return EVT_ERR_TLS_CERT_EXPIRED;
    }
    return EVT_ERR_TLS_CERT_UNTRUSTED;
}

/* Maps a failed mbedTLS call. The network driver's own verdict wins when it caused it. */
static evt_err map_tls_error(evt_https_client *c, int ret, phase ph)
{
    c->last_mbedtls_error = ret;
    if (is_alloc_error(ret)) {
        return EVT_ERR_NOMEM;
    }
    if (ph == PHASE_HANDSHAKE) {
        if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
            uint32_t flags = mbedtls_ssl_get_verify_result(&c->ssl);
            c->last_verify_flags = flags;
            return map_verify_flags(flags);
        }
        if (c->net_err == EVT_ERR_NET_TIMEOUT) {
            return EVT_ERR_NET_TIMEOUT;
        }
        /* Alerts, a dropped connection or no common version or suite: the server and we
         * could not agree on a secure channel. */
        return EVT_ERR_TLS_HANDSHAKE;
    }
    if (c->net_err != EVT_OK) {
        return c->net_err;
    }
    switch (ret) {
    case MBEDTLS_ERR_SSL_CONN_EOF:
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
        return EVT_ERR_NET_CLOSED;
    case MBEDTLS_ERR_SSL_TIMEOUT:
        return EVT_ERR_NET_TIMEOUT;
    default:
        /* Fatal alerts, bad MACs, malformed or unexpected records. */
        return EVT_ERR_TLS_ALERT;
    }
}

/* What a failed handshake most likely means, for the technician reading the log ("" when the
 * error code says it already: certificates, timeouts, memory). */
static const char *handshake_hint(int ret)
{
    switch (ret) {
    case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
    case MBEDTLS_ERR_SSL_CONN_EOF:
        /* Kept short: the whole line must fit the log's 256 bytes. */
        return ": server ended it; no common version, suite, group or signature? "
               "(we: TLS 1.2/1.3, ECDHE, AEAD)";
    case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION:
    case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE:
    case MBEDTLS_ERR_SSL_ILLEGAL_PARAMETER:
        return ": server chose a version or parameter we refuse";
    default:
        return "";
    }
}

/* ---------------------------------------------------------------------------------------- */
/* TLS 1.3 session resumption (docs/https-client.md, "Session resumption") */

/* Every client's handshakes, for benchmarks that cannot reach the client (evt_https_get_totals). */
static evt_https_totals totals;

/* Forgets the stored ticket: the bytes are a key to the platform session, so they are wiped. */
static void forget_session(evt_https_client *c)
{
    mbedtls_platform_zeroize(c->session, sizeof(c->session));
    c->session_len = 0;
}

/* A NewSessionTicket arrived (TLS 1.3, after the handshake): keep it for the next connection.
 * mbedTLS keeps the ticket's lifetime and reception time with it and does not offer it once
 * expired. A ticket that does not fit the fixed buffer is not kept (logged, never fatal). */
static void store_session(evt_https_client *c)
{
    c->tickets_received++;
    mbedtls_ssl_session s;
    mbedtls_ssl_session_init(&s);
    int ret = mbedtls_ssl_get_session(&c->ssl, &s);
    size_t len = 0;
    if (ret == 0) {
        ret = mbedtls_ssl_session_save(&s, c->session, sizeof(c->session), &len);
    }
    mbedtls_ssl_session_free(&s);
    if (ret != 0) {
        forget_session(c);
        EVT_LOGW(MOD,
                 "session ticket not kept (mbedtls -0x%04x, %lu bytes needed, %u held at most)",
                 (unsigned)-ret, (unsigned long)len, (unsigned)EVT_HTTPS_SESSION_MAX_BYTES);
        return;
    }
    c->session_len = len;
}

/* Offers the stored ticket on the connection being set up. A ticket mbedTLS cannot load is
 * dropped and the handshake goes on as a full one. */
static void offer_session(evt_https_client *c)
{
    c->session_offered = false;
    if (c->session_len == 0) {
        return;
    }
    mbedtls_ssl_session s;
    mbedtls_ssl_session_init(&s);
    int ret = mbedtls_ssl_session_load(&s, c->session, c->session_len);
    if (ret == 0) {
        ret = mbedtls_ssl_set_session(&c->ssl, &s);
    }
    mbedtls_ssl_session_free(&s);
    if (ret != 0) {
        EVT_LOGW(MOD, "stored session not usable (mbedtls -0x%04x); full handshake",
                 (unsigned)-ret);
        forget_session(c);
        return;
    }
    c->session_offered = true;
}

/* Counts the server certificates verified (depth 0: one per full handshake); mbedTLS's own
 * verification result stands (flags untouched). A resumed handshake calls it never. */
static int count_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    (void)crt;
    (void)flags;
    evt_https_client *c = ctx;
    if (depth == 0) {
        c->handshake_verifies++;
        c->cert_verifications++;
        totals.cert_verifications++;
    }
    return 0;
}

/* A post-handshake message was handled by mbedTLS: keep the ticket if it was one. */
static bool post_handshake_message(evt_https_client *c, int ret)
{
    if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET) {
        store_session(c);
        return true;
    }
    return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* ---------------------------------------------------------------------------------------- */
/* Connection management */

static void drop_connection(evt_https_client *c, bool send_close_notify)
{
    if (c->ssl_ready) {
        if (send_close_notify && c->connected && c->sock) {
            c->deadline_ms = now_ms(c) + CLOSE_NOTIFY_TIMEOUT_MS;
            c->net_err = EVT_OK;
            (void)mbedtls_ssl_close_notify(&c->ssl);
        }
        /* Frees the record buffers: an idle terminal gives the arena back to other modules. */
        mbedtls_ssl_free(&c->ssl);
        c->ssl_ready = false;
    }
    if (c->sock) {
        c->net->close(c->net->ctx, c->sock);
        c->sock = NULL;
    }
    c->connected = false;
    evt_http1_reset(&c->rx);
}

static evt_err connect_tls(evt_https_client *c)
{
    uint64_t started = now_ms(c);
    c->deadline_ms = started + c->connect_timeout_ms;
    c->net_err = EVT_OK;

    evt_err err = c->net->connect(c->net->ctx, c->host, c->port, c->connect_timeout_ms, &c->sock);
    if (err != EVT_OK) {
        c->last_net_error = err;
        c->sock = NULL;
        EVT_LOGW(MOD, "connect to port %u failed: %s", (unsigned)c->port, evt_err_name(err));
        return err;
    }
    c->connections_opened++;
    totals.connections_opened++;

    mbedtls_ssl_init(&c->ssl);
    c->ssl_ready = true;
    int ret = mbedtls_ssl_setup(&c->ssl, &c->conf);
    if (ret == 0) {
        /* SNI and the certificate's CN/SAN check both use this name. */
        ret = mbedtls_ssl_set_hostname(&c->ssl, c->server_name);
    }
    if (ret != 0) {
        c->last_mbedtls_error = ret;
        drop_connection(c, false);
        EVT_LOGE(MOD, "TLS setup failed: -0x%04x", (unsigned)-ret);
        return is_alloc_error(ret) ? EVT_ERR_NOMEM : EVT_ERR_TLS_CONFIG;
    }
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, NULL, bio_recv_timeout);
    offer_session(c);
    c->handshake_verifies = 0;

    do {
        ret = mbedtls_ssl_handshake(&c->ssl);
    } while (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE);
    if (ret != 0) {
        err = map_tls_error(c, ret, PHASE_HANDSHAKE);
        EVT_LOGW(MOD, "TLS handshake failed: %s (mbedtls -0x%04x, verify flags 0x%08lx, net %s)%s",
                 evt_err_name(err), (unsigned)-ret, (unsigned long)c->last_verify_flags,
                 evt_err_name(c->net_err), err == EVT_ERR_TLS_HANDSHAKE ? handshake_hint(ret) : "");
        drop_connection(c, false);
        if (c->session_offered) {
            forget_session(c); /* whatever went wrong, the next attempt starts clean */
        }
        return err;
    }
    c->connected = true;
    c->tls_version = mbedtls_ssl_get_version(&c->ssl);
    c->ciphersuite = mbedtls_ssl_get_ciphersuite(&c->ssl);
    /* Resumed: the server took the ticket (PSK with ECDHE), so it sent no certificate and none
     * was verified. Offered but verified: the server refused the ticket and the handshake went
     * on as a full one in the same round trip; the ticket is spent. */
    bool resumed = c->session_offered && c->handshake_verifies == 0;
    if (resumed) {
        c->resumed_handshakes++;
        totals.resumed_handshakes++;
    } else {
        c->full_handshakes++;
        totals.full_handshakes++;
    }
    if (c->session_offered && !resumed) {
        forget_session(c);
        EVT_LOGI(MOD, "session ticket refused by the server; full handshake");
    }
    EVT_LOGI(MOD, "connected: %s %s, %s handshake in %lu ms", c->tls_version, c->ciphersuite,
             resumed ? "resumed" : "full", (unsigned long)(now_ms(c) - started));
    return EVT_OK;
}

/*
 * Is the kept-alive connection still usable? Reads without waiting: a close_notify, a FIN, a
 * reset or stray bytes all mean the server is done with it (or it is out of step), and since
 * nothing of the next request was written yet, reconnecting is safe.
 */
/* Records a liveness probe may consume (tickets and other post-handshake messages). */
#define IDLE_PROBE_RECORDS 16

static bool idle_connection_alive(evt_https_client *c)
{
    if (!evt_http1_idle(&c->rx)) {
        return false;
    }
    c->probing = true;
    bool alive = false;
    /* Each turn consumes one record. A connection used only for its handshake (prepared
     * ahead, evt_https_connect_ahead) still has the server's NewSessionTickets waiting: two
     * from common servers, each read as the ticket and then WANT_READ, so four turns were
     * not enough and such a connection was taken for dead. */
    bool decided = false;
    for (int i = 0; i < IDLE_PROBE_RECORDS && !decided; i++) {
        c->net_err = EVT_OK;
        int ret = mbedtls_ssl_read(&c->ssl, c->rx.rx, sizeof(c->rx.rx));
        if (post_handshake_message(c, ret)) {
            continue; /* post-handshake message handled; look again */
        }
        alive = (ret == MBEDTLS_ERR_SSL_TIMEOUT && c->net_err == EVT_ERR_NET_TIMEOUT);
        if (!alive) {
            EVT_LOGI(MOD, "idle connection found closed (mbedtls -0x%04x, net %s)",
                     (unsigned)(ret < 0 ? -ret : ret), evt_err_name(c->net_err));
        }
        decided = true;
    }
    if (!decided) {
        EVT_LOGI(MOD, "idle connection still sending post-handshake messages; not reused");
    }
    c->probing = false;
    c->net_err = EVT_OK;
    return alive;
}

/* ---------------------------------------------------------------------------------------- */
/* Reading the response */

/* The HTTP/1.1 parser's source: decrypted bytes of the connection (http1.h). */
static evt_err tls_read(void *ctx, uint8_t *buf, size_t cap, size_t *got, bool *clean_end)
{
    evt_https_client *c = ctx;
    for (int spins = 0; spins < 16; spins++) {
        c->net_err = EVT_OK;
        int ret = mbedtls_ssl_read(&c->ssl, buf, cap);
        if (ret > 0) {
            *got = (size_t)ret;
            return EVT_OK;
        }
        if (post_handshake_message(c, ret)) {
            continue;
        }
        if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
            *clean_end = true; /* a read-to-close body is complete */
            c->last_mbedtls_error = ret;
            return EVT_ERR_NET_CLOSED;
        }
        if (ret == 0 || ret == MBEDTLS_ERR_SSL_CONN_EOF) {
            c->last_mbedtls_error = MBEDTLS_ERR_SSL_CONN_EOF;
            return EVT_ERR_NET_CLOSED;
        }
        return map_tls_error(c, ret, PHASE_EXCHANGE);
    }
    return EVT_ERR_TLS_ALERT; /* a stream of non-data records is not a response */
}

/* Reads the whole response into resp; *keep_alive says if the connection may be reused. */
static evt_err read_response(evt_https_client *c, const evt_https_sink *sink,
                             evt_https_response *resp, bool *keep_alive)
{
    const evt_http1_source source = {.ctx = c, .read = tls_read};
    evt_http1_response r;
    evt_err err = evt_http1_read_response(&c->rx, &source, c->max_body, sink, &r);
    resp->status = r.status;
    resp->body = r.body;
    resp->body_len = r.body_len;
    *keep_alive = r.keep_alive;
    return err;
}

/* ---------------------------------------------------------------------------------------- */
/* Request */

static bool reserved_header(const char *name)
{
    static const char *const reserved[] = {"Host",       "Content-Length",    "Content-Type",
                                           "Connection", "Transfer-Encoding", "Keep-Alive",
                                           "TE",         "Upgrade",           "Trailer"};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        if (evt_http1_ieq(name, reserved[i])) {
            return true;
        }
    }
    return false;
}

static bool path_ok(const char *p)
{
    if (p[0] != '/') {
        return false;
    }
    for (; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= 0x20 || ch >= 0x7f) {
            return false;
        }
    }
    return true;
}

/* Builds head + body in one arena buffer, so a small request leaves as one TLS record; with a
 * body source, the head only (the body follows while it is produced). */
static evt_err build_request(const evt_https_client *c, const evt_https_request *req, uint8_t **out,
                             size_t *out_len)
{
    const char *path = req->path ? req->path : c->path;
    const char *ctype = req->content_type ? req->content_type : "application/json;charset=utf-8";
    bool inline_body = req->body_source == NULL;
    if (!path_ok(path) || !evt_http1_is_field_value(ctype) ||
        (req->body_len && inline_body && !req->body) ||
        (!inline_body && (req->body != NULL || req->body_source->produce == NULL)) ||
        (req->header_count && !req->headers) || req->header_count > EVT_HTTPS_MAX_EXTRA_HEADERS) {
        return EVT_ERR_ARG;
    }
    for (size_t i = 0; i < req->header_count; i++) {
        const evt_https_header *hd = &req->headers[i];
        if (!hd->name || !hd->value || !evt_http1_is_token(hd->name) ||
            !evt_http1_is_field_value(hd->value) || reserved_header(hd->name)) {
            return EVT_ERR_ARG;
        }
    }
    bool ipv6_literal = strchr(c->server_name, ':') != NULL;
    /* Two passes: size, then write. */
    char *buf = NULL;
    size_t cap = 0, pos = 0;
    for (int pass = 0; pass < 2; pass++) {
        pos = 0;
        pos = append(buf, cap, pos, "POST ");
        pos = append(buf, cap, pos, path);
        pos = append(buf, cap, pos, " HTTP/1.1\r\nHost: ");
        pos = append(buf, cap, pos, ipv6_literal ? "[" : "");
        pos = append(buf, cap, pos, c->server_name);
        pos = append(buf, cap, pos, ipv6_literal ? "]" : "");
        if (c->port != EVT_HTTPS_DEFAULT_PORT) {
            pos = append(buf, cap, pos, ":");
            pos = append_u(buf, cap, pos, c->port);
        }
        pos = append(buf, cap, pos, "\r\nContent-Type: ");
        pos = append(buf, cap, pos, ctype);
        pos = append(buf, cap, pos, "\r\nContent-Length: ");
        pos = append_u(buf, cap, pos, (unsigned long)req->body_len);
        pos = append(buf, cap, pos, "\r\nConnection: keep-alive\r\nAccept: */*\r\n");
        for (size_t i = 0; i < req->header_count; i++) {
            pos = append(buf, cap, pos, req->headers[i].name);
            pos = append(buf, cap, pos, ": ");
            pos = append(buf, cap, pos, req->headers[i].value);
            pos = append(buf, cap, pos, "\r\n");
        }
        pos = append(buf, cap, pos, "\r\n");
        if (pass == 0) {
            cap = pos + (inline_body ? req->body_len : 0) + 1;
            buf = evt_malloc(cap);
            if (!buf) {
                return EVT_ERR_NOMEM;
            }
        }
    }
    if (!inline_body) {
        *out = (uint8_t *)buf;
        *out_len = pos;
        return EVT_OK;
    }
    if (req->body_len) {
        memcpy(buf + pos, req->body, req->body_len);
    }
    *out = (uint8_t *)buf;
    *out_len = pos + req->body_len;
    return EVT_OK;
}

static evt_err write_all(evt_https_client *c, const uint8_t *data, size_t len)
{
    size_t done = 0;
    while (done < len) {
        c->net_err = EVT_OK;
        int ret = mbedtls_ssl_write(&c->ssl, data + done, len - done);
        if (ret > 0) {
            done += (size_t)ret;
            continue;
        }
        if (post_handshake_message(c, ret)) {
            continue;
        }
        return map_tls_error(c, ret, PHASE_EXCHANGE);
    }
    return EVT_OK;
}

/* A body source's pieces onto the connection, counted against the announced length. */
typedef struct body_put {
    evt_https_client *c;
    size_t written;
    size_t announced;
} body_put;

static evt_err put_body_piece(void *ctx, const uint8_t *data, size_t len)
{
    body_put *bp = ctx;
    if (len > bp->announced - bp->written) {
        return EVT_ERR_INTERNAL; /* more than Content-Length said: the framing would break */
    }
    bp->written += len;
    return write_all(bp->c, data, len);
}

/* Head (+ inline body) as built, then a body source's pieces while they are produced. */
static evt_err write_request(evt_https_client *c, const evt_https_request *req, const uint8_t *wire,
                             size_t wire_len)
{
    evt_err err = write_all(c, wire, wire_len);
    if (err != EVT_OK || req->body_source == NULL) {
        return err;
    }
    body_put bp = {.c = c, .written = 0, .announced = req->body_len};
    err = req->body_source->produce(req->body_source->ctx, put_body_piece, &bp);
    if (err == EVT_OK && bp.written != bp.announced) {
        err = EVT_ERR_INTERNAL;
    }
    if (err == EVT_ERR_INTERNAL) {
        EVT_LOGE(MOD, "request body: %lu bytes produced, %lu announced", (unsigned long)bp.written,
                 (unsigned long)bp.announced);
    }
    return err;
}

/* ---------------------------------------------------------------------------------------- */
/* The TLS profile (docs/https-client.md, "Cipher suites, groups and signatures"): forward
 * secrecy on every connection and authenticated encryption on every record. A server that
 * offers nothing from these lists gets a failed handshake, never a weaker channel. */

/* ChaCha20-Poly1305 first: without an AES unit (a Cortex-M4 has none) it is faster than
 * AES-GCM, constant-time by design (software AES uses lookup tables), and a connection holds
 * ~1.8 KiB less arena (docs/https-client.md). */
static const int tls_ciphersuites[] = {
    /* TLS 1.3: the key exchange is always (EC)DHE; all three are AEAD. */
    MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
    MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
    /* TLS 1.2: ephemeral ECDH only (no RSA key transport, no finite-field DHE), AEAD only (no
     * CBC, so no SHA-1 MAC and no MAC-then-encrypt padding oracles). */
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    0,
};

/* Key exchange groups, cheapest first on the boards (measured on the Cortex-M3 by
 * bench.handshake_mps2: secp256r1 20.3 M instructions, X25519 25.2 M; docs/performance.md).
 * TLS 1.3 sends a key share for the first group only, so the first one is the one paid for.
 * No finite-field groups (slow on a Cortex-M), no secp521r1/x448/Brainpool (not in the
 * build). */
static const uint16_t tls_groups[] = {
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
    MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
    MBEDTLS_SSL_IANA_TLS_GROUP_NONE,
};

/* Signatures the server may make in the handshake: SHA-2 only. RSA-PSS is what TLS 1.3
 * requires of RSA servers; PKCS#1 v1.5 comes first because in TLS 1.2 mbedTLS 3.6.6
 * refuses a PSS ServerKeyExchange signature (see docs/https-client.md). */
static const uint16_t tls_sig_algs[] = {
    MBEDTLS_TLS1_3_SIG_ECDSA_SECP256R1_SHA256,
    MBEDTLS_TLS1_3_SIG_ECDSA_SECP384R1_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA256,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PKCS1_SHA512,
    MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA256,
    MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA384,
    MBEDTLS_TLS1_3_SIG_RSA_PSS_RSAE_SHA512,
    MBEDTLS_TLS1_3_SIG_NONE,
};

static void conf_tls_profile(mbedtls_ssl_config *conf)
{
    mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
    mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_3);
    mbedtls_ssl_conf_ciphersuites(conf, tls_ciphersuites);
    mbedtls_ssl_conf_groups(conf, tls_groups);
    mbedtls_ssl_conf_sig_algs(conf, tls_sig_algs);
    /* Certificates keep mbedTLS's default profile: SHA-256/384/512 signatures, RSA keys of at
     * least 2048 bits, and the curves of the build (secp256r1, secp384r1). */
}

/* ---------------------------------------------------------------------------------------- */
/* Public API */

evt_err evt_https_client_new(const evt_https_config *cfg, const evt_hal_net *net,
                             const evt_hal_sys *sys, evt_https_client **out)
{
    if (!out) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    if (!cfg || !net || !sys || !cfg->host || !cfg->host[0] || !cfg->path || !cfg->ca_pem ||
        !net->connect || !net->send || !net->recv || !net->close || !sys->monotonic_ms ||
        !path_ok(cfg->path)) {
        return EVT_ERR_ARG;
    }
    const char *server_name = cfg->server_name ? cfg->server_name : cfg->host;
    if (!server_name[0] || !is_field_value(server_name) || strchr(server_name, ' ') ||
        !is_field_value(cfg->host)) {
        return EVT_ERR_ARG;
    }
    if (!evt_https_platform_ready()) {
        EVT_LOGE(MOD, "evt_https_platform_init was not called");
        return EVT_ERR_ARG;
    }
    evt_https_client *c = evt_calloc(1, sizeof(*c));
    if (!c) {
        return EVT_ERR_NOMEM;
    }
    c->net = net;
    c->sys = sys;
    c->port = cfg->port ? cfg->port : EVT_HTTPS_DEFAULT_PORT;
    c->connect_timeout_ms =
        cfg->connect_timeout_ms ? cfg->connect_timeout_ms : EVT_HTTPS_DEFAULT_CONNECT_TIMEOUT_MS;
    c->io_timeout_ms = cfg->io_timeout_ms ? cfg->io_timeout_ms : EVT_HTTPS_DEFAULT_IO_TIMEOUT_MS;
    c->max_body = cfg->max_body ? cfg->max_body : EVT_HTTPS_DEFAULT_MAX_BODY;
    mbedtls_x509_crt_init(&c->ca);
    mbedtls_ssl_config_init(&c->conf);
    c->host = arena_strdup(cfg->host);
    c->server_name = arena_strdup(server_name);
    c->path = arena_strdup(cfg->path);
    if (!c->host || !c->server_name || !c->path) {
        evt_https_client_free(c);
        return EVT_ERR_NOMEM;
    }

    /* The terminating NUL must be part of the length for mbedTLS to treat it as PEM. */
    int ret =
        mbedtls_x509_crt_parse(&c->ca, (const unsigned char *)cfg->ca_pem, strlen(cfg->ca_pem) + 1);
    if (ret != 0 || c->ca.version == 0) {
        /* ret > 0: some certificates did not parse. A half-read trust store is refused. */
        c->last_mbedtls_error = ret < 0 ? ret : 0;
        EVT_LOGE(MOD, "CA PEM invalid (mbedtls %s0x%04x)", ret < 0 ? "-" : "+",
                 (unsigned)(ret < 0 ? -ret : ret));
        evt_https_client_free(c);
        return is_alloc_error(ret) ? EVT_ERR_NOMEM : EVT_ERR_TLS_CONFIG;
    }

    ret = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        evt_https_client_free(c);
        return EVT_ERR_TLS_CONFIG;
    }
    mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
    /* PSA's DRBG, seeded from the HAL entropy by psa_crypto_init: one DRBG for everything. */
    mbedtls_ssl_conf_rng(&c->conf, mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE);
    conf_tls_profile(&c->conf);
    mbedtls_ssl_conf_verify(&c->conf, count_verify, c);
    /* Resumption (TLS 1.3 tickets): mbedTLS 3.6 drops NewSessionTickets unless asked to hand
     * them over; a resumed handshake is PSK with ECDHE (pure-PSK mode is not in the build), so
     * every connection keeps forward secrecy. */
    mbedtls_ssl_conf_session_tickets(&c->conf, MBEDTLS_SSL_SESSION_TICKETS_ENABLED);
    mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(
        &c->conf, MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
    mbedtls_ssl_conf_tls13_key_exchange_modes(&c->conf,
                                              MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK_EPHEMERAL |
                                                  MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL);
    *out = c;
    return EVT_OK;
}

void evt_https_client_free(evt_https_client *c)
{
    if (!c) {
        return;
    }
    drop_connection(c, true);
    forget_session(c);
    mbedtls_ssl_config_free(&c->conf);
    mbedtls_x509_crt_free(&c->ca);
    evt_free(c->host);
    evt_free(c->server_name);
    evt_free(c->path);
    evt_free(c);
}

void evt_https_disconnect(evt_https_client *c)
{
    if (c) {
        drop_connection(c, true);
    }
}

evt_err evt_https_connect_ahead(evt_https_client *c)
{
    if (!c) {
        return EVT_ERR_ARG;
    }
    if (c->connected) {
        if (idle_connection_alive(c)) {
            return EVT_OK;
        }
        drop_connection(c, false);
    }
    c->last_verify_flags = 0;
    return connect_tls(c);
}

void evt_https_forget_session(evt_https_client *c)
{
    if (c) {
        forget_session(c);
    }
}

void evt_https_get_totals(evt_https_totals *out)
{
    *out = totals;
}

void evt_https_response_free(evt_https_response *resp)
{
    if (!resp) {
        return;
    }
    evt_free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

evt_err evt_https_post(evt_https_client *c, const evt_https_request *req, evt_https_response *resp)
{
    if (!resp) {
        return EVT_ERR_ARG;
    }
    memset(resp, 0, sizeof(*resp));
    if (!c || !req) {
        return EVT_ERR_ARG;
    }
    uint8_t *wire = NULL;
    size_t wire_len = 0;
    evt_err err = build_request(c, req, &wire, &wire_len);
    if (err != EVT_OK) {
        return err;
    }
    c->last_verify_flags = 0;

    bool retried = false;
    for (;;) {
        bool fresh = false;
        if (c->connected && !idle_connection_alive(c)) {
            drop_connection(c, false);
            resp->reconnected = true;
        }
        if (!c->connected) {
            err = connect_tls(c);
            if (err != EVT_OK) {
                break; /* nothing of the request was written */
            }
            fresh = true;
        }
        resp->connection_reused = !fresh;
        resp->tls_version = c->tls_version;
        resp->ciphersuite = c->ciphersuite;

        c->deadline_ms = now_ms(c) + c->io_timeout_ms;
        c->bytes_sent = 0;
        err = write_request(c, req, wire, wire_len);
        resp->request_sent = c->bytes_sent > 0;
        if (err != EVT_OK) {
            bool peer_gone = err == EVT_ERR_NET_CLOSED || err == EVT_ERR_NET_IO;
            drop_connection(c, false);
            /* The one safe retry: a reused connection that died before it took a byte. */
            if (!fresh && !retried && !resp->request_sent && peer_gone) {
                EVT_LOGI(MOD, "kept-alive connection refused the request; reconnecting");
                retried = true;
                resp->reconnected = true;
                continue;
            }
            break;
        }
        resp->request_sent = true;

        bool keep_alive = false;
        err = read_response(c, req->body_sink, resp, &keep_alive);
        if (err != EVT_OK || !keep_alive) {
            drop_connection(c, err == EVT_OK);
        }
        break;
    }
    evt_free(wire);

    if (err == EVT_OK && (resp->status < 200 || resp->status > 299)) {
        err = EVT_ERR_HTTP_STATUS;
    }
    if (err != EVT_OK) {
        EVT_LOGW(MOD, "POST failed: %s (http %d, request %s, mbedtls -0x%04x)", evt_err_name(err),
                 resp->status, resp->request_sent ? "sent" : "not sent",
                 (unsigned)(c->last_mbedtls_error < 0 ? -c->last_mbedtls_error : 0));
    }
    return err;
}

void evt_https_get_info(const evt_https_client *c, evt_https_info *out)
{
    memset(out, 0, sizeof(*out));
    if (!c) {
        return;
    }
    out->connected = c->connected;
    out->connections_opened = c->connections_opened;
    out->tls_version = c->tls_version;
    out->ciphersuite = c->ciphersuite;
    out->last_mbedtls_error = c->last_mbedtls_error;
    out->last_verify_flags = c->last_verify_flags;
    out->last_net_error = c->last_net_error;
    out->full_handshakes = c->full_handshakes;
    out->resumed_handshakes = c->resumed_handshakes;
    out->cert_verifications = c->cert_verifications;
    out->tickets_received = c->tickets_received;
    out->session_held = c->session_len > 0;
    out->session_bytes = c->session_len;
}
