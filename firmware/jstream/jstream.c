/*
 * evt_jstream: a byte-at-a-time state machine for strict JSON (jstream.h). Every byte is
 * looked at once; the only memory is the struct, so the input may be as long as the caller
 * lets it be.
 */
#include "evt/jstream.h"

#include <string.h>

enum {
    S_VALUE, /* a value must come; sub 1: right after '[' (']' allowed) */
    S_KEY,   /* a member name must come; sub 1: right after '{' ('}' allowed) */
    S_COLON,
    S_AFTER, /* after a value inside a container: ',' or the closing bracket */
    S_STRING,
    S_NUMBER,
    S_LITERAL,
    S_DONE, /* the top-level value is complete: only whitespace may follow */
};

enum { STR_PLAIN, STR_ESCAPE, STR_HEX, STR_LOW_BACKSLASH, STR_LOW_U, STR_UTF8 };

enum { NUM_MINUS, NUM_ZERO, NUM_INT, NUM_DOT, NUM_FRAC, NUM_E, NUM_E_SIGN, NUM_EXP };

static const char *const literal_words[] = {"true", "false", "null"};
static const evt_jstream_event literal_events[] = {EVT_JSTREAM_TRUE, EVT_JSTREAM_FALSE,
                                                   EVT_JSTREAM_NULL};

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

void evt_jstream_init(evt_jstream *s, evt_jstream_keys *keys, evt_jstream_fn fn, void *ctx)
{
    memset(s, 0, sizeof *s);
    s->fn = fn;
    s->ctx = ctx;
    s->keys = keys;
    if (keys != NULL) {
        keys->count = 0;
        keys->base[0] = 0;
    }
    s->state = S_VALUE;
}

bool evt_jstream_utf8_step(evt_jstream_utf8 *u, uint8_t c)
{
    if (u->left > 0) {
        if (c < u->lo || c > u->hi) {
            return false;
        }
        u->left--;
        u->lo = 0x80;
        u->hi = 0xBF;
        return true;
    }
    if (c < 0x80) {
        return true;
    }
    /* RFC 3629 table: the first continuation byte's range excludes overlongs (E0, F0),
     * surrogates (ED) and code points above U+10FFFF (F4). */
    u->lo = 0x80;
    u->hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
        u->left = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        u->left = 2;
        if (c == 0xE0) {
            u->lo = 0xA0;
        } else if (c == 0xED) {
            u->hi = 0x9F;
        }
    } else if (c >= 0xF0 && c <= 0xF4) {
        u->left = 3;
        if (c == 0xF0) {
            u->lo = 0x90;
        } else if (c == 0xF4) {
            u->hi = 0x8F;
        }
    } else {
        return false;
    }
    return true;
}

