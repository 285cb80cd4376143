/*
 * evt_money: amounts in integer fen (1 yuan = 100 fen), exact conversion from and to the
 * platform's "16,2" decimal text. No floating point anywhere.
 */
#ifndef EVT_MONEY_H
#define EVT_MONEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evt/err.h"

typedef int64_t evt_fen;

/* Largest magnitude a 16,2 field can hold: 14 integer digits + 2 decimals. */
#define EVT_FEN_MAX INT64_C(9999999999999999)

/*
 * Parses the text of an amount exactly as the platform sends it (the characters of a JSON
 * number, or the contents of a JSON string): "12.30", "12.3", "12", "0", "0.0000", "-5.00".
 * Digits past the second decimal are accepted only when they are zeros (so "0.0000" is 0,
 * "1.005" is EVT_ERR_MONEY_INVALID: it is not a whole number of fen).
 * An empty text ("") means "not applicable": *present = false, *out = 0, EVT_OK.
 * Anything else (exponents, '+', spaces, leading zeros like "01", "1.", ".5", over 16,2,
 * letters) is EVT_ERR_MONEY_INVALID.
 */
evt_err evt_money_parse(const char *text, size_t len, evt_fen *out, bool *present);

/* Formats fen as "12.30" / "-0.05" (always two decimals, no grouping). Returns the length
 * written (excluding NUL), or 0 if cap is too small. cap of 24 always suffices. */
size_t evt_money_format(evt_fen fen, char *buf, size_t cap);

#endif /* EVT_MONEY_H */
