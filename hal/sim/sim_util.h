/* Internal to the sim drivers (the .c files in hal/sim): clock helpers they all need. */
#ifndef EVT_SIM_UTIL_H
#define EVT_SIM_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC: timeouts must not jump with the wall clock. */
static inline uint64_t evt_sim_util_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Sleeps the whole time even when signals (SIGCHLD, SIGWINCH) interrupt it. */
static inline void evt_sim_util_sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

#endif /* EVT_SIM_UTIL_H */
