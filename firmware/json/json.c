/*
 * evt_json: strict validation pass + number-preserving rewrite + cJSON; typed getters and
 * exact builders. See json.h and docs/money-and-json.md.
 */
#include "evt/json.h"

#include <limits.h>
#include <string.h>

#include "evt/arena.h"
#include "evt/jstream.h"

/*
 * Marker that prefixes a number token's text inside the rewritten copy. 0xFF never occurs in
 * UTF-8, the validation pass rejects it in raw string bytes, and cJSON's \u decoding only
 * produces UTF-8: so no genuine string can start with it and a marked string can only be a
 * former number.
 */
#define NUMBER_MARK 0xFFu

static bool is_digit_u8(uint8_t c)
{
    return c >= '0' && c <= '9';
}

/* ---- validation pass: evt_jstream ------------------------------------------------------ */

/* Counts number tokens: each grows the rewritten copy by 3 bytes. */
static evt_err count_numbers(void *ctx, evt_jstream_event ev, const evt_jstream_token *tok)
{
    (void)tok;
    if (ev == EVT_JSTREAM_NUMBER) {
        (*(size_t *)ctx)++;
    }
    return EVT_OK;
}

/* ---- rewrite + cJSON -------------------------------------------------------------------- */

/* Copies validated text into out, wrapping every number token as "<MARK>digits". The input
 * is known to be valid, so a plain lexer suffices: outside strings, '-' or a digit can only
 * start a number. Returns the bytes written. */
static size_t rewrite_numbers(const uint8_t *in, size_t len, uint8_t *out)
{
    size_t i = 0, w = 0;
    while (i < len) {
        uint8_t c = in[i];
        if (c == '"') {
            out[w++] = in[i++];
            while (in[i] != '"') {
                if (in[i] == '\\') {
                    out[w++] = in[i++];
                }
                out[w++] = in[i++];
            }
            out[w++] = in[i++];
        } else if (c == '-' || is_digit_u8(c)) {
            out[w++] = '"';
            out[w++] = NUMBER_MARK;
            while (i < len && (is_digit_u8(in[i]) || in[i] == '-' || in[i] == '+' || in[i] == '.' ||
                               in[i] == 'e' || in[i] == 'E')) {
                out[w++] = in[i++];
            }
            out[w++] = '"';
        } else {
            out[w++] = in[i++];
        }
    }
    return w;
}

static bool is_marked(const cJSON *item)
{
    return cJSON_IsString(item) && item->valuestring != NULL &&
           (uint8_t)item->valuestring[0] == NUMBER_MARK;
}

/* Turns marked strings back into number nodes (cJSON_Raw with the original text) and rejects
 * duplicate keys. Depth is bounded by the validation pass. */
static evt_err restore_numbers(cJSON *node)
{
    if (is_marked(node)) {
        size_t n = strlen(node->valuestring);
        memmove(node->valuestring, node->valuestring + 1, n); /* n includes the NUL shift */
        node->type = cJSON_Raw;
        return EVT_OK;
    }
    if (!cJSON_IsObject(node) && !cJSON_IsArray(node)) {
        return EVT_OK;
    }
    for (cJSON *child = node->child; child != NULL; child = child->next) {
        if (cJSON_IsObject(node)) {
            for (const cJSON *prev = node->child; prev != child; prev = prev->next) {
                if (strcmp(prev->string, child->string) == 0) {
                    return EVT_ERR_JSON_MALFORMED;
                }
            }
        }
        evt_err err = restore_numbers(child);
        if (err != EVT_OK) {
            return err;
        }
    }
    return EVT_OK;
}

