/*
 * evt_json: exact JSON on top of cJSON.
 *
 * cJSON turns every number into a double, which cannot hold 0.1 or a 17-digit id exactly.
 * evt_json_parse therefore validates the text itself (strict RFC 8259, UTF-8, bounded depth)
 * and hands cJSON a copy in which every number token is wrapped as a marked string; after
 * parsing, those nodes are turned into cJSON_Raw nodes whose valuestring is the number's
 * original text, character for character. Nothing in a parsed tree is ever a cJSON_Number.
 * See docs/money-and-json.md for the reasoning and the trade-offs.
 *
 * Getters report which field was wrong through evt_json_diag (the field's key, or a dotted
 * path when the caller prefixes it), so the log can name it without logging its value.
 *
 * Builders never use cJSON_CreateNumber: money and integers are written as raw JSON number
 * text produced by integer code (evt_money_format), so what goes on the wire is exact.
 *
 * All allocation goes through cJSON's hooks, which evt_arena_init routes into the arena.
 */
#ifndef EVT_JSON_H
#define EVT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "evt/err.h"
#include "evt/jstream.h"
#include "evt/money.h"

/* Deepest nesting accepted (objects + arrays). Platform envelopes need 4; the bound keeps
 * cJSON's recursion, and so the stack on a Cortex-M, small. */
#define EVT_JSON_MAX_DEPTH 32

/* Room for a dotted field path such as "output.setlinfo.acct_mulaid_pay". */
#define EVT_JSON_FIELD_BYTES 64

/* Names the field a getter or a cross-check rejected. Never holds a value, only a name. */
typedef struct evt_json_diag {
    char field[EVT_JSON_FIELD_BYTES];
} evt_json_diag;

/* Sets diag->field to name (truncated to fit). diag may be NULL. */
void evt_json_diag_set(evt_json_diag *diag, const char *name);
/* Turns "acct_pay" into "<parent>.acct_pay" (truncated to fit; an empty parent changes
 * nothing, an empty field gives "<parent>"). diag may be NULL. Used when
 * an error bubbles up out of a nested object, so the log names the full path. */
void evt_json_diag_prefix(evt_json_diag *diag, const char *parent);

/*
 * Parses len bytes of JSON text exactly. On success *out is a tree to release with
 * evt_json_free; number tokens are cJSON_Raw nodes holding their original text.
 * Errors: EVT_ERR_JSON_MALFORMED for anything that is not one complete, strict JSON value:
 * empty or truncated text, trailing bytes, bad number grammar, invalid UTF-8, raw control
 * characters in strings, unpaired UTF-16 surrogates, "\u0000" (would cut C strings), nesting
 * deeper than EVT_JSON_MAX_DEPTH, non-string keys, duplicate keys in one object (an amount
 * given twice is ambiguous). EVT_ERR_NOMEM when the arena cannot hold the tree.
 * EVT_ERR_ARG for NULL pointers.
 */
evt_err evt_json_parse(const char *text, size_t len, cJSON **out);
void evt_json_free(cJSON *root);

/* True for a number node of a tree from evt_json_parse (or one built by evt_json_add_*). */
bool evt_json_is_number(const cJSON *item);
/* The exact text of a number node, or NULL if item is not one. */
const char *evt_json_number_text(const cJSON *item);

/*
 * Getters. obj must be an object; key is looked up case-sensitively. On any error diag
 * names key. A member whose value is null counts as absent. required = true means absent
 * is EVT_ERR_PROTO_FIELD_MISSING; otherwise absent gives EVT_OK with the documented default.
 */

/* Child object / array. Absent optional: *out = NULL. Other type: FIELD_INVALID. */
evt_err evt_json_get_object(const cJSON *obj, const char *key, bool required, const cJSON **out,
                            evt_json_diag *diag);
evt_err evt_json_get_array(const cJSON *obj, const char *key, bool required, const cJSON **out,
                           evt_json_diag *diag);

/*
 * String field copied into out (cap bytes including the NUL). Accepts a JSON string or a
 * JSON number (its exact text: platforms send codes either way). A required field that is
 * "" is FIELD_MISSING; an optional absent field yields "". Longer than cap - 1 bytes:
 * FIELD_INVALID (identifiers are never cut). Object/array/bool: FIELD_INVALID.
 */
