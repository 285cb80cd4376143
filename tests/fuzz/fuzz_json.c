/*
 * Fuzz target: the JSON layer (evt_json, include/evt/json.h).
 *
 * Differential: acceptance is compared with json-c (Debian libjson-c, strict mode, UTF-8
 * validation on). Where json-c accepts and the firmware refuses, the text must show one of the
 * firmware's documented refusals (docs/money-and-json.md) or one of json-c's known leniencies
 * (docs/fuzzing.md); anything else, or the firmware accepting what json-c refuses, is a finding.
 * When both accept, the trees must agree: same shape, same member names, same string bytes,
 * numbers where json-c has numbers, and the same integer values.
 *
 * On every accepted text:
 * - no node is a cJSON_Number; every number node's text follows RFC 8259's number grammar;
 * - printing, parsing the print and printing again gives the same bytes;
 * - every getter, on every member of (the first) objects, returns what its contract in json.h
 *   says, checked against references written here (integer and amount grammars, UTF-8 cuts);
 * - the arena is empty after evt_json_free.
 * Also: evt_json_text_valid and evt_mask_utf8_valid agree with an independent UTF-8 check.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "evt/json.h"
#include "evt/mask.h"
#include "fuzz_support.h"

/* ---- why json-c may accept what the firmware refuses ------------------------------------ */

typedef struct text_features {
    bool raw_control;    /* firmware: raw control characters in strings are refused */
    bool nul_escape;     /* firmware: \u0000 is refused */
    bool lone_surrogate; /* firmware: unpaired UTF-16 surrogate escapes are refused */
    bool bad_utf8;       /* firmware: strict RFC 3629 (json-c lets overlongs etc. through) */
    bool too_deep;       /* firmware: nesting deeper than EVT_JSON_MAX_DEPTH */
    bool lax_number;     /* json-c: "1.", "-01", "1.e3" are not RFC 8259 numbers */
    bool non_finite;     /* json-c: NaN, Infinity, -Infinity in strict mode */
    size_t colons;       /* members in the text (one ':' outside strings each) */
} text_features;

static int hex4(const uint8_t *t, size_t n, size_t i)
{
    if (i + 4 > n) {
        return -1;
    }
    int v = 0;
    for (size_t k = 0; k < 4; k++) {
        uint8_t c = t[i + k];
        int h = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (h < 0) {
            return -1;
        }
        v = v * 16 + h;
    }
    return v;
}

static bool rfc_number(const uint8_t *t, size_t n)
{
    size_t i = 0;
    if (i < n && t[i] == '-') {
        i++;
    }
    if (i >= n || t[i] < '0' || t[i] > '9') {
        return false;
    }
    if (t[i] == '0') {
        i++;
    } else {
        while (i < n && t[i] >= '0' && t[i] <= '9') {
            i++;
        }
    }
    if (i < n && t[i] == '.') {
        size_t start = ++i;
        while (i < n && t[i] >= '0' && t[i] <= '9') {
            i++;
        }
        if (i == start) {
            return false;
        }
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < n && (t[i] == '+' || t[i] == '-')) {
            i++;
        }
        size_t start = i;
        while (i < n && t[i] >= '0' && t[i] <= '9') {
            i++;
        }
        if (i == start) {
            return false;
        }
    }
    return i == n;
}

