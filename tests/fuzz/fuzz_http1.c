/*
 * Fuzz target: HTTP/1.1 response framing (firmware/https/http1.h, the parser evt_https runs on
 * the decrypted bytes).
 *
 * Input: [flags][max_body][seed: 4 bytes][the byte stream from the server]. flags picks how the
 * stream ends (TLS close_notify, a bare close, or a timeout); max_body the body cap.
 *
 * The same stream is read three times: as large reads as the parser asks for, cut at random
 * points (seeded), and one byte per read. However the stream is cut, the result must be the
 * same: error, status, body bytes, where the response ended in the stream, and whether the
 * connection may be kept. Also: an accepted response has a final status, a body within the
 * cap and NUL-terminated, no body for 204/304, and a connection with bytes left over is never
 * kept; the arena is empty after the body is freed.
 */
#include <string.h>

#include "evt/arena.h"
#include "fuzz_support.h"
#include "http1.h"

typedef enum cut_mode {
    CUT_NONE,   /* as much as the parser asks for */
    CUT_RANDOM, /* 1..cap bytes, seeded */
    CUT_BYTES,  /* one byte per read */
} cut_mode;

typedef struct stream {
    const uint8_t *data;
    size_t len;
    size_t pos;
    cut_mode mode;
    fuzz_rng rng;
    evt_err end;    /* what the source says at the end */
    bool clean_end; /* with EVT_ERR_NET_CLOSED: close_notify */
} stream;

static evt_err stream_read(void *ctx, uint8_t *buf, size_t cap, size_t *got, bool *clean_end)
{
    stream *s = ctx;
    if (s->pos == s->len) {
        *clean_end = s->clean_end;
        return s->end;
    }
    size_t n = s->len - s->pos;
    size_t want = s->mode == CUT_BYTES    ? 1
                  : s->mode == CUT_RANDOM ? 1 + fuzz_rng_below(&s->rng, (uint32_t)cap)
                                          : cap;
    if (n > want) {
        n = want;
    }
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    *got = n;
    return EVT_OK;
}

typedef struct outcome {
    evt_err err;
    evt_http1_response resp;
    size_t consumed; /* stream bytes the parser used: delivered minus still buffered */
    size_t buffered;
} outcome;

static evt_http1_reader reader;

/* A body sink that keeps what it is handed, to compare with a collected body. */
typedef struct sunk {
    uint8_t bytes[EVT_HTTPS_DEFAULT_MAX_BODY];
    size_t len;
    bool empty_piece;
} sunk;

static evt_err sink_write(void *ctx, const uint8_t *data, size_t len)
{
    sunk *k = ctx;
    k->empty_piece |= len == 0;
    FUZZ_CHECK(len <= sizeof k->bytes - k->len, "sink handed more than max_body");
    memcpy(k->bytes + k->len, data, len);
    k->len += len;
    return EVT_OK;
}

static void read_once(const uint8_t *data, size_t len, cut_mode mode, uint32_t seed, uint8_t flags,
                      size_t max_body, const evt_https_sink *sink, outcome *out)
{
    stream s = {.data = data, .len = len, .mode = mode};
    fuzz_rng_seed(&s.rng, seed);
    switch (flags % 3) {
    case 0:
        s.end = EVT_ERR_NET_CLOSED;
        s.clean_end = true;
        break;
    case 1:
        s.end = EVT_ERR_NET_CLOSED;
        break;
    default:
        s.end = EVT_ERR_NET_TIMEOUT;
        break;
    }
    evt_http1_reset(&reader);
    const evt_http1_source source = {.ctx = &s, .read = stream_read};
    out->err = evt_http1_read_response(&reader, &source, max_body, sink, &out->resp);
    out->buffered = reader.rx_len - reader.rx_pos;
    out->consumed = s.pos - out->buffered;
}