evt_err evt_json_get_string(const cJSON *obj, const char *key, bool required, char *out, size_t cap,
                            evt_json_diag *diag);

/* Free text (messages): optional, copied and, if too long, cut at a UTF-8 character
 * boundary rather than failing. Absent or not a string/number: "" and EVT_OK. */
void evt_json_get_text(const cJSON *obj, const char *key, char *out, size_t cap);

/*
 * Integer field as JSON number (0, -1) or string ("0", "-1"): optional '-', then "0" or a
 * digit 1-9 followed by digits; no fraction, exponent, sign '+', spaces or leading zeros.
 * Outside [min, max]: FIELD_INVALID. "" counts as absent. present may be NULL;
 * absent optional gives *out = 0, *present = false.
 */
evt_err evt_json_get_int(const cJSON *obj, const char *key, bool required, int64_t min, int64_t max,
                         int64_t *out, bool *present, evt_json_diag *diag);

/*
 * Amount field in any of the platform's forms: JSON number (12.30, 0, 0.0000), string
 * ("12.30") or "" (not applicable). Parsed by evt_money_parse, never through double.
 * Text that is not an exact 16,2 amount: EVT_ERR_MONEY_INVALID. For a required field, absent,
 * null or "" is FIELD_MISSING. Optional and absent/"": *out = 0, *present = false.
 * Bool/object/array: FIELD_INVALID. present may be NULL.
 */
evt_err evt_json_get_money(const cJSON *obj, const char *key, bool required, evt_fen *out,
                           bool *present, evt_json_diag *diag);

/*
 * Values as the streaming parser keeps them (evt_jstream, evt_proto's answers): the same
 * rules as the getters above, without a tree. The getters above are these applied to a
 * tree's member.
 */
typedef enum evt_json_kind {
    EVT_JSON_ABSENT = 0, /* no such member */
    EVT_JSON_NULL,
    EVT_JSON_FALSE,
    EVT_JSON_TRUE,
    EVT_JSON_NUMBER,
    EVT_JSON_STRING,
    EVT_JSON_OBJECT,
    EVT_JSON_ARRAY,
} evt_json_kind;

/* A member's value. For STRING (decoded bytes) and NUMBER (original text): text holds the
 * first len bytes, NUL-terminated; full_len is the whole token's length (> len when only a
 * prefix was kept; keep at least as many bytes as the largest cap a getter is given). */
typedef struct evt_json_value {
    evt_json_kind kind;
    const char *text;
    size_t len;
    size_t full_len;
} evt_json_value;

/* A value event of evt_jstream as a value: a string's or a number's text (pointing into the
 * parser, valid during the callback), the kind of a literal or of a container that begins.
 * KEY and END events are no value: EVT_JSON_ABSENT. */
evt_json_value evt_json_token_value(evt_jstream_event ev, const evt_jstream_token *tok);

/* v NULL, ABSENT or NULL: absent. Otherwise as evt_json_get_string / _text / _int / _money
 * with key naming the field in diag; a value of which only a prefix was kept and that had to
 * be whole is refused as too long (string, int: FIELD_INVALID; money: MONEY_INVALID). */
evt_err evt_json_value_string(const evt_json_value *v, const char *key, bool required, char *out,
                              size_t cap, evt_json_diag *diag);
void evt_json_value_text(const evt_json_value *v, char *out, size_t cap);
evt_err evt_json_value_int(const evt_json_value *v, const char *key, bool required, int64_t min,
                           int64_t max, int64_t *out, bool *present, evt_json_diag *diag);
evt_err evt_json_value_money(const evt_json_value *v, const char *key, bool required, evt_fen *out,
                             bool *present, evt_json_diag *diag);

/*
 * Builders. Every one returns EVT_ERR_NOMEM when the arena is full (the partial tree stays
 * owned by the root: release it with evt_json_free), EVT_ERR_ARG for NULL pointers.
 */
