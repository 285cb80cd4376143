/*
 * Fuzz target: the settlement reference scanned from a receipt's QR code
 * ("EVTS1|<fixmedins_code>|<setl_id>|<mdtrt_id>|<psn_no>|<msgid>", include/evt/receipt.h).
 *
 * - evt_receipt_ref_parse on the input, against a reference of the documented rules: the
 *   prefix, exactly five fields, printable ASCII without '|' or space, each shorter than its
 *   buffer, fixmedins_code, setl_id and msgid not empty;
 * - what parses formats back to exactly the scanned text;
 * - a reference built from input bytes (any bytes, NUL-terminated or not) either formats and
 *   parses back to the same fields, or is refused by both the formatter and the rules.
 */
#include <string.h>

#include "evt/receipt.h"
#include "fuzz_support.h"

#define FIELDS 5

static const size_t caps[FIELDS] = {13, 31, 31, 31, 31};
static const bool required[FIELDS] = {true, true, false, false, true};

static bool field_valid(const uint8_t *s, size_t n, size_t field)
{
    if (n >= caps[field] || (required[field] && n == 0)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7F || s[i] == '|') {
            return false;
        }
    }
    return true;
}

static char *field_of(evt_receipt_ref *ref, size_t field)
{
    char *fields[FIELDS] = {ref->fixmedins_code, ref->setl_id, ref->mdtrt_id, ref->psn_no,
                            ref->msgid};
    return fields[field];
}

static void check_parse(const uint8_t *data, size_t len)
{
    evt_receipt_ref ref;
    evt_err err = evt_receipt_ref_parse((const char *)data, len, &ref);
    FUZZ_CHECK(err == EVT_OK || err == EVT_ERR_RECEIPT_REF_INVALID, "parse: %s", evt_err_name(err));

    static const char prefix[] = EVT_RECEIPT_REF_PREFIX;
    bool valid = len >= sizeof prefix - 1 && memcmp(data, prefix, sizeof prefix - 1) == 0;
    size_t start[FIELDS], n[FIELDS], pos = sizeof prefix - 1, count = 0;
    while (valid && pos <= len) {
        const uint8_t *bar = memchr(data + pos, '|', len - pos);
        size_t end = bar != NULL ? (size_t)(bar - data) : len;
        if (count == FIELDS) {
            valid = false;
            break;
        }
        start[count] = pos;
        n[count] = end - pos;
        valid = field_valid(data + pos, n[count], count);
        count++;
        pos = end + 1;
    }
    valid = valid && count == FIELDS;
    FUZZ_CHECK((err == EVT_OK) == valid, "parse %s, the rules say %s", evt_err_name(err),
               valid ? "valid" : "invalid");
    if (!valid) {
        static const evt_receipt_ref zero;
        FUZZ_CHECK(memcmp(&ref, &zero, sizeof ref) == 0, "a refused reference left fields set");
        return;
    }
    for (size_t f = 0; f < FIELDS; f++) {
        const char *got = field_of(&ref, f);
        FUZZ_CHECK(strlen(got) == n[f] && memcmp(got, data + start[f], n[f]) == 0,
                   "field %zu differs", f);
    }
    char text[EVT_RECEIPT_REF_MAX];
    FUZZ_CHECK(evt_receipt_ref_format(&ref, text, sizeof text) == EVT_OK, "format of a parsed ref");
    FUZZ_CHECK(strlen(text) == len && memcmp(text, data, len) == 0,
               "format gives another text than the one scanned");
}

static void check_format(fuzz_input *in)
{
    evt_receipt_ref ref;
    memset(&ref, 0, sizeof ref);
    bool valid = true;
    for (size_t f = 0; f < FIELDS; f++) {
        char *dst = field_of(&ref, f);
        size_t want = fuzz_take_u8(in) % (caps[f] + 1); /* caps[f]: no NUL at all */
        for (size_t i = 0; i < want && i < caps[f]; i++) {
            dst[i] = (char)fuzz_take_u8(in);
        }
        size_t n = strnlen(dst, caps[f]);
        valid = valid && n < caps[f] && field_valid((const uint8_t *)dst, n, f);
    }
    char text[EVT_RECEIPT_REF_MAX];
    evt_err err = evt_receipt_ref_format(&ref, text, sizeof text);
    FUZZ_CHECK((err == EVT_OK) == valid, "format %s, the rules say %s", evt_err_name(err),
               valid ? "valid" : "invalid");
    if (err != EVT_OK) {
        FUZZ_CHECK(err == EVT_ERR_ARG && text[0] == '\0', "format: %s", evt_err_name(err));
        return;
    }
    evt_receipt_ref back;
    FUZZ_CHECK(evt_receipt_ref_parse(text, strlen(text), &back) == EVT_OK,
               "formatted reference does not parse");
    for (size_t f = 0; f < FIELDS; f++) {
        FUZZ_CHECK(strcmp(field_of(&back, f), field_of(&ref, f)) == 0,
                   "parse(format(ref)) differs in field %zu", f);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    fuzz_setup(FUZZ_ARENA_BYTES);
    check_parse(data, len);
    fuzz_input in = {.data = data, .len = len};
    check_format(&in);
    fuzz_arena_check_empty("receipt_ref");
    return 0;
}
