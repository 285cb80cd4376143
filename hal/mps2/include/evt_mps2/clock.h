/*
 * evt_mps2_clock: milliseconds from SysTick (the Cortex-M core timer, on the processor clock),
 * one interrupt per millisecond; and waiting with WFI, so an idle terminal sleeps until the
 * next tick or UART byte instead of spinning (QEMU then idles the host CPU too).
 */
#ifndef EVT_MPS2_CLOCK_H
#define EVT_MPS2_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

/* Starts SysTick at 1 kHz from the core clock (25 MHz on the MPS2 FPGA images). */
void evt_mps2_clock_init(uint32_t core_hz);
/* From the SysTick exception handler. */
void evt_mps2_clock_tick(void);
/* Milliseconds since evt_mps2_clock_init; never goes backwards. */
uint64_t evt_mps2_clock_ms(void);
/* Work the board does whenever a driver waits (the network stack: received frames, timers),
 * so TCP keeps moving while the firmware waits for a key or a scan. Returns true when it did
 * something (the caller then looks again instead of sleeping). */
typedef bool (*evt_mps2_idle_fn)(void *ctx);
void evt_mps2_clock_set_idle(evt_mps2_idle_fn idle, void *ctx);
/* Runs the idle work; when it had nothing to do, sleeps until an interrupt (tick or
 * peripheral). */
void evt_mps2_clock_wait_irq(void);
/* Sleeps at least ms milliseconds. */
void evt_mps2_clock_sleep_ms(uint32_t ms);
/* The SysTick down-counter (24 bits, core clock): the fine-grained time the jitter entropy
 * source samples. */
uint32_t evt_mps2_clock_cycles(void);

#endif /* EVT_MPS2_CLOCK_H */