evt_err evt_json_new_object(cJSON **out);
evt_err evt_json_add_object(cJSON *obj, const char *key, cJSON **child);
evt_err evt_json_add_array(cJSON *obj, const char *key, cJSON **child);
/* Appends an empty object to an array. */
evt_err evt_json_append_object(cJSON *array, cJSON **child);
/* value NULL is written as "". */
evt_err evt_json_add_string(cJSON *obj, const char *key, const char *value);
/* Raw JSON number "12.30" (always two decimals). |fen| > EVT_FEN_MAX: EVT_ERR_ARG. */
evt_err evt_json_add_money(cJSON *obj, const char *key, evt_fen fen);
/* Raw JSON integer number. */
evt_err evt_json_add_int(cJSON *obj, const char *key, int64_t value);
/* true / false. */
evt_err evt_json_add_bool(cJSON *obj, const char *key, bool value);

/* Compact serialisation into buf (cap bytes incl. the NUL); *len excludes the NUL.
 * EVT_ERR_OVERFLOW if it does not fit. Does not allocate. */
evt_err evt_json_print(const cJSON *root, char *buf, size_t cap, size_t *len);

/*
 * Writer: compact JSON written out while it is produced, byte for byte what evt_json_print
 * prints for the same tree (cJSON's member order and escapes), in fixed memory — for request
 * bodies whose size grows with an order (docs/money-and-json.md, "Writing requests").
 *
 * Three modes, chosen at init:
 *   sink NULL, buf given:  the whole text into buf (cap bytes incl. a NUL; EVT_ERR_OVERFLOW);
 *   sink NULL, buf NULL:   counting only (the length, and every error, without the text);
 *   sink given:            buf (cap >= 1) is a staging buffer passed to sink each time it fills
 *                          and at evt_json_writer_finish.
 * Errors are sticky: the first one (EVT_ERR_ARG for a key where none belongs or the reverse,
 * nesting deeper than EVT_JSON_WRITER_DEPTH, money out of range; EVT_ERR_OVERFLOW; the sink's
 * error) stops all output and is returned by every later call and by finish.
 */
#define EVT_JSON_WRITER_DEPTH 6

typedef evt_err (*evt_json_sink_fn)(void *ctx, const uint8_t *data, size_t len);

typedef struct evt_json_writer {
    evt_json_sink_fn sink;
    void *sink_ctx;
    uint8_t *buf;
    size_t cap;
    size_t fill;  /* bytes in buf not yet given to the sink (all of them in buffer mode) */
    size_t total; /* bytes written so far */
    evt_err err;
    uint8_t depth;
    bool in_array[EVT_JSON_WRITER_DEPTH + 1]; /* [depth]: members are values, not key: value */
    bool has_member[EVT_JSON_WRITER_DEPTH + 1];
} evt_json_writer;

void evt_json_writer_init(evt_json_writer *w, uint8_t *buf, size_t cap, evt_json_sink_fn sink,
                          void *sink_ctx);
/* key: the member's name inside an object; NULL for the root and for array elements. */
evt_err evt_json_write_object(evt_json_writer *w, const char *key);
evt_err evt_json_write_array(evt_json_writer *w, const char *key);
/* Closes the innermost object or array. */
evt_err evt_json_write_end(evt_json_writer *w);
/* value NULL is written as "" (as evt_json_add_string). */
evt_err evt_json_write_string(evt_json_writer *w, const char *key, const char *value);
/* As evt_json_add_money / evt_json_add_int. */
evt_err evt_json_write_money(evt_json_writer *w, const char *key, evt_fen fen);
evt_err evt_json_write_int(evt_json_writer *w, const char *key, int64_t value);
/* true / false (as evt_json_add_bool). */
evt_err evt_json_write_bool(evt_json_writer *w, const char *key, bool value);
/* Flushes what is staged; every object and array must be closed (else EVT_ERR_ARG). *len (may
 * be NULL): bytes written in all. Buffer mode: the text is NUL-terminated. */
evt_err evt_json_writer_finish(evt_json_writer *w, size_t *len);

/* Length of the longest prefix of s (len bytes) that is at most max bytes and does not end
 * inside a UTF-8 multi-byte sequence. */
size_t evt_json_utf8_prefix(const char *s, size_t len, size_t max);

/* True when s (len bytes) is well-formed UTF-8 (RFC 3629) without NUL or other C0 control
 * bytes except tab, LF and CR: text that may be put into a JSON string as it is. */
bool evt_json_text_valid(const char *s, size_t len);

#endif /* EVT_JSON_H */