evt_err evt_json_parse(const char *text, size_t len, cJSON **out)
{
    if (out == NULL || (text == NULL && len != 0)) {
        return EVT_ERR_ARG;
    }
    *out = NULL;
    /* The streaming validator (jstream.h) holds the rules; duplicate keys are compared by
     * name below, on the tree, so it needs no key memory here. */
    evt_jstream v;
    size_t numbers = 0;
    evt_jstream_init(&v, NULL, count_numbers, &numbers);
    if (evt_jstream_feed(&v, text, len) != EVT_OK || evt_jstream_finish(&v) != EVT_OK) {
        return EVT_ERR_JSON_MALFORMED;
    }
    if (numbers > (SIZE_MAX - len - 1) / 3) {
        return EVT_ERR_NOMEM;
    }

    size_t copy_len = len + 3 * numbers;
    uint8_t *copy = evt_malloc(copy_len + 1);
    if (copy == NULL) {
        return EVT_ERR_NOMEM;
    }
    size_t written = rewrite_numbers((const uint8_t *)text, len, copy);
    copy[written] = '\0';

    /* The text is already known to be valid JSON, so a NULL here can only mean that cJSON
     * could not allocate a node. The NUL is inside the length so cJSON can see the end. */
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)copy, written + 1, NULL, true);
    evt_free(copy);
    if (root == NULL) {
        return EVT_ERR_NOMEM;
    }
    evt_err err = restore_numbers(root);
    if (err != EVT_OK) {
        cJSON_Delete(root);
        return err;
    }
    *out = root;
    return EVT_OK;
}

void evt_json_free(cJSON *root)
{
    cJSON_Delete(root);
}

bool evt_json_is_number(const cJSON *item)
{
    return item != NULL && cJSON_IsRaw(item) && item->valuestring != NULL;
}

const char *evt_json_number_text(const cJSON *item)
{
    return evt_json_is_number(item) ? item->valuestring : NULL;
}

/* ---- diagnostics ----------------------------------------------------------------------- */

static void copy_truncated(char *out, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n > cap - 1) {
        n = evt_json_utf8_prefix(src, n, cap - 1);
    }
    memcpy(out, src, n);
    out[n] = '\0';
}

void evt_json_diag_set(evt_json_diag *diag, const char *name)
{
    if (diag != NULL) {
        copy_truncated(diag->field, sizeof diag->field, name != NULL ? name : "");
    }
}

void evt_json_diag_prefix(evt_json_diag *diag, const char *parent)
{
    if (diag == NULL || parent == NULL || parent[0] == '\0') {
        return;
    }
    char joined[EVT_JSON_FIELD_BYTES];
    size_t plen = strlen(parent);
    size_t flen = strlen(diag->field);
    size_t w = 0;
    for (size_t i = 0; i < plen && w < sizeof joined - 1; i++) {
        joined[w++] = parent[i];
    }
    if (flen > 0 && w < sizeof joined - 1) {
        joined[w++] = '.';
    }
    for (size_t i = 0; i < flen && w < sizeof joined - 1; i++) {
        joined[w++] = diag->field[i];
    }
    joined[w] = '\0';
    memcpy(diag->field, joined, w + 1);
}

/* ---- getters --------------------------------------------------------------------------- */

static evt_err fail(evt_json_diag *diag, const char *key, evt_err err)
{
    evt_json_diag_set(diag, key);
    return err;
}

/* Looks key up; null counts as absent. *item is NULL when absent. */
static evt_err lookup(const cJSON *obj, const char *key, bool required, const cJSON **item,
                      evt_json_diag *diag)
{
    *item = NULL;
    if (obj == NULL || key == NULL) {
        return fail(diag, key, EVT_ERR_ARG);
    }
    if (!cJSON_IsObject(obj)) {
        return fail(diag, key, EVT_ERR_PROTO_FIELD_INVALID);
    }
    const cJSON *found = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (found == NULL || cJSON_IsNull(found)) {
        return required ? fail(diag, key, EVT_ERR_PROTO_FIELD_MISSING) : EVT_OK;
    }
    *item = found;
    return EVT_OK;
}

static evt_err get_container(const cJSON *obj, const char *key, bool required, bool want_object,
                             const cJSON **out, evt_json_diag *diag)
{
    if (out == NULL) {
        return fail(diag, key, EVT_ERR_ARG);
    }
    const cJSON *item;
    evt_err err = lookup(obj, key, required, &item, diag);
    *out = NULL;
    if (err != EVT_OK || item == NULL) {
        return err;
    }
    if (want_object ? !cJSON_IsObject(item) : !cJSON_IsArray(item)) {
        return fail(diag, key, EVT_ERR_PROTO_FIELD_INVALID);
    }
    *out = item;
    return EVT_OK;
}

