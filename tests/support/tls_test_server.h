/*
 * tls_test_server: a scriptable loopback HTTPS server for tests of the firmware's HTTPS
 * client, built on GnuTLS so the peer is a different TLS stack from the client's mbedTLS.
 *
 * GnuTLS is loaded at run time (dlopen of libgnutls.so.30): the test support library is not
 * linked against it, and loading it here keeps the build graph unchanged for every other test.
 * Certificates are made with GnuTLS's certtool (package gnutls-bin) into a temporary directory.
 *
 * The server runs in its own thread and serves one TCP connection at a time (the client under
 * test never opens two at once). Each HTTP request takes the next step of a script; when the
 * script is empty it asks the responder (tls_ts_set_responder), if any, or answers 200 with a
 * Content-Length body and keeps the connection alive. The default body echoes what the server
 * saw: {"conn":C,"req":R,"len":L}. Every request is kept (tls_ts_request) for the test to read.
 */
#ifndef TLS_TEST_SERVER_H
#define TLS_TEST_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum tls_ts_action {
    TLS_TS_OK,                /* 200, Content-Length, keep-alive */
    TLS_TS_CHUNKED,           /* 200, body in several chunks with an extension and a trailer */
    TLS_TS_CONNECTION_CLOSE,  /* 200 with "Connection: close", then close_notify and close */
    TLS_TS_IDLE_CLOSE,        /* 200 keep-alive, then close_notify and close (idle timeout) */
    TLS_TS_IDLE_DROP,         /* 200 keep-alive, then TCP close without close_notify */
    TLS_TS_CLOSE_MID_BODY,    /* headers and half of the announced body, then close */
    TLS_TS_CLOSE_NO_RESPONSE, /* request read, connection closed without a byte of answer */
    TLS_TS_STATUS,            /* step.status with a short JSON body */
    TLS_TS_BIG_BODY,          /* 200 with step.size body bytes (Content-Length) */
    TLS_TS_BIG_CHUNKED,       /* 200 with step.size body bytes (chunked, 4 KiB chunks) */
    TLS_TS_RAW,               /* step.raw sent verbatim, then the connection is closed */
    TLS_TS_SILENT,            /* request read, no answer until the client goes away */
    TLS_TS_ALERT,             /* request read, fatal internal_error alert, close */
    TLS_TS_BAD_RECORD,        /* request read, a forged record under TLS (MAC fails) */
    /* step.status (0 = 200) with step.raw as the JSON body (Content-Length); the connection
     * is kept alive, or announced "Connection: close" and closed when step.close is set. */
    TLS_TS_REPLY,
} tls_ts_action;

typedef struct tls_ts_step {
    tls_ts_action action;
    int status;      /* TLS_TS_STATUS, TLS_TS_REPLY */
    size_t size;     /* TLS_TS_BIG_BODY, TLS_TS_BIG_CHUNKED */
    const char *raw; /* TLS_TS_RAW, TLS_TS_REPLY body (copied) */
    bool close;      /* TLS_TS_REPLY */
} tls_ts_step;

typedef struct tls_ts_options {
    const char *cert_file; /* PEM chain of the server */
    const char *key_file;  /* PEM key */
    const char *priority;  /* GnuTLS priority string; NULL = "NORMAL"; invalid: start fails */
    const char *bind_addr; /* "127.0.0.1" (NULL) or "::1" */
    bool no_tls;           /* accept TCP and never speak (handshake timeout tests) */
    /* TLS 1.3 session tickets with this lifetime (NewSessionTicket after each handshake);
     * 0 = none issued. */
    unsigned ticket_lifetime_s;
} tls_ts_options;

typedef struct tls_ts_stats {
    unsigned connections_accepted;
    unsigned connections_closed;
    unsigned handshakes_ok;
    unsigned handshakes_failed;
    unsigned handshakes_resumed; /* of handshakes_ok: a ticket was accepted */
    unsigned requests;
    char last_version[32];   /* "TLS1.3", of the last successful handshake */
    char last_suite[64];     /* GnuTLS name, "TLS_ECDHE_ECDSA_AES_128_GCM_SHA256" */
    char last_group[32];     /* key exchange group, "X25519", "SECP256R1" */
    char last_sign[48];      /* server's signature algorithm, "ECDSA-SECP256R1-SHA256" */
    char last_request[8192]; /* head + body of the last request, NUL-terminated */
    char last_handshake_error[128];
} tls_ts_stats;

typedef struct tls_test_server tls_test_server;