static bool is_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(uint8_t c)
{
    if (is_digit(c)) {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static evt_err emit(evt_jstream *s, evt_jstream_event ev, unsigned depth)
{
    bool has_text = ev == EVT_JSTREAM_KEY || ev == EVT_JSTREAM_STRING || ev == EVT_JSTREAM_NUMBER;
    s->text[has_text ? s->len : 0] = '\0';
    evt_jstream_token tok = {
        .text = s->text,
        .len = has_text ? s->len : 0,
        .full_len = has_text ? s->full_len : 0,
        .depth = depth,
    };
    return s->fn != NULL ? s->fn(s->ctx, ev, &tok) : EVT_OK;
}

static void text_start(evt_jstream *s)
{
    s->len = 0;
    s->full_len = 0;
    s->hash = FNV_OFFSET;
}

static void text_add(evt_jstream *s, uint8_t c)
{
    if (s->len < sizeof s->text - 1) {
        s->text[s->len++] = (char)c;
    }
    s->full_len++;
    s->hash = (s->hash ^ c) * FNV_PRIME;
}

/* A code point from a \u escape, as UTF-8 (the escape rules already excluded 0 and lone
 * surrogates). */
static void text_add_code(evt_jstream *s, uint32_t cp)
{
    if (cp < 0x80) {
        text_add(s, (uint8_t)cp);
    } else if (cp < 0x800) {
        text_add(s, (uint8_t)(0xC0 | (cp >> 6)));
        text_add(s, (uint8_t)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        text_add(s, (uint8_t)(0xE0 | (cp >> 12)));
        text_add(s, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        text_add(s, (uint8_t)(0x80 | (cp & 0x3F)));
    } else {
        text_add(s, (uint8_t)(0xF0 | (cp >> 18)));
        text_add(s, (uint8_t)(0x80 | ((cp >> 12) & 0x3F)));
        text_add(s, (uint8_t)(0x80 | ((cp >> 6) & 0x3F)));
        text_add(s, (uint8_t)(0x80 | (cp & 0x3F)));
    }
}

/* After a complete value: the container goes on, or the document is done. */
static void value_done(evt_jstream *s)
{
    s->state = s->depth == 0 ? S_DONE : S_AFTER;
}

static bool in_object(const evt_jstream *s)
{
    return s->depth > 0 && (s->is_object & (1u << (s->depth - 1))) != 0;
}

static evt_err key_done(evt_jstream *s)
{
    evt_jstream_keys *k = s->keys;
    if (k != NULL) {
        for (uint16_t i = k->base[s->depth]; i < k->count; i++) {
            if (k->hash[i] == s->hash) {
                return EVT_ERR_JSON_MALFORMED; /* the same name twice in one object */
            }
        }
        if (k->count == EVT_JSTREAM_MAX_KEYS) {
            return EVT_ERR_JSON_TOO_LARGE;
        }
        k->hash[k->count++] = s->hash;
    }
    s->state = S_COLON;
    return emit(s, EVT_JSTREAM_KEY, s->depth);
}

static evt_err open_container(evt_jstream *s, bool object)
{
    if (s->depth >= EVT_JSTREAM_MAX_DEPTH) {
        return EVT_ERR_JSON_MALFORMED;
    }
    evt_err err = emit(s, object ? EVT_JSTREAM_OBJECT_BEGIN : EVT_JSTREAM_ARRAY_BEGIN, s->depth);
    s->depth++;
    if (object) {
        s->is_object |= 1u << (s->depth - 1);
        if (s->keys != NULL) {
            s->keys->base[s->depth] = s->keys->count;
        }
        s->state = S_KEY;
    } else {
        s->is_object &= ~(1u << (s->depth - 1));
        s->state = S_VALUE;
    }
    s->sub = 1; /* empty container allowed */
    return err;
}

static evt_err close_container(evt_jstream *s)
{
    bool object = in_object(s);
    if (object && s->keys != NULL) {
        s->keys->count = s->keys->base[s->depth];
    }
    s->depth--;
    value_done(s);
    return emit(s, object ? EVT_JSTREAM_OBJECT_END : EVT_JSTREAM_ARRAY_END, s->depth);
}

static evt_err start_value(evt_jstream *s, uint8_t c)
{
    switch (c) {
    case '{':
        return open_container(s, true);
    case '[':
        return open_container(s, false);
    case '"':
        text_start(s);
        s->is_key = false;
        s->state = S_STRING;
        s->sub = STR_PLAIN;
        return EVT_OK;
    case 't':
    case 'f':
    case 'n':
        s->code = c == 't' ? 0u : c == 'f' ? 1u : 2u;
        s->sub = 1;
        s->state = S_LITERAL;
        return EVT_OK;
    default:
        if (c != '-' && !is_digit(c)) {
            return EVT_ERR_JSON_MALFORMED;
        }
        text_start(s);
        text_add(s, c);
        s->state = S_NUMBER;
        s->sub = c == '-' ? NUM_MINUS : c == '0' ? NUM_ZERO : NUM_INT;
        return EVT_OK;
    }
}

/* One byte inside a string (opening quote already taken). */
static evt_err string_byte(evt_jstream *s, uint8_t c)
{
    switch (s->sub) {
    case STR_PLAIN:
        if (c == '"') {
            if (s->is_key) {
                return key_done(s);
            }
            value_done(s);
            return emit(s, EVT_JSTREAM_STRING, s->depth);
        }
        if (c == '\\') {
            s->sub = STR_ESCAPE;
            return EVT_OK;
        }
        if (c < 0x20) {
            return EVT_ERR_JSON_MALFORMED; /* raw control character */
        }
        if (c >= 0x80) {
            evt_jstream_utf8 u = {0, 0, 0};
            if (!evt_jstream_utf8_step(&u, c)) {
                return EVT_ERR_JSON_MALFORMED;
            }
            s->utf8_left = u.left;
            s->utf8_lo = u.lo;
            s->utf8_hi = u.hi;
            s->sub = STR_UTF8;
        }
        text_add(s, c);
        return EVT_OK;
    case STR_UTF8: {
        evt_jstream_utf8 u = {s->utf8_left, s->utf8_lo, s->utf8_hi};
        if (!evt_jstream_utf8_step(&u, c)) {
            return EVT_ERR_JSON_MALFORMED;
        }
        s->utf8_left = u.left;
        s->utf8_lo = u.lo;
        s->utf8_hi = u.hi;
        if (u.left == 0) {
            s->sub = STR_PLAIN;
        }
        text_add(s, c);
        return EVT_OK;
    }
    case STR_ESCAPE: {
        static const char from[] = "\"\\/bfnrt";
        static const char to[] = "\"\\/\b\f\n\r\t";
        const char *hit = c != '\0' ? strchr(from, c) : NULL;
        if (hit != NULL) {
            text_add(s, (uint8_t)to[hit - from]);
            s->sub = STR_PLAIN;
            return EVT_OK;
        }
        if (c != 'u') {
            return EVT_ERR_JSON_MALFORMED;
        }
        s->code = 0;
        s->hex_left = 4;
        s->sub = STR_HEX;
        return EVT_OK;
    }
    case STR_HEX: {
        int h = hex_value(c);
        if (h < 0) {
            return EVT_ERR_JSON_MALFORMED;
        }
        s->code = (s->code << 4) | (uint32_t)h;
        if (--s->hex_left > 0) {
            return EVT_OK;
        }
        uint32_t code = s->code;
        if (s->high != 0) {
            /* second half of a pair */
            if (code < 0xDC00 || code > 0xDFFF) {
                return EVT_ERR_JSON_MALFORMED;
            }
            text_add_code(s, 0x10000u + ((s->high - 0xD800u) << 10) + (code - 0xDC00u));
            s->high = 0;
        } else if (code == 0 || (code >= 0xDC00 && code <= 0xDFFF)) {
            return EVT_ERR_JSON_MALFORMED; /* \u0000 would cut C strings; lone low half */
        } else if (code >= 0xD800 && code <= 0xDBFF) {
            s->high = code;
            s->sub = STR_LOW_BACKSLASH;
            return EVT_OK;
        } else {
            text_add_code(s, code);
        }
        s->sub = STR_PLAIN;
        return EVT_OK;
    }
    case STR_LOW_BACKSLASH:
        if (c != '\\') {
            return EVT_ERR_JSON_MALFORMED; /* high surrogate without its low half */
        }
        s->sub = STR_LOW_U;
        return EVT_OK;
    default: /* STR_LOW_U */
        if (c != 'u') {
            return EVT_ERR_JSON_MALFORMED;
        }
        s->code = 0;
        s->hex_left = 4;
        s->sub = STR_HEX;
        return EVT_OK;
    }
}

/* True while c continues the number; false when the number ended before c (then *err says
 * whether it ended validly). RFC 8259: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number_byte(evt_jstream *s, uint8_t c, evt_err *err)
{
    *err = EVT_OK;
    uint8_t next = 0xFF;
    switch (s->sub) {
    case NUM_MINUS:
        next = c == '0' ? NUM_ZERO : is_digit(c) ? NUM_INT : 0xFF;
        break;
    case NUM_ZERO:
        next = c == '.' ? NUM_DOT : (c == 'e' || c == 'E') ? NUM_E : 0xFF;
        break;
    case NUM_INT:
        next = is_digit(c) ? NUM_INT : c == '.' ? NUM_DOT : (c == 'e' || c == 'E') ? NUM_E : 0xFF;
        break;
    case NUM_DOT:
        next = is_digit(c) ? NUM_FRAC : 0xFF;
        break;
    case NUM_FRAC:
        next = is_digit(c) ? NUM_FRAC : (c == 'e' || c == 'E') ? NUM_E : 0xFF;
        break;
    case NUM_E:
        next = (c == '+' || c == '-') ? NUM_E_SIGN : is_digit(c) ? NUM_EXP : 0xFF;
        break;
    case NUM_E_SIGN:
    case NUM_EXP:
        next = is_digit(c) ? NUM_EXP : 0xFF;
        break;
    default:
        break;
    }
    if (next != 0xFF) {
        s->sub = next;
        text_add(s, c);
        return true;
    }
    bool complete =
        s->sub == NUM_ZERO || s->sub == NUM_INT || s->sub == NUM_FRAC || s->sub == NUM_EXP;
    if (!complete) {
        *err = EVT_ERR_JSON_MALFORMED;
        return false;
    }
    value_done(s);
    *err = emit(s, EVT_JSTREAM_NUMBER, s->depth);
    return false;
}

static evt_err structural_byte(evt_jstream *s, uint8_t c)
{
    if (is_ws(c)) {
        return EVT_OK;
    }
    switch (s->state) {
    case S_VALUE:
        if (s->sub == 1 && c == ']') {
            return close_container(s);
        }
        return start_value(s, c);
    case S_KEY:
        if (s->sub == 1 && c == '}') {
            return close_container(s);
        }
        if (c != '"') {
            return EVT_ERR_JSON_MALFORMED; /* keys must be strings */
        }
        text_start(s);
        s->is_key = true;
        s->state = S_STRING;
        s->sub = STR_PLAIN;
        return EVT_OK;
    case S_COLON:
        if (c != ':') {
            return EVT_ERR_JSON_MALFORMED;
        }
        s->state = S_VALUE;
        s->sub = 0;
        return EVT_OK;
    case S_AFTER:
        if (c == ',') {
            s->state = in_object(s) ? S_KEY : S_VALUE;
            s->sub = 0;
            return EVT_OK;
        }
        if (c == (in_object(s) ? '}' : ']')) {
            return close_container(s);
        }
        return EVT_ERR_JSON_MALFORMED;
    default:                           /* S_DONE */
        return EVT_ERR_JSON_MALFORMED; /* trailing bytes after the value */
    }
}

static evt_err step(evt_jstream *s, uint8_t c)
{
    switch (s->state) {
    case S_STRING:
        return string_byte(s, c);
    case S_LITERAL: {
        const char *word = literal_words[s->code];
        if (c != (uint8_t)word[s->sub]) {
            return EVT_ERR_JSON_MALFORMED;
        }
        if (word[++s->sub] == '\0') {
            value_done(s);
            return emit(s, literal_events[s->code], s->depth);
        }
        return EVT_OK;
    }
    case S_NUMBER: {
        evt_err err;
        if (number_byte(s, c, &err) || err != EVT_OK) {
            return err;
        }
        return structural_byte(s, c); /* the byte after the number */
    }
    default:
        return structural_byte(s, c);
    }
}

evt_err evt_jstream_feed(evt_jstream *s, const void *data, size_t len)
{
    if (s->err != EVT_OK) {
        return s->err;
    }
    if (data == NULL && len != 0) {
        return s->err = EVT_ERR_ARG;
    }
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        evt_err err = step(s, p[i]);
        if (err != EVT_OK) {
            return s->err = err;
        }
    }
    return EVT_OK;
}

evt_err evt_jstream_finish(evt_jstream *s)
{
    if (s->err != EVT_OK) {
        return s->err;
    }
    if (s->state == S_NUMBER) {
        evt_err err;
        number_byte(s, ' ', &err); /* whitespace ends the number */
        if (err != EVT_OK) {
            return s->err = err;
        }
    }
    if (s->state != S_DONE) {
        return s->err = EVT_ERR_JSON_MALFORMED; /* empty or truncated */
    }
    return EVT_OK;
}
