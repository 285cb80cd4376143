/*
 * Exact decimal amounts. The platform spec puts money on the wire as `16,2` decimals in
 * several forms; this peer must read and write every form exactly, so nothing here goes near
 * floating point: json-c keeps a number's original text and we parse that text ourselves.
 */
#include "emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 16,2 leaves 14 integer digits; more than that is not an amount the platform would send. */
#define EMU_MAX_INT_DIGITS 14

int emu_dec_parse(const char *text, int scale, int64_t *out)
{
    if (text == NULL || out == NULL || scale < 0 || scale > 6)
        return -1;
    const char *p = text;
    bool negative = false;
    if (*p == '-') {
        negative = true;
        p++;
    }
    const char *int_start = p;
    while (*p >= '0' && *p <= '9')
        p++;
    size_t int_digits = (size_t)(p - int_start);
    if (int_digits == 0 || int_digits > EMU_MAX_INT_DIGITS)
        return -1;
    /* JSON's own number grammar forbids leading zeros; strings are held to the same rule so
     * "012.30" cannot slip in through the string form. */
    if (int_digits > 1 && int_start[0] == '0')
        return -1;
    int64_t value = 0;
    for (const char *d = int_start; d < p; d++)
        value = value * 10 + (*d - '0');
    int frac_used = 0;
    if (*p == '.') {
        p++;
        const char *frac_start = p;
        while (*p >= '0' && *p <= '9') {
            if (frac_used < scale) {
                value = value * 10 + (*p - '0');
                frac_used++;
            } else if (*p != '0') {
                return -1; /* more precision than the field has: not exact */
            }
            p++;
        }
        if (p == frac_start)
            return -1; /* "12." */
    }
    if (*p != '\0')
        return -1; /* exponent, blanks, anything else */
    for (; frac_used < scale; frac_used++)
        value *= 10;
    *out = negative ? -value : value;
    return 0;
}

int emu_fen_parse(const char *text, emu_fen *out)
{
    return emu_dec_parse(text, 2, out);
}

emu_amt_result emu_json_dec(json_object *v, int scale, int64_t *out)
{
    if (v == NULL)
        return EMU_AMT_BAD;
    switch (json_object_get_type(v)) {
    case json_type_int:
    case json_type_double:
        /* the original text as it came over the wire */
        return emu_dec_parse(json_object_get_string(v), scale, out) == 0 ? EMU_AMT_OK : EMU_AMT_BAD;
    case json_type_string: {
        const char *s = json_object_get_string(v);
        if (s[0] == '\0')
            return EMU_AMT_EMPTY;
        if ((size_t)json_object_get_string_len(v) != strlen(s))
            return EMU_AMT_BAD; /* embedded NUL */
        return emu_dec_parse(s, scale, out) == 0 ? EMU_AMT_OK : EMU_AMT_BAD;
    }
    default:
        return EMU_AMT_BAD;
    }
}

emu_amt_result emu_json_fen(json_object *v, emu_fen *out)
{
    return emu_json_dec(v, 2, out);
}

const char *emu_fen_format(emu_fen fen, char *buf, size_t size)
{
    uint64_t mag = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    snprintf(buf, size, "%s%llu.%02llu", fen < 0 ? "-" : "", (unsigned long long)(mag / 100),
             (unsigned long long)(mag % 100));
    return buf;
}

json_object *emu_json_number_text(const char *text)
{
    /* json-c serialises through the userdata text, exactly what json_object_new_double_s does,
     * but without a double value that could be read back by mistake. */
    json_object *n = json_object_new_int64(0);
    json_object_set_serializer(n, json_object_userdata_to_json_string, strdup(text),
                               json_object_free_userdata);
    return n;
}

void emu_put_fen(emu_amount_writer *w, json_object *obj, const char *key, emu_fen fen)
{
    char buf[32];
    emu_fen_format(fen, buf, sizeof buf);
    emu_amount_style style = w->style;
    unsigned turn = w->rotation++;
    if (style == EMU_STYLE_STRING) {
        json_object_object_add(obj, key, json_object_new_string(buf));
        return;
    }
    if (style == EMU_STYLE_NUMBER) {
        json_object_object_add(obj, key, emu_json_number_text(buf));
        return;
    }
    /* mixed: every form real platforms use reaches the terminal's parser */
    if (fen == 0) {
        static const char *const zero_forms[] = {"0", "0.0000", "\"0.00\"", "0.00"};
        const char *form = zero_forms[turn % 4];
        if (form[0] == '"')
            json_object_object_add(obj, key, json_object_new_string("0.00"));
        else
            json_object_object_add(obj, key, emu_json_number_text(form));
        return;
    }
    if (turn % 2 == 0)
        json_object_object_add(obj, key, emu_json_number_text(buf));
    else
        json_object_object_add(obj, key, json_object_new_string(buf));
}

void emu_put_na(json_object *obj, const char *key)
{
    json_object_object_add(obj, key, json_object_new_string(""));
}