evt_err evt_json_get_object(const cJSON *obj, const char *key, bool required, const cJSON **out,
                            evt_json_diag *diag)
{
    return get_container(obj, key, required, true, out, diag);
}

evt_err evt_json_get_array(const cJSON *obj, const char *key, bool required, const cJSON **out,
                           evt_json_diag *diag)
{
    return get_container(obj, key, required, false, out, diag);
}

/* A member of a tree as the value getters see it. */
static evt_json_value node_value(const cJSON *item)
{
    evt_json_value v = {EVT_JSON_ABSENT, "", 0, 0};
    if (item == NULL) {
        return v;
    }
    if (cJSON_IsNull(item)) {
        v.kind = EVT_JSON_NULL;
    } else if (cJSON_IsString(item) || evt_json_is_number(item)) {
        v.kind = cJSON_IsString(item) ? EVT_JSON_STRING : EVT_JSON_NUMBER;
        v.text = item->valuestring;
        v.len = v.full_len = strlen(item->valuestring);
    } else if (cJSON_IsTrue(item)) {
        v.kind = EVT_JSON_TRUE;
    } else if (cJSON_IsFalse(item)) {
        v.kind = EVT_JSON_FALSE;
    } else if (cJSON_IsArray(item)) {
        v.kind = EVT_JSON_ARRAY;
    } else {
        v.kind = EVT_JSON_OBJECT;
    }
    return v;
}

evt_json_value evt_json_token_value(evt_jstream_event ev, const evt_jstream_token *tok)
{
    evt_json_value v = {EVT_JSON_ABSENT, "", 0, 0};
    switch (ev) {
    case EVT_JSTREAM_OBJECT_BEGIN:
        v.kind = EVT_JSON_OBJECT;
        break;
    case EVT_JSTREAM_ARRAY_BEGIN:
        v.kind = EVT_JSON_ARRAY;
        break;
    case EVT_JSTREAM_STRING:
    case EVT_JSTREAM_NUMBER:
        v.kind = ev == EVT_JSTREAM_STRING ? EVT_JSON_STRING : EVT_JSON_NUMBER;
        v.text = tok->text;
        v.len = tok->len;
        v.full_len = tok->full_len;
        break;
    case EVT_JSTREAM_TRUE:
        v.kind = EVT_JSON_TRUE;
        break;
    case EVT_JSTREAM_FALSE:
        v.kind = EVT_JSON_FALSE;
        break;
    case EVT_JSTREAM_NULL:
        v.kind = EVT_JSON_NULL;
        break;
    default: /* KEY, OBJECT_END, ARRAY_END */
        break;
    }
    return v;
}

static bool value_absent(const evt_json_value *v)
{
    return v == NULL || v->kind == EVT_JSON_ABSENT || v->kind == EVT_JSON_NULL;
}

static bool value_scalar(const evt_json_value *v)
{
    return v->kind == EVT_JSON_STRING || v->kind == EVT_JSON_NUMBER;
}

/* Whole text of a scalar: false when only a cut prefix was kept. */
static bool value_whole(const evt_json_value *v)
{
    return v->len == v->full_len;
}

evt_err evt_json_value_string(const evt_json_value *v, const char *key, bool required, char *out,
                              size_t cap, evt_json_diag *diag)
{
    if (out == NULL || cap == 0) {
        return fail(diag, key, EVT_ERR_ARG);
    }
    out[0] = '\0';
    if (value_absent(v)) {
        return required ? fail(diag, key, EVT_ERR_PROTO_FIELD_MISSING) : EVT_OK;
    }
    if (!value_scalar(v)) {
        return fail(diag, key, EVT_ERR_PROTO_FIELD_INVALID);
    }
    if (v->full_len == 0) {
        return required ? fail(diag, key, EVT_ERR_PROTO_FIELD_MISSING) : EVT_OK;
    }
    if (v->full_len > cap - 1 || !value_whole(v)) {
        return fail(diag, key, EVT_ERR_PROTO_FIELD_INVALID);
    }
    memcpy(out, v->text, v->len);
    out[v->len] = '\0';
    return EVT_OK;
}

