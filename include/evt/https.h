/*
 * evt_https: HTTP/1.1 POST over TLS (mbedTLS 3.6) on top of the evt_hal_net contract.
 *
 * One client talks to one platform endpoint. The TLS connection is kept alive between POSTs
 * (a sale is several transactions) and closed by evt_https_disconnect, by the server
 * ("Connection: close", close_notify, idle timeout) or after any error.
 *
 * Security: the server certificate must chain to the provisioned CA (VERIFY_REQUIRED), its
 * CN/SAN must match server_name, TLS 1.2 is the minimum and TLS 1.3 is preferred.
 *
 * Resumption: the last TLS 1.3 session ticket the server sent is kept in the client (RAM only,
 * at most EVT_HTTPS_SESSION_MAX_BYTES, wiped when replaced, refused or the client is freed) and
 * offered on the next connection: PSK with ECDHE, so no certificate is verified and forward
 * secrecy stays. An expired ticket is not offered; a refused one means a full handshake in the
 * same round trip. The reconnect rule below is unchanged by it.
 *
 * Reconnect rule (what the transaction engine relies on): a kept-alive connection is checked
 * before a request is written; if the server closed it while idle, or it fails before a single
 * byte of the new request reached the transport, the client reconnects once and sends the
 * request on the new connection. Once any byte of a request was accepted by the transport it is
 * never re-sent: every later failure returns with resp->request_sent == true, and the caller
 * must treat the outcome of a settlement as unknown.
 *
 * Memory: everything (client, TLS buffers, response body) comes from the arena (evt/arena.h).
 * A connected client holds about 2 x the record buffers (16 KiB in + 4 KiB out) plus the
 * handshake state while connecting; see docs/https-client.md for measured peaks.
 *
 * Not thread-safe; one main loop, like the rest of the firmware.
 */
#ifndef EVT_HTTPS_H
#define EVT_HTTPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"
#include "evt/hal_net.h"
#include "evt/hal_sys.h"

#define EVT_HTTPS_DEFAULT_PORT               443u
#define EVT_HTTPS_DEFAULT_CONNECT_TIMEOUT_MS 10000u
#define EVT_HTTPS_DEFAULT_IO_TIMEOUT_MS      30000u
#define EVT_HTTPS_DEFAULT_MAX_BODY           (64u * 1024u)
/* Longest single status or header line, and the whole header section, we accept. */
#define EVT_HTTPS_MAX_LINE           4096u
#define EVT_HTTPS_MAX_HEADER_SECTION (16u * 1024u)
/* Most extra headers a request may carry. */
#define EVT_HTTPS_MAX_EXTRA_HEADERS 16u
/* Largest serialised TLS 1.3 session (ticket, resumption key, lifetime, server name) a client
 * keeps for resumption, in RAM only; a larger ticket is not kept (full handshake next time). */
#define EVT_HTTPS_SESSION_MAX_BYTES 512u

typedef struct evt_https_config {
    const char *host; /* DNS name or IPv4/IPv6 literal to connect to */
    uint16_t port;    /* 0 = 443 */
    const char *path; /* default request target, e.g. "/fsi/api/rsfComIfsService/callService" */
    const char *server_name;     /* SNI, certificate name check and Host header; NULL = host */
    const char *ca_pem;          /* NUL-terminated PEM with one or more CA certificates */
    uint32_t connect_timeout_ms; /* TCP connect + TLS handshake; 0 = default */
    uint32_t io_timeout_ms;      /* whole write-request/read-response exchange; 0 = default */
    size_t max_body;             /* response body cap; 0 = 64 KiB (memory: see body_sink) */
} evt_https_config;

typedef struct evt_https_header {
    const char *name;  /* an HTTP token, e.g. "x-tif-paasid" */
    const char *value; /* printable, no CR/LF */
} evt_https_header;

/* Takes the response body piece by piece as it is decrypted (len >= 1): a reader that parses
 * while the body arrives keeps nothing of it. An error ends the response with that error. */
typedef struct evt_https_sink {
    void *ctx;
    evt_err (*write)(void *ctx, const uint8_t *data, size_t len);
} evt_https_sink;