/* Paths made by tls_ts_make_certs, all in one temporary directory. */
typedef struct tls_ts_certs {
    char dir[256];
    char ca_pem[320];     /* test CA */
    char server_pem[320]; /* DNS:localhost, IP 127.0.0.1 and ::1, signed by the CA */
    char server_key[320];
    char rogue_ca_pem[320];     /* an unrelated CA */
    char rogue_server_pem[320]; /* DNS:localhost signed by the rogue CA (same key file) */
    char expired_pem[320];      /* DNS:localhost by the CA, valid 2020-01-01..2021-01-01 */
    char server_rsa_pem[320];   /* like server_pem, RSA-2048 key (signing and encipherment) */
    char server_rsa_key[320];
    char server_p384_pem[320]; /* like server_pem, ECDSA key on secp384r1 */
    char server_p384_key[320];
    char server_p521_pem[320]; /* like server_pem, ECDSA key on secp521r1 */
    char server_p521_key[320];
} tls_ts_certs;

/* NULL if GnuTLS and certtool are usable on this machine, else what is missing and which
 * Debian package brings it (for the test's failure message, see skip_policy.h). */
const char *tls_ts_unavailable_reason(void);
/* tls_ts_unavailable_reason() == NULL. */
bool tls_ts_available(void);
/* Creates the certificates; 0 on success. */
int tls_ts_make_certs(tls_ts_certs *out);
/* Removes the directory made by tls_ts_make_certs. */
void tls_ts_remove_certs(const tls_ts_certs *certs);
/* Reads a whole file into a malloc'ed NUL-terminated string (the caller frees); NULL on error. */
char *tls_ts_read_file(const char *path);

/*
 * The test peer of a cmocka programme: the certificates, made once in its group setup, and the
 * text of the CAs the client under test trusts. When GnuTLS, certtool or the certificates are
 * missing, have_peer is false and problem says what and which Debian package brings it.
 */
typedef struct tls_ts_peer {
    tls_ts_certs certs;
    char *ca_pem;       /* the text of certs.ca_pem */
    char *rogue_ca_pem; /* the text of certs.rogue_ca_pem */
    bool have_peer;
    const char *problem;
} tls_ts_peer;

/* For a group setup: makes the certificates and reads both CAs. Returns 0 with the peer there;
 * otherwise what skip_policy_group_cannot_run(program, problem) returns: -1 (every test of the
 * programme fails) unless EVT_ALLOW_SKIP=1, when each test must call skip_policy_cannot_run
 * (tls_ts_peer_require) itself. */
int tls_ts_peer_setup(tls_ts_peer *peer, const char *program);
/* For the group teardown: removes the certificates and frees the CA texts. */
void tls_ts_peer_teardown(tls_ts_peer *peer);
/* In a test: ends it through skip_policy_cannot_run (failed, or skipped with EVT_ALLOW_SKIP=1)
 * unless the peer is there. */
void tls_ts_peer_require(const tls_ts_peer *peer);

/* Starts listening on an ephemeral port and serving in a thread; NULL on error. */
tls_test_server *tls_ts_start(const tls_ts_options *opt);
/* Stops the thread, closes everything. NULL is ignored. */
void tls_ts_stop(tls_test_server *srv);
uint16_t tls_ts_port(const tls_test_server *srv);
/* Appends a step to the script. */
void tls_ts_push(tls_test_server *srv, tls_ts_step step);
void tls_ts_get_stats(tls_test_server *srv, tls_ts_stats *out);
/* Replaces the ticket key (a gateway restarted or rotated it): tickets issued so far are
 * refused, new ones work. */
void tls_ts_rotate_ticket_key(tls_test_server *srv);
/* Waits until at least n connections were closed by the server side; false on timeout. */
bool tls_ts_wait_closed(tls_test_server *srv, unsigned n, unsigned timeout_ms);

/* Requests read so far (every one, in order, from 0; at most TLS_TS_REQUESTS_KEPT are kept). */
#define TLS_TS_REQUESTS_KEPT 1024u
size_t tls_ts_request_count(tls_test_server *srv);
/* Copies request i (head and body) into buf, NUL-terminated, cut to cap - 1 bytes; false when
 * there is no such request. */
bool tls_ts_request(tls_test_server *srv, size_t i, char *buf, size_t cap);

/* Called in the server's thread for every request, after it is kept and before it is answered:
 * a test changes the world at the exact moment a request arrives (the client is then waiting
 * for the answer). NULL removes it. */
typedef void (*tls_ts_request_hook)(void *arg, size_t index, const char *request, size_t len);
void tls_ts_set_request_hook(tls_test_server *srv, tls_ts_request_hook hook, void *arg);

/* Called in the server's thread when the script is empty: fills *step from the request (raw is
 * copied before the responder is called again) and returns true, or false for the default
 * answer. NULL removes it. */
typedef bool (*tls_ts_responder)(void *arg, const char *request, size_t len, tls_ts_step *step);
void tls_ts_set_responder(tls_test_server *srv, tls_ts_responder responder, void *arg);

#endif /* TLS_TEST_SERVER_H */
