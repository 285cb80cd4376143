/*
 * evt_jstream: strict JSON read while it arrives, in fixed memory.
 *
 * A push parser (SAX style): the caller feeds the text in pieces of any size (the HTTP body
 * as TLS records arrive, 1 byte at a time in the fuzz target) and receives one event per
 * token. Nothing of the document is kept: a 300 KiB answer and a 300-byte one use the same
 * sizeof(evt_jstream) bytes. It is the one JSON validator of the firmware: evt_json_parse
 * (the tree for the ECR link and the tests) validates through it as well, so the rules of
 * docs/money-and-json.md are written once:
 *   RFC 8259 structure and number grammar; strings with valid escapes, strict UTF-8 (no
 *   overlongs, surrogates or code points above U+10FFFF), no raw control characters, no
 *   \u0000, surrogate escapes only in pairs; depth <= EVT_JSON_MAX_DEPTH; nothing but
 *   whitespace after the value. Refusal: EVT_ERR_JSON_MALFORMED.
 * Optionally (the platform's answers) duplicate keys in one object are refused as well, by a
 * 64-bit hash of each key of the open objects (the tree parser compares names instead):
 * EVT_ERR_JSON_MALFORMED; more than EVT_JSTREAM_MAX_KEYS members in the open objects
 * together is beyond any platform answer: EVT_ERR_JSON_TOO_LARGE.
 *
 * Token text: a string's decoded bytes and a number's original text are handed over with the
 * event, the first EVT_JSTREAM_TEXT_BYTES - 1 of them (NUL-terminated); full_len says how
 * long the token really was, so a caller can refuse or cut a long value exactly as if it had
 * all of it. Numbers are never converted: money stays exact (evt_money_parse on the text).
 *
 * Why not a Debian library: jsmn (libjsmn-dev) needs the whole text in memory, which is what
 * this replaces; yajl (libyajl-dev) streams but buffers each token whole in a growing heap
 * buffer (a long string makes it allocate as much) and does not check what the rules above
 * need (overlong UTF-8, lone surrogates, \u0000): a second validator would be needed on top.
 * See docs/money-and-json.md ("Streaming").
 */
#ifndef EVT_JSTREAM_H
#define EVT_JSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"

/* Deepest nesting accepted (objects + arrays). Platform envelopes need 4; 32 as the tree
 * parser has always allowed (json.h repeats it as EVT_JSON_MAX_DEPTH). */
#define EVT_JSTREAM_MAX_DEPTH 32
/* Token text kept per event, incl. the NUL: room for the longest field the terminal keeps
 * (err_msg, 255 bytes, plus the byte that shows where a UTF-8 cut must fall). */
#define EVT_JSTREAM_TEXT_BYTES 320
/* Members of all open objects together whose keys are remembered for the duplicate check:
 * a 2102 setlinfo has about 50 in the national specification, the envelope 8, an entry of a
 * list 30; 128 leaves room and costs 1 KiB. */
#define EVT_JSTREAM_MAX_KEYS 128

typedef enum evt_jstream_event {
    EVT_JSTREAM_OBJECT_BEGIN,
    EVT_JSTREAM_OBJECT_END,
    EVT_JSTREAM_ARRAY_BEGIN,
    EVT_JSTREAM_ARRAY_END,
    EVT_JSTREAM_KEY, /* a member name; the member's value is the next event */
    EVT_JSTREAM_STRING,
    EVT_JSTREAM_NUMBER,
    EVT_JSTREAM_TRUE,
    EVT_JSTREAM_FALSE,
    EVT_JSTREAM_NULL,
} evt_jstream_event;

typedef struct evt_jstream_token {
    const char *text; /* KEY, STRING, NUMBER: NUL-terminated; "" for the others */
    size_t len;       /* bytes in text (< EVT_JSTREAM_TEXT_BYTES) */
    size_t full_len;  /* bytes of the whole token; > len when it was cut */
    unsigned depth;   /* containers open around this token (0 for the top-level value) */
} evt_jstream_token;

/* Receives each event in document order; an error stops the parse and is returned by
 * evt_jstream_feed / evt_jstream_finish. */
typedef evt_err (*evt_jstream_fn)(void *ctx, evt_jstream_event ev, const evt_jstream_token *tok);

/* The duplicate-key check's memory, separate so that a parser without it stays small enough
 * for the stack (about 450 bytes). */
typedef struct evt_jstream_keys {
    uint16_t count;
    uint16_t base[EVT_JSTREAM_MAX_DEPTH + 1]; /* first remembered key of each open object */
    uint64_t hash[EVT_JSTREAM_MAX_KEYS];
} evt_jstream_keys;

typedef struct evt_jstream {
    evt_jstream_fn fn;
    void *ctx;
    evt_jstream_keys *keys; /* NULL: duplicate keys are the caller's business */
    evt_err err;            /* first error; every later feed returns it */
    uint8_t state, sub;
    uint8_t depth;
    uint32_t is_object;  /* bit d: container at depth d+1 is an object */
    uint32_t code, high; /* \u escape being read, pending high surrogate */
    uint8_t hex_left, utf8_left, utf8_lo, utf8_hi;
    bool is_key;
    size_t len, full_len;
    uint64_t hash; /* of the key being read */
    char text[EVT_JSTREAM_TEXT_BYTES];
} evt_jstream;

/* keys: memory for refusing duplicate member names (see above), or NULL. */
void evt_jstream_init(evt_jstream *s, evt_jstream_keys *keys, evt_jstream_fn fn, void *ctx);
/* Parses len more bytes. EVT_OK, EVT_ERR_JSON_MALFORMED, EVT_ERR_JSON_TOO_LARGE or the
 * callback's error; after an error every call returns it again. */
evt_err evt_jstream_feed(evt_jstream *s, const void *data, size_t len);
/* The text ended: EVT_OK only if it was exactly one complete value (and whitespace). */
evt_err evt_jstream_finish(evt_jstream *s);

/* Incremental strict UTF-8 (RFC 3629) check, shared with evt_json_text_valid. */
typedef struct evt_jstream_utf8 {
    uint8_t left, lo, hi;
} evt_jstream_utf8;
/* Takes one byte: false when the byte cannot continue valid UTF-8. A sequence is complete
 * when u->left is 0 again. */
bool evt_jstream_utf8_step(evt_jstream_utf8 *u, uint8_t c);

#endif /* EVT_JSTREAM_H */
