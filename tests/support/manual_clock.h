/*
 * manual_clock: an evt_hal_sys whose monotonic clock moves only when the test moves it, for
 * tests about when things happened (key presses against the time a screen was drawn) that
 * must not depend on how fast the machine runs. Only monotonic_ms is provided; the other
 * services are NULL, so code that needs them is not what such a test should drive.
 */
#ifndef EVT_MANUAL_CLOCK_H
#define EVT_MANUAL_CLOCK_H

#include <stdint.h>

#include "evt/hal_sys.h"

typedef struct manual_clock {
    evt_hal_sys hal; /* pass &clock->hal to the code under test */
    uint64_t now_ms; /* what monotonic_ms returns; set or advance it freely (never back) */
} manual_clock;

void manual_clock_init(manual_clock *clock, uint64_t start_ms);

#endif