/* A lexical pass over a text json-c accepted (so its strings and tokens are well delimited). */
static void scan_features(const uint8_t *t, size_t n, text_features *f)
{
    memset(f, 0, sizeof *f);
    f->bad_utf8 = !fuzz_utf8_valid(t, n);
    size_t depth = 0, max_depth = 0;
    size_t i = 0;
    while (i < n) {
        uint8_t c = t[i];
        if (c == '"') {
            i++;
            while (i < n && t[i] != '"') {
                if (t[i] == '\\' && i + 1 < n && t[i + 1] == 'u') {
                    int code = hex4(t, n, i + 2);
                    i += 6;
                    if (code == 0) {
                        f->nul_escape = true;
                    } else if (code >= 0xD800 && code <= 0xDBFF) {
                        int low =
                            i + 1 < n && t[i] == '\\' && t[i + 1] == 'u' ? hex4(t, n, i + 2) : -1;
                        if (low >= 0xDC00 && low <= 0xDFFF) {
                            i += 6;
                        } else {
                            f->lone_surrogate = true;
                        }
                    } else if (code >= 0xDC00 && code <= 0xDFFF) {
                        f->lone_surrogate = true;
                    }
                    continue;
                }
                if (t[i] == '\\') {
                    i += 2;
                    continue;
                }
                if (t[i] < 0x20) {
                    f->raw_control = true;
                }
                i++;
            }
            i++;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            while (i < n && strchr("0123456789+-.eE", t[i]) != NULL && t[i] != '\0') {
                i++;
            }
            f->lax_number |= !rfc_number(t + start, i - start);
            continue;
        }
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            size_t start = i;
            while (i < n && ((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z'))) {
                i++;
            }
            size_t len = i - start;
            bool literal = (len == 4 && memcmp(t + start, "true", 4) == 0) ||
                           (len == 5 && memcmp(t + start, "false", 5) == 0) ||
                           (len == 4 && memcmp(t + start, "null", 4) == 0);
            f->non_finite |= !literal;
            continue;
        }
        if (c == '[' || c == '{') {
            if (++depth > max_depth) {
                max_depth = depth;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        } else if (c == ':') {
            f->colons++;
        }
        i++;
    }
    f->too_deep = max_depth > EVT_JSON_MAX_DEPTH;
}

static size_t jsonc_members(struct json_object *j)
{
    size_t n = 0;
    if (json_object_is_type(j, json_type_object)) {
        json_object_object_foreach(j, key, val)
        {
            (void)key;
            n += 1 + jsonc_members(val);
        }
    } else if (json_object_is_type(j, json_type_array)) {
        size_t len = json_object_array_length(j);
        for (size_t i = 0; i < len; i++) {
            n += jsonc_members(json_object_array_get_idx(j, i));
        }
    }
    return n;
}

/* ---- both accepted: the trees must agree ------------------------------------------------ */

static bool int64_text(const char *s, int64_t *out)
{
    char *end = NULL;
    if (strchr(s, '.') != NULL || strchr(s, 'e') != NULL || strchr(s, 'E') != NULL) {
        return false;
    }
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

/* json-c 0.16 decodes a surrogate pair right, then tests the code point with 16-bit masks
 * (IS_LOW_SURROGATE(uc) is (uc & 0xFC00) == 0xDC00, json_tokener.c): a supplementary code
 * point whose low 16 bits fall in D800-DFFF (U+1DE00 from \ud837\ude00) comes out as U+FFFD or
 * is held as a "high surrogate". For a tree with such a string or key json-c is no reference
 * (its keys can even collide); check_nodes still checks the firmware's strings are UTF-8. */
static bool json_c_misdecodes(const char *s, size_t n)
{
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i + 3 < n; i++) {
        if (u[i] >= 0xF0 && u[i] <= 0xF4) {
            uint32_t cp = ((uint32_t)(u[i] & 0x07) << 18) | ((uint32_t)(u[i + 1] & 0x3F) << 12) |
                          ((uint32_t)(u[i + 2] & 0x3F) << 6) | (uint32_t)(u[i + 3] & 0x3F);
            if ((cp & 0xF800) == 0xD800) {
                return true;
            }
            i += 3;
        }
    }
    return false;
}

/* True when a string or key of the tree is one json-c misdecodes. */
static bool tree_json_c_misdecodes(const cJSON *e)
{
    for (; e != NULL; e = e->next) {
        if ((e->string != NULL && json_c_misdecodes(e->string, strlen(e->string))) ||
            (cJSON_IsString(e) && json_c_misdecodes(e->valuestring, strlen(e->valuestring))) ||
            tree_json_c_misdecodes(e->child)) { /* depth bounded by the parser */
            return true;
        }
    }
    return false;
}

static void compare_trees(const cJSON *e, struct json_object *j, unsigned depth)
{
    FUZZ_CHECK(depth <= EVT_JSON_MAX_DEPTH + 1, "tree deeper than the parser allows");
    if (cJSON_IsObject(e)) {
        FUZZ_CHECK(json_object_is_type(j, json_type_object), "object vs json-c type %d",
                   json_object_get_type(j));
        size_t count = 0;
        for (const cJSON *c = e->child; c != NULL; c = c->next, count++) {
            struct json_object *jc = NULL;
            FUZZ_CHECK(json_object_object_get_ex(j, c->string, &jc), "member missing in json-c");
            compare_trees(c, jc, depth + 1);
        }
        FUZZ_CHECK(count == (size_t)json_object_object_length(j), "member counts %zu vs %d", count,
                   json_object_object_length(j));
    } else if (cJSON_IsArray(e)) {
        FUZZ_CHECK(json_object_is_type(j, json_type_array), "array vs json-c type %d",
                   json_object_get_type(j));
        size_t count = 0;
        for (const cJSON *c = e->child; c != NULL; c = c->next, count++) {
            compare_trees(c, json_object_array_get_idx(j, count), depth + 1);
        }
        FUZZ_CHECK(count == json_object_array_length(j), "array lengths");
    } else if (cJSON_IsString(e)) {
        FUZZ_CHECK(json_object_is_type(j, json_type_string), "string vs json-c type %d",
                   json_object_get_type(j));
        size_t n = strlen(e->valuestring);
        FUZZ_CHECK(n == (size_t)json_object_get_string_len(j) &&
                       memcmp(e->valuestring, json_object_get_string(j), n) == 0,
                   "string bytes differ from json-c's");
    } else if (evt_json_is_number(e)) {
        FUZZ_CHECK(json_object_is_type(j, json_type_int) ||
                       json_object_is_type(j, json_type_double),
                   "number vs json-c type %d", json_object_get_type(j));
        int64_t v;
        if (json_object_is_type(j, json_type_int) && int64_text(e->valuestring, &v)) {
            FUZZ_CHECK(v == json_object_get_int64(j), "integer %s vs json-c %lld", e->valuestring,
                       (long long)json_object_get_int64(j));
        }
    } else if (cJSON_IsBool(e)) {
        FUZZ_CHECK(json_object_is_type(j, json_type_boolean) &&
                       (bool)json_object_get_boolean(j) == (bool)cJSON_IsTrue(e),
                   "boolean differs");
    } else {
        FUZZ_CHECK(cJSON_IsNull(e) && j == NULL, "null vs json-c type %d", json_object_get_type(j));
    }
}

/* ---- invariants of an accepted tree ------------------------------------------------------ */

static void check_nodes(const cJSON *e)
{
    FUZZ_CHECK(!cJSON_IsNumber(e), "a cJSON_Number in a parsed tree");
    FUZZ_CHECK(e->string == NULL || fuzz_utf8_valid((const uint8_t *)e->string, strlen(e->string)),
               "a decoded key is not UTF-8");
    FUZZ_CHECK(!cJSON_IsString(e) ||
                   fuzz_utf8_valid((const uint8_t *)e->valuestring, strlen(e->valuestring)),
               "a decoded string is not UTF-8");
    if (evt_json_is_number(e)) {
        const char *text = evt_json_number_text(e);
        FUZZ_CHECK(rfc_number((const uint8_t *)text, strlen(text)), "number text [%s]", text);
    } else {
        FUZZ_CHECK(evt_json_number_text(e) == NULL, "number text on a non-number");
    }
    for (const cJSON *c = e->child; c != NULL; c = c->next) {
        check_nodes(c);
    }
}

static void check_print_round_trip(const cJSON *root, size_t len)
{
    size_t cap = 2 * len + 64;
    char *a = malloc(cap), *b = malloc(cap);
    FUZZ_CHECK(a != NULL && b != NULL, "host out of memory");
    size_t alen = 0, blen = 0;
    FUZZ_CHECK(evt_json_print(root, a, cap, &alen) == EVT_OK, "print of a parsed tree failed");
    cJSON *again = NULL;
    evt_err err = evt_json_parse(a, alen, &again);
    FUZZ_CHECK(err == EVT_OK, "the print of a parsed tree does not parse: %s", evt_err_name(err));
    FUZZ_CHECK(evt_json_print(again, b, cap, &blen) == EVT_OK, "second print failed");
    FUZZ_CHECK(alen == blen && memcmp(a, b, alen) == 0, "print is not stable:\n%s\n%s", a, b);
    evt_json_free(again);
    free(a);
    free(b);
}

/* ---- getters against their contracts ----------------------------------------------------- */

static bool int_text(const char *s, int64_t *out)
{
    size_t i = s[0] == '-' ? 1 : 0;
    if (s[i] < '0' || s[i] > '9' || (s[i] == '0' && s[i + 1] != '\0')) {
        return false;
    }
    for (size_t k = i; s[k] != '\0'; k++) {
        if (s[k] < '0' || s[k] > '9') {
            return false;
        }
    }
    return int64_text(s, out);
}

static void check_diag(const evt_json_diag *diag, const char *key)
{
    size_t n = strlen(diag->field);
    FUZZ_CHECK(n < EVT_JSON_FIELD_BYTES && strncmp(diag->field, key, n) == 0,
               "diag \"%s\" does not name the key", diag->field);
}

static size_t utf8_char_len(uint8_t lead)
{
    return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

static void check_member(const cJSON *obj, const cJSON *item, fuzz_rng *rng)
{
    const char *key = item->string;
    bool required = fuzz_rng_next(rng) & 1;
    bool absent = cJSON_IsNull(item);
    const char *text = cJSON_IsString(item) || evt_json_is_number(item) ? item->valuestring : NULL;
    evt_json_diag diag;

    /* containers */
    const cJSON *got = NULL;
    evt_err err = evt_json_get_object(obj, key, required, &got, &diag);
    evt_err want = absent                 ? (required ? EVT_ERR_PROTO_FIELD_MISSING : EVT_OK)
                   : cJSON_IsObject(item) ? EVT_OK
                                          : EVT_ERR_PROTO_FIELD_INVALID;
    FUZZ_CHECK(err == want && got == (err == EVT_OK && !absent ? item : NULL),
               "get_object: %s, want %s", evt_err_name(err), evt_err_name(want));
    err = evt_json_get_array(obj, key, required, &got, &diag);
    want = absent                ? (required ? EVT_ERR_PROTO_FIELD_MISSING : EVT_OK)
           : cJSON_IsArray(item) ? EVT_OK
                                 : EVT_ERR_PROTO_FIELD_INVALID;
    FUZZ_CHECK(err == want && got == (err == EVT_OK && !absent ? item : NULL),
               "get_array: %s, want %s", evt_err_name(err), evt_err_name(want));
    if (err != EVT_OK) {
        check_diag(&diag, key);
    }

    /* string: never cut */
    size_t cap = 1 + fuzz_rng_below(rng, 40);
    char *out = malloc(cap);
    FUZZ_CHECK(out != NULL, "host out of memory");
    err = evt_json_get_string(obj, key, required, out, cap, &diag);
    if (absent || (text != NULL && text[0] == '\0')) {
        want = required ? EVT_ERR_PROTO_FIELD_MISSING : EVT_OK;
    } else if (text == NULL || strlen(text) > cap - 1) {
        want = EVT_ERR_PROTO_FIELD_INVALID;
    } else {
        want = EVT_OK;
    }
    FUZZ_CHECK(err == want, "get_string: %s, want %s", evt_err_name(err), evt_err_name(want));
    FUZZ_CHECK(strcmp(out, err == EVT_OK && text != NULL && !absent ? text : "") == 0,
               "get_string copied the wrong text");
    if (err != EVT_OK) {
        check_diag(&diag, key);
    }

    /* text: cut on a character boundary, as long as fits */
    evt_json_get_text(obj, key, out, cap);
    const char *src = text != NULL ? text : "";
    size_t n = strlen(out), full = strlen(src);
    FUZZ_CHECK(n <= cap - 1 && strncmp(out, src, n) == 0, "get_text is not a prefix");
    FUZZ_CHECK(fuzz_utf8_valid((const uint8_t *)out, n), "get_text cut inside a character");
    FUZZ_CHECK(n == full || n + utf8_char_len((uint8_t)src[n]) > cap - 1,
               "get_text cut more than needed (%zu of %zu bytes into %zu)", n, full, cap);
    free(out);

    /* integer */
    static const int64_t ranges[][2] = {
        {INT64_MIN, INT64_MAX}, {INT32_MIN, INT32_MAX}, {1, 99999}, {0, 0}};
    const int64_t *range = ranges[fuzz_rng_below(rng, 4)];
    int64_t value = 7, ref = 0;
    bool present = true;
    err = evt_json_get_int(obj, key, required, range[0], range[1], &value, &present, &diag);
    bool has_value = false;
    if (absent || (text != NULL && text[0] == '\0')) {
        want = required ? EVT_ERR_PROTO_FIELD_MISSING : EVT_OK;
    } else if (text != NULL && int_text(text, &ref) && ref >= range[0] && ref <= range[1]) {
        want = EVT_OK;
        has_value = true;
    } else {
        want = EVT_ERR_PROTO_FIELD_INVALID;
    }
    FUZZ_CHECK(err == want, "get_int: %s, want %s", evt_err_name(err), evt_err_name(want));
    FUZZ_CHECK(value == (has_value ? ref : 0) && present == has_value, "get_int value");

    /* amount */
    evt_fen fen = 7;
    err = evt_json_get_money(obj, key, required, &fen, &present, &diag);
    int64_t ref_fen = 0;
    bool ref_present = false;
    if (absent) {
        want = required ? EVT_ERR_PROTO_FIELD_MISSING : EVT_OK;
    } else if (text == NULL) {
        want = EVT_ERR_PROTO_FIELD_INVALID;
    } else if (!fuzz_ref_money((const uint8_t *)text, strlen(text), &ref_fen, &ref_present)) {
        want = EVT_ERR_MONEY_INVALID;
    } else {
        want = !ref_present && required ? EVT_ERR_PROTO_FIELD_MISSING : EVT_OK;
    }
    FUZZ_CHECK(err == want, "get_money: %s, want %s", evt_err_name(err), evt_err_name(want));
    if (err == EVT_OK) {
        FUZZ_CHECK(fen == ref_fen && present == ref_present, "get_money value %lld, want %lld",
                   (long long)fen, (long long)ref_fen);
    }
}

static void check_getters(const cJSON *node, fuzz_rng *rng, unsigned *objects)
{
    if (*objects >= 32) {
        return;
    }
    if (cJSON_IsObject(node)) {
        (*objects)++;
        unsigned members = 0;
        for (const cJSON *c = node->child; c != NULL && members < 16; c = c->next, members++) {
            check_member(node, c, rng);
        }
        /* A key that is not there is absent for every getter. */
        evt_json_diag diag;
        char out[8];
        evt_err err = evt_json_get_string(node, "\x7f", true, out, sizeof out, &diag);
        FUZZ_CHECK(err == EVT_ERR_PROTO_FIELD_MISSING || cJSON_GetObjectItem(node, "\x7f") != NULL,
                   "absent key: %s", evt_err_name(err));
    }
    for (const cJSON *c = node->child; c != NULL; c = c->next) {
        check_getters(c, rng, objects);
    }
}

/* ---- the UTF-8 checks of the firmware against an independent one ------------------------ */

static void check_utf8_validators(const uint8_t *data, size_t len)
{
    bool valid = fuzz_utf8_valid(data, len);
    bool controls = false, nul = memchr(data, 0, len) != NULL;
    for (size_t i = 0; i < len; i++) {
        controls |= data[i] < 0x20 && data[i] != '\t' && data[i] != '\n' && data[i] != '\r';
    }
    FUZZ_CHECK(evt_json_text_valid((const char *)data, len) == (valid && !controls),
               "evt_json_text_valid disagrees (utf8 %d, controls %d)", valid, controls);
    FUZZ_CHECK(evt_mask_utf8_valid((const char *)data, len, NULL) == (valid && !nul),
               "evt_mask_utf8_valid disagrees (utf8 %d, nul %d)", valid, nul);
}

/* ---- the target -------------------------------------------------------------------------- */

static struct json_object *jsonc_parse(const uint8_t *data, size_t len, bool *accepted)
{
    /* A fresh tokener per text: json-c 0.16's json_tokener_reset keeps a pending high
     * surrogate from the previous text (found by this target; docs/fuzzing.md). Deep enough to
     * never refuse for depth, which is judged on the text (scan_features). */
    struct json_tokener *tok = json_tokener_new_ex((int)len + 2);
    FUZZ_CHECK(tok != NULL, "json-c tokener");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* json-c reads a NUL as the end of the text: it gets a terminated copy, and a text with
     * a NUL inside (never valid JSON) counts as refused. */
    char *copy = fuzz_strndup(data, len);
    struct json_object *obj = json_tokener_parse_ex(tok, copy, (int)len + 1);
    free(copy);
    *accepted = json_tokener_get_error(tok) == json_tokener_success &&
                json_tokener_get_parse_end(tok) == len && memchr(data, 0, len) == NULL;
    json_tokener_free(tok);
    return obj;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > 65536) {
        return -1;
    }
    fuzz_setup(FUZZ_ARENA_BYTES);
    check_utf8_validators(data, len);

    cJSON *root = NULL;
    evt_err err = evt_json_parse((const char *)data, len, &root);
    FUZZ_CHECK(err == EVT_OK || err == EVT_ERR_JSON_MALFORMED || err == EVT_ERR_NOMEM,
               "parse returned %s", evt_err_name(err));
    FUZZ_CHECK((err == EVT_OK) == (root != NULL), "tree and result disagree");

    bool jsonc_ok = false;
    struct json_object *jroot = jsonc_parse(data, len, &jsonc_ok);
    if (err == EVT_OK) {
        FUZZ_CHECK(jsonc_ok, "the firmware accepts a text json-c refuses");
        if (!tree_json_c_misdecodes(root)) {
            compare_trees(root, jroot, 0);
        }
        check_nodes(root);
        check_print_round_trip(root, len);
        fuzz_rng rng;
        fuzz_rng_seed(&rng, (uint32_t)len * 2654435761u);
        unsigned objects = 0;
        check_getters(root, &rng, &objects);
    } else if (err == EVT_ERR_JSON_MALFORMED && jsonc_ok) {
        text_features f;
        scan_features(data, len, &f);
        bool duplicate_keys = f.colons != jsonc_members(jroot);
        FUZZ_CHECK(f.raw_control || f.nul_escape || f.lone_surrogate || f.bad_utf8 || f.too_deep ||
                       f.lax_number || f.non_finite || duplicate_keys,
                   "json-c accepts, the firmware refuses, and no documented difference explains "
                   "it");
    }
    json_object_put(jroot);
    evt_json_free(root);
    fuzz_arena_check_empty("json");
    return 0;
}
