/*
 * evt_civil: Unix seconds to a proleptic Gregorian date and time, in integers only, without
 * the C library's time zone machinery (gmtime_r is POSIX, and its result would depend on the
 * host). Used by the mbedTLS gmtime hook and by boards that keep China Standard Time.
 */
#ifndef EVT_CIVIL_H
#define EVT_CIVIL_H

#include <stdint.h>

typedef struct evt_civil {
    int64_t year;
    unsigned month;  /* 1..12 */
    unsigned day;    /* 1..31 */
    unsigned hour;   /* 0..23 */
    unsigned minute; /* 0..59 */
    unsigned second; /* 0..59 */
    int64_t days;    /* days since 1970-01-01 (negative before it) */
} evt_civil;

/* Valid over the whole int64 range a certificate can carry (H. Hinnant's civil_from_days). */
void evt_civil_from_unix(int64_t unix_seconds, evt_civil *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12, day 1..31, not checked). */
int64_t evt_civil_days_from_date(int64_t year, unsigned month, unsigned day);

#endif /* EVT_CIVIL_H */