/* A request body written out while it is sent, instead of one buffer: produce calls put with
 * consecutive pieces (any sizes) until the body is complete. It is called once per attempt
 * (again after the one safe reconnect) and must write the same bytes each time, exactly
 * evt_https_request.body_len of them; a different count fails the request (EVT_ERR_INTERNAL)
 * and drops the connection. put's errors (the connection's) must be returned as they are. */
typedef evt_err (*evt_https_put_fn)(void *put_ctx, const uint8_t *data, size_t len);
typedef struct evt_https_body_source {
    void *ctx;
    evt_err (*produce)(void *ctx, evt_https_put_fn put, void *put_ctx);
} evt_https_body_source;

typedef struct evt_https_request {
    const char *path;         /* NULL = config path */
    const char *content_type; /* NULL = "application/json;charset=utf-8" */
    const uint8_t *body;      /* or body_source; body_len is the length either way */
    size_t body_len;
    const evt_https_body_source *body_source;
    /* Extra headers, sent in order. Host, Content-Length, Content-Type, Transfer-Encoding and
     * Connection are the client's own and are refused here (EVT_ERR_ARG). */
    const evt_https_header *headers;
    size_t header_count;
    /* NULL: the body is collected in resp->body. Otherwise the body goes to the sink (for every
     * status) and resp->body stays NULL; resp->body_len still counts it. */
    const evt_https_sink *body_sink;
} evt_https_request;

typedef struct evt_https_response {
    /* HTTP status code of the final response; 0 when no status line was parsed. */
    int status;
    /* Response body, NUL-terminated (the NUL is not counted in body_len). Allocated from the
     * arena and owned by this struct: release with evt_https_response_free. Present for non-2xx
     * answers too (gateways explain errors in the body); NULL on transport errors. */
    char *body;
    size_t body_len;
    /* true once any byte of this request was accepted by the transport: the server may have
     * received it (and, for a settlement, moved money) even though the call failed. */
    bool request_sent;
    /* The request went over a connection kept alive from an earlier request. */
    bool connection_reused;
    /* An idle kept-alive connection was found closed and was replaced before sending. */
    bool reconnected;
    /* Negotiated protocol and suite of the connection used ("TLSv1.3",
     * "TLS1-3-AES-256-GCM-SHA384"); static strings, NULL if no handshake completed. */
    const char *tls_version;
    const char *ciphersuite;
} evt_https_response;

/* Diagnostics of a client, for logs and tests. No personal data. */
typedef struct evt_https_info {
    bool connected;
    uint32_t connections_opened; /* TCP+TLS connections made since the client was created */
    const char *tls_version;     /* of the current or last connection; NULL if none */
    const char *ciphersuite;
    int last_mbedtls_error;     /* last negative mbedTLS return seen (0 = none) */
    uint32_t last_verify_flags; /* MBEDTLS_X509_BADCERT_* of the last failed verification */
    evt_err last_net_error;     /* last error the HAL network driver returned */
    /* Handshakes that completed: full (server certificate verified) or resumed (a TLS 1.3
     * ticket accepted: PSK with ECDHE, no certificate sent, none verified). */
    uint32_t full_handshakes;
    uint32_t resumed_handshakes;
    uint32_t cert_verifications; /* server (leaf) certificates verified */
    uint32_t tickets_received;   /* TLS 1.3 NewSessionTicket messages */
    bool session_held;           /* a ticket is stored for the next connection */
    size_t session_bytes;        /* its serialised size (at most EVT_HTTPS_SESSION_MAX_BYTES) */
} evt_https_info;

/* The same counters summed over every client of the process (benchmarks, which drive the
 * whole application and cannot reach its client). Only ever grow. */
typedef struct evt_https_totals {
    uint32_t connections_opened;
    uint32_t full_handshakes;
    uint32_t resumed_handshakes;
    uint32_t cert_verifications;
} evt_https_totals;

typedef struct evt_https_client evt_https_client;