void evt_json_value_text(const evt_json_value *v, char *out, size_t cap)
{
    if (out == NULL || cap == 0) {
        return;
    }
    out[0] = '\0';
    if (value_absent(v) || !value_scalar(v)) {
        return;
    }
    size_t max = cap - 1;
    if (!value_whole(v) && v->len > 0 && max > v->len - 1) {
        max = v->len - 1; /* the kept prefix may end inside a character: cut before it */
    }
    size_t n = evt_json_utf8_prefix(v->text, v->len, max);
    memcpy(out, v->text, n);
    out[n] = '\0';
}

/* Strict integer text; false on any deviation or on int64 overflow. */
static bool parse_int_text(const char *text, int64_t *out)
{
    size_t pos = 0;
    bool negative = text[0] == '-';
    if (negative) {
        pos++;
    }
    if (!is_digit_u8((uint8_t)text[pos]) || (text[pos] == '0' && text[pos + 1] != '\0')) {
        return false;
    }
    /* Accumulate negatively so INT64_MIN is reachable without overflow. */
    int64_t value = 0;
    for (; text[pos] != '\0'; pos++) {
        if (!is_digit_u8((uint8_t)text[pos])) {
            return false;
        }
        int digit = text[pos] - '0';
        if (value < (INT64_MIN + digit) / 10) {
            return false;
        }
        value = value * 10 - digit;
    }
    if (!negative) {
        if (value == INT64_MIN) {
            return false;
        }
        value = -value;
    }
    *out = value;
    return true;
}

/* Start of the number getters (evt_fen is an int64_t): clears *out and *present; true when
 * there is a scalar to read, otherwise *err says what absence or a wrong type means. */
static bool number_start(const evt_json_value *v, const char *key, bool required, int64_t *out,
                         bool *present, evt_err *err, evt_json_diag *diag)
{
    *err = EVT_OK;
    if (out == NULL) {
        *err = fail(diag, key, EVT_ERR_ARG);
        return false;
    }
    *out = 0;
    if (present != NULL) {
        *present = false;
    }
    if (value_absent(v)) {
        *err = required ? fail(diag, key, EVT_ERR_PROTO_FIELD_MISSING) : EVT_OK;
        return false;
    }
    if (!value_scalar(v)) {
        *err = fail(diag, key, EVT_ERR_PROTO_FIELD_INVALID);
        return false;
    }
    return true;
}

evt_err evt_json_value_int(const evt_json_value *v, const char *key, bool required, int64_t min,
                           int64_t max, int64_t *out, bool *present, evt_json_diag *diag)
{
    evt_err err;
    if (!number_start(v, key, required, out, present, &err, diag)) {
        return err;
    }
    if (v->full_len == 0) {
        return required ? fail(diag, key, EVT_ERR_PROTO_FIELD_MISSING) : EVT_OK;
    }
    int64_t value;
    if (!value_whole(v) || !parse_int_text(v->text, &value) || value < min || value > max) {
        return fail(diag, key, EVT_ERR_PROTO_FIELD_INVALID);
    }
    *out = value;
    if (present != NULL) {
        *present = true;
    }
    return EVT_OK;
}

evt_err evt_json_value_money(const evt_json_value *v, const char *key, bool required, evt_fen *out,
                             bool *present, evt_json_diag *diag)
{
    evt_err err;
    if (!number_start(v, key, required, out, present, &err, diag)) {
        return err;
    }
    if (!value_whole(v)) {
        /* Longer than any text kept, so far beyond the 22 characters of the longest amount. */
        return fail(diag, key, EVT_ERR_MONEY_INVALID);
    }
    bool has_value = false;
    err = evt_money_parse(v->text, v->len, out, &has_value);
    if (err != EVT_OK) {
        return fail(diag, key, err);
    }
    if (!has_value && required) {
        return fail(diag, key, EVT_ERR_PROTO_FIELD_MISSING);
    }
    if (present != NULL) {
        *present = has_value;
    }
    return EVT_OK;
}

/* lookup() and the member as a value. */
static evt_err lookup_value(const cJSON *obj, const char *key, evt_json_value *v,
                            evt_json_diag *diag)
{
    const cJSON *item;
    evt_err err = lookup(obj, key, false, &item, diag);
    *v = node_value(item);
    return err;
}

