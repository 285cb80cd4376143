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

/* Digits accepted after the decimal point. The widest scale in the national specification is
 * 16,6 (unit prices), so a platform may pad an amount to six places ("12.300000"); anything
 * longer is not a form any platform uses and is refused rather than guessed at. */
#define EVT_MONEY_MAX_DECIMALS 6

/* Buffer size that always suffices for evt_money_format (sign, 17 digits, point, NUL). */
#define EVT_MONEY_TEXT_BYTES 24

/*
 * Parses the text of an amount exactly as the platform sends it (the characters of a JSON
 * number, or the contents of a JSON string): "12.30", "12.3", "12", "0", "0.0000", "-5.00".
 * Digits past the second decimal are accepted only when they are zeros (so "0.0000" is 0,
 * "1.005" is EVT_ERR_MONEY_INVALID: it is not a whole number of fen), and at most
 * EVT_MONEY_MAX_DECIMALS decimals in all. "-0" / "-0.00" are zero.
 * An empty text ("") means "not applicable": *present = false, *out = 0, EVT_OK.
 * Anything else (exponents, '+', spaces, leading zeros like "01", "1.", ".5", over 16,2 i.e.
 * more than 14 integer digits, letters, NUL bytes inside len) is EVT_ERR_MONEY_INVALID, with
 * *out = 0 and *present = false. text may be NULL only when len is 0. present may be NULL.
 */
evt_err evt_money_parse(const char *text, size_t len, evt_fen *out, bool *present);

/* Formats fen as "12.30" / "-0.05" (always two decimals, no grouping). Returns the length
 * written (excluding NUL), or 0 if cap is too small (buf then holds "" when cap > 0).
 * cap of EVT_MONEY_TEXT_BYTES (24) always suffices, for every int64 value. */
size_t evt_money_format(evt_fen fen, char *buf, size_t cap);

/* True when |fen| <= EVT_FEN_MAX, i.e. the amount fits a 16,2 field on the wire. */
bool evt_money_in_range(evt_fen fen);

#endif /* EVT_MONEY_H */
