/* evt_civil: see civil.h. */
#include "evt/civil.h"

void evt_civil_from_unix(int64_t unix_seconds, evt_civil *out)
{
    int64_t z = unix_seconds / 86400;
    int64_t secs = unix_seconds % 86400;
    if (secs < 0) {
        secs += 86400;
        z -= 1;
    }
    out->days = z;
    out->hour = (unsigned)(secs / 3600);
    out->minute = (unsigned)(secs / 60 % 60);
    out->second = (unsigned)(secs % 60);

    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    out->day = doy - (153 * mp + 2) / 5 + 1;
    out->month = mp < 10 ? mp + 3 : mp - 9;
    out->year = (int64_t)yoe + era * 400 + (out->month <= 2);
}

int64_t evt_civil_days_from_date(int64_t year, unsigned month, unsigned day)
{
    /* H. Hinnant's days_from_civil, the inverse of the conversion above. */
    year -= month <= 2;
    const int64_t era = (year >= 0 ? year : year - 399) / 400;
    const unsigned yoe = (unsigned)(year - era * 400);
    const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}