evt_err evt_json_get_string(const cJSON *obj, const char *key, bool required, char *out, size_t cap,
                            evt_json_diag *diag)
{
    if (out == NULL || cap == 0) {
        return fail(diag, key, EVT_ERR_ARG);
    }
    out[0] = '\0';
    evt_json_value v;
    evt_err err = lookup_value(obj, key, &v, diag);
    return err != EVT_OK ? err : evt_json_value_string(&v, key, required, out, cap, diag);
}

void evt_json_get_text(const cJSON *obj, const char *key, char *out, size_t cap)
{
    if (out == NULL || cap == 0) {
        return;
    }
    out[0] = '\0';
    if (obj == NULL || key == NULL || !cJSON_IsObject(obj)) {
        return;
    }
    evt_json_value v = node_value(cJSON_GetObjectItemCaseSensitive(obj, key));
    evt_json_value_text(&v, out, cap);
}

evt_err evt_json_get_int(const cJSON *obj, const char *key, bool required, int64_t min, int64_t max,
                         int64_t *out, bool *present, evt_json_diag *diag)
{
    if (out == NULL) {
        return fail(diag, key, EVT_ERR_ARG);
    }
    *out = 0;
    if (present != NULL) {
        *present = false;
    }
    evt_json_value v;
    evt_err err = lookup_value(obj, key, &v, diag);
    return err != EVT_OK ? err
                         : evt_json_value_int(&v, key, required, min, max, out, present, diag);
}

evt_err evt_json_get_money(const cJSON *obj, const char *key, bool required, evt_fen *out,
                           bool *present, evt_json_diag *diag)
{
    if (out == NULL) {
        return fail(diag, key, EVT_ERR_ARG);
    }
    *out = 0;
    if (present != NULL) {
        *present = false;
    }
    evt_json_value v;
    evt_err err = lookup_value(obj, key, &v, diag);
    return err != EVT_OK ? err : evt_json_value_money(&v, key, required, out, present, diag);
}

/* ---- builders -------------------------------------------------------------------------- */

evt_err evt_json_new_object(cJSON **out)
{
    if (out == NULL) {
        return EVT_ERR_ARG;
    }
    *out = cJSON_CreateObject();
    return *out != NULL ? EVT_OK : EVT_ERR_NOMEM;
}

evt_err evt_json_add_object(cJSON *obj, const char *key, cJSON **child)
{
    if (obj == NULL || key == NULL || child == NULL) {
        return EVT_ERR_ARG;
    }
    *child = cJSON_AddObjectToObject(obj, key);
    return *child != NULL ? EVT_OK : EVT_ERR_NOMEM;
}

evt_err evt_json_add_array(cJSON *obj, const char *key, cJSON **child)
{
    if (obj == NULL || key == NULL || child == NULL) {
        return EVT_ERR_ARG;
    }
    *child = cJSON_AddArrayToObject(obj, key);
    return *child != NULL ? EVT_OK : EVT_ERR_NOMEM;
}

evt_err evt_json_append_object(cJSON *array, cJSON **child)
{
    if (array == NULL || child == NULL || !cJSON_IsArray(array)) {
        return EVT_ERR_ARG;
    }
    cJSON *item = cJSON_CreateObject();
    if (item == NULL) {
        *child = NULL;
        return EVT_ERR_NOMEM;
    }
    if (!cJSON_AddItemToArray(array, item)) {
        cJSON_Delete(item);
        *child = NULL;
        return EVT_ERR_NOMEM;
    }
    *child = item;
    return EVT_OK;
}

evt_err evt_json_add_string(cJSON *obj, const char *key, const char *value)
{
    if (obj == NULL || key == NULL) {
        return EVT_ERR_ARG;
    }
    return cJSON_AddStringToObject(obj, key, value != NULL ? value : "") != NULL ? EVT_OK
                                                                                 : EVT_ERR_NOMEM;
}

