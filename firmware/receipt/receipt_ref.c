/* The settlement reference carried by the receipt's QR code; see include/evt/receipt.h. */
#include "evt/receipt.h"

#include <string.h>

/* Printable ASCII except the separator: platform ids are digits and letters, and anything
 * else (spaces, control bytes, UTF-8) would make the text ambiguous for a scanner engine. */
static bool ref_char_ok(char c)
{
    return c > 0x20 && c < 0x7F && c != '|';
}

static bool field_ok(const char *s, size_t len, size_t cap, bool required)
{
    if (len >= cap || (required && len == 0)) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!ref_char_ok(s[i])) {
            return false;
        }
    }
    return true;
}

#define REF_FIELD_COUNT 5

/* Length of s within a char[cap] (cap when there is no NUL: then it is too long). */
static size_t bounded_len(const char *s, size_t cap)
{
    size_t n = 0;
    while (n < cap && s[n] != '\0') {
        n++;
    }
    return n;
}

#define FIELD_OK(field, required)                                                                  \
    field_ok((field), bounded_len((field), sizeof(field)), sizeof(field), (required))

static bool ref_fields_ok(const evt_receipt_ref *ref)
{
    return FIELD_OK(ref->fixmedins_code, true) && FIELD_OK(ref->setl_id, true) &&
           FIELD_OK(ref->mdtrt_id, false) && FIELD_OK(ref->psn_no, false) &&
           FIELD_OK(ref->msgid, true);
}

evt_err evt_receipt_ref_format(const evt_receipt_ref *ref, char *out, size_t cap)
{
    if (ref == NULL || out == NULL || cap == 0) {
        return EVT_ERR_ARG;
    }
    out[0] = '\0';
    if (!ref_fields_ok(ref)) {
        return EVT_ERR_ARG;
    }
    const char *parts[REF_FIELD_COUNT] = {ref->fixmedins_code, ref->setl_id, ref->mdtrt_id,
                                          ref->psn_no, ref->msgid};
    size_t pos = strlen(EVT_RECEIPT_REF_PREFIX);
    if (pos >= cap) {
        return EVT_ERR_OVERFLOW;
    }
    memcpy(out, EVT_RECEIPT_REF_PREFIX, pos);
    for (size_t i = 0; i < REF_FIELD_COUNT; i++) {
        size_t n = strlen(parts[i]);
        size_t sep = i + 1 < REF_FIELD_COUNT ? 1u : 0u;
        if (cap - pos <= n + sep) {
            out[0] = '\0';
            return EVT_ERR_OVERFLOW;
        }
        memcpy(out + pos, parts[i], n);
        pos += n;
        if (sep) {
            out[pos++] = '|';
        }
    }
    out[pos] = '\0';
    return EVT_OK;
}

evt_err evt_receipt_ref_parse(const char *text, size_t len, evt_receipt_ref *out)
{
    if (text == NULL || out == NULL) {
        return EVT_ERR_ARG;
    }
    memset(out, 0, sizeof *out);
    size_t prefix = strlen(EVT_RECEIPT_REF_PREFIX);
    if (len < prefix || memcmp(text, EVT_RECEIPT_REF_PREFIX, prefix) != 0) {
        return EVT_ERR_RECEIPT_REF_INVALID;
    }
    char *fields[REF_FIELD_COUNT] = {out->fixmedins_code, out->setl_id, out->mdtrt_id, out->psn_no,
                                     out->msgid};
    const size_t caps[REF_FIELD_COUNT] = {sizeof out->fixmedins_code, sizeof out->setl_id,
                                          sizeof out->mdtrt_id, sizeof out->psn_no,
                                          sizeof out->msgid};
    size_t pos = prefix;
    for (size_t i = 0; i < REF_FIELD_COUNT; i++) {
        size_t start = pos;
        while (pos < len && text[pos] != '|') {
            pos++;
        }
        size_t n = pos - start;
        bool last = i + 1 == REF_FIELD_COUNT;
        /* Exactly five fields: a separator after each but the last, nothing after that. */
        if (last ? pos != len : pos == len) {
            memset(out, 0, sizeof *out);
            return EVT_ERR_RECEIPT_REF_INVALID;
        }
        if (n >= caps[i] || !field_ok(text + start, n, caps[i], false)) {
            memset(out, 0, sizeof *out);
            return EVT_ERR_RECEIPT_REF_INVALID;
        }
        memcpy(fields[i], text + start, n);
        fields[i][n] = '\0';
        pos++; /* past the separator */
    }
    if (!ref_fields_ok(out)) {
        memset(out, 0, sizeof *out);
        return EVT_ERR_RECEIPT_REF_INVALID;
    }
    return EVT_OK;
}
