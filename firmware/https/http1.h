/*
 * HTTP/1.1 response framing of evt_https, with no I/O of its own: the bytes come from a source
 * callback — the TLS connection in https.c, a buffer in tests/fuzz/fuzz_http1.c — so the parser
 * runs and is fuzzed without a socket. Internal to the https module (evt_http1_*, not a public
 * header); the rules are in docs/https-client.md ("HTTP parsing").
 */
#ifndef EVT_HTTPS_HTTP1_H
#define EVT_HTTPS_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"
#include "evt/https.h"

/* Bytes asked from the source at a time. */
#define EVT_HTTP1_RX_BYTES 2048u

typedef struct evt_http1_source {
    void *ctx;
    /* Puts 1..cap bytes into buf, sets *got and returns EVT_OK. At the end of the stream
     * returns EVT_ERR_NET_CLOSED and sets *clean_end when that end is authenticated (TLS
     * close_notify): only then is a body read until the close complete. Any other error ends
     * the response with that error. */
    evt_err (*read)(void *ctx, uint8_t *buf, size_t cap, size_t *got, bool *clean_end);
} evt_http1_source;

/* Per connection: received bytes not yet parsed, and the parser's line buffer. */
typedef struct evt_http1_reader {
    evt_http1_source source; /* of the response being read */
    uint8_t rx[EVT_HTTP1_RX_BYTES];
    size_t rx_pos, rx_len; /* rx[rx_pos .. rx_len) not parsed yet */
    bool eof;              /* the source ended the stream */
    bool clean_eof;        /* ... with an authenticated end */
    char line[EVT_HTTPS_MAX_LINE + 1];
} evt_http1_reader;

typedef struct evt_http1_response {
    int status;      /* of the final response, set once its head parsed (0 before) */
    char *body;      /* arena, NUL-terminated (not counted in body_len); NULL unless EVT_OK,
                      * and NULL when a sink took the body */
    size_t body_len; /* <= the max_body given (also counted when a sink took it) */
    bool keep_alive; /* the connection may carry the next request (EVT_OK only) */
} evt_http1_response;

/* A new connection: forgets buffered bytes and any end of stream. */
void evt_http1_reset(evt_http1_reader *r);

/* True when no byte is buffered and the stream has not ended: what a kept-alive connection
 * must look like between responses. */
bool evt_http1_idle(const evt_http1_reader *r);

/*
 * Reads one whole response from src: interim 1xx answers skipped, head, body by
 * Content-Length, chunked or until the end of the stream, within the limits of
 * docs/https-client.md. With a sink, body bytes go to it as they arrive and nothing of the
 * body is kept; without, the body is collected in out->body (released with evt_free).
 * Errors: EVT_ERR_HTTP_MALFORMED, EVT_ERR_HTTP_TOO_LARGE (head limits or body above
 * max_body), EVT_ERR_NOMEM (arena), the source's and the sink's errors (EVT_ERR_NET_CLOSED
 * when the stream ends before the response does).
 */
evt_err evt_http1_read_response(evt_http1_reader *r, const evt_http1_source *src, size_t max_body,
                                const evt_https_sink *sink, evt_http1_response *out);

/* Character rules of RFC 9110, shared with the request side. */
bool evt_http1_is_token(const char *s);           /* one or more tchar */
bool evt_http1_is_field_value(const char *s);     /* visible ASCII, obs-text, SP, HTAB */
bool evt_http1_ieq(const char *a, const char *b); /* ASCII case-insensitive equality */

#endif /* EVT_HTTPS_HTTP1_H */