static evt_err add_raw(cJSON *obj, const char *key, const char *text)
{
    if (obj == NULL || key == NULL) {
        return EVT_ERR_ARG;
    }
    return cJSON_AddRawToObject(obj, key, text) != NULL ? EVT_OK : EVT_ERR_NOMEM;
}

evt_err evt_json_add_money(cJSON *obj, const char *key, evt_fen fen)
{
    if (!evt_money_in_range(fen)) {
        return EVT_ERR_ARG;
    }
    char text[EVT_MONEY_TEXT_BYTES];
    if (evt_money_format(fen, text, sizeof text) == 0) {
        return EVT_ERR_INTERNAL;
    }
    return add_raw(obj, key, text);
}

/* Decimal text of value. Written by hand: newlib-nano's printf has no %lld. */
static void int_text(int64_t value, char text[24])
{
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    char digits[21];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + (int)(magnitude % 10u));
        magnitude /= 10u;
    } while (magnitude != 0);
    size_t w = 0;
    if (value < 0) {
        text[w++] = '-';
    }
    while (n > 0) {
        text[w++] = digits[--n];
    }
    text[w] = '\0';
}

evt_err evt_json_add_int(cJSON *obj, const char *key, int64_t value)
{
    char text[24];
    int_text(value, text);
    return add_raw(obj, key, text);
}

evt_err evt_json_add_bool(cJSON *obj, const char *key, bool value)
{
    return add_raw(obj, key, value ? "true" : "false");
}

evt_err evt_json_print(const cJSON *root, char *buf, size_t cap, size_t *len)
{
    if (root == NULL || buf == NULL || cap == 0 || cap > INT_MAX) {
        return EVT_ERR_ARG;
    }
    /* cJSON's preallocated printer never allocates; it takes a non-const tree only because
     * its API predates const. */
    if (!cJSON_PrintPreallocated((cJSON *)root, buf, (int)cap, false)) {
        buf[0] = '\0';
        return EVT_ERR_OVERFLOW;
    }
    if (len != NULL) {
        *len = strlen(buf);
    }
    return EVT_OK;
}

size_t evt_json_utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }
    size_t n = max;
    /* s[n] is the first byte left out; if it continues a character, that character would be
     * cut, so drop it entirely. */
    while (n > 0 && ((uint8_t)s[n] & 0xC0u) == 0x80u) {
        n--;
    }
    return n;
}

bool evt_json_text_valid(const char *s, size_t len)
{
    if (s == NULL) {
        return len == 0;
    }
    evt_jstream_utf8 u = {0, 0, 0};
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (u.left == 0 && c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            return false;
        }
        if (!evt_jstream_utf8_step(&u, c)) {
            return false;
        }
    }
    return u.left == 0;
}

/* ---- writer ------------------------------------------------------------------------------ */

void evt_json_writer_init(evt_json_writer *w, uint8_t *buf, size_t cap, evt_json_sink_fn sink,
                          void *sink_ctx)
{
    memset(w, 0, sizeof *w);
    w->sink = sink;
    w->sink_ctx = sink_ctx;
    w->buf = buf;
    w->cap = buf != NULL ? cap : 0;
    if ((sink != NULL && w->cap == 0) || (buf != NULL && cap == 0)) {
        w->err = EVT_ERR_ARG;
    }
}

static void put(evt_json_writer *w, const char *data, size_t len)
{
    if (w->err != EVT_OK) {
        return;
    }
    w->total += len;
    if (w->buf == NULL) {
        return; /* counting */
    }
    if (w->sink == NULL) {
        /* Buffer mode keeps one byte for the NUL, as evt_json_print does. */
        if (len >= w->cap - w->fill) {
            w->err = EVT_ERR_OVERFLOW;
            return;
        }
        memcpy(w->buf + w->fill, data, len);
        w->fill += len;
        return;
    }
    while (len > 0) {
        size_t room = w->cap - w->fill;
        size_t n = len < room ? len : room;
        memcpy(w->buf + w->fill, data, n);
        w->fill += n;
        data += n;
        len -= n;
        if (w->fill == w->cap) {
            w->err = w->sink(w->sink_ctx, w->buf, w->fill);
            w->fill = 0;
            if (w->err != EVT_OK) {
                return;
            }
        }
    }
}