/*
 * Connects mbedTLS to the board: entropy (mbedtls_hardware_poll -> sys->entropy), wall clock
 * for certificate validity (sys->unix_seconds), monotonic ms (sys->monotonic_ms), then runs
 * psa_crypto_init (TLS 1.3 in mbedTLS 3.6 needs PSA). Call once after evt_arena_init and before
 * anything that uses mbedTLS randomness, X.509 or TLS; sys must outlive the firmware.
 * Errors: EVT_ERR_ARG (missing HAL function), EVT_ERR_NOMEM, EVT_ERR_TLS_CONFIG (PSA failed,
 * e.g. the entropy source does not deliver).
 */
evt_err evt_https_platform_init(const evt_hal_sys *sys);
/* true after a successful evt_https_platform_init (and no deinit since). */
bool evt_https_platform_ready(void);
/*
 * Frees PSA's global state (back into the arena) and unregisters the HAL. Call when the
 * firmware stops, before the arena is initialised again (PSA's state lives in the arena, so it
 * must not survive an evt_arena_init); evt_https_platform_init may follow. No client may be
 * alive. Harmless when not initialised.
 */
void evt_https_platform_deinit(void);

/*
 * Creates a client (arena) and parses the CA. Strings in cfg are copied. net and sys must
 * outlive the client. Does not connect. Errors: EVT_ERR_ARG (missing host/path/CA, port or
 * names invalid, platform not initialised), EVT_ERR_TLS_CONFIG (CA PEM does not parse, or
 * holds a certificate that does not), EVT_ERR_NOMEM.
 */
evt_err evt_https_client_new(const evt_https_config *cfg, const evt_hal_net *net,
                             const evt_hal_sys *sys, evt_https_client **out);
/* Closes the connection (close_notify) and frees everything. NULL is ignored. */
void evt_https_client_free(evt_https_client *client);

/*
 * Sends one POST and reads the whole response. resp is always initialised (even on error)
 * and must be released with evt_https_response_free.
 * Returns EVT_OK only for a complete 2xx response. Errors:
 *   EVT_ERR_ARG               bad request (header names/values, reserved headers)
 *   EVT_ERR_NET_RESOLVE/CONNECT/TIMEOUT/CLOSED/IO   transport (see resp->request_sent)
 *   EVT_ERR_TLS_CERT_UNTRUSTED, EVT_ERR_TLS_HOSTNAME, EVT_ERR_TLS_CERT_EXPIRED,
 *   EVT_ERR_TLS_HANDSHAKE     handshake (request_sent is false)
 *   EVT_ERR_TLS_ALERT         fatal alert or bad record after the handshake
 *   EVT_ERR_HTTP_MALFORMED    status line, headers or chunking not valid HTTP/1.1
 *   EVT_ERR_HTTP_TOO_LARGE    body above max_body or headers above the limits
 *   EVT_ERR_HTTP_STATUS       complete non-2xx response: resp->status and resp->body are set
 *   EVT_ERR_NOMEM             arena exhausted
 */
evt_err evt_https_post(evt_https_client *client, const evt_https_request *req,
                       evt_https_response *resp);

/* Frees the body and clears resp. Safe on a zeroed or already freed response. */
void evt_https_response_free(evt_https_response *resp);

/* Ends the kept-alive connection (close_notify, then close), e.g. at the end of a sale.
 * The next POST connects again. */
void evt_https_disconnect(evt_https_client *client);

/*
 * Makes sure a connection is up before a request needs it, so that the TCP connect and the
 * TLS handshake happen off the critical path (e.g. when an order arrives, while the cashier
 * scans). A kept-alive connection is probed without waiting (as evt_https_post does before a
 * request) and replaced when the server closed it. Offers the stored ticket when there is
 * one. Nothing of any request is sent, so it is always safe to call. Errors: those of the
 * connect and handshake listed for evt_https_post (request_sent is always false).
 */
evt_err evt_https_connect_ahead(evt_https_client *client);

/* Wipes the stored session ticket: the next connection makes a full handshake. */
void evt_https_forget_session(evt_https_client *client);

void evt_https_get_info(const evt_https_client *client, evt_https_info *out);
void evt_https_get_totals(evt_https_totals *out);

#endif /* EVT_HTTPS_H */
