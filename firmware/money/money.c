/* evt_money: exact 16,2 decimal text <-> integer fen; see money.h for the accepted forms. */
#include "evt/money.h"

#include <string.h>

/* 14 integer digits: 16 digits of precision minus the 2 decimals. */
#define MONEY_MAX_INT_DIGITS 14

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

evt_err evt_money_parse(const char *text, size_t len, evt_fen *out, bool *present)
{
    if (out == NULL || (text == NULL && len != 0)) {
        return EVT_ERR_ARG;
    }
    *out = 0;
    if (present != NULL) {
        *present = false;
    }
    if (len == 0) {
        return EVT_OK;
    }

    size_t pos = 0;
    bool negative = false;
    if (text[pos] == '-') {
        negative = true;
        pos++;
    }

    /* Integer part: one or more digits, no leading zero unless it is the only digit. The
     * digit count is checked before accumulating, so the int64 can never overflow. */
    size_t int_start = pos;
    int64_t yuan = 0;
    while (pos < len && is_digit(text[pos])) {
        if (pos - int_start >= MONEY_MAX_INT_DIGITS) {
            return EVT_ERR_MONEY_INVALID;
        }
        yuan = yuan * 10 + (text[pos] - '0');
        pos++;
    }
    size_t int_digits = pos - int_start;
    if (int_digits == 0 || (int_digits > 1 && text[int_start] == '0')) {
        return EVT_ERR_MONEY_INVALID;
    }

    int64_t cents = 0;
    if (pos < len) {
        if (text[pos] != '.') {
            return EVT_ERR_MONEY_INVALID;
        }
        pos++;
        size_t frac_start = pos;
        while (pos < len && is_digit(text[pos])) {
            size_t index = pos - frac_start;
            if (index >= EVT_MONEY_MAX_DECIMALS) {
                return EVT_ERR_MONEY_INVALID;
            }
            int digit = text[pos] - '0';
            if (index < 2) {
                cents += digit * (index == 0 ? 10 : 1);
            } else if (digit != 0) {
                /* A third decimal would be a fraction of a fen: refuse, never round. */
                return EVT_ERR_MONEY_INVALID;
            }
            pos++;
        }
        if (pos == frac_start || pos != len) {
            return EVT_ERR_MONEY_INVALID;
        }
    }

    int64_t fen = yuan * 100 + cents;
    *out = negative ? -fen : fen;
    if (present != NULL) {
        *present = true;
    }
    return EVT_OK;
}

size_t evt_money_format(evt_fen fen, char *buf, size_t cap)
{
    if (buf == NULL || cap == 0) {
        return 0;
    }
    /* Magnitude as unsigned so INT64_MIN is formatted too instead of overflowing. */
    uint64_t magnitude = fen < 0 ? (uint64_t)0 - (uint64_t)fen : (uint64_t)fen;
    char digits[EVT_MONEY_TEXT_BYTES];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + (int)(magnitude % 10u));
        magnitude /= 10u;
    } while (magnitude != 0);
    while (n < 3) {
        digits[n++] = '0'; /* at least "0.0x" */
    }

    size_t needed = (fen < 0 ? 1u : 0u) + n + 1u; /* sign, digits, point */
    if (needed + 1u > cap) {
        buf[0] = '\0';
        return 0;
    }
    size_t w = 0;
    if (fen < 0) {
        buf[w++] = '-';
    }
    while (n > 2) {
        buf[w++] = digits[--n];
    }
    buf[w++] = '.';
    buf[w++] = digits[1];
    buf[w++] = digits[0];
    buf[w] = '\0';
    return w;
}

bool evt_money_in_range(evt_fen fen)
{
    return fen >= -EVT_FEN_MAX && fen <= EVT_FEN_MAX;
}
