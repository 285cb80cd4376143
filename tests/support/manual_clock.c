/* manual_clock: see manual_clock.h. */
#include "manual_clock.h"

#include <string.h>

static uint64_t manual_monotonic_ms(void *ctx)
{
    const manual_clock *clock = ctx;
    return clock->now_ms;
}

void manual_clock_init(manual_clock *clock, uint64_t start_ms)
{
    memset(clock, 0, sizeof *clock);
    clock->hal.ctx = clock;
    clock->hal.monotonic_ms = manual_monotonic_ms;
    clock->now_ms = start_ms;
}