static void check_outcome(const outcome *o, size_t max_body)
{
    const evt_err allowed[] = {EVT_OK,        EVT_ERR_HTTP_MALFORMED, EVT_ERR_HTTP_TOO_LARGE,
                               EVT_ERR_NOMEM, EVT_ERR_NET_CLOSED,     EVT_ERR_NET_TIMEOUT};
    bool known = false;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        known |= o->err == allowed[i];
    }
    FUZZ_CHECK(known, "result %s", evt_err_name(o->err));
    if (o->err != EVT_OK) {
        FUZZ_CHECK(o->resp.body == NULL && !o->resp.keep_alive, "failed read left a body");
        return;
    }
    FUZZ_CHECK(o->resp.status >= 200 && o->resp.status <= 999, "status %d", o->resp.status);
    FUZZ_CHECK(o->resp.body != NULL && o->resp.body_len <= max_body &&
                   o->resp.body[o->resp.body_len] == '\0',
               "body of %zu bytes (cap %zu)", o->resp.body_len, max_body);
    FUZZ_CHECK((o->resp.status != 204 && o->resp.status != 304) || o->resp.body_len == 0,
               "body on a %d", o->resp.status);
    FUZZ_CHECK(o->buffered == 0 || !o->resp.keep_alive, "kept a connection with bytes left over");
}

static void check_same(const outcome *a, const outcome *b, const char *how, size_t len)
{
    FUZZ_CHECK(a->err == b->err, "%s: %s, whole: %s", how, evt_err_name(b->err),
               evt_err_name(a->err));
    FUZZ_CHECK(a->resp.status == b->resp.status, "%s: status %d, whole: %d", how, b->resp.status,
               a->resp.status);
    if (a->err != EVT_OK) {
        return;
    }
    FUZZ_CHECK(a->resp.body_len == b->resp.body_len &&
                   memcmp(a->resp.body, b->resp.body, a->resp.body_len) == 0,
               "%s: another body", how);
    FUZZ_CHECK(a->consumed == b->consumed, "%s: response ends at %zu, whole: %zu", how, b->consumed,
               a->consumed);
    if (a->consumed == len && b->consumed == len) {
        FUZZ_CHECK(a->resp.keep_alive == b->resp.keep_alive, "%s: keep-alive differs", how);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_setup(FUZZ_ARENA_BYTES);
    fuzz_input in = {.data = data, .len = len};
    uint8_t flags = fuzz_take_u8(&in);
    uint8_t cap_pick = fuzz_take_u8(&in);
    uint32_t seed = fuzz_take_u32(&in);
    size_t n = 0;
    const uint8_t *body = fuzz_rest(&in, &n);
    /* 0: the client's default cap; else small caps, so the limit is reached often. */
    size_t max_body = cap_pick == 0 ? EVT_HTTPS_DEFAULT_MAX_BODY : (size_t)cap_pick * 16u;

    static outcome whole, random_cuts, bytes, sunk_cuts;
    read_once(body, n, CUT_NONE, seed, flags, max_body, NULL, &whole);
    read_once(body, n, CUT_RANDOM, seed, flags, max_body, NULL, &random_cuts);
    read_once(body, n, CUT_BYTES, seed, flags, max_body, NULL, &bytes);
    /* The body handed to a sink as it arrives (how the platform reads answers) is the same
     * bytes, with the same framing verdict, and nothing of it is kept. */
    static sunk k;
    k.len = 0;
    k.empty_piece = false;
    const evt_https_sink sink = {.ctx = &k, .write = sink_write};
    read_once(body, n, CUT_RANDOM, seed, flags, max_body, &sink, &sunk_cuts);
    FUZZ_CHECK(sunk_cuts.resp.body == NULL, "a sink read kept a body");
    FUZZ_CHECK(!k.empty_piece, "sink handed an empty piece");
    FUZZ_CHECK(sunk_cuts.err == whole.err && sunk_cuts.resp.status == whole.resp.status,
               "sink: %s, whole: %s", evt_err_name(sunk_cuts.err), evt_err_name(whole.err));
    if (whole.err == EVT_OK) {
        FUZZ_CHECK(sunk_cuts.resp.body_len == whole.resp.body_len && k.len == whole.resp.body_len &&
                       memcmp(k.bytes, whole.resp.body, k.len) == 0,
                   "sink: another body");
        FUZZ_CHECK(sunk_cuts.consumed == whole.consumed, "sink: another end of response");
        FUZZ_CHECK(whole.consumed != n || sunk_cuts.resp.keep_alive == whole.resp.keep_alive,
                   "sink: keep-alive differs");
    }
    check_outcome(&whole, max_body);
    check_outcome(&random_cuts, max_body);
    check_outcome(&bytes, max_body);
    check_same(&whole, &random_cuts, "random cuts", n);
    check_same(&whole, &bytes, "one byte per read", n);
    evt_free(whole.resp.body);
    evt_free(random_cuts.resp.body);
    evt_free(bytes.resp.body);
    fuzz_arena_check_empty("http1");
    return 0;
}