/* A JSON string as cJSON prints it: " \ and the C0 controls escaped (\b \f \n \r \t, the
 * others as \u00xx in lower case), everything else, UTF-8 included, as it is. */
static void put_string(evt_json_writer *w, const char *s)
{
    put(w, "\"", 1);
    const char *run = s;
    for (const char *p = s; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 32 && c != '"' && c != '\\') {
            continue;
        }
        put(w, run, (size_t)(p - run));
        run = p + 1;
        char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default: {
            static const char hex[] = "0123456789abcdef";
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15u];
            n = 6;
        }
        }
        put(w, esc, n);
    }
    put(w, run, strlen(run));
    put(w, "\"", 1);
}

/* The separator and name before a member: a key inside an object, none inside an array or at
 * the root (which holds one value). */
static void member(evt_json_writer *w, const char *key)
{
    if (w->err != EVT_OK) {
        return;
    }
    bool want_key = w->depth > 0 && !w->in_array[w->depth];
    if ((key != NULL) != want_key || (w->depth == 0 && w->has_member[0])) {
        w->err = EVT_ERR_ARG;
        return;
    }
    if (w->has_member[w->depth]) {
        put(w, ",", 1);
    }
    w->has_member[w->depth] = true;
    if (key != NULL) {
        put_string(w, key);
        put(w, ":", 1);
    }
}

static evt_err open_container(evt_json_writer *w, const char *key, bool array)
{
    member(w, key);
    if (w->err == EVT_OK && w->depth == EVT_JSON_WRITER_DEPTH) {
        w->err = EVT_ERR_ARG;
    }
    put(w, array ? "[" : "{", 1);
    if (w->err == EVT_OK) {
        w->depth++;
        w->in_array[w->depth] = array;
        w->has_member[w->depth] = false;
    }
    return w->err;
}

evt_err evt_json_write_object(evt_json_writer *w, const char *key)
{
    return open_container(w, key, false);
}

evt_err evt_json_write_array(evt_json_writer *w, const char *key)
{
    return open_container(w, key, true);
}

evt_err evt_json_write_end(evt_json_writer *w)
{
    if (w->err == EVT_OK && w->depth == 0) {
        w->err = EVT_ERR_ARG;
    }
    put(w, w->in_array[w->depth] ? "]" : "}", 1);
    if (w->err == EVT_OK) {
        w->depth--;
    }
    return w->err;
}

evt_err evt_json_write_string(evt_json_writer *w, const char *key, const char *value)
{
    member(w, key);
    put_string(w, value != NULL ? value : "");
    return w->err;
}

evt_err evt_json_write_money(evt_json_writer *w, const char *key, evt_fen fen)
{
    char text[EVT_MONEY_TEXT_BYTES];
    if (w->err == EVT_OK &&
        (!evt_money_in_range(fen) || evt_money_format(fen, text, sizeof text) == 0)) {
        w->err = EVT_ERR_ARG;
    }
    member(w, key);
    if (w->err == EVT_OK) {
        put(w, text, strlen(text));
    }
    return w->err;
}

evt_err evt_json_write_int(evt_json_writer *w, const char *key, int64_t value)
{
    char text[24];
    int_text(value, text);
    member(w, key);
    put(w, text, strlen(text));
    return w->err;
}

evt_err evt_json_write_bool(evt_json_writer *w, const char *key, bool value)
{
    member(w, key);
    put(w, value ? "true" : "false", value ? 4 : 5);
    return w->err;
}

evt_err evt_json_writer_finish(evt_json_writer *w, size_t *len)
{
    if (w->err == EVT_OK && (w->depth != 0 || !w->has_member[0])) {
        w->err = EVT_ERR_ARG;
    }
    if (w->err == EVT_OK && w->sink != NULL && w->fill > 0) {
        w->err = w->sink(w->sink_ctx, w->buf, w->fill);
        w->fill = 0;
    }
    if (w->buf != NULL && w->sink == NULL) {
        w->buf[w->err == EVT_OK ? w->fill : 0] = '\0';
    }
    if (len != NULL) {
        *len = w->err == EVT_OK ? w->total : 0;
    }
    return w->err;
}
