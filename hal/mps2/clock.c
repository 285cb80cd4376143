/* evt_mps2_clock: SysTick milliseconds; see clock.h. */
#include "evt_mps2/clock.h"

#include <stddef.h>

#define SYST_CSR      (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR      (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR      (*(volatile uint32_t *)0xE000E018u)
#define CSR_ENABLE    (1u << 0)
#define CSR_TICKINT   (1u << 1)
#define CSR_CLKSOURCE (1u << 2)

static volatile uint32_t ticks_lo;
static volatile uint32_t ticks_hi;
static evt_mps2_idle_fn idle_fn;
static void *idle_ctx;

void evt_mps2_clock_init(uint32_t core_hz)
{
    SYST_CSR = 0;
    SYST_RVR = core_hz / 1000u - 1u;
    SYST_CVR = 0;
    SYST_CSR = CSR_ENABLE | CSR_TICKINT | CSR_CLKSOURCE;
}

void evt_mps2_clock_tick(void)
{
    uint32_t lo = ticks_lo + 1u;
    if (lo == 0u) {
        ticks_hi = ticks_hi + 1u;
    }
    ticks_lo = lo;
}

uint64_t evt_mps2_clock_ms(void)
{
    /* The tick may land between the two reads: read until the high word is stable. */
    uint32_t hi, lo;
    do {
        hi = ticks_hi;
        lo = ticks_lo;
    } while (hi != ticks_hi);
    return ((uint64_t)hi << 32) | lo;
}

void evt_mps2_clock_set_idle(evt_mps2_idle_fn idle, void *ctx)
{
    idle_ctx = ctx;
    idle_fn = idle;
}

void evt_mps2_clock_wait_irq(void)
{
    if (idle_fn != NULL && idle_fn(idle_ctx)) {
        return;
    }
    __asm__ volatile("wfi" ::: "memory");
}

void evt_mps2_clock_sleep_ms(uint32_t ms)
{
    uint64_t until = evt_mps2_clock_ms() + ms;
    while (evt_mps2_clock_ms() < until) {
        evt_mps2_clock_wait_irq();
    }
}

uint32_t evt_mps2_clock_cycles(void)
{
    return SYST_CVR;
}
