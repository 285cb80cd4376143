/*
 * evt_mask: masks personal data before it reaches a screen, a receipt or a log line.
 * The cashier still needs enough to compare with the person at the counter: the family name
 * and the last character of a name, the region and the last four digits of an ID number.
 *
 * Also home of the firmware's strict UTF-8 check, because masking is where character (not
 * byte) boundaries first matter; config and the ECR link reuse it for their text fields.
 */
#ifndef EVT_MASK_H
#define EVT_MASK_H

#include <stdbool.h>
#include <stddef.h>

#include "evt/err.h"

/*
 * Name (UTF-8): keeps the first and last character, one '*' for each character between:
 * 张建国 -> 张*国, 欧阳娜娜 -> 欧**娜; two characters keep the first: 张三 -> 张*; one
 * character -> *. An empty name stays empty. Invalid UTF-8 is masked entirely ("***").
 * Characters are code points: 买买提·艾力 -> 买****力 (the middle dot counts as one).
 * Errors: EVT_ERR_ARG (NULL name or out, cap 0), EVT_ERR_OVERFLOW if out (cap bytes incl.
 * NUL) is too small — out then holds "" so a truncated name is never shown.
 */
evt_err evt_mask_name(const char *name, char *out, size_t cap);

/*
 * ID number (any length, counted in characters): keeps the first 4 and last 4 characters,
 * '*' for each between: 120104198001011234 -> 1201**********1234,
 * 15-digit 120104800101123 -> 1201*******1123. 8 characters or fewer: all '*' (one per
 * character). Invalid UTF-8 -> "***". Errors as evt_mask_name.
 */
evt_err evt_mask_id(const char *id, char *out, size_t cap);

/*
 * Strict UTF-8 check of len bytes (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF, no NUL byte). On true, *chars (if not NULL) is the number of code points.
 */
bool evt_mask_utf8_valid(const char *s, size_t len, size_t *chars);

#endif /* EVT_MASK_H */
