/*
 * evt_mask: masks personal data before it reaches a screen, a receipt or a log line.
 * The cashier still needs enough to compare with the person at the counter: the family name
 * and the last character of a name, the region and the last four digits of an ID number.
 */
#ifndef EVT_MASK_H
#define EVT_MASK_H

#include <stddef.h>

#include "evt/err.h"

/*
 * Name (UTF-8): keeps the first and last character, one '*' for each character between:
 * 张建国 -> 张*国, 欧阳娜娜 -> 欧**娜; two characters keep the first: 张三 -> 张*; one
 * character -> *. Invalid UTF-8 is masked entirely ("***").
 * Returns EVT_ERR_OVERFLOW if out (cap bytes incl. NUL) is too small.
 */
evt_err evt_mask_name(const char *name, char *out, size_t cap);

/*
 * ID number (any length): keeps the first 4 and last 4 characters, '*' for each between:
 * 120104198001011234 -> 1201**********1234. 8 characters or fewer: all '*'.
 */
evt_err evt_mask_id(const char *id, char *out, size_t cap);

#endif /* EVT_MASK_H */
